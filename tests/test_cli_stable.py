"""Stable re-runs and corrections that stick, through the real CLI on generated folders (issue 23).

Every gesture a file manager makes in OUT: a link moved to another group, a group folder renamed, a new
folder of moved links, a link deleted, a link moved out of the tree; made between runs and while another
run holds the folder's lock. ``--recluster``, a changed setup, ``clean`` (with and without ``--all``) and
``show`` listing what is kept.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from proxysort.output import OUTPUT_MANIFEST
from tests.support.photos import TINY_CONFIG, make_photo
from tests.support.treesnap import snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
COLORS = [(220, 20, 20), (20, 200, 20), (20, 20, 220)]


def _cluster(run_cli, photos: Path, out: Path, *extra: str, k: int = 3):
    result = run_cli(["cluster", str(photos), "--by", "color", "--words", "red,green,blue", "--k", str(k),
                      "--out", str(out), "--format", "tsv", *MODEL, *extra])
    assert result.exit_code == 0, result.stderr
    return result


def _dests(stdout: str) -> dict[str, str]:
    """photo -> its link in OUT ('' when it has none), from the TSV rows."""
    return {row.split("\t")[0]: row.split("\t")[5] for row in stdout.splitlines()}


def _links(out: Path) -> dict[str, str]:
    """link path in OUT (relative) -> the photo it points to, for every symlink of the colour tree."""
    return {str(p.relative_to(out)): str(p.resolve()) for p in (out / "color").rglob("*") if p.is_symlink()}


def _memory(out: Path) -> dict:
    return json.loads((out / OUTPUT_MANIFEST).read_text())["concepts"][0]["memory"]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i in range(12):
        make_photo(root / "z" / f"img{i:02d}.png", COLORS[i % 3], size=(64 + i, 48))
    return root


def test_rerun_keeps_every_photo_and_places_new_ones(run_cli, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _dests(_cluster(run_cli, photos, out).stdout)
    # New photos, one named like an old one in a folder that sorts first (it would take the old name).
    make_photo(photos / "a" / "img00.png", COLORS[0], size=(64, 49))  # not byte-identical: linked
    for i in range(3):
        make_photo(photos / "new" / f"n{i}.png", COLORS[i], size=(70 + i, 50))
    second = _cluster(run_cli, photos, out)
    after = _dests(second.stdout)
    assert "color: 4 new photos placed, 12 unchanged, 0 moved" in second.stderr
    assert all(after[p] == d for p, d in first.items())  # same group, same link name
    clash = Path(after[str(photos / "a" / "img00.png")])
    old = Path(first[str(photos / "z" / "img00.png")])
    assert clash != old and old.is_symlink() and old.resolve() == (photos / "z" / "img00.png").resolve()
    if clash.parent == old.parent:
        assert clash.name == "img00-2.png"
    # A photo that left the library leaves its group; the rest stay.
    (photos / "new" / "n0.png").unlink()
    third = _dests(_cluster(run_cli, photos, out).stdout)
    assert str(photos / "new" / "n0.png") not in third
    assert all(third[p] == d for p, d in after.items() if p in third)


def test_every_gesture_sticks_and_recluster_starts_over(run_cli, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dests = _dests(_cluster(run_cli, photos, out).stdout)
    by_group: dict[str, list[Path]] = {}
    for d in dests.values():
        by_group.setdefault(Path(d).parent.name, []).append(Path(d))
    groups = sorted(by_group, key=lambda g: -len(by_group[g]))
    assert len(groups) == 3 and len(by_group[groups[0]]) >= 4
    big, other, third = groups
    moved, to_new, deleted, thrown = by_group[big][:4]
    photo = {Path(d): str(Path(p).resolve()) for p, d in dests.items()}  # link -> its photo
    shutil.move(moved, out / "color" / other / moved.name)  # moved to another group
    (out / "color" / "My Keepers").mkdir()
    shutil.move(to_new, out / "color" / "My Keepers" / to_new.name)  # a new folder of the user's
    deleted.unlink()  # deleted
    shutil.move(thrown, tmp_path / thrown.name)  # moved out of proxysort's folders entirely
    (out / "color" / third).rename(out / "color" / "crimson")  # a group renamed
    renamed_links = {p.name for p in by_group[third]}

    second = _cluster(run_cli, photos, out)
    assert "color: your changes in the tree are kept: 1 link(s) moved, 1 link(s) moved to a new folder, " \
           "1 folder(s) renamed, 2 link(s) deleted (photos left out)" in second.stderr
    assert "color: 0 new photos placed, 10 unchanged, 0 moved" in second.stderr
    links = _links(out)
    assert links[f"color/{other}/{moved.name}"] == photo[moved]
    assert links[f"color/My Keepers/{to_new.name}"] == photo[to_new]
    assert not (out / "color" / third).exists()
    assert {p.name for p in (out / "color" / "crimson").iterdir()} == renamed_links
    targets = list(links.values())
    assert photo[deleted] not in targets and photo[thrown] not in targets
    assert sorted(targets) == sorted(set(targets))  # each photo once: nothing made again in its old place
    assert (tmp_path / thrown.name).is_symlink()  # what the user moved out is theirs: untouched
    memory = _memory(out)
    names = [g["name"] for g in memory["groups"]]
    assert {(p, names[g]) for p, g in memory["pins"]} == {(str(photos / "z" / moved.name), other),
                                                          (str(photos / "z" / to_new.name), "My Keepers")}
    assert [g.get("by_user", False) for g in memory["groups"]].count(True) == 2  # crimson, My Keepers
    tree = snapshot(out)

    third_run = _cluster(run_cli, photos, out)  # nothing new: nothing changes, nothing is reported
    assert "your changes" not in third_run.stderr
    assert snapshot(out) == tree

    shown = run_cli(["show", str(out), "--no-open"])
    assert shown.exit_code == 0, shown.stderr
    assert f"placed by you in {other}" in shown.stderr and "group crimson named by you" in shown.stderr
    assert "left out (its link was deleted)" in shown.stderr

    again = _cluster(run_cli, photos, out, "--recluster")
    links = _links(out)
    targets = sorted(links.values())
    assert len(targets) == 12 and photo[deleted] in targets  # left-out photos are back
    assert links[f"color/{other}/{moved.name}"] == photo[moved]  # placements still hold
    assert links[f"color/My Keepers/{to_new.name}"] == photo[to_new]
    assert "12 photos in 3 groups" in again.stderr  # --k groups; the user's ones among them


def test_changed_setup_remakes_the_tree(run_cli, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _cluster(run_cli, photos, out)
    changed = _cluster(run_cli, photos, out, k=2)
    assert "color: the setup changed (k), so its tree is made again" in changed.stderr
    assert len([p for p in (out / "color").iterdir() if p.is_dir()]) == 2


def test_correction_made_while_another_run_holds_the_lock(run_cli, photos: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from proxysort.outdir import OutDir

    out = tmp_path / "out"
    dests = _dests(_cluster(run_cli, photos, out).stdout)
    folders = sorted({Path(d).parent.name for d in dests.values()})
    victim = next(Path(d) for d in dests.values() if Path(d).parent.name == folders[0])
    source = str((photos / "z" / victim.name).resolve())
    waiting = threading.Event()
    real_lock = OutDir.lock

    def spying(self, timeout=600.0, on_wait=None):
        def told(message: str) -> None:
            waiting.set()
            if on_wait is not None:
                on_wait(message)
        return real_lock(self, timeout, told)

    monkeypatch.setattr(OutDir, "lock", spying)
    results = []
    with OutDir.open(out) as od, od.lock():
        worker = threading.Thread(target=lambda: results.append(_cluster(run_cli, photos, out)))
        worker.start()
        assert waiting.wait(120), "the second run never reached the lock"
        # The run has learned its groups and waits to write: the user moves a link meanwhile.
        shutil.move(victim, out / "color" / folders[1] / victim.name)
    worker.join(120)
    assert results and "another proxysort run is writing" in results[0].stderr
    links = _links(out)
    assert links[f"color/{folders[1]}/{victim.name}"] == source
    assert source not in [t for p, t in links.items() if not p.startswith(f"color/{folders[1]}/")]
    memory = _memory(out)
    names = [g["name"] for g in memory["groups"]]
    assert [p for p, g in memory["pins"] if names[g] == folders[1]] == [str(photos / "z" / victim.name)]
    final = _cluster(run_cli, photos, out)  # and it holds on the next run
    assert _dests(final.stdout)[str(photos / "z" / victim.name)] == str(out / "color" / folders[1] / victim.name)


def test_foreign_files_are_still_not_gestures(run_cli, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dests = _dests(_cluster(run_cli, photos, out).stdout)
    folder = Path(next(iter(dests.values()))).parent
    (folder / "notes.txt").write_text("mine")
    (out / "color" / "empty-of-links").mkdir()
    (out / "color" / "empty-of-links" / "x.txt").write_text("mine too")
    second = _cluster(run_cli, photos, out)
    assert "your changes" not in second.stderr
    assert (folder / "notes.txt").read_text() == "mine"
    memory = _memory(out)
    assert memory["pins"] == [] and memory["left_out"] == []
    assert all(g["name"] != "empty-of-links" for g in memory["groups"])


def test_clean_keeps_placed_links_unless_all(run_cli, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dests = _dests(_cluster(run_cli, photos, out).stdout)
    folders = sorted({Path(d).parent.name for d in dests.values()})
    victim = next(Path(d) for d in dests.values() if Path(d).parent.name == folders[0])
    shutil.move(victim, out / "color" / folders[1] / victim.name)
    cleaned = run_cli(["clean", str(out)])
    assert cleaned.exit_code == 0, cleaned.stderr
    assert "kept 1 link(s) you placed by hand (--all removes them too)" in cleaned.stderr
    assert list(_links(out)) == [f"color/{folders[1]}/{victim.name}"]
    memory = _memory(out)
    assert len(memory["pins"]) == 1 and memory["members"] == [] and memory["setup"] == {}
    again = _cluster(run_cli, photos, out)  # made afresh, the placement kept
    assert _dests(again.stdout)[str(photos / "z" / victim.name)] == str(out / "color" / folders[1] / victim.name)
    everything = run_cli(["clean", str(out), "--all"])
    assert everything.exit_code == 0, everything.stderr
    assert not out.exists()


@pytest.mark.slow
def test_new_photos_of_a_value_the_groups_lack_are_said_not_to_fit(run_cli, tmp_path: Path) -> None:
    """Measured in benchmarks/results/corrections-fit.md: new photos of a colour no group holds lie beyond
    the groups' spread (0.99-1.00 of them), new photos of the same colours mostly within (0.06-0.08)."""
    from PIL import Image

    from miniworld.generate import Sample, render
    from miniworld.worlds import get_world

    world = get_world("shapes")
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()

    def write(color: str, i: int) -> None:
        sample = Sample(color=color, shape="circle", pattern="plain", size="large", seed=1000 + i)
        Image.fromarray(render(sample)).save(photos / f"{color}{i:02d}.png")

    for i in range(24):
        write(["red", "blue"][i % 2], i)
    args = ["cluster", str(photos), "--by", "color", "--words", "red,blue,green", "--k", "2", "--out", str(out),
            "--model", str(world.config), "--pretrained", str(world.weights), "--device", "cpu", "--format", "tsv"]
    assert run_cli(args).exit_code == 0
    for i in range(24, 30):
        write(["red", "blue"][i % 2], i)
    same = run_cli(args)
    assert "6 new photos placed, 24 unchanged, 0 moved" in same.stderr and "--recluster" not in same.stderr
    for i in range(30, 38):
        write("green", i)
    other = run_cli(args)
    assert "8 new photos placed, 30 unchanged, 0 moved" in other.stderr
    assert "of the 8 new photos lie farther from every group than the groups' own photos do; --recluster" in other.stderr


