"""Running ``index`` and ``cluster`` on a Ray cluster, for archives too large for one machine.

Everything here needs the optional extra (``pip install 'proxysort[ray]'``) and is imported only when a
caller asks for Ray (``--ray`` or ``ray=...``); the single-machine path never imports it.

* :func:`index` — the local :func:`proxysort.indexer.index` (same scan, diff, store, summary and skip
  reports) with its decode → embed stage run as a Ray Data pipeline: decode on CPU tasks, embed in an
  actor pool (GPUs when the cluster has them), vectors committed by the driver batch by batch.
* :func:`learn_proxies` — the drop-in twin of :func:`proxysort.learn.registry.learn_proxies` that learns proxies
  on slices of the photos across workers (proxies are per photo) and joins the results in order.
* :func:`on_workers` — the store's rows scored where they are read: every per-photo pass of a method that
  learns nothing (zeroshot's scores, ``imagemix``'s image half) runs in Ray tasks, a block of rows each.

The vector store stays one SQLite file that only the driver writes; for scoring, workers read it where
the cache folder is shared (else the driver reads it, as without Ray).
"""

from __future__ import annotations

from proxysort.distributed.indexing import index
from proxysort.distributed.proxies import learn_proxies
from proxysort.distributed.scoring import on_workers
from proxysort.distributed.session import RaySession, connect

__all__ = ["RaySession", "connect", "index", "learn_proxies", "on_workers"]
