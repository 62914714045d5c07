"""The seed papers' full methods, each selectable by name beside proxy.py's basic modes.

* ``multimap`` – Multi-MaP (CVPR 2024): a free proxy started at the zero-shot word, with the reference-word
  term, the pull toward the concept word and the concept contrast (:mod:`proxysort.methods.multimap`);
* ``multisub`` – Multi-Sub (NeurIPS 2024): the subspace proxy with a learnable image-side linear map
  (phase I) alternating with a pseudo-label margin loss on [proxy, image] (phase II)
  (:mod:`proxysort.methods.multisub`);
* ``dproxy`` – Multi-DProxy (AAAI 2026): a temperature subspace proxy with user-interest and
  discriminability terms on schedules, pruning of an over-complete word list, and a per-image gate that
  fuses text-side and image features (:mod:`proxysort.methods.dproxy`).

This module only names them (importing it costs nothing); :func:`run_method` imports the one asked for.
Every method returns the same :class:`proxysort.proxy.ProxyResult` as the basic modes, so k-means,
naming and evaluation do not care which one ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.progress import Reporter
    from proxysort.proxy import Concept, ProxyConfig, ProxyResult

#: Method name → module under proxysort.methods.
METHODS = {"multimap": "multimap", "multisub": "multisub", "dproxy": "dproxy"}


def run_method(
    image_features: "np.ndarray",
    concepts: Sequence["Concept"],
    clip: "ClipModel",
    config: "ProxyConfig",
    reporter: "Reporter",
) -> list["ProxyResult"]:
    """Learn proxies with the method ``config.mode`` (one of :data:`METHODS`)."""
    import importlib

    module = importlib.import_module(f"proxysort.methods.{METHODS[config.mode]}")
    return module.learn(image_features, concepts, clip, config, reporter)
