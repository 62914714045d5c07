"""The automatic number of groups (no `k`): the best silhouette, checked against how many words the photos use.

Two label-free signals, each of which fails by *merging* values, in different places:

* the **silhouette** of k-means on the clustered feature (:func:`silhouettes`) finds the structure that
  feature has. On zero-shot features it merges values the text tower confuses (the half-known miniworld:
  red and orange photos share one score profile, so it chose 3-4 groups for 6 colours);
* **words used** (:func:`words_used`): how many candidate words are the nearest word of a non-trivial share
  of the photos. A confused pair still uses both words (each takes part of both values' photos), so the
  count survives confusion; but the photos of a value missing from the list can pile onto a word that a
  true value already uses ("plain" and "dots" both nearest "checks"), which merges them.

Since each fails by merging, the larger of the two is chosen, and when they disagree every k between them
is named as close: the CLI says so and suggests `k`. Word use counts only where CLIP's softmax over the
words says something (:data:`WORD_ENTROPY`): for a concept the model does not know, the nearest word is
noise, so k is a guess and every k considered is named. When the best silhouette itself is weak
(:data:`WEAK_SILHOUETTE`), the k near it are named too. Both signals can still merge a pair the text tower
confuses into one word (the half-known miniworld's red and orange: "orange" is no photo's nearest word),
which neither sees; a word that no photo picks first but that is the runner-up of one other word's photos
(:func:`hidden_words`) may be such a pair, so one more k per such word is named as close (not chosen:
a synonym looks the same to the words, and no label-free reading of the image columns told the two apart,
benchmarks/results/auto-k-study.md).
Measured with the default feature on three miniworlds, 3 photo sets × 12 attributes, right / named as close
/ wrong: 21 / 15 / 0 (benchmarks/results/auto-k.md), and on photo sets the thresholds were not read from
20 / 16 / 0 (auto-k-heldout.md); before the last two rules 21 / 12 / 3 and 20 / 11 / 5.

Only NumPy (and FAISS through :func:`proxysort.groups.kmeans`): a cached re-run without `k` imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxysort.groups import count_distinct, kmeans

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Largest k the automatic choice considers: beyond this, folders stop being browsable anyway.
AUTO_K_MAX = 12
_SILHOUETTE_SAMPLE = 2000
#: Silhouettes within this of the best one are "close": the automatic k says which k they were.
CLOSE_SILHOUETTE = 0.02
#: A word is used when it is the nearest word of at least this share of the photos. Measured on the three
#: miniworlds' imperfect lists (benchmarks/results/auto-k.md), where the model knows the concept: words of a
#: true value (or of a missing value's nearest word) took 0.11 to 0.54 of the photos, unused distractors at
#: most 0.02; 0.05 sits in the gap. (Half-known shapes sit across it, 0.04-0.08: that concept stays unsure.)
WORD_SHARE = 0.05
#: Word use counts only when CLIP's softmax over the words is sharper than this normalised entropy (1 = the
#: same probability for every word). Measured: attributes the model knows or half-knows 0.27-0.88; position
#: and the symbols' random anchors, which the model does not know, 0.995-0.996; 0.95 sits in the gap.
WORD_ENTROPY = 0.95
#: Rousseeuw's reading: a best silhouette below 0.5 is weak structure. There one k's silhouette moved by up
#: to 0.09 between photo sets of the same world (half-known shapes, k = 4: 0.462, 0.372, 0.411), so every k
#: within :data:`WEAK_MARGIN` of the best is named as close rather than ruled out. Where the words say nothing,
#: every k is: the structure the silhouette finds may then be another attribute's (position: 3 groups chosen
#: for 3 values at NMI 0.003; 2 for 3 on photo set 4, with no k within the margin).
WEAK_SILHOUETTE = 0.5
WEAK_MARGIN = 0.1
#: A word no photo picks first is *hidden* behind another when at least this share of the photos whose runner-up
#: it is (itself at least :data:`WORD_SHARE` of all photos) pick that one other word first. Measured on every
#: word list of photo sets 0-2 (benchmarks/results/auto-k-study.md): the pairs the half-known text tower
#: confuses ("orange" behind "red", "purple" behind "blue", "stripes" behind "plain") 0.99-1.00; words behind
#: several ("huge" behind all three size words: 0.36) at most 0.81; 0.9 sits in the gap. A synonym sits above it
#: too ("gold" behind "yellow" 1.00), so a hidden word only names a k as close, never chooses it.
HIDDEN_BEHIND = 0.9


@dataclass(frozen=True)
class AutoK:
    """The chosen ``k``, the other k that fit about as well (``close``: the choice was unsure), and why."""

    k: int
    close: tuple[int, ...]
    silhouettes: dict[int, float]
    #: How many candidate words the photos use (:func:`words_used`); None where word use says nothing.
    words: int | None = None
    #: The words say nothing about these photos (random anchors, or a softmax over them that is nearly flat).
    unknown: bool = False
    #: How many words no photo picks first hide behind another word (:func:`hidden_words`): a pair the model
    #: may confuse, so one more group each may be there.
    hidden: int = 0

    def alternatives(self) -> str:
        """The close k in words: ``4``, ``4 or 5``, ``2, 3 or 4``."""
        others = [str(c) for c in self.close]
        return others[-1] if len(others) < 2 else f"{', '.join(others[:-1])} or {others[-1]}"

    def evidence(self) -> str:
        """The figures behind an unsure choice, in words (for the warning that names the close k)."""
        parts = []
        # Where the words say nothing every k is close: a figure for each would be noise, so none is given.
        if self.silhouettes and not self.unknown:
            shown = sorted({self.k, *self.close} & set(self.silhouettes))
            parts.append("silhouette " + ", ".join(f"{self.silhouettes[k]:.3f} for {k}" for k in shown))
        if self.unknown:
            parts.append("the words do not tell these photos apart, so k is a guess")
        elif self.words is not None and self.words != self.k:
            parts.append(f"the photos use {self.words} of the words")
        elif self.words is not None:
            parts.append(f"the photos use {self.words} of the words, as many as the groups chosen")
        if self.hidden:
            parts.append(f"{self.hidden} more word(s) come second only to one other word, as a pair the model "
                         "confuses would")
        return "; ".join(parts)


def silhouettes(features: "np.ndarray", n_words: int, *, seed: int = 0, spherical: bool = True) -> dict[int, float]:
    """Cosine silhouette of k-means for every k in 2..min(words, AUTO_K_MAX, distinct rows) (computed on at
    most 2,000 sampled rows); a k whose k-means leaves one group is absent."""
    from proxysort.silhouette import cosine_silhouette  # not sklearn's: its import is ~1.5 s of a re-run

    top = _top(features, n_words)
    sample = min(len(features), _SILHOUETTE_SAMPLE)
    out: dict[int, float] = {}
    for k in range(2, top + 1):
        # Two starts per candidate k are enough to rank them; the final clustering uses the full count.
        labels = kmeans(features, k, seed=seed, n_init=2, spherical=spherical).labels
        if len(set(labels.tolist())) < 2:
            continue
        out[k] = cosine_silhouette(features, labels, sample_size=sample, seed=seed)
    return out


def _top(features: "np.ndarray", n_words: int) -> int:
    most = min(max(n_words, 2), AUTO_K_MAX)
    return min(most, count_distinct(features, at_most=most), len(features) - 1)


def best_k(scores: dict[int, float]) -> int:
    """The k of the best silhouette in ``scores`` (the smallest on a tie; 1 for no scores)."""
    import numpy as np

    best_k_, best = 1, -np.inf
    for k in sorted(scores):
        if scores[k] > best + 1e-9:
            best_k_, best = k, scores[k]
    return best_k_ if scores else 1


def close_ks(scores: dict[int, float], chosen: int, margin: float = CLOSE_SILHOUETTE) -> list[int]:
    """The other k whose silhouette is within ``margin`` of the chosen one's: the automatic k was unsure."""
    if chosen not in scores:
        return []
    return [k for k in sorted(scores) if k != chosen and scores[k] >= scores[chosen] - margin]


