"""Photos on a group's edge in the group's ``-unsure`` folder (issue 21.3): the rule (groups.find_unsure), what
the tree remembers of them (stable.py), the user's moves into and out of such a folder (corrections.py), and
the whole loop through the CLI on a generated folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from proxysort.corrections import apply, kept, read_corrections, regroup
from proxysort.groups import UNSURE_MARGIN, centre_margins, find_unsure, unsure_folder
from proxysort.manifest import GroupRecord, Memory, parse_manifest
from proxysort.output import OUTPUT_MANIFEST, plan_tree, write_tree
from proxysort.stable import place, remember, setup_of
from tests.support.photos import make_photo

SETUP = setup_of(identity="m", mode="zeroshot", feature="scoremix", words=["red", "blue"], k=2, seed=0)


def _two_groups(rng: np.random.Generator, between: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, centres): 40 photos round (0, 0), 40 round (1, 0), and ``between`` photos near
    (0.5, 0), labelled with the nearer group, as k-means leaves them."""
    x = np.concatenate([rng.normal(0, 0.05, (40, 2)), [1, 0] + rng.normal(0, 0.05, (40, 2)),
                        [0.5, 0] + rng.normal(0, 0.01, (between, 2))]).astype(np.float32)
    labels = (x[:, 0] > 0.5).astype(np.int64)
    centres = np.stack([x[labels == g].mean(axis=0) for g in (0, 1)])
    return x, labels, centres


def test_margins_say_how_much_nearer_the_own_centre_is() -> None:
    d = np.array([[0.1, 0.5, 0.3], [0.4, 0.2, 0.9]])
    assert centre_margins(d, np.array([0, 1])) == pytest.approx([0.2, 0.2])
    assert centre_margins(d, np.array([1, 0])) == pytest.approx([-0.4, -0.2])  # nearer another group (a pin)
    assert np.isinf(centre_margins(np.array([[0.3]]), np.array([0]))).all()  # one group: no other to be near


def test_photos_between_two_groups_are_unsure_and_no_other() -> None:
    x, labels, centres = _two_groups(np.random.default_rng(0), between=4)
    unsure, cut = find_unsure(x, labels, centres, ["red", "blue"], spherical=False, neutral=False)
    assert np.flatnonzero(unsure).tolist() == [80, 81, 82, 83]
    margins = centre_margins(np.abs(x[:, :1] - centres[:, 0][None, :]), labels)  # the same distances, in 1-D
    assert cut == pytest.approx(UNSURE_MARGIN * np.median(margins), rel=0.05)


def test_groups_well_apart_have_no_unsure_photo() -> None:
    x, labels, centres = _two_groups(np.random.default_rng(1), between=0)
    unsure, cut = find_unsure(x, labels, centres, ["red", "blue"], spherical=False, neutral=False)
    assert not unsure.any() and cut > 0


def test_neutral_names_and_doubtful_groups_get_no_unsure_folder() -> None:
    x, labels, centres = _two_groups(np.random.default_rng(2), between=6)
    unsure, cut = find_unsure(x, labels, centres, ["color-1", "color-2"], spherical=False, neutral=True)
    assert not unsure.any() and cut == 0.0  # a number claims no value: it cannot lie
    unsure, _ = find_unsure(x, labels, centres, ["olive-unsure", "blue"], spherical=False, neutral=False)
    between = np.arange(80, 86)
    assert not unsure[labels == 0].any() and unsure[between[labels[between] == 1]].all()
    assert unsure_folder("red") == "red-unsure"


def test_a_rerun_keeps_who_is_unsure_and_judges_new_photos_by_the_same_cut() -> None:
    rng = np.random.default_rng(3)
    x, labels, centres = _two_groups(rng, between=4)
    unsure, cut = find_unsure(x, labels, centres, ["red", "blue"], spherical=False, neutral=False)
    paths = [f"p{i}" for i in range(len(x))]
    memory = remember(x, labels, ["red", "blue"], paths, ["id"] * len(x), setup=SETUP, spherical=False,
                      unsure=unsure, unsure_margin=cut)
    assert memory.unsure == ("p80", "p81", "p82", "p83") and memory.unsure_margin == cut
    read = Memory.from_json(json.loads(json.dumps(memory.to_json())))  # as the manifest keeps it
    assert (read.unsure, read.unsure_margin) == (memory.unsure, memory.unsure_margin)
    # New photos: two in the middle of each group and one between them. The features of an old unsure photo
    # and an old sure one are swapped: nothing already sorted changes folder.
    new = np.array([[0.0, 0.01], [1.0, 0.0], [0.51, 0.0]], dtype=np.float32)
    x2 = np.concatenate([x, new])
    x2[[80, 0]] = x2[[0, 80]]
    placed = place(x2, [*paths, "n0", "n1", "n2"], ["id"] * len(x2), memory, spherical=False)
    assert placed is not None and placed.labels[:84].tolist() == labels.tolist()
    assert placed.unsure[:84].tolist() == unsure.tolist()
    assert placed.unsure[84:].tolist() == [False, False, True]
    assert (placed.new, placed.unchanged, placed.moved) == (3, 84, 0)


