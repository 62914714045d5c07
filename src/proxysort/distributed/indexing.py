"""``index --ray``: the local index with its decode → embed stage run as a Ray Data pipeline.

The driver does what it does locally — scan, diff against the store, sweep, summary — and only the
expensive middle moves out: the files to embed become a dataset; CPU tasks hash, decode and preprocess them
with the very function the local thread pool uses (:func:`proxysort.indexer.prepare`: EXIF-upright,
reduced-size decode, one reason per bad file); an actor pool (one model per GPU, or per CPU slot) embeds
them; the driver hands every photo to the indexer's :class:`proxysort.indexer.Commit`, the same commit
loop a local run uses (a public :class:`proxysort.indexer.PipelineRunner`, no private names). So:

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

from proxysort.decodeguard import crashes
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
from proxysort.encoders import ModelSpec
from proxysort.errors import CacheError, ModelLoadError, UsageError
from proxysort.indexer import Commit, IndexedFolder, IndexRun, Job, LazyModel, Prepared, Source, prepare, sources
from proxysort.indexer import index as local_index
from proxysort.scan import ScanEntry

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Files per decode task: big enough to amortise a task, small enough to spread a folder over the CPUs.
DECODE_BLOCK = 32
DECODE_MEMORY = 256 * 1024 * 1024
#: Tries of a decode task after the first whose worker died (a lost node, or a decoder crash).
DECODE_RETRIES = 2


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

    def __call__(self, run: IndexRun) -> None:
        session = connect(self.address)
        ray = import_ray()
        check_shared(session, self.roots, [(j.entry.key, j.entry.size) for j in run.jobs])
        clip = run.model.get()  # the driver's model: its identity and preprocessing are the reference
        gpu = _use_gpus(session, run.model.spec)
        batch_size = run.batch_size or (128 if gpu else 32)
        dataset = _dataset(ray, session, run.jobs, clip, run.model.spec, run.commit.known, self.roots, gpu, batch_size)
        jobs = {j.key: j for j in run.jobs}
        try:
            with run.reporter.progress("indexing", total=len(run.jobs)) as advance:
                seen = _consume(dataset, jobs, run.commit, advance)
                lost = [j for key, j in jobs.items() if key not in seen]
                if lost:
                    run.reporter.warning(
                        f"{len(lost)} photo(s) came back from no Ray task (their tasks failed {DECODE_RETRIES + 1} "
                        "times); checking each on this machine."
                    )
                    _recover(lost, run.model, run.commit, advance)
        except CacheError:
            raise
        except BaseException as exc:  # the commit keeps every vector that reached the driver (index())
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
    jobs: list[Job],
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
        {"path": j.key, "size": j.entry.size, "mtime_ns": j.entry.mtime_ns, "updated": j.updated}
        for j in jobs
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


def _consume(dataset: Any, jobs: dict[str, Job], commit: Commit, advance: Any) -> set[str]:
    """Every photo's outcome, as the workers send them back in scan order, handed to the indexer's commit.
    Returns the paths that came back (a dropped block's do not)."""
    import numpy as np

    seen: set[str] = set()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for path, digest, error, transient, vector in zip(
            batch["path"], batch["hash"], batch["error"], batch["transient"], batch["vector"]
        ):
            job = jobs[str(path)]
            seen.add(str(path))
            if error:
                commit.failed(Prepared(job, hash=digest or None, error=str(error), transient=bool(transient)))
            elif not len(vector) or commit.has(str(digest)):
                commit.reused(job, str(digest))
            else:
                commit.embedded(job, str(digest), np.frombuffer(vector, dtype=np.float32).copy())
            advance(1, **commit.counts)
        commit.maybe_flush()
    return seen


def _recover(lost: Sequence[Job], lazy: LazyModel, commit: Commit, advance: Any) -> None:
    """The files of dropped blocks, one by one on the driver: each first decoded in a child process (a crash
    there names it and costs only that file), then prepared and embedded here as the local run does."""
    import torch

    clip = lazy.get()
    for job in lost:
        reason = crashes(job.entry.path, clip.image_size)
        prepared = Prepared(job, error=reason) if reason is not None else prepare(job, commit.known, lazy.get)
        if not commit.take(prepared):
            assert prepared.hash is not None and prepared.tensor is not None
            commit.embedded(job, prepared.hash, clip.encode_images(torch.stack([prepared.tensor]))[0])
        advance(1, **commit.counts)
        commit.maybe_flush()


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
    shipped = SimpleNamespace(image_size=image_size, preprocess=_fetch(preprocess[0]))

    def source() -> Any:  # what prepare needs of the model, without a model
        return shipped

    known_hashes = _fetch(known[0])
    out: dict[str, list[Any]] = {"path": [], "hash": [], "error": [], "transient": [], "pixels": [], "shape": []}
    for path, size, mtime_ns, updated in zip(batch["path"], batch["size"], batch["mtime_ns"], batch["updated"]):
        job = Job(ScanEntry(str(path), int(size), int(mtime_ns)), bool(updated))
        prepared = prepare(job, known_hashes, source)
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
