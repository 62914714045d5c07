"""Proxy learning spread over a Ray cluster: each worker learns the proxies of one slice of the photos.

Every photo owns its proxy parameters, so the photos can be split between workers, each running the
public :func:`proxysort.learn.registry.learn_proxies` with the same model, concepts and config on its slice; the
driver joins the slices in order (a method kept as rows per photo, :attr:`~proxysort.learn.method.Method.rows`:
their rows, from which it makes the result as a local run does, so the proxy cache can keep it). Slices are cut at multiples of the learner's own batch size, so every
worker sees exactly the batches a local run would: the joined result equals the local one whenever
the method declares each photo's result independent of the other photos of the run
(:attr:`proxysort.learn.method.Method.per_photo`; see ``tests/test_ray.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Sequence

from proxysort.distributed.session import AUTO, connect, import_ray, reraise_cause
from proxysort.encoders import ModelSpec
from proxysort.errors import ModelLoadError
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.learn.core import Concept, ProxyConfig, ProxyResult
    from proxysort.learn.method import Method
    from proxysort.rows import Features


def learn_proxies(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig | None" = None,
    reporter: Reporter | None = None,
    *,
    k: int | None = None,
    ray: str | None = AUTO,
    shards: int | None = None,
) -> list["ProxyResult"]:
    """:func:`proxysort.learn.registry.learn_proxies` on the Ray cluster at ``ray``: same arguments, same result.

    ``clip`` is the driver's model; workers load the same spec (on a GPU each when the cluster has them)
    and must find the same model identity. ``shards`` defaults to one per GPU, or one per two CPUs.
    """
    import numpy as np

    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import learn_proxies as local_learn
    from proxysort.learn.registry import method_for

    config = dataclasses.replace(config) if config is not None else ProxyConfig()
    method = method_for(config)
    reporter = reporter or Reporter()
    session = connect(ray)
    ray_mod = import_ray()
    # GPUs when the cluster has them, even under a CPU-only driver: the result then equals a local run on
    # a GPU (the learner's batch size and float rounding follow the device), as a CPU slice equals a CPU run.
    gpu = session.has_gpus and "cpu" not in ((config.device or "auto").lower(), clip.spec.device.lower())
    step = config.gpu_batch_size if gpu else config.batch_size
    features = np.ascontiguousarray(image_features, dtype=np.float32)
    n = len(features)
    wanted = shards or (int(session.gpus) if gpu else max(1, int(session.cpus) // 2))
    if step is None or not method.per_photo(config):
        # The seed methods and the Adam engine couple the photos of a run (pruning by k-means usage, one
        # stopping epoch for all), and a GPU batch sized from a worker's memory is unknown here: slicing
        # would change the result, so it is learned in one piece, exactly as locally.
        wanted = 1
    cuts = [0, n] if wanted == 1 or step is None else _cuts(n, step, wanted)
    if len(cuts) <= 2:  # one slice: nothing to spread, and no model to load on a worker
        return local_learn(features, concepts, clip, config, reporter, k=k)

    spec = ModelSpec(model=clip.spec.model, pretrained=clip.spec.pretrained, device="cuda" if gpu else "cpu")
    task = ray_mod.remote(_learn_slice).options(num_gpus=1 if gpu else 0, num_cpus=1)
    shard_config = dataclasses.replace(config, device="auto")
    refs = [
        task.remote(spec, clip.identity, features[a:b], list(concepts), shard_config, k)
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    parts: list[list[ProxyResult]] = []
    try:
        with reporter.stage(f"fitting the words to each photo: {features.shape[0]} photos on {len(refs)} workers",
                            total=len(refs)) as advance:
            for ref in refs:  # in order: results are joined in photo order
                parts.append(ray_mod.get(ref))
                advance(1)
    except Exception as exc:  # noqa: BLE001 - one sentence, never a Ray traceback
        raise reraise_cause(exc) from exc
    sizes = [b - a for a, b in zip(cuts[:-1], cuts[1:])]
    if method.rows is not None:
        return _join_rows(method, [[p[c] for p in parts] for c in range(len(concepts))], sizes, features, clip, config, k)
    return [_join([p[c] for p in parts], sizes, features) for c in range(len(concepts))]


def _cuts(n: int, step: int, wanted: int) -> list[int]:
    """Slice boundaries: at most ``wanted`` slices of whole batches of ``step`` photos (the last may be short)."""
    batches = math.ceil(n / step)
    if batches <= 1:
        return [0, n]
    per = math.ceil(batches / max(1, min(wanted, batches)))
    return [min(i * per * step, n) for i in range(math.ceil(batches / per))] + [n]


def _history(parts: Sequence["ProxyResult"], sizes: Sequence[int]) -> list[float]:
    """The slices' loss curve joined: the photo-weighted mean (a slice that stopped early keeps its last loss)."""
    history = []
    for e in range(max(len(p.loss_history) for p in parts)):
        total = sum(size * p.loss_history[min(e, len(p.loss_history) - 1)] for p, size in zip(parts, sizes) if p.loss_history)
        history.append(total / sum(sizes))
    return history


