"""The vector cache: one SQLite database per model identity, holding file rows and compact vectors.

Why this shape:

- ``files`` maps an absolute path to (size, mtime_ns, partial content hash); a file is unchanged when
  path + size + mtime match, so a re-run only stats the folder.
- ``vectors`` is keyed by the content hash, not the path, so a renamed, moved or duplicated photo reuses
  its vector without being decoded or embedded again. Vectors are float16 (half the space; CLIP
  similarities move by ~1e-3) and are re-normalised when read.
- ``failures`` remembers files that could not be decoded (same size + mtime), so a re-run reports them
  again without paying for the decode.
- ``meta.precision`` is the image encoder's precision (``fp32``, ``bf16``, ``fp16``) of every vector in
  the store, recorded with the first one; a store from before it was recorded holds fp32 vectors. It is
  a field of the store, not part of the model identity, so the identity (and the store's path) is known
  without torch and a store keeps its vectors across proxysort versions; :meth:`VectorStore.write_batch`
  refuses vectors of another precision, so two precisions never mix in one store.
- WAL mode lets readers (``status``, ``cluster``) work while an index run writes; every write is one
  ``BEGIN IMMEDIATE`` transaction, so a ``kill -9`` at any moment leaves either the whole batch or none
  of it. An advisory lock file serialises index runs so two of them never embed the same photos twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from proxysort.errors import CacheError
from proxysort.safeopen import open_regular

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

SCHEMA_VERSION = "4"
_IN_CHUNK = 500  # stays far below SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_hash ON files(hash);
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


#: version → (next version, statements that upgrade a store to it). Versions 2 to 4 only added the proxy
#: cache's tables to this schema; those tables now belong to the proxy cache, with a version of its own
#: (``proxycache.py``, which adopts the tables these versions made), so the vector tables need no step.
_MIGRATIONS = {
    "1": ("2", ""),
    "2": ("3", ""),
    "3": ("4", ""),
}


def content_hash(path: str | Path, size: int | None = None) -> str:
    """The content id of a file: BLAKE2b over its size and every byte.

    A new path borrows a stored vector (a renamed file, a byte-identical copy) only when this matches, so a
    vector is shared only between files of the same size and the same full hash. It used to be a partial
    hash of three 64 KiB samples, which let two uncompressed scans differing only between the samples share
    one vector and one thumbnail (round-3 finding F16). The full read costs one pass over a file that is
    about to be decoded anyway (the decoder then reads it from the page cache); it is only taken for new
    and changed files, never for unchanged ones. Rows stored under the old sampled hash keep it (their
    files are not read again) but no new path matches them: the hash is personalised, so the two kinds of
    key can never be equal.
    """
    h = hashlib.blake2b(digest_size=16, person=b"proxysort-full")
    with open_regular(path) as f:  # a FIFO swapped in after the scan must not hang the run
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    mtime_ns: int
    hash: str
    has_vector: bool


@dataclass(frozen=True)
class FailureRow:
    path: str
    size: int
    mtime_ns: int
    reason: str


@dataclass(frozen=True)
class StoreStats:
    files: int
    vectors: int
    failures: int
    dim: int | None
    identity: str | None
    bytes_on_disk: int


def store_path(cache_dir: Path, identity: str) -> Path:
    """Where the store for one model identity lives (a contract other modules rely on)."""
    return Path(cache_dir) / "stores" / identity / "index.sqlite"


def prefix_range(root: str | Path) -> tuple[str, str]:
    """Bounds such that ``lo <= path < hi`` selects exactly the paths strictly inside ``root``."""
    prefix = str(root).rstrip(os.sep) + os.sep
    return prefix, prefix[:-1] + chr(ord(os.sep) + 1)


@contextlib.contextmanager
def _guard(where: Path) -> Iterator[None]:
    """Turn SQLite/OS failures into one :class:`CacheError` sentence that says what to do."""
    try:
        yield
    except CacheError:
        raise
    except sqlite3.Error as exc:
        raise CacheError(_explain(where, str(exc))) from exc
    except OSError as exc:
        raise CacheError(_explain(where, exc.strerror or str(exc), getattr(exc, "errno", None))) from exc


def _explain(where: Path, text: str, errno_: int | None = None) -> str:
    low = text.lower()
    hint = "Point `cache_dir` (or PROXYSORT_CACHE_DIR) at a writable folder."
    if "readonly" in low or "read-only" in low or errno_ in (1, 13, 30) or "permission" in low:
        return f"The cache at {where} is not writable ({text}). {hint}"
    if "full" in low or errno_ == 28 or ("disk i/o error" in low and _nearly_full(where)):
        # On a full disk SQLite often says only "disk I/O error" (the WAL or its index could not grow).
        return f"The disk holding the cache {where} is full. Free some space or point `cache_dir` elsewhere."
    if "locked" in low or "busy" in low:
        return f"The cache at {where} is locked by another proxysort run; wait for it to finish and retry."
    if "malformed" in low or "not a database" in low:
        return f"The cache at {where} is damaged ({text}); delete that folder and run again."
    if "disk i/o error" in low:
        return f"The cache at {where} could not be written (disk I/O error). Check that disk, or {hint[0].lower()}{hint[1:]}"
    if "unable to open" in low or errno_ is not None:
        return f"The cache at {where} cannot be opened ({text.lower()}). {hint}"
    return f"The cache at {where} failed: {text}."


def _nearly_full(where: Path, margin: int = 1 << 20) -> bool:
    """Less than ``margin`` bytes free on the file system holding ``where`` (or its nearest existing parent)."""
    import shutil

    for folder in [Path(where), *Path(where).parents]:
        try:
            return shutil.disk_usage(folder).free < margin
        except OSError:
            continue
    return False


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Switch to WAL and return the journal mode now in force.

    SQLite answers a journal-mode change with SQLITE_BUSY at once, without calling the busy handler,
    while another connection is creating or opening the same new database, so two runs started together
    on a fresh cache would fail with "locked". Retry with a short back-off up to the busy timeout.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            low = str(exc).lower()
            if ("locked" not in low and "busy" not in low) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _check_files(db: Path) -> None:
    """Refuse a store (or its WAL files) that is a FIFO, device or folder before SQLite opens it by name:
    opening a FIFO for reading blocks until a writer comes, which hung ``status`` forever."""
    from proxysort.safeopen import NotRegularFileError, check_regular

    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if not os.path.lexists(path):
            continue
        try:
            check_regular(path)
        except NotRegularFileError:
            raise CacheError(
                f"The cache file {path} is not a regular file; move it away or point `cache_dir` elsewhere."
            ) from None
        except OSError:
            pass  # SQLite will say what is wrong (permissions, a dangling link) through _guard


class VectorStore:
    """One model's cache. Not thread-safe: the indexer's writer owns it; readers open their own."""

    def __init__(
        self, path: Path, *, identity: str | None = None, busy_timeout_s: float = 60.0, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        _check_files(self.path)
        if readonly:  # `status` must work on a read-only cache and must never create one
            with _guard(self.path):
                try:
                    self._open_readonly(busy_timeout_s, "mode=ro")
                except sqlite3.OperationalError:
                    # A WAL database on a read-only folder or mount cannot be opened plainly: SQLite would
                    # have to create its -shm file. Nothing can write there either, so reading the file
                    # as immutable (no locks, no WAL index) sees exactly what is on disk.
                    self._open_readonly(busy_timeout_s, "mode=ro&immutable=1")
            return
        with _guard(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            try:
                self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                if _enable_wal(self.conn, busy_timeout_s) != "wal":
                    raise CacheError(f"The cache at {self.path} cannot use SQLite WAL mode; use a local disk for `cache_dir`.")
                # NORMAL is crash-safe in WAL mode (a killed process loses nothing committed).
                self.conn.execute("PRAGMA synchronous = NORMAL")
                with self.transaction():
                    self._check_schema()
                    # Not executescript(): it would COMMIT the surrounding transaction first.
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self.conn.execute(statement)
                    self._set_default("schema", SCHEMA_VERSION)
                    if identity is not None:
                        self._set_default("identity", identity)
            except BaseException:
                self.conn.close()
                raise

    def _open_readonly(self, busy_timeout_s: float, query: str) -> None:
        self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?{query}", uri=True, timeout=busy_timeout_s)
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._check_schema(migrate=False)
        except BaseException:
            self.conn.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front, so two writers queue instead of deadlocking."""
        with _guard(self.path):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR); a second
                # ROLLBACK would raise "no transaction is active" and hide the real reason from the user.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def run_lock(self, timeout_s: float = 600.0, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store's advisory lock file (one index run at a time per model)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: SQLite's own locking still keeps the data safe
            yield
            return
        lock_path = self.path.with_suffix(".lock")
        with _guard(lock_path):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout_s
            warned = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not warned and on_wait is not None:
                        on_wait()
                        warned = True
                    if time.monotonic() > deadline:
                        raise CacheError(
                            f"The cache at {self.path.parent} is locked by another proxysort run for over "
                            f"{timeout_s:.0f} s; wait for it to finish and retry."
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _check_schema(self, *, migrate: bool = True) -> None:
        """Refuse a store another (newer) proxysort wrote: its tables may mean what this one cannot read.

        An older store is upgraded one step at a time (``migrate``, inside the caller's transaction), or,
        read-only, read as it is. A new store has no ``meta`` table yet and passes. Versions 1 to 4 have the
        same vector tables (2 to 4 were proxy-cache changes, now versioned by ``proxycache.py`` itself).
        """
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
            return
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None or row[0] == SCHEMA_VERSION:
            return
        if row[0] not in _MIGRATIONS:
            raise CacheError(
                f"The cache at {self.path} has schema version {row[0]}, which this proxysort (schema "
                f"{SCHEMA_VERSION}) cannot read; upgrade proxysort or choose another `cache_dir`."
            )
        version = row[0]
        while migrate and version != SCHEMA_VERSION:
            version, statements = _MIGRATIONS[version]
            for statement in filter(str.strip, statements.split(";")):
                self.conn.execute(statement)
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (version,))

    def _set_default(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads, with SQLite and OS failures turned into one :class:`CacheError` sentence
        (what :meth:`transaction` does for writes): how another module reads its own tables in this store."""
        with _guard(self.path):
            yield self.conn

    def meta(self, key: str) -> str | None:
        with _guard(self.path):
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def dim(self) -> int | None:
        """The vector length every row has (None before the first vector); a value that is not a positive
        whole number means the store was damaged or written by something else."""
        return self._checked_dim(self.meta("dim"))

    def precision(self) -> str | None:
        """The precision every vector in the store was embedded in; None before the first vector."""
        recorded = self.meta("precision")
        if recorded is not None:
            return recorded
        return "fp32" if self.meta("dim") is not None else None  # vectors written before it was recorded

    def _checked_dim(self, value: object) -> int | None:
        if value is None:
            return None
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            raise self._damaged(f"its vector size {str(value)[:40]!r} is not a number")
        return int(text)

    def _damaged(self, what: str) -> CacheError:
        return CacheError(
            f"The cache at {self.path.parent} is damaged ({what}); delete that folder, or point `cache_dir` "
            "elsewhere, and run again."
        )

    def _vector(self, blob: bytes, dim: int | None) -> "np.ndarray":
        """A stored vector as float32: float16 as this version writes them, or float32 as another version
        may have (read exactly, not mistaken for a vector of twice the length); any other length is damage."""
        import numpy as np

        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise self._damaged(f"a vector is stored as {type(blob).__name__}, not bytes")
        if dim is None or len(blob) == 2 * dim:
            if len(blob) == 0 or len(blob) % 2:
                raise self._damaged(f"a vector has {len(blob)} bytes")
            return np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        if len(blob) == 4 * dim:
            return np.frombuffer(blob, dtype=np.float32).copy()
        raise self._damaged(f"a vector has {len(blob)} bytes, not the {2 * dim} of {dim} float16 numbers")

    # -- reads --------------------------------------------------------------------------------------

    def rows_under(self, root: str | Path) -> dict[str, FileRow]:
        return {row.path: row for row in self.each_row_under(root)}

    def each_row_under(self, root: str | Path, chunk: int = 10_000) -> Iterator[FileRow]:
        """The rows of the files under ``root`` in path order, read ``chunk`` rows at a time (each query starts
        after the last path read, so no cursor stays open between them): an index compares them with the
        scan one at a time instead of holding a row per photo (issue 25)."""
        lo, hi = prefix_range(root)
        while True:
            rows = list(self._file_rows_query("f.path >= ? AND f.path < ? ORDER BY f.path LIMIT ?", (lo, hi, chunk)))
            yield from rows
            if len(rows) < chunk:
                return
            lo = rows[-1].path + "\0"  # the next path after it (no path holds a NUL)

    def rows_for(self, paths: Sequence[str]) -> dict[str, FileRow]:
        out: dict[str, FileRow] = {}
        for chunk in _chunks(paths):
            out.update(self._file_rows(f"f.path IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def _file_rows(self, where: str, params: Sequence[object]) -> dict[str, FileRow]:
        return {row.path: row for row in self._file_rows_query(where, params)}

    def _file_rows_query(self, where: str, params: Sequence[object]) -> list[FileRow]:
        sql = (
            "SELECT f.path, f.size, f.mtime_ns, f.hash, EXISTS(SELECT 1 FROM vectors v WHERE v.hash = f.hash) "
            f"FROM files f WHERE {where}"
        )
        with _guard(self.path):
            return [FileRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in self.conn.execute(sql, params)]

    def hashes_for(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        """(path, content hash) of those of ``paths`` that have a vector, in ``paths``' order, read a chunk at a
        time as they are taken: what an index hands the sort, with no row kept per photo (a dict of N
        :class:`FileRow` and a second copy of every path were ~0.45 KB a photo, issue 25)."""
        for chunk in _chunks(paths):
            sql = (
                "SELECT f.path, f.hash FROM files f "
                f"WHERE f.path IN ({','.join('?' * len(chunk))}) AND EXISTS(SELECT 1 FROM vectors v WHERE v.hash = f.hash)"
            )
            with _guard(self.path):
                found = dict(self.conn.execute(sql, chunk).fetchall())
            for path in chunk:
                digest = found.get(path)
                if digest is not None:
                    yield path, digest

    def failures_under(self, root: str | Path) -> dict[str, FailureRow]:
        lo, hi = prefix_range(root)
        return self._failure_rows("path >= ? AND path < ?", (lo, hi))

    def failures_for(self, paths: Sequence[str]) -> dict[str, FailureRow]:
        out: dict[str, FailureRow] = {}
        for chunk in _chunks(paths):
            out.update(self._failure_rows(f"path IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def _failure_rows(self, where: str, params: Sequence[object]) -> dict[str, FailureRow]:
        sql = f"SELECT path, size, mtime_ns, reason FROM failures WHERE {where}"
        with _guard(self.path):
            return {r[0]: FailureRow(*r) for r in self.conn.execute(sql, params)}

    def known_hashes(self) -> set[str]:
        with _guard(self.path):
            return {r[0] for r in self.conn.execute("SELECT hash FROM vectors")}

    def vectors_for(self, paths: Sequence[str]) -> dict[str, "np.ndarray"]:
        """float32 unit vectors for those of ``paths`` that have one (rows of one :meth:`matrix_for` matrix)."""
        found, matrix = self.matrix_for(paths)
        return dict(zip(found, matrix))

    def matrix_for(self, paths: Sequence[str]) -> tuple[list[str], "np.ndarray"]:
        """Those of ``paths`` that have a vector (in ``paths``' order) and their float32 unit vectors as one
        matrix, filled chunk by chunk as SQLite returns them: the peak is the matrix plus one chunk, not a
        dict of N small arrays plus their stacked copy (issue 25). A vector of the wrong length or with a
        number that is not finite is damage."""
        import numpy as np

        paths = list(paths)
        row_of = {p: i for i, p in enumerate(paths)}
        dim = self.dim()
        matrix = np.zeros((len(paths), dim or 0), np.float32)
        found = np.zeros(len(paths), bool)
        with _guard(self.path):
            for chunk in _chunks(paths):
                sql = (
                    "SELECT f.path, v.vec FROM files f JOIN vectors v ON v.hash = f.hash "
                    f"WHERE f.path IN ({','.join('?' * len(chunk))})"
                )
                for path, blob in self.conn.execute(sql, chunk):
                    vec = self._vector(blob, dim)
                    if dim is None:  # no recorded size: every vector must at least agree with the first
                        dim = len(vec)
                        matrix = np.zeros((len(paths), dim), np.float32)
                    if not np.isfinite(vec).all():
                        raise self._damaged("a vector holds numbers that are not finite")
                    i = row_of[path]
                    matrix[i] = vec / max(float(np.linalg.norm(vec)), 1e-12)
                    found[i] = True
        rows = np.flatnonzero(found)
        if len(rows) < len(paths):  # close the gaps in place, a slice at a time (rows[j] >= j: never overwritten)
            for start in range(0, len(rows), 8192):
                part = rows[start : start + 8192]
                matrix[start : start + len(part)] = matrix[part]
            matrix = matrix[: len(rows)].copy() if len(rows) * 2 < len(paths) else matrix[: len(rows)]
        return [paths[i] for i in rows], matrix

    def last_indexed(self, root: str | Path) -> float | None:
        lo, hi = prefix_range(root)
        with _guard(self.path):
            return self.conn.execute("SELECT MAX(indexed_at) FROM files WHERE path >= ? AND path < ?", (lo, hi)).fetchone()[0]

    def stats(self, root: str | Path | None = None) -> StoreStats:
        with _guard(self.path):
            if root is None:
                files = self.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
                failures = self.conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
            else:
                lo, hi = prefix_range(root)
                files = self.conn.execute("SELECT COUNT(*) FROM files WHERE path >= ? AND path < ?", (lo, hi)).fetchone()[0]
                failures = self.conn.execute(
                    "SELECT COUNT(*) FROM failures WHERE path >= ? AND path < ?", (lo, hi)
                ).fetchone()[0]
            vectors = self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            dim = self.dim()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return StoreStats(files, vectors, failures, dim, self.meta("identity"), size)

    # -- writes -------------------------------------------------------------------------------------

    def write_batch(
        self,
        files: Iterable[tuple[str, int, int, str]] = (),
        vectors: dict[str, "np.ndarray"] | None = None,
        failures: Iterable[FailureRow] = (),
        forget_failures: Iterable[str] = (),
        drop_files: Iterable[str] = (),
        precision: str = "fp32",
    ) -> None:
        """Commit one batch atomically: new vectors, the file rows that point at them, and failures.

        Vectors go in first within the same transaction, so a committed file row always has its vector.
        ``precision`` is the one ``vectors`` were embedded in: the first batch records it, a later batch in
        another precision is refused before anything is written.
        """
        import numpy as np

        now = time.time()
        vectors = vectors or {}
        with self.transaction() as conn:
            if vectors:
                dim = next(iter(vectors.values())).shape[-1]
                stored = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
                if stored is None:
                    conn.execute("INSERT INTO meta(key, value) VALUES ('dim', ?)", (str(dim),))
                elif self._checked_dim(stored[0]) != dim:
                    raise CacheError(
                        f"The cache at {self.path.parent} holds {stored[0]}-d vectors but the model gives {dim}-d; "
                        "delete that folder and run again."
                    )
                self._record_precision(conn, precision, first=stored is None)
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors(hash, vec) VALUES (?, ?)",
                    ((h, np.asarray(v, dtype=np.float16).tobytes()) for h, v in vectors.items()),
                )
            conn.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in drop_files))
            conn.executemany(
                "INSERT OR REPLACE INTO files(path, size, mtime_ns, hash, indexed_at) VALUES (?, ?, ?, ?, ?)",
                ((p, s, m, h, now) for p, s, m, h in files),
            )
            conn.executemany("DELETE FROM failures WHERE path = ?", ((p,) for p in forget_failures))
            conn.executemany(
                "INSERT OR REPLACE INTO failures(path, size, mtime_ns, reason) VALUES (?, ?, ?, ?)",
                ((f.path, f.size, f.mtime_ns, f.reason) for f in failures),
            )

    def _record_precision(self, conn: sqlite3.Connection, precision: str, *, first: bool) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'precision'").fetchone()
        recorded = row[0] if row is not None else (None if first else "fp32")
        if recorded is None or (row is None and recorded == precision):
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('precision', ?)", (precision,))
        elif recorded != precision:
            raise CacheError(
                f"The cache at {self.path.parent} holds vectors embedded in {recorded}, and these are {precision}; "
                f"embed with `precision` {recorded} (or auto), or point `cache_dir` elsewhere."
            )

    def sweep(self, paths: Iterable[str]) -> int:
        """Forget files that are gone and every vector no file points at any more; returns files removed."""
        paths = list(paths)
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in paths))
            removed = conn.total_changes - before
            conn.executemany("DELETE FROM failures WHERE path = ?", ((p,) for p in paths))
            conn.execute("DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM files)")
        return removed


def _chunks(items: Iterable[str]) -> Iterator[list[str]]:
    """``items`` in lists of at most :data:`_IN_CHUNK`, taken as they come (an iterator is never held whole)."""
    it = iter(items)
    while chunk := list(itertools.islice(it, _IN_CHUNK)):
        yield chunk
