"""Identity, not names: the output tree under the reliability round-3 attacks (F1, F2, F5, F14, F15, F17).

An entry in OUT is "the same photo" only when it is the same file (device and inode for a hard link; size
and every byte for a copy). A different photo arriving under a deleted photo's name must not cost the old
photo's last copy; a copy edited in place keeping its size and mtime is the user's now; a companion that
links outside the photo folders is never copied or hard-linked; one bad companion never sinks the tree;
companions whose names clash all arrive. Library-level, milliseconds each.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from proxysort.errors import OutputError
from proxysort.output import OUTPUT_MANIFEST, clean_tree, plan_tree, write_tree
from proxysort.progress import Reporter
from tests import test_output_tree
from tests.support.outcheck import contents_under, digest, manifest_json, problems
from tests.support.treesnap import assert_unchanged, snapshot
from tests.test_output_tree import Recorder

readonly_mount = test_output_tree.readonly_mount  # the same fixture: a tmpfs remounted read-only


def _library(tmp_path: Path, n: int = 4) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    root.mkdir()
    files = []
    for i in range(n):
        p = root / f"IMG_{i}.jpg"
        p.write_bytes(f"photo {i} ".encode() * (20 + i))
        files.append(str(p))
    return root, files


def _write(out: Path, groups, link: str, root: Path, reporter: Reporter | None = None, **kw):
    return write_tree(plan_tree(out, groups, link=link, photo_roots=[root], **kw), reporter)


# ------------------------------------------------------------------ F1: a new photo under an old name


def _reuse_name(files: list[str]) -> bytes:
    """Delete photo 0 (OUT now holds its only copy), then put another photo's bytes under its name."""
    lost = Path(files[0]).read_bytes()
    os.unlink(files[0])
    Path(files[0]).write_bytes(Path(files[3]).read_bytes() + b" edited")  # a different photo, same name
    return lost


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_a_new_photo_under_a_deleted_photos_name_keeps_the_last_copy_on_a_rerun(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, link, root)
    lost = _reuse_name(files)
    rec = Recorder()
    _write(out, {"color": [(f, "blue") for f in files]}, link, root, rec)
    assert any(Path(p).read_bytes() == lost for p in out.rglob("*.jpg")), "the last copy of a photo was deleted"
    assert any("last copy" in line for line in rec.lines), rec.lines
    orphans = [e for e in manifest_json(out)["files"] if e.get("orphan")]
    assert [e["source"] for e in orphans] == [files[0]]
    # the new photo is linked too, under a name of its own
    assert digest(Path(files[0])) in contents_under(out)
    assert problems(out) == []


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_a_new_photo_under_a_deleted_photos_name_keeps_the_last_copy_on_clean(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, link, root)
    lost = _reuse_name(files)
    summary = clean_tree(out)
    assert summary.orphans == ["color/red/IMG_0.jpg"]
    assert (out / "color" / "red" / "IMG_0.jpg").read_bytes() == lost


def test_a_hard_link_whose_photo_was_replaced_is_the_last_copy_even_with_two_links(tmp_path: Path) -> None:
    """Two trees hold the only two links of a deleted photo: re-running one keeps the other's."""
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"a": [(f, "x") for f in files]}, "hardlink", root)
    _write(out, {"b": [(f, "y") for f in files]}, "hardlink", root)
    lost = _reuse_name(files)
    _write(out, {"a": [(f, "z") for f in files[1:]]}, "hardlink", root)
    _write(out, {"b": [(f, "z") for f in files[1:]]}, "hardlink", root)
    assert any(p.read_bytes() == lost for p in out.rglob("*.jpg"))
    assert problems(out) == []


# ------------------------------------------------------------------------ F2: a copy edited in place


