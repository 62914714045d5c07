"""Proxy learning: per image, a token that makes the concept's prompt say what the image shows.

CLIP embeds every photo the same way whatever the user asks for, so clustering image vectors follows
whatever dominates them. Putting a learnable token into a prompt that names the concept ("a photo of a
fruit with a color of *") and pulling the prompt's text feature onto the image makes the token carry the
part of the image the concept is about; clustering those prompts follows the concept. Modes (METHOD §3):

* ``zeroshot`` – no training, each image takes its nearest filled-in prompt (the CLIP baseline);
* ``subspace`` – the token is a softmax mix of the candidate words' embeddings, so it can never leave their
  convex hull (the reference-word constraint by construction); initialised from the zero-shot scores;
* ``free`` – the zero-shot word's embedding plus a free offset, penalised by ``alpha * |offset|^2``;
* ``linear`` – a softmax mix of the filled-in prompts' text features, no text encoder in the loop.

Several concepts at once add the concept-contrast term: each proxy should be nearer its own concept word
than the others (``beta``). Every image owns its parameters, so an epoch is one Adam step per image and
mini-batches only bound memory; training stops on a loss plateau, never on labels.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from proxysort.errors import UsageError
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.textpath import PromptEncoder

#: The seed papers' complete methods, each a module of proxysort.methods with ``learn(...)`` (imported by name
#: so that the methods package depends on this module and not the reverse).
METHODS = ("multimap", "multisub", "dproxy")
MODES = ("zeroshot", "subspace", "free", "linear", *METHODS)
#: How subspace and dproxy proxies are optimised: "refine" (steps on a cheap model of the text encoder,
#: corrected by a few exact passes through it: refine.py, methods/dproxy.py) or "adam" (Adam through the
#: encoder every epoch, the reference).
ENGINES = ("refine", "adam")
FEATURES = ("prompt", "proxy", "weights", "concat", "fused", "scores", "probs", "scoremix")
#: Features whose length means something (probabilities, raw cosines): k-means on them is not spherical.
EUCLIDEAN_FEATURES = ("weights", "scores", "probs", "scoremix")
#: The method and feature used unless told otherwise, chosen by measurement on both miniworlds with exact
#: and imperfect words (benchmarks/results/quality.md; docs/METHOD.md says which figures chose them).
DEFAULT_MODE = "dproxy"
DEFAULT_FEATURE = "scoremix"
#: Adam step sizes per mode when ``ProxyConfig.lr`` is None: logits move in units of the CLIP logit scale,
#: free offsets in token-embedding units (per-dimension spread of CLIP's token table ≈ 0.01–0.02).
DEFAULT_LR = {"subspace": 0.1, "linear": 0.1, "free": 1e-3}
#: Epoch caps when ``ProxyConfig.epochs`` is None: a CPU budget of minutes, a GPU one of seconds.
DEFAULT_EPOCHS = {"cpu": 20, "cuda": 300}
#: The refine engine's exact passes per photo (each one forward+backward through the text encoder).
DEFAULT_ROUNDS = {"cpu": 1, "cuda": 1}
_MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class Concept:
    """One aspect to sort by, its candidate words (possibly wrong or incomplete) and its prompt."""

    name: str
    words: tuple[str, ...]
    noun: str = "photo"
    template: str | None = None

    def __post_init__(self) -> None:
        words = tuple(dict.fromkeys(w.strip() for w in self.words if w and w.strip()))
        object.__setattr__(self, "words", words)
        if len(words) < 2:
            raise UsageError(f"Concept {self.name!r} needs at least two different candidate words, got {len(words)}.")

    @property
    def prompt(self) -> str:
        """The template with its single placeholder ``*`` (a word of its own, so it stays one BPE token)."""
        if self.template:
            return self.template
        from proxysort.lexicon import article

        if self.noun == "photo":
            return f"a photo with {article(self.name)} {self.name} of *"
        return f"a photo of {article(self.noun)} {self.noun} with {article(self.name)} {self.name} of *"


#: The largest seed: k-means (FAISS) and NumPy take seeds as 32-bit integers, so larger ones cannot be
#: honoured exactly; one range for every step keeps "same seed, same result" true.
MAX_SEED = 2**31 - 1


@dataclass
class ProxyConfig:
    """How proxies are learned. ``None`` fields take a default that depends on the mode or device."""

    mode: str = DEFAULT_MODE
    engine: str = "refine"  # subspace and dproxy: "refine" (fast) or "adam" (the reference); see ENGINES
    epochs: int | None = None  # exact passes through the text encoder per photo (subspace/refine) or max epochs
    surrogate_steps: int = 20  # refine engine: Adam steps on the corrected cheap model after each exact pass
    batch_size: int = 256  # images per step on the CPU
    gpu_batch_size: int | None = None  # on CUDA; None → sized from free device memory (results never depend on it)
    lr: float | None = None  # None → DEFAULT_LR[mode]
    seed: int = 0  # seeds torch for the run; the engine itself has no random step (zero-shot init, fixed batches)
    alpha: float = 0.4  # free mode: weight of the squared offset from the zero-shot word
    beta: float = 0.3  # several concepts: weight of the concept-contrast cross-entropy
    device: str = "auto"  # must match the device the CLIP model was loaded on; "auto" takes that one
    path: str = "prefix"  # text path: "prefix" | "truncated" | "full" (all exact; prefix is fastest)
    tol: float = 1e-4  # plateau: relative change of the epoch loss below this ...
    patience: int = 3  # ... for this many epochs in a row stops training
    min_epochs: int = 5
    fuse_weight: float = 0.5  # "fused" feature = normalise(fw * prompt + (1 - fw) * image)
    options: dict[str, float] = field(default_factory=dict)  # a seed method's own knobs (proxysort.methods)

    def validate(self) -> None:
        """Refuse settings that cannot work, before any photo is indexed (messages name the parameters)."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            shown = str(self.seed) if len(str(self.seed)) <= 24 else f"a {len(str(self.seed))}-digit number"
            raise UsageError(f"`seed` must be a whole number from 0 to {MAX_SEED}, not {shown}.")
        if self.engine not in ENGINES:
            raise UsageError(f"Unknown proxy engine {self.engine!r}: use one of {', '.join(ENGINES)}.")
        if self.mode not in MODES:
            raise UsageError(f"Unknown proxy mode {self.mode!r}: use one of {', '.join(MODES)}.")
        if min(self.batch_size, 1 if self.gpu_batch_size is None else self.gpu_batch_size) < 1 or (self.epochs is not None and self.epochs < 0):
            raise UsageError("Batch size must be at least 1 and epochs at least 0.")
        if not 0.0 <= self.fuse_weight <= 1.0:
            raise UsageError(f"The fuse weight must be between 0 and 1, got {self.fuse_weight}.")


