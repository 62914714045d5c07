"""Multi-DProxy (AAAI 2026): a temperature subspace proxy, scheduled terms, candidate pruning, gated fusion.

Per image i, p_i = softmax(λ_i / τ_e) over the *active* candidates and w_i = p_i·G. λ_i starts at the
zero-shot scores times CLIP's logit scale. Choices where the paper leaves details open (measured in
benchmarks/results/quality.md):

* **Temperature**: τ_e falls geometrically from 1 to ``TAU_END`` = 0.5 over the epochs, so proxies start
  as soft mixtures and end near single words.
* **User interest**: γ_u(e)·(1 − cos(w_i, φ(u))), a pull of the proxy toward the concept word's token,
  strongest at the start (γ_u falls linearly from ``GAMMA_U`` = 0.1 to 0): it steers early epochs toward
  the named aspect and then lets the alignment decide.
* **Concept discriminability**: γ_d(e)·(H(p_i) − H(p̄)), per-image entropy minus the entropy of the batch's
  mean mixture (confident proxies that still use every active word); γ_d rises linearly from 0 to
  ``GAMMA_D`` = 0.05, so it only acts once the alignment has placed the proxies.
* **Pruning**: every R = epochs / 4 epochs the candidate list is halved. Usage of a word = the sum, over
  k-means centres of the prompt features (k = option ``k`` if the caller knows it, else the number of
  active words), of the centre's mean mixing weight for that word. The least-used half is dropped, never
  below k words; without a known k a word is kept whatever its rank while its usage is at least half the
  mean (nothing justifies dropping a word the clusters use). Pruned words leave the result: names come
  from the survivors.
* **Gated fusion**: the ``fused`` feature is normalise(g_i h_i + (1 − g_i) x_i) with a per-image gate
  g_i = σ(``GATE_BIAS`` + standardised alignment ⟨x_i, h_i⟩): photos the surviving words describe well
  are clustered by their prompt, photos no word fits (a value missing from the list) lean on the image.

Features: ``prompt``, ``proxy``, ``weights`` (over the surviving words), ``concat``, ``fused`` (gated), ``scores``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from proxysort.methods import common

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.progress import Reporter
    from proxysort.proxy import Concept, ProxyConfig, ProxyResult

DEFAULT_LR = 0.1
TAU_END = 0.5
GAMMA_U = 0.1
GAMMA_D = 0.05
GATE_BIAS = 1.0
PRUNINGS = 4  # the list may be halved after each quarter of the epochs but the last


def _entropy(p: "torch.Tensor") -> "torch.Tensor":
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def usage(prompts: "np.ndarray", mix: "np.ndarray", k: int, seed: int) -> "np.ndarray":
    """Per active word: the sum over k-means centres of the centre's mean mixing weight for it."""
    import numpy as np

    from proxysort.groups import kmeans

    k = max(1, min(k, len(prompts)))
    labels = kmeans(prompts, k, seed=seed, n_init=2).labels
    out = np.zeros(mix.shape[1])
    for c in range(k):
        members = labels == c
        if members.any():
            out += mix[members].mean(0)
    return out


def prune(active: list[int], scores: "np.ndarray", k: int | None) -> list[int]:
    """Keep the better-used half of ``active`` (never fewer than k; without k, every well-used word)."""
    import numpy as np

    floor = max(2, k or 2)
    if len(active) <= floor:
        return active
    keep_n = max(floor, math.ceil(len(active) / 2))
    order = np.argsort(-scores, kind="stable")
    keep = set(order[:keep_n].tolist())
    if k is None:
        keep |= {int(j) for j in np.nonzero(scores >= 0.5 * scores.mean())[0]}
    return [active[j] for j in sorted(keep)]


