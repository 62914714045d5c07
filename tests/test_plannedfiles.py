"""A tree plan's files held as columns (:mod:`proxysort.plannedfiles`, issue 25): every entry is the one the
plan would have held whole, the manifest lists them in the same order and bytes, the tree and manifest of a
generated library are byte for byte those written before the columns (``fixtures/tree_golden.json``, made by
``python -m tests.test_plannedfiles`` with the code before the change), and a run killed between its plan and
the end of its writing leaves a folder that the next run and ``clean`` handle.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from proxysort.manifest import OUTPUT_MANIFEST, Manifest
from proxysort.output import Grouped, clean_tree, make_tree, plan_tree, read_manifest

GOLDEN = Path(__file__).parent / "fixtures" / "tree_golden.json"
ROOT = Path(__file__).resolve().parent.parent


def _library(base: Path) -> tuple[Path, dict[str, list[tuple[str, str]]], dict[str, list[str]], dict[str, str]]:
    """Photos in nested folders with every naming case the plan handles: the same name in two folders (``-2``),
    sidecars and a Takeout JSON beside their photo, byte-identical photos (linked once), a photo that is a
    symlink to a file under another name, a name that is not UTF-8; fixed bytes and times, so copies are
    the same on every run."""
    root = base / "photos"
    paths: list[str] = []
    companions: dict[str, list[str]] = {}
    for i in range(40):
        folder = root / f"{2018 + i % 3}" / ("trip" if i % 4 else "home")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"IMG_{i % 7}.jpg" if i % 5 else f"img_{i:03d}.JPG"
        p = folder / name
        if p.exists():
            continue
        p.write_bytes(b"same bytes" if i in (3, 11) else f"photo {i}".encode() * (10 + i))
        os.utime(p, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
        paths.append(str(p))
        if i % 6 == 1:
            side = p.with_suffix(".xmp")
            side.write_bytes(b"xmp %d" % i)
            os.utime(side, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
            companions[str(p)] = [str(side)]
        if i % 9 == 2:
            js = Path(str(p) + ".json")
            js.write_bytes(b"{}")
            os.utime(js, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
            companions.setdefault(str(p), []).append(str(js))
    target = root / "2018" / "home" / "elsewhere_named.jpg"
    target.write_bytes(b"the link's photo")
    os.utime(target, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    linked = root / "2019" / "LINKED.jpg"
    linked.symlink_to(target)
    paths.append(str(linked))
    odd = os.fsdecode(bytes(root / "2020") + b"/caf\xe9.jpg")
    Path(odd).write_bytes(b"latin-1 name")
    os.utime(odd, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    paths.append(odd)
    names = ["red", "green", "blue"]
    groups = {"color": [(p, names[i % 3]) for i, p in enumerate(paths)], "size": [(p, "all") for p in paths]}
    ids = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
    return root, groups, companions, ids


def _snapshot(base: Path, link: str, keep_folders: bool) -> dict[str, object]:
    """The manifest's text and every file of the tree (its link text or the hash of its bytes), with the
    library's location and the machine's device and inode numbers written as placeholders."""
    root, groups, companions, ids = _library(base / f"{link}-{keep_folders}")
    out = root.parent / "out"
    make_tree(out, groups, link=link, photo_roots=[root], companions=companions, content_ids=ids,
              keep_folders=keep_folders)
    text = (out / OUTPUT_MANIFEST).read_text(encoding="utf-8")
    data = json.loads(text)
    for e in data["files"]:
        if link == "hardlink":
            st = os.stat(e["source"])
            text = text.replace(f'"dev": {e["dev"]},', '"dev": "DEV",', 1).replace(f'"ino": {st.st_ino}', '"ino": "INO"', 1)
    text = text.replace(json.dumps(str(root.parent))[1:-1], "BASE")
    tree = {}
    for dirpath, dirnames, filenames in os.walk(out):
        for n in sorted(dirnames + filenames):
            p = Path(dirpath) / n
            rel = os.fsencode(p.relative_to(out)).decode("utf-8", "backslashreplace")
            if p.is_symlink():
                tree[rel] = "-> " + os.fsencode(os.readlink(p)).decode("utf-8", "backslashreplace")
            elif p.is_file() and n != OUTPUT_MANIFEST:
                tree[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                tree[rel] = "dir"
    return {"manifest": text, "tree": dict(sorted(tree.items()))}


CASES = [(link, keep) for link in ("symlink", "hardlink", "copy") for keep in (False, True)]


@pytest.mark.parametrize("link,keep_folders", CASES)
def test_tree_and_manifest_are_byte_for_byte_those_written_before_the_columns(tmp_path: Path, link: str,
                                                                              keep_folders: bool) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[f"{link}-{keep_folders}"]
    assert _snapshot(tmp_path, link, keep_folders) == golden


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_every_planned_entry_is_the_one_worked_out_whole(tmp_path: Path, link: str) -> None:
    root, groups, companions, ids = _library(tmp_path)
    out = tmp_path / "out"
    plan = plan_tree(out, groups, link=link, photo_roots=[root], companions=companions, content_ids=ids,
                     keep_folders=True)
    files = list(plan.files)
    assert len(files) == len(plan.files) > 40 and [plan.files[i] for i in range(len(files))] == files
    paths = {e.path for e in files}
    assert len(paths) == len(files)
    for e in files:
        st = os.stat(e.source)
        if link == "symlink":
            assert e.target == os.path.relpath(os.path.realpath(e.source), os.path.join(os.path.realpath(out),
                                                                                        os.path.dirname(e.path)))
        elif link == "hardlink":
            assert (e.dev, e.ino) == (st.st_dev, st.st_ino)
        else:
            assert (e.size, e.mtime_ns) == (st.st_size, st.st_mtime_ns)
        assert e.companion_of is None or (e.companion_of in paths and e.companion_of.rpartition("/")[0]
                                          == e.path.rpartition("/")[0])
    assert list(plan.files.in_path_order()) == sorted(files, key=lambda e: e.path)
    streamed = Manifest(files=plan.files, dirs=plan.dirs, link=link, concepts=plan.concepts)
    listed = Manifest(files=files, dirs=plan.dirs, link=link, concepts=plan.concepts)
    assert streamed.to_json() == listed.to_json()
    assert {(c, s): plan.dest[(c, s)] for c, s in plan.dest} == dict(plan.dest.items())
    assert all(rel in paths or any(d.same_as == rel for d in plan.duplicates) for rel in plan.dest.values())
    assert ("color", "/nowhere.jpg") not in plan.dest and len(plan.dest) == sum(len(m) for m in groups.values())


def test_grouped_pairs_are_the_listed_pairs(tmp_path: Path) -> None:
    root, groups, companions, ids = _library(tmp_path)
    photos = [p for p, _ in groups["color"]]
    labels = [i % 3 for i in range(len(photos))]
    grouped = Grouped([Path(p) for p in photos], labels, ["red", "green", "blue"])
    assert list(grouped) == groups["color"] == [grouped[i] for i in range(len(grouped))] == grouped[:]
    some = Grouped(photos, labels, ["red", "green", "blue"], rows=[4, 1])
    assert list(some) == [groups["color"][4], groups["color"][1]] and len(some) == 2
    a = make_tree(tmp_path / "a", {"color": grouped}, photo_roots=[root])
    b = make_tree(tmp_path / "b", {"color": groups["color"]}, photo_roots=[root])
    assert a.created == b.created == len(photos)
    assert (tmp_path / "a" / OUTPUT_MANIFEST).read_bytes() == (tmp_path / "b" / OUTPUT_MANIFEST).read_bytes()
    with pytest.raises(ValueError, match="`groups`"):
        Grouped(photos, labels[:-1], ["red"])


_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import proxysort.output as output
made = []
real = output._create
def create(od, entry, *args):
    if len(made) == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    made.append(entry.path)
    return real(od, entry, *args)
output._create = create
photos = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.jpg"))
output.make_tree(Path(sys.argv[2]), {"color": [(p, ("red", "blue")[i % 2]) for i, p in enumerate(photos)]},
                 link=sys.argv[4], photo_roots=[Path(sys.argv[1])])
"""


