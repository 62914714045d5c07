"""``cluster`` output never harms files it did not create, and never writes into the photo folder.

Exercises :mod:`proxysort.output` directly (plan + write) with hostile names, hostile output folders and a
hostile manifest, in every link mode, and checks the photo tree with byte-level snapshots.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxysort.errors import OutputError
from proxysort.output import LINK_MODES, OUTPUT_MANIFEST, plan_tree, write_tree
from tests.support.hostile import assert_harmless_name, hostile_text
from tests.support.photos import TINY_CONFIG, make_photo
from tests.support.treesnap import assert_unchanged, snapshot


def _photos(root: Path, n: int = 6) -> list[str]:
    colors = [(200, 20, 20), (20, 200, 20), (20, 20, 200)]
    return [str(make_photo(root / f"sub{i % 2}" / f"p{i}.jpg", colors[i % 3])) for i in range(n)]


def _inside(path: str, folder: Path) -> bool:
    real = os.path.realpath(folder)
    return os.path.commonpath([os.path.realpath(os.path.dirname(path)), real]) == real


def _everything_under(folder: Path) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(folder) for n in dirs + files]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(concept=hostile_text, clusters=st.lists(hostile_text, min_size=1, max_size=4), link=st.sampled_from(LINK_MODES))
def test_hostile_names_cannot_escape_the_output_folder(tmp_path_factory, concept, clusters, link) -> None:
    base = tmp_path_factory.mktemp("esc")
    photos = _photos(base / "photos")
    before = snapshot(base / "photos")
    out = base / "out"
    groups = {concept: [(p, clusters[i % len(clusters)]) for i, p in enumerate(photos)]}
    plan = plan_tree(out, groups, link=link, photo_roots=[base / "photos"])
    write_tree(plan)
    made = _everything_under(out)
    assert made, "nothing written"
    assert all(_inside(p, out) for p in made), [p for p in made if not _inside(p, out)]
    assert sorted(os.listdir(base)) == ["out", "photos"]  # nothing written beside the output folder
    assert_unchanged(before, base / "photos")


def test_hostile_names_become_safe_distinct_folders(tmp_path: Path) -> None:
    """The property above, on the names that matter most, with what each must become."""
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "out"
    hostile = ["../x", "/", "", "é" * 200, "..", "red", "RED"]
    groups = {"../color": [(photos[i % len(photos)], hostile[i]) for i in range(len(hostile))]}
    write_tree(plan_tree(out, groups, link="copy", photo_roots=[tmp_path / "photos"]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "color").exists()
    assert [d for d in os.listdir(out) if d != OUTPUT_MANIFEST] == ["color"]
    clusters = os.listdir(out / "color")
    assert len(clusters) == len({c.casefold() for c in clusters}) == len(set(hostile))
    for c in clusters:
        assert_harmless_name(c)
        assert len(c) <= 64


# ----------------------------------------------------------------------------- the photo tree itself


@pytest.mark.parametrize("link", LINK_MODES)
def test_photo_tree_byte_identical_after_writing_and_rewriting(tmp_path: Path, link: str) -> None:
    photos = _photos(tmp_path / "photos")
    before = snapshot(tmp_path / "photos")
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"color": [(p, ["red", "green"][i % 2]) for i, p in enumerate(photos)]}, link=link,
                       photo_roots=[tmp_path / "photos"]))
    # a second run with different clusters removes and recreates links: still nothing touches the photos
    write_tree(plan_tree(out, {"color": [(p, ["blue", "red", "x"][i % 3]) for i, p in enumerate(photos)]}, link=link,
                       photo_roots=[tmp_path / "photos"]))
    assert_unchanged(before, tmp_path / "photos")
    if link == "copy":
        # a copy that was then edited must not be mistaken for a source change either way
        copied = next(Path(p) for p in _everything_under(out) if p.endswith(".jpg"))
        copied.write_bytes(b"edited by the user")
        write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}, link=link, photo_roots=[tmp_path / "photos"]))
        assert copied.read_bytes() == b"edited by the user"
        assert_unchanged(before, tmp_path / "photos")


@pytest.mark.parametrize("where", ["inside", "same", "symlink-into"])
def test_output_folder_in_the_photo_tree_is_refused(tmp_path: Path, where: str) -> None:
    photos = _photos(tmp_path / "photos")
    before = snapshot(tmp_path / "photos")
    out = {"inside": tmp_path / "photos" / "sorted", "same": tmp_path / "photos", "symlink-into": tmp_path / "link"}[where]
    if where == "symlink-into":
        out.symlink_to(tmp_path / "photos" / "sub0", target_is_directory=True)
    with pytest.raises(OutputError):
        write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}, photo_roots=[tmp_path / "photos"]))
    assert_unchanged(before, tmp_path / "photos")


def test_output_folder_containing_the_photos_cannot_put_a_concept_folder_on_them(tmp_path: Path) -> None:
    """``--out ..`` run from inside the photo folder: the concept folder 'photos' would be the photo folder."""
    photos = _photos(tmp_path / "photos")
    before = snapshot(tmp_path / "photos")
    with pytest.raises(OutputError):
        write_tree(plan_tree(tmp_path, {"photos": [(p, "red") for p in photos]}, photo_roots=[tmp_path / "photos"]))
    assert_unchanged(before, tmp_path / "photos")


# ------------------------------------------------------------------ files proxysort did not create


def test_folder_with_foreign_files_and_no_manifest_is_refused(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "out"
    (out / "color").mkdir(parents=True)
    (out / "color" / "mine.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(OutputError, match="did not create"):
        write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}))
    assert_unchanged(before, out)
    (out / OUTPUT_MANIFEST).write_text('{"tool": "other"}')  # a manifest another tool wrote is not ours either
    with pytest.raises(OutputError, match="not written by proxysort"):
        write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}))


@pytest.mark.parametrize("link", LINK_MODES)
def test_rerun_leaves_user_files_and_user_edits_alone(tmp_path: Path, link: str) -> None:
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "out"
    groups = {"color": [(p, "red") for p in photos]}
    write_tree(plan_tree(out, groups, link=link))
    red = out / "color" / "red"
    ours = sorted(red.iterdir())
    # the user drops a file of their own where a link will want to go, and replaces one of our links
    (out / "color" / "blue").mkdir()
    squatter = out / "color" / "blue" / os.path.basename(photos[0])
    squatter.write_text("user file with a planned name")
    ours[1].unlink()
    ours[1].write_text("user replaced this link")
    (red / "notes.txt").write_text("user notes")
    user_files = snapshot(out)
    keep = {k: v for k, v in user_files.items() if k.endswith(("notes.txt", squatter.name)) or k == os.path.relpath(ours[1], out)}
    keep = {k: v for k, v in keep.items() if v.kind == "file" and v.size < 100}

    write_tree(plan_tree(out, {"color": [(p, "blue") for p in photos]}, link=link))
    after = snapshot(out)
    for rel, node in keep.items():
        assert after.get(rel) == node, f"user file {rel} was changed or removed"
    assert (out / "color" / "blue").is_dir() and len(list((out / "color" / "blue").iterdir())) == len(photos) + 1


def test_forged_manifest_cannot_delete_outside_or_foreign_files(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "v.jpg").symlink_to("target-text")
    (victim_dir / "data.txt").write_text("precious")
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}))
    (out / "escape").symlink_to(victim_dir, target_is_directory=True)
    manifest = json.loads((out / OUTPUT_MANIFEST).read_text())
    manifest["files"] += [
        {"path": "../victim/v.jpg", "source": photos[0], "kind": "symlink", "target": "target-text"},
        {"path": str(victim_dir / "v.jpg"), "source": photos[0], "kind": "symlink", "target": "target-text"},
        {"path": "escape/v.jpg", "source": photos[0], "kind": "symlink", "target": "target-text"},
        {"path": "escape/data.txt", "source": photos[0], "kind": "copy", "size": 8,
         "mtime_ns": os.stat(victim_dir / "data.txt").st_mtime_ns},
    ]
    manifest["dirs"] += ["..", "../victim", "escape"]
    (out / OUTPUT_MANIFEST).write_text(json.dumps(manifest))
    before = snapshot(victim_dir)
    write_tree(plan_tree(out, {"color": [(p, "green") for p in photos]}))
    assert_unchanged(before, victim_dir)


@pytest.mark.parametrize("link", LINK_MODES)
def test_concept_folder_replaced_by_a_symlink_into_the_photos_is_not_written_through(tmp_path: Path, link: str) -> None:
    """An old run's concept folder swapped for a link into the library: writing through it writes photos."""
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"color": [(p, "red") for p in photos]}, link=link, photo_roots=[tmp_path / "photos"]))
    before = snapshot(tmp_path / "photos")
    for entry in list((out / "color").iterdir()):
        for f in entry.iterdir():
            f.unlink()
        entry.rmdir()
    (out / "color").rmdir()
    (out / "color").symlink_to(tmp_path / "photos", target_is_directory=True)
    try:
        write_tree(plan_tree(out, {"color": [(p, "blue") for p in photos]}, link=link, photo_roots=[tmp_path / "photos"]))
    except OutputError:
        pass  # refusing is fine; writing into the photo folder is not
    assert_unchanged(before, tmp_path / "photos")


