"""A cache that cannot be written (read-only, full, not a folder): one clear sentence, exit code 5
(``CacheError``), no traceback, and nothing half-written left in the cache or anywhere else.

Tests run as root here, where permission bits stop nothing, so read-only and full are made real with a
small tmpfs (mounted, remounted read-only) when the process may mount; otherwise read-only falls back to
``chmod`` (non-root) and the full disk to SQLite's own ``max_page_count`` limit, which fails writes with
the same SQLITE_FULL error a full disk gives.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from proxysort.errors import ExitCode
from tests.support.crashloop import make_folder, photos_on_disk
from tests.support.photos import TINY_CONFIG
from tests.support.storecheck import check_store, store_files
from tests.support.treesnap import assert_unchanged, snapshot

TINY = str(TINY_CONFIG)
EXPECTED_FILES = {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "index.lock"}


def _index(run_cli, folder: Path, cache: Path):
    return run_cli(["index", str(folder), "--model", TINY, "--pretrained", "none", "--device", "cpu",
                    "--cache-dir", str(cache)])


def _assert_clean_failure(result, word: str) -> None:
    assert result.exit_code == ExitCode.CACHE == 5, (result.exit_code, result.stderr[-1500:])
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("proxysort: ") and word in last.lower(), last
    assert "--cache-dir" in last or "space" in last, last  # says what to do


def _assert_store_whole(cache: Path, folder: Path) -> None:
    """Whatever was committed is whole: integrity ok, every row has its vector and describes a real file,
    and no stray temporary files. (Checked once the cache is writable again: SQLite needs that to open a
    WAL database at all.)"""
    for db in store_files(cache):
        check = check_store(db, after_crash=True)
        assert check.ok, (check.integrity, check.problems)
        assert set(check.rows) <= {str(Path(p).resolve()) for p in photos_on_disk(folder)}
        leftovers = {p.name for p in db.parent.iterdir()} - EXPECTED_FILES
        assert not leftovers, leftovers


def _can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/proxysort-mount-probe-{uuid.uuid4().hex}")
    probe.mkdir()
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    except OSError:
        return False
    finally:
        probe.rmdir()


MOUNT = _can_mount()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (unmounted afterwards); skipped where this process may not mount."""
    if not MOUNT:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the simulated variants still run")
    where = tmp_path / "small-disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(where)], capture_output=True)
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_cache_path_is_a_file(tmp_path: Path, run_cli) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, 3)
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    result = _index(run_cli, folder, blocker / "sub")
    assert result.exit_code == ExitCode.CACHE, result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a folder"


def test_read_only_cache_real_mount(tmp_path: Path, run_cli, tmpfs: Path) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, 20, seed=1)
    assert _index(run_cli, folder, tmpfs).exit_code == 0
    make_folder(folder / "more", 10, seed=2)  # new work for the next run
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before, photos_before = snapshot(tmpfs), snapshot(folder)
    result = _index(run_cli, folder, tmpfs)
    _assert_clean_failure(result, "writable")
    assert_unchanged(before, tmpfs)
    assert_unchanged(photos_before, folder)
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    _assert_store_whole(tmpfs, folder)
    assert _index(run_cli, folder, tmpfs).exit_code == 0  # and it recovers once writable again


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits; the tmpfs variant covers read-only")
def test_read_only_cache_permissions(tmp_path: Path, run_cli) -> None:  # pragma: no cover - non-root only
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 10, seed=1)
    assert _index(run_cli, folder, cache).exit_code == 0
    make_folder(folder / "more", 5, seed=2)
    paths = [cache, *cache.rglob("*")]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        before = snapshot(cache)
        _assert_clean_failure(_index(run_cli, folder, cache), "writable")
        assert_unchanged(before, cache)
    finally:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_disk_full_real_tmpfs(tmp_path: Path, run_cli, tmpfs: Path) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, 10, seed=1)
    assert _index(run_cli, folder, tmpfs).exit_code == 0
    make_folder(folder / "more", 300, seed=2)
    filler = tmpfs / "filler"
    with open(filler, "wb") as fh:  # leave ~24 KiB: less than the new rows and vectors need
        free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
        fh.write(b"\0" * max(0, free - 24 * 1024))
    result = _index(run_cli, folder, tmpfs)
    _assert_clean_failure(result, "full")
    filler.unlink()
    _assert_store_whole(tmpfs, folder)
    done = _index(run_cli, folder, tmpfs)
    assert done.exit_code == 0, done.stderr[-800:]
    (db,) = store_files(tmpfs)
    check = check_store(db, None, {str(Path(p).resolve()) for p in photos_on_disk(folder)})
    assert check.ok, check.problems


