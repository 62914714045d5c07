"""An archive's clustered feature and the steps that read it, a block at a time (issue 25, item 5).

Above ``HALF_ROWS`` photos ``imagemix`` is float16 rows (``rows.HalfRows``) and k-means runs Lloyd on them a
block at a time; above ``RESTART_ROWS`` the naming tests, the unsure margins, a group's centre and spread
are computed a block of photos at a time. These tests lower both thresholds so that small sets take the
archive's path, and compare it with the whole-array path on the same photos. Up to the thresholds every
number is the whole arrays' own (tests/test_imagemix.py, tests/test_quality.py and the fidelity grid hold).
"""

from __future__ import annotations

import numpy as np
import pytest

from proxysort import groups
from proxysort.learn import core
from proxysort.learn.core import Concept, result
from proxysort.learn.textonly import zero_shot_features
from proxysort.metrics import score_all
from proxysort.rows import HalfRows


def _photos(n: int = 1800, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosines with 4 words, 24-d unit image vectors, true values): values 0-2 named by words 0-2, value 3
    scored like value 2 but apart in the image."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    words = np.eye(4, 24, dtype=np.float32)
    centres = rng.normal(size=(4, 24)).astype(np.float32)
    x = 0.6 * words[np.minimum(truth, 2)] + 0.4 * centres[truth] + 0.08 * rng.normal(size=(n, 24)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (x @ words.T).astype(np.float32), x.astype(np.float32), truth


def _result(scores: np.ndarray, images: np.ndarray):
    from proxysort.methods.basic import FeatureSet
    from proxysort.rows import PickedRows

    words = np.eye(scores.shape[1], images.shape[1], dtype=np.float32)
    prompts = PickedRows(words, scores.argmax(axis=1))
    features = FeatureSet("zeroshot", images, prompts, logit_scale=50.0, zero_shot=zero_shot_features(scores, 50.0))
    return result(Concept("c", tuple(f"w{i}" for i in range(scores.shape[1]))), features, words, scores, [],
                  "imagemix", prompts=prompts)


def test_an_archive_imagemix_is_the_float32_feature_in_float16_rows(monkeypatch) -> None:
    scores, images, _ = _photos()
    whole = _result(scores, images).feature("imagemix")
    assert isinstance(whole, np.ndarray) and whole.dtype == np.float32
    monkeypatch.setattr(core, "HALF_ROWS", 1000)
    half = _result(scores, images).feature("imagemix")
    assert isinstance(half, HalfRows) and half.half.dtype == np.float16 and half.shape == whole.shape
    read = np.asarray(half)
    assert read.dtype == np.float32 and not np.array_equal(read, whole)  # rounded ...
    np.testing.assert_allclose(read, whole, rtol=2**-10, atol=1e-4)  # ... to float16
    np.testing.assert_array_equal(half[[3, 1]], read[[3, 1]])  # a few rows read as float32
    np.testing.assert_array_equal(np.asarray(half.subset(np.arange(len(read)) % 3 == 0)), read[::3])


def test_an_archive_imagemix_reads_its_scoremix_columns_from_the_cosines_it_holds(monkeypatch) -> None:
    # Only the image columns are stored; the scoremix columns are made from the N×K cosines when read, rounded to
    # float16 as stored columns were: the very numbers of the feature that stored them all (32 B a photo less).
    scores, images, _ = _photos()
    monkeypatch.setattr(core, "HALF_ROWS", 1000)
    half = _result(scores, images).feature("imagemix")
    width = 2 * scores.shape[1]
    assert isinstance(half, HalfRows) and half.lead is not None
    assert half.half.shape == (len(scores), half.shape[1] - width) and np.shares_memory(half.lead.Z, scores)
    stored = np.concatenate([zero_shot_features(scores, 50.0)["scoremix"].astype(np.float16), half.half], axis=1)
    read = np.asarray(half)
    np.testing.assert_array_equal(read, stored.astype(np.float32))
    mask = np.arange(len(scores)) % 7 == 2
    np.testing.assert_array_equal(half[11], read[11])  # one row, a few, a mask, a slice, a subset's rows
    np.testing.assert_array_equal(half[[9, 4]], read[[9, 4]])
    np.testing.assert_array_equal(half[mask], read[mask])
    np.testing.assert_array_equal(half[100:300], read[100:300])
    np.testing.assert_array_equal(np.asarray(half.subset(mask)), read[mask])  # the whole set's statistics kept


def test_weighing_float16_rows_scales_their_image_columns_as_they_are_read(monkeypatch) -> None:
    from proxysort.sorting import at_k

    scores, images, _ = _photos()
    every = np.ones(len(scores), dtype=bool)
    whole, _ = at_k(_result(scores, images), "imagemix", every, 4, 0)
    monkeypatch.setattr(core, "HALF_ROWS", 1000)
    half, kept = at_k(_result(scores, images), "imagemix", every, 4, 0)
    assert isinstance(half, HalfRows) and half is kept
    width = 2 * scores.shape[1]
    assert np.all(half.scale[:width] == 1) and np.all(half.scale[width:] < 1)  # the image columns weighed
    np.testing.assert_allclose(np.asarray(half), whole, rtol=2**-10, atol=1e-4)
    some = np.arange(len(scores)) % 5 != 0
    _, few = at_k(_result(scores, images), "imagemix", some, 4, 0)
    assert isinstance(few, HalfRows) and len(few) == some.sum()  # the kept photos stay float16 rows


def test_kmeans_of_float16_rows_finds_the_groups_float32_finds(monkeypatch) -> None:
    """Restarts on the seeded sample, then Lloyd on every row a block at a time (two blocks here)."""
    from proxysort.rows import BLOCK
    from proxysort.sorting import at_k

    scores, images, truth = _photos(n=BLOCK + 3000)
    every = np.ones(len(scores), dtype=bool)
    monkeypatch.setattr(groups, "RESTART_ROWS", 2000)
    x32, _ = at_k(_result(scores, images), "imagemix", every, 4, 0)
    ref = groups.kmeans(x32, 4, seed=0, spherical=False)
    monkeypatch.setattr(core, "HALF_ROWS", 2000)
    x16, _ = at_k(_result(scores, images), "imagemix", every, 4, 0)
    assert isinstance(x16, HalfRows)
    new, again = (groups.kmeans(x16, 4, seed=0, spherical=False) for _ in range(2))
    assert np.array_equal(new.labels, again.labels)  # seeded
    assert score_all(ref.labels, new.labels)["acc"] >= 0.999
    assert score_all(truth, new.labels)["nmi"] == pytest.approx(score_all(truth, ref.labels)["nmi"], abs=1e-3)
    assert new.objective == pytest.approx(ref.objective, rel=1e-3)
    assert 1 <= new.iterations < groups.DEFAULT_NITER  # stopped where no row changed group
    np.testing.assert_array_equal(new.labels, groups._assign(x16, new.centroids))  # each row at its nearest
    spherical = groups.kmeans(x16, 4, seed=0, spherical=True)
    np.testing.assert_allclose(np.linalg.norm(spherical.centroids, axis=1), 1, atol=1e-5)
    scores_of = groups.centroid_scores(x16, new.labels, new.centroids)  # block-wise readers take it too
    assert scores_of.shape == (len(truth),) and np.all(scores_of <= 1 + 1e-6)


def test_naming_a_block_at_a_time_gives_the_names_and_figures_of_the_whole(monkeypatch) -> None:
    """The naming tests' moments of several blocks combined equal the whole arrays' (to float rounding), and
    the unsure photos are the same."""
    scores, images, _ = _photos(n=2000, seed=1)
    labels = groups.kmeans(images, 4, seed=0).labels
    words, names = np.eye(4, 24, dtype=np.float32), ["w0", "w1", "w2", "w9"]
    vocab = ["w0", "w1", "w2", "w3"]
    sims = groups.similarities(images, words)

    def everything():
        weak = groups._weak_names(sims, labels, names, vocab, -100.0)  # every group: all figures compared
        return (groups._word_fit(sims, labels, names, vocab), groups._word_share(sims, labels, names, vocab),
                groups._word_precision(sims, labels, names, vocab),
                [(w.cluster, w.match, w.others, w.effect) for w in weak])

    centres = groups.cluster_centres(images, labels, 4)
    whole, unsure = everything(), groups.find_unsure(images, labels, centres, names, spherical=True, neutral=False)
    naming = groups.name_groups("c", images, labels, 4, images, words, vocab)
    monkeypatch.setattr(groups, "RESTART_ROWS", 300)
    blocks, unsure_b = everything(), groups.find_unsure(images, labels, centres, names, spherical=True, neutral=False)
    for a, b in zip(whole, blocks):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=1e-5, atol=1e-6)
    assert len(whole[3]) == 3  # the group named after no word has no figure
    np.testing.assert_array_equal(unsure[0], unsure_b[0])
    assert unsure[1] == pytest.approx(unsure_b[1])
    again = groups.name_groups("c", images, labels, 4, images, words, vocab)
    assert (again.names, [w.cluster for w in again.weak]) == (naming.names, [w.cluster for w in naming.weak])


