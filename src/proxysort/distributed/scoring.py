"""Scoring every photo on the Ray workers: the store's rows, mapped a block at a time where they are read.

What a sort does per photo without learning (issue 25, item 5) is a function of each block of its unit
image vectors: its cosines with the candidate prompts (zeroshot's scores), the moments of the block and
its image columns (``imagemix``). :class:`RayRows` is the store's rows (:class:`proxysort.rows.StoredRows`)
whose :meth:`~RayRows.map_blocks` runs that function in a Ray task per block: each task reads its block from
the store itself, on the shared file system, and only the small result comes back (K scores, a block's
moments, 32 image columns per photo), never the N×d vectors. The driver combines the results in block
order, so the set-level steps (centring and scaling over all photos, the principal directions) are the
very sums of a local run: the result equals the local one (``tests/test_ray.py``).

The store must be at the same path on every node (like the photos for indexing); where a node cannot see
it, the rows are read on the driver as without Ray, and the run says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from proxysort.distributed.session import AUTO, connect, import_ray, probe_paths, reraise_cause
from proxysort.rows import BLOCK, StoredRows, T, paths_where

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.distributed.session import RaySession
    from proxysort.progress import Reporter


class RayRows(StoredRows):
    """:class:`StoredRows` whose passes (:meth:`map_blocks`) run on the cluster's workers, ``inflight`` blocks
    at a time per CPU (each block's result is held until the ones before it have been used, in order)."""

    def __init__(self, store_file: Path, paths: Sequence[str], dim: int, *, session: "RaySession",
                 rows_per_task: int | None = None) -> None:
        super().__init__(store_file, paths, dim)
        self.session, self.rows_per_task = session, rows_per_task

    def map_blocks(self, fn: Callable[..., T], args: tuple, size: int = BLOCK) -> Iterator[T]:
        ray = import_ray()
        task = ray.remote(_block).options(num_cpus=1, max_retries=2)
        shared = ray.put(args)  # the words' features or the directions: sent once, not once per block
        step = self.rows_per_task or size
        spans = [(a, min(a + step, len(self.paths))) for a in range(0, len(self.paths), step)]
        window = max(2, 2 * int(self.session.cpus))
        pending: list[Any] = []
        try:
            for a, b in spans:
                pending.append(task.remote(str(self.store_file), self.paths[a:b], self.shape[1], fn, shared))
                if len(pending) >= window:
                    yield ray.get(pending.pop(0))
            while pending:
                yield ray.get(pending.pop(0))
        except Exception as exc:  # noqa: BLE001 - one sentence, never a Ray traceback
            raise reraise_cause(exc) from exc

    def subset(self, mask: "np.ndarray") -> "RayRows":
        return RayRows(self.store_file, paths_where(self.paths, mask), self.shape[1], session=self.session, rows_per_task=self.rows_per_task)


def _block(store_file: str, paths: list[str], dim: int, fn: Callable[..., T], args: tuple) -> T:
    """Worker task: ``fn`` of the block of ``paths``' vectors, read from the store on this node."""
    (block,) = StoredRows(Path(store_file), paths, dim).blocks(max(1, len(paths)))
    return fn(block, *args)


def on_workers(rows: StoredRows, ray: str | None = AUTO, reporter: "Reporter | None" = None,
               rows_per_task: int | None = None) -> StoredRows:
    """``rows`` scored on the cluster's workers (:class:`RayRows`) when every node sees the store at its
    path, else ``rows`` as they are (read on the driver), said on ``reporter``.

    The store's write-ahead log is folded into its file first: a reader on another machine sees the file,
    and SQLite's WAL index is not shared between machines."""
    from proxysort.store import VectorStore

    session = connect(ray)
    with VectorStore(rows.store_file) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    problem = _unseen(session, rows.store_file)
    if problem is not None:
        if reporter is not None:
            reporter.message(f"scoring the photos on this machine: the cache is not visible on Ray node {problem}; "
                             "put `cache_dir` on a mount every node shares to score them on the workers")
        return rows
    return RayRows(rows.store_file, rows.paths, rows.shape[1], session=session, rows_per_task=rows_per_task)


def _unseen(session: "RaySession", store_file: Path) -> str | None:
    """'host (what is wrong)' for the first node that does not see the store as the driver does, or None."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=1)(_probe)
    size = os.stat(store_file).st_size
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
        str(store_file.parent), str(store_file), size) for node in session.nodes]
    try:
        answers = ray.get(refs, timeout=120.0)
    except Exception as exc:  # noqa: BLE001 - a node that cannot even run the probe cannot score either
        raise reraise_cause(exc) from exc
    return next((f"{host} ({problem})" for host, problem in answers if problem is not None), None)


def _probe(folder: str, store_file: str, size: int) -> tuple[str, str | None]:
    import socket

    return socket.gethostname(), probe_paths([folder], [(store_file, size)])