def test_disk_full_simulated_by_sqlite_page_limit(tmp_path: Path, run_cli, monkeypatch) -> None:
    """SQLite's max_page_count makes the database 'full' at a chosen size: the real SQLITE_FULL path."""
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 10, seed=1)
    assert _index(run_cli, folder, cache).exit_code == 0
    make_folder(folder / "more", 200, seed=2)
    real_connect = sqlite3.connect

    def connect_with_limit(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        return conn

    with monkeypatch.context() as m:
        m.setattr(sqlite3, "connect", connect_with_limit)
        result = _index(run_cli, folder, cache)
    _assert_clean_failure(result, "full")
    _assert_store_whole(cache, folder)
    done = _index(run_cli, folder, cache)
    assert done.exit_code == 0, done.stderr[-800:]
    (db,) = store_files(cache)
    check = check_store(db, None, {str(Path(p).resolve()) for p in photos_on_disk(folder)})
    assert check.ok, check.problems


def test_write_failure_mid_run_keeps_no_partial_batch(tmp_path: Path, run_cli, monkeypatch) -> None:
    """An I/O error in the middle of the second commit: the first batch stays, the second leaves no trace."""
    import proxysort.indexer as indexer_mod
    import proxysort.store as store_mod

    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 40, seed=5)
    real = store_mod.VectorStore.write_batch
    committed: list[int] = []

    def failing_write_batch(self, files=(), vectors=None, *rest, **kw):
        files = list(files)
        if committed:  # second commit: fail after two rows went into the transaction

            def rows_then_error():
                yield from files[:2]
                raise sqlite3.OperationalError("disk I/O error")

            return real(self, rows_then_error(), vectors, *rest, **kw)
        real(self, files, vectors, *rest, **kw)
        committed.append(len(files))

    monkeypatch.setattr(store_mod.VectorStore, "write_batch", failing_write_batch)
    monkeypatch.setattr(indexer_mod, "COMMIT_SECONDS", 0.0)  # commit after every batch
    result = run_cli(["index", str(folder), "--model", TINY, "--pretrained", "none", "--device", "cpu",
                      "--cache-dir", str(cache), "--batch-size", "8"])
    monkeypatch.undo()
    assert committed, "the run never reached a second commit"
    assert result.exit_code == ExitCode.CACHE, result.stderr[-800:]
    assert "Traceback" not in result.stderr
    (db,) = store_files(cache)
    check = check_store(db, after_crash=True)
    assert check.ok, check.problems
    assert len(check.rows) == committed[0]
    done = _index(run_cli, folder, cache)
    assert done.exit_code == 0
    check = check_store(db, None, {str(Path(p).resolve()) for p in photos_on_disk(folder)})
    assert check.ok, check.problems


# -- damaged or foreign stores, and cache paths that are not folders (issue 14) ---------------------------


