"""The output tree across runs: last copies kept, trees of several concepts side by side, companions and
duplicates, a hardened manifest, photos that vanish before linking, read-only and absurd ``--out`` folders,
and ``clean`` that removes only what proxysort made.

Library-level (``plan_tree``/``write_tree``), so each scenario runs in milliseconds; the CLI wiring of the
same promises is in ``test_output_cli.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from proxysort.errors import OutputError
from proxysort.output import OUTPUT_MANIFEST, check_output_folder, plan_tree, write_tree
from proxysort.progress import Reporter
from tests.support.outcheck import contents_under, digest, manifest_json, problems
from tests.support.treesnap import assert_unchanged, snapshot


class Recorder(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)

    def warning(self, text: str) -> None:
        self.lines.append(text)


def _library(tmp_path: Path, n: int = 4) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    files = []
    for i in range(n):
        p = root / f"d{i % 2}" / f"IMG_{i}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"photo {i} ".encode() * (20 + i))
        files.append(str(p))
    return root, files


def _write(out: Path, groups, link: str, root: Path, reporter: Reporter | None = None, **kw):
    return write_tree(plan_tree(out, groups, link=link, photo_roots=[root], **kw), reporter)


# ---------------------------------------------------------------------------------------- last copy


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_the_last_copy_of_a_deleted_photo_is_never_removed(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, link, root)
    victim = files[0]
    lost = digest(Path(victim))
    os.unlink(victim)  # the user deletes the original: OUT now holds the only copy
    rec = Recorder()
    _write(out, {"color": [(f, "blue") for f in files[1:]]}, link, root, rec)
    assert lost in contents_under(out), "the last copy of a photo was deleted"
    kept = [e for e in manifest_json(out)["files"] if e.get("orphan")]
    assert [e["source"] for e in kept] == [victim]
    assert any("last copy" in line for line in rec.lines), rec.lines
    assert problems(out) == []
    # and it stays kept run after run, even when its concept is re-run again
    _write(out, {"color": [(f, "green") for f in files[1:]]}, link, root)
    assert lost in contents_under(out)


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_a_photo_moved_inside_the_library_is_not_kept_twice(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, link, root)
    moved = str(root / "d1" / "renamed.jpg")
    os.rename(files[0], moved)
    now = [moved, *files[1:]]
    _write(out, {"color": [(f, "red") for f in now]}, link, root)
    assert contents_under(out)[digest(Path(moved))] == 1  # the old copy went: its bytes are linked again
    assert not [e for e in manifest_json(out)["files"] if e.get("orphan")]
    assert problems(out) == []


def test_symlinks_to_deleted_photos_are_removed(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "symlink", root)
    os.unlink(files[0])
    _write(out, {"color": [(f, "red") for f in files[1:]]}, "symlink", root)
    assert sorted(os.listdir(out / "color" / "red")) == sorted(os.path.basename(f) for f in files[1:])


# ------------------------------------------------------------------------------------ trees coexist


def test_a_second_concept_keeps_the_first_concepts_tree(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"species": [(f, "cat" if i % 2 else "dog") for i, f in enumerate(files)]}, "symlink", root)
    species = snapshot(out / "species")
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    assert snapshot(out / "species") == species  # untouched
    assert sorted(os.listdir(out)) == [OUTPUT_MANIFEST, "color", "species"]
    concepts = {c["name"]: c for c in manifest_json(out)["concepts"]}
    assert set(concepts) == {"species", "color"} and concepts["species"]["link"] == "symlink"
    assert problems(out) == []
    # re-running one concept replaces only its tree
    _write(out, {"color": [(f, "green") for f in files]}, "copy", root)
    assert snapshot(out / "species") == species
    assert os.listdir(out / "color") == ["green"]
    assert problems(out) == []


def test_rerunning_two_concepts_then_one_keeps_the_other(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"a": [(f, "x") for f in files], "b": [(f, "y") for f in files]}, "symlink", root)
    _write(out, {"B": [(f, "z") for f in files]}, "symlink", root)  # same concept, other case
    assert sorted(os.listdir(out)) == [OUTPUT_MANIFEST, "a", "b"]
    assert os.listdir(out / "b") == ["z"] and os.listdir(out / "a") == ["x"]
    assert problems(out) == []


# ----------------------------------------------------------------------------- companions, duplicates


def _live_library(tmp_path: Path) -> tuple[Path, dict[str, list[str]], list[str]]:
    root = tmp_path / "photos"
    (root / "takeout").mkdir(parents=True)
    (root / "phone").mkdir()
    made = {}
    for rel, data in {
        "phone/IMG_1.jpg": b"jpeg one" * 10, "phone/IMG_1.xmp": b"<xmp/>", "phone/IMG_1.MOV": b"clip" * 10,
        "phone/IMG_1.CR2": b"raw twin" * 10, "takeout/IMG_1.jpg": b"jpeg takeout" * 10,
        "takeout/IMG_1.jpg.json": b"{}", "phone/IMG_2.jpg": b"jpeg two" * 10, "takeout/IMG_2.jpg": b"jpeg two" * 10,
        "takeout/IMG_2.jpg.json": b'{"t": 1}',
    }.items():
        (root / rel).write_bytes(data)
        made[rel] = str(root / rel)
    companions = {
        made["phone/IMG_1.jpg"]: [made["phone/IMG_1.xmp"], made["phone/IMG_1.MOV"], made["phone/IMG_1.CR2"]],
        made["takeout/IMG_1.jpg"]: [made["takeout/IMG_1.jpg.json"]],
        made["takeout/IMG_2.jpg"]: [made["takeout/IMG_2.jpg.json"]],
    }
    photos = [made[k] for k in ("phone/IMG_1.jpg", "takeout/IMG_1.jpg", "phone/IMG_2.jpg", "takeout/IMG_2.jpg")]
    return root, companions, photos


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_companions_follow_their_photo_under_its_name(tmp_path: Path, link: str) -> None:
    root, companions, photos = _live_library(tmp_path)
    before = snapshot(root)
    out = tmp_path / "out"
    ids = {p: digest(Path(p)) for p in photos}
    summary = _write(out, {"c": [(p, "all") for p in photos]}, link, root, companions=companions, content_ids=ids)
    names = sorted(os.listdir(out / "c" / "all"))
    # two IMG_1.jpg photos: the second moves to IMG_1-2 together with its Takeout json (double suffix kept)
    assert names == ["IMG_1-2.jpg", "IMG_1-2.jpg.json", "IMG_1.CR2", "IMG_1.MOV", "IMG_1.jpg", "IMG_1.xmp", "IMG_2.jpg"]
    assert (out / "c" / "all" / "IMG_1.MOV").read_bytes() == b"clip" * 10
    # byte-identical IMG_2.jpg in phone/ and takeout/: linked once, the other listed as a duplicate
    data = manifest_json(out)
    assert [(d["source"], d["same_as"]) for d in data["duplicates"]] == [(photos[3], "c/all/IMG_2.jpg")]
    assert summary.duplicates == 1
    by_path = {e["path"]: e for e in data["files"]}
    assert by_path["c/all/IMG_1.xmp"]["companion_of"] == "c/all/IMG_1.jpg"
    assert problems(out) == []
    assert_unchanged(before, root)
    # --keep-duplicates restores one entry per path
    _write(out, {"c": [(p, "all") for p in photos]}, link, root, companions=companions, content_ids=ids, keep_duplicates=True)
    assert "IMG_2-2.jpg" in os.listdir(out / "c" / "all") and manifest_json(out)["duplicates"] == []
    assert problems(out) == []


def test_a_companion_that_is_the_last_copy_is_kept_too(tmp_path: Path) -> None:
    root, companions, photos = _live_library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"c": [(photos[0], "all")]}, "copy", root, companions=companions)
    os.unlink(root / "phone" / "IMG_1.xmp")
    _write(out, {"c": [(photos[0], "all")]}, "copy", root, companions={photos[0]: companions[photos[0]][1:]})
    assert (out / "c" / "all" / "IMG_1.xmp").read_bytes() == b"<xmp/>"
    assert problems(out) == []


# ------------------------------------------------------------------------------------ vanished photos


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_a_photo_deleted_after_indexing_is_skipped_and_reported(tmp_path: Path, link: str) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    plan = plan_tree(out, {"c": [(f, "a") for f in files]}, link=link, photo_roots=[root])
    os.unlink(files[1])  # deleted while the run was learning, before the tree is written
    summary = write_tree(plan)
    assert summary.vanished == [files[1]]
    assert summary.created == len(files) - 1
    assert problems(out) == []


# ------------------------------------------------------------------------------- manifest hardening


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.update(files={"a": 1}), id="files-not-a-list"),
        pytest.param(lambda d: d.update(dirs="color"), id="dirs-a-string"),
        pytest.param(lambda d: d.update(files=[1, 2]), id="files-entries-not-objects"),
        pytest.param(lambda d: d["files"][0].update(path="color/red/a\x00b.jpg"), id="nul-in-path"),
        pytest.param(lambda d: d["files"][0].update(source="/x\x00y"), id="nul-in-source"),
        pytest.param(lambda d: d.update(dirs=["color\x00"]), id="nul-in-dir"),
        pytest.param(lambda d: d["files"][0].update(size="12"), id="size-a-string"),
        pytest.param(lambda d: d["files"][0].update(kind=["copy"]), id="kind-a-list"),
        pytest.param(lambda d: d.update(version=99), id="newer-version"),
        pytest.param(lambda d: d.update(concepts={"x": 1}), id="concepts-not-a-list"),
    ],
)
def test_a_malformed_manifest_makes_the_folder_not_ours(tmp_path: Path, mutate) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    data = manifest_json(out)
    mutate(data)
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    before = snapshot(out)
    with pytest.raises(OutputError, match="not proxysort's|not a readable") as err:
        _write(out, {"color": [(f, "blue") for f in files]}, "copy", root)
    assert "\n" not in str(err.value)
    with pytest.raises(OutputError):
        check_output_folder(out, [root])
    assert_unchanged(before, out)


def test_deeply_nested_manifest_json_is_one_sentence(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / OUTPUT_MANIFEST).write_text('{"tool": "proxysort", "files": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(OutputError, match="nested too deeply"):
        check_output_folder(out, [])


# ------------------------------------------------------------------------------------- odd --out


def test_out_longer_than_path_max_is_one_sentence(tmp_path: Path) -> None:
    out = tmp_path / (("x" * 200 + "/") * 25)
    with pytest.raises(OutputError, match="more than the system allows"):
        check_output_folder(out, [])


def test_a_cache_inside_the_output_folder_is_refused_before_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cache folder"):
        check_output_folder(tmp_path / "out", [tmp_path / "photos"], cache_dir=tmp_path / "out" / "cache")


@pytest.fixture
def readonly_mount(tmp_path: Path):
    """A real read-only file system (tmpfs remounted ro); skipped where mounting is not allowed."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_out_on_a_read_only_mount_is_one_sentence(tmp_path: Path, readonly_mount: Path) -> None:
    root, files = _library(tmp_path)
    old = readonly_mount / "old"
    _write(old, {"c": [(f, "a") for f in files]}, "copy", root)  # an earlier run, then the disk turns ro
    subprocess.run(["mount", "-o", "remount,ro", str(readonly_mount)], check=True)
    for out in (readonly_mount / "new", readonly_mount, old):
        with pytest.raises(OutputError, match="read-only"):
            check_output_folder(out, [root])
        with pytest.raises(OutputError):
            _write(out, {"c": [(f, "b") for f in files]}, "copy", root)


