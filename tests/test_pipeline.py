"""The library API: cluster() end to end on a tiny model, names, evaluation, folder trees in every link mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from proxysort.errors import InputError, UsageError
from proxysort.output import OUTPUT_MANIFEST
from proxysort.pipeline import (
    choose_k,
    cluster,
    evaluate,
    paths_from_text,
    photo_roots,
    read_labels,
    write_folders,
)
from proxysort.words import WordList
from conftest import make_photo
from treesnap import assert_unchanged, snapshot

COLORS = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, tiny_clip):
    """One folder and one clustering for the read-only tests (each run costs seconds on a busy CPU)."""
    base = tmp_path_factory.mktemp("shared")
    folder = base / "photos"
    for i in range(12):
        make_photo(folder / ("a" if i < 6 else "b/c") / f"img{i:02d}.{['jpg', 'png', 'webp'][i % 3]}",
                   [(220, 20, 20), (20, 200, 20), (20, 20, 220)][i % 3], size=(64 + i, 48))
    run = cluster(folder, "color", k=3, words=COLORS, clip=tiny_clip, cache_dir=base / "cache", epochs=2)
    return folder, run


@pytest.fixture
def run(shared):
    return shared[1]


@pytest.fixture
def shared_photos(shared) -> Path:
    return shared[0]


def _labels_csv(folder: Path, path: Path) -> Path:
    lines = ["path,color,size"]
    for f in sorted(folder.rglob("img*")):
        i = int(f.name[3:5])
        lines.append(f"{os.path.relpath(f, path.parent)},{COLORS[i % 3]},{'small' if i < 6 else 'big'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cluster_returns_labels_names_and_scores(run) -> None:
    assert len(run.paths) == 12 and all(p.is_absolute() for p in run.paths)
    c = run.concepts[0]
    assert (c.concept, c.k, c.word_source, c.words) == ("color", 3, "user", COLORS)
    assert c.labels.shape == (12,) and set(c.labels.tolist()) == {0, 1, 2}
    assert sorted(c.names) == sorted(COLORS)  # three clusters, three words: each word names one cluster
    assert np.all(c.scores <= 1.0001) and np.all(c.scores > -1.0001)
    rows = run.rows()
    assert len(rows) == 12 and {r.name for r in rows} == set(COLORS) and all(r.dest is None for r in rows)


def test_several_concepts_are_learned_together(photo_folder: Path, tiny_clip, cache_dir: Path) -> None:
    run = cluster(
        photo_folder, ["color", "shape"], k={"color": 3, "shape": 2},
        words={"color": COLORS, "shape": ["round", "square"]}, clip=tiny_clip, cache_dir=cache_dir, epochs=2,
    )
    assert [c.concept for c in run.concepts] == ["color", "shape"]
    assert [c.k for c in run.concepts] == [3, 2]
    assert set(run.concepts[1].names) == {"round", "square"}
    assert len(run.rows()) == 24


def test_automatic_k_stays_in_range(photo_folder: Path, tiny_clip, cache_dir: Path) -> None:
    run = cluster(photo_folder, "color", words=COLORS, clip=tiny_clip, cache_dir=cache_dir, epochs=0)
    assert 2 <= run.concepts[0].k <= 3


def test_choose_k_finds_separated_groups() -> None:
    rng = np.random.default_rng(0)
    x = np.repeat(np.eye(4, 16), 10, axis=0) + 0.02 * rng.normal(size=(40, 16))
    assert choose_k(x.astype(np.float32), n_words=8) == 4


@pytest.mark.parametrize("k", [0, 13])
def test_impossible_k(photo_folder: Path, tiny_clip, cache_dir: Path, k: int) -> None:
    with pytest.raises(UsageError, match="--k"):
        cluster(photo_folder, "color", k=k, words=COLORS, clip=tiny_clip, cache_dir=cache_dir, epochs=0)


def test_words_for_several_concepts_must_be_a_mapping(photo_folder: Path, tiny_clip) -> None:
    with pytest.raises(UsageError, match="per concept"):
        cluster(photo_folder, ["color", "shape"], words=COLORS, clip=tiny_clip)
    with pytest.raises(UsageError, match="different"):
        cluster(photo_folder, ["color", "Color"], words={"color": COLORS}, clip=tiny_clip)


def test_hostile_words_become_safe_distinct_folders(photo_folder: Path, tiny_clip, cache_dir: Path, tmp_path: Path) -> None:
    # Bypass the word sanitizer on purpose: the output layer must still be safe on its own.
    hostile = ["../x", "/", "é" * 200, "..", "Red", "red", "a\x00b"]
    wl = WordList("../concept", "photo", hostile, "llm")
    run = cluster(photo_folder, "../concept", k=6, wordlists=[wl], clip=tiny_clip, cache_dir=cache_dir, epochs=0)
    out = tmp_path / "sorted"
    write_folders(run, out, link="symlink")
    assert sorted(os.listdir(tmp_path)) == ["cache", "photos", "sorted"]  # nothing escaped
    (concept_dir,) = [d for d in os.listdir(out) if d != OUTPUT_MANIFEST]
    assert concept_dir == "concept"
    folders = os.listdir(out / concept_dir)
    assert len(folders) == 6 and len({f.casefold() for f in folders}) == 6
    for f in folders:
        assert f and not f.startswith(".") and "/" not in f and "\x00" not in f and len(f) <= 64


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_write_folders_leaves_photos_byte_identical(run, shared_photos: Path, tmp_path: Path, link: str) -> None:
    before = snapshot(shared_photos)
    out = tmp_path / "sorted"
    plan, summary = write_folders(run, out, link=link)
    assert summary is not None and summary.created == 12
    for name in COLORS:
        assert len(os.listdir(out / "color" / name)) == 4
    rows = run.rows(plan.dest, out=plan.out)
    for r in rows:
        assert Path(r.dest).read_bytes() == Path(r.path).read_bytes()
        assert f"/color/{r.name}/" in r.dest
    tree = snapshot(out)
    _, again = write_folders(run, out, link=link)
    assert (again.created, again.removed) == (0, 0)
    assert snapshot(out) == tree
    assert_unchanged(before, shared_photos)


def test_dry_run_writes_nothing(run, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    plan, summary = write_folders(run, out, dry_run=True)
    assert summary is None and not out.exists() and len(plan.dest) == 12


def test_output_inside_photos_is_refused(run, shared_photos: Path) -> None:
    from proxysort.errors import OutputError

    with pytest.raises(OutputError, match="inside the photo folder"):
        write_folders(run, shared_photos / "sorted")
    assert not (shared_photos / "sorted").exists()


def test_evaluate_scores_against_labels(run, shared_photos: Path, tmp_path: Path) -> None:
    labels = _labels_csv(shared_photos, tmp_path / "labels.csv")
    (res,) = evaluate(run, labels, seeds=[0, 1, 2])
    assert (res.concept, res.column, res.k, res.n, res.unlabelled) == ("color", "color", 3, 12, 0)
    assert len(res.scores.per_seed) == 3
    assert set(res.scores.mean) == {"nmi", "ami", "ari", "ri", "acc"}
    assert all(0.0 <= res.scores.mean[m] <= 1.0 for m in ("nmi", "ri", "acc"))
    (other,) = evaluate(run, labels, ["size"], seeds=[0])
    assert other.k == 2


def test_read_labels_errors(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("path,color\na.jpg,red\n")
    assert read_labels(f, "color") == {str((tmp_path / "a.jpg").resolve()): "red"}
    with pytest.raises(UsageError, match="no column 'shape'"):
        read_labels(f, "shape")
    f.write_text("file,color\na.jpg,red\n")
    with pytest.raises(InputError, match="no 'path' column"):
        read_labels(f, "color")
    with pytest.raises(InputError):
        read_labels(tmp_path / "missing.csv", "color")


def test_paths_from_text(tmp_path: Path) -> None:
    assert paths_from_text("a.jpg\n\n/x/b.jpg\na.jpg\n", tmp_path) == [tmp_path / "a.jpg", Path("/x/b.jpg")]
    assert paths_from_text("line\nbreak.jpg\0c.jpg\0", tmp_path) == [tmp_path / "line\nbreak.jpg", tmp_path / "c.jpg"]
    with pytest.raises(InputError):
        paths_from_text("\n\n")


def test_photo_roots(photo_folder: Path) -> None:
    files = [photo_folder / "a" / "img00.jpg", photo_folder / "b" / "c" / "img06.jpg"]
    assert photo_roots(photo_folder) == [photo_folder]
    assert photo_roots(files) == [photo_folder / "a", photo_folder / "b" / "c"]


def test_manifest_lists_every_created_file(run, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    write_folders(run, out, link="copy")
    listed = {f["path"] for f in json.loads((out / OUTPUT_MANIFEST).read_text())["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {OUTPUT_MANIFEST}
    assert listed == on_disk
