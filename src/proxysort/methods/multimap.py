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
modes. Features: ``prompt``, ``proxy``, ``concat`` ([proxy, image]), ``fused``, ``scores``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from proxysort.methods import common

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.progress import Reporter
    from proxysort.proxy import Concept, ProxyConfig, ProxyResult

#: Aspects a photo collection is commonly sorted by; those that are not being sorted act as negatives.
NEGATIVES = ("color", "shape", "size", "material", "background", "style", "species", "place", "pose", "pattern")
DEFAULT_LR = 1e-3
DEFAULT_GAMMA = 0.1


def learn(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> list["ProxyResult"]:
    import numpy as np
    import torch

    from proxysort.proxy import ProxyResult, seeded

    with seeded(config.seed, clip.device):
        device, X, epochs, slices = common.prepare(image_features, concepts, clip, config)
        problems = [common.setup(c, clip, X, config, reporter) for c in concepts]
        names = {pb.concept.name.casefold() for pb in problems}
        negatives = [w for w in NEGATIVES if w not in names]
        U = common.concept_words(problems, negatives)
        gamma = common.option(config, "gamma", DEFAULT_GAMMA)
        lr = config.lr if config.lr is not None else DEFAULT_LR

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
                        common.unit(w) @ common.unit(U).T * 10.0, target, reduction="sum")
            return total

        history: list[float] = []
        if epochs > 0:
            history = common.loop(deltas, [], slices, loss_fn, epochs, lr, 0.0, reporter, "learning proxies (multimap)",
                                  plateau=(config.tol, config.patience, config.min_epochs))
        results = []
        with torch.no_grad():
            for c, pb in enumerate(problems):
                w = torch.cat([base[c][rows] + deltas[b][c] for b, rows in enumerate(slices)])
                h = torch.cat([pb.encoder.encode(w[rows]) for rows in slices])
                feats = common.features(h, X, pb.T, config.fuse_weight, w=w)
                results.append(ProxyResult(pb.concept, feats, pb.T.cpu().numpy().astype(np.float32),
                                           pb.Z.cpu().numpy().astype(np.float32), list(history), len(history)))
        return results