def _join_rows(method: "Method", parts: Sequence[Sequence["ProxyResult"]], sizes: Sequence[int], images: "np.ndarray",
               clip: "ClipModel", config: "ProxyConfig", k: int | None) -> list["ProxyResult"]:
    """Each concept's result (``parts[c]``: its slices) made from the slices' rows joined in order, with the
    driver's words, as a local run makes it (:attr:`Method.rows`): the same result, and one the proxy cache
    can keep (a result joined feature by feature would not give its rows back)."""
    import numpy as np

    from proxysort.learn import engine, textonly
    from proxysort.learn.registry import run_for

    rows = method.rows
    assert rows is not None  # the caller's condition
    _, run = run_for(config, clip, k=k)
    units = textonly.unit_rows(images)
    out = []
    for slices in parts:
        taken = [rows.take(p) for p in slices]
        learned = [part for _, part in taken if part is not None]
        joined = np.concatenate(learned) if len(learned) == len(taken) else None
        concept = slices[0].concept
        out.append(rows.rebuild(concept, units, np.concatenate([prompt for prompt, _ in taken]), joined,
                                engine.words(concept, clip, run, tokens=rows.tokens), run, _history(slices, sizes)))
    return out


def _join(parts: Sequence["ProxyResult"], sizes: Sequence[int], images: "np.ndarray") -> "ProxyResult":
    """One concept's result from its slices: rows concatenated; the loss curve is the photo-weighted mean
    (a slice that stopped early keeps its last loss). ``images``: every photo's image vector, in order."""
    import numpy as np
    import torch

    from proxysort.learn.core import imagemix, result, scoremix

    first = parts[0]
    history = _history(parts, sizes)
    features: "dict[str, Features]" = {name: np.concatenate([p.features[name] for p in parts]) for name in first.features}
    if "scoremix" in features:  # centred and scaled over all photos: a property of the set, made again here
        mixed = scoremix(torch.from_numpy(features["scores"]), torch.from_numpy(features["probs"]))
        features["scoremix"] = mixed.numpy().astype(np.float32)
    if "imagemix" in features:  # the same, and its image half too
        features["imagemix"] = imagemix(np.asarray(features["scoremix"]), images)
    return result(first.concept, features, first.word_features, np.concatenate([p.zero_shot for p in parts]), history,
                  first.default_feature)


_models: dict[tuple[str, str], "ClipModel"] = {}  # per worker process: a model loaded once serves every slice


def _learn_slice(
    spec: ModelSpec, identity: str, features: "np.ndarray", concepts: list["Concept"], config: "ProxyConfig",
    k: int | None,
) -> list["ProxyResult"]:
    """Worker task: the public learner on one slice, with the driver's model."""
    import socket

    from proxysort.encoders import load_clip
    from proxysort.learn.registry import learn_proxies as local_learn

    key = (identity, spec.device)
    if key not in _models:
        clip = load_clip(spec)
        if clip.identity != identity:
            raise ModelLoadError(
                f"The model on Ray node {socket.gethostname()} is {clip.identity}, not the driver's {identity}; "
                "install the same model files at the same paths on every node."
            )
        _models[key] = clip
    return local_learn(features, concepts, _models[key], config, k=k)
