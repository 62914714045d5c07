"""``index --ray``: the local index with its decode → embed stage run as a Ray Data pipeline.

The driver does what it does locally — scan, diff against the store, sweep, summary — and only the
expensive middle moves out: the files to embed become a dataset; CPU tasks hash, decode and preprocess them
with the very function the local thread pool uses (:func:`proxysort.indexer._prepare`: EXIF-upright,
reduced-size decode, one reason per bad file); an actor pool (one model per GPU, or per CPU slot) embeds
them; the driver commits the vectors to its SQLite store every few hundred photos. So:

* a killed driver keeps every committed batch, and a re-run skips those photos exactly like a local
  incremental run (same path, size and mtime);
* a lost worker costs only its in-flight batches: Ray Data retries tasks and restarts actors, a bounded
  number of times (:data:`DECODE_RETRIES`): a file that kills every worker decoding it (a decoder crash)
  drops its block after that, and the driver checks each file of a dropped block in a child process of
  its own (:func:`proxysort.decodeguard.crashes`), skipping and naming the one that crashes and indexing
  the rest itself, instead of retrying forever with nothing printed;
* skip lines, exit codes and the store are the same as a local run's, in the same order.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Sequence

from proxysort.distributed.session import (
    AUTO,
    RaySession,
    check_shared,
    connect,
    import_ray,
    not_shared,
    probe_paths,
    reraise_cause,
)
from proxysort.decodeguard import crashes
from proxysort.encoders import ModelSpec
from proxysort.errors import CacheError, ModelLoadError, UsageError
from proxysort.indexer import (
    IndexedFolder,
    IndexSummary,
    Source,
    _claim_rename,
    _count,
    _Job,
    _LazyClip,
    _Plan,
    _prepare,
    _Prepared,
    _Writer,
    index as local_index,
    sources,
)
from proxysort.progress import Reporter
from proxysort.scan import ScanEntry
from proxysort.store import FileRow, VectorStore

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Files per decode task: big enough to amortise a task, small enough to spread a folder over the CPUs.
DECODE_BLOCK = 32
DECODE_MEMORY = 256 * 1024 * 1024
#: Tries of a decode task after the first whose worker died (a lost node, or a decoder crash).
DECODE_RETRIES = 2
#: Stands in for "the store had a row for this path" on workers (only its presence matters to _prepare).
_UPDATED = FileRow("", 0, 0, "", False)


def index(source: Source, *, ray: str | None = AUTO, **kwargs: Any) -> IndexedFolder:
    """:func:`proxysort.indexer.index` with decoding and embedding on the Ray cluster at ``ray`` (an
    address, ``auto`` or ``local``); the same keyword arguments, the same result and store. The cluster is
    joined only when some photo needs embedding: an up-to-date folder never waits for Ray."""
    return local_index(source, runner=RayRunner(ray, sources(source).roots), **kwargs)


@dataclass
class RayRunner:
    """A :class:`proxysort.indexer.PipelineRunner` that decodes and embeds on a Ray cluster."""

    address: str | None
    roots: Sequence[Path]

    def __call__(
        self,
        store: VectorStore,
        plan: _Plan,
        lazy: _LazyClip,
        summary: IndexSummary,
        failures: list[tuple[Path, str]],
        reporter: Reporter,
        batch_size: int | None,
        workers: int | None,
        commit_every: int,
    ) -> None:
        if not plan.jobs:
            return
        session = connect(self.address)
        ray = import_ray()
        check_shared(session, self.roots, [(str(j.entry.path), j.entry.size) for j in plan.jobs])
        clip = lazy.get()  # the driver's model: its identity and preprocessing are the reference
        gpu = _use_gpus(session, lazy.spec)
        batch_size = batch_size or (128 if gpu else 32)
        dataset = _dataset(ray, session, plan, clip, lazy.spec, store.known_hashes(), self.roots, gpu, batch_size)
        writer = _Writer(store, commit_every, lazy)
        jobs = {j.key: j for j in plan.jobs}
        try:
            with reporter.progress("indexing", total=len(plan.jobs)) as advance:
                seen = _consume(dataset, jobs, plan, writer, summary, failures, reporter, advance)
                lost = [j for key, j in jobs.items() if key not in seen]
                if lost:
                    reporter.warning(
                        f"{len(lost)} photo(s) came back from no Ray task (their tasks failed {DECODE_RETRIES + 1} "
                        "times); checking each on this machine."
                    )
                    _recover(lost, store.known_hashes(), lazy, plan, writer, summary, failures, reporter, advance)
            writer.flush()
        except CacheError:
            raise
        except BaseException as exc:
            writer.flush()  # every vector that reached the driver is kept; a re-run starts after them
            if not type(exc).__module__.startswith("ray"):
                raise
            raise reraise_cause(exc) from exc


def _use_gpus(session: RaySession, spec: ModelSpec) -> bool:
    device = (spec.device or "auto").lower()
    if device.startswith("cuda") and not session.has_gpus:
        raise UsageError("`device` cuda was asked for, but the Ray cluster has no GPUs; use `device` cpu or auto.")
    return session.has_gpus and device != "cpu"


def _dataset(
    ray: Any,
    session: RaySession,
    plan: _Plan,
    clip: Any,
    spec: ModelSpec,
    known: set[str],
    roots: Sequence[Path],
    gpu: bool,
    batch_size: int,
) -> Any:
    """files → decode (CPU tasks) → embed (actor pool): rows of path, hash, error, transient, vector."""
    from ray.data import DataContext

    items = [
        {"path": j.key, "size": j.entry.size, "mtime_ns": j.entry.mtime_ns, "fresh": j.previous is None}
        for j in plan.jobs
    ]
    # The same order as the local run: skip lines come out in scan order, and batches compose the same.
    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True
    # A block whose tasks keep failing is dropped, not retried forever; the driver recovers its files.
    ctx.max_errored_blocks = max(1, math.ceil(len(items) / DECODE_BLOCK))
    shipped = {
        "known": [ray.put(known)],  # in a list: Ray Data passes it through, the task fetches it once
        "preprocess": [ray.put(split_preprocess(clip.preprocess)[0])],
        "image_size": clip.image_size,
        "roots": [str(r) for r in roots],
    }
    ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / DECODE_BLOCK)))
    # The memory hint (a decoded camera photo plus Pillow's working copies) also keeps Ray from fusing
    # decoding into the embedding actors, so decoding spreads over every CPU of the cluster while the
    # models stay on their GPUs (or their CPU slots).
    ds = ds.map_batches(
        _decode_batch, batch_size=None, num_cpus=1, memory=DECODE_MEMORY, fn_kwargs=shipped, batch_format="numpy",
        max_retries=DECODE_RETRIES,
    )
    # The driver's precision, settled: every actor embeds as the store's vectors were, whatever its node has.
    precision = clip.settle_precision()
    embed_spec = ModelSpec(model=spec.model, pretrained=spec.pretrained, device="cuda" if gpu else "cpu", precision=precision)
    slots = int(session.gpus) if gpu else max(1, int(session.cpus) // 2)
    return ds.map_batches(
        Embedder,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, slots)),
        fn_constructor_kwargs={"spec": embed_spec, "identity": clip.identity},
        batch_format="numpy",
        **({"num_gpus": 1} if gpu else {"num_cpus": 1}),
    )


def _consume(
    dataset: Any,
    jobs: dict[str, _Job],
    plan: _Plan,
    writer: _Writer,
    summary: IndexSummary,
    failures: list[tuple[Path, str]],
    reporter: Reporter,
    advance: Any,
) -> set[str]:
    """The driver's half of the local loop: report skips, reuse vectors by hash, commit batch by batch.
    Returns the paths that came back (a dropped block's do not)."""
    import numpy as np

    counts = {"embedded": 0, "skipped": 0}
    embedded_now: set[str] = set()
    seen: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for path, digest, error, transient, vector in zip(
            batch["path"], batch["hash"], batch["error"], batch["transient"], batch["vector"]
        ):
            job = jobs[str(path)]
            seen.add(str(path))
            if error:
                prepared = _Prepared(job, hash=digest or None, error=str(error), transient=bool(transient))
                reporter.skipped(job.entry.path, str(error))
                failures.append((job.entry.path, str(error)))
                writer.add_failure(prepared)
                counts["skipped"] += 1
            elif not len(vector) or digest in embedded_now:
                renamed = _claim_rename(plan, str(digest))
                writer.add_file(job.entry, str(digest))
                _count(summary, job, renamed=renamed)
                summary.reused += 1
            else:
                writer.add_file(job.entry, str(digest), np.frombuffer(vector, dtype=np.float32).copy())
                _count(summary, job, renamed=False)
                embedded_now.add(str(digest))
                summary.embedded += 1
                counts["embedded"] += 1
            advance(1, **counts)
        writer.maybe_flush()
    return seen


def _recover(
    lost: Sequence[_Job], known: set[str], lazy: _LazyClip, plan: _Plan, writer: _Writer, summary: IndexSummary,
    failures: list[tuple[Path, str]], reporter: Reporter, advance: Any,
) -> None:
    """The files of dropped blocks, one by one on the driver: each first decoded in a child process (a crash
    there names it and costs only that file), then prepared and embedded here as the local run does."""
    import torch

    clip = lazy.get()
    for job in lost:
        reason = crashes(job.entry.path, clip.image_size)
        prepared = _Prepared(job, error=reason) if reason is not None else _prepare(job, known, lazy)
        if prepared.error is not None:
            reporter.skipped(job.entry.path, prepared.error)
            failures.append((job.entry.path, prepared.error))
            writer.add_failure(prepared)
        elif prepared.tensor is None:
            assert prepared.hash is not None
            writer.add_file(job.entry, prepared.hash)
            _count(summary, job, renamed=_claim_rename(plan, prepared.hash))
            summary.reused += 1
        else:
            assert prepared.hash is not None
            vector = clip.encode_images(torch.stack([prepared.tensor]))[0]
            writer.add_file(job.entry, prepared.hash, vector)
            _count(summary, job, renamed=False)
            known.add(prepared.hash)
            summary.embedded += 1
        advance(1)
        writer.maybe_flush()


# -- worker side ---------------------------------------------------------------------------------------

_fetched: dict[str, Any] = {}  # per worker process: object-store values already fetched
_roots_seen: set[str] = set()  # per worker process: photo folders already found on this node


def _fetch(ref: Any) -> Any:
    key = ref.hex()
    if key not in _fetched:
        import ray

        _fetched[key] = ray.get(ref)
    return _fetched[key]


def _decode_batch(
    batch: dict[str, "np.ndarray"], *, known: list[Any], preprocess: list[Any], image_size: int, roots: list[str]
) -> dict[str, Any]:
    """CPU task: hash, decode and preprocess each file exactly as the local thread pool does, up to the
    pixels (see :func:`split_preprocess`)."""
    import numpy as np

    missing = [r for r in roots if r not in _roots_seen]
    problem = probe_paths(missing, []) if missing else None
    if problem is not None:
        raise not_shared(socket.gethostname(), problem)  # a node that joined without the shared mount
    _roots_seen.update(missing)
    source = _Shipped(SimpleNamespace(image_size=image_size, preprocess=_fetch(preprocess[0])))
    known_hashes = _fetch(known[0])
    out: dict[str, list[Any]] = {"path": [], "hash": [], "error": [], "transient": [], "pixels": [], "shape": []}
    for path, size, mtime_ns, fresh in zip(batch["path"], batch["size"], batch["mtime_ns"], batch["fresh"]):
        job = _Job(ScanEntry(Path(str(path)), int(size), int(mtime_ns)), None if fresh else _UPDATED)
        prepared = _prepare(job, known_hashes, source)  # type: ignore[arg-type]
        out["path"].append(str(path))
        out["hash"].append(prepared.hash or "")
        out["error"].append(prepared.error or "")
        out["transient"].append(prepared.transient)
        pixels = None if prepared.tensor is None else np.asarray(prepared.tensor)  # uint8 H×W×3 (or the tensor)
        out["pixels"].append(b"" if pixels is None else pixels.tobytes())
        out["shape"].append("" if pixels is None else f"{pixels.dtype.str}:{','.join(map(str, pixels.shape))}")
    return {k: np.array(v, dtype=object if k != "transient" else bool) for k, v in out.items()}


def split_preprocess(preprocess: Any) -> tuple[Any, Any]:
    """The model's preprocessing cut before its tensor conversion: (PIL → PIL, PIL → normalised tensor).

    Decode tasks run the first part and ship uint8 pixels, a quarter of the float tensor's bytes (150 KB
    instead of 600 KB a photo at 224 px) through the object store; the embedding actor runs the rest. Both
    halves are the model's own transforms, so the tensor is the one the local path builds, bit for bit. A
    preprocessing that is not a torchvision ``Compose`` with a ``ToTensor`` step is not cut (the tensor is
    shipped whole).
    """
    steps = list(getattr(preprocess, "transforms", None) or [])
    for i, step in enumerate(steps):
        if "ToTensor" in type(step).__name__:
            from torchvision.transforms import Compose

            return Compose(steps[:i]), Compose(steps[i:])
    return preprocess, None


def _unpack(data: bytes, shape: str) -> "np.ndarray":
    import numpy as np

    dtype, _, dims = shape.partition(":")
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(tuple(int(d) for d in dims.split(",")))


class _Shipped:
    """What ``_prepare`` needs of the model (``.get().image_size`` and ``.preprocess``), without a model."""

    def __init__(self, clip: Any) -> None:
        self._clip = clip

    def get(self) -> Any:
        return self._clip


class Embedder:
    """Actor: loads the model once (the same spec as the driver's) and embeds decoded batches."""

    def __init__(self, spec: ModelSpec, identity: str) -> None:
        from proxysort.encoders import load_clip

        self.clip = load_clip(spec)
        self.finish = split_preprocess(self.clip.preprocess)[1]
        if self.clip.identity != identity:
            raise ModelLoadError(
                f"The model on Ray node {socket.gethostname()} is {self.clip.identity}, not the driver's {identity}; "
                "install the same model files at the same paths on every node."
            )

    def __call__(self, batch: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
        import numpy as np
        import torch

        from PIL import Image

        pixels, shapes = batch["pixels"], batch["shape"]
        rows = [i for i, t in enumerate(pixels) if len(t)]
        vectors = [b""] * len(pixels)
        if rows:
            arrays = [_unpack(pixels[i], str(shapes[i])) for i in rows]
            if self.finish is not None:
                tensors = [self.finish(Image.fromarray(a)) for a in arrays]
            else:
                tensors = [torch.from_numpy(a.copy()) for a in arrays]
            feats = self.clip.encode_images(torch.stack(tensors))
            for i, f in zip(rows, feats):
                vectors[i] = np.asarray(f, dtype=np.float32).tobytes()
        return {
            "path": batch["path"],
            "hash": batch["hash"],
            "error": batch["error"],
            "transient": batch["transient"],
            "vector": np.array(vectors, dtype=object),
        }