@dataclass
class ProxyResult:
    """Everything learned for one concept; rows follow the image-feature rows."""

    concept: Concept
    features: Mapping[str, "np.ndarray"]
    word_features: "np.ndarray"
    zero_shot: "np.ndarray"
    loss_history: list[float] = field(default_factory=list)
    epochs_run: int = 0

    def prompts(self) -> "np.ndarray":
        """Each photo's prompt feature, what groups are named from: the learned one where every photo was
        learned, else the filled-in prompt of the photo's zero-shot word (DProxy learned on a sample)."""
        if "prompt" in self.features:
            return self.features["prompt"]
        return self.word_features[self.zero_shot.argmax(axis=1)]

    def feature(self, name: str | None = None) -> "np.ndarray":
        """The named feature (``None`` → :data:`DEFAULT_FEATURE`), float32 N×?."""
        name = name or DEFAULT_FEATURE
        if name not in self.features:
            raise UsageError(
                f"Feature {name!r} is not available for this mode; available: {', '.join(sorted(self.features))}."
            )
        return self.features[name]


class _OnceReporter(Reporter):
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


@dataclass
class _Problem:
    """One concept's fixed tensors and its per-image parameters (one leaf per mini-batch)."""

    concept: Concept
    encoder: "PromptEncoder"
    G: "torch.Tensor"  # K×d_tok candidate token embeddings
    T: "torch.Tensor"  # K×D unit text features of the filled prompts
    Z: "torch.Tensor"  # N×K zero-shot cosines
    params: list["torch.Tensor"] = field(default_factory=list)
    base: "torch.Tensor | None" = None  # free mode: N×d_tok zero-shot word embeddings
    prompts: list["torch.Tensor"] | None = None  # per batch, when the engine already computed them

    def proxy(self, mode: str, b: int, rows: slice) -> "torch.Tensor":
        """Token rows w_i of batch ``b`` (not for linear mode, which has no token)."""
        if mode == "subspace":
            return self.params[b].softmax(dim=-1) @ self.G
        return self.base[rows] + self.params[b]

    def prompt(self, mode: str, b: int, rows: slice) -> "torch.Tensor":
        """Unit prompt features h(t_i*) of batch ``b``."""
        import torch

        if mode == "linear":
            return torch.nn.functional.normalize(self.params[b].softmax(dim=-1) @ self.T, dim=-1)
        return self.encoder.encode(self.proxy(mode, b, rows))


