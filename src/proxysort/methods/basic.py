"""The basic modes: one token per photo and concept, learned alone (METHOD §3).

CLIP embeds every photo the same way whatever the user asks for, so clustering image vectors follows
whatever dominates them. Putting a learnable token into a prompt that names the concept ("a photo of a
fruit with a color of *") and pulling the prompt's text feature onto the image makes the token carry the
part of the image the concept is about; clustering those prompts follows the concept.

* ``zeroshot`` – no training, each image takes its nearest filled-in prompt (the CLIP baseline);
* ``subspace`` – the token is a softmax mix of the candidate words' embeddings, so it can never leave their
  convex hull (the reference-word constraint by construction); initialised from the zero-shot scores;
* ``free`` – the zero-shot word's embedding plus a free offset, penalised by ``alpha * |offset|^2``;
* ``linear`` – a softmax mix of the filled-in prompts' text features, no text encoder in the loop.

Several concepts at once add the concept-contrast term: each proxy should be nearer its own concept word
than the others (``beta``). Their results are rows per photo (:class:`FeatureSet`), made in NumPy from the
learned rows and the words' features (:func:`_from_rows`), which the proxy cache keeps: a re-run served
from it needs no model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from proxysort.learn import engine
from proxysort.learn.core import ProxyResult, result, seeded
from proxysort.learn.method import Epochs, Method, Rows, Run, Words

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.encoders import ClipModel
    from proxysort.learn.core import Concept, ProxyConfig
    from proxysort.rows import Features, Matrix

#: What the basic modes give besides their own rows: the zero-shot view over the candidate prompts, and
#: that view beside the image vectors (``imagemix``, made on access).
_SCORES = ("scores", "probs", "scoremix", "imagemix")
#: Epoch caps of the Adam engine: a CPU budget of minutes, a GPU one of seconds.
_ADAM_EPOCHS = Epochs(20, 300)


class FeatureSet(Mapping):
    """The k-means candidates of METHOD §4 for one concept, as float32 N×? numpy arrays (a read-only mapping).

    Only what was learned is held: the unit prompt features, and the logits (subspace, linear; zeroshot's are
    its scaled zero-shot scores, made on access) or the proxy rows (free). ``proxy``, ``weights``, ``concat``,
    ``fused`` and ``imagemix`` are derived on access from those and the image features (shared with the
    caller, not copied), so a run holds ~2 KB per photo and concept
    instead of ~10 KB, and a cached run can rebuild every feature from the cache's rows.
    """

    #: The features made afresh on every access (an array the caller may change in place: ProxyResult.owned_feature).
    made_on_access = frozenset({"imagemix"})

    def __init__(
        self,
        mode: str,
        images: "Matrix",
        prompt: "Matrix",
        *,
        logits: "np.ndarray | None" = None,
        proxy: "np.ndarray | None" = None,
        candidates: "np.ndarray | None" = None,
        fuse_weight: float = 0.5,
        zero_shot: "Mapping[str, np.ndarray] | None" = None,
        logit_scale: float | None = None,
    ) -> None:
        self.mode, self.images, self.prompt = mode, images, prompt
        self.logits, self.proxy_rows, self.candidates, self.fuse_weight = logits, proxy, candidates, fuse_weight
        #: zeroshot: its logits are this scale times the zero-shot ``scores``, made on access rather than held
        #: (K numbers per photo fewer, issue 25)
        self.logit_scale = logit_scale
        #: ``scores``, ``probs``, ``scoremix`` (N×K): the zero-shot view over the candidate prompts (the NumPy path
        #: makes the last two on access from the scores, :class:`proxysort.learn.textonly.ZeroShotView`).
        self.zero_shot = zero_shot if zero_shot is not None else {}  # read-only: shared, never copied
        names = ["prompt"]
        if logits is not None or logit_scale is not None:
            names.append("weights")
        if mode in ("subspace", "free"):
            names.append("proxy")
        mixed = ("imagemix",) if "scoremix" in self.zero_shot else ()
        self._names = (*names, "concat", "fused", *self.zero_shot, *mixed)

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

    def __contains__(self, name: object) -> bool:  # by name: Mapping's would make the feature (imagemix: two passes)
        return name in self._names

    def __getitem__(self, name: str) -> "Features":
        if name not in self._names:
            raise KeyError(name)
        if name == "imagemix":
            from proxysort.learn.core import imagemix
            from proxysort.learn.textonly import ZeroShotView

            # The view itself where there is one: its scoremix is then written into imagemix a block at a time,
            # not held whole beside it (issue 25)
            view = self.zero_shot if isinstance(self.zero_shot, ZeroShotView) else None
            return imagemix(view if view is not None else self.zero_shot["scoremix"], self.images)
        return self.array(name)

    def array(self, name: str) -> "np.ndarray":
        """Any feature but ``imagemix`` (an archive's is float16 rows: :meth:`__getitem__`), as an array."""
        import numpy as np

        if name == "prompt":
            return np.asarray(self.prompt, dtype=np.float32)
        if name in self.zero_shot:
            return self.zero_shot[name]
        if name == "weights":
            logits = self.logits
            if logits is None:  # "weights" is listed only with logits or their scale
                assert self.logit_scale is not None
                logits = np.float32(self.logit_scale) * self.zero_shot["scores"]
            from proxysort.learn.textonly import softmax

            return softmax(logits)
        if name == "proxy":
            return self.proxy_rows if self.proxy_rows is not None else self.array("weights") @ self.candidates
        if name == "concat":
            first = _unit_np(self.array("proxy")) if self.mode in ("subspace", "free") else self.array("prompt")
            images = np.asarray(self.images, dtype=np.float32)
            return (np.concatenate([first, images], axis=1) / np.float32(math.sqrt(2.0))).astype(np.float32)
        fw = np.float32(self.fuse_weight)
        return _unit_np(fw * self.array("prompt") + (np.float32(1.0) - fw) * np.asarray(self.images, dtype=np.float32))


def _unit_np(a: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class _Params:
    """One concept's per-photo parameters (one leaf per mini-batch) and what the refine engine computed."""

    def __init__(self, pb: engine.Problem) -> None:
        self.pb = pb
        self.params: list["torch.Tensor"] = []
        self.base: "torch.Tensor | None" = None  # free mode: N×d_tok zero-shot word embeddings
        self.prompts: list["torch.Tensor"] | None = None  # per batch, when the engine already computed them

    def proxy(self, mode: str, b: int, rows: slice) -> "torch.Tensor":
        """Token rows w_i of batch ``b`` (not for linear mode, which has no token)."""
        if mode == "subspace":
            return self.params[b].softmax(dim=-1) @ self.pb.G
        assert self.base is not None  # free mode: set by _init_params
        return self.base[rows] + self.params[b]

    def prompt(self, mode: str, b: int, rows: slice) -> "torch.Tensor":
        """Unit prompt features h(t_i*) of batch ``b``."""
        import torch

        if mode == "linear":
            return torch.nn.functional.normalize(self.params[b].softmax(dim=-1) @ self.pb.T, dim=-1)
        return self.pb.encoder.encode(self.proxy(mode, b, rows))


def _init_params(learners: list[_Params], mode: str, batches: list[slice], scale: float) -> None:
    """Subspace/linear logits start at the zero-shot softmax; free offsets start at the zero-shot word."""
    import torch

    for lp in learners:
        pb = lp.pb
        if mode == "free":
            lp.base = pb.G[pb.Z.argmax(dim=1)]
            init = torch.zeros_like(lp.base)
        else:
            init = scale * pb.Z
        lp.params = [init[rows].clone().requires_grad_(True) for rows in batches]


def _train(learners: list[_Params], X: "torch.Tensor", batches: list[slice], run: Run) -> list[float]:
    """Adam over every image's parameters until ``epochs`` or a loss plateau; the epoch losses per image,
    summed over concepts (the joint objective, shared by all results)."""
    import torch

    config = run.config
    mode = config.mode
    contrast = len(learners) > 1 and mode != "linear" and config.beta > 0
    U = engine.concept_words([lp.pb for lp in learners]) if contrast else None

    def loss_fn(b: int, rows: slice, _epoch: int) -> "torch.Tensor":
        total = X.new_zeros(())
        for c, lp in enumerate(learners):
            h = lp.prompt(mode, b, rows)
            total = total + (1.0 - (h * X[rows]).sum(dim=-1)).sum()
            if mode == "free" and config.alpha:
                total = total + config.alpha * lp.params[b].pow(2).sum()
            if U is not None:
                logits = lp.proxy(mode, b, rows) @ U.T
                target = torch.full((logits.shape[0],), c, dtype=torch.long, device=logits.device)
                total = total + config.beta * torch.nn.functional.cross_entropy(logits, target, reduction="sum")
        return total

    params = [[lp.params[b] for lp in learners] for b in range(len(batches))]
    return engine.adam(params, batches, loss_fn, run.epochs, run.lr, run.reporter,
                       f"fitting the words to each photo: {X.shape[0]} photos",
                       plateau=(config.tol, config.patience, config.min_epochs))


def _refine_all(learners: list[_Params], X: "torch.Tensor", batches: list[slice], run: Run, scale: float) -> list[float]:
    """The refine engine (refine.py) batch by batch; returns the mean exact loss per image after each round.

    Concepts only meet through the contrast term, which involves each concept's own proxy alone, so every
    (concept, photo) pair is optimised on its own.
    """
    from proxysort.refine import Fixed, refine

    config, n = run.config, X.shape[0]
    contrast = len(learners) > 1 and config.beta > 0
    U = engine.concept_words([lp.pb for lp in learners]) if contrast else None
    totals = [0.0] * (run.epochs + 1)
    with run.reporter.stage(f"fitting the words to each photo: {n} photos", total=n * len(learners)) as advance:
        for c, lp in enumerate(learners):
            pb = lp.pb
            fixed = Fixed(pb.encoder, pb.G, pb.T, U, c, config.beta if contrast else 0.0)
            lp.params, lp.prompts = [], []
            for rows in batches:
                out = refine(fixed, scale * pb.Z[rows], X[rows], rounds=run.epochs,
                             surrogate_steps=run.config.surrogate_steps, lr=run.lr)
                lp.params.append(out.logits)
                lp.prompts.append(out.prompt)
                for r, loss in enumerate(out.losses):
                    totals[r] += float(loss.sum())
                advance(rows.stop - rows.start)
    return [t / n for t in totals[1:]]  # totals[0] is the zero-shot start


def _rows(lp: _Params, mode: str, batches: list[slice]) -> tuple["np.ndarray", "np.ndarray"]:
    """The learned rows of every batch gathered: (unit prompt features, learned parameters: proxy rows for
    free, logits otherwise), what the proxy cache keeps and :func:`_from_rows` makes the result from."""
    import torch

    prompts, learned = [], []
    with torch.no_grad():
        for b, rows in enumerate(batches):
            prompts.append(lp.prompts[b] if lp.prompts is not None else lp.prompt(mode, b, rows))
            learned.append(lp.proxy(mode, b, rows) if mode == "free" else lp.params[b])
    return (torch.cat(prompts).detach().float().cpu().numpy(), torch.cat(learned).detach().float().cpu().numpy())


def _learn(image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel", run: Run) -> list[ProxyResult]:
    """Learn one proxy per image and concept. Deterministic for a given input, config and device: parameters
    start from the zero-shot scores, batches are fixed slices."""
    from proxysort.learn import textonly
    from proxysort.rows import whole

    config = run.config
    mode = config.mode
    if mode == "zeroshot":  # the prompts' text features are all it needs of the model; the rest is NumPy, so
        # a re-run from stored features (Method.from_words) gives these very bits
        words = [engine.prepared(c, clip, run)[2].detach().float().cpu().numpy() for c in concepts]
        return _zeroshot_from_words(image_features, concepts, words, engine.logit_scale(clip), run)
    where = engine.device(config, clip)
    size = engine.batch_size(config, where, clip, coupled=False)
    with seeded(config.seed, where):
        X = engine.images(image_features, where)
        learners = [_Params(engine.setup(c, clip, X, run)) for c in concepts]
        batches = engine.batches(X.shape[0], size)
        scale = engine.logit_scale(clip)
        history: list[float] = []
        if mode == "subspace" and config.engine == "refine":
            history = _refine_all(learners, X, batches, run, scale)
        else:
            _init_params(learners, mode, batches, scale)
            if run.epochs > 0:
                history = _train(learners, X, batches, run)
        images = textonly.unit_rows(whole(image_features))
        return [_from_rows(lp.pb.concept, images, *_rows(lp, mode, batches), engine.words(lp.pb.concept, clip, run),
                           run, history)
                for lp in learners]


def _from_rows(concept: "Concept", images: "np.ndarray", prompt: "np.ndarray", learned: "np.ndarray | None",
               words: Words, run: Run, history: Sequence[float]) -> ProxyResult:
    """A result made from its rows, in NumPy: unit prompt features and the learned parameters (logits for
    subspace and linear, proxy rows for free), the prompts' text features and (subspace) the words' token
    rows. ``images`` must already be unit rows (:func:`proxysort.learn.textonly.unit_rows`); they are shared,
    not copied, so several concepts hold one matrix between them. Learned and cached results are both made
    here, so a re-run served from the store has the learned result's bits."""
    import numpy as np

    from proxysort.learn import textonly

    mode = run.config.mode
    T = np.asarray(words.features, dtype=np.float32)
    Z = (images @ T.T).astype(np.float32)
    free = mode == "free"
    features = FeatureSet(mode, images, prompt, logits=None if free else learned, proxy=learned if free else None,
                          candidates=words.tokens, fuse_weight=run.config.fuse_weight,
                          zero_shot=textonly.zero_shot_features(Z, words.scale))
    return result(concept, features, T, Z, history, _METHODS[mode].default_feature)


def _zeroshot_from_words(images: "Matrix", concepts: Sequence["Concept"], words: Sequence["np.ndarray"],
                         scale: float, run: Run) -> list[ProxyResult]:
    """Zeroshot from the filled-in prompts' stored text features, in NumPy: what :func:`_learn` computes in
    torch for this mode (each photo's nearest prompt, the scaled cosines, the zero-shot view), without the
    model, so a cached re-run never imports torch."""
    import numpy as np

    from proxysort.learn import textonly
    from proxysort.rows import PickedRows, UnitRows, map_blocks

    # Photos in the store (rows.StoredRows) are scored a block at a time, in one pass for every concept, where
    # the rows are (on Ray workers with `ray`): what is kept per photo is K cosines and the index of its
    # nearest prompt, never its N×d vector or prompt.
    X: np.ndarray | UnitRows = textonly.unit_rows(images) if isinstance(images, np.ndarray) else UnitRows(images)
    tables = [np.asarray(T, dtype=np.float32) for T in words]
    scores = [np.empty((len(X), len(T)), np.float32) for T in tables]
    start = 0
    for parts in map_blocks(X, _cosines, tables):
        for Z, part in zip(scores, parts):
            Z[start : start + len(part)] = part
        start += len(parts[0])
    out = []
    for concept, T, Z in zip(concepts, tables, scores):
        prompts = PickedRows(T, Z.argmax(axis=1).astype(np.int32))  # 4 bytes a photo, not 8 (issue 25)
        features = FeatureSet("zeroshot", X, prompts, logit_scale=scale, fuse_weight=run.config.fuse_weight,
                              zero_shot=textonly.zero_shot_features(Z, scale))
        out.append(result(concept, features, T, Z, [], ZEROSHOT.default_feature, prompts=prompts))
    return out


def _cosines(block: "np.ndarray", tables: Sequence["np.ndarray"]) -> list["np.ndarray"]:
    """A block of unit photo rows against each concept's prompt features: its rows of every concept's scores."""
    return [block @ T.T for T in tables]


def _take(res: ProxyResult) -> tuple["np.ndarray", "np.ndarray | None"]:
    """The rows the proxy cache keeps of a result: unit prompt features and the learned parameters."""
    assert isinstance(res.features, FeatureSet)  # what _learn gives
    return res.features.array("prompt"), res.features.learned


_ROWS = Rows(_take, _from_rows)
#: Subspace's proxies are its weights over the words' token rows: its results read them.
_ROWS_WITH_TOKENS = Rows(_take, _from_rows, tokens=True)


def _refine_per_photo(config: "ProxyConfig") -> bool:
    """The refine engine gives each photo a result of its own; the Adam engine stops every photo at the same
    epoch, chosen from the loss of the whole set, so its results are a property of the set."""
    return config.engine == "refine"


def _always(config: "ProxyConfig") -> bool:
    return True


_LEARNED = ("prompt", "concat", "fused", *_SCORES)

ZEROSHOT = Method(
    "zeroshot", "no training: each photo takes its nearest filled-in prompt (CLIP's baseline)", _learn,
    features=("prompt", "weights", *_LEARNED[1:]), default_feature="imagemix", epochs=Epochs(0, 0), lr=0.0,
    per_photo=_always, from_words=_zeroshot_from_words,
)
SUBSPACE = Method(
    "subspace", "a per-photo mix of the candidate words' tokens (refine engine: exact passes per photo)", _learn,
    features=("prompt", "proxy", "weights", *_LEARNED[1:]), default_feature="prompt", epochs=_ADAM_EPOCHS, lr=0.1,
    engine_epochs={"refine": Epochs(1, 1, "exact passes per photo", "exact pass per photo")}, per_photo=_refine_per_photo,
    rows=_ROWS_WITH_TOKENS,
)
FREE = Method(
    "free", "the zero-shot word's token plus a free, penalised offset", _learn,
    features=("prompt", "proxy", *_LEARNED[1:]), default_feature="prompt", epochs=_ADAM_EPOCHS, lr=1e-3,
    rows=_ROWS,
)
LINEAR = Method(
    "linear", "a per-photo mix of the filled-in prompts' features (no text encoder in the loop)", _learn,
    features=("prompt", "weights", *_LEARNED[1:]), default_feature="prompt", epochs=_ADAM_EPOCHS, lr=0.1,
    rows=_ROWS,
)
_METHODS = {m.name: m for m in (ZEROSHOT, SUBSPACE, FREE, LINEAR)}
