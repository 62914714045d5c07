"""proxysort: sort a folder of photos by the aspect you care about.

The library API is what the CLI calls. Names are resolved lazily (PEP 562) so that ``import proxysort``
and ``proxysort --help`` never import torch, open_clip or faiss.

    >>> import proxysort
    >>> idx = proxysort.index("~/photos", model=proxysort.ModelSpec("ViT-B-32", "openai"))
    >>> idx.paths[:3], idx.vectors.shape
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY = {
    "ModelSpec": "proxysort.encoders",
    "ClipModel": "proxysort.encoders",
    "load_clip": "proxysort.encoders",
    "Environment": "proxysort.env",
    "ProxysortError": "proxysort.errors",
    "ExitCode": "proxysort.errors",
    "index": "proxysort.indexer",
    "status": "proxysort.folder_status",
    "IndexedFolder": "proxysort.indexer",
    "get_words": "proxysort.words",
    "WordList": "proxysort.words",
    "sanitize_words": "proxysort.names",
    "vocab_anchors": "proxysort.lexicon",
    "Concept": "proxysort.learn.core",
    "ProxyConfig": "proxysort.learn.core",
    "ProxyResult": "proxysort.learn.core",
    "learn_proxies": "proxysort.learn.registry",
    "PromptEncoder": "proxysort.textpath",
    "By": "proxysort.sorting",
    "sort": "proxysort.sorting",
    "SortResult": "proxysort.sorting",
    "ConceptResult": "proxysort.sorting",
    "resolve_words": "proxysort.sorting",
    "write_folders": "proxysort.sorting",
    "Labels": "proxysort.evaluation",
    "read_labels": "proxysort.evaluation",
    "evaluate": "proxysort.evaluation",
    "kmeans": "proxysort.groups",
    "score_all": "proxysort.metrics",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'proxysort' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
