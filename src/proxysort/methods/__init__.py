"""The seed papers' full methods, each selectable by name beside proxy.py's basic modes.

* ``multimap`` – Multi-MaP (CVPR 2024): a free proxy started at the zero-shot word, with the reference-word
  term, the pull toward the concept word and the concept contrast (:mod:`proxysort.methods.multimap`);
* ``multisub`` – Multi-Sub (NeurIPS 2024): the subspace proxy with a learnable image-side linear map
  (phase I) alternating with a pseudo-label margin loss on [proxy, image] (phase II)
  (:mod:`proxysort.methods.multisub`);
* ``dproxy`` – Multi-DProxy (AAAI 2026): a temperature subspace proxy with user-interest and
  discriminability terms on schedules, pruning of an over-complete word list, and a per-image gate that
  fuses text-side and image features (:mod:`proxysort.methods.dproxy`).

This package only names them (importing it costs nothing). Every method module has
``learn(image_features, concepts, clip, config, reporter) -> list[ProxyResult]`` and returns the same :class:`proxysort.proxy.ProxyResult` as the basic modes, so k-means,
naming and evaluation do not care which one ran.
"""

from __future__ import annotations

#: Method name → module under proxysort.methods. proxy.py dispatches to them by name (importlib), so this
#: package depends on proxy.py and never the other way round.
METHODS = {"multimap": "multimap", "multisub": "multisub", "dproxy": "dproxy"}