def learn(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> list["ProxyResult"]:
    import numpy as np
    import torch

    from proxysort.proxy import Concept, ProxyResult

    cuda = [clip.device.index or 0] if clip.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(config.seed)
        device, X, epochs, slices = common.prepare(image_features, concepts, clip, config)
        problems = [common.setup(c, clip, X, config, reporter) for c in concepts]
        U = common.concept_words(problems)
        scale = common.logit_scale(clip)
        lr = config.lr if config.lr is not None else DEFAULT_LR
        k_opt = common.option(config, "k", 0.0)
        k = int(k_opt) if k_opt >= 1 else None
        tau_end = common.option(config, "tau_end", TAU_END)
        gamma_u = common.option(config, "gamma_u", GAMMA_U)
        gamma_d = common.option(config, "gamma_d", GAMMA_D)
        gate_bias = common.option(config, "gate_bias", GATE_BIAS)
        logits = [[(scale * pb.Z[rows]).clone().requires_grad_(True) for pb in problems] for rows in slices]
        active = [list(range(len(pb.words))) for pb in problems]
        masks = [torch.zeros(len(pb.words), device=device) for pb in problems]
        span = max(epochs - 1, 1)

        def mix(b: int, c: int, e: int) -> "torch.Tensor":
            tau = tau_end ** (min(e, span) / span)
            return ((logits[b][c] + masks[c]) / tau).softmax(-1)

        def loss_fn(b: int, rows: slice, e: int) -> "torch.Tensor":
            total = X.new_zeros(())
            t = min(e, span) / span
            for c, pb in enumerate(problems):
                p = mix(b, c, e)
                w = p @ pb.G
                h = pb.encoder.encode(w)
                total = total + (1.0 - (h * X[rows]).sum(-1)).sum()
                if gamma_u:
                    pull = 1.0 - torch.nn.functional.cosine_similarity(w, U[c][None], dim=-1)
                    total = total + gamma_u * (1.0 - t) * pull.sum()
                if gamma_d and t > 0:
                    total = total + gamma_d * t * (_entropy(p).sum() - p.shape[0] * _entropy(p.mean(0)))
            return total

        def snapshot(c: int, e: int) -> tuple["torch.Tensor", "torch.Tensor"]:
            with torch.no_grad():
                p = torch.cat([mix(b, c, e) for b in range(len(slices))])
                w = p @ problems[c].G
                h = torch.cat([problems[c].encoder.encode(w[rows]) for rows in slices])
            return p, h

        history: list[float] = []
        step = max(1, epochs // PRUNINGS) if epochs else 0
        epoch = 0
        while epoch < epochs:
            run = min(step, epochs - epoch)
            history += common.loop(logits, [], slices, loss_fn, run, lr, 0.0, reporter,
                                   "learning proxies (dproxy)", first_epoch=epoch)
            epoch += run
            if epoch >= epochs:
                break
            for c, pb in enumerate(problems):
                p, h = snapshot(c, epoch)
                act = active[c]
                use = usage(h.cpu().numpy(), p[:, act].cpu().numpy(), k or len(act), config.seed)
                kept = prune(act, use, k)
                if len(kept) < len(act):
                    active[c] = kept
                    masks[c].fill_(-1e4)
                    masks[c][kept] = 0.0

        results = []
        with torch.no_grad():
            for c, pb in enumerate(problems):
                p, h = snapshot(c, max(epochs, 1) - 1)
                act = active[c]
                w = p @ pb.G
                align = (h * X).sum(-1)
                gate = torch.sigmoid(gate_bias + (align - align.mean()) / align.std().clamp_min(1e-6))
                T = pb.T[act]
                feats = common.features(h, X, T, config.fuse_weight, w=w, weights=p[:, act], gate=gate, scale=scale)
                words = tuple(pb.words[j] for j in act)
                concept = Concept(pb.concept.name, words, noun=pb.concept.noun, template=pb.concept.template) \
                    if len(words) >= 2 else pb.concept
                results.append(ProxyResult(concept, feats, T.cpu().numpy().astype(np.float32),
                                           pb.Z[:, act].cpu().numpy().astype(np.float32), list(history), len(history)))
        return results
