"""Running ``index`` and ``cluster`` on a Ray cluster, for archives too large for one machine.

Everything here needs the optional extra (``pip install 'proxysort[ray]'``) and is imported only when a
caller asks for Ray (``--ray`` or ``ray=...``); the single-machine path never imports it.

* :func:`index` — the local :func:`proxysort.indexer.index` (same scan, diff, store, summary and skip
  reports) with its decode → embed stage run as a Ray Data pipeline: decode on CPU tasks, embed in an
  actor pool (GPUs when the cluster has them), vectors committed by the driver batch by batch.
* :func:`learn_proxies` — the drop-in twin of :func:`proxysort.learn.registry.learn_proxies` that learns proxies
  on slices of the photos across workers (proxies are per photo) and joins the results in order.

The vector store stays one SQLite file on the driver; workers never open it.
"""

from __future__ import annotations

from proxysort.distributed.indexing import index
from proxysort.distributed.proxies import learn_proxies
from proxysort.distributed.session import RaySession, connect

__all__ = ["RaySession", "connect", "index", "learn_proxies"]