def _resolve_device(config: ProxyConfig, clip: "ClipModel") -> "torch.device":
    """Proxies live where the frozen model lives; moving a shared model behind the caller's back is worse."""
    from proxysort.encoders import resolve_device

    if (config.device or "auto").lower() == "auto":
        return clip.device
    wanted = resolve_device(config.device)
    if wanted.type != clip.device.type:
        raise UsageError(
            f"Proxies were asked for on {wanted.type} but the CLIP model is loaded on {clip.device.type}; "
            "load the model on the same device (ModelSpec(device=...))."
        )
    return clip.device


def _check_inputs(image_features: "np.ndarray", concepts: Sequence[Concept], clip: "ClipModel") -> None:
    if not concepts:
        raise UsageError("Give at least one concept to sort by.")
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise UsageError(f"Concept names must be different, got {', '.join(names)}.")
    if image_features.ndim != 2 or image_features.shape[0] == 0:
        raise UsageError("There are no image features to learn proxies for.")
    if image_features.shape[1] != clip.embed_dim:
        raise UsageError(
            f"The image features have {image_features.shape[1]} dimensions but the model embeds in "
            f"{clip.embed_dim}: they come from a different model."
        )


#: Prompt encoders with their candidate rows G and filled-prompt features T, per (template, path, words):
#: what a caller that learns in chunks (the proxy cache) keeps so that no chunk builds them again.
Prepared = dict


def prepared_concept(
    concept: Concept, clip: "ClipModel", config: ProxyConfig, reporter: Reporter | None = None,
    prepared: Prepared | None = None,
) -> tuple["PromptEncoder", "torch.Tensor", "torch.Tensor"]:
    """(encoder, G, T) for ``concept``, from ``prepared`` when it has them (and stored there when it does not)."""
    import torch

    from proxysort.textpath import PromptEncoder

    key = (concept.prompt, config.path, concept.words)
    if prepared is not None and key in prepared:
        return prepared[key]
    encoder = PromptEncoder(clip, concept.prompt, path=config.path, reporter=reporter)
    G = torch.stack([encoder.word_embedding(w) for w in concept.words]).float()
    T = encoder.encode_words(concept.words)
    if prepared is not None:
        prepared[key] = (encoder, G, T)
    return encoder, G, T


def _setup(
    concept: Concept, clip: "ClipModel", X: "torch.Tensor", config: ProxyConfig, reporter: Reporter,
    prepared: Prepared | None,
) -> _Problem:
    encoder, G, T = prepared_concept(concept, clip, config, reporter, prepared)
    return _Problem(concept=concept, encoder=encoder, G=G, T=T, Z=X @ T.T)


def _logit_scale(clip: "ClipModel") -> float:
    """CLIP's learned temperature (100 for the released weights): the zero-shot softmax it was trained with."""
    scale = getattr(clip.model, "logit_scale", None)
    return min(float(scale.exp()), _MAX_LOGIT_SCALE) if scale is not None else _MAX_LOGIT_SCALE


#: Bytes of activations one photo keeps for the backward pass, per unit of text width and per layer: an
#: estimate (two rows per block, ~40 saved floats per width unit and row), not a GPU measurement.
_ACTIVATION_BYTES = 320
_GPU_BATCH = (1024, 65536)