def words_used(probs: "np.ndarray", *, share: float = WORD_SHARE, entropy: float = WORD_ENTROPY) -> int | None:
    """How many words are the nearest word of at least ``share`` of the photos, from CLIP's softmax over the
    words (N × words); None when that softmax is nearly flat (mean normalised entropy ≥ ``entropy``): the
    model cannot tell the words apart on these photos, so which one is nearest says nothing.

    Two synonyms in the list split their value's photos and count twice; no merge is attempted, because a
    merge by shared photos also merges the pairs a half-knowing text tower confuses, whose two words are
    exactly what finds their two values (measured, benchmarks/results/auto-k.md).
    """
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        return None
    flat = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1).mean() / np.log(p.shape[1])
    if flat >= entropy:
        return None
    shares = np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)
    return int((shares >= share).sum())


def hidden_words(probs: "np.ndarray", *, share: float = WORD_SHARE, behind: float = HIDDEN_BEHIND) -> int:
    """How many words are the nearest word of fewer than ``share`` of the photos yet the runner-up of at least
    ``share`` of them, ``behind`` of which pick one and the same word first (CLIP's softmax over the words,
    N × words).

    Why: where the text tower confuses two values (the half-known miniworld's red and orange), one word wins
    both values' photos and the other is only their close second, so :func:`words_used` counts one value
    where the photos have two. A synonym or a plausible distractor can look the same, so this only names more
    k as close; it chooses none.
    """
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        return 0
    order = np.argsort(-p, axis=1)
    first, second = order[:, 0], order[:, 1]
    picked = np.bincount(first, minlength=p.shape[1]) / len(p)
    count = 0
    for word in np.flatnonzero(picked < share):
        runner_up = second == word
        if runner_up.mean() >= share and np.bincount(first[runner_up]).max() >= behind * runner_up.sum():
            count += 1
    return count


