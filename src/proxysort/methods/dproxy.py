"""Multi-DProxy (AAAI 2026): a temperature subspace proxy, scheduled terms, candidate pruning, gated fusion.

Per image i, p_i = softmax(λ_i / τ_e) over the *active* candidates and w_i = p_i·G. λ_i starts at the
zero-shot scores times CLIP's logit scale. Choices where the paper leaves details open (measured in
benchmarks/results/quality.md):

* **Temperature**: τ_e falls geometrically from 1 to option ``tau_end`` = 0.5 over the epochs, so proxies start
  as soft mixtures and end near single words.
* **User interest**: γ_u(e)·(1 − cos(w_i, φ(u))), a pull of the proxy toward the concept word's token,
  strongest at the start (γ_u falls linearly from option ``gamma_u`` = 0.1 to 0): it steers early epochs toward
  the named aspect and then lets the alignment decide.
* **Concept discriminability**: γ_d(e)·(H(p_i) − H(p̄)), per-image entropy minus the entropy of the batch's
  mean mixture (confident proxies that still use every active word); γ_d rises linearly from 0 to
  option ``gamma_d`` = 0.05, so it only acts once the alignment has placed the proxies.
* **Pruning**: every R = epochs / 4 epochs the candidate list is halved. Usage of a word = the sum, over
  k-means centres of the prompt features (k = the ``k`` argument if the caller knows it, else the number of
  active words), of the centre's mean mixing weight for that word. The least-used half is dropped, never
  below k words; without a known k a word is kept whatever its rank while its usage is at least half the
  mean (nothing justifies dropping a word the clusters use). Pruned words leave the result: names come
  from the survivors. (Usage read with one centre per active word for every k would let all k share one
  path of halvings; measured, it moved shapes' imperfect size below zero-shot argmax, −0.013 NMI, so the
  pruning keeps k: benchmarks/results/quality.md.)
* **Gated fusion**: the ``fused`` feature is normalise(g_i h_i + (1 − g_i) x_i) with a per-image gate
  g_i = σ(option ``gate_bias`` + standardised alignment ⟨x_i, h_i⟩): photos the surviving words describe well
  are clustered by their prompt, photos no word fits (a value missing from the list) lean on the image.

What proxysort adds for speed (benchmarks/results/sample-size.md, benchmarks/scale.py):

* **Word choice on a sample**: the pruning is a property of the library (which words its groups use), so
  by default (option ``sample`` = :data:`SAMPLE`) it is learned on the photos with the smallest vector
  digests, at most 1,024 of them, and every photo then gets the zero-shot view over the surviving words
  (``scores``, ``probs``, ``scoremix``; the default feature is ``scoremix``). The cost no longer grows with
  the library, and the result depends only on the photos, not on their order. ``sample`` 0 learns every
  photo's proxy and gives every feature.
* **Only until the choice is known**: once the list is down to k words (or no pruning is left) later
  epochs cannot change the words, so a word choice stops learning there (a list of k words learns
  nothing). Each pruning reached is a :class:`Node`: the sample's parameters there and the usage for
  every k. Nodes are kept (``proxycache.py``), and a run with another k walks them, learning a stretch
  only where its words differ from every earlier run's.
* **Refine engine** (``engine="refine"``, the default; ``"adam"`` is the reference): the alignment term
  runs on a cheap model of the text path, the mix of the filled-in prompts normalise(p·T), corrected
  every 2 epochs (option ``exact_every``) by one exact forward+backward pass so that its
  gradient in p equals the encoder's there (the multi-fidelity correction of refine.py). Every pruning
  decision still reads exact prompt features (one exact forward pass). Per photo of the sample: at most 9
  exact forward+backward passes and three forward passes (the last quarter never changes the words), 3
  and one when the first halving reaches k, instead of 24 and three. (One correction per quarter
  of the epochs, a third of that, dropped a used word on 2 of 6 small photo sets: -0.07 NMI on pattern.)

Features: ``prompt``, ``proxy``, ``weights`` (over the surviving words), ``concat``, ``fused`` (gated),
``scores``, ``probs``, ``scoremix`` with ``sample`` 0; the last three with a sample.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

from proxysort.learn import engine
from proxysort.learn.core import Concept, ProxyResult, photo_keys, result, seeded
from proxysort.learn.method import Epochs, Method, Run
from proxysort.learn.options import Options, option
from proxysort.progress import OneBar

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.progress import Reporter
    from proxysort.rows import Matrix

PRUNINGS = 4  # the list may be halved after each quarter of the epochs but the last
#: Epochs unless told otherwise, on every device: a GPU gives the CPU's word choice, faster (the pruning
#: schedule is what decides; more epochs on a GPU would make the two devices sort differently).
EPOCHS = 24
#: Photos the word choice is learned on by default (see :func:`sample_rows`).
SAMPLE = 1024
#: The features a word choice gives every photo without learning its own proxy (``sample`` > 0).
CHOICE_FEATURES = ("scores", "probs", "scoremix")


@dataclasses.dataclass(frozen=True)
class DProxyOptions(Options):
    sample: int | None = option(None, f"photos the word choice is learned on (0: every photo, every feature; "
                                      f"default {SAMPLE}, or 0 when a feature only learned proxies give is clustered)",
                                minimum=0)
    tau_end: float = option(0.5, "temperature at the last epoch (from 1)", above=0)
    gamma_u: float = option(0.1, "weight of the user-interest pull at the first epoch (falls to 0)", minimum=0)
    gamma_d: float = option(0.05, "weight of the discriminability term at the last epoch (rises from 0)", minimum=0)
    exact_every: int = option(2, "refine engine: epochs between exact corrections", minimum=1)
    gate_bias: float = option(1.0, "bias of the per-photo gate of the fused feature")


@dataclasses.dataclass(frozen=True)
class Choice:
    """One concept's outcome of DProxy's pruning: the indices of the words kept, in the concept's order."""

    kept: tuple[int, ...]
    history: list[float]
    photos: int  # how many photos it was learned on
    learned: int = 0  # epochs learned for it by this call (0: every node came from the store)


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


