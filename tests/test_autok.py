"""The automatic k on synthetic photo sets with a known number of groups: the silhouette, the words the
photos use, which one wins when they disagree, and the k named as close (said by the CLI in flags)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from proxysort.autok import (
    WORD_ENTROPY,
    WORD_SHARE,
    AutoK,
    best_k,
    choose,
    close_ks,
    hidden_words,
    silhouettes,
    words_used,
)
from tests.support.photos import TINY_ARGS


def _blobs(groups: list[int], d: int = 16, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Rows around ``len(groups)`` orthogonal directions, ``groups[i]`` rows at the i-th; two entries that
    name the same direction (``[0, 0, 1]``) are two values the feature cannot tell apart."""
    rng = np.random.default_rng(seed)
    centres = np.eye(d)
    return np.concatenate([centres[g] + noise * rng.standard_normal((40, d)) for g in groups]).astype(np.float32)


def _probs(nearest: np.ndarray, n_words: int, sharpness: float = 8.0, seed: int = 0) -> np.ndarray:
    """CLIP-like softmax rows whose argmax is ``nearest`` (a sharp one unless ``sharpness`` is near 0)."""
    rng = np.random.default_rng(seed)
    logits = 0.3 * rng.standard_normal((len(nearest), n_words))
    logits[np.arange(len(nearest)), nearest] += sharpness
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_silhouette_finds_separated_groups() -> None:
    x = _blobs([0, 1, 2, 3])
    scores = silhouettes(x, 6)
    assert sorted(scores) == [2, 3, 4, 5, 6]
    assert best_k(scores) == 4 and close_ks(scores, 4) == []
    assert choose(x, 8).k == 4 and choose(x, 8).close == ()


def test_best_and_close_k() -> None:
    """The best silhouette wins (the smallest k on a tie); k within the margin of it are named as close."""
    scores = {2: 0.61, 3: 0.40, 4: 0.60, 5: 0.30}
    assert best_k(scores) == 2 and close_ks(scores, 2) == [4] and close_ks(scores, 2, margin=0.001) == []
    assert best_k({2: 0.5, 3: 0.5}) == 2 and best_k({}) == 1


def test_words_used_counts_words_nearest_to_a_real_share_of_photos() -> None:
    n = 400
    nearest = np.repeat([0, 1, 2, 3], [150, 130, 110, 10])  # word 3: 2.5 % of the photos, below the share
    assert 10 / n < WORD_SHARE < 110 / n
    assert words_used(_probs(nearest, 6)) == 3
    # A flat softmax (a concept the model does not know): which word is nearest says nothing.
    flat = _probs(nearest, 6, sharpness=0.0)
    flatness = -(flat * np.log(flat)).sum(1).mean() / np.log(6)
    assert flatness >= WORD_ENTROPY and words_used(flat) is None


def test_words_find_values_the_feature_merges() -> None:
    """Half-known: the feature cannot split values 0 and 1 (same direction), but the photos use a word for each
    (the text confuses them half the time, yet both words are used): 4 groups, 3 named as close."""
    x = _blobs([0, 0, 1, 2])
    truth = np.repeat([0, 1, 2, 3], 40)
    rng = np.random.default_rng(1)
    nearest = np.where(truth <= 1, np.where(rng.random(len(truth)) < 0.7, truth, 1 - truth), truth)
    assert best_k(silhouettes(x, 6)) == 3
    auto = choose(x, 6, probs=_probs(nearest, 6))
    assert (auto.k, auto.close, auto.words) == (4, (3,), 4)


def test_silhouette_finds_values_that_share_a_word() -> None:
    """A value missing from the words piles onto another value's word: 3 words used, 4 clear groups."""
    x = _blobs([0, 1, 2, 3])
    nearest = np.repeat([0, 1, 2, 2], 40)
    auto = choose(x, 5, probs=_probs(nearest, 5))
    assert (auto.k, auto.close, auto.words) == (4, (3,), 3)
    assert "silhouette" in auto.evidence() and "the photos use 3 of the words" in auto.evidence()


def test_agreeing_signals_are_sure() -> None:
    x = _blobs([0, 1, 2])
    sure = choose(x, 5, probs=_probs(np.repeat([0, 1, 2], 40), 5))
    assert (sure.k, sure.close, sure.words, sure.unknown) == (3, (), 3, False)