@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_a_run_killed_while_writing_leaves_a_listed_folder_the_next_run_finishes(tmp_path: Path, link: str) -> None:
    root = tmp_path / "photos"
    for i in range(120):
        p = root / f"d{i % 3}" / f"IMG_{i}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"photo %d" % i)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(root), str(out), "50", link], env=env)
    assert proc.returncode == -signal.SIGKILL
    announced = read_manifest(out)
    assert announced is not None and not announced.complete and len(announced.files) == 120
    listed = {e.path for e in announced.files}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if not p.is_dir() and p.name != OUTPUT_MANIFEST}
    assert len(on_disk) == 50 and on_disk <= listed  # nothing unlisted
    photos = sorted(str(p) for p in root.rglob("*.jpg"))
    groups = {"color": [(p, ("red", "blue")[i % 2]) for i, p in enumerate(photos)]}
    done = make_tree(out, groups, link=link, photo_roots=[root])
    assert done.created == 70 and done.kept == 50
    fresh = tmp_path / "fresh"
    make_tree(fresh, groups, link=link, photo_roots=[root])
    finished, clean = (json.loads((o / OUTPUT_MANIFEST).read_text()) for o in (out, fresh))
    # (copies made before the kill keep the entry announced for them, which has no content hash yet; the
    # finished tree's record also remembers its groups, adopted from the folder as the user left it)
    def unhashed(files: list[dict]) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "sha256"} for e in files]

    assert unhashed(finished["files"]) == unhashed(clean["files"]) and finished["dirs"] == clean["dirs"]
    assert sum("sha256" not in e for e in finished["files"]) == (50 if link == "copy" else 120)
    assert finished.get("complete", True)
    summary = clean_tree(out)
    assert summary.removed == 120 and not out.exists()


