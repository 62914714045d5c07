"""The output tree: safe names, link modes, manifest-guarded re-runs, and refusal of unsafe folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from proxysort.errors import OutputError, UsageError
from proxysort.output import (
    OUTPUT_MANIFEST,
    check_location,
    default_out,
    plan_tree,
    read_manifest,
    write_tree,
)


def _photos(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    files = [root / "a" / "IMG_0001.jpg", root / "b" / "IMG_0001.jpg", root / "b" / "x.png", root / "c.jpg"]
    for i, f in enumerate(files):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(bytes([i]) * (10 + i))
    return root, [str(f) for f in files]


def _snapshot(root: Path) -> dict[str, tuple]:
    """Names, kinds, link targets, contents: enough to tell whether anything changed."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            content = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else None)
            snap[str(p.relative_to(root))] = (st.st_mode, content, st.st_mtime_ns if not p.is_symlink() else 0)
    return snap


def test_default_out_is_beside_the_photos(tmp_path: Path) -> None:
    assert default_out(tmp_path / "photos") == tmp_path / "photos-sorted"


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_write_tree_each_link_mode(tmp_path: Path, link: str) -> None:
    root, files = _photos(tmp_path)
    before = _snapshot(root)
    out = tmp_path / "out"
    groups = {"color": [(files[0], "red"), (files[1], "red"), (files[2], "green"), (files[3], "green")]}
    plan = plan_tree(out, groups, link=link, photo_roots=[root])
    summary = write_tree(plan)
    assert summary.created == 4
    red = sorted(os.listdir(out / "color" / "red"))
    assert red == ["IMG_0001-2.jpg", "IMG_0001.jpg"]  # same name from two folders: both kept
    for (_concept, src), rel in plan.dest.items():
        dest = out / rel
        assert dest.read_bytes() == Path(src).read_bytes()
        if link == "symlink":
            assert dest.is_symlink() and not os.path.isabs(os.readlink(dest))
        elif link == "hardlink":
            assert os.path.samefile(dest, src)
        else:
            assert not dest.is_symlink() and not os.path.samefile(dest, src)
    manifest = json.loads((out / OUTPUT_MANIFEST).read_text())
    assert {f["path"] for f in manifest["files"]} == set(plan.dest.values())
    assert _snapshot(root) == before


def test_relative_symlinks_survive_moving_both_folders(tmp_path: Path) -> None:
    root, files = _photos(tmp_path / "old")
    write_tree(plan_tree(tmp_path / "old" / "out", {"c": [(files[0], "a")]}, photo_roots=[root]))
    os.rename(tmp_path / "old", tmp_path / "new")
    assert (tmp_path / "new" / "out" / "c" / "a" / "IMG_0001.jpg").read_bytes() == Path(
        files[0].replace("/old/", "/new/")
    ).read_bytes()


def test_rerun_is_idempotent_and_replaces_only_its_own_files(tmp_path: Path) -> None:
    root, files = _photos(tmp_path)
    out = tmp_path / "out"
    groups = {"color": [(files[0], "red"), (files[1], "green"), (files[2], "green")]}
    write_tree(plan_tree(out, groups, photo_roots=[root]))
    first = _snapshot(out)
    again = write_tree(plan_tree(out, groups, photo_roots=[root]))
    assert (again.created, again.removed, again.kept) == (0, 0, 3)
    assert _snapshot(out) == first

    # A user's own files inside the tree survive a re-run that changes everything around them.
    (out / "color" / "red" / "notes.txt").write_text("mine")
    (out / "mine.txt").write_text("mine too")
    (out / "color" / "green" / "IMG_0001.jpg").parent.mkdir(exist_ok=True)
    changed = {"color": [(files[0], "blue"), (files[1], "blue"), (files[2], "red")]}
    summary = write_tree(plan_tree(out, changed, photo_roots=[root]))
    assert summary.removed == 3
    assert (out / "color" / "red" / "notes.txt").read_text() == "mine"
    assert (out / "mine.txt").read_text() == "mine too"
    assert not (out / "color" / "green").exists()  # our folder, now empty: removed
    assert sorted(os.listdir(out / "color" / "red")) == ["notes.txt", "x.png"]


def test_a_user_file_with_a_planned_name_is_never_overwritten(tmp_path: Path) -> None:
    root, files = _photos(tmp_path)
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"c": [(files[3], "k")]}, photo_roots=[root]))
    # The user replaces our link with a real file of their own, then adds another where a link would go.
    ours = out / "c" / "k" / "c.jpg"
    ours.unlink()
    ours.write_text("user data")
    (out / "c" / "k" / "x.png").write_text("also user data")
    plan = plan_tree(out, {"c": [(files[3], "k"), (files[2], "k")]}, photo_roots=[root])
    write_tree(plan)
    assert ours.read_text() == "user data"
    assert (out / "c" / "k" / "x.png").read_text() == "also user data"
    assert sorted(os.listdir(out / "c" / "k")) == ["c-2.jpg", "c.jpg", "x-2.png", "x.png"]
    listed = {f.path for f in read_manifest(out).files}
    assert "c/k/c.jpg" not in listed and "c/k/c-2.jpg" in listed


def test_changing_link_mode_replaces_links(tmp_path: Path) -> None:
    root, files = _photos(tmp_path)
    out = tmp_path / "out"
    groups = {"c": [(files[0], "a")]}
    write_tree(plan_tree(out, groups, link="symlink", photo_roots=[root]))
    summary = write_tree(plan_tree(out, groups, link="copy", photo_roots=[root]))
    assert (summary.created, summary.removed) == (1, 1)
    assert not (out / "c" / "a" / "IMG_0001.jpg").is_symlink()


def test_dry_run_plan_writes_nothing(tmp_path: Path) -> None:
    root, files = _photos(tmp_path)
    out = tmp_path / "out"
    plan = plan_tree(out, {"c": [(f, "a") for f in files]}, photo_roots=[root])
    assert not out.exists()
    text = "\n".join(plan.describe())
    assert "would create 4" in text and "c/a/" in text


def test_output_above_the_photos_is_fine_unless_a_concept_lands_on_them(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    check_location(tmp_path, [root], ["color"])
    with pytest.raises(OutputError, match="would write into the photo folder"):
        check_location(tmp_path, [root], ["photos"])


def test_bad_link_mode_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        plan_tree(tmp_path / "o", {}, link="junction")


def test_crash_midway_leaves_only_listed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, files = _photos(tmp_path)
    out = tmp_path / "out"
    groups = {"c": [(f, "a") for f in files]}
    calls = {"n": 0}
    real_symlink = os.symlink

    def flaky(src, dst, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_symlink(src, dst, *a, **k)

    monkeypatch.setattr(os, "symlink", flaky)
    with pytest.raises(KeyboardInterrupt):
        write_tree(plan_tree(out, groups, photo_roots=[root]))
    monkeypatch.setattr(os, "symlink", real_symlink)
    listed = {f.path for f in read_manifest(out).files}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_symlink() or p.is_file()} - {OUTPUT_MANIFEST}
    assert on_disk <= listed and len(on_disk) == 2
    write_tree(plan_tree(out, groups, photo_roots=[root]))
    assert len(os.listdir(out / "c" / "a")) == 4