def test_words_that_say_nothing_leave_k_a_guess() -> None:
    """Two pairs of nearby groups: 2 has the best silhouette, 3 and 4 trail it by 0.02-0.1. With a sharp
    softmax that agrees, or no word signal at all, 2 is sure; where the model cannot tell the words apart or
    the words are anchors, the structure may be another attribute's, so every other k considered is named."""
    c = np.zeros((4, 16))
    c[[0, 1], 0] = c[[2, 3], 1] = 1.0
    c[1, 2] = c[3, 3] = 0.6
    rng = np.random.default_rng(0)
    x = np.concatenate([ci + 0.05 * rng.standard_normal((40, 16)) for ci in c]).astype(np.float32)
    scores = silhouettes(x, 6)
    assert best_k(scores) == 2 and close_ks(scores, 2) == [] and close_ks(scores, 2, 0.1) == [3, 4]
    pairs = np.repeat([0, 1], 80)
    assert choose(x, 6).close == () and choose(x, 6, probs=_probs(pairs, 6)).close == ()
    flat = choose(x, 6, probs=_probs(pairs, 6, sharpness=0.0))
    anchors = choose(x, 6, probs=_probs(pairs, 6), anchors=True)
    for auto in (flat, anchors):
        assert (auto.k, auto.close, auto.words, auto.unknown) == (2, (3, 4, 5, 6), None, True)
        assert "k is a guess" in auto.evidence() and "silhouette" not in auto.evidence()


def _confused_pair_probs(truth: np.ndarray, n_words: int) -> np.ndarray:
    """CLIP-like softmax rows where values 0 and 1 both pick word 0 first and word 1 a close second (a pair the
    text tower confuses); values 2 and 3 pick their own word first and one of the unused words 4 and 5 second."""
    rng = np.random.default_rng(0)
    logits = 0.3 * rng.standard_normal((len(truth), n_words))
    rows = np.arange(len(truth))
    logits[rows, np.where(truth == 1, 0, truth)] += 8.0
    logits[truth <= 1, 1] += 7.0
    logits[truth >= 2, 4:] += 2.0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_a_word_hidden_behind_another_names_one_more_k() -> None:
    """Values 0 and 1 share a direction of the feature and word 0 wins both: the silhouette and the words
    used both see 3 groups. Word 1 is no photo's first word but the runner-up of value 1's photos, every one
    of them behind word 0 (a confused pair, or a synonym: the words cannot tell), so 4 is named, not chosen.
    The unused words 4 and 5 come second behind two words each: not hidden."""
    x = _blobs([0, 0, 1, 2])
    truth = np.repeat([0, 1, 2, 3], 40)
    probs = _confused_pair_probs(truth, 6)
    assert words_used(probs) == 3 and hidden_words(probs) == 1
    auto = choose(x, 6, probs=probs)
    assert (auto.k, auto.close, auto.words, auto.hidden) == (3, (4,), 3, 1)
    assert "1 more word(s) come second only to one other word" in auto.evidence()
    # The same photos with every word their own value's: nothing hides.
    sure = choose(x, 6, probs=_probs(truth, 6))
    assert sure.hidden == 0 and 5 not in sure.close


def test_weak_structure_names_the_k_near_the_best() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((200, 16)).astype(np.float32)  # no groups at all
    auto = choose(noise, 6)
    assert max(auto.silhouettes.values()) < 0.5 and len(auto.close) >= 1


def test_alternatives_read_as_a_list() -> None:
    assert AutoK(3, (2,), {}).alternatives() == "2"
    assert AutoK(6, (3, 4, 5), {}).alternatives() == "3, 4 or 5"


def test_cli_says_which_k_were_close(run_cli, photo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning names the close k and the flag that settles it (the rule's own figures are tested above)."""
    import proxysort.autok

    monkeypatch.setattr(proxysort.autok, "choose",
                        lambda *a, **kw: AutoK(3, (2,), {2: 0.41, 3: 0.42}, words=2))
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue", "--dry-run",
                      *TINY_ARGS])
    assert result.exit_code == 0, result.stderr
    assert ("color: unsure how many groups: 3 chosen, but 2 fit almost as well (silhouette 0.410 for 2, 0.420 "
            "for 3; the photos use 2 of the words); give --k if you know how many values there are.") in result.stderr