def _batch_size(config: ProxyConfig, device: "torch.device", clip: "ClipModel") -> int:
    """CPU: ``batch_size``. CUDA: ``gpu_batch_size``, or as many photos as a quarter of the free memory holds."""
    import torch

    if device.type != "cuda":
        return config.batch_size
    if config.gpu_batch_size:
        return config.gpu_batch_size
    free, _total = torch.cuda.mem_get_info(device)
    tower = getattr(clip.model, "text", clip.model)
    width = int(getattr(getattr(tower, "transformer", None), "width", 512))
    layers = len(getattr(getattr(tower, "transformer", None), "resblocks", [])) or 12
    fits = free // 4 // (_ACTIVATION_BYTES * width * layers)
    return int(min(max(fits, _GPU_BATCH[0]), _GPU_BATCH[1]))


def _batches(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def _init_params(problems: list[_Problem], mode: str, batches: list[slice], scale: float) -> None:
    """Subspace/linear logits start at the zero-shot softmax; free offsets start at the zero-shot word."""
    import torch

    for pb in problems:
        if mode == "free":
            pb.base = pb.G[pb.Z.argmax(dim=1)]
            init = torch.zeros_like(pb.base)
        else:
            init = scale * pb.Z
        pb.params = [init[rows].clone().requires_grad_(True) for rows in batches]


def _batch_loss(
    problems: list[_Problem],
    mode: str,
    b: int,
    rows: slice,
    X: "torch.Tensor",
    U: "torch.Tensor | None",
    config: ProxyConfig,
) -> "torch.Tensor":
    """Sum over the batch's images (so each image's gradient is independent of the batch size) and concepts."""
    import torch

    total = X.new_zeros(())
    for c, pb in enumerate(problems):
        h = pb.prompt(mode, b, rows)
        total = total + (1.0 - (h * X[rows]).sum(dim=-1)).sum()
        if mode == "free" and config.alpha:
            total = total + config.alpha * pb.params[b].pow(2).sum()
        if U is not None:
            logits = pb.proxy(mode, b, rows) @ U.T
            target = torch.full((logits.shape[0],), c, dtype=torch.long, device=logits.device)
            total = total + config.beta * torch.nn.functional.cross_entropy(logits, target, reduction="sum")
    return total


def _train(
    problems: list[_Problem],
    X: "torch.Tensor",
    batches: list[slice],
    config: ProxyConfig,
    epochs: int,
    lr: float,
    reporter: Reporter,
) -> list[float]:
    """Adam over every image's parameters until ``epochs`` or a loss plateau.

    Returns the epoch losses per image, summed over concepts (the joint objective, shared by all results).
    """
    import torch

    mode = config.mode
    n = X.shape[0]
    contrast = len(problems) > 1 and mode != "linear" and config.beta > 0
    U = torch.stack([pb.encoder.word_embedding(pb.concept.name) for pb in problems]).float() if contrast else None
    # One optimiser per batch: Adam's moments and step count then belong to the images they were computed for.
    optims = [torch.optim.Adam([pb.params[b] for pb in problems], lr=lr) for b in range(len(batches))]
    history: list[float] = []
    stalled = 0
    with reporter.progress(f"learning proxies ({mode})", total=epochs) as advance:
        for _ in range(epochs):
            total = 0.0
            for b, rows in enumerate(batches):
                optims[b].zero_grad(set_to_none=True)
                loss = _batch_loss(problems, mode, b, rows, X, U, config)
                loss.backward()
                optims[b].step()
                total += float(loss.detach())
            history.append(total / n)
            advance(1, loss=f"{history[-1]:.4f}")
            if len(history) > 1:
                prev = history[-2]
                stalled = stalled + 1 if abs(prev - history[-1]) <= config.tol * max(abs(prev), 1e-12) else 0
            if stalled >= config.patience and len(history) >= config.min_epochs:
                break
    return history


def _refine_all(
    problems: list[_Problem],
    X: "torch.Tensor",
    batches: list[slice],
    config: ProxyConfig,
    rounds: int,
    lr: float,
    scale: float,
    reporter: Reporter,
) -> list[float]:
    """The refine engine (refine.py) batch by batch; returns the mean exact loss per image after each round.

    Concepts only meet through the contrast term, which involves each concept's own proxy alone, so every
    (concept, photo) pair is optimised on its own.
    """
    import torch

    from proxysort.refine import Fixed, refine

    n = X.shape[0]
    contrast = len(problems) > 1 and config.beta > 0
    U = torch.stack([pb.encoder.word_embedding(pb.concept.name) for pb in problems]).float() if contrast else None
    totals = [0.0] * (rounds + 1)
    with reporter.progress("learning proxies (subspace)", total=n * len(problems)) as advance:
        for c, pb in enumerate(problems):
            fixed = Fixed(pb.encoder, pb.G, pb.T, U, c, config.beta if contrast else 0.0)
            pb.params, pb.prompts = [], []
            for rows in batches:
                out = refine(fixed, scale * pb.Z[rows], X[rows], rounds=rounds,
                             surrogate_steps=config.surrogate_steps, lr=lr)
                pb.params.append(out.logits)
                pb.prompts.append(out.prompt)
                for r, loss in enumerate(out.losses):
                    totals[r] += float(loss.sum())
                advance(rows.stop - rows.start)
    return [t / n for t in totals[1:]]  # totals[0] is the zero-shot start


def photo_keys(vectors: "np.ndarray") -> list[str]:
    """One digest per row of the float32 vectors: the identity of what a learner sees of a photo."""
    import hashlib

    import numpy as np

    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in rows]


