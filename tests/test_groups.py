"""k-means on separable data, its errors, the automatic k, and group names that never collide."""

from __future__ import annotations

import numpy as np
import pytest

from proxysort import groups
from proxysort.errors import UsageError
from proxysort.groups import DEFAULT_N_INIT, centroid_scores, cluster_centres, kmeans, name_clusters
from proxysort.metrics import score_all


def _blobs(k: int = 4, per: int = 30, d: int = 32, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per, axis=0) + noise * rng.normal(size=(k * per, d))
    truth = np.repeat(np.arange(k), per)
    return x.astype(np.float32), truth, centres.astype(np.float32)


def test_kmeans_recovers_separable_blobs() -> None:
    x, truth, _ = _blobs()
    result = kmeans(x, 4, seed=0)
    assert result.labels.shape == (120,)
    assert result.centroids.shape == (4, 32)
    assert np.allclose(np.linalg.norm(result.centroids, axis=1), 1, atol=1e-4)
    assert score_all(truth, result.labels)["nmi"] == pytest.approx(1.0)
    assert 1 <= result.iterations <= 50 * DEFAULT_N_INIT  # iterations FAISS really ran, over every start


def test_kmeans_is_deterministic_per_seed() -> None:
    x, _, _ = _blobs(noise=0.6)
    a, b = kmeans(x, 5, seed=3), kmeans(x, 5, seed=3)
    assert np.array_equal(a.labels, b.labels)
    assert a.objective == pytest.approx(b.objective)


def test_kmeans_objective_is_sum_of_squared_distances() -> None:
    x, _, _ = _blobs(noise=0.3)
    r = kmeans(x, 3, seed=1)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert r.objective == pytest.approx(float(((unit - r.centroids[r.labels]) ** 2).sum()), rel=1e-4)


def test_restarts_on_a_sample_find_what_restarts_on_every_row_find(monkeypatch) -> None:
    """Above RESTART_ROWS rows the restarts run on a sample and one start on every row follows: on blobs where
    one start alone can land in a bad optimum, the result is the all-rows restarts' (and stays seeded)."""
    x, truth, _ = _blobs(k=6, per=200, d=8, noise=0.35, seed=4)
    every = kmeans(x, 6, seed=2, spherical=False)
    monkeypatch.setattr(groups, "RESTART_ROWS", 300)
    sampled, again = kmeans(x, 6, seed=2, spherical=False), kmeans(x, 6, seed=2, spherical=False)
    assert np.array_equal(sampled.labels, again.labels)
    assert sampled.objective == pytest.approx(every.objective, rel=1e-3)
    assert score_all(truth, sampled.labels)["nmi"] == pytest.approx(score_all(truth, every.labels)["nmi"], abs=1e-3)
    assert sampled.iterations <= 50  # the start on every row; the restarts ran on the sample
    single = [kmeans(x, 6, seed=s, spherical=False, n_init=1).objective for s in range(10)]
    assert max(single) > every.objective * 1.01  # one start alone can do worse: the restarts matter here


def test_kmeans_k_one_and_non_spherical() -> None:
    x, _, _ = _blobs()
    one = kmeans(x, 1)
    assert set(one.labels.tolist()) == {0}
    flat = kmeans(x * 3.0, 4, spherical=False)
    assert np.linalg.norm(flat.centroids, axis=1).mean() > 2.0


@pytest.mark.parametrize(
    ("k", "fragment"),
    [(0, "at least 1"), (-2, "at least 1"), (11, "more clusters than there are photos (10)")],
)
def test_impossible_k_is_a_usage_error(k: int, fragment: str) -> None:
    x, _, _ = _blobs(k=2, per=5)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        kmeans(x, k)


def test_more_clusters_than_distinct_points_is_a_usage_error() -> None:
    x = np.repeat(np.eye(3, 8, dtype=np.float32), 4, axis=0)  # 12 rows, 3 distinct
    with pytest.raises(UsageError, match="3 of 12 are different"):
        kmeans(x, 4)
    assert len(set(kmeans(x, 3).labels.tolist())) == 3


def test_names_follow_nearest_word() -> None:
    x, truth, centres = _blobs()
    words = ["red", "green", "blue", "yellow"]
    names = name_clusters(cluster_centres(x, truth, 4), centres, words)
    assert names == words


def test_two_clusters_wanting_the_same_word_get_different_names() -> None:
    # Both centres are closest to word 0; the assignment gives the second one its next-best word.
    words = ["red", "green", "blue"]
    wf = np.eye(3, 4, dtype=np.float32)
    centres = np.array([[1.0, 0.2, 0.0, 0], [0.9, 0.0, 0.3, 0]], dtype=np.float32)
    assert name_clusters(centres, wf, words) == ["red", "blue"]


def test_more_clusters_than_words_get_suffixes() -> None:
    x, truth, centres = _blobs(k=5)
    names = name_clusters(cluster_centres(x, truth, 5), centres[:2], ["red", "green"])
    assert len(set(names)) == 5
    assert {"red", "green"} <= set(names)
    assert all(n.split("-")[0] in {"red", "green"} for n in names)


def test_suffix_never_collides_with_a_real_word() -> None:
    words = ["red", "red-2"]
    wf = np.eye(2, 4, dtype=np.float32)
    centres = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0.1, 0, 0]], dtype=np.float32)
    names = name_clusters(centres, wf, words)
    assert len(set(names)) == 3 and names[:2] == ["red", "red-2"]


def test_no_words_gives_numbered_names() -> None:
    assert name_clusters(np.eye(3, dtype=np.float32), np.zeros((0, 3), dtype=np.float32), []) == [
        "cluster-1",
        "cluster-2",
        "cluster-3",
    ]


def test_centroid_scores_are_cosines() -> None:
    x, truth, centres = _blobs(noise=0.0)
    s = centroid_scores(x, truth, centres)
    assert np.allclose(s, 1.0, atol=1e-5)


def test_k_errors_name_the_parameter_not_a_flag() -> None:
    from proxysort.groups import check_k

    with pytest.raises(UsageError, match=r"^`k` must be at least 1 \(got 0\)\.$"):
        check_k(0)
    with pytest.raises(UsageError, match=r"^`k` 5 asks for more clusters than there are photos \(4\); use `k` 4 or fewer\.$"):
        check_k(5, 4)
    check_k(4, 4, 4)
