"""What every method shares: the checks, the problem set-up, the batches and the one Adam loop.

Each concept is one :class:`Problem`: the prompt encoder of its template, the candidate words' token rows
``G``, the filled-in prompts' unit text features ``T`` and the photos' zero-shot cosines ``Z``. Every photo
owns its parameters, so an epoch is one Adam step per photo (one optimiser per batch) and mini-batches only
bound memory; :func:`adam` stops on a loss plateau when asked, never on labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from proxysort.errors import UsageError
from proxysort.learn.core import unit
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.learn.core import Concept, ProxyConfig
    from proxysort.learn.method import Run, Words
    from proxysort.rows import Matrix
    from proxysort.textpath import PromptEncoder

_MAX_LOGIT_SCALE = 100.0


class OnceReporter(Reporter):
    """Forwards to ``inner`` but says each warning once (one per concept would repeat the same fallback)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.seen: set[str] = set()

    def message(self, text: str) -> None:
        self.inner.message(text)

    def warning(self, text: str) -> None:
        if text not in self.seen:
            self.seen.add(text)
            self.inner.warning(text)

    def progress(self, description: str, total: int | None = None):
        return self.inner.progress(description, total)

    def stage(self, description: str, total: int):
        return self.inner.stage(description, total)


@dataclass
class Problem:
    """One concept's fixed tensors: candidate token rows G (K×d_tok), prompt features T (K×D), cosines Z (N×K)."""

    concept: "Concept"
    encoder: "PromptEncoder"
    G: "torch.Tensor"
    T: "torch.Tensor"
    Z: "torch.Tensor"

    @property
    def words(self) -> tuple[str, ...]:
        return self.concept.words


def device(config: "ProxyConfig", clip: "ClipModel") -> "torch.device":
    """Proxies live where the frozen model lives; moving a shared model behind the caller's back is worse."""
    from proxysort.encoders import resolve_device

    if (config.device or "auto").lower() == "auto":
        return clip.device
    wanted = resolve_device(config.device)
    if wanted.type != clip.device.type:
        raise UsageError(
            f"Proxies were asked for on {wanted.type} (`device`) but the CLIP model is loaded on "
            f"{clip.device.type}; load the model on the same device (ModelSpec(device=...))."
        )
    return clip.device


def check_inputs(image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel | None") -> None:
    """Refuse inputs no method can learn from; ``clip`` None (a method learning from stored word features)
    skips the check of the vectors' width against the model's, which the stored features' width replaces."""
    if not concepts:
        raise UsageError("Give at least one concept to sort by.")
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise UsageError(f"Concept names must be different, got {', '.join(names)}.")
    if image_features.ndim != 2 or image_features.shape[0] == 0:
        raise UsageError("There are no image features to learn proxies for.")
    if clip is not None and image_features.shape[1] != clip.embed_dim:
        raise UsageError(
            f"The image features have {image_features.shape[1]} dimensions but the model embeds in "
            f"{clip.embed_dim}: they come from a different model."
        )


def images(image_features: "Matrix", where: "torch.device") -> "torch.Tensor":
    """The photos as unit float32 rows on ``where`` (what every learner sees)."""
    import numpy as np
    import torch

    return unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32), device=where))


def prepared(concept: "Concept", clip: "ClipModel", run: "Run") -> tuple["PromptEncoder", "torch.Tensor", "torch.Tensor"]:
    """(encoder, G, T) for ``concept``, from ``run.prepared`` when it has them (and kept there when not):
    a caller that learns in chunks (the proxy cache) builds each prompt encoder once."""
    import torch

    from proxysort.textpath import PromptEncoder

    key = (concept.prompt, run.config.path, concept.words)
    if key not in run.prepared:
        encoder = PromptEncoder(clip, concept.prompt, path=run.config.path, reporter=run.reporter)
        G = torch.stack([encoder.word_embedding(w) for w in concept.words]).float()
        run.prepared[key] = (encoder, G, encoder.encode_words(concept.words))
    return run.prepared[key]


def words(concept: "Concept", clip: "ClipModel", run: "Run", tokens: bool = True) -> "Words":
    """``concept``'s :class:`~proxysort.learn.method.Words` from the loaded model, as NumPy (the token rows
    only with ``tokens``): what a result kept as rows is made from (:attr:`Method.rows`), and what the store
    keeps of the model so that a re-run can make it without the model."""
    from proxysort.learn.method import Words

    _encoder, G, T = prepared(concept, clip, run)
    return Words(T.detach().float().cpu().numpy(), logit_scale(clip), G.detach().float().cpu().numpy() if tokens else None)


