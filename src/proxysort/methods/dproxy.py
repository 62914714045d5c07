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

What proxysort adds for speed (benchmarks/results/sample-size.md, benchmarks/scale.py):

* **Word choice on a sample**: the pruning is a property of the library (which words its groups use), so
  by default (option ``sample`` = :data:`SAMPLE`) it is learned on the photos with the smallest vector
  digests, at most 1,024 of them, and every photo then gets the zero-shot view over the surviving words
  (``scores``, ``probs``, ``scoremix``; the default feature is ``scoremix``). The cost no longer grows with
  the library, and the result depends only on the photos, not on their order. ``sample`` 0 learns every
  photo's proxy and gives every feature.
* **Refine engine** (``engine="refine"``, the default; ``"adam"`` is the reference): the alignment term
  runs on a cheap model of the text path, the mix of the filled-in prompts normalise(p·T), corrected
  every :data:`EXACT_EVERY` epochs (option ``exact_every``) by one exact forward+backward pass so that its
  gradient in p equals the encoder's there (the multi-fidelity correction of refine.py). Every pruning
  decision still reads exact prompt features (one exact forward pass). Per photo of the sample: 12 exact
  forward+backward passes and three forward passes, instead of 24 and three. (One correction per quarter
  of the epochs, a third of that, dropped a used word on 2 of 6 small photo sets: -0.07 NMI on pattern.)

Features: ``prompt``, ``proxy``, ``weights`` (over the surviving words), ``concat``, ``fused`` (gated),
``scores``, ``probs``, ``scoremix`` with ``sample`` 0; the last three with a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from proxysort.methods import common
from proxysort.progress import OneBar

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
#: Epochs unless told otherwise, on every device: a GPU gives the CPU's word choice, faster (the pruning
#: schedule is what decides; more epochs on a GPU would make the two devices sort differently).
EPOCHS = 24
#: Refine engine: epochs between exact corrections (option ``exact_every``), counted from each pruning.
EXACT_EVERY = 2
#: Photos the word choice is learned on by default (see :func:`sample_rows`).
SAMPLE = 1024
#: The features a word choice gives every photo without learning its own proxy (``sample`` > 0).
CHOICE_FEATURES = ("scores", "probs", "scoremix")


@dataclass(frozen=True)
class Choice:
    """One concept's outcome of DProxy's pruning: the indices of the words kept, in the concept's order."""

    kept: tuple[int, ...]
    history: list[float]
    photos: int  # how many photos it was learned on


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