def unit_rows(image_features: "np.ndarray") -> "np.ndarray":
    """float32 unit rows exactly as :func:`learn_proxies` normalises its input (same operation, same bits)."""
    import numpy as np
    import torch

    return _unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32))).numpy()


@contextlib.contextmanager
def seeded(seed: int, device: "torch.device") -> Iterator[None]:
    """Torch's random state seeded with ``seed`` for one learning on ``device``, and restored afterwards, so a
    run's result depends on its settings, not on what ran before it in the process."""
    import torch

    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def _unit(a: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.nn.functional.normalize(a, dim=-1)


class FeatureSet(Mapping):
    """The k-means candidates of METHOD §4 for one concept, as float32 N×? numpy arrays (a read-only mapping).

    Only what was learned is held: the unit prompt features, and the logits (subspace, linear, zeroshot) or
    the proxy rows (free). ``proxy``, ``weights``, ``concat`` and ``fused`` are derived on access from those
    and the image features (shared with the caller, not copied), so a run holds ~2 KB per photo and concept
    instead of ~10 KB, and a cached run can rebuild every feature from the cache's rows.
    """

    def __init__(
        self,
        mode: str,
        images: "np.ndarray",
        prompt: "np.ndarray",
        *,
        logits: "np.ndarray | None" = None,
        proxy: "np.ndarray | None" = None,
        candidates: "np.ndarray | None" = None,
        fuse_weight: float = 0.5,
        zero_shot: "Mapping[str, np.ndarray] | None" = None,
    ) -> None:
        self.mode, self.images, self.prompt = mode, images, prompt
        self.logits, self.proxy_rows, self.candidates, self.fuse_weight = logits, proxy, candidates, fuse_weight
        #: ``scores``, ``probs``, ``scoremix`` (N×K, small): the zero-shot view over the candidate prompts.
        self.zero_shot = dict(zero_shot or {})
        names = ["prompt"]
        if logits is not None:
            names.append("weights")
        if mode in ("subspace", "free"):
            names.append("proxy")
        self._names = (*names, "concat", "fused", *self.zero_shot)

    @property
    def learned(self) -> "np.ndarray | None":
        """The learned parameters per photo: logits (subspace, linear), proxy rows (free), None (zeroshot)."""
        if self.mode == "zeroshot":
            return None
        return self.proxy_rows if self.mode == "free" else self.logits

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, name: str) -> "np.ndarray":
        import numpy as np

        if name not in self._names:
            raise KeyError(name)
        if name == "prompt":
            return self.prompt
        if name in self.zero_shot:
            return self.zero_shot[name]
        if name == "weights":
            z = self.logits - self.logits.max(axis=1, keepdims=True)
            e = np.exp(z)
            return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        if name == "proxy":
            return self.proxy_rows if self.proxy_rows is not None else self["weights"] @ self.candidates
        if name == "concat":
            first = _unit_np(self["proxy"]) if self.mode in ("subspace", "free") else self.prompt
            return (np.concatenate([first, self.images], axis=1) / np.float32(math.sqrt(2.0))).astype(np.float32)
        fw = np.float32(self.fuse_weight)
        return _unit_np(fw * self.prompt + (np.float32(1.0) - fw) * self.images)


