"""Independent checks of a proxysort vector store, for crash, concurrency and cache-error tests.

Opens the SQLite file itself (not through :class:`~proxysort.store.VectorStore`) so a bug in the store
cannot hide itself, and reports everything that would make the cache wrong: a failed integrity check,
file rows without a vector, vectors nobody uses, the same real file under two paths, rows for files that
are gone or changed.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def store_files(cache_dir: Path) -> list[Path]:
    """Every store under a cache folder (one per model identity)."""
    return sorted(Path(cache_dir).glob("stores/*/index.sqlite"))


@dataclass
class StoreCheck:
    integrity: str
    rows: dict[str, tuple[int, int, str]]  # path -> (size, mtime_ns, hash)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.problems


def _connect(db: Path) -> sqlite3.Connection:
    # Not read-only: after a kill -9 the first connection must be able to replay the WAL, as any run would.
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")
    return conn


def check_store(
    db: Path, root: Path | None = None, files_on_disk: set[str] | None = None, *, after_crash: bool = False
) -> StoreCheck:
    """Check one store; with ``files_on_disk`` (absolute paths), also require rows == exactly those files,
    each with the size and mtime it has now.

    ``after_crash`` tolerates vectors no row points at: a run killed before its final sweep leaves the old
    vector of an edited photo behind, harmless until the next complete run removes it.
    """
    conn = _connect(db)
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        rows = {p: (s, m, h) for p, s, m, h in conn.execute("SELECT path, size, mtime_ns, hash FROM files")}
        vector_hashes = {h for (h,) in conn.execute("SELECT hash FROM vectors")}
        failure_paths = {p for (p,) in conn.execute("SELECT path FROM failures")}
        dim = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        bad_len = conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE length(vec) != ?", (2 * int(dim[0]) if dim else -1,)
        ).fetchone()[0] if dim else 0
    finally:
        conn.close()
    check = StoreCheck(integrity, rows)
    p = check.problems
    if root is not None:
        prefix = str(root).rstrip(os.sep) + os.sep
        rows = {k: v for k, v in rows.items() if k.startswith(prefix)}
        check.rows = rows
    missing_vec = [k for k, (_, _, h) in rows.items() if h not in vector_hashes]
    if missing_vec:
        p.append(f"{len(missing_vec)} file rows without a vector, e.g. {missing_vec[:3]}")
    if root is None and not after_crash:
        orphans = vector_hashes - {h for _, _, h in rows.values()}
        if orphans:
            p.append(f"{len(orphans)} vectors no file row points at")
    if bad_len:
        p.append(f"{bad_len} vectors of the wrong length")
    both = set(rows) & failure_paths
    if both:
        p.append(f"{len(both)} paths both indexed and failed, e.g. {sorted(both)[:3]}")
    real: dict[str, str] = {}
    for path in rows:
        r = os.path.realpath(path)
        if r in real:
            p.append(f"duplicate: {path!r} and {real[r]!r} are the same file")
        real[r] = path
    if files_on_disk is not None:
        stale = sorted(set(rows) - files_on_disk)
        absent = sorted(files_on_disk - set(rows))
        if stale:
            p.append(f"{len(stale)} stale rows (file gone), e.g. {stale[:3]}")
        if absent:
            p.append(f"{len(absent)} files not indexed, e.g. {absent[:3]}")
        changed = []
        for path in set(rows) & files_on_disk:
            st = os.stat(path)
            if (st.st_size, st.st_mtime_ns) != rows[path][:2]:
                changed.append(path)
        if changed:
            p.append(f"{len(changed)} rows out of date (size/mtime differ), e.g. {sorted(changed)[:3]}")
    return check


def vectors(db: Path, paths: list[str] | None = None) -> dict[str, "np.ndarray"]:
    """path -> float32 vector (as stored: float16 widened, not renormalised) for every file row."""
    import numpy as np

    conn = _connect(db)
    try:
        wanted = set(paths) if paths is not None else None
        out = {}
        for path, blob in conn.execute("SELECT f.path, v.vec FROM files f JOIN vectors v ON v.hash = f.hash"):
            if wanted is None or path in wanted:
                out[path] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out
    finally:
        conn.close()


def rows_committed_since(cache_dir: Path, wall_time: float) -> int:
    """File rows written at or after ``wall_time`` (``time.time()``): how far a killed run got."""
    total = 0
    for db in store_files(cache_dir):
        conn = _connect(db)
        try:
            total += conn.execute("SELECT COUNT(*) FROM files WHERE indexed_at >= ?", (wall_time,)).fetchone()[0]
        finally:
            conn.close()
    return total