def _edit_in_place(path: Path) -> None:
    """What ``exiftool -P`` does: new bytes, same size, the old mtime put back."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_clean_keeps_a_copy_edited_in_place_keeping_size_and_mtime(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    edited = out / "color" / "red" / "IMG_1.jpg"
    _edit_in_place(edited)
    mine = edited.read_bytes()
    rec = Recorder()
    summary = clean_tree(out, rec)
    assert edited.read_bytes() == mine, "clean deleted the user's edit"
    assert summary.left_alone == ["color/red/IMG_1.jpg"]
    assert summary.removed == len(files) - 1


def test_a_rerun_keeps_a_copy_edited_in_place(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    edited = out / "color" / "red" / "IMG_1.jpg"
    _edit_in_place(edited)
    mine = edited.read_bytes()
    _write(out, {"color": [(f, "blue") for f in files]}, "copy", root)  # every photo moves to another folder
    assert edited.read_bytes() == mine
    assert sorted(os.listdir(out / "color" / "blue")) == sorted(os.path.basename(f) for f in files)
    assert problems(out, foreign={"color/red/IMG_1.jpg"}) == []


def test_copies_record_a_content_hash_and_unchanged_reruns_keep_it(tmp_path: Path) -> None:
    import hashlib

    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    first = (out / OUTPUT_MANIFEST).read_bytes()
    entries = manifest_json(out)["files"]
    assert all(e["sha256"] == hashlib.sha256(Path(e["source"]).read_bytes()).hexdigest() for e in entries)
    summary = _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    assert summary.created == 0 and (out / OUTPUT_MANIFEST).read_bytes() == first


def test_a_manifest_without_content_hashes_is_still_cleaned_safely(tmp_path: Path) -> None:
    """Manifests written before the hash existed: an unedited copy (same bytes as its photo) goes; an
    edited one, which cannot be told from the last copy of an older version, stays."""
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    data = json.loads((out / OUTPUT_MANIFEST).read_text())
    for e in data["files"]:
        e.pop("sha256")
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    edited = out / "color" / "red" / "IMG_1.jpg"
    _edit_in_place(edited)
    mine = edited.read_bytes()
    summary = clean_tree(out)
    assert edited.read_bytes() == mine
    assert summary.removed == len(files) - 1


# --------------------------------------------------- F5: links out of the photo folders are not followed


def _linked_companion(tmp_path: Path, target: str) -> tuple[Path, list[str], dict[str, list[str]]]:
    root, files = _library(tmp_path)
    link = root / "IMG_0.xmp"
    link.symlink_to(target)
    return root, files, {files[0]: [str(link)]}


@pytest.mark.parametrize("link", ["hardlink", "copy"])
@pytest.mark.parametrize("target", ["outside", "/proc/self/environ", "/etc/passwd"])
def test_a_companion_linking_outside_the_photo_folders_is_skipped_with_a_reason(
    tmp_path: Path, link: str, target: str
) -> None:
    if target == "outside":
        secret = tmp_path / "secret.txt"
        secret.write_text("SECRET=1")
        target = str(secret)
    root, files, companions = _linked_companion(tmp_path, target)
    before = snapshot(root)
    out = tmp_path / "out"
    rec = Recorder()
    summary = _write(out, {"c": [(f, "a") for f in files]}, link, root, rec, companions=companions)
    assert sorted(os.listdir(out / "c" / "a")) == sorted(os.path.basename(f) for f in files)
    assert [p for p, _ in summary.refused] == [companions[files[0]][0]]
    assert "outside the photo folders" in summary.refused[0][1]
    assert problems(out) == []
    assert_unchanged(before, root)


def test_a_companion_linking_outside_is_still_linked_in_symlink_mode(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    root, files, companions = _linked_companion(tmp_path, str(secret))
    out = tmp_path / "out"
    summary = _write(out, {"c": [(f, "a") for f in files]}, "symlink", root, companions=companions)
    assert (out / "c" / "a" / "IMG_0.xmp").is_symlink() and summary.refused == []


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_a_photo_linking_outside_the_photo_folders_is_skipped(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not in the library")
    os.unlink(files[0])
    os.symlink(secret, files[0])
    out = tmp_path / "out"
    summary = _write(out, {"c": [(f, "a") for f in files]}, link, root)
    assert "IMG_0.jpg" not in os.listdir(out / "c" / "a")
    assert [p for p, _ in summary.refused] == [files[0]]


def test_a_link_inside_the_photo_folders_is_followed(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    (root / "IMG_0.xmp").write_text("<xmp/>")
    (root / "IMG_1.xmp").symlink_to("IMG_0.xmp")
    out = tmp_path / "out"
    summary = _write(out, {"c": [(f, "a") for f in files]}, "copy", root,
                     companions={files[1]: [str(root / "IMG_1.xmp")]})
    assert (out / "c" / "a" / "IMG_1.xmp").read_text() == "<xmp/>" and summary.refused == []


def _planned_with_a_sidecar(tmp_path: Path):
    """A copy-mode plan of a library whose first photo has a sidecar: (plan, files, the sidecar, OUT)."""
    root, files = _library(tmp_path)
    side = root / "IMG_0.xmp"
    side.write_text("<xmp/>")
    out = tmp_path / "out"
    plan = plan_tree(out, {"c": [(f, "a") for f in files]}, link="copy", photo_roots=[root],
                     companions={files[0]: [str(side)]})
    side.unlink()  # the caller puts something else there
    return plan, files, side, out


def test_a_companion_swapped_for_an_outside_link_after_planning_is_not_copied(tmp_path: Path) -> None:
    plan, files, side, out = _planned_with_a_sidecar(tmp_path)
    side.symlink_to("/proc/self/environ")
    summary = write_tree(plan)
    assert not (out / "c" / "a" / "IMG_0.xmp").exists()
    assert [p for p, _ in summary.refused] == [str(side)]
    assert problems(out) == []


# ------------------------------------------------------- F15: one bad companion never sinks the tree


def test_a_companion_swapped_for_a_fifo_is_skipped_and_the_tree_is_written(tmp_path: Path) -> None:
    plan, files, side, out = _planned_with_a_sidecar(tmp_path)
    os.mkfifo(side)
    rec = Recorder()
    summary = write_tree(plan, rec)
    assert sorted(os.listdir(out / "c" / "a")) == sorted(os.path.basename(f) for f in files)
    # planned again under the lock, the FIFO is no photo file any more: skipped as gone, named, not fatal
    assert [p for p, _ in summary.refused] + summary.vanished == [str(side)]
    assert not any("Cannot write" in line for line in rec.lines)
    assert problems(out) == []


@pytest.mark.skipif(os.geteuid() == 0 and not os.path.exists("/usr/sbin/capsh"), reason="root reads mode-000 files")
def test_a_companion_that_turns_into_a_fifo_while_copying_is_skipped(tmp_path: Path, monkeypatch) -> None:
    """The swap lands after the plan made under the lock, right before the copy opens the file."""
    import proxysort.output as output

    root, files = _library(tmp_path)
    side = root / "IMG_0.xmp"
    side.write_text("<xmp/>")
    real_create = output._create

    def swap_then_create(od, entry, real_roots, planned=None):
        if entry.source == str(side) and not stat_is_fifo(side):
            side.unlink()
            os.mkfifo(side)
        return real_create(od, entry, real_roots, planned)

    monkeypatch.setattr(output, "_create", swap_then_create)
    rec = Recorder()
    summary = _write(tmp_path / "out", {"c": [(f, "a") for f in files]}, "copy", root, rec,
                     companions={files[0]: [str(side)]})
    assert summary.refused == [(str(side), "it cannot be read (not a regular file)")]
    assert sorted(os.listdir(tmp_path / "out" / "c" / "a")) == sorted(os.path.basename(f) for f in files)
    assert problems(tmp_path / "out") == []


def stat_is_fifo(path: Path) -> bool:
    import stat

    return path.exists() and stat.S_ISFIFO(os.lstat(path).st_mode)


def test_an_unreadable_companion_is_skipped_and_never_named_as_written(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    side = root / "IMG_0.xmp"
    side.write_text("<xmp/>")
    side.chmod(0)
    script = (
        "import sys; from pathlib import Path; from proxysort.output import plan_tree, write_tree\n"
        f"r = Path({str(root)!r}); files = {files!r}\n"
        f"s = write_tree(plan_tree(Path({str(tmp_path / 'out')!r}), {{'c': [(f, 'a') for f in files]}}, link='copy', "
        f"photo_roots=[r], companions={{files[0]: [{str(side)!r}]}}))\n"
        "print(s.refused)\n"
    )
    cmd = [os.sys.executable, "-c", script]
    if os.geteuid() == 0:
        cmd = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", " ".join(map(_q, cmd))]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[1] / "src"), str(Path(__file__).parents[1])])})
    assert done.returncode == 0, done.stderr
    assert str(side) in done.stdout and "permission denied" in done.stdout.lower()
    assert sorted(os.listdir(tmp_path / "out" / "c" / "a")) == sorted(os.path.basename(f) for f in files)


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


# ----------------------------------------------------------------- F17: clashing companion names


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_companions_whose_names_clash_all_arrive_under_distinct_names(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    (root / "IMG_0.xmp").write_text("from editor one")
    (root / "IMG_0.XMP").write_text("from editor two")
    jsons = []
    for i in range(5):
        (root / f"IMG_0 ({i}).json").write_text(str(i))
        jsons.append(str(root / f"IMG_0 ({i}).json"))
    comps = [str(root / "IMG_0.xmp"), str(root / "IMG_0.XMP"), *jsons]
    out = tmp_path / "out"
    _write(out, {"c": [(f, "a") for f in files]}, link, root, companions={files[0]: comps})
    names = os.listdir(out / "c" / "a")
    assert len(names) == len(files) + len(comps)
    assert len({n.casefold() for n in names}) == len(names)
    got = sorted((out / "c" / "a" / n).read_text() for n in names if not n.endswith(".jpg"))
    assert got == sorted(["from editor one", "from editor two", *map(str, range(5))])
    entries = [e for e in manifest_json(out)["files"] if e.get("companion_of")]
    assert len(entries) == len(comps) and all(e["companion_of"] == "c/a/IMG_0.jpg" for e in entries)
    assert problems(out) == []


# ------------------------------------------------------------------------ F14: clean on a read-only OUT


def test_clean_on_a_read_only_out_is_one_sentence(tmp_path: Path, readonly_mount: Path) -> None:
    root, files = _library(tmp_path)
    out = readonly_mount / "out"
    _write(out, {"c": [(f, "a") for f in files]}, "copy", root)
    subprocess.run(["mount", "-o", "remount,ro", str(readonly_mount)], check=True)
    with pytest.raises(OutputError, match="read-only"):
        clean_tree(out)


def test_a_write_error_names_the_file_in_out_never_a_photo(tmp_path: Path) -> None:
    """C12: the message named ``<photos>/00000.xmp`` as if proxysort had tried to write there."""
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system for a cross-device hard link")
    with tempfile.TemporaryDirectory(dir=shm) as other:
        root, files = _library(Path(other))
        out = tmp_path / "out"
        with pytest.raises(OutputError) as err:
            _write(out, {"c": [(f, "a") for f in files]}, "hardlink", root)
        assert str(out) in str(err.value) and str(root) not in str(err.value)
        assert "--link" not in str(err.value) and "`link`" in str(err.value)


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_a_folder_swapped_for_an_outside_link_between_the_check_and_the_link_is_caught(
    tmp_path: Path, monkeypatch, link: str
) -> None:
    """The last window: the source's folder is swapped for a link out of the library after the resolved
    path was checked and before the file is linked or opened. What was made must be what was planned."""
    import proxysort.output as output

    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    photo = root / "sub" / "IMG_0.jpg"
    photo.write_bytes(b"the photo" * 50)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "IMG_0.jpg").write_bytes(b"SECRET" * 20)
    real_check = output._leak_reason
    calls: list[str] = []

    def check_then_swap(source, real_roots):
        reason = real_check(source, real_roots)
        calls.append(source)
        # the first check is the plan made under the lock, the second the one just before linking
        if calls.count(str(photo)) == 2:
            os.rename(root / "sub", root / "sub.moved")
            os.symlink(outside, root / "sub")
        return reason

    out = tmp_path / "out"
    plan = plan_tree(out, {"c": [(str(photo), "a")]}, link=link, photo_roots=[root])
    monkeypatch.setattr(output, "_leak_reason", check_then_swap)
    summary = write_tree(plan)
    assert not any(b"SECRET" in p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert [p for p, _ in summary.refused] == [str(photo)]
    assert problems(out) == []