# ------------------------------------------------------------------------------ the real `cluster` CLI

TINY = str(TINY_CONFIG)


def _cluster(run_cli, photos: Path, out: Path, link: str):
    return run_cli(["cluster", str(photos), "--by", "color", "--words", "red,green,blue", "--k", "2",
                    "--mode", "zeroshot", "--link", link, "--out", str(out), "--format", "tsv",
                    "--model", TINY, "--pretrained", "none", "--device", "cpu"])


def test_cli_cluster_on_a_hostile_folder_in_every_link_mode(tmp_path: Path, run_cli) -> None:
    """The hostile corpus through the real command, three link modes and a re-run: the photo tree stays
    byte-identical and nothing appears outside the output folder."""
    from tests.support.hostile import make_corpus

    corpus = make_corpus(tmp_path / "photos")
    before = snapshot(corpus.root)
    out = tmp_path / "sorted"
    for link in LINK_MODES:  # each run after the first also replaces the previous run's tree
        result = _cluster(run_cli, corpus.root, out, link)
        assert result.exit_code == 3, result.stderr[-1500:]  # partial: the corpus has bad files
        assert "Traceback" not in result.stderr
        assert_unchanged(before, corpus.root)
        assert sorted(os.listdir(tmp_path)) == ["cache", "photos", "sorted"]
        made = _everything_under(out)
        assert all(_inside(p, out) for p in made)
        linked = [p for p in made if os.path.islink(p) or os.path.isfile(p)]
        assert len(linked) > 10


def test_cli_cluster_refuses_output_inside_the_photos(tmp_path: Path, run_cli) -> None:
    photos = tmp_path / "photos"
    _photos(photos)
    before = snapshot(photos)
    result = _cluster(run_cli, photos, photos / "sorted", "symlink")
    assert result.exit_code == 7, result.stderr[-800:]
    assert "Traceback" not in result.stderr
    assert_unchanged(before, photos)
