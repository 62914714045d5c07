"""``imagemix``, the default feature: the zero-shot view beside the image vectors (issue 21).

Where CLIP's text side names two values alike, every score the words give is the same for both, so no
feature made of the scores can split them; the image vectors can. These tests build that case by hand
(no model) and check the feature's construction; the measured effect is in benchmarks/results/no-learning.md
and the rule's guard on the miniworlds in tests/test_quality.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from proxysort.groups import WORDS_SHARE_POWER, clustered_feature, image_factor, kmeans, words_share
from proxysort.learn.core import IMAGE_WEIGHT, Concept, imagemix, result
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


def _result(scores: np.ndarray, images: np.ndarray):
    """A zero-shot result with ``scoremix`` and ``imagemix`` made from these scores and images (no model)."""
    mixed = scoremix(scores, softmax(20.0 * scores))
    words = np.eye(scores.shape[1], dtype=np.float32)
    return result(Concept("c", tuple(f"w{i}" for i in range(scores.shape[1]))),
                  {"scoremix": mixed, "imagemix": imagemix(mixed, images)}, words, scores, [], "imagemix")


def test_words_share_is_high_where_the_words_group_the_photos_tightly() -> None:
    scores, _, _ = _confused()
    mixed = scoremix(scores, softmax(20.0 * scores))
    tight = words_share(mixed, 2)  # the words' two groups: value 0, and the pair they score alike
    rng = np.random.default_rng(1)
    loose = words_share(rng.normal(size=mixed.shape).astype(np.float32), 2)  # words that tell nothing apart
    assert tight > 0.95 and loose < 0.5
    assert words_share(mixed, 1) == 1.0


def test_imagemix_is_weighed_at_k_by_a_power_of_the_words_share_on_a_copy() -> None:
    scores, images, truth = _confused()
    res = _result(scores, images)
    rows = np.arange(len(scores))
    width = res.feature("scoremix").shape[1]
    factor = image_factor(res, "imagemix", rows, 3)
    assert factor == pytest.approx(words_share(res.feature("scoremix"), 3) ** WORDS_SHARE_POWER)
    assert image_factor(res, "scoremix", rows, 3) == 1.0  # no other feature is weighed
    before = res.feature("imagemix").copy()
    out = clustered_feature(res, "imagemix", rows, 3)
    np.testing.assert_array_equal(res.feature("imagemix"), before)  # the result's own rows are untouched
    np.testing.assert_array_equal(out[:, :width], before[:, :width])
    np.testing.assert_allclose(out[:, width:], factor * before[:, width:], rtol=1e-6)
    assert _nmi(truth, out) > 0.95  # the words group tightly: the image still splits the pair


def test_the_image_weighs_less_where_the_words_know_little() -> None:
    """Words that barely separate the values leave their groups loose: the image columns, whose own strongest
    structure may be another attribute, are scaled down rather than left to take over."""
    scores, images, _ = _confused()
    rng = np.random.default_rng(2)
    vague = (0.2 + 0.01 * scores + rng.normal(0, 0.02, scores.shape)).astype(np.float32)
    rows = np.arange(len(scores))
    assert image_factor(_result(vague, images), "imagemix", rows, 3) < 0.7 * image_factor(
        _result(scores, images), "imagemix", rows, 3)


def test_the_sort_measures_every_photo_in_the_weighed_feature() -> None:
    """Photos left out of the tree are placed by their nearest group and every photo's centroid score is
    measured in the same numbers k-means saw: the kept rows and all rows are weighed alike."""
    from proxysort.sorting import at_k

    scores, images, _ = _confused()
    res = _result(scores, images)
    before = res.feature("imagemix").copy()
    rows = np.ones(len(scores), dtype=bool)
    rows[::7] = False
    x, xk = at_k(res, "imagemix", rows, 3, 0)
    np.testing.assert_array_equal(x[rows], xk)
    np.testing.assert_array_equal(xk, clustered_feature(res, "imagemix", rows, 3))
    np.testing.assert_array_equal(res.feature("imagemix"), before)
    every, kept = at_k(res, "imagemix", np.ones(len(scores), dtype=bool), 3, 0)
    assert every is kept  # every photo kept: one array, no second copy
    plain, _ = at_k(res, "scoremix", rows, 3, 0)
    assert plain is res.feature("scoremix")


def test_every_photo_kept_is_weighed_in_place_on_a_feature_made_on_access() -> None:
    """Issue 25: the default result makes ``imagemix`` afresh on each access, so at k it is weighed in place
    (no second N-row array at the peak) with the same numbers as the copy ``clustered_feature`` weighs; a feature
    the result holds is copied before anyone may change it."""
    from proxysort.learn.textonly import zero_shot_features
    from proxysort.methods.basic import FeatureSet
    from proxysort.rows import PickedRows
    from proxysort.sorting import at_k

    scores, images, _ = _confused()
    words = np.eye(scores.shape[1], dtype=np.float32)
    prompts = PickedRows(words, scores.argmax(axis=1))
    features = FeatureSet("zeroshot", images, prompts, logit_scale=20.0, zero_shot=zero_shot_features(scores, 20.0))
    res = result(Concept("c", ("w0", "w1")), features, words, scores, [], "imagemix", prompts=prompts)
    before = res.feature("imagemix")
    owned = res.owned_feature()
    assert owned is not before and not np.shares_memory(owned, before)
    np.testing.assert_array_equal(owned, before)
    held = res.owned_feature("scores")
    assert not np.shares_memory(held, res.feature("scores"))  # held by the result: a copy
    every = np.ones(len(scores), dtype=bool)
    x, xk = at_k(res, "imagemix", every, 3, 0)
    assert x is xk
    np.testing.assert_array_equal(xk, clustered_feature(res, "imagemix", every, 3))
    np.testing.assert_array_equal(res.feature("imagemix"), before)  # made afresh: nothing of the result changed
    assert not np.array_equal(xk, before)  # and it was weighed


@pytest.mark.parametrize("n", [1, 50, 16384 + 3])
def test_imagemix_of_the_zero_shot_view_writes_the_same_bits_a_block_at_a_time(n: int) -> None:
    """Issue 25: from the view, ``scoremix`` is written into ``imagemix`` a block of photos at a time (no N×2K
    array beside it); every number is the one made from the whole ``scoremix`` (blocks of rows.BLOCK)."""
    from proxysort.learn.textonly import zero_shot_features
    from proxysort.rows import BLOCK

    assert BLOCK == 16384  # the largest n crosses a block's edge
    rng = np.random.default_rng(n)
    scores = rng.normal(0.2, 0.05, (n, 5)).astype(np.float32)
    images = rng.normal(size=(n, 16)).astype(np.float32)
    view = zero_shot_features(scores, 100.0)
    assert imagemix(view, images).tobytes() == imagemix(view["scoremix"], images).tobytes()