#: A word that is the zero-shot choice of at least this share of an average group's photos (photos /
#: groups) is never pruned: the photos use it. Usage alone dropped true values from long lists (issue 21:
#: kept white and gray, lost red and orange, 0.46 NMI where zero-shot reached 1.00); the learned proxies'
#: own top words did too (they drift toward a distractor while the list is long), so it is the zero-shot one.
PROTECT_SHARE = 0.5


def used_words(Z: "np.ndarray", k: int | None) -> tuple[int, ...]:
    """The words (column indices of the photos × words zero-shot scores ``Z``) pruning must keep, most
    chosen first: each is the nearest word of :data:`PROTECT_SHARE` of an average group's photos (k groups,
    else one per word); with k, at most the k most chosen (the list still reaches k words)."""
    import numpy as np

    Z = np.asarray(Z)
    if Z.size == 0:
        return ()
    counts = np.bincount(Z.argmax(1), minlength=Z.shape[1])
    order = [int(j) for j in np.argsort(-counts, kind="stable")]
    used = [j for j in order if counts[j] >= PROTECT_SHARE * len(Z) / (k or Z.shape[1])]
    return tuple(used[:k] if k else used)


def prune(active: list[int], scores: "np.ndarray", k: int | None, used: Sequence[int] = ()) -> list[int]:
    """Keep the better-used half of ``active`` (never fewer than k; without k, every well-used word); the
    words in ``used`` (:func:`used_words`) take their places first, so the list shrinks as before but never
    loses a word the photos use."""
    import numpy as np

    floor = max(2, k or 2)
    if len(active) <= floor:
        return active
    keep_n = max(floor, math.ceil(len(active) / 2))
    protected = [active.index(w) for w in used if w in active]
    order = protected + [int(j) for j in np.argsort(-scores, kind="stable") if j not in protected]
    keep = set(order[:max(keep_n, len(protected))])
    if k is None:
        keep |= {int(j) for j in np.nonzero(scores >= 0.5 * scores.mean())[0]}
    return [active[j] for j in sorted(keep)]