def _damage(db: Path, kind: str) -> None:
    import numpy as np

    conn = sqlite3.connect(db)
    with conn:
        if kind == "blob-of-wrong-length":
            (h,) = conn.execute("SELECT hash FROM vectors LIMIT 1").fetchone()
            conn.execute("UPDATE vectors SET vec = ? WHERE hash = ?", (b"\x00" * 7, h))
        elif kind == "dim-not-a-number":
            conn.execute("UPDATE meta SET value = 'thirty-two' WHERE key = 'dim'")
        elif kind == "float32-vectors":  # as another version could have stored them
            for h, blob in conn.execute("SELECT hash, vec FROM vectors").fetchall():
                vec = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
                conn.execute("UPDATE vectors SET vec = ? WHERE hash = ?", (vec.tobytes(), h))
        else:  # pragma: no cover
            raise ValueError(kind)
    conn.close()


@pytest.mark.parametrize("kind", ["blob-of-wrong-length", "dim-not-a-number"])
def test_damaged_store_is_one_sentence_exit_5(tmp_path: Path, run_cli, kind: str) -> None:
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 4)
    assert _index(run_cli, folder, cache).exit_code == 0
    (db,) = store_files(cache)
    _damage(db, kind)
    for command in (["index", str(folder)], ["cluster", str(folder), "--by", "color", "--words", "red,blue", "--k", "2", "--dry-run"]):
        result = run_cli([*command, "--model", TINY, "--pretrained", "none", "--device", "cpu", "--cache-dir", str(cache)])
        assert result.exit_code == ExitCode.CACHE, (command[0], result.stderr[-1500:])
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("proxysort: ") and "damaged" in last and "--cache-dir" in last, last
        assert "Traceback" not in result.stderr
    status = run_cli(["status", str(folder), "--cache-dir", str(cache)])
    assert status.exit_code in (0, ExitCode.CACHE) and "Traceback" not in status.stderr


def test_float32_vectors_from_another_version_are_read_exactly(tmp_path: Path, run_cli) -> None:
    from proxysort.store import VectorStore

    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 4)
    assert _index(run_cli, folder, cache).exit_code == 0
    (db,) = store_files(cache)
    with VectorStore(db) as store:
        want = store.vectors_for(list(store.rows_under(folder.resolve())))
    _damage(db, "float32-vectors")
    with VectorStore(db) as store:
        got = store.vectors_for(list(want))
    assert set(got) == set(want) and all((got[p] == want[p]).all() for p in want)
    result = run_cli(["cluster", str(folder), "--by", "color", "--words", "red,blue", "--k", "2", "--dry-run",
                      "--model", TINY, "--pretrained", "none", "--device", "cpu", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.stderr[-1500:]
    assert "different model" not in result.stderr


def test_words_needs_no_cache_and_a_file_as_cache_is_exit_5(tmp_path: Path, run_cli) -> None:
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    words = run_cli(["words", "--by", "color", "--llm", "off", "--cache-dir", str(blocker)])
    assert words.exit_code == 0, words.stderr
    folder = tmp_path / "photos"
    make_folder(folder, 2)
    result = _index(run_cli, folder, blocker)  # the file itself, not a path below it
    assert result.exit_code == ExitCode.CACHE, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("proxysort: "), result.stderr
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_cache_folder_mode_000(tmp_path: Path, run_cli) -> None:  # pragma: no cover - non-root only
    cache = tmp_path / "cache"
    cache.mkdir(mode=0)
    try:
        assert run_cli(["words", "--by", "color", "--llm", "off", "--cache-dir", str(cache)]).exit_code == 0
        folder = tmp_path / "photos"
        make_folder(folder, 2)
        _assert_clean_failure(_index(run_cli, folder, cache), "writable")
    finally:
        cache.chmod(0o755)


def test_status_on_a_read_only_cache_just_reads(tmp_path: Path, run_cli, tmpfs: Path) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, 3)
    assert _index(run_cli, folder, tmpfs).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before = snapshot(tmpfs)
    result = run_cli(["status", str(folder), "--cache-dir", str(tmpfs), "--json"])
    assert result.exit_code == 0, result.stderr
    import json

    (store,) = json.loads(result.stdout)["stores"]
    assert store["indexed"] == 3 and store["up_to_date"] == 3
    assert_unchanged(before, tmpfs)
