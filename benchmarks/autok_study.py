"""What the automatic k can and cannot read without labels, and which cells the default still trails the best
no-learning view in (issue 21, items 4 and 2).

    python benchmarks/autok_study.py --seeds 0,1,2,3,4,5 --out benchmarks/results/auto-k-study.md

For every world × attribute × word list (exact, imperfect — the auto-k regime of quality.py --grid —, long,
lexicon) and photo set, zero-shot learned as the default is:

1. *Automatic k* (proxysort.autok.choose, as the sort calls it): the true k chosen, named among the close k
   (the CLI warns), or neither; and how often a right choice still warned. *Before*: the close k of the rule
   without its last two parts (every k where the words say nothing; one more k per hidden word), recomputed
   from the same silhouettes and words used. Photo sets 0-2 and 3-5 apart (the thresholds were read on 0-2).
2. *Hidden words* (autok.hidden_words): each word no photo picks first that is the runner-up behind one
   other word, with (labels, for this report only) whether that word's photos hold two values (a pair the
   text confuses: one group more is right) or one (a synonym: it is not), and the image columns' 2-means
   split of that word's photos: how far apart the two halves' log-ratio of the hidden word to the winner
   lies, in the log-ratio's standard deviations (*split d*). If the image could tell a pair from a synonym
   without labels, the pairs' split d would sit apart from the synonyms'.
3. *Cells below the rule* (k = the true number): the default's NMI (``imagemix`` weighed at k), the best
   no-learning partition per photo set (what the rule compares with: the labels pick the best of four
   views), and the best single view over the photo sets; with the words' own k-means share at k, the
   label-free signal that sets the image weight.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

VIEWS = ("zero-shot argmax", "scores", "probs", "scoremix")
#: Photo-set halves reported apart: the thresholds of proxysort.autok were read on the first.
HALVES = ((0, 1, 2), (3, 4, 5))


def close_before(auto, top: int) -> list[int]:
    """The close k of the rule before its last two parts, from ``auto``'s own silhouettes and words used."""
    from proxysort.autok import CLOSE_SILHOUETTE, WEAK_MARGIN, WEAK_SILHOUETTE, best_k, close_ks

    scores = auto.silhouettes
    by_silhouette = best_k(scores)
    close = set(close_ks(scores, by_silhouette, CLOSE_SILHOUETTE))
    if scores and (auto.unknown or scores[by_silhouette] < WEAK_SILHOUETTE):
        close |= set(close_ks(scores, by_silhouette, WEAK_MARGIN))
    if auto.words is not None and 2 <= auto.words <= top and auto.words != by_silhouette:
        close |= set(range(min(auto.words, by_silhouette), max(auto.words, by_silhouette)))
    close.discard(auto.k)
    return sorted(close)


def hidden_detail(res, truth: list[str]) -> list[dict]:
    """Every hidden word of ``res``'s softmax (autok.hidden_words' test, word by word) with what the labels say
    of it and the image columns' split of the winner's photos."""
    from proxysort.autok import HIDDEN_BEHIND, WORD_SHARE
    from proxysort.groups import kmeans

    p = np.asarray(res.feature("probs"), dtype=np.float64)
    words = list(res.concept.words)
    order = np.argsort(-p, axis=1)
    first, second = order[:, 0], order[:, 1]
    picked = np.bincount(first, minlength=p.shape[1]) / len(p)
    width = res.feature("scoremix").shape[1]
    image = res.feature("imagemix")[:, width:]
    out = []
    for word in np.flatnonzero(picked < WORD_SHARE):
        runner_up = second == word
        behind = np.bincount(first[runner_up], minlength=p.shape[1])
        if runner_up.mean() < WORD_SHARE or behind.max() < HIDDEN_BEHIND * runner_up.sum():
            continue
        winner = int(behind.argmax())
        group = first == winner
        values = [t for t, g in zip(truth, group) if g]
        counts = sorted((values.count(v) for v in set(values)), reverse=True)
        ratio = np.log(p[group, word] / p[group, winner])
        halves = kmeans(image[group], 2, seed=0, spherical=False).labels
        d = abs(ratio[halves == 0].mean() - ratio[halves == 1].mean()) / max(float(ratio.std()), 1e-12)
        out.append({"word": words[word], "behind": words[winner], "runner-up share": float(runner_up.mean()),
                    "behind share": float(behind.max() / runner_up.sum()),
                    "two values": len(counts) > 1 and counts[1] >= 0.25 * len(values), "split d": float(d)})
    return out


