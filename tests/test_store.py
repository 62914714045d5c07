"""The SQLite vector store: round trips, sweeping, scoping by folder, locking, and clear cache errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from proxysort.errors import CacheError
from proxysort.store import FailureRow, VectorStore, content_hash, prefix_range, store_path


def unit(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path: Path):
    with VectorStore(store_path(tmp_path / "cache", "m@w"), identity="m@w") as s:
        yield s


def test_round_trip_is_unit_norm_float32_close_to_the_input(store: VectorStore) -> None:
    store.write_batch([("/p/a.jpg", 10, 5, "h1"), ("/p/b.jpg", 11, 6, "h2")], {"h1": unit(1), "h2": unit(2)})
    got = store.vectors_for(["/p/a.jpg", "/p/b.jpg", "/p/none.jpg"])
    assert set(got) == {"/p/a.jpg", "/p/b.jpg"}
    assert got["/p/a.jpg"].dtype == np.float32
    assert np.linalg.norm(got["/p/a.jpg"]) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(got["/p/a.jpg"], unit(1), atol=2e-3)
    rows = store.rows_under("/p")
    assert rows["/p/b.jpg"].size == 11 and rows["/p/b.jpg"].mtime_ns == 6 and rows["/p/b.jpg"].has_vector
    assert store.meta("identity") == "m@w" and store.meta("dim") == "8"


def test_rows_under_a_root_never_include_a_sibling_with_the_same_prefix(store: VectorStore) -> None:
    store.write_batch([("/p/a.jpg", 1, 1, "h"), ("/p2/b.jpg", 1, 1, "h"), ("/p", 1, 1, "h")], {"h": unit(0)})
    assert list(store.rows_under("/p")) == ["/p/a.jpg"]
    lo, hi = prefix_range("/p/")
    assert lo == "/p/" and lo <= "/p/z/y.jpg" < hi


def test_duplicates_share_one_vector_and_sweep_collects_orphans(store: VectorStore) -> None:
    store.write_batch([("/p/a.jpg", 1, 1, "same"), ("/p/copy.jpg", 1, 1, "same"), ("/p/c.jpg", 2, 2, "other")],
                      {"same": unit(1), "other": unit(2)})
    assert store.stats().vectors == 2
    assert store.sweep(["/p/a.jpg", "/p/c.jpg"]) == 2
    assert store.known_hashes() == {"same"}  # still used by copy.jpg
    assert list(store.rows_under("/p")) == ["/p/copy.jpg"]


def test_failures_are_remembered_and_forgotten(store: VectorStore) -> None:
    store.write_batch(failures=[FailureRow("/p/bad.jpg", 3, 4, "empty file")])
    assert store.failures_under("/p")["/p/bad.jpg"].reason == "empty file"
    store.write_batch([("/p/bad.jpg", 9, 9, "h")], {"h": unit(3)}, forget_failures=["/p/bad.jpg"])
    assert store.failures_under("/p") == {}


def test_a_batch_is_all_or_nothing(store: VectorStore) -> None:
    with pytest.raises(CacheError, match="16-d"):
        store.write_batch([("/p/a.jpg", 1, 1, "h1")], {"h1": unit(1)})
        store.write_batch([("/p/b.jpg", 1, 1, "h2")], {"h2": unit(2, dim=16)})
    assert list(store.rows_under("/p")) == ["/p/a.jpg"]
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_wal_mode_and_a_reader_sees_committed_rows_only(store: VectorStore) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.write_batch([("/p/a.jpg", 1, 1, "h1")], {"h1": unit(1)})
    with VectorStore(store.path, readonly=True) as reader:
        assert list(reader.rows_under("/p")) == ["/p/a.jpg"]
        with pytest.raises(CacheError):
            reader.write_batch([("/p/b.jpg", 1, 1, "h1")])


def test_run_lock_excludes_a_second_run_then_times_out(store: VectorStore) -> None:
    waited = threading.Event()
    with store.run_lock():
        with VectorStore(store.path) as other:
            with pytest.raises(CacheError, match="locked by another proxysort run"):
                with other.run_lock(timeout_s=0.3, on_wait=waited.set):
                    pass
    assert waited.is_set()
    with store.run_lock(timeout_s=0.3):  # released
        pass


def test_cache_that_cannot_be_created_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(CacheError, match="`cache_dir`"):
        VectorStore(store_path(blocker, "m@w"))


def test_damaged_cache_says_to_delete_it(tmp_path: Path) -> None:
    path = store_path(tmp_path, "m@w")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CacheError, match="delete"):
        VectorStore(path)


def test_content_hash_changes_with_a_byte_at_the_start_middle_or_end(tmp_path: Path) -> None:
    data = bytearray(np.random.default_rng(0).integers(0, 256, 1_000_000, dtype=np.uint8).tobytes())
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(data)
    b.write_bytes(data)
    assert content_hash(a) == content_hash(b) == content_hash(a, 1_000_000)
    for where in (10, 500_010, 999_990):
        changed = bytearray(data)
        changed[where] ^= 0xFF
        b.write_bytes(changed)
        assert content_hash(b) != content_hash(a), where
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert content_hash(small) != content_hash(a)


def test_integrity_after_many_batches(store: VectorStore) -> None:
    for i in range(20):
        store.write_batch([(f"/p/{i}.jpg", i, i, f"h{i}")], {f"h{i}": unit(i)})
    store.sweep([f"/p/{i}.jpg" for i in range(0, 20, 2)])
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 10


@pytest.mark.parametrize(
    "text, errno_, expected",
    [
        ("attempt to write a readonly database", None, "not writable"),
        ("No space left on device", 28, "is full"),
        ("database or disk is full", None, "is full"),
        ("database is locked", None, "locked by another proxysort run"),
    ],
)
def test_cache_failures_read_as_one_actionable_sentence(text: str, errno_: int | None, expected: str) -> None:
    from proxysort.store import _explain

    message = _explain(Path("/c"), text, errno_)
    assert expected in message and message.endswith(".")


def test_a_store_from_a_newer_proxysort_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = store_path(tmp_path / "cache", "m@w")
    with VectorStore(path, identity="m@w") as s:
        s.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    for readonly in (False, True):
        with pytest.raises(CacheError, match=r"schema version 99, which this proxysort \(schema 4\) cannot read") as err:
            VectorStore(path, readonly=readonly)
        assert "`cache_dir`" in str(err.value) and "--" not in str(err.value)
    with sqlite3.connect(path) as conn:  # nothing was changed in the refused store
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("99",)


def test_content_hash_reads_every_byte(tmp_path: Path) -> None:
    """F16: two files of one size agreeing at the start, middle and end shared one vector and thumbnail."""
    data = bytearray(np.random.default_rng(1).integers(0, 256, 1_000_000, dtype=np.uint8).tobytes())
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(data)
    data[300_000] ^= 0xFF  # outside every 64 KiB sample
    b.write_bytes(data)
    assert content_hash(a) != content_hash(b)


def test_the_first_vectors_record_their_precision_and_another_is_refused(store: VectorStore) -> None:
    assert store.precision() is None
    store.write_batch([("/p/a.jpg", 10, 5, "h1")], {"h1": unit(1)}, precision="bf16")
    assert store.precision() == "bf16"
    store.write_batch([("/p/b.jpg", 10, 5, "h2")], {"h2": unit(2)}, precision="bf16")
    with pytest.raises(CacheError) as err:
        store.write_batch([("/p/c.jpg", 10, 5, "h3")], {"h3": unit(3)}, precision="fp32")
    assert "bf16" in str(err.value) and "`precision`" in str(err.value)
    assert set(store.vectors_for(["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"])) == {"/p/a.jpg", "/p/b.jpg"}  # nothing of it
    store.write_batch([("/p/d.jpg", 10, 5, "h1")])  # rows that reuse a vector need no precision
    assert store.precision() == "bf16"


def test_a_store_from_before_precisions_holds_fp32(store: VectorStore) -> None:
    store.write_batch([("/p/a.jpg", 10, 5, "h1")], {"h1": unit(1)})
    with store.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = 'precision'")  # as an older proxysort left it
    assert store.precision() == "fp32"
    with pytest.raises(CacheError):
        store.write_batch([("/p/b.jpg", 10, 5, "h2")], {"h2": unit(2)}, precision="fp16")
    store.write_batch([("/p/b.jpg", 10, 5, "h2")], {"h2": unit(2)}, precision="fp32")
    assert store.meta("precision") == "fp32"


def test_matrix_for_keeps_the_order_asked_and_closes_the_gaps(store: VectorStore) -> None:
    paths = [f"/p/{i:05d}.jpg" for i in range(1200)]  # more than one SQL chunk
    have = [p for i, p in enumerate(paths) if i % 3 != 1]
    store.write_batch([(p, 1, 1, f"h{p}") for p in have], {f"h{p}": unit(i) for i, p in enumerate(have)})
    asked = list(reversed(paths))
    found, matrix = store.matrix_for(asked)
    assert found == [p for p in asked if p in set(have)]
    assert matrix.shape == (len(have), 8) and matrix.dtype == np.float32
    by_index = {p: unit(i) for i, p in enumerate(have)}
    assert np.allclose(matrix, np.stack([by_index[p] for p in found]), atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-6)
    assert store.matrix_for(["/p/none.jpg"])[0] == []


def test_rows_under_a_root_stream_in_path_order_a_chunk_at_a_time(store: VectorStore) -> None:
    names = ["/p/b.jpg", "/p/a.jpg", "/p/a/x.jpg", "/p/é.jpg", "/p/z.jpg", "/p2/c.jpg"]
    store.write_batch([(p, i, i, f"h{i}") for i, p in enumerate(names)], {"h0": unit(0), "h3": unit(3)})
    for chunk in (1, 2, 10_000):
        rows = list(store.each_row_under("/p", chunk=chunk))
        assert [r.path for r in rows] == sorted(names[:5])  # code point order is UTF-8's byte order
        assert {r.path: r for r in rows} == store.rows_under("/p")
    assert [r.path for r in rows if r.has_vector] == ["/p/b.jpg", "/p/é.jpg"]


def test_hashes_for_gives_the_paths_with_a_vector_in_the_order_asked(store: VectorStore, monkeypatch) -> None:
    import proxysort.store as store_module

    monkeypatch.setattr(store_module, "_IN_CHUNK", 2)  # several chunks, each streamed as it is read
    store.write_batch([("/p/a.jpg", 1, 1, "ha"), ("/p/b.jpg", 1, 1, "none"), ("/p/c.jpg", 1, 1, "hc"),
                       ("/p/d.jpg", 1, 1, "ha")], {"ha": unit(1), "hc": unit(2)})
    asked = iter(["/p/d.jpg", "/p/gone.jpg", "/p/c.jpg", "/p/b.jpg", "/p/a.jpg"])
    assert list(store.hashes_for(asked)) == [("/p/d.jpg", "ha"), ("/p/c.jpg", "hc"), ("/p/a.jpg", "ha")]