def _make_golden() -> None:
    """Write ``fixtures/tree_golden.json`` with the code on ``PYTHONPATH`` (run before a change to the tree)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        snaps = {f"{link}-{keep}": _snapshot(Path(tmp), link, keep) for link, keep in CASES}
    GOLDEN.write_text(json.dumps(snaps, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _make_golden()


def test_tree_memories_are_written_a_member_at_a_time_as_one_dump_writes_them() -> None:
    from proxysort.manifest import ConceptTree, Entry, GroupRecord, Memory, parse_manifest

    odd = os.fsdecode(b"/p/caf\xe9 \"quoted\".jpg")
    members = ((odd, 1, "c" * 32), ("/p/\u00e9t\u00e9.jpg", 0, "d" * 32), ("/p/a\\b.jpg", 1, "e" * 32))
    groups = (GroupRecord("red", (0.25, -1.0), 0.5), GroupRecord("blue", (1.0, 0.0), 0.25, by_user=True))
    trees = [ConceptTree("size", "size", "copy", None, Memory(groups=groups, members=())),
             ConceptTree("color", "color", "symlink", None, Memory(setup=(("k", "2"),), groups=groups, members=members,
                                                                  pins=((odd, 1),), unsure=(odd,), unsure_margin=0.1)),
             ConceptTree("plain", "plain", "symlink"),
             ConceptTree("mood", "mood", "hardlink", None, Memory(groups=groups[:1], members=members[1:2]))]
    files = [Entry("color/red/x.jpg", "/p/x.jpg", "symlink", target="../../p/x.jpg")]
    manifest = Manifest(files=files, dirs=["color", "color/red"], link="symlink", concepts=trees, complete=False)
    whole = json.dumps({"tool": "proxysort", "version": 2, "complete": False, "link": "symlink",
                        "concepts": [c.to_json() for c in sorted(trees, key=lambda c: c.dir)],
                        "dirs": ["color", "color/red"], "files": [e.to_json() for e in files], "duplicates": []},
                       indent=1, ensure_ascii=True)
    assert "".join(manifest.json_parts()) == whole
    back = parse_manifest(whole)
    assert {c.dir: c.memory for c in back.concepts} == {
        c.dir: c.memory and replace(c.memory, members=tuple(sorted(c.memory.members))) for c in trees}


def test_maps_of_a_photo_each_are_used_as_given_or_read_with_string_keys(tmp_path: Path) -> None:
    root, groups, companions, ids = _library(tmp_path)
    groups = {"one": [(p, "all") for p, _ in groups["color"]]}  # the two byte-identical photos in one group
    as_given = plan_tree(tmp_path / "out", groups, photo_roots=[root], companions=companions, content_ids=ids)
    assert as_given.inputs is not None and as_given.inputs.content_ids is ids and as_given.inputs.companions is companions
    by_path = plan_tree(tmp_path / "out", groups, photo_roots=[root],
                        companions={Path(k): tuple(Path(c) for c in v) for k, v in companions.items()},
                        content_ids={Path(k): v for k, v in ids.items()})
    assert by_path.inputs is not None and by_path.inputs.content_ids == ids and by_path.inputs.companions == companions
    assert list(by_path.files) == list(as_given.files) and by_path.duplicates == as_given.duplicates != []