def measure(worlds: list[str], seeds: list[int], n: int) -> dict:
    """Per cell, per photo set: the automatic k before and now, the hidden words, and the default's NMI at
    the true k against each no-learning view."""
    from benchmarks.no_learning import zeroshot_cells
    from benchmarks.quality import product_auto_k, regime_words
    from miniworld.worlds import get_world
    from proxysort.autok import _top
    from proxysort.groups import clustered_feature, kmeans, words_share
    from proxysort.metrics import score_all

    cells: dict[str, dict] = {}
    for c in zeroshot_cells(worlds, seeds, n):
        name, concept, regime = c.where.split(" ")
        words, source = regime_words(get_world(name), concept, c.truth, regime) or ([], "")
        auto = product_auto_k(c.res, "imagemix", len(words), anchors=source == "anchors", seed=c.seed)
        top = _top(c.res.feature("scoremix"), len(words))

        def nmi(labels: np.ndarray, truth: list[str] = c.truth) -> float:
            return float(score_all(truth, labels)["nmi"])

        views = {"zero-shot argmax": nmi(c.res.zero_shot.argmax(1))}
        for v in VIEWS[1:]:
            views[v] = nmi(kmeans(c.res.feature(v), c.k, seed=c.seed, spherical=False).labels)
        default = nmi(kmeans(clustered_feature(c.res, "imagemix", slice(None), c.k, c.seed), c.k, seed=c.seed,
                             spherical=False).labels)
        cell = cells.setdefault(c.where, {"true k": c.k, "sets": []})
        cell["sets"].append({
            "seed": c.seed, "k": auto.k, "close": list(auto.close), "close before": close_before(auto, top),
            "words used": auto.words, "hidden": auto.hidden, "unknown": auto.unknown,
            "hidden words": [] if source == "anchors" else hidden_detail(c.res, c.truth),
            "default": default, "views": views, "share": words_share(c.res.feature("scoremix"), c.k, c.seed)})
    return {"n": n, "seeds": seeds, "cells": cells}


