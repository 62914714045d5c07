"""A learning method declared as one object: what the rest of proxysort may know about it.

Everything that used to be decided by comparing method names in several modules (which learner runs,
whether its result may be cached per photo or split between Ray workers, which features it offers and
clusters by default, its epochs per device, whether it needs the number of groups) is a field here, read
by the registry, the proxy cache, the Ray learner and the CLI's help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from proxysort.learn.options import Options

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.learn.core import Concept, ProxyConfig, ProxyResult
    from proxysort.progress import Reporter
    from proxysort.rows import Matrix


@dataclass(frozen=True)
class Epochs:
    """A method's default epochs per device type, and what one of them is."""

    cpu: int
    cuda: int
    unit: str = "epochs"
    one: str = "epoch"  # the unit of a count of 1

    def on(self, device: str) -> int:
        return self.cuda if device == "cuda" else self.cpu

    def _count(self, n: int) -> str:
        return f"{n} {self.one if n == 1 else self.unit}"

    def __str__(self) -> str:
        if self.cpu == self.cuda:
            return self._count(self.cpu)
        return f"{self._count(self.cpu)} on CPU, {self.cuda} on GPU"


@dataclass
class Run:
    """One learning call as a method sees it: the settings with the device's defaults filled in (the
    epochs and step size, also in ``config``, which keys the cache), the method's parsed options, the
    number of groups when the caller knows it and the method uses it, and ``prepared`` (prompt encoders
    shared between calls on chunks of photos)."""

    config: "ProxyConfig"
    epochs: int
    lr: float
    options: Any
    k: int | None
    reporter: "Reporter"
    prepared: dict = field(default_factory=dict)


class Learn(Protocol):
    def __call__(self, image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel",
                 run: Run) -> list["ProxyResult"]: ...


@dataclass(frozen=True)
class Words:
    """What a result is made from besides the photos' rows, as NumPy (float32): the candidate prompts' unit
    text features ``features`` (K×D), CLIP's logit scale, and the candidate words' token rows ``tokens``
    (K×d_tok; None unless the method's :attr:`Rows.tokens` asks for them). All of it is kept in the store,
    so a result rebuilt from it needs no model."""

    features: "np.ndarray"
    scale: float
    tokens: "np.ndarray | None" = None


class FromRows(Protocol):
    """Make one concept's result, in NumPy, from its rows (unit prompt features and the learned parameters,
    ``None`` when the method learns none) and the concept's :class:`Words`; ``images`` are the photos'
    unit rows (:func:`proxysort.learn.textonly.unit_rows`)."""

    def __call__(self, concept: "Concept", images: "np.ndarray", prompt: "np.ndarray", learned: "np.ndarray | None",
                 words: Words, run: Run, history: Sequence[float]) -> "ProxyResult": ...


@dataclass(frozen=True)
class Rows:
    """How a result is kept as rows per photo (the proxy cache): ``take`` gives a result's unit prompt
    features and learned parameters (None when none are learned), ``rebuild`` makes the result from them
    in NumPy. The method makes its own results with ``rebuild`` too, so a result served from the store has
    the bits of the one learned (no model: a re-run whose rows and words are stored never imports torch).
    ``tokens``: whether ``rebuild`` reads the candidate words' token rows (:attr:`Words.tokens`)."""

    take: Callable[["ProxyResult"], tuple["np.ndarray", "np.ndarray | None"]]
    rebuild: FromRows
    tokens: bool = False


class Learned(dict):
    """Features (:func:`proxysort.learn.textonly.features`) beside the rows per photo they were made from
    (``learned``), which the proxy cache keeps (:func:`take`): some of those rows (Multi-Sub's mapped
    images) are no feature."""

    def __init__(self, made: Mapping[str, "np.ndarray"], learned: "np.ndarray") -> None:
        super().__init__(made)
        self.learned = learned


def take(res: "ProxyResult") -> tuple["np.ndarray", "np.ndarray | None"]:
    """The rows the proxy cache keeps of a result made as :class:`Learned`: unit prompt features, learned rows."""
    assert isinstance(res.features, Learned)  # what the methods that declare this give
    return res.features["prompt"], res.features.learned


