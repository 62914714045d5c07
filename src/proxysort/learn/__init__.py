"""The learning layer: how proxies are learned, by which method, with which options.

* :mod:`proxysort.learn.core` – what every method takes and gives: :class:`Concept`, :class:`ProxyConfig`,
  :class:`ProxyResult` (built by :func:`proxysort.learn.core.result` alone), the zero-shot score features;
* :mod:`proxysort.learn.options` – typed per-method options, refused in one sentence when unknown or ill-typed;
* :mod:`proxysort.learn.method` – :class:`Method`, the one object a method declares itself with;
* :mod:`proxysort.learn.engine` – what the methods share: the problem set-up, the checks, the Adam loop;
* :mod:`proxysort.learn.registry` – the registered methods (one line each) and :func:`learn_proxies`.

The methods themselves live in :mod:`proxysort.methods`, one module each. This package's ``__init__``
imports nothing, so the import graph stays one-way: registry → methods → engine → core.
"""
