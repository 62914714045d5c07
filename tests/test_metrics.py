"""Scores against ground truth, cross-checked with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from proxysort.metrics import METRICS, hungarian_accuracy, kmeans_scores, score_all, score_over_seeds


def test_perfect_clustering_under_any_renaming() -> None:
    scores = score_all(["a", "a", "b", "b", "c"], [2, 2, 0, 0, 1])
    assert all(scores[m] == pytest.approx(1.0) for m in METRICS)


def test_known_values() -> None:
    true = [0, 0, 0, 1, 1, 1]
    pred = [0, 0, 1, 1, 2, 2]
    s = score_all(true, pred)
    # 15 pairs: 2 together in both (01, 45) + 8 apart in both (9 cross pairs minus 23) = 10 agree.
    assert s["ri"] == pytest.approx(10 / 15)
    assert s["acc"] == pytest.approx(4 / 6)
    assert 0 < s["nmi"] < 1 and s["ari"] < s["ri"]


def test_hungarian_accuracy_with_more_clusters_than_classes() -> None:
    assert hungarian_accuracy(["x"] * 4, [0, 0, 1, 2]) == pytest.approx(0.5)
    assert hungarian_accuracy([0, 1, 2, 3], [0, 0, 0, 0]) == pytest.approx(0.25)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        score_all([0, 1], [0])


def test_random_labels_score_near_zero_adjusted() -> None:
    rng = np.random.default_rng(0)
    s = score_all(rng.integers(0, 4, 2000), rng.integers(0, 4, 2000))
    assert abs(s["ari"]) < 0.02 and abs(s["ami"]) < 0.02


def test_score_over_seeds_mean_and_std() -> None:
    true = [0, 0, 1, 1]
    runs = {0: [0, 0, 1, 1], 1: [0, 1, 0, 1]}
    res = score_over_seeds(true, lambda seed: runs[seed], seeds=[0, 1])
    assert len(res.per_seed) == 2
    assert res.mean["acc"] == pytest.approx(0.75)
    assert res.std["acc"] == pytest.approx(0.25)


def test_kmeans_scores_use_true_number_of_classes() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(3, 16)
    x = np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(60, 16))
    truth = np.repeat(["r", "g", "b"], 20)
    res = kmeans_scores(x.astype(np.float32), truth, seeds=range(3))
    assert res.mean["nmi"] == pytest.approx(1.0)
    assert res.std["nmi"] == pytest.approx(0.0)
