"""Multi-MaP (CVPR 2024), complete: a free proxy word with all three of the paper's constraints.

Per image i, w_i = φ(z_i) + δ_i, where z_i is the zero-shot candidate and δ_i is free. The loss sums over
images and concepts:

* alignment: 1 − ⟨x_i, h(w_i)⟩, the prompt "… with a <concept> of *" must say what the photo shows;
* reference word: α‖δ_i‖² (α = ``config.alpha``), the proxy stays near a real candidate word;
* concept word: γ (1 − cos(w_i, φ(u))), the proxy is pulled toward the token of the concept word u itself,
  so it encodes the aspect the user named rather than whatever dominates the image (γ = option
  ``gamma``, default 0.1: a pull of this weight moves a proxy about a tenth of the way in 20 epochs; larger
  values dragged every proxy to u and merged clusters);
* concept contrast: β CE(softmax_j(w_i·φ(u_j))) toward its own concept (β = ``config.beta``). The negatives
  are the other concepts sorted in the same run plus :data:`NEGATIVES` (generic aspect words that are not
  the concept): a lone concept has no other concept to contrast with, and the paper's setting always had
  several, so generic aspects stand in for them.

Training: Adam (lr 1e-3, token-embedding units) per mini-batch, stopping on a loss plateau like the basic
modes. Features: ``prompt``, ``proxy``, ``concat`` ([proxy, image]), ``fused``, ``scores``, made in NumPy
from the prompt and proxy rows, which the proxy cache keeps (for an identical set of photos: the plateau
is the whole set's), so a re-run served from it needs no model.
"""

from __future__ import annotations

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

#: Aspects a photo collection is commonly sorted by; those that are not being sorted act as negatives.
NEGATIVES = ("color", "shape", "size", "material", "background", "style", "species", "place", "pose", "pattern")


@dataclass(frozen=True)
class MultiMapOptions(Options):
    gamma: float = option(0.1, "weight of the pull toward the concept word's token", minimum=0)


def learn(image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel", run: Run) -> list[ProxyResult]:
    import torch

    from proxysort.rows import whole

    config, gamma = run.config, run.options.gamma
    where = engine.device(config, clip)
    with seeded(config.seed, where):
        X = engine.images(image_features, where)
        slices = engine.batches(X.shape[0], engine.batch_size(config, where, clip, coupled=True))
        problems = [engine.setup(c, clip, X, run) for c in concepts]
        names = {pb.concept.name.casefold() for pb in problems}
        negatives = [w for w in NEGATIVES if w not in names]
        U = engine.concept_words(problems, negatives)

        base = [pb.G[pb.Z.argmax(dim=1)] for pb in problems]
        deltas = [[torch.zeros_like(bs[rows]).requires_grad_(True) for bs in base] for rows in slices]

        def loss_fn(b: int, rows: slice, _epoch: int) -> "torch.Tensor":
            total = X.new_zeros(())
            for c, pb in enumerate(problems):
                delta = deltas[b][c]
                w = base[c][rows] + delta
                h = pb.encoder.encode(w)
                total = total + (1.0 - (h * X[rows]).sum(-1)).sum()
                total = total + config.alpha * delta.pow(2).sum()
                if gamma:
                    total = total + gamma * (1.0 - torch.nn.functional.cosine_similarity(w, U[c][None], dim=-1)).sum()
                if config.beta and len(U) > 1:
                    target = torch.full((w.shape[0],), c, dtype=torch.long, device=w.device)
                    total = total + config.beta * torch.nn.functional.cross_entropy(
                        unit(w) @ unit(U).T * 10.0, target, reduction="sum")
            return total

        history: list[float] = []
        if run.epochs > 0:
            history = engine.adam(deltas, slices, loss_fn, run.epochs, run.lr, run.reporter,
                                  f"fitting the words to each photo: {X.shape[0]} photos", plateau=(config.tol, config.patience, config.min_epochs))
        results = []
        images = textonly.unit_rows(whole(image_features))
        with torch.no_grad():
            for c, pb in enumerate(problems):
                w = torch.cat([base[c][rows] + deltas[b][c] for b, rows in enumerate(slices)])
                h = torch.cat([pb.encoder.encode(w[rows]) for rows in slices])
                results.append(rebuild(pb.concept, images, h.float().cpu().numpy(), w.float().cpu().numpy(),
                                       engine.words(pb.concept, clip, run, tokens=False), run, history))
        return results


def rebuild(concept: "Concept", images: "np.ndarray", prompt: "np.ndarray", learned: "np.ndarray | None",
            words: Words, run: Run, history: Sequence[float]) -> ProxyResult:
    """The result from its rows (unit prompt features ``prompt``, proxy rows ``learned``) and the prompts'
    text features, in NumPy: how :func:`learn` makes it too, so one served from the store has its bits."""
    assert learned is not None  # every photo has a proxy row
    T = words.features
    feats = textonly.features(prompt, images, T, run.config.fuse_weight, w=learned)
    return result(concept, Learned(feats, learned), T, feats["scores"], history, METHOD.default_feature)


METHOD = Method(
    "multimap", "Multi-MaP (CVPR 2024): a free proxy pulled toward the concept word", learn,
    features=("prompt", "proxy", "concat", "fused", "scores"), default_feature="prompt", epochs=Epochs(24, 300),
    lr=1e-3, options=MultiMapOptions, rows=Rows(take, rebuild),
)
