"""Clustering scores against ground truth, computed the way the multi-clustering papers report them.

The papers report NMI (sklearn, arithmetic normalisation) and the *unadjusted* Rand index, each the mean
over ten k-means seeds. RI is inflated when there are many clusters, so AMI, ARI and the Hungarian
(best one-to-one mapping) accuracy are reported beside them. sklearn and scipy are imported inside the
functions so the CLI starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

#: Labels as lists (strings from labels.csv) or arrays (k-means output).
Labels = Sequence[object] | np.ndarray

#: Order in which scores are printed.
METRICS = ("nmi", "ami", "ari", "ri", "acc")
#: The papers' protocol: ten k-means seeds.
DEFAULT_SEEDS = tuple(range(10))


def _codes(labels: Labels) -> np.ndarray:
    """Any hashable labels (strings, ints) → integer codes, so every metric sees the same input."""
    return np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)[1]


def hungarian_accuracy(true: Labels, pred: Labels) -> float:
    """Fraction of items correct under the best one-to-one mapping of clusters to classes.

    Works when the numbers of clusters and classes differ: unmatched clusters count as wrong.
    """
    from scipy.optimize import linear_sum_assignment

    t, p = _codes(true), _codes(pred)
    if len(t) == 0:
        return 0.0
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(t))


def score_all(true: Labels, pred: Labels) -> dict[str, float]:
    """NMI, AMI, ARI, RI and Hungarian accuracy of one clustering ``pred`` against labels ``true``."""
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        normalized_mutual_info_score,
        rand_score,
    )

    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true labels but {len(pred)} predicted labels")
    t, p = _codes(true), _codes(pred)
    return {
        "nmi": float(normalized_mutual_info_score(t, p, average_method="arithmetic")),
        "ami": float(adjusted_mutual_info_score(t, p, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(t, p)),
        "ri": float(rand_score(t, p)),
        "acc": hungarian_accuracy(t, p),
    }


@dataclass(frozen=True)
class SeedScores:
    """Scores of one clustering run per seed, with their mean and (population) standard deviation."""

    per_seed: tuple[dict[str, float], ...]

    @property
    def mean(self) -> dict[str, float]:
        return {m: float(np.mean([s[m] for s in self.per_seed])) for m in METRICS}

    @property
    def std(self) -> dict[str, float]:
        return {m: float(np.std([s[m] for s in self.per_seed])) for m in METRICS}


def score_over_seeds(
    true: Labels,
    cluster_with_seed: Callable[[int], Labels],
    seeds: Iterable[int] = DEFAULT_SEEDS,
) -> SeedScores:
    """Run ``cluster_with_seed(seed) -> labels`` for each seed and score every run.

    Taking a callable keeps this module free of any particular clustering: the pipeline passes k-means
    on its chosen features, tests pass anything.
    """
    return SeedScores(tuple(score_all(true, cluster_with_seed(seed)) for seed in seeds))


def kmeans_scores(
    features: np.ndarray,
    true: Labels,
    k: int | None = None,
    *,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    spherical: bool = True,
) -> SeedScores:
    """The papers' protocol: k-means with the true number of classes (unless ``k``), one run per seed."""
    from proxysort.groups import kmeans

    k = k if k is not None else len(set(map(str, true)))
    return score_over_seeds(true, lambda seed: kmeans(features, k, seed=seed, spherical=spherical).labels, seeds)