class LearnStored(Protocol):
    """Learn through a store of the method's own intermediate steps (DProxy's word-choice nodes), which
    ``nodes_for(concept, digest)`` opens per concept and set of photos; None when the options learn none."""

    def __call__(self, image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel", run: Run,
                 nodes_for: Callable[["Concept", str], Any]) -> list["ProxyResult"] | None: ...


class FromWords(Protocol):
    """Learn from the candidate prompts' unit text features alone (NumPy, no model): ``words[c]`` (K×D
    float32) are concept ``c``'s filled-in prompts, ``scale`` CLIP's logit scale, ``images`` unit rows, in
    memory or read a block at a time (:mod:`proxysort.rows`)."""

    def __call__(self, images: "Matrix", concepts: Sequence["Concept"], words: Sequence["np.ndarray"],
                 scale: float, run: Run) -> list["ProxyResult"]: ...


class FromStored(Protocol):
    """Make a :class:`LearnStored` run again from what the store keeps alone, in NumPy, no model: its steps
    (through ``nodes_for`` as there) and the candidate prompts' unit text features ``words[c]`` (K×D float32,
    every word of concept ``c``) and CLIP's logit scale ``scale``; None when a step is missing (the model is
    then needed to learn it)."""

    def __call__(self, image_features: "Matrix", concepts: Sequence["Concept"], words: Sequence["np.ndarray"],
                 scale: float, run: Run, nodes_for: Callable[["Concept", str], Any]) -> list["ProxyResult"] | None: ...


def _never(config: "ProxyConfig") -> bool:
    return False


def _unchanged(options: Any, feature: str) -> Any:
    return options


@dataclass(frozen=True)
class Method:
    """One learning method. ``learn`` is the only required behaviour; the rest are declarations."""

    name: str
    summary: str  # one line for ``--method``'s help
    learn: Learn
    features: tuple[str, ...]  # the features its results may hold
    default_feature: str  # what k-means clusters unless told otherwise
    epochs: Epochs  # default epochs with its default engine
    lr: float  # default Adam step size (ProxyConfig.lr None)
    options: type[Options] = Options
    #: Whether it reads the number of groups (``k``); the others never see it.
    uses_k: bool = False
    #: Epochs of another engine where they mean something else (subspace's refine engine counts exact passes).
    engine_epochs: Mapping[str, Epochs] = field(default_factory=dict)
    #: True when a photo's result depends on its own vector alone (not on the run's other photos): it can be
    #: cached per photo (new photos learn only their own) and split between Ray workers.
    per_photo: Callable[["ProxyConfig"], bool] = _never
    #: Set for methods whose results the proxy cache keeps as rows per photo and makes again from them in
    #: NumPy: a run whose every photo's rows the store holds never loads the model, nor imports torch.
    rows: Rows | None = None
    #: Set for methods that keep intermediate steps between runs (the proxy cache gives them a store).
    learn_stored: LearnStored | None = None
    #: Set for such methods when a run whose steps are all stored needs nothing else of the model than the
    #: words' text features and its logit scale: it then never loads the model, nor imports torch.
    from_stored: FromStored | None = None
    #: Set for methods that need nothing of the model but the words' text features and its logit scale: a
    #: run whose words the store already holds then never loads the model, nor imports torch.
    from_words: FromWords | None = None
    #: The options once the feature to cluster is known (a method may learn more for some features).
    settle: Callable[[Any, str], Any] = _unchanged

    def __post_init__(self) -> None:
        if self.default_feature not in self.features:
            raise ValueError(f"method {self.name}: default feature {self.default_feature} is not one it gives")

    def default_epochs(self, engine: str, device: str) -> int:
        return self.engine_epochs.get(engine, self.epochs).on(device)

    def parse(self, given: Any) -> Options:
        """The caller's options as this method's typed :attr:`options` (refused in one sentence otherwise)."""
        return self.options.parse(given, self.name)
