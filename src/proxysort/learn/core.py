"""What every learning method takes and gives: the concept, the run's settings, the result.

A method (:mod:`proxysort.methods`) turns unit image vectors and one or more :class:`Concept` into one
:class:`ProxyResult` per concept, built by :func:`result` (the only constructor the package uses), so
k-means, naming, the cache and evaluation never care which method ran. Nothing here knows a method by
name: the registry (:mod:`proxysort.learn.registry`) checks ``ProxyConfig.mode`` and its options.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from proxysort.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.learn.options import Options
    from proxysort.learn.textonly import ZeroShotView
    from proxysort.rows import Features, Matrix, PickedRows

#: The method used unless told otherwise (the registry refuses to load if it names no registered method).
#: No learning: k-means on CLIP's zero-shot scores over every candidate word beside the image vectors
#: (feature ``imagemix``). Chosen by measurement on three miniworlds (benchmarks/results/fidelity.md,
#: benchmarks/results/no-learning.md, docs/METHOD.md): no learned method was never worse than not
#: learning, nor ahead where CLIP half knows the concept (issue 21).
DEFAULT_MODE = "zeroshot"
#: How subspace and dproxy proxies are optimised: "refine" (steps on a cheap model of the text encoder,
#: corrected by a few exact passes through it: refine.py, methods/dproxy.py) or "adam" (Adam through the
#: encoder every epoch, the reference).
ENGINES = ("refine", "adam")
#: Every feature a method may give (each method declares which of them it gives, and its default).
FEATURES = ("prompt", "proxy", "weights", "concat", "fused", "scores", "probs", "scoremix", "imagemix")
#: The feature the automatic k reads for a feature that is not its own best guide: ``imagemix``'s image
#: half carries the image's other structure (another attribute), which the silhouette reads as more groups
#: (measured with ``benchmarks/quality.py --grid``, photo sets 0-2, when the automatic k was the silhouette
#: alone: the true k in 17 of 36 auto-k cells on ``imagemix``, 21 on ``scoremix``); the words' half says how
#: many groups the words tell apart.
AUTO_K_FEATURE = {"imagemix": "scoremix"}
#: Features whose length means something (probabilities, raw cosines): k-means on them is not spherical.
EUCLIDEAN_FEATURES = ("weights", "scores", "probs", "scoremix", "imagemix")
#: The largest seed: k-means (FAISS) and NumPy take seeds as 32-bit integers, so larger ones cannot be
#: honoured exactly; one range for every step keeps "same seed, same result" true.
MAX_SEED = 2**31 - 1


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


@dataclass
class ProxyConfig:
    """How proxies are learned. ``None`` fields take a default that depends on the method or device.

    ``options`` are the method's own knobs: a mapping of option names (checked against the method's typed
    :class:`proxysort.learn.options.Options`; an unknown or ill-typed one is refused) or an instance of
    that class. The number of groups ``k`` is never an option: it is an argument of
    :func:`proxysort.learn.registry.learn_proxies`, so it reaches only the methods that use it.
    """

    mode: str = DEFAULT_MODE
    engine: str = "refine"  # subspace and dproxy: "refine" (fast) or "adam" (the reference); see ENGINES
    epochs: int | None = None  # None → the method's default for the device and engine (Method.default_epochs)
    surrogate_steps: int = 20  # refine engine: Adam steps on the corrected cheap model after each exact pass
    batch_size: int = 256  # images per step on the CPU
    gpu_batch_size: int | None = None  # on CUDA; None → sized from free device memory (results never depend on it)
    lr: float | None = None  # None → the method's own step size
    seed: int = 0  # seeds torch for the run; the engine itself has no random step (zero-shot init, fixed batches)
    alpha: float = 0.4  # free and multimap: weight of the squared offset from the zero-shot word
    beta: float = 0.3  # several concepts: weight of the concept-contrast cross-entropy
    device: str = "auto"  # must match the device the CLIP model was loaded on; "auto" takes that one
    path: str = "prefix"  # text path: "prefix" | "truncated" | "full" (all exact; prefix is fastest)
    tol: float = 1e-4  # plateau: relative change of the epoch loss below this ...
    patience: int = 3  # ... for this many epochs in a row stops training
    min_epochs: int = 5
    fuse_weight: float = 0.5  # "fused" feature = normalise(fw * prompt + (1 - fw) * image)
    options: "Mapping[str, Any] | Options" = field(default_factory=dict)  # the method's knobs, or its Options

    def validate(self) -> None:
        """Refuse settings that cannot work, before any photo is indexed (messages name the parameters).

        The method and its options are checked by :func:`proxysort.learn.registry.method_for`, which calls this.
        """
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            shown = str(self.seed) if len(str(self.seed)) <= 24 else f"a {len(str(self.seed))}-digit number"
            raise UsageError(f"`seed` must be a whole number from 0 to {MAX_SEED}, not {shown}.")
        if self.engine not in ENGINES:
            raise UsageError(f"`engine` must be one of {', '.join(ENGINES)}, not {self.engine!r}.")
        if min(self.batch_size, 1 if self.gpu_batch_size is None else self.gpu_batch_size) < 1:
            raise UsageError("Batch size (`batch_size`, `gpu_batch_size`) must be at least 1.")
        if self.epochs is not None and self.epochs < 0:
            raise UsageError(f"`epochs` must be at least 0, not {self.epochs}.")
        if not 0.0 <= self.fuse_weight <= 1.0:
            raise UsageError(f"The fuse weight (`fuse_weight`) must be between 0 and 1, got {self.fuse_weight}.")


@dataclass
class ProxyResult:
    """Everything learned for one concept; rows follow the image-feature rows. Built by :func:`result`."""

    concept: Concept
    features: Mapping[str, "Features"]
    word_features: "np.ndarray"
    zero_shot: "np.ndarray"
    loss_history: list[float] = field(default_factory=list)
    epochs_run: int = 0
    #: The feature :meth:`feature` gives unless told otherwise: the method's own default.
    default_feature: str = "scoremix"
    #: Each photo's prompt feature without its N×d matrix, where the method knows it as rows of a small
    #: table (zeroshot: its nearest word's); None: the ``prompt`` feature, or the zero-shot words'.
    prompt_rows: "PickedRows | None" = None

    def prompts(self) -> "Matrix":
        """Each photo's prompt feature, what groups are named from: the learned one where every photo was
        learned, else the filled-in prompt of the photo's zero-shot word (DProxy learned on a sample). Matrix
        that are a word's feature are picked lazily (:class:`proxysort.rows.PickedRows`): ``np.asarray``
        makes the matrix; :func:`proxysort.groups.cluster_centres` walks it a block at a time."""
        from proxysort.rows import PickedRows

        if self.prompt_rows is not None:
            return self.prompt_rows
        if "prompt" in self.features:
            return self.features["prompt"]
        return PickedRows(self.word_features, self.zero_shot.argmax(axis=1))

    def feature(self, name: str | None = None) -> "Features":
        """The named feature (``None`` → the method's default feature), float32 N×? (an archive's ``imagemix``:
        float16 rows read as float32, :class:`proxysort.rows.HalfRows`)."""
        name = name or self.default_feature
        if name not in self.features:
            raise UsageError(
                f"Feature {name!r} is not available for this mode; available: {', '.join(sorted(self.features))}."
            )
        return self.features[name]

    def owned_feature(self, name: str | None = None) -> "Features":
        """:meth:`feature` as an array the caller owns and may change in place: as it comes where the features
        make it afresh on each access (their ``made_on_access``, e.g. ``imagemix`` of the basic methods), else a
        copy of the one held here. Why: weighing an N-row feature in place (``sorting.at_k``) then needs no second
        N-row array beside it (issue 25)."""
        x = self.feature(name)
        return x if (name or self.default_feature) in getattr(self.features, "made_on_access", ()) else x.copy()


def result(
    concept: Concept,
    features: Mapping[str, "Features"],
    word_features: "np.ndarray | torch.Tensor",
    zero_shot: "np.ndarray | torch.Tensor",
    history: Sequence[float],
    default_feature: str,
    *,
    prompts: "PickedRows | None" = None,
) -> ProxyResult:
    """The one way a :class:`ProxyResult` is made: tensors become float32 numpy rows, and the epochs run
    are the length of the loss history (one entry per epoch learned); ``prompts`` is
    :attr:`ProxyResult.prompt_rows`."""
    return ProxyResult(concept, features, _numpy(word_features), _numpy(zero_shot), list(history), len(history),
                       default_feature, prompts)


def _numpy(a: "np.ndarray | torch.Tensor") -> "np.ndarray":
    import numpy as np

    if not isinstance(a, np.ndarray):
        a = a.detach().float().cpu().numpy()
    return a.astype(np.float32, copy=False)


def photo_keys(vectors: "np.ndarray") -> list[str]:
    """One digest per row of the float32 vectors: the identity of what a learner sees of a photo."""
    import hashlib

    import numpy as np

    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in rows]


def unit(a: "torch.Tensor") -> "torch.Tensor":
    """Matrix scaled to unit length (the one normalisation every learner applies to its input)."""
    import torch

    return torch.nn.functional.normalize(a, dim=-1)


def unit_rows(image_features: "np.ndarray") -> "np.ndarray":
    """float32 unit rows exactly as the learners normalise their input (same operation, same bits)."""
    import numpy as np
    import torch

    return unit(torch.as_tensor(np.asarray(image_features, dtype=np.float32))).numpy()


@contextlib.contextmanager
def seeded(seed: int, device: "torch.device") -> Iterator[None]:
    """Torch's random state seeded with ``seed`` for one learning on ``device``, and restored afterwards, so a
    run's result depends on its settings, not on what ran before it in the process."""
    import torch

    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


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
    # The population variance (not n - 1): one photo has none, rather than NaN; for more photos both halves
    # scale by the same factor, which k-means does not see.
    return torch.cat([p / p.var(0, unbiased=False).sum().clamp_min(1e-12).sqrt(),
                      centred / centred.var(0, unbiased=False).sum().clamp_min(1e-12).sqrt()], 1)


