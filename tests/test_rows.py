"""Row matrices walked a block at a time (issue 25): every number equals the whole matrix's, a short read
is an error, and the default method, naming and the manifest give what they gave from whole arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proxysort.errors import CacheError
from proxysort.groups import cluster_centres, name_groups, similarities
from proxysort.learn.textonly import unit_rows
from proxysort.rows import PickedRows, StoredRows, UnitRows, blocks, subset, whole
from proxysort.store import VectorStore


def _store(tmp_path: Path, n: int, dim: int = 8) -> tuple[Path, list[str], np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    paths = [f"/p/img_{i:04d}.jpg" for i in range(n)]
    db = tmp_path / "index.sqlite"
    with VectorStore(db, identity="t") as store:
        store.write_batch([(p, 1, 1, f"h{i}") for i, p in enumerate(paths)], {f"h{i}": v for i, v in enumerate(vectors)})
        _, matrix = store.matrix_for(paths)
    return db, paths, matrix


def test_stored_rows_read_in_small_blocks_equal_the_whole_matrix_bit_for_bit(tmp_path: Path) -> None:
    db, paths, matrix = _store(tmp_path, 53)
    rows = StoredRows(db, paths, 8)
    assert rows.shape == (53, 8) and rows.ndim == 2 and len(rows) == 53
    assert np.array_equal(np.concatenate(list(rows.blocks(size=7))), matrix)
    assert np.array_equal(np.asarray(rows), matrix) and np.array_equal(whole(rows), matrix)
    mask = np.arange(53) % 3 == 0
    assert np.array_equal(np.asarray(subset(rows, mask)), matrix[mask])


def test_a_vector_lost_from_the_store_is_an_error_not_rows_out_of_line(tmp_path: Path) -> None:
    db, paths, _ = _store(tmp_path, 20)
    rows = StoredRows(db, paths, 8)
    with VectorStore(db) as store:
        store.sweep([paths[5]])
    with pytest.raises(CacheError, match="run again"):
        np.asarray(rows)


def test_unit_and_picked_rows_equal_their_whole_arrays_in_any_block_size() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((41, 6)).astype(np.float32)
    assert np.array_equal(np.concatenate(list(UnitRows(x).blocks(size=5))), unit_rows(x))
    table = rng.standard_normal((4, 6)).astype(np.float32)
    index = rng.integers(0, 4, 41)
    picked = PickedRows(table, index)
    assert np.array_equal(np.concatenate(list(blocks(picked, 9))), table[index])
    assert np.array_equal(np.asarray(picked.subset(index > 1)), table[index][index > 1])


def test_naming_from_lazy_rows_equals_naming_from_arrays(tmp_path: Path) -> None:
    db, paths, matrix = _store(tmp_path, 60)
    words = unit_rows(np.random.default_rng(7).standard_normal((4, 8)).astype(np.float32))
    labels = (matrix @ words.T).argmax(1)
    prompts = PickedRows(words, labels)
    assert np.array_equal(cluster_centres(prompts, labels, 4), cluster_centres(words[labels], labels, 4))
    assert np.array_equal(similarities(StoredRows(db, paths, 8), words), similarities(matrix, words))
    lazy = name_groups("color", StoredRows(db, paths, 8), labels, 4, prompts, words, ["a", "b", "c", "d"])
    eager = name_groups("color", matrix, labels, 4, words[labels], words, ["a", "b", "c", "d"])
    assert lazy == eager


def test_zeroshot_from_stored_rows_equals_zeroshot_from_the_matrix(tmp_path: Path) -> None:
    from proxysort.learn.core import Concept, ProxyConfig
    from proxysort.learn.registry import run_for
    from proxysort.methods.basic import ZEROSHOT

    db, paths, matrix = _store(tmp_path, 30)
    words = [unit_rows(np.random.default_rng(5).standard_normal((3, 8)).astype(np.float32))]
    concepts = [Concept("color", ("red", "green", "blue"))]
    _, run = run_for(ProxyConfig(), None)
    assert ZEROSHOT.from_words is not None
    (lazy,) = ZEROSHOT.from_words(StoredRows(db, paths, 8), concepts, words, 100.0, run)
    (eager,) = ZEROSHOT.from_words(matrix, concepts, words, 100.0, run)
    for name in eager.features:
        assert np.array_equal(lazy.feature(name), eager.feature(name)), name
    assert np.array_equal(np.asarray(lazy.prompts()), np.asarray(eager.prompts()))


def test_zeroshot_weights_made_on_access_are_the_softmax_of_the_logits_it_once_held(tmp_path: Path) -> None:
    """zeroshot holds no logits (issue 25): its ``weights`` are made from the scores and the scale, and equal
    bit for bit the softmax of the float32 logits ``scale * scores`` that it held before."""
    from proxysort.learn.core import Concept, ProxyConfig
    from proxysort.learn.registry import run_for
    from proxysort.methods.basic import ZEROSHOT

    db, paths, _ = _store(tmp_path, 40)
    words = [unit_rows(np.random.default_rng(6).standard_normal((4, 8)).astype(np.float32))]
    _, run = run_for(ProxyConfig(), None)
    assert ZEROSHOT.from_words is not None
    (res,) = ZEROSHOT.from_words(StoredRows(db, paths, 8), [Concept("c", ("a", "b", "c", "d"))], words, 57.3, run)
    logits = (np.float32(57.3) * res.zero_shot).astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    assert "weights" in res.features and res.features.learned is None  # type: ignore[attr-defined]
    assert np.array_equal(res.feature("weights"), expected)


def test_the_manifest_written_in_pieces_is_the_one_json_dump_of_the_whole() -> None:
    from proxysort.manifest import Entry, Manifest

    files = [Entry(f"c/g/{i}\udce9.jpg", f"/p/{i}.jpg", "symlink", target=f"../../p/{i}.jpg") for i in (3, 1, 2)]
    for manifest in (Manifest(), Manifest(files=files, dirs=["c", "c/g"], link="symlink", complete=False)):
        text = manifest.to_json()
        assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=True)
        assert "".join(manifest.json_parts()) == text


def test_a_tree_made_in_one_step_equals_plan_then_write(tmp_path: Path) -> None:
    from proxysort.output import make_tree, plan_tree, write_tree

    photos = tmp_path / "photos"
    photos.mkdir()
    groups = {"color": [(str(photos / f"{i}.jpg"), "red" if i % 2 else "blue") for i in range(6)]}
    for source, _ in groups["color"]:
        Path(source).write_bytes(source.encode())
    made = make_tree(tmp_path / "a", groups, photo_roots=[photos])
    written = write_tree(plan_tree(tmp_path / "b", groups, photo_roots=[photos]))
    assert made.plan is not None and written.plan is not None
    assert made.created == written.created == 6
    assert sorted(e.path for e in made.plan.files) == sorted(e.path for e in written.plan.files)
    assert (tmp_path / "a" / ".proxysort.json").read_text().replace(str(tmp_path / "a"), "") == \
        (tmp_path / "b" / ".proxysort.json").read_text().replace(str(tmp_path / "b"), "")
