"""Joining a Ray cluster, sizing work to it, and checking that every node sees the photos.

Ray is imported here and only here (and in the stage modules' functions), so nothing on the local path
pays for it. A driver process joins one cluster once and keeps it for every later call: ``index`` and
``cluster`` in the same process share one connection, and Ray disconnects when the process ends.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from proxysort.errors import InputError, ProxysortError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

#: ``--ray`` values that are not an address: ``auto`` joins the cluster this machine belongs to (``ray
#: start`` ran here), ``local`` starts a throwaway single-machine cluster for this process.
AUTO = "auto"
LOCAL = "local"
#: How many files every node stats before any work is sent: enough to catch a missing or different mount.
_PROBE_FILES = 8
_PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RaySession:
    """The cluster this process is connected to, as the stages need to know it."""

    address: str
    cpus: float
    gpus: float
    nodes: tuple[str, ...]  # ids of the alive nodes that can run work

    @property
    def has_gpus(self) -> bool:
        return self.gpus >= 1


def import_ray() -> "ModuleType":
    """The ``ray`` module, or one sentence saying how to install it."""
    # Ray's C++ core logs recoverable conditions (reconnects, actor restarts) straight to stderr, reading
    # this when it loads; whatever stops the run reaches the caller as an exception. An explicit setting wins.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
    except ImportError as exc:
        raise UsageError("Ray is not installed; install it with pip install 'proxysort[ray]' on every node.") from exc
    return ray


def connect(address: str | None = AUTO) -> RaySession:
    """Join the Ray cluster at ``address`` (``auto``, ``local``, ``host:port`` or ``ray://host:port``), or
    keep the connection this process already has (a test's local cluster, an earlier call)."""
    ray = import_ray()
    _quiet(ray)
    if not ray.is_initialized():
        where = address or AUTO  # "local" is Ray's own word for a new single-machine cluster
        if where not in (AUTO, LOCAL):
            _reachable(where)
        try:
            ray.init(address=where, logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
        except ConnectionError as exc:
            raise UsageError(
                f"No Ray cluster answers at {address}; start one with the command ray start --head (README: Large "
                "archives) or pass the address of a running one as `ray`."
            ) from exc
        except (ValueError, RuntimeError) as exc:
            raise UsageError(f"Could not join the Ray cluster at {address}: {str(exc).splitlines()[0][:200]}") from exc
    resources = ray.cluster_resources()
    nodes = tuple(
        n["NodeID"] for n in ray.nodes()
        if n.get("Alive") and (n.get("Resources", {}).get("CPU", 0) > 0 or n.get("Resources", {}).get("GPU", 0) > 0)
    )
    return RaySession(
        address=ray.get_runtime_context().gcs_address,
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
        nodes=nodes,
    )


def _reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds, with one sentence, where Ray would retry an unreachable head for minutes."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except ValueError as exc:
        raise UsageError(f"`ray` must be auto, local or HOST:PORT of a Ray head node, not {address!r}.") from exc
    except OSError as exc:
        raise UsageError(
            f"No Ray cluster answers at {address} ({(exc.strerror or str(exc)).lower()}); start one with the "
            "command ray start --head (README: Large archives) or pass the address of a running one as `ray`."
        ) from exc


def _quiet(ray: "ModuleType") -> None:
    """Ray Data's progress bars and INFO lines would interleave with proxysort's own stderr lines."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # Errors reach the caller as exceptions; Ray's warnings (progress bars off, token auth on) are noise here.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


# -- shared photo folders ------------------------------------------------------------------------------


class NotShared(InputError):
    """The photos are not at the same path on a node (raised on workers, re-raised by the driver)."""


def not_shared(host: str, what: str) -> NotShared:
    return NotShared(
        f"The photos are not visible on Ray node {host} ({what}); every node must see them at the same path, "
        "through a shared mount such as NFS."
    )


def probe_paths(roots: Sequence[str], files: Sequence[tuple[str, int]]) -> str | None:
    """On a worker: what is wrong with this node's view of the photos, or None. ``files`` are (path,
    size) pairs as the driver's scan saw them; a different size means a different file system."""
    for root in roots:
        if not os.path.isdir(root):
            return f"{root} is missing"
    for path, size in files:
        try:
            st = os.stat(path)
        except OSError as exc:
            return f"{path}: {(exc.strerror or str(exc)).lower()}"
        if st.st_size != size:
            return f"{path} has {st.st_size} bytes there but {size} on the driver"
    return None


def check_shared(session: RaySession, roots: Sequence[Path], files: Sequence[tuple[str, int]]) -> None:
    """Stat the photo folders and a few photos on every node before sending work: one clear error for a
    node that lacks the shared mount, instead of every photo skipped as "file disappeared"."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=1)(_probe_task)
    sample = _spread(list(files), _PROBE_FILES)
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
            [str(r) for r in roots], sample
        )
        for node in session.nodes
    ]
    try:
        answers = ray.get(refs, timeout=_PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a node that cannot even run the probe cannot index either
        raise reraise_cause(exc) from exc
    for host, problem in answers:
        if problem is not None:
            raise not_shared(host, problem)


def _probe_task(roots: list[str], files: list[tuple[str, int]]) -> tuple[str, str | None]:
    return socket.gethostname(), probe_paths(roots, files)


def _spread(items: list[Any], n: int) -> list[Any]:
    """Up to ``n`` items spread evenly over the list (first and last included)."""
    if len(items) <= n:
        return items
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


# -- errors from workers -------------------------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(x for x in (getattr(e, "cause", None), e.__cause__, e.__context__) if isinstance(x, BaseException))


def reraise_cause(exc: BaseException) -> BaseException:
    """The :class:`ProxysortError` a worker raised, unwrapped from Ray's task/user-code wrappers, so the
    CLI shows its one sentence and exit code; anything else becomes one sentence about the cluster."""
    for e in _causes(exc):
        # Ray re-raises a worker's exception as a class deriving from both its own error and the original;
        # only the original (whose .cause it is) has the bare sentence.
        if isinstance(e, ProxysortError) and type(e).__module__.startswith("proxysort"):
            return type(e)(*e.args)
    first = str(exc).strip().splitlines()
    return ProxysortError(f"The Ray cluster failed: {(first[-1] if first else type(exc).__name__)[:300]}")
