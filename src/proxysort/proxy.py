"""The learning API under its first name, for library users: ``from proxysort.proxy import learn_proxies``.

The learning layer lives in :mod:`proxysort.learn` (core types, typed options, the engine, the registry)
and :mod:`proxysort.methods` (one module per method). This module only re-exports what library users
imported from here; proxysort's own modules import from :mod:`proxysort.learn` directly.
"""

from __future__ import annotations

from proxysort.learn.core import (
    DEFAULT_MODE,
    ENGINES,
    EUCLIDEAN_FEATURES,
    FEATURES,
    MAX_SEED,
    Concept,
    ProxyConfig,
    ProxyResult,
    photo_keys,
    scoremix,
    seeded,
    unit_rows,
    zero_shot_features,
)
from proxysort.learn.registry import DEFAULT_FEATURE, METHODS, MODES, learn_proxies
from proxysort.methods.basic import FeatureSet

__all__ = [
    "DEFAULT_FEATURE", "DEFAULT_MODE", "ENGINES", "EUCLIDEAN_FEATURES", "FEATURES", "MAX_SEED", "METHODS", "MODES",
    "Concept", "FeatureSet", "ProxyConfig", "ProxyResult", "learn_proxies", "photo_keys", "scoremix", "seeded",
    "unit_rows", "zero_shot_features",
]
