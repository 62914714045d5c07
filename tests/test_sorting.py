"""The library facade: sort() end to end on a tiny model, concepts as one typed list, group names, and
folder trees in every link mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from proxysort.cli.formats import result_rows
from proxysort.errors import UsageError
from proxysort.output import OUTPUT_MANIFEST
from proxysort.proxy import ProxyConfig
from proxysort.sorting import By, as_by, sort, write_folders
from tests.conftest import COLORS
from tests.support.treesnap import assert_unchanged, snapshot

ZERO = ProxyConfig(epochs=0)


@pytest.fixture
def run(sorted_colors):
    return sorted_colors[1]


@pytest.fixture
def shared_photos(sorted_colors) -> Path:
    return sorted_colors[0]


def test_sort_returns_labels_names_and_scores(run) -> None:
    assert len(run.paths) == 12 and all(p.is_absolute() for p in run.paths)
    c = run.concepts[0]
    assert (c.concept, c.k, c.word_source, c.words) == ("color", 3, "user", COLORS)
    assert c.labels.shape == (12,) and set(c.labels.tolist()) == {0, 1, 2}
    # three groups, three words: each word names one group (a random model may fit one clearly worse:
    # "-unsure"), or, when the words fit the random model's photos poorly as a whole, none does (color-1 …)
    assert sorted(n.removesuffix("-unsure") for n in c.names) in (sorted(COLORS), ["color-1", "color-2", "color-3"])
    assert np.all(c.scores <= 1.0001) and np.all(c.scores > -1.0001)
    rows = result_rows(run)
    assert len(rows) == 12 and {r.name for r in rows} == set(c.names) and all(r.dest is None for r in rows)


def test_roots_travel_with_the_index(run, shared_photos: Path) -> None:
    assert run.roots == run.index.roots == [shared_photos.resolve()]


def test_several_concepts_are_learned_together(photo_folder: Path, tiny_clip, cache_dir: Path) -> None:
    run = sort(
        photo_folder, [By("color", words=COLORS, k=3), By("shape", words=["round", "square"], k=2)],
        model=tiny_clip, cache_dir=cache_dir, training=ProxyConfig(epochs=2),
    )
    assert [c.concept for c in run.concepts] == ["color", "shape"]
    assert [c.k for c in run.concepts] == [3, 2]
    assert {n.removesuffix("-unsure") for n in run.concepts[1].names} in ({"round", "square"}, {"shape-1", "shape-2"})
    assert len(result_rows(run)) == 24


def test_automatic_k_stays_in_range(photo_folder: Path, tiny_clip, cache_dir: Path) -> None:
    run = sort(photo_folder, [By("color", words=COLORS)], model=tiny_clip, cache_dir=cache_dir, training=ZERO)
    assert 2 <= run.concepts[0].k <= 3


@pytest.mark.parametrize("k", [0, 13])
def test_impossible_k_names_the_parameter(photo_folder: Path, tiny_clip, cache_dir: Path, k: int) -> None:
    with pytest.raises(UsageError, match=r"^`k` ") as err:
        sort(photo_folder, [By("color", words=COLORS, k=k)], model=tiny_clip, cache_dir=cache_dir, training=ZERO)
    assert "--" not in str(err.value)


def test_concepts_must_be_named_and_different() -> None:
    assert as_by(" pose  ") == [By("pose")]
    assert as_by(["color", By("shape", k=2)]) == [By("color"), By("shape", k=2)]
    with pytest.raises(UsageError, match="different"):
        as_by(["color", "Color"])
    with pytest.raises(UsageError, match="at least one concept"):
        as_by([])
    with pytest.raises(UsageError, match="at least 1"):
        as_by([By("color", k=0)])


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_write_folders_leaves_photos_byte_identical(run, shared_photos: Path, tmp_path: Path, link: str) -> None:
    before = snapshot(shared_photos)
    out = tmp_path / "sorted"
    plan, summary = write_folders(run, out, link=link)
    assert summary is not None and summary.created == 12
    for name in run.concepts[0].names:  # three groups of four, whatever they are called
        assert len(os.listdir(out / "color" / name)) == 4
    rows = result_rows(run, plan.dest, out=plan.out)
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


def test_manifest_lists_every_created_file(run, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    write_folders(run, out, link="copy")
    listed = {f["path"] for f in json.loads((out / OUTPUT_MANIFEST).read_text())["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {OUTPUT_MANIFEST}
    assert listed == on_disk


def test_the_model_is_let_go_before_the_photos_are_scored_and_its_memory_given_back(
        photo_folder: Path, tiny_spec, tiny_clip, cache_dir: Path, monkeypatch) -> None:
    # Issue 25: the default method needs nothing of the model but the words' text features, so the photos are
    # scored (and all that grows with them after) with no model alive but one the caller holds.
    import gc

    import proxysort.indexer
    from proxysort.encoders import ClipModel
    from proxysort.methods import basic

    events: list[str] = []
    scoring = basic._cosines

    def scored(block: np.ndarray, tables: list[np.ndarray]) -> list[np.ndarray]:
        alive = sum(isinstance(o, ClipModel) and o is not tiny_clip for o in gc.get_objects())
        events.append(f"scored, {alive} other model(s) alive")
        return scoring(block, tables)

    monkeypatch.setattr(proxysort.indexer, "return_freed_memory", lambda: events.append("freed"))
    monkeypatch.setattr(basic, "_cosines", scored)
    loaded_here = sort(photo_folder, [By("color", words=COLORS, k=3)], model=tiny_spec, cache_dir=cache_dir,
                       training=ZERO)
    assert events == ["freed", "scored, 0 other model(s) alive"]
    assert loaded_here.index.clip is None and loaded_here.model.model == tiny_spec.model
    events.clear()
    given = sort(photo_folder, [By("color", words=["pink", "grey"], k=2)], model=tiny_clip, cache_dir=cache_dir,
                 training=ZERO)  # words the store does not hold yet: the model embeds them
    assert events == ["freed", "scored, 0 other model(s) alive"] and given.model == tiny_clip.spec
    events.clear()
    again = sort(photo_folder, [By("color", words=["pink", "grey"], k=2)], model=tiny_spec, cache_dir=cache_dir,
                 training=ZERO)  # every word's feature is in the store: served without loading a model
    assert events == ["scored, 0 other model(s) alive"] and again.model.model == tiny_spec.model


def test_freed_memory_is_given_back_where_the_c_library_can_and_nothing_happens_elsewhere(monkeypatch) -> None:
    import ctypes

    from proxysort.encoders import return_freed_memory

    trimmed: list[int] = []

    class Glibc:
        def malloc_trim(self, pad: int) -> int:
            trimmed.append(pad)
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Glibc())
    return_freed_memory()
    assert trimmed == [0]
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # no malloc_trim (macOS, musl): a no-op
    return_freed_memory()
    assert trimmed == [0]


def _reachable(root: object) -> list[object]:
    """Every object reachable from ``root`` through its references, stopping at modules, classes and code (the
    interpreter's own objects, shared by every run)."""
    import gc
    import types

    stop = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType,
            types.FrameType)
    seen, todo, out = {id(root)}, [root], []
    while todo:
        obj = todo.pop()
        out.append(obj)
        for ref in gc.get_referents(obj):
            if id(ref) not in seen and not isinstance(ref, stop):
                seen.add(id(ref))
                todo.append(ref)
    return out


def test_a_sort_holds_no_path_string_or_id_string_per_photo(run) -> None:
    # Issue 25 (10M photos in 4 GB): the index's paths and content ids travel to the sort's result, its
    # scores' rows and its tree's memory as columns; a Path (~318 B), its str and the id's str per photo
    # held there were over 0.5 KB a photo. Counted over everything the result holds.
    from pathlib import PurePath

    from proxysort.pathcolumn import ContentIds, PathColumn

    assert isinstance(run.paths, PathColumn) and run.paths is run.index.paths
    assert isinstance(run.index.content_ids, ContentIds)
    photos = {str(p) for p in run.paths}
    ids = set(run.index.content_ids)
    held = _reachable(run)
    assert sum(isinstance(o, PurePath) for o in held) < len(photos) / 2
    assert sum(isinstance(o, str) and o in photos for o in held) < len(photos) / 2
    assert sum(isinstance(o, str) and o in ids for o in held) < len(photos) / 2