def setup(concept: "Concept", clip: "ClipModel", X: "torch.Tensor", run: "Run") -> Problem:
    """The one problem set-up: the concept's prepared tensors and the photos' zero-shot cosines."""
    encoder, G, T = prepared(concept, clip, run)
    return Problem(concept, encoder, G, T, X @ T.T)


def logit_scale(clip: "ClipModel") -> float:
    """CLIP's learned temperature (100 for the released weights): the zero-shot softmax it was trained with."""
    scale = getattr(clip.model, "logit_scale", None)
    return min(float(scale.exp()), _MAX_LOGIT_SCALE) if scale is not None else _MAX_LOGIT_SCALE


#: Bytes of activations one photo keeps for the backward pass, per unit of text width and per layer: an
#: estimate (two rows per block, ~40 saved floats per width unit and row), not a GPU measurement.
_ACTIVATION_BYTES = 320
_GPU_BATCH = (1024, 65536)


def batch_size(config: "ProxyConfig", where: "torch.device", clip: "ClipModel", *, coupled: bool) -> int:
    """CPU: ``batch_size``. CUDA: ``gpu_batch_size``, else for a learner whose photos never meet in the loss
    as many photos as a quarter of the free memory holds; a learner that couples the photos of a batch
    (``coupled``: DProxy's entropy of the batch mean, Multi-Sub's pseudo-labels) takes the CPU's batches,
    so a GPU gives the CPU's result, faster."""
    import torch

    if where.type != "cuda":
        return config.batch_size
    if config.gpu_batch_size:
        return config.gpu_batch_size
    if coupled:
        return config.batch_size
    free, _total = torch.cuda.mem_get_info(where)
    tower = getattr(clip.model, "text", clip.model)
    width = int(getattr(getattr(tower, "transformer", None), "width", 512))
    layers = len(getattr(getattr(tower, "transformer", None), "resblocks", [])) or 12
    fits = free // 4 // (_ACTIVATION_BYTES * width * layers)
    return int(min(max(fits, _GPU_BATCH[0]), _GPU_BATCH[1]))


def batches(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def concept_words(problems: Sequence[Problem], negatives: Sequence[str] = ()) -> "torch.Tensor":
    """Token rows φ(u) of every concept being sorted, then of extra negative concept words."""
    import torch

    own = [pb.encoder.word_embedding(pb.concept.name) for pb in problems]
    others = [problems[0].encoder.word_embedding(w) for w in negatives]
    return torch.stack(own + others).float()


def adam(
    params: list[list["torch.Tensor"]],
    slices: list[slice],
    loss_fn: Callable[[int, slice, int], "torch.Tensor"],
    epochs: int,
    lr: float,
    reporter: Reporter,
    label: str,
    *,
    shared: Sequence["torch.Tensor"] = (),
    shared_lr: float = 0.0,
    first_epoch: int = 0,
    plateau: "tuple[float, int, int] | None" = None,
) -> list[float]:
    """The one Adam loop: per-photo parameters ``params[b]`` of batch ``b`` (one optimiser per batch, so
    Adam's moments and step count belong to the photos they were computed for) and ``shared`` ones, for
    ``epochs`` passes over ``slices``.

    ``loss_fn(b, rows, epoch)`` returns the batch's loss summed over its photos (so each photo's gradient
    does not depend on the batch size). ``plateau`` = (tol, patience, min_epochs) stops once the epoch loss
    changed by less than ``tol`` (relative) for ``patience`` epochs in a row, after ``min_epochs``; methods
    with schedules pass None and run every epoch. Returns the per-photo loss of each epoch.
    """
    import torch

    n = slices[-1].stop
    optims = [torch.optim.Adam(p, lr=lr) for p in params] if params and params[0] else []
    shared_opt = torch.optim.Adam(list(shared), lr=shared_lr) if shared else None
    history: list[float] = []
    stalled = 0
    with reporter.stage(label, total=epochs) as advance:
        for e in range(first_epoch, first_epoch + epochs):
            total = 0.0
            for b, rows in enumerate(slices):
                if optims:
                    optims[b].zero_grad(set_to_none=True)
                if shared_opt is not None:
                    shared_opt.zero_grad(set_to_none=True)
                loss = loss_fn(b, rows, e)
                loss.backward()
                if optims:
                    optims[b].step()
                if shared_opt is not None:
                    shared_opt.step()
                total += float(loss.detach())
            history.append(total / n)
            advance(1, loss=f"{history[-1]:.4f}")
            if plateau is not None:
                tol, patience, min_epochs = plateau
                if len(history) > 1:
                    prev = history[-2]
                    stalled = stalled + 1 if abs(prev - history[-1]) <= tol * max(abs(prev), 1e-12) else 0
                if stalled >= patience and len(history) >= min_epochs:
                    break
    return history