# ------------------------------------------------------------------------------- the user's corrections


def _tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """OUT/color/{red, red-unsure, blue}: p0 in red, p1 on red's edge, p2 and p3 in blue (with a memory)."""
    root = tmp_path / "photos"
    files = [str(make_photo(root / f"p{i}.png", (40 * i, 10, 10), size=(30 + i, 20))) for i in range(4)]
    memory = Memory(setup=SETUP, groups=(GroupRecord("red", (1.0, 0.0), 0.1), GroupRecord("blue", (0.0, 1.0), 0.1)),
                    members=tuple((f, int(i >= 2), "id") for i, f in enumerate(files)), unsure=(files[1],),
                    unsure_margin=0.05)
    out = tmp_path / "out"
    groups = {"color": [(files[0], "red"), (files[1], "red-unsure"), (files[2], "blue"), (files[3], "blue")]}
    write_tree(plan_tree(out, groups, photo_roots=[root], memories={"color": memory}))
    return out, files


def _memory(out: Path) -> Memory:
    manifest, _ = read_corrections(out)
    assert manifest is not None and manifest.concepts[0].memory is not None
    return manifest.concepts[0].memory


def test_the_memory_says_which_photos_are_in_the_unsure_folder(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    data = json.loads((out / OUTPUT_MANIFEST).read_text())["concepts"][0]["memory"]
    assert data["unsure"] == [files[1]] and data["unsure_margin"] == 0.05
    assert parse_manifest((out / OUTPUT_MANIFEST).read_text()).concepts[0].memory == _memory(out)


def test_moved_out_of_the_unsure_folder_into_its_group_is_a_correction(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    shutil.move(out / "color/red-unsure/p1.png", out / "color/red/p1.png")
    manifest, gestures = read_corrections(out)
    assert [(g.kind, g.photo, g.group, g.before) for g in gestures] == [("moved", files[1], "red", "red-unsure")]
    memory = _memory(out)
    assert [g.name for g in memory.groups] == ["red", "blue"]  # no group of its own
    assert memory.pins == ((files[1], 0),) and memory.unsure == ()
    assert manifest is not None and kept(manifest) == [f"color: {files[1]} placed by you in red"]


def test_moved_from_the_unsure_folder_to_another_group_is_pinned_there(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    shutil.move(out / "color/red-unsure/p1.png", out / "color/blue/p1.png")
    memory = _memory(out)
    assert [g.name for g in memory.groups] == ["red", "blue"]
    assert memory.pins == ((files[1], 1),) and memory.unsure == ()
    assert (files[1], 1, "id") in memory.members


def test_moved_into_an_unsure_folder_is_pinned_to_its_group_and_stays_there(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    shutil.move(out / "color/blue/p2.png", out / "color/red-unsure/p2.png")
    manifest, gestures = read_corrections(out)
    assert [(g.kind, g.photo, g.group) for g in gestures] == [("moved", files[2], "red-unsure")]
    memory = _memory(out)
    assert [g.name for g in memory.groups] == ["red", "blue"]
    assert memory.pins == ((files[2], 0),) and memory.unsure == tuple(sorted((files[1], files[2])))
    assert manifest is not None and kept(manifest) == [f"color: {files[2]} placed by you in red-unsure"]
    # Made while a run learned (the run planned p2 in blue): the plan keeps it where the user put it, and the
    # memory the run writes takes the gesture in as the next run's read would.
    planned = [(files[0], "red"), (files[1], "red-unsure"), (files[2], "blue"), (files[3], "blue")]
    assert dict(regroup(planned, gestures))[files[2]] == "red-unsure"
    before = parse_manifest(json.dumps({"tool": "proxysort", "version": 2, "concepts": [
        {"name": "color", "dir": "color", "link": "symlink",
         "memory": json.loads((out / OUTPUT_MANIFEST).read_text())["concepts"][0]["memory"]}]})).concepts[0].memory
    assert before is not None and apply(before, gestures) == memory


def test_a_folder_named_like_an_unsure_one_without_its_group_is_a_new_group(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    (out / "color/green-unsure").mkdir()
    shutil.move(out / "color/blue/p3.png", out / "color/green-unsure/p3.png")
    _, gestures = read_corrections(out)
    assert [(g.kind, g.group) for g in gestures] == [("new group", "green-unsure")]
    assert [g.name for g in _memory(out).groups] == ["red", "blue", "green-unsure"]


def test_a_renamed_group_takes_its_unsure_folder_along(tmp_path: Path) -> None:
    out, files = _tree(tmp_path)
    (out / "color/red").rename(out / "color/crimson")
    _, gestures = read_corrections(out)
    assert [(g.kind, g.group, g.before) for g in gestures] == [("renamed", "crimson", "red")]
    assert dict(regroup([(files[1], "red-unsure")], gestures)) == {files[1]: "crimson-unsure"}
    assert _memory(out).unsure == (files[1],)


# ------------------------------------------------------------------------------------ through the CLI


@pytest.mark.slow
def test_unsure_folders_through_the_cli_corrections_and_new_photos(run_cli, tmp_path: Path) -> None:
    """The offline world by size (its groups hold a few photos of a neighbouring size): a first run makes
    ``<size>-unsure`` folders; a link moved out of one into another group and one moved into one are kept as
    corrections (no group of their own); new photos are placed without moving any link already there."""
    from miniworld.generate import write_folder
    from miniworld.worlds import get_world

    world = get_world("shapes")
    write_folder(tmp_path / "world", 120, 1)
    photos, out = tmp_path / "world" / "images", tmp_path / "out"
    args = ["cluster", str(photos), "--by", "size", "--words", "small,medium,large", "--k", "3", "--out", str(out),
            "--model", str(world.config), "--pretrained", str(world.weights), "--device", "cpu", "--format", "tsv"]
    first = run_cli(args)
    assert first.exit_code == 0, first.stderr
    folders = sorted(p.name for p in (out / "size").iterdir())
    edges = [f for f in folders if f.endswith("-unsure")]
    assert edges and all(f.removesuffix("-unsure") in folders for f in edges)
    rows = [line.split("\t") for line in first.stdout.splitlines()]
    in_edge = {Path(r[5]).parent.name for r in rows if r[5]}
    assert set(edges) <= in_edge and " in " + edges[0] + ")" in first.stderr  # the summary counts them
    assert f"are in \u201c{edges[0]}\u201d: each lies almost as near another group" in (out / "index.html").read_text()
    memory = json.loads((out / OUTPUT_MANIFEST).read_text())["concepts"][0]["memory"]
    assert len(memory["unsure"]) == sum(len(list((out / "size" / f).iterdir())) for f in edges)

    edge = out / "size" / edges[0]
    other = next(f for f in folders if f not in edges and f != edges[0].removesuffix("-unsure"))
    out_of, into = sorted(edge.iterdir())[0], sorted((out / "size" / other).iterdir())[0]
    moved_out, moved_in = str(out_of.resolve()), str(into.resolve())  # the photos
    shutil.move(into, edge / into.name)
    shutil.move(out_of, out / "size" / other / out_of.name)
    links = {str(p.relative_to(out)): p.resolve() for p in (out / "size").rglob("*") if p.is_symlink()}
    write_folder(tmp_path / "more", 10, 7)
    shutil.copytree(tmp_path / "more" / "images", photos / "new")

    again = run_cli(args)
    assert again.exit_code == 0, again.stderr
    assert "size: your changes in the tree are kept: 2 link(s) moved" in again.stderr
    assert "size: 10 new photos placed, 120 unchanged, 0 moved" in again.stderr
    after = {str(p.relative_to(out)): p.resolve() for p in (out / "size").rglob("*") if p.is_symlink()}
    assert all(after.get(rel) == target for rel, target in links.items())  # nothing already sorted moved
    memory = json.loads((out / OUTPUT_MANIFEST).read_text())["concepts"][0]["memory"]
    names = [g["name"] for g in memory["groups"]]
    assert sorted(names) == sorted(f for f in folders if f not in edges)  # no -unsure folder became a group
    pins = {photo: names[g] for photo, g in memory["pins"]}
    assert pins == {moved_out: other, moved_in: edges[0].removesuffix("-unsure")}
    assert moved_in in memory["unsure"] and moved_out not in memory["unsure"]
