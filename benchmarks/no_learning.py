"""What `--method zeroshot` can cluster without learning, against the rule of issue 21: which feature is
the default.

    python benchmarks/no_learning.py --seeds 0,1,2,3,4,5 --out benchmarks/results/no-learning.md

For every world × attribute × word list (exact, imperfect, long, lexicon; k = the true number of values)
and photo set, the NMI of k-means (seeded with the photo set's seed) on each candidate feature, and of the
*best no-learning* partition as benchmarks/quality.py --grid defines it (per photo set, the best of
zero-shot argmax and k-means on the scores, probabilities and ``scoremix``: an oracle over four views that
picks with the labels). The rule: a feature's mean over photo sets is ≥ that best − 0.01 in every cell.
Candidates: each of the four views alone, and ``imagemix`` (``scoremix`` beside the image vectors) at
several image weights and numbers of the image vectors' principal directions (32 unless said). On the half-known attributes (the half-known world's color and pattern, exact,
imperfect and long lists) the margin to the best no-learning partition and to image k-means.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from proxysort.learn.core import ProxyResult

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REGIMES = ("exact", "imperfect", "long", "lexicon")
#: Image weights of ``imagemix`` measured (fixed; the default now scales its own at k: restarts.md).
WEIGHTS = (0.5, 0.75, 1.0)
VIEWS = ("zero-shot argmax", "scores", "probs", "scoremix")
#: The image weight the rows with other numbers of principal directions are measured at (the default's before
#: benchmarks/results/restarts.md).
DIRECTIONS_WEIGHT = 0.75
#: Principal directions of the image vectors kept, besides the default's (0: all of them).
COMPONENTS = (8, 16, 0)


def candidates(x: np.ndarray, res, k: int, seed: int) -> dict[str, np.ndarray]:
    """Every candidate's partition of one cell."""
    from proxysort.groups import kmeans
    from proxysort.learn.core import imagemix

    def km(feats: np.ndarray) -> np.ndarray:
        return kmeans(feats, k, seed=seed, spherical=False).labels

    out = {"zero-shot argmax": res.zero_shot.argmax(1)}
    for f in VIEWS[1:]:
        out[f] = km(res.feature(f))
    for w in WEIGHTS:
        out[f"imagemix {w}"] = km(imagemix(res.feature("scoremix"), x, weight=w))
    for c in COMPONENTS:
        out[f"imagemix {DIRECTIONS_WEIGHT}, {c or 'all'} directions"] = km(
            imagemix(res.feature("scoremix"), x, weight=DIRECTIONS_WEIGHT, components=c or x.shape[1]))
    return out


class Cell(NamedTuple):
    """One world × photo set × attribute × word regime, zero-shot learned: what each study measures."""

    where: str  # "world attribute regime", the report's key
    seed: int  # the photo set's (k-means is seeded the same)
    truth: list[str]
    k: int
    x: np.ndarray  # the photos' image vectors
    res: ProxyResult  # zeroshot's result on the regime's words
    image: float  # NMI of k-means on the image vectors alone
    half_known: bool  # an attribute the world's text half confuses, words that fit (not the lexicon)


def zeroshot_cells(worlds: list[str], seeds: list[int], n: int) -> Iterator[Cell]:
    """Every cell of the studies' grid in order (world, photo set, attribute, regime), one model per world;
    says on stderr when a photo set is done."""
    from benchmarks.quality import encode_world, regime_words
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.groups import kmeans
    from proxysort.metrics import score_all
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    for name in worlds:
        world = get_world(name)
        clip = load_clip(ModelSpec(str(world.config), str(world.ready()), "cpu"))
        for seed in seeds:
            samples, x = encode_world(world, clip, n, seed)
            for concept in world.attributes:
                truth = [s.attrs()[concept] for s in samples]
                k = len(set(truth))
                image = float(score_all(truth, kmeans(x, k, seed=seed).labels)["nmi"])
                for regime in REGIMES:
                    got = regime_words(world, concept, truth, regime)
                    if got is None:
                        continue
                    res = learn_proxies(x, [Concept(concept, tuple(got[0]), noun=world.noun)], clip,
                                        ProxyConfig(mode="zeroshot"))[0]
                    yield Cell(f"{name} {concept} {regime}", seed, truth, k, x, res, image,
                               concept in world.half_known and regime != "lexicon")
            print(f"{name} photo set {seed} done", file=sys.stderr, flush=True)