def exact_alignment(pb: "common.Problem", p: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
    """Per photo 1 − ⟨h(p·G), x⟩: the mix ``p`` of candidate tokens through CLIP's text path."""
    return 1.0 - (pb.encoder.encode(p @ pb.G) * x).sum(-1)


def surrogate_alignment(pb: "common.Problem", p: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
    """Per photo 1 − ⟨normalise(p·T), x⟩: the text encoder replaced by the mix of the filled-in prompts."""
    import torch

    return 1.0 - (torch.nn.functional.normalize(p @ pb.T, dim=-1) * x).sum(-1)


def correction(pb: "common.Problem", p0: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
    """Per photo, the slope that makes surrogate + slope·(p − p0) match the exact alignment's gradient at p0.

    One exact forward and backward pass. The model is corrected in the mix p, what the encoder sees, so it
    stays valid while the temperature schedule changes how the logits map to p.
    """
    import torch

    p = p0.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (exact,) = torch.autograd.grad(exact_alignment(pb, p, x).sum(), p)
        (cheap,) = torch.autograd.grad(surrogate_alignment(pb, p, x).sum(), p)
    return exact - cheap


@dataclass
class _Run:
    """DProxy's learning on some photos: the per-concept problems, surviving words and loss per epoch."""

    problems: list["common.Problem"]
    active: list[list[int]]
    history: list[float]
    snapshot: Callable[[int, int], tuple["torch.Tensor", "torch.Tensor"]]
    X: "torch.Tensor"
    epochs: int


def _learn(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> _Run:
    """Adam with the schedules and the pruning of the module docstring, on every row of ``image_features``,
    with torch's random state seeded from ``config.seed`` and restored afterwards."""
    import torch

    cuda = [clip.device.index or 0] if clip.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(config.seed)
        return _learn_seeded(image_features, concepts, clip, config, reporter)


def _learn_seeded(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> _Run:
    import torch

    device, X, _, slices = common.prepare(image_features, concepts, clip, config)
    epochs = config.epochs if config.epochs is not None else EPOCHS
    problems = [common.setup(c, clip, X, config, reporter) for c in concepts]
    U = common.concept_words(problems)
    scale = common.logit_scale(clip)
    lr = config.lr if config.lr is not None else DEFAULT_LR
    k_opt = common.option(config, "k", 0.0)
    k = int(k_opt) if k_opt >= 1 else None
    tau_end = common.option(config, "tau_end", TAU_END)
    gamma_u = common.option(config, "gamma_u", GAMMA_U)
    gamma_d = common.option(config, "gamma_d", GAMMA_D)
    logits = [[(scale * pb.Z[rows]).clone().requires_grad_(True) for pb in problems] for rows in slices]
    active = [list(range(len(pb.words))) for pb in problems]
    masks = [torch.zeros(len(pb.words), device=device) for pb in problems]
    span = max(epochs - 1, 1)

    def mix(b: int, c: int, e: int) -> "torch.Tensor":
        tau = tau_end ** (min(e, span) / span)
        return ((logits[b][c] + masks[c]) / tau).softmax(-1)

    refine = config.engine == "refine"
    every = int(common.option(config, "exact_every", EXACT_EVERY))
    quarter = 0  # first epoch of the current quarter: corrections are taken every `every` epochs from it
    corrections: dict[tuple[int, int], tuple[int, "torch.Tensor", "torch.Tensor"]] = {}

    def alignment(b: int, c: int, p: "torch.Tensor", rows: slice, e: int) -> "torch.Tensor":
        if not refine:
            return exact_alignment(problems[c], p, X[rows]).sum()
        anchor = quarter + (e - quarter) // every * every
        if corrections.get((b, c), (None,))[0] != anchor:  # one exact forward+backward at the current point
            p0 = p.detach()
            corrections[b, c] = (anchor, p0, correction(problems[c], p0, X[rows]))
        _, p0, slope = corrections[b, c]
        return (surrogate_alignment(problems[c], p, X[rows]) + ((p - p0) * slope).sum(-1)).sum()

    def loss_fn(b: int, rows: slice, e: int) -> "torch.Tensor":
        total = X.new_zeros(())
        t = min(e, span) / span
        for c, pb in enumerate(problems):
            p = mix(b, c, e)
            w = p @ pb.G
            total = total + alignment(b, c, p, rows, e)
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
    with reporter.progress(f"learning proxies (dproxy, {X.shape[0]} photos)", total=epochs) as advance:
        quarters = OneBar(reporter, advance)  # one bar for the run, not one per quarter
        while epoch < epochs:
            run = min(step, epochs - epoch)
            quarter = epoch
            history += common.loop(logits, [], slices, loss_fn, run, lr, 0.0, quarters,
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
    return _Run(problems, active, history, snapshot, X, epochs)


def sample_size(config: "ProxyConfig") -> int:
    """Photos the word choice is learned on (option ``sample``; 0 = every photo, with every feature)."""
    size = common.option(config, "sample", SAMPLE)
    if size < 0 or size != int(size):
        from proxysort.errors import UsageError

        raise UsageError(f"`sample` must be a whole number of photos, at least 0 (0 = every photo), not {size:g}.")
    return int(size)


def sample_rows(keys: Sequence[str], size: int) -> "np.ndarray":
    """The rows of the ``size`` photos with the smallest vector digests ``keys``, in digest order (all when fewer).

    A property of the vectors alone: the same photos give the same sample whatever their order or paths,
    on any machine, and a photo added to a large library joins it only if its digest is that small.
    """
    import numpy as np

    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    return np.asarray(order[:size], dtype=np.int64)


def choose_words(
    sample: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> list[Choice]:
    """The words each concept keeps after DProxy's learning and pruning on the photos ``sample`` (every row).

    Concepts do not meet in DProxy's loss (each has its own logits, and Adam is elementwise), so a concept's
    choice is the same whether it is learned alone or with others.
    """
    run = _learn(sample, concepts, clip, config, reporter)
    return [Choice(tuple(act), list(run.history), len(sample)) for act in run.active]


def chosen(
    concept: "Concept", clip: "ClipModel", image_features: "np.ndarray", choice: Choice, config: "ProxyConfig",
    reporter: "Reporter",
) -> "ProxyResult":
    """Every photo's zero-shot view (``scores``, ``probs``, ``scoremix``) over the words ``choice`` kept."""
    import numpy as np
    import torch

    from proxysort.proxy import ProxyResult, zero_shot_features

    X = common.unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32), device=clip.device))
    pb = common.setup(concept, clip, X, config, reporter)
    kept = list(choice.kept)
    T, Z = pb.T[kept], pb.Z[:, kept]
    return ProxyResult(_survivors(pb, kept), zero_shot_features(Z, common.logit_scale(clip)),
                       T.cpu().numpy().astype(np.float32), Z.cpu().numpy().astype(np.float32),
                       choice.history, len(choice.history))


def _survivors(pb: "common.Problem", kept: list[int]) -> "Concept":
    from proxysort.proxy import Concept

    words = tuple(pb.words[j] for j in kept)
    c = pb.concept
    return Concept(c.name, words, noun=c.noun, template=c.template) if len(words) >= 2 else c


def learn(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> list["ProxyResult"]:
    """DProxy's result per concept: with a ``sample`` (the default), the zero-shot features over the words
    learned on the sample; with ``sample`` 0, every photo's learned proxy and every feature."""
    import numpy as np
    import torch

    from proxysort.proxy import ProxyResult

    size = sample_size(config)
    if size:
        from proxysort.proxy import photo_keys

        rows = sample_rows(photo_keys(image_features), size)
        choices = choose_words(np.asarray(image_features)[rows], concepts, clip, config, reporter)
        return [chosen(c, clip, image_features, ch, config, reporter) for c, ch in zip(concepts, choices)]
    run = _learn(image_features, concepts, clip, config, reporter)
    scale = common.logit_scale(clip)
    gate_bias = common.option(config, "gate_bias", GATE_BIAS)
    X = run.X
    results = []
    with torch.no_grad():
        for c, pb in enumerate(run.problems):
            p, h = run.snapshot(c, max(run.epochs, 1) - 1)
            act = run.active[c]
            w = p @ pb.G
            align = (h * X).sum(-1)
            gate = torch.sigmoid(gate_bias + (align - align.mean()) / align.std().clamp_min(1e-6))
            T = pb.T[act]
            feats = common.features(h, X, T, config.fuse_weight, w=w, weights=p[:, act], gate=gate, scale=scale)
            results.append(ProxyResult(_survivors(pb, act), feats, T.cpu().numpy().astype(np.float32),
                                       pb.Z[:, act].cpu().numpy().astype(np.float32), list(run.history),
                                       len(run.history)))
    return results
