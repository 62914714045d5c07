"""``imagemix``, the default feature: the zero-shot view beside the image vectors (issue 21).

Where CLIP's text side names two values alike, every score the words give is the same for both, so no
feature made of the scores can split them; the image vectors can. These tests build that case by hand
(no model) and check the feature's construction; the measured effect is in benchmarks/results/no-learning.md
and the rule's guard on the miniworlds in tests/test_quality.py.
"""

from __future__ import annotations

import numpy as np

from proxysort.groups import kmeans
from proxysort.learn.core import IMAGE_WEIGHT, imagemix
from proxysort.learn.textonly import scoremix, softmax
from proxysort.metrics import score_all


def _confused(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three values; the words tell value 0 from the pair {1, 2} but score 1 and 2 alike, while the image
    vectors put 1 and 2 apart along a direction no word sees. Returns (scores, images, truth)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1, 2], n // 3)
    scores = np.where(truth[:, None] == 0, [0.30, 0.10], [0.10, 0.30]).astype(np.float32)
    scores += rng.normal(0, 0.01, scores.shape).astype(np.float32)
    images = rng.normal(0, 0.05, (n, 16)).astype(np.float32)
    images[:, 0] += 1.0
    images[:, 1] += np.select([truth == 1, truth == 2], [0.3, -0.3], 0.0)
    return scores, images, truth


def _nmi(truth: np.ndarray, feats: np.ndarray) -> float:
    return float(score_all(list(truth), kmeans(feats, 3, seed=0, spherical=False).labels)["nmi"])


def test_the_image_half_splits_values_the_words_score_alike() -> None:
    scores, images, truth = _confused()
    mixed = scoremix(scores, softmax(20.0 * scores))
    assert _nmi(truth, mixed) < 0.75  # the pair stays mixed: nothing in the scores tells them apart
    assert _nmi(truth, imagemix(mixed, images)) > 0.95


def test_imagemix_is_scoremix_beside_the_weighted_image_rows() -> None:
    scores, images, _ = _confused()
    mixed = scoremix(scores, softmax(20.0 * scores))
    out = imagemix(mixed, 3.0 * images)  # any length: the image rows are made unit first
    assert out.dtype == np.float32 and out.shape == (len(scores), mixed.shape[1] + images.shape[1])
    np.testing.assert_array_equal(out[:, : mixed.shape[1]], mixed)
    image = out[:, mixed.shape[1]:]
    np.testing.assert_allclose(image.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(image.var(0).sum(), IMAGE_WEIGHT**2, rtol=1e-4)
    one = imagemix(mixed[:1], images[:1])  # one photo: no spread, no NaN
    assert np.isfinite(one).all()
