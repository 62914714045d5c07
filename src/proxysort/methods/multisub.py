"""Multi-Sub (NeurIPS 2024): subspace proxies with a learnable image side, in two alternating phases.

Per image i the proxy is w_i = softmax(λ_i)·G (inside the candidates' convex hull), λ_i initialised from
the zero-shot scores at CLIP's logit scale. The image side is x'_i = normalise(P x_i) with one shared
D×D matrix P initialised at the identity.

* **Phase I** (alignment): λ and P minimise Σ_i 1 − ⟨x'_i, h(w_i)⟩ + ρ N ‖P − I‖²_F. The penalty keeps P
  near the identity: without it P can map every photo onto one prompt and the loss reaches zero with
  nothing learned.
* **Phase II** (clustering): pseudo-labels y_i = argmax softmax(λ_i) (the dominant candidate of each
  proxy); with f_i = [normalise(w_i), x'_i]/√2 and c_k the mean f of pseudo-class k, P minimises
  Σ_i ‖f_i − c_{y_i}‖² (intra) + N · mean_{k≠l} max(0, m − ‖c_k − c_l‖)² (inter, margin m) + the same ρ
  penalty; λ is frozen.
  Phase II is what lets the image side separate photos the candidate words lump together.

The two phases alternate for ``ROUNDS`` rounds; each round spends two thirds of its epochs in phase I.

**Why a linear map on cached vectors.** The paper fine-tunes the image encoder's last projection. proxysort
caches only the projected, normalised image vectors (the index is shared by every command and model
forward passes are the expensive part), so the projection's input is not available. A D×D map applied
after the projection, started at the identity, has the same effect on where the photos land (the
composition P·W_proj is a learnable projection of the same features, up to the normalisation), costs
nothing to run and needs no change to the cache. Storing the pre-projection features would double the
index and tie it to one model's internals for one method.

Features: ``prompt``, ``proxy``, ``weights``, ``concat`` ([proxy, mapped image], what phase II shapes),
``fused``, ``scores`` (the mapped image against the candidate prompts), made in NumPy from each photo's
prompt feature, weights and mapped image, which the proxy cache keeps (for an identical set of photos:
the image map is the whole set's), so a re-run served from it needs no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from proxysort.learn import engine, textonly
from proxysort.learn.core import ProxyResult, result, seeded, unit
from proxysort.learn.method import Epochs, Learned, Method, Rows, Run, Words, take
from proxysort.learn.options import Options, option

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.learn.core import Concept
    from proxysort.rows import Matrix

ROUNDS = 3


@dataclass(frozen=True)
class MultiSubOptions(Options):
    rho: float = option(1.0, "weight of the penalty keeping the image map near the identity", minimum=0)
    margin: float = option(0.5, "phase II margin between pseudo-class centres", minimum=0)
    map_lr: float = option(1e-3, "Adam step size of the image map", minimum=0)


def _phase_two_loss(f: "torch.Tensor", labels: "torch.Tensor", k: int, margin: float) -> "torch.Tensor":
    """Intra-class spread plus a hinge on centre distances below ``margin`` (pseudo-classes present only)."""
    import torch

    onehot = torch.nn.functional.one_hot(labels, k).float()
    counts = onehot.sum(0)
    all_centres = (onehot.T @ f) / counts.clamp(min=1.0)[:, None]
    intra = (f - onehot @ all_centres).pow(2).sum()
    centres = all_centres[counts > 0]
    m = centres.shape[0]
    if m < 2:
        return intra
    d = torch.cdist(centres, centres)
    off = ~torch.eye(m, dtype=torch.bool, device=f.device)
    inter = torch.clamp(margin - d[off], min=0).pow(2).mean()
    return intra + f.shape[0] * inter


def learn(image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel", run: Run) -> list[ProxyResult]:
    import torch

    from proxysort.rows import whole

    config, opts = run.config, run.options
    rho, margin, map_lr, lr, epochs = opts.rho, opts.margin, opts.map_lr, run.lr, run.epochs
    where = engine.device(config, clip)
    with seeded(config.seed, where):
        X = engine.images(image_features, where)
        slices = engine.batches(X.shape[0], engine.batch_size(config, where, clip, coupled=True))
        n, d = X.shape
        problems = [engine.setup(c, clip, X, run) for c in concepts]
        scale = engine.logit_scale(clip)
        # One image map per concept: each concept wants a different view of the same photos.
        maps = [torch.eye(d, device=where).requires_grad_(True) for _ in problems]
        eye = torch.eye(d, device=where)
        logits = [[(scale * pb.Z[rows]).clone().requires_grad_(True) for pb in problems] for rows in slices]

        def mapped(c: int, rows: slice) -> "torch.Tensor":
            return unit(X[rows] @ maps[c].T)

        def penalty(c: int, rows: slice) -> "torch.Tensor":
            share = (rows.stop - rows.start) / n  # the whole penalty once per epoch, spread over batches
            return rho * n * share * (maps[c] - eye).pow(2).sum()

        def phase_one(b: int, rows: slice, _e: int) -> "torch.Tensor":
            total = X.new_zeros(())
            for c, pb in enumerate(problems):
                h = pb.encoder.encode(logits[b][c].softmax(-1) @ pb.G)
                total = total + (1.0 - (h * mapped(c, rows)).sum(-1)).sum() + penalty(c, rows)
            return total

        def phase_two(b: int, rows: slice, _e: int) -> "torch.Tensor":
            total = X.new_zeros(())
            for c, pb in enumerate(problems):
                with torch.no_grad():
                    lam = logits[b][c].softmax(-1)
                    w = unit(lam @ pb.G)
                    y = lam.argmax(-1)
                f = torch.cat([w, mapped(c, rows)], dim=1) / math.sqrt(2.0)
                total = total + _phase_two_loss(f, y, len(pb.words), margin) + penalty(c, rows)
            return total

        history: list[float] = []
        per_round = max(1, epochs // ROUNDS) if epochs else 0
        one = max(1, round(per_round * 2 / 3)) if per_round else 0
        two = per_round - one
        epoch = 0
        for r in range(ROUNDS if epochs else 0):
            history += engine.adam(logits, slices, phase_one, one, lr, run.reporter,
                                   f"fitting the words to each photo: {n} photos (round {r + 1} of {ROUNDS})",
                                   shared=maps, shared_lr=map_lr, first_epoch=epoch)
            epoch += one
            if two:
                # Phase II shapes the image map only; per-image logits stay frozen (no optimiser for them).
                history += engine.adam([[]], slices, phase_two, two, lr, run.reporter,
                                       f"fitting the words to each photo: {n} photos (round {r + 1} of {ROUNDS}, second half)",
                                       shared=maps, shared_lr=map_lr, first_epoch=epoch)
                epoch += two

        results = []
        images = textonly.unit_rows(whole(image_features))
        with torch.no_grad():
            for c, pb in enumerate(problems):
                lam = torch.cat([logits[b][c] for b in range(len(slices))]).softmax(-1)
                w = lam @ pb.G
                h = torch.cat([pb.encoder.encode(w[rows]) for rows in slices])
                xm = unit(X @ maps[c].T)
                learned = torch.cat([lam, xm], dim=1).float().cpu().numpy()
                results.append(rebuild(pb.concept, images, h.float().cpu().numpy(), learned,
                                       engine.words(pb.concept, clip, run), run, history))
        return results


def rebuild(concept: "Concept", images: "np.ndarray", prompt: "np.ndarray", learned: "np.ndarray | None",
            words: Words, run: Run, history: Sequence[float]) -> ProxyResult:
    """The result from its rows, in NumPy: unit prompt features ``prompt``; ``learned`` holds each photo's
    weights over the K words, then its mapped image (D); the proxies are the weights over the words' token
    rows. How :func:`learn` makes it too, so one served from the store has its bits."""
    assert learned is not None and words.tokens is not None  # declared: Rows(tokens=True)
    T, k = words.features, words.features.shape[0]
    lam, xm = learned[:, :k], learned[:, k:]
    feats = textonly.features(prompt, xm, T, run.config.fuse_weight, w=lam @ words.tokens, weights=lam,
                              scale=words.scale)
    return result(concept, Learned(feats, learned), T, images @ T.T, history, METHOD.default_feature)


METHOD = Method(
    "multisub", "Multi-Sub (NeurIPS 2024): subspace proxies with a learnable image map, two phases", learn,
    features=("prompt", "proxy", "weights", "concat", "fused", "scores", "probs", "scoremix"),
    default_feature="concat", epochs=Epochs(24, 300), lr=0.1, options=MultiSubOptions,
    rows=Rows(take, rebuild, tokens=True),
)