# -------------------------------------------------------------------------------------------- clean


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_clean_removes_only_what_proxysort_made_and_never_a_last_copy(tmp_path: Path, link: str) -> None:
    from proxysort.output import clean_tree

    root, files = _library(tmp_path)
    before = snapshot(root)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, link, root)
    _write(out, {"species": [(f, "cat") for f in files]}, link, root)
    (out / "color" / "red" / "notes.txt").write_text("mine")  # the user's files survive a clean
    (out / "mine.txt").write_text("mine too")
    edited = out / "species" / "cat" / os.path.basename(files[2])
    edited.unlink()
    edited.write_text("replaced by the user")
    summary = clean_tree(out, concepts=["species"])  # one tree only
    assert (out / "color" / "red").is_dir() and len(os.listdir(out / "color" / "red")) == len(files) + 1
    assert sorted(os.listdir(out / "species" / "cat")) == [edited.name] and summary.left_alone == [f"species/cat/{edited.name}"]
    assert [c["name"] for c in manifest_json(out)["concepts"]] == ["color"]
    lost = digest(Path(files[0]))
    os.unlink(files[0])
    summary = clean_tree(out)
    # the user's files keep the folders holding them, and the manifest (so OUT stays usable by proxysort)
    assert set(os.listdir(out)) == {"mine.txt", "color", "species", OUTPUT_MANIFEST}
    assert (out / "mine.txt").read_text() == "mine too" and (out / "color" / "red" / "notes.txt").read_text() == "mine"
    if link != "symlink":  # the copy of the deleted photo is its last copy: kept and still listed
        assert lost in contents_under(out) and summary.orphans == [f"color/red/{os.path.basename(files[0])}"]
    assert problems(out, foreign={"mine.txt", "color/red/notes.txt", f"species/cat/{edited.name}"}) == []
    before.pop(os.path.relpath(files[0], root))  # the test deleted that one itself
    assert {k: v for k, v in snapshot(root).items() if k not in ("d0",)} == {k: v for k, v in before.items() if k != "d0"}