def measure(worlds: list[str], seeds: list[int], n: int) -> dict:
    """Per cell, per photo set: NMI of every candidate, the best no-learning partition and image k-means."""
    from proxysort.metrics import score_all

    cells: dict[str, dict] = {}
    half: list[str] = []
    for c in zeroshot_cells(worlds, seeds, n):
        nmi = {v: float(score_all(c.truth, labels)["nmi"]) for v, labels in candidates(c.x, c.res, c.k, c.seed).items()}
        cell = cells.setdefault(c.where, {"best no-learning": [], "image k-means": [], "nmi": {}})
        cell["best no-learning"].append(max(nmi[v] for v in VIEWS))
        cell["image k-means"].append(c.image)
        for v, value in nmi.items():
            cell["nmi"].setdefault(v, []).append(value)
        if c.half_known and c.where not in half:
            half.append(c.where)
    return {"n": n, "seeds": seeds, "cells": cells, "half_known": half}


def summary(report: dict) -> dict[str, dict]:
    """Per candidate: the cells that break the rule, the worst and summed margins, the half-known margins."""
    out = {}
    cells = report["cells"]
    for c in next(iter(cells.values()))["nmi"]:
        margins = {w: float(np.mean(cell["nmi"][c]) - np.mean(cell["best no-learning"])) for w, cell in cells.items()}
        half = [(np.array(cells[w]["nmi"][c]) - cells[w]["best no-learning"],
                 np.array(cells[w]["nmi"][c]) - cells[w]["image k-means"]) for w in report["half_known"]]
        out[c] = {"below": sorted((w for w, m in margins.items() if m < -0.01), key=margins.get),
                  "worst": min(margins.values()), "sum": sum(margins.values()),
                  "half vs best": float(np.mean([b.mean() for b, _ in half])),
                  "half vs image": float(np.mean([i.mean() for _, i in half])),
                  "half std": float(max(b.std() for b, _ in half)), "margins": margins}
    return out


def rule_table(rows: dict[str, dict], column: str, cells: int) -> list[str]:
    """The rule's table for :func:`summary`'s ``rows`` (per candidate: cells below, margins, the half-known
    figures), then the cells each leaves below the rule; ``column`` names the first column."""
    out = [f"| {column} | cells below (of {cells}) | worst margin | summed margin | half-known − best no-learning "
           "| half-known − image k-means | half-known largest seed std |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c, r in rows.items():
        out.append(f"| {c} | {len(r['below'])} | {r['worst']:+.3f} | {r['sum']:+.3f} | {r['half vs best']:+.3f} | "
                   f"{r['half vs image']:+.3f} | {r['half std']:.3f} |")
    out += ["", "Cells below the rule:", ""]
    for c, r in rows.items():
        out.append(f"- {c}: " + ("none" if not r["below"] else
                                 "; ".join(f"{w} {r['margins'][w]:+.3f}" for w in r["below"])))
    return out


def markdown(report: dict) -> str:
    from proxysort.learn.core import IMAGE_COMPONENTS

    rows = summary(report)
    out = ["# No-learning features against the rule of issue 21", "",
           f"{report['n']} photos per set, photo sets {report['seeds']} (k-means seeded the same), the three "
           f"miniworlds × every attribute × exact, imperfect, long and lexicon lists, k = the true number. "
           f"Command:", "", f"    {report['command']}", "",
           "*best no-learning*: per photo set, the best of zero-shot argmax and k-means on scores, "
           "probabilities and `scoremix` (an oracle: it picks with the labels). *cells below*: cells whose "
           "mean NMI over the sets is below that best − 0.01. *half-known*: the half-known world's color and "
           f"pattern ({len(report['half_known'])} cells). `imagemix` at a fixed weight, with {IMAGE_COMPONENTS} "
           f"directions of the image vectors unless said (the miniworlds' have 64); the default now scales its "
           f"image weight at k (benchmarks/results/restarts.md).", "",
           *rule_table(rows, "feature", len(report["cells"]))]
    out += ["", "## Half-known cells (NMI mean ± std over the photo sets)", "",
            "| cell | best no-learning | image k-means | " + " | ".join(rows) + " |",
            "|---|---:|---:|" + "---:|" * len(rows)]
    for w in report["half_known"]:
        cell = report["cells"][w]
        out.append(f"| {w} | {_ms(cell['best no-learning'])} | {_ms(cell['image k-means'])} | "
                   + " | ".join(_ms(cell["nmi"][c]) for c in rows) + " |")
    return "\n".join(out) + "\n"


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.quality import study_main

    return study_main("no_learning.py", __doc__.splitlines()[0], measure, markdown, argv)


if __name__ == "__main__":
    main()
