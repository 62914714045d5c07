"""CPU threads for the sorting stage: how many, and how idle OpenMP threads wait.

Measured on a shared 2-core machine (ViT-B-32 text path, one forward+backward of 256 photos, median of 6):
1 torch thread 6.6 CPU-ms per photo; 2 threads with OpenMP's default spin-waiting 23.0 (busy-waiting on
cores that other processes hold); 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` 7.0. Passive waiting costs
almost nothing when the cores are free and removes the 3.5x penalty when they are not, so it is the
default; the thread count then defaults to torch's own choice (the physical cores).

``OMP_WAIT_POLICY`` is read once, when the OpenMP runtime starts (at the first torch or faiss import), so
:func:`prepare_environment` must run before those imports: the CLI calls it first thing.
"""

from __future__ import annotations

import os
from typing import MutableMapping

from proxysort.errors import UsageError


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Passive OpenMP waiting unless the user chose a policy; call before torch or faiss is imported."""
    environ = os.environ if environ is None else environ
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch and faiss (None: leave their defaults)."""
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"`threads` must be at least 1 (got {threads}).")
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