#: Weight of the photos' own image vectors in :func:`imagemix`, against 1 for each half of ``scoremix``, before
#: :func:`proxysort.groups.weigh_image` scales it by how well the words group the photos on their own. Measured on three
#: miniworlds × four word lists × photo sets 0-5 (benchmarks/results/restarts.md, no-learning.md): a fixed 0.75
#: left the half-known partitions near ties (pattern 0.65 or 0.90 by the photo set), 1.0 and more let the
#: image's dominant structure (another attribute) pull the groups of a concept the words hardly know (shape).
IMAGE_WEIGHT = 1.15
#: The image vectors' principal directions :func:`imagemix` keeps: k-means then works on N × (2K + 32)
#: numbers rather than N × (2K + 512), and the image vectors are read a block at a time (rows.py), never
#: held whole (issue 25). On the miniworlds (64-dimensional vectors) 16 and 32 directions clustered as
#: all 64 did (no-learning.md); 8 lost half of the gain.
IMAGE_COMPONENTS = 32
#: Up to this many photos :func:`imagemix` is float32, as it always was (the quality grid's figures, bit for bit);
#: above, float16 rows (:class:`proxysort.rows.HalfRows`): at 10M photos the feature is then ~1 GB, not ~2 GB,
#: and k-means (:func:`proxysort.groups.kmeans`) reads it a block at a time (issue 25). The same number as
#: k-means' restart sample (:data:`proxysort.groups.RESTART_ROWS`): every set that k-means clustered whole, on
#: every row, is clustered as before. Labels against float32 at 200k-1M photos: benchmarks/results/half_feature.md.
HALF_ROWS = 65_536


