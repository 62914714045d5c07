"""The NumPy cosine silhouette (proxysort.silhouette) gives scikit-learn's value, sample included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from proxysort.silhouette import cosine_silhouette


@pytest.mark.parametrize("n,d,k,sample", [(50, 8, 2, None), (300, 16, 5, 300), (400, 12, 7, 150), (30, 4, 29, None),
                                          (120, 32, 3, 2000)])
def test_same_value_as_scikit_learn(n, d, k, sample) -> None:
    rng = np.random.default_rng(n + k)
    X = rng.standard_normal((n, d)).astype(np.float32)
    labels = rng.integers(0, k, n) if k < n - 1 else np.arange(n) % k
    for seed in (0, 3):
        want = silhouette_score(X, labels, metric="cosine", sample_size=sample, random_state=seed)
        assert cosine_silhouette(X, labels, sample_size=sample, seed=seed) == pytest.approx(want, abs=1e-5)


def test_groups_of_one_score_zero_and_one_group_is_refused() -> None:
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    assert cosine_silhouette(X, labels) == pytest.approx(silhouette_score(X, labels, metric="cosine"), abs=1e-6)
    with pytest.raises(ValueError):
        cosine_silhouette(X, np.zeros(3, int))
