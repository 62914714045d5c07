"""The learning methods, one module each, each declaring itself as one :class:`proxysort.learn.method.Method`:

* :mod:`~proxysort.methods.basic` – ``zeroshot``, ``subspace``, ``free``, ``linear``: one token per photo
  and concept, learned alone (per-photo results the proxy cache keeps);
* :mod:`~proxysort.methods.multimap` – Multi-MaP (CVPR 2024): a free proxy started at the zero-shot word,
  with the reference-word term, the pull toward the concept word and the concept contrast;
* :mod:`~proxysort.methods.multisub` – Multi-Sub (NeurIPS 2024): the subspace proxy with a learnable
  image-side linear map (phase I) alternating with a pseudo-label margin loss on [proxy, image] (phase II);
* :mod:`~proxysort.methods.dproxy` – Multi-DProxy (AAAI 2026): a temperature subspace proxy with
  user-interest and discriminability terms on schedules, pruning of an over-complete word list, and a
  per-image gate that fuses text-side and image features.

Every method returns the same :class:`proxysort.learn.core.ProxyResult`, so k-means, naming and evaluation
do not care which one ran. This package imports nothing: :mod:`proxysort.learn.registry` imports each
method module (one line per method), and the methods import only :mod:`proxysort.learn`'s core modules.
"""