def imagemix(scoremix_rows: "np.ndarray | ZeroShotView", images: "Matrix", weight: float = IMAGE_WEIGHT,
             components: int = IMAGE_COMPONENTS) -> "Features":
    """``scoremix`` beside the photos' unit image vectors, centred, projected on their
    ``components`` principal directions, scaled by the vectors' whole total variance (so the kept
    part has at most unit total variance) and weighted by ``weight`` (Euclidean k-means on it).

    Why: where CLIP's text side confuses two values (red and orange named alike) every score the words
    give is the same for both, so no feature of the scores can split them, while the image vectors often
    do (a linear probe tells them apart perfectly in the half-known miniworld). Beside the scores, the
    image part decides only what the scores leave open: the words still say which groups there are, at
    a weight where the image's own dominant structure does not pull groups the words do tell apart.
    Centring, directions and scale are over the photos of the run (a property of the set, like
    ``scoremix``); two passes over ``images`` (an array or a lazy row matrix), in float64 for the moments.
    ``scoremix_rows`` may be the zero-shot view that makes them
    (:class:`proxysort.learn.textonly.ZeroShotView`): they are then written into the output a block at a time,
    never held whole beside it (issue 25), the same numbers.
    """
    import numpy as np

    from proxysort.rows import BLOCK, blocks, map_blocks

    # Both passes are a function of each block (run where the rows are: on Ray workers for the store's
    # rows with `ray`); the moments are summed here in block order, so the set's directions are the same.
    n, total, second = 0, None, None
    for m, s, ss in map_blocks(images, image_moments):
        total = s if total is None else total + s
        second = ss if second is None else second + ss
        n += m
    assert total is not None and second is not None and n > 0  # a run has photos
    mean = total / n
    cov = second / n - np.outer(mean, mean)
    spread = float(max(np.trace(cov), 1e-12))
    _, vecs = np.linalg.eigh(cov)
    top = vecs[:, ::-1][:, :components]
    from proxysort.learn.textonly import ZeroShotView
    from proxysort.rows import HalfRows

    factor = weight / np.sqrt(spread)
    columns = map_blocks(images, image_columns, mean, top, factor)
    if n > HALF_ROWS and isinstance(scoremix_rows, ZeroShotView):
        # an archive: the image columns in float16, made a block at a time; the scoremix columns are made from the
        # cosines the result holds when read (no N-row float32 array, no second copy of what the cosines say)
        half = np.empty((n, top.shape[1]), np.float16)
        start = 0
        for block in columns:
            half[start : start + len(block)] = block
            start += len(block)
        return HalfRows(half, lead=scoremix_rows.mix_rows())
    if n > HALF_ROWS:  # an archive: float16 rows, made a block at a time (no N-row float32 array at all)
        mix = np.asarray(scoremix_rows, dtype=np.float32)
        mixes, width = blocks(mix), mix.shape[1]
        half = np.empty((n, width + top.shape[1]), np.float16)
        for part, at in ((mixes, slice(None, width)), (columns, slice(width, None))):
            start = 0
            for block in part:
                half[start : start + len(block), at] = block
                start += len(block)
        return HalfRows(half)
    if isinstance(scoremix_rows, ZeroShotView):
        width = 2 * scoremix_rows.Z.shape[1]
        out = np.empty((n, width + top.shape[1]), np.float32)  # filled a block at a time: no N×32 float64
        scoremix_rows.scoremix_into(out[:, :width], BLOCK)
    else:
        mix = np.asarray(scoremix_rows, dtype=np.float32)
        width = mix.shape[1]
        out = np.empty((n, width + top.shape[1]), np.float32)
        out[:, :width] = mix
    start = 0
    for image in columns:
        out[start : start + len(image), width:] = image
        start += len(image)
    return out