def _verdict(k: int, close: list[int], true_k: int) -> str:
    return "right" if k == true_k else "named" if true_k in close else "wrong"


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown(report: dict) -> str:
    """The study's tables from :func:`measure`'s report."""
    cells = report["cells"]
    out = ["# Automatic k: what the words and the image can tell without labels (issue 21, items 4 and 2)", "",
           f"{report['n']} photos per set, photo sets {report['seeds']} (k-means seeded the same). Command:", "",
           f"    {report['command']}", "",
           "See the docstring of benchmarks/autok_study.py for what each table measures. The auto-k regime of "
           "benchmarks/quality.py --grid is the *imperfect* list here.", "",
           "## Automatic k by word list", "",
           "*right / named / wrong*: the true k chosen, named among the close k (the CLI warns), neither; "
           "*warned though right*: the true k chosen and a warning given all the same. *Before*: without naming "
           "every k where the words say nothing and one more k per hidden word.", "",
           "| words | photo sets | before: right / named / wrong | now: right / named / wrong | warned though right, "
           "before → now |", "|---|---|---|---|---|"]
    for regime in ("exact", "imperfect", "long", "lexicon"):
        for half in HALVES:
            runs = [(cl["true k"], s) for where, cl in cells.items() if where.endswith(" " + regime)
                    for s in cl["sets"] if s["seed"] in half]
            if not runs:
                continue
            counts = {}
            for when, key in (("before", "close before"), ("now", "close")):
                tally = [_verdict(s["k"], s[key], kt) for kt, s in runs]
                counts[when] = " / ".join(str(tally.count(v)) for v in ("right", "named", "wrong"))
                counts[when + " warned"] = sum(s["k"] == kt and bool(s[key]) for kt, s in runs)
            out.append(f"| {regime} | {', '.join(map(str, half))} | {counts['before']} | {counts['now']} | "
                       f"{counts['before warned']} → {counts['now warned']} |")
    out += ["", "## Automatic k per cell, imperfect words (the grid's auto-k regime)", "",
            "Per photo set: the k chosen [close now] (close before), words used, hidden words.", "",
            "| cell | true k | per photo set | verdict now (right / named / wrong) |", "|---|---:|---|---|"]
    for where, cl in cells.items():
        if not where.endswith(" imperfect"):
            continue
        sets = cl["sets"]
        per = "; ".join(f"{s['k']} {s['close']} ({', '.join(map(str, s['close before']))}), "
                        f"{'–' if s['words used'] is None else s['words used']} used, {s['hidden']} hidden"
                        for s in sets)
        tally = [_verdict(s["k"], s["close"], cl["true k"]) for s in sets]
        out.append(f"| {where.rsplit(' ', 1)[0]} | {cl['true k']} | {per} | "
                   + " / ".join(str(tally.count(v)) for v in ("right", "named", "wrong")) + " |")
    rows = [(where, s["seed"], h) for where, cl in cells.items() for s in cl["sets"] for h in s["hidden words"]]
    out += ["", "## Hidden words", "",
            "*two values*: the winner's photos hold two values (≥ 25 % each of the group's second): one group "
            "more is right there; otherwise the hidden word is a synonym or a distractor. *split d*: the image "
            "columns' 2-means split of the winner's photos, the distance between the halves' mean log-ratio "
            "(hidden word to winner) in the log-ratio's standard deviations.", "",
            "| cell | photo set | word → behind | runner-up share | behind share | two values | split d |",
            "|---|---:|---|---:|---:|---|---:|"]
    out += [f"| {where} | {seed} | {h['word']} → {h['behind']} | {h['runner-up share']:.2f} | "
            f"{h['behind share']:.2f} | {'yes' if h['two values'] else 'no'} | {h['split d']:.2f} |"
            for where, seed, h in rows]
    pairs = [h["split d"] for _, _, h in rows if h["two values"]]
    single = [h["split d"] for _, _, h in rows if not h["two values"]]
    if pairs and single:
        overlap = min(pairs) <= max(single) and min(single) <= max(pairs)
        out += ["", f"Split d where the winner holds two values: {min(pairs):.2f}–{max(pairs):.2f} "
                f"({len(pairs)} hidden words); where it holds one: {min(single):.2f}–{max(single):.2f} "
                f"({len(single)}): the ranges {'overlap' if overlap else 'do not overlap'}."]
    out += ["", "## Cells below the rule (k = the true number)", "",
            "The default against the best no-learning partition per photo set (the rule's bar: the labels pick "
            "the best of four views in each set) and against the best single view (one view for every set); "
            "*share*: the words' own k-means share at k (sets the image weight). Cells more than 0.01 below either.",
            "", "| cell | default | best per set | best single view | share | below per set | below single view |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for where, cl in cells.items():
        sets = cl["sets"]
        default = [s["default"] for s in sets]
        best = [max(s["views"].values()) for s in sets]
        means = {v: float(np.mean([s["views"][v] for s in sets])) for v in VIEWS}
        view = max(means, key=lambda v: means[v])
        gap, gap_view = np.mean(default) - np.mean(best), np.mean(default) - means[view]
        if gap < -0.01 or gap_view < -0.01:
            out.append(f"| {where} | {_ms(default)} | {_ms(best)} | {means[view]:.3f} ({view}) | "
                       f"{np.mean([s['share'] for s in sets]):.3f} | {gap:+.3f} | {gap_view:+.3f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.quality import study_main

    return study_main("autok_study.py", __doc__.splitlines()[0], measure, markdown, argv)


if __name__ == "__main__":
    main()
