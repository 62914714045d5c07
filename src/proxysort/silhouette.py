"""The cosine silhouette of a clustering in NumPy, for the automatic choice of k.

Why not ``sklearn.metrics.silhouette_score``: importing it pulls in scipy, pandas and most of scikit-learn,
~1.5 s of a cached ``cluster`` re-run without ``--k`` (benchmarks/results/cached-rerun.md), for a sum over
a matrix of at most 2,000 × 2,000 distances. Same definition, same sample (NumPy's ``RandomState(seed)``
permutation, as scikit-learn draws it), distances in float64; ``tests/test_silhouette.py`` compares them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def cosine_silhouette(features: "np.ndarray", labels: "np.ndarray", *, sample_size: int | None = None,
                      seed: int = 0) -> float:
    """The mean silhouette of ``labels`` under the cosine distance (1 - cosine, in [0, 2]), on
    ``sample_size`` rows drawn with ``seed`` (all rows, in a shuffled order, when it is None or larger).
    A photo alone in its group scores 0. Fewer than 2 groups, or as many groups as rows, in the rows used
    raise ValueError, as scikit-learn does."""
    import numpy as np

    X = np.asarray(features)
    labels = np.asarray(labels)
    if sample_size is not None:
        rows = np.random.RandomState(seed).permutation(X.shape[0])[:sample_size]
        X, labels = X[rows], labels[rows]
    _, codes = np.unique(labels, return_inverse=True)
    n, m = len(codes), int(codes.max()) + 1 if len(codes) else 0
    if not 2 <= m <= n - 1:
        raise ValueError(f"a silhouette needs 2 to {n - 1} groups, got {m}")
    unit = X.astype(np.float64)
    norms = np.linalg.norm(unit, axis=1, keepdims=True)
    unit /= np.where(norms == 0, 1.0, norms)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    sums = distances @ np.eye(m)[codes]  # n × m: each row's summed distance to every group
    sizes = np.bincount(codes, minlength=m).astype(np.float64)
    everyone = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = sums[everyone, codes] / (sizes[codes] - 1)
        sums[everyone, codes] = np.inf
        inter = (sums / sizes).min(axis=1)
        scores = (inter - intra) / np.maximum(intra, inter)
    return float(np.mean(np.nan_to_num(scores)))  # alone in its group: 0/0, scored 0