def _unit_np(a: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _features(
    pb: _Problem, mode: str, X: "torch.Tensor", batches: list[slice], config: ProxyConfig, scale: float,
    zero_shot: "Mapping[str, np.ndarray]",
) -> FeatureSet:
    """The learned rows of every batch gathered into one :class:`FeatureSet` (plus the ``zero_shot`` features)."""
    import torch

    prompts, logits, proxies = [], [], []
    with torch.no_grad():
        for b, rows in enumerate(batches):
            if mode == "zeroshot":
                prompts.append(pb.T[pb.Z[rows].argmax(dim=1)])
                logits.append(scale * pb.Z[rows])
            else:
                prompts.append(pb.prompts[b] if pb.prompts is not None else pb.prompt(mode, b, rows))
                if mode == "free":
                    proxies.append(pb.proxy(mode, b, rows))
                else:
                    logits.append(pb.params[b])

    def cat(parts: list["torch.Tensor"]) -> "np.ndarray | None":
        return torch.cat(parts).detach().float().cpu().numpy() if parts else None

    return FeatureSet(
        mode, X.detach().cpu().numpy(), cat(prompts), logits=cat(logits), proxy=cat(proxies),
        candidates=pb.G.detach().float().cpu().numpy(), fuse_weight=config.fuse_weight, zero_shot=zero_shot,
    )


def independent_per_photo(config: ProxyConfig) -> bool:
    """True when a photo's result depends on nothing but its own vector (not on the other photos of the run).

    The refine engine and zero-shot qualify; the Adam engine stops every photo at the same epoch, chosen
    from the loss of the whole set, so its results are a property of the set. The proxy cache keys the
    latter by the whole set of photos.
    """
    return config.mode == "zeroshot" or (config.mode == "subspace" and config.engine == "refine")


def resolve_config(config: ProxyConfig, clip: "ClipModel") -> ProxyConfig:
    """``config`` with the device-dependent defaults filled in (epochs or rounds, step size): what a run uses."""
    import dataclasses

    device = _resolve_device(config, clip)
    if config.mode == "subspace" and config.engine == "refine":
        epochs = config.epochs if config.epochs is not None else DEFAULT_ROUNDS.get(device.type, 1)
    else:
        epochs = config.epochs if config.epochs is not None else DEFAULT_EPOCHS.get(device.type, DEFAULT_EPOCHS["cpu"])
    lr = config.lr if config.lr is not None else DEFAULT_LR.get(config.mode, 0.0)
    return dataclasses.replace(config, epochs=epochs, lr=lr)


def result_from_rows(
    concept: Concept,
    clip: "ClipModel",
    image_features: "np.ndarray",
    prompt: "np.ndarray",
    learned: "np.ndarray | None",
    config: ProxyConfig,
    *,
    loss_history: Sequence[float] = (),
    epochs_run: int = 0,
    prepared: Prepared | None = None,
) -> ProxyResult:
    """A :class:`ProxyResult` rebuilt from stored rows (the proxy cache): unit prompt features and the learned
    parameters (logits for subspace/linear, proxy rows for free, nothing for zeroshot).

    ``image_features`` must already be unit rows (:func:`unit_rows`); they are shared, not copied, so several
    concepts hold one matrix between them.
    """
    import numpy as np
    import torch

    _encoder, G, T = prepared_concept(concept, clip, config, prepared=prepared)
    with torch.no_grad():
        X = torch.as_tensor(image_features, device=T.device)
        Z = X @ T.T
    logits = proxy_rows = None
    if config.mode == "zeroshot":
        logits = (_logit_scale(clip) * Z).cpu().numpy()
    elif config.mode == "free":
        proxy_rows = learned
    else:
        logits = learned
    features = FeatureSet(
        config.mode, image_features, prompt, logits=logits, proxy=proxy_rows,
        candidates=G.cpu().numpy(), fuse_weight=config.fuse_weight,
        zero_shot=zero_shot_features(Z, _logit_scale(clip)),
    )
    return ProxyResult(concept, features, T.cpu().numpy().astype(np.float32), Z.cpu().numpy().astype(np.float32),
                       list(loss_history), epochs_run)


def learn_proxies(
    image_features: "np.ndarray",
    concepts: Sequence[Concept],
    clip: "ClipModel",
    config: ProxyConfig | None = None,
    reporter: Reporter | None = None,
    *,
    prepared: Prepared | None = None,
) -> list[ProxyResult]:
    """Learn one proxy per image and concept; one :class:`ProxyResult` per concept, in the given order.

    ``prepared`` (a dict the caller keeps) lets calls on several chunks of photos share their prompt encoders.

    ``image_features`` are the unit-norm N×d features of ``clip``'s image tower. Deterministic for a given
    input, config and device: parameters start from the zero-shot scores, batches are fixed slices.
    """
    import numpy as np
    import torch

    config = config or ProxyConfig()
    config.validate()
    reporter = _OnceReporter(reporter or Reporter())
    _check_inputs(image_features, concepts, clip)
    if config.mode in METHODS:
        import importlib

        return importlib.import_module(f"proxysort.methods.{config.mode}").learn(
            image_features, concepts, clip, config, reporter)
    device = _resolve_device(config, clip)
    epochs = config.epochs if config.epochs is not None else DEFAULT_EPOCHS.get(device.type, DEFAULT_EPOCHS["cpu"])
    lr = config.lr if config.lr is not None else DEFAULT_LR.get(config.mode, 0.0)

    batch_size = _batch_size(config, device, clip)
    with seeded(config.seed, device):
        X = _unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32), device=device))
        problems = [_setup(c, clip, X, config, reporter, prepared) for c in concepts]
        batches = _batches(X.shape[0], batch_size)
        scale = _logit_scale(clip)
        history: list[float] = []
        if config.mode == "subspace" and config.engine == "refine":
            rounds = config.epochs if config.epochs is not None else DEFAULT_ROUNDS.get(device.type, 1)
            history = _refine_all(problems, X, batches, config, rounds, lr, scale, reporter)
        elif config.mode != "zeroshot":
            _init_params(problems, config.mode, batches, scale)
            if epochs > 0:
                history = _train(problems, X, batches, config, epochs, lr, reporter)
        return [
            ProxyResult(
                concept=pb.concept,
                features=_features(pb, config.mode, X, batches, config, scale, zero_shot_features(pb.Z, scale)),
                word_features=pb.T.cpu().numpy().astype(np.float32),
                zero_shot=pb.Z.cpu().numpy().astype(np.float32),
                loss_history=list(history),
                epochs_run=len(history),
            )
            for pb in problems
        ]