def exact_alignment(pb: "engine.Problem", p: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
    """Per photo 1 − ⟨h(p·G), x⟩: the mix ``p`` of candidate tokens through CLIP's text path."""
    return 1.0 - (pb.encoder.encode(p @ pb.G) * x).sum(-1)


def surrogate_alignment(pb: "engine.Problem", p: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
    """Per photo 1 − ⟨normalise(p·T), x⟩: the text encoder replaced by the mix of the filled-in prompts."""
    import torch

    return 1.0 - (torch.nn.functional.normalize(p @ pb.T, dim=-1) * x).sum(-1)


def correction(pb: "engine.Problem", p0: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
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


Route = tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Node:
    """DProxy on a sample at one pruning epoch, reached by one sequence of word lists (its ``route``: the
    active word indices in force during each stretch of epochs since the start).

    ``logits`` are the sample's parameters (photos × words, float32) then: learning goes on from them with
    whichever words a k keeps. ``usage`` is what the pruning reads here, over ``route[-1]``, for every
    number of k-means centres a k can ask for, so any k takes its decision here without learning.
    ``history`` is the loss per epoch of the stretch that led here.
    """

    route: Route
    epoch: int
    usage: Mapping[int, tuple[float, ...]]
    logits: "np.ndarray"
    history: tuple[float, ...]


class Nodes(Protocol):
    """Where the nodes of one concept's learning are kept: memory, or the proxy cache (``proxycache.py``)."""

    def get(self, route: Route) -> Node | None: ...

    def put(self, node: Node) -> None: ...


class _MemoryNodes(dict):
    def put(self, node: Node) -> None:
        self[node.route] = node


def pruning_epochs(epochs: int) -> list[int]:
    """The epochs after which the word list may be halved: every quarter of the run but the last."""
    step = max(1, epochs // PRUNINGS) if epochs else 0
    return list(range(step, epochs, step)) if step else []


def _floor(k: int | None) -> int:
    return max(2, k or 2)


def _centres(k: int | None, active: Sequence[int], photos: int) -> int:
    """k-means centres the usage is read with: k if known, else one per active word (at most one per photo)."""
    return max(1, min(k or len(active), photos))


def horizon(words: int, k: int | None, epochs: int) -> int:
    """Epochs of learning after which the word choice for ``k`` is known: the pruning where the list
    reaches k words (later epochs cannot change it), or the last pruning (without k, where the number of
    words kept is not known in advance)."""
    size, last = words, 0
    for e in pruning_epochs(epochs):
        if size <= _floor(k):
            break
        last = e
        if k is not None:
            size = max(_floor(k), math.ceil(size / 2))
    return last


class _Learner:
    """Adam with the schedules of the module docstring on every row of ``image_features``, one concept and
    one stretch of epochs at a time (concepts never meet in the loss, and Adam is elementwise, so a concept
    learns the same alone or with others; each stretch starts a fresh Adam, as the pruning always did)."""

    def __init__(self, image_features: "np.ndarray", concepts: Sequence[Concept], clip: "ClipModel", run: Run) -> None:
        config, opts = run.config, run.options
        self.device = engine.device(config, clip)
        self.X = engine.images(image_features, self.device)
        self.slices = engine.batches(self.X.shape[0], engine.batch_size(config, self.device, clip, coupled=True))
        self.epochs = run.epochs
        self.problems = [engine.setup(c, clip, self.X, run) for c in concepts]
        self.U = engine.concept_words(self.problems)
        self.scale = engine.logit_scale(clip)
        self.lr = run.lr
        self.seed = config.seed
        self.tau_end, self.gamma_u, self.gamma_d = opts.tau_end, opts.gamma_u, opts.gamma_d
        self.refine = config.engine == "refine"
        self.every = opts.exact_every
        self.span = max(self.epochs - 1, 1)

    def start(self, c: int) -> "np.ndarray":
        """Concept ``c``'s parameters before learning: the zero-shot scores times CLIP's logit scale."""
        return (self.scale * self.problems[c].Z).cpu().numpy().astype("float32")

    def _mask(self, c: int, active: Sequence[int]) -> "torch.Tensor":
        import torch

        mask = torch.full((len(self.problems[c].words),), -1e4, device=self.device)
        mask[list(active)] = 0.0
        return mask

    def _mix(self, logits: "torch.Tensor", mask: "torch.Tensor", e: int) -> "torch.Tensor":
        tau = self.tau_end ** (min(e, self.span) / self.span)
        return ((logits + mask) / tau).softmax(-1)

    def stretch(self, c: int, start: "np.ndarray", active: Sequence[int], first: int, stop: int,
                bar: "Reporter") -> tuple["np.ndarray", list[float]]:
        """Concept ``c`` learned from parameters ``start`` over epochs [first, stop) with the words ``active``:
        (the parameters then, the loss per epoch)."""
        import torch

        pb, X = self.problems[c], self.X
        logits = [[torch.tensor(start[rows], device=self.device, requires_grad=True)] for rows in self.slices]
        mask = self._mask(c, active)
        corrections: dict[int, tuple[int, "torch.Tensor", "torch.Tensor"]] = {}

        def alignment(b: int, p: "torch.Tensor", rows: slice, e: int) -> "torch.Tensor":
            if not self.refine:
                return exact_alignment(pb, p, X[rows]).sum()
            anchor = first + (e - first) // self.every * self.every
            if corrections.get(b, (None,))[0] != anchor:  # one exact forward+backward at the current point
                p0 = p.detach()
                corrections[b] = (anchor, p0, correction(pb, p0, X[rows]))
            _, p0, slope = corrections[b]
            return (surrogate_alignment(pb, p, X[rows]) + ((p - p0) * slope).sum(-1)).sum()

        def loss_fn(b: int, rows: slice, e: int) -> "torch.Tensor":
            t = min(e, self.span) / self.span
            p = self._mix(logits[b][0], mask, e)
            total = alignment(b, p, rows, e)
            if self.gamma_u:
                w = p @ pb.G
                pull = 1.0 - torch.nn.functional.cosine_similarity(w, self.U[c][None], dim=-1)
                total = total + self.gamma_u * (1.0 - t) * pull.sum()
            if self.gamma_d and t > 0:
                total = total + self.gamma_d * t * (_entropy(p).sum() - p.shape[0] * _entropy(p.mean(0)))
            return total

        history = engine.adam(logits, self.slices, loss_fn, stop - first, self.lr, bar, "learning which words fit",
                              first_epoch=first)
        return torch.cat([lg[0].detach() for lg in logits]).cpu().numpy(), history

    def snapshot(self, c: int, logits: "np.ndarray", active: Sequence[int], e: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(mixing weights, unit prompt features) of every photo at epoch ``e``."""
        import torch

        with torch.no_grad():
            p = self._mix(torch.tensor(logits, device=self.device), self._mask(c, active), e)
            w = p @ self.problems[c].G
            h = torch.cat([self.problems[c].encoder.encode(w[rows]) for rows in self.slices])
        return p, h

    def usages(self, c: int, logits: "np.ndarray", active: Sequence[int], e: int,
               counts: Sequence[int] | None = None) -> dict[int, tuple[float, ...]]:
        """What the pruning reads at epoch ``e``, :func:`usage`, by number of k-means centres: ``counts``, or
        every number any k can ask for (a k-means per count costs far less than the pass through the text
        path they share, so a node serves every later k)."""
        p, h = self.snapshot(c, logits, active, e)
        prompts, mix = h.cpu().numpy(), p[:, list(active)].cpu().numpy()
        if counts is None:
            counts = range(1, _centres(None, active, len(prompts)) + 1)
        return {n: tuple(float(u) for u in usage(prompts, mix, n, self.seed)) for n in counts}


def sample_size(options: DProxyOptions) -> int:
    """Photos the word choice is learned on (option ``sample``; 0 = every photo, with every feature)."""
    return SAMPLE if options.sample is None else options.sample


def _settle(options: DProxyOptions, feature: str) -> DProxyOptions:
    """A per-photo feature needs every photo learned: ``sample`` 0 unless the caller chose a sample."""
    if options.sample is None and feature not in CHOICE_FEATURES:
        return dataclasses.replace(options, sample=0)
    return options


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
    concepts: Sequence[Concept],
    clip: "ClipModel",
    run: Run,
    nodes: Sequence[Nodes] | None = None,
) -> list[Choice]:
    """The words each concept keeps after DProxy's learning and pruning on the photos ``sample`` (every row);
    the words the sample's photos use (:func:`used_words`, from their zero-shot scores) are never pruned.

    Learning stops once the choice is known (the list is down to k words, or no pruning is left): later
    epochs change the proxies but not the words. Each pruning's :class:`Node` goes to ``nodes`` (one store
    per concept; default: memory) the moment it is learned, and a node found there is not learned again: a
    run with another k reads its usage from the node and learns only where its words leave every stored
    route. The result is the same whatever the store holds.
    """
    config, reporter, k = run.config, run.reporter, run.k
    engine.device(config, clip)  # the same checks whether or not anything is learned
    stores = list(nodes) if nodes is not None else [_MemoryNodes() for _ in concepts]
    learner: _Learner | None = None
    horizons = [horizon(len(c.words), k, run.epochs) for c in concepts]
    bar: Reporter | None = None  # opened at the first stretch to learn: a choice from the store shows none
    with seeded(config.seed, clip.device), contextlib.ExitStack() as opened:

        def learn(c: int, logits: "np.ndarray | None", active: list[int], first: int, e: int, route: Route) -> Node:
            nonlocal learner, bar
            if learner is None:
                learner = _Learner(sample, concepts, clip, run)
            if bar is None:
                left = horizons[c] - first + sum(horizons[c + 1 :])
                advance = opened.enter_context(reporter.stage(f"learning which words fit: {len(sample)} photos", total=left))
                bar = OneBar(reporter, advance)
            start = learner.start(c) if logits is None else logits
            after, part = learner.stretch(c, start, active, first, e, bar)
            return Node(route, e, learner.usages(c, after, active, e), after, tuple(part))

        def scores(c: int) -> "np.ndarray":  # the prompts are encoded once per concept, learned or served
            return _zero_shot(sample, _words(concepts[c], clip, run))

        choices = _walk(len(sample), concepts, run, stores, scores, learn)
    assert choices is not None  # every missing node is learned
    return choices


def _walk(
    photos: int, concepts: Sequence[Concept], run: Run, stores: Sequence[Nodes],
    scores: "Callable[[int], np.ndarray]",
    learn: "Callable[[int, np.ndarray | None, list[int], int, int, Route], Node] | None",
) -> list[Choice] | None:
    """The pruning walk of :func:`choose_words` over ``photos`` sampled photos: each concept's nodes from its
    store, a missing one learned by ``learn`` (concept, parameters so far or None, active words, first and
    last epoch, route) and put there; ``scores(c)`` are the sample's zero-shot scores over every word of
    concept ``c``. None when ``learn`` is None and a node is missing."""
    import numpy as np

    k, epochs = run.k, run.epochs
    choices = []
    for c, concept in enumerate(concepts):
        active: list[int] = list(range(len(concept.words)))
        used: tuple[int, ...] | None = None
        route: Route = ()
        logits, first, learned = None, 0, 0
        history: list[float] = []
        for e in pruning_epochs(epochs):
            if len(active) <= _floor(k):
                break
            route += (tuple(active),)
            node = stores[c].get(route)
            if node is None:
                if learn is None:
                    return None
                node = learn(c, logits, active, first, e, route)
                stores[c].put(node)
                learned += e - first
            history += node.history
            logits, first = node.logits, e
            if used is None:
                used = used_words(scores(c), k)
            active = prune(active, np.asarray(node.usage[_centres(k, active, photos)]), k, used)
        choices.append(Choice(tuple(active), history, photos, learned))
    return choices


def _words(concept: Concept, clip: "ClipModel", run: Run) -> "np.ndarray":
    """The unit text features of ``concept``'s prompt filled with each of its words (K×D float32): what the
    store keeps, so that a run served from it (:func:`from_stored`) computes from the very same numbers."""
    return engine.prepared(concept, clip, run)[2].detach().float().cpu().numpy()


def _zero_shot(images: "np.ndarray", words: "np.ndarray") -> "np.ndarray":
    """The photos' (raw rows) cosines with the prompts ``words``, in NumPy on every path (the same bits)."""
    from proxysort.learn import textonly

    return textonly.unit_rows(images) @ words.T


def _scored(images: "np.ndarray", concepts: Sequence[Concept], words: Sequence["np.ndarray"], scale: float,
            choices: Sequence[Choice]) -> list[ProxyResult]:
    """Every photo's zero-shot view (``scores``, ``probs``, ``scoremix``) over the words each choice kept, in
    NumPy (:mod:`proxysort.learn.textonly`) whether or not the model is loaded: a re-run served from the store
    gives the first run's bits."""
    from proxysort.learn import textonly

    out = []
    for concept, T_all, choice in zip(concepts, words, choices):
        kept = list(choice.kept)
        T = T_all[kept]
        Z = _zero_shot(images, T)
        out.append(result(_survivors(concept, kept), textonly.zero_shot_features(Z, scale), T, Z, choice.history,
                          METHOD.default_feature))
    return out


def _survivors(c: Concept, kept: list[int]) -> Concept:
    words = tuple(c.words[j] for j in kept)
    return Concept(c.name, words, noun=c.noun, template=c.template) if len(words) >= 2 else c


def learn(image_features: "Matrix", concepts: Sequence[Concept], clip: "ClipModel", run: Run) -> list[ProxyResult]:
    """DProxy's result per concept: with a ``sample`` (the default), the zero-shot features over the words
    learned on the sample; with ``sample`` 0, every photo's learned proxy and every feature."""
    import numpy as np

    from proxysort.rows import whole

    image_features = whole(image_features)
    if sample_size(run.options):
        return _choose_and_score(image_features, concepts, clip, run, lambda concept, digest: _MemoryNodes())
    k, epochs = run.k, run.epochs
    results = []
    with seeded(run.config.seed, clip.device):
        learner = _Learner(image_features, concepts, clip, run)
        X = learner.X
        with run.reporter.stage(f"learning which words fit: {X.shape[0]} photos", total=epochs * len(concepts)) as advance:
            bar = OneBar(run.reporter, advance)
            for c, pb in enumerate(learner.problems):
                active, logits, first, history = list(range(len(pb.words))), learner.start(c), 0, []
                for e in [*pruning_epochs(epochs), epochs]:
                    logits, part = learner.stretch(c, logits, active, first, e, bar)
                    history += part
                    first = e
                    if e < epochs and len(active) > _floor(k):
                        (use,) = learner.usages(c, logits, active, e, [_centres(k, active, X.shape[0])]).values()
                        active = prune(active, np.asarray(use), k, used_words(pb.Z.cpu().numpy(), k))
                results.append(_learned(learner, c, logits, active, history, run))
    return results


def learn_stored(
    image_features: "Matrix", concepts: Sequence[Concept], clip: "ClipModel", run: Run,
    nodes_for: "Callable[[Concept, str], Nodes]",
) -> list[ProxyResult] | None:
    """DProxy with a sample: the word choices through the nodes ``nodes_for(concept, digest)`` keeps (the
    digest names the sampled photos' vectors), then every photo's zero-shot features. None when ``sample``
    is 0: every photo's proxy is then learned, and nothing is kept between runs."""
    from proxysort.rows import whole

    image_features = whole(image_features)
    if not sample_size(run.options):
        return None
    return _choose_and_score(image_features, concepts, clip, run, nodes_for)


def from_stored(
    image_features: "Matrix", concepts: Sequence[Concept], words: Sequence["np.ndarray"], scale: float, run: Run,
    nodes_for: "Callable[[Concept, str], Nodes]",
) -> list[ProxyResult] | None:
    """:func:`learn_stored` made again in NumPy from the stored nodes and the words' stored text features
    ``words`` (every word of each concept) and logit scale, no model (a cached re-run never imports torch);
    None when ``sample`` is 0 or a node is missing. The operations are :func:`_choose_and_score`'s, so the
    two agree to float32 rounding (``tests/test_instant.py``)."""
    import numpy as np

    from proxysort.rows import whole

    if not sample_size(run.options):
        return None
    X = np.ascontiguousarray(whole(image_features), dtype=np.float32)
    rows, digest = _sample(X, run)
    tables = [np.asarray(T, dtype=np.float32) for T in words]
    sample = X[rows]
    choices = _walk(len(rows), concepts, run, [nodes_for(c, digest) for c in concepts],
                    lambda c: _zero_shot(sample, tables[c]), None)
    if choices is None:
        return None
    _say_served(concepts, choices, run)
    return _scored(X, concepts, tables, scale, choices)


def _sample(X: "np.ndarray", run: Run) -> tuple["np.ndarray", str]:
    """(the rows of the photos the word choice is learned on, the digest of their vectors: the nodes' key)."""
    import hashlib

    keys = photo_keys(X)
    rows = sample_rows(keys, sample_size(run.options))
    return rows, hashlib.sha256("".join(keys[i] for i in rows).encode()).hexdigest()[:32]


def _say_served(concepts: Sequence[Concept], choices: Sequence[Choice], run: Run) -> None:
    """Which word choices came from the cache, whole or in part."""
    served = [ch for ch in choices if ch.history and not ch.learned]
    if served:
        run.reporter.message(f"word choice: {len(served)} of {len(concepts)} concepts from the cache")
    for concept, ch in zip(concepts, choices):
        if 0 < ch.learned < len(ch.history):
            run.reporter.message(f"word choice for '{concept.name}': continued from an earlier run (from the cache)")


def _choose_and_score(
    image_features: "np.ndarray", concepts: Sequence[Concept], clip: "ClipModel", run: Run,
    nodes_for: "Callable[[Concept, str], Nodes]",
) -> list[ProxyResult]:
    """The word choice on the sample, through ``nodes_for``'s nodes, then every photo's zero-shot view."""
    import numpy as np

    X = np.ascontiguousarray(image_features, dtype=np.float32)
    rows, digest = _sample(X, run)
    choices = choose_words(X[rows], concepts, clip, run, nodes=[nodes_for(c, digest) for c in concepts])
    _say_served(concepts, choices, run)
    return _scored(X, concepts, [_words(c, clip, run) for c in concepts], engine.logit_scale(clip), choices)


def _learned(learner: _Learner, c: int, logits: "np.ndarray", active: list[int], history: list[float],
             run: Run) -> ProxyResult:
    """Every feature of concept ``c`` from its learned parameters (every photo learned: ``sample`` 0)."""
    import torch

    from proxysort.learn import textonly

    pb, X = learner.problems[c], learner.X
    with torch.no_grad():
        p, h = learner.snapshot(c, logits, active, max(learner.epochs, 1) - 1)
        w = p @ pb.G
        align = (h * X).sum(-1)
        gate = torch.sigmoid(run.options.gate_bias + (align - align.mean()) / align.std().clamp_min(1e-6))
        T = pb.T[active]

    def numpy(t: "torch.Tensor") -> "np.ndarray":
        return t.detach().float().cpu().numpy()

    feats = textonly.features(numpy(h), numpy(X), numpy(T), run.config.fuse_weight, w=numpy(w),
                              weights=numpy(p[:, active]), gate=numpy(gate), scale=learner.scale)
    return result(_survivors(pb.concept, active), feats, T, pb.Z[:, active], history, METHOD.default_feature)


METHOD = Method(
    "dproxy", "Multi-DProxy (AAAI 2026): word choice by pruning on a sample, scored zero-shot (the default)",
    learn, features=("prompt", "proxy", "weights", "concat", "fused", "scores", "probs", "scoremix"),
    default_feature="scoremix", epochs=Epochs(EPOCHS, EPOCHS), lr=0.1, options=DProxyOptions, uses_k=True,
    settle=_settle, learn_stored=learn_stored, from_stored=from_stored,
)