def image_moments(block: "np.ndarray") -> tuple[int, "np.ndarray", "np.ndarray"]:
    """(rows, sum, sum of outer products) of a block's unit rows, in float64: what :func:`imagemix` needs
    of each block to centre the photos and find their principal directions."""
    import numpy as np

    from proxysort.learn.textonly import unit_rows

    u = unit_rows(block).astype(np.float64)
    return len(u), u.sum(0), u.T @ u


def image_columns(block: "np.ndarray", mean: "np.ndarray", top: "np.ndarray", factor: float) -> "np.ndarray":
    """A block's unit rows centred on ``mean``, projected on the directions ``top`` and scaled by ``factor``:
    :func:`imagemix`'s image half of these photos (float32)."""
    import numpy as np

    from proxysort.learn.textonly import unit_rows

    u = unit_rows(block).astype(np.float64)
    u -= mean  # in place: one float64 block at a time, not two
    return (factor * (u @ top)).astype(np.float32)


def zero_shot_features(Z: "torch.Tensor", scale: float) -> dict[str, "np.ndarray"]:
    """``scores`` (cosines with the candidate prompts), ``probs`` (CLIP's softmax of them) and ``scoremix``."""
    import torch

    with torch.no_grad():
        probs = (scale * Z).softmax(-1)
        out = {"scores": Z, "probs": probs, "scoremix": scoremix(Z, probs)}
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}