@pytest.mark.slow
def test_a_folder_named_for_a_missing_value_names_its_group_on_recluster(run_cli, tmp_path: Path) -> None:
    """The README's offline world with imperfect words (purple missing): one link moved into a new 'purple'
    folder names the doubtful group on --recluster, and no warning speaks of a group the user named."""
    from miniworld.generate import write_folder
    from miniworld.worlds import get_world

    world = get_world("shapes")
    write_folder(tmp_path / "world", 80, 1)
    out = tmp_path / "out"
    args = ["cluster", str(tmp_path / "world" / "images"), "--by", "color", "--words",
            "red,orange,gold,green,blue,pink,brown,white", "--k", "6", "--out", str(out),
            "--model", str(world.config), "--pretrained", str(world.weights), "--device", "cpu", "--format", "tsv"]
    first = run_cli(args)
    assert first.exit_code == 0 and "white-unsure" in first.stderr  # the doubtful group: purple is missing
    doubtful = out / "color" / "white-unsure"
    (out / "color" / "purple").mkdir()
    link = sorted(doubtful.iterdir())[0]
    shutil.move(link, out / "color" / "purple" / link.name)
    again = run_cli([*args, "--recluster"])
    assert again.exit_code == 0, again.stderr
    assert "white-unsure" not in again.stderr and not doubtful.exists()
    assert len(list((out / "color" / "purple").iterdir())) >= 10