def test_clean_of_a_folder_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    from proxysort.output import clean_tree

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="created nothing there"):
        clean_tree(tmp_path / "x")
    assert (tmp_path / "x" / "keep.jpg").exists()


def test_clean_of_an_untouched_tree_removes_the_folder(tmp_path: Path) -> None:
    from proxysort.output import clean_tree

    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, {"color": [(f, "red") for f in files]}, "copy", root)
    clean_tree(out)
    assert not out.exists()


def test_an_output_folder_from_the_previous_version_is_taken_over(tmp_path: Path) -> None:
    """A version-1 manifest (one tree, no concept names): its top folders become concepts by name."""
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    (out / "color" / "red").mkdir(parents=True)
    entries = []
    for f in files:
        link = out / "color" / "red" / os.path.basename(f)
        target = os.path.relpath(f, link.parent)
        link.symlink_to(target)
        entries.append({"path": f"color/red/{link.name}", "source": f, "kind": "symlink", "target": target})
    (out / OUTPUT_MANIFEST).write_text(json.dumps({"tool": "proxysort", "version": 1, "link": "symlink",
                                                   "dirs": ["color", "color/red"], "files": entries}))
    _write(out, {"species": [(f, "cat") for f in files]}, "symlink", root)
    assert sorted(os.listdir(out / "color" / "red")) == sorted(os.path.basename(f) for f in files)  # kept
    _write(out, {"Color": [(f, "blue") for f in files]}, "symlink", root)  # same concept: replaced
    assert os.listdir(out / "color") == ["blue"] and os.listdir(out / "species") == ["cat"]
    assert problems(out) == []


def test_photos_that_only_share_a_sampled_content_id_are_both_linked(tmp_path: Path) -> None:
    """Content ids sample the bytes; two photos that differ outside the samples are not duplicates."""
    root, files = _library(tmp_path, n=2)
    Path(files[1]).write_bytes(Path(files[0]).read_bytes()[:-1] + b"!")  # same size, last byte differs
    out = tmp_path / "out"
    summary = _write(out, {"c": [(f, "a") for f in files]}, "symlink", root, content_ids={f: "same" for f in files})
    assert summary.duplicates == 0 and len(os.listdir(out / "c" / "a")) == 2