def test_words_share_a_block_at_a_time(monkeypatch) -> None:
    scores, _, _ = _photos(n=2000, seed=2)
    mix = zero_shot_features(scores, 50.0)["scoremix"]
    whole = groups.words_share(mix, 4)
    monkeypatch.setattr(groups, "RESTART_ROWS", 300)
    assert groups.words_share(mix, 4) == pytest.approx(whole, rel=1e-6)


def test_a_groups_memory_a_block_at_a_time(monkeypatch) -> None:
    """stable.remember measures each group's centre and spread on its rows read a block at a time above
    RESTART_ROWS photos (never a group's rows copied whole): the same memory, to float rounding."""
    from proxysort.stable import remember

    _, images, _ = _photos(n=1500, seed=3)
    labels = groups.kmeans(images, 4, seed=0).labels
    paths = [f"p{i}" for i in range(len(labels))]
    names = ["a", "b", "c", "d"]

    def memory():
        return remember(images, labels, names, paths, paths, setup=(("k", "4"),), spherical=True)

    whole = memory()
    monkeypatch.setattr(groups, "RESTART_ROWS", 200)
    blocks = memory()
    for g, h in zip(whole.groups, blocks.groups):
        np.testing.assert_allclose(g.centre, h.centre, atol=1e-6)
        assert g.spread == pytest.approx(h.spread, rel=1e-5)