def scoremix(scores: "torch.Tensor", probs: "torch.Tensor") -> "torch.Tensor":
    """[probs, centred scores], each scaled to unit total variance over the photos (Euclidean k-means on it).

    Measured on both miniworlds (benchmarks/results/quality.md): k-means on the probabilities partitions
    like CLIP's argmax, which is right when the words cover the values, but cannot keep apart photos whose
    value is missing (they pile onto one word); k-means on the raw cosines keeps them apart (their whole
    score profile is low) but splits ordinal values such as sizes along the wrong axis. Side by side, each
    corrects the other's failure; neither half dominates because each is scaled to the same total variance.
    """
    import torch

    centred = scores - scores.mean(0, keepdim=True)
    p = probs - probs.mean(0, keepdim=True)
    return torch.cat([p / p.var(0).sum().clamp_min(1e-12).sqrt(), centred / centred.var(0).sum().clamp_min(1e-12).sqrt()], 1)


def zero_shot_features(Z: "torch.Tensor", scale: float) -> dict[str, "np.ndarray"]:
    """``scores`` (cosines with the candidate prompts), ``probs`` (CLIP's softmax of them) and ``scoremix``."""
    import torch

    with torch.no_grad():
        probs = (scale * Z).softmax(-1)
        out = {"scores": Z, "probs": probs, "scoremix": scoremix(Z, probs)}
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}
