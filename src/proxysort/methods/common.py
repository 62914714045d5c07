"""What every seed method shares: the per-concept tensors, the per-image Adam loop, the output features.

Kept apart from proxy.py's own loop on purpose: the methods need hooks the basic modes do not (shared
parameters such as Multi-Sub's image map, per-epoch schedules, candidate pruning), and proxy.py's loop is
tuned for speed on its own. Both use the same exact text path (:class:`proxysort.textpath.PromptEncoder`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from proxysort.errors import UsageError
from proxysort.proxy import scoremix

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.progress import Reporter
    from proxysort.proxy import Concept, ProxyConfig
    from proxysort.textpath import PromptEncoder

#: Epoch budgets when ``ProxyConfig.epochs`` is None (the same CPU/GPU split as the basic modes).
DEFAULT_EPOCHS = {"cpu": 24, "cuda": 300}
_MAX_LOGIT_SCALE = 100.0


@dataclass
class Problem:
    """One concept's fixed tensors: candidate token rows G (K×d_tok), prompt features T (K×D), cosines Z (N×K)."""

    concept: "Concept"
    encoder: "PromptEncoder"
    G: "torch.Tensor"
    T: "torch.Tensor"
    Z: "torch.Tensor"
    words: list[str] = field(default_factory=list)


def option(config: "ProxyConfig", name: str, default: float) -> float:
    """A method hyper-parameter from ``config.options`` (the library's escape hatch), else its default."""
    options = getattr(config, "options", None) or {}
    return float(options.get(name, default))


def setup(concept: "Concept", clip: "ClipModel", X: "torch.Tensor", config: "ProxyConfig", reporter: "Reporter") -> Problem:
    import torch

    from proxysort.textpath import PromptEncoder

    encoder = PromptEncoder(clip, concept.prompt, path=config.path, reporter=reporter)
    words = list(concept.words)
    G = torch.stack([encoder.word_embedding(w) for w in words]).float()
    T = encoder.encode_words(words)
    return Problem(concept, encoder, G, T, X @ T.T, words)


def logit_scale(clip: "ClipModel") -> float:
    """CLIP's learned temperature (100 for the released weights)."""
    scale = getattr(clip.model, "logit_scale", None)
    return min(float(scale.exp()), _MAX_LOGIT_SCALE) if scale is not None else _MAX_LOGIT_SCALE


def batches(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def unit(a: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.nn.functional.normalize(a, dim=-1)


def prepare(image_features: "np.ndarray", concepts: Sequence["Concept"], clip: "ClipModel", config: "ProxyConfig"):
    """Validated device, unit image tensor X, epoch budget and batch slices, as proxy.learn_proxies does."""
    import numpy as np
    import torch

    from proxysort.encoders import resolve_device

    if not concepts:
        raise UsageError("Give at least one concept to sort by.")
    if image_features.ndim != 2 or image_features.shape[0] == 0:
        raise UsageError("There are no image features to learn proxies for.")
    if image_features.shape[1] != clip.embed_dim:
        raise UsageError(
            f"The image features have {image_features.shape[1]} dimensions but the model embeds in "
            f"{clip.embed_dim}: they come from a different model."
        )
    device = clip.device
    if (config.device or "auto").lower() != "auto" and resolve_device(config.device).type != device.type:
        raise UsageError(
            f"Proxies were asked for on {config.device} but the CLIP model is loaded on {device.type}; "
            "load the model on the same device (ModelSpec(device=...))."
        )
    epochs = config.epochs if config.epochs is not None else DEFAULT_EPOCHS.get(device.type, DEFAULT_EPOCHS["cpu"])
    X = unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32), device=device))
    # The methods couple the photos of a batch (DProxy's entropy of the batch mean, Multi-Sub's pseudo-labels),
    # so a GPU takes the CPU's batches unless told otherwise: it then gives the CPU's result, faster.
    size = (config.gpu_batch_size or config.batch_size) if device.type == "cuda" else config.batch_size
    return device, X, epochs, batches(X.shape[0], size)


def concept_words(problems: Sequence[Problem], negatives: Sequence[str] = ()) -> "torch.Tensor":
    """Token rows φ(u) of every concept being sorted, then of extra negative concept words."""
    import torch

    own = [pb.encoder.word_embedding(pb.concept.name) for pb in problems]
    others = [problems[0].encoder.word_embedding(w) for w in negatives]
    return torch.stack(own + others).float()


def loop(
    params: list[list["torch.Tensor"]],
    shared: list["torch.Tensor"],
    slices: list[slice],
    loss_fn: Callable[[int, slice, int], "torch.Tensor"],
    epochs: int,
    lr: float,
    shared_lr: float,
    reporter: "Reporter",
    label: str,
    *,
    first_epoch: int = 0,
    plateau: "tuple[float, int, int] | None" = None,
) -> list[float]:
    """Adam over per-image parameters (one optimiser per batch) and shared ones, ``epochs`` passes.

    ``loss_fn(b, rows, epoch)`` returns the batch's loss summed over its images. ``plateau`` =
    (tol, patience, min_epochs) stops early on a flat loss, like the basic modes; methods with schedules
    pass None and run every epoch. Returns the per-image loss of each epoch.
    """
    import torch

    n = slices[-1].stop
    optims = [torch.optim.Adam(p, lr=lr) for p in params] if params and params[0] else []
    shared_opt = torch.optim.Adam(shared, lr=shared_lr) if shared else None
    history: list[float] = []
    stalled = 0
    with reporter.progress(label, total=epochs) as advance:
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
            if plateau is not None and len(history) > 1:
                tol, patience, min_epochs = plateau
                prev = history[-2]
                stalled = stalled + 1 if abs(prev - history[-1]) <= tol * max(abs(prev), 1e-12) else 0
                if stalled >= patience and len(history) >= min_epochs:
                    break
    return history


def features(
    h: "torch.Tensor",
    x: "torch.Tensor",
    T: "torch.Tensor",
    fuse_weight: float,
    *,
    w: "torch.Tensor | None" = None,
    weights: "torch.Tensor | None" = None,
    gate: "torch.Tensor | None" = None,
    scale: float | None = None,
) -> dict[str, "np.ndarray"]:
    """The k-means candidates (METHOD §4) as float32 numpy arrays.

    ``x`` is the image side the method ended with (Multi-Sub's mapped images; otherwise the inputs), ``h``
    the unit prompt features, ``w`` the proxy rows. ``scores`` is the image's cosine with every candidate
    prompt: the zero-shot score vector (Multi-Sub: after its image map). ``gate`` (N, in [0, 1]) replaces
    the fixed ``fuse_weight`` in ``fused`` by a per-image weight. With ``scale`` (CLIP's logit scale),
    ``probs`` is CLIP's softmax of ``scores``: the zero-shot probability vector over the candidates, and
    ``scoremix`` is :func:`scoremix` of the two.
    """
    import torch

    with torch.no_grad():
        g = gate[:, None] if gate is not None else torch.full_like(h[:, :1], fuse_weight)
        out = {
            "prompt": h,
            "fused": unit(g * h + (1.0 - g) * x),
            "scores": x @ T.T,
            "concat": torch.cat([unit(w) if w is not None else h, x], dim=1) / math.sqrt(2.0),
        }
        if scale is not None:
            out["probs"] = (scale * out["scores"]).softmax(-1)
            out["scoremix"] = scoremix(out["scores"], out["probs"])
        if w is not None:
            out["proxy"] = w
        if weights is not None:
            out["weights"] = weights
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}