def test_a_re_run_places_new_photos_by_float16_rows_as_by_float32(monkeypatch) -> None:
    """stable.place and remember read an archive's feature a block at a time: old photos keep their group, new
    ones join the nearest, as with the float32 rows."""
    from proxysort.stable import place, remember

    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(c, 0.05, (600, 6)) for c in (0.0, 1.0)]).astype(np.float32)
    labels = np.repeat([0, 1], 600)
    paths = [f"p{i}" for i in range(len(x))]
    new = np.concatenate([x, np.array([[0.02] * 6, [0.97] * 6], dtype=np.float32)])
    setup = (("k", "2"),)

    def rerun(features, again):
        memory = remember(features, labels, ["a", "b"], paths, paths, setup=setup, spherical=False)
        return memory, place(again, [*paths, "n0", "n1"], [*paths, "n0", "n1"], memory, spherical=False)

    memory32, placed32 = rerun(x, new)
    monkeypatch.setattr(groups, "RESTART_ROWS", 500)
    memory16, placed16 = rerun(HalfRows(x.astype(np.float16)), HalfRows(new.astype(np.float16)))
    assert placed16 is not None and placed32 is not None
    assert placed16.labels.tolist() == placed32.labels.tolist() == [*labels.tolist(), 0, 1]
    assert (placed16.new, placed16.unchanged, placed16.misfits) == (placed32.new, placed32.unchanged, placed32.misfits)
    np.testing.assert_allclose(placed16.centres, placed32.centres, atol=1e-3)
    for g, h in zip(memory16.groups, memory32.groups):
        np.testing.assert_allclose(g.centre, h.centre, atol=1e-3)
        assert g.spread == pytest.approx(h.spread, rel=1e-2)