def test_the_page_and_status_show_what_the_user_placed_and_named(run_cli, photos: Path, tmp_path: Path) -> None:
    """Issue 23 item 4: a link moved and a folder renamed with `mv`, a re-run: the review page marks the photo
    "placed by you" and the group "named by you"; `status OUT` lists both (and says what is not yet kept)."""
    import re

    out = tmp_path / "out"
    dests = _dests(_cluster(run_cli, photos, out).stdout)
    by_group: dict[str, list[Path]] = {}
    for d in dests.values():
        by_group.setdefault(Path(d).parent.name, []).append(Path(d))
    big, other, third = sorted(by_group, key=lambda g: (-len(by_group[g]), g))
    moved = by_group[big][0]
    photo = str(Path(next(p for p, d in dests.items() if Path(d) == moved)))
    shutil.move(moved, out / "color" / other / moved.name)
    (out / "color" / third).rename(out / "color" / "crimson")

    before = run_cli(["status", str(out)])  # found, not yet kept: the next run takes them in
    assert before.exit_code == 0, before.stderr
    assert "corrections kept: none" in before.stdout
    assert f"color: {photo}: moved from {big} to {other}" in before.stdout
    assert f"color: {third}: renamed crimson" in before.stdout

    _cluster(run_cli, photos, out)
    html = (out / "index.html").read_text()
    tile = re.search(rf'<a class="t(?: doubt)? placed" href="color/{other}/{re.escape(moved.name)}"[^>]*>.*?</a>', html, re.S)
    assert tile is not None and '<span class="placed">placed by you</span>' in tile.group(0)
    assert len(re.findall(r'<a class="t[^"]* placed"', html)) == 1  # only the photo the user moved
    heads = dict(re.findall(r'<span class="gname">([^<]*)</span>(<span class="named"[^>]*>)?', html))
    assert heads["crimson"] and not heads[other] and not heads[big]
    data = json.loads((out / ".proxysort-page.json").read_text())
    pinned = [p["src"] for g in data["concepts"][0]["groups"] for p in g["photos"] if p["pinned"]]
    assert pinned == [photo]

    status = run_cli(["status", str(out)])
    assert status.exit_code == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == f"output folder: {out}"
    assert lines[1].startswith("color: 12 photos in 3 groups, folder color/ (method ")
    n = len(by_group[third])
    assert f"  crimson: {n} photo{'s' if n != 1 else ''}, named by you" in lines
    assert f"  color: {photo} placed by you in {other}" in lines
    assert "  color: group crimson named by you" in lines
    assert "changed by hand since the last run" not in status.stdout  # all kept now
    report = json.loads(run_cli(["status", str(out), "--json"]).stdout)
    assert report["trees"][0]["placed"] == [[photo, other]]
    assert [g["name"] for g in report["trees"][0]["groups"] if g["by_user"]] == ["crimson"]
    assert run_cli(["status", str(photos)]).stdout.startswith(f"folder: {photos}")  # a photo folder: as before
