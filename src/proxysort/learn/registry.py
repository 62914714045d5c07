"""The registered learning methods and the one entry point that runs them.

A new method is a module of :mod:`proxysort.methods` that declares one :class:`Method` (name, typed
options, features and default feature, epochs, capabilities, ``learn``) plus one line in :data:`METHODS`
below. Nothing else in proxysort compares method names: the proxy cache, the Ray learner, :func:`sort`
and the CLI's help read the declarations.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

from proxysort.errors import UsageError
from proxysort.learn import engine
from proxysort.learn.core import DEFAULT_MODE, FEATURES, Concept, ProxyConfig, ProxyResult
from proxysort.learn.method import Method, Run
from proxysort.methods import basic, dproxy, multimap, multisub
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover

    from proxysort.encoders import ClipModel
    from proxysort.rows import Matrix

#: Every method, by name, in the order ``--method`` lists them: one line per method.
METHODS: dict[str, Method] = {m.name: m for m in (
    basic.ZEROSHOT,
    basic.SUBSPACE,
    basic.FREE,
    basic.LINEAR,
    multimap.METHOD,
    multisub.METHOD,
    dproxy.METHOD,
)}
MODES = tuple(METHODS)
DEFAULT_METHOD = METHODS[DEFAULT_MODE]
DEFAULT_FEATURE = DEFAULT_METHOD.default_feature
assert set().union(*(m.features for m in METHODS.values())) <= set(FEATURES)

__all__ = ["DEFAULT_FEATURE", "DEFAULT_METHOD", "DEFAULT_MODE", "METHODS", "MODES", "Concept", "ProxyConfig",
           "ProxyResult", "learn_proxies", "method", "method_for", "run_for", "settled"]


def method(name: str) -> Method:
    """The method called ``name``, or a one-sentence refusal naming the parameter."""
    found = METHODS.get(name)
    if found is None:
        raise UsageError(f"`mode` must name a proxy mode, one of {', '.join(MODES)}; not {name!r}.")
    return found


def method_for(config: ProxyConfig) -> Method:
    """``config``'s method, after checking every setting and the method's options (nothing is learned)."""
    config.validate()
    found = method(config.mode)
    found.parse(config.options)
    return found


def settled(config: ProxyConfig, feature: str | None) -> tuple[ProxyConfig, str]:
    """(``config`` with its options typed and settled for the feature clustered, the feature): ``None``
    takes the method's default feature; one the method cannot give is refused before anything is learned."""
    found = method_for(config)
    feature = feature or found.default_feature
    if feature not in found.features:
        raise UsageError(f"`feature` {feature} is not given by method {found.name}; it gives "
                         f"{', '.join(found.features)}.")
    return dataclasses.replace(config, options=found.settle(found.parse(config.options), feature)), feature


def run_for(
    config: ProxyConfig | None, clip: "ClipModel | None", *, k: int | None = None, reporter: Reporter | None = None,
    prepared: dict | None = None, device: str | None = None,
) -> tuple[Method, Run]:
    """The method and the :class:`Run` it is given: the device's epochs and step size filled in, the options
    typed, ``k`` passed only to a method that uses it. Without a model, ``device`` is the device type the
    defaults are read for (a run served from stored results, which knows it without torch; default cpu)."""
    config = config or ProxyConfig()
    found = method_for(config)
    # No model: the method learns from stored word features in NumPy (Method.from_words), on the CPU, or is
    # made again from its stored steps (Method.from_stored) for the device they were learned on.
    kind = engine.device(config, clip).type if clip is not None else (device or "cpu")
    epochs = config.epochs if config.epochs is not None else found.default_epochs(config.engine, kind)
    lr = config.lr if config.lr is not None else found.lr
    options = found.parse(config.options)
    resolved = dataclasses.replace(config, epochs=epochs, lr=lr, options=options)
    run = Run(resolved, epochs, lr, options, k if found.uses_k else None, engine.OnceReporter(reporter or Reporter()),
              prepared if prepared is not None else {})
    return found, run


def learn_proxies(
    image_features: "Matrix",
    concepts: Sequence[Concept],
    clip: "ClipModel",
    config: ProxyConfig | None = None,
    reporter: Reporter | None = None,
    *,
    k: int | None = None,
    prepared: dict | None = None,
) -> list[ProxyResult]:
    """Learn one proxy per image and concept with ``config.mode``'s method; one :class:`ProxyResult` per
    concept, in the given order.

    ``image_features`` are the unit-norm N×d features of ``clip``'s image tower. ``k`` is the number of groups
    when the caller knows it (methods that prune candidate words stop at k; the others never see it).
    ``prepared`` (a dict the caller keeps) lets calls on several chunks of photos share their prompt encoders.
    Deterministic for a given input, config, k and device.
    """
    found, run = run_for(config, clip, k=k, reporter=reporter, prepared=prepared)
    engine.check_inputs(image_features, concepts, clip)
    return found.learn(image_features, concepts, clip, run)


def epochs_help() -> str:
    """What ``--epochs`` means for each method by default, from the declarations."""
    parts = []
    for m in METHODS.values():
        if m.epochs.cpu or m.engine_epochs:
            shown = m.engine_epochs.get(ProxyConfig.engine, m.epochs)
            parts.append(f"{m.name} {shown}")
    return "; ".join(parts)
