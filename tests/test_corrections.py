"""Reading the user's gestures in OUT against the manifest (corrections.py), library-level: every link mode,
folder names made safe, a crash that is not a deletion, and a memory in the manifest read strictly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from proxysort.corrections import adopt, kept, read_corrections
from proxysort.errors import OutputError
from proxysort.manifest import read_manifest
from proxysort.output import OUTPUT_MANIFEST, plan_tree, write_tree
from tests.support.photos import make_photo


def _tree(tmp_path: Path, link: str = "symlink") -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    files = [str(make_photo(root / f"p{i}.png", (40 * i, 10, 10), size=(30 + i, 20))) for i in range(4)]
    out = tmp_path / "out"
    groups = {"color": [(f, "red" if i < 2 else "blue") for i, f in enumerate(files)]}
    write_tree(plan_tree(out, groups, link=link, photo_roots=[root]))
    return out, files


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_a_moved_file_is_adopted_in_every_link_mode(tmp_path: Path, link: str) -> None:
    out, files = _tree(tmp_path, link)
    os.rename(out / "color/red/p0.png", out / "color/blue/p0.png")
    manifest, gestures = read_corrections(out)
    assert [(g.kind, g.photo, g.group, g.before) for g in gestures] == [("moved", files[0], "blue", "red")]
    assert manifest is not None and "color/blue/p0.png" in {e.path for e in manifest.files}
    memory = manifest.concepts[0].memory
    assert memory is not None and [(p, memory.groups[g].name) for p, g in memory.pins] == [(files[0], "blue")]
    assert read_manifest(out).concepts[0].memory is None  # reading wrote nothing


def test_unsafe_folder_name_is_sanitised_and_moves_out_of_the_groups_leave_the_photo_out(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    (out / "color" / " .odd name").mkdir()
    os.rename(out / "color/red/p0.png", out / "color/ .odd name/p0.png")
    (out / "color/red/deeper").mkdir()
    os.rename(out / "color/red/p1.png", out / "color/red/deeper/p1.png")  # still in red: a folder inside it
    os.rename(out / "color/blue/p2.png", out / "color/p2.png")  # in the concept's folder, in no group
    os.rename(out / "color/blue/p3.png", out / "p3.png")  # out of the tree
    manifest, gestures = read_corrections(out)
    assert {(g.kind, g.photo, g.group) for g in gestures} == {
        ("new group", files[0], "odd name"), ("deleted", files[2], None), ("deleted", files[3], None)}
    assert manifest is not None and "color/red/deeper" in manifest.dirs and "color/ .odd name" in manifest.dirs


def test_a_rename_is_told_from_a_new_folder(tmp_path: Path) -> None:
    out, _ = _tree(tmp_path)
    os.rename(out / "color/red", out / "color/crimson")
    manifest, gestures = read_corrections(out)
    assert [(g.kind, g.group, g.before) for g in gestures] == [("renamed", "crimson", "red")]
    assert manifest is not None and "color/crimson" in manifest.dirs and "color/red" not in manifest.dirs
    assert kept(manifest) == ["color: group crimson named by you"]


def test_files_a_crash_never_made_are_not_deletions(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    data = json.loads((out / OUTPUT_MANIFEST).read_text())
    data["complete"] = False  # as a run leaves it when killed before making every file
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    (out / "color/red/p0.png").unlink()
    _, gestures = read_corrections(out)
    assert gestures == []
    data["complete"] = True
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    _, gestures = read_corrections(out)
    assert [(g.kind, g.photo) for g in gestures] == [("deleted", files[0])]


def test_a_concept_folder_gone_altogether_is_no_gesture(tmp_path: Path) -> None:
    out, _ = _tree(tmp_path)
    shutil.rmtree(out / "color")
    _, gestures = read_corrections(out)
    assert gestures == []


@pytest.mark.parametrize("memory", [
    {"groups": [{"name": "a", "centre": ["x"], "spread": 0.1}]},
    {"groups": [{"name": "a", "centre": [0.1], "spread": 0.1}], "pins": [["/p", 3]]},
    {"groups": [], "members": [["/p", 0]]},
    {"groups": [{"name": "a", "centre": [0.1], "spread": True}]},
    {"setup": [], "groups": []},
])
def test_a_forged_memory_makes_the_folder_not_ours(tmp_path: Path, memory: dict) -> None:
    out, _ = _tree(tmp_path)
    data = json.loads((out / OUTPUT_MANIFEST).read_text())
    data["concepts"][0]["memory"] = memory
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    with pytest.raises(OutputError, match="not proxysort's"):
        read_manifest(out)


def test_adopt_of_an_untouched_tree_changes_nothing(tmp_path: Path) -> None:
    from proxysort.outdir import OutDir

    out, _ = _tree(tmp_path)
    manifest = read_manifest(out)
    assert manifest is not None
    with OutDir.open(out) as od:
        again, gestures = adopt(od, manifest)
    assert gestures == [] and again == manifest


def test_a_link_the_user_renamed_keeps_its_name(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    os.rename(out / "color/red/p0.png", out / "color/red/best of 2019.png")
    groups = {"color": [(f, "red" if i < 2 else "blue") for i, f in enumerate(files)]}
    summary = write_tree(plan_tree(out, groups, photo_roots=[tmp_path / "photos"]))
    assert (summary.created, summary.removed) == (0, 0)
    assert sorted(p.name for p in (out / "color/red").iterdir()) == ["best of 2019.png", "p1.png"]
