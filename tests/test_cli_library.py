"""The realistic library through the real CLI: `index --json` and `status` account for every file, `cluster`
selects exactly what `index` selects (same --exclude, --include-hidden), and the photo folder stays
byte-identical through all of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.photolibrary import HIDDEN, PHOTO, make_library
from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]
CLUSTER = ["--by", "color", "--words", "red,green,blue", "--k", "2", "--epochs", "1", "--no-folders"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def library(tmp_path: Path):
    return make_library(tmp_path / "library")


def _rel(library, path: str) -> str:
    return str(Path(path).relative_to(library.root.resolve()))


def test_index_json_lists_ignored_companions_and_duplicates(run_cli, library) -> None:
    before = snapshot(library.root)
    result = run_cli(["index", str(library.root), "--json", *MODEL])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["vectors"] == len(library.rels(PHOTO))
    assert {k: sorted(_rel(library, p) for p in v) for k, v in data["ignored"].items()} == library.ignored()
    assert data["summary"]["ignored"]["videos"] == 3
    assert {_rel(library, k): sorted(_rel(library, c) for c in v) for k, v in data["companions"].items()} == library.companions()
    groups = sorted(sorted(_rel(library, p) for p in g) for g in data["duplicates"])
    assert groups == sorted(sorted([i.rel, i.duplicate_of]) for i in library.items if i.duplicate_of)
    assert "ignored: 3 videos, 2 sidecars of videos, 2 sidecars without a photo" in result.stderr
    assert "with their photos: 1 RAW twin, 3 Live Photo clips, 8 sidecars" in result.stderr
    assert_unchanged(before, library.root)


def test_status_reports_ignored_files(run_cli, library) -> None:
    assert run_cli(["index", str(library.root), *MODEL, "--quiet"]).exit_code == 0
    text = run_cli(["status", str(library.root)])
    assert text.exit_code == 0
    assert f"images on disk: {len(library.rels(PHOTO))} (0 not indexed or changed)" in text.stdout
    assert "ignored: 3 videos" in text.stdout and "with their photos: 1 RAW twin" in text.stdout
    data = json.loads(run_cli(["status", str(library.root), "--json", "--include-hidden"]).stdout)
    assert data["on_disk"] == len(library.rels(PHOTO)) + len(library.rels(HIDDEN)) and data["not_indexed"] == 1
    assert "hidden folders" not in data["ignored"] and data["ignored"]["videos"] == 3


@pytest.mark.parametrize("flags", [[], ["--include-hidden"], ["--exclude", "Takeout"], ["--include-hidden", "--exclude", "DCIM"]])
def test_cluster_selects_exactly_what_index_selects(run_cli, library, flags) -> None:
    before = snapshot(library.root)
    flags = [str(library.root / f) if f in ("Takeout", "DCIM") else f for f in flags]
    indexed = run_cli(["index", str(library.root), "--json", *MODEL, *flags])
    assert indexed.exit_code == 0, indexed.stderr
    data = json.loads(indexed.stdout)
    clustered = run_cli(["cluster", str(library.root), *CLUSTER, *MODEL, *flags, "--format", "paths"])
    assert clustered.exit_code == 0, clustered.stderr
    paths = sorted(_rel(library, p) for p in clustered.stdout.splitlines())
    assert len(paths) == data["vectors"]
    expected = library.rels(PHOTO) + (library.rels(HIDDEN) if "--include-hidden" in flags else [])
    for folder in ("Takeout", "DCIM"):
        if str(library.root / folder) in flags:
            expected = [p for p in expected if not p.startswith(folder + "/")]
    assert paths == sorted(expected)
    assert_unchanged(before, library.root)


def test_stdin_and_folder_select_the_same_photos(run_cli, library) -> None:
    listed = "\n".join(str(library.root / i.rel) for i in library.items if i.role != HIDDEN and not i.rel.startswith((".", "@")))
    from_stdin = run_cli(["cluster", "-", *CLUSTER, *MODEL, "--format", "paths"], stdin=listed)
    from_folder = run_cli(["cluster", str(library.root), *CLUSTER, *MODEL, "--format", "paths"])
    assert from_stdin.exit_code == from_folder.exit_code == 0, from_stdin.stderr
    assert sorted(from_stdin.stdout.splitlines()) == sorted(from_folder.stdout.splitlines())