def choose(features: "np.ndarray", n_words: int, *, seed: int = 0, spherical: bool = True,
           probs: "np.ndarray | None" = None, anchors: bool = False) -> AutoK:
    """The automatic k for ``features`` (the rows k-means will cluster) with ``n_words`` candidate words.

    ``probs`` is CLIP's softmax of each photo over the candidate words (N × words), None where the method
    gives none; ``anchors``: the words are random anchors, not values. The larger of the best-silhouette k
    and the words used is chosen (each signal fails by merging values); every k between them, the k within
    :data:`CLOSE_SILHOUETTE` of the best silhouette (within :data:`WEAK_MARGIN` when that silhouette is
    weak) and one more k per :func:`hidden_words` are ``close``; where the words say nothing (anchors, a flat
    softmax: the feature's structure may be another attribute's) every k considered is.
    """
    scores = silhouettes(features, n_words, seed=seed, spherical=spherical)
    by_silhouette = best_k(scores)
    used = None if anchors or probs is None or not scores else words_used(probs)
    unknown = anchors or (probs is not None and used is None)
    close = set(close_ks(scores, by_silhouette))
    if scores and scores[by_silhouette] < WEAK_SILHOUETTE:
        close |= set(close_ks(scores, by_silhouette, WEAK_MARGIN))
    if unknown:
        close |= set(scores)
    k = by_silhouette
    top = _top(features, n_words)
    if used is not None and 2 <= used <= top and used != by_silhouette:
        k = max(used, by_silhouette)
        close |= set(range(min(used, by_silhouette), k))
    hidden = 0 if used is None or probs is None else hidden_words(probs)
    close |= set(range(k + 1, min(k + hidden, top) + 1))
    close.discard(k)
    return AutoK(k, tuple(sorted(close)), scores, used, unknown, hidden)
