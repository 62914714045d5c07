"""How far an archive's labels move when its clustered feature is held in float16 (issue 25, item 5).

    HF_HUB_OFFLINE=1 python -m benchmarks.half_feature --sizes 200000,1000000 --out benchmarks/results/half-feature

Above :data:`proxysort.learn.core.HALF_ROWS` photos, ``imagemix`` is float16 rows
(:class:`proxysort.rows.HalfRows`) and k-means runs its restarts on the usual seeded sample, then Lloyd
iterations on every row a block at a time (:func:`proxysort.groups.kmeans`). The reference is the same code
with the threshold raised above N: the float32 feature and FAISS on every row, as every size was clustered
before. Both go through :func:`proxysort.sorting.at_k` (the image weight set at k) and k-means at k, seed 0.

Two kinds of photos, N unit image vectors (512-d) and their cosines with 8 word vectors (the zero-shot
scores the default clusters, logit scale 100):

* ``random`` – as ``benchmarks/scale.py`` makes them: independent random vectors, no groups at all, so
  every partition is a near tie and the labels are as fragile as they can be;
* ``structured`` – six values of the concept (four named by a word each, two by the same word: the
  half-known case the image columns are there for) and a stronger second attribute of three values, with
  noise: the labels can be checked against the true values.

Reported per N and k: the agreement of the two labelings (the share of photos in matching groups, groups
matched one to one) and their NMI; as a yardstick for what a change of labels means here, the same figures
for the float32 path run with seed 1 against seed 0; and, for ``structured``, each path's NMI to the true
values. CPU seconds of the k-means alone for both paths.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

KINDS = ("random", "structured")
KS = (4, 6)
WORDS = 8
DIM = 512
SCALE = 100.0


def photos(n: int, kind: str, seed: int = 0):
    """(image vectors N×512, zero-shot cosines N×8, true values or None) for ``kind``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = rng.standard_normal((WORDS, DIM)).astype(np.float32)
    words /= np.linalg.norm(words, axis=1, keepdims=True)
    truth = None
    if kind == "random":
        x = rng.standard_normal((n, DIM)).astype(np.float32)
    else:
        truth, other = rng.integers(0, 6, n), rng.integers(0, 3, n)
        values = rng.standard_normal((6, DIM)).astype(np.float32)
        values /= np.linalg.norm(values, axis=1, keepdims=True)
        others = rng.standard_normal((3, DIM)).astype(np.float32)
        others /= np.linalg.norm(others, axis=1, keepdims=True)
        named = np.array([0, 1, 2, 3, 4, 4])  # the last two values share a word
        x = (0.5 * values[truth] + 0.7 * others[other] + 0.35 * words[named[truth]]
             + 0.045 * rng.standard_normal((n, DIM)).astype(np.float32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, (x @ words.T).astype(np.float32), truth


def cluster(x, z, k: int, seed: int, half: bool):
    """(labels, k-means CPU seconds) of the default feature at ``k``: float16 rows where ``half``, else float32."""
    import numpy as np

    from proxysort.groups import kmeans
    from proxysort.learn import core
    from proxysort.learn.core import Concept, result
    from proxysort.learn.textonly import zero_shot_features
    from proxysort.methods.basic import FeatureSet
    from proxysort.sorting import at_k

    view = zero_shot_features(z, SCALE)
    features = FeatureSet("zeroshot", x, x, zero_shot=view, logit_scale=SCALE)
    res = result(Concept("c", tuple(f"w{i}" for i in range(WORDS))), features, np.zeros((WORDS, DIM), np.float32), z,
                 [], "imagemix")
    saved = core.HALF_ROWS
    core.HALF_ROWS = saved if half else len(x)  # the float32 path: the threshold at N
    try:
        feature, _ = at_k(res, "imagemix", np.ones(len(x), dtype=bool), k, seed)
    finally:
        core.HALF_ROWS = saved
    assert half == (type(feature).__name__ == "HalfRows")
    start = time.process_time()
    labels = kmeans(feature, k, seed=seed, spherical=False).labels
    return labels, time.process_time() - start


def measure(sizes: list[int]) -> list[dict]:
    from proxysort.metrics import score_all

    rows = []
    for n in sizes:
        for kind in KINDS:
            x, z, truth = photos(n, kind)
            for k in KS:
                ref, ref_s = cluster(x, z, k, 0, half=False)
                new, new_s = cluster(x, z, k, 0, half=True)
                other, _ = cluster(x, z, k, 1, half=False)
                moved, seeds = score_all(ref, new), score_all(ref, other)
                row = {"n": n, "kind": kind, "k": k, "agreement": moved["acc"], "nmi": moved["nmi"],
                       "changed": int(round((1 - moved["acc"]) * n)),
                       "seed_agreement": seeds["acc"], "seed_nmi": seeds["nmi"],
                       "kmeans_cpu_s": {"float32": ref_s, "float16": new_s}}
                if truth is not None:
                    row["truth_nmi"] = {"float32": score_all(truth, ref)["nmi"], "float16": score_all(truth, new)["nmi"]}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def markdown(data: dict) -> str:
    """The report of a saved run."""
    lines = ["# Labels of an archive's float16 feature against float32 (issue 25, item 5)", "",
             f"Written by `{data['command']}` with `half-feature.json` (the same run). What is compared: "
             "`benchmarks/half_feature.py`'s docstring.", "",
             "| N | photos | k | agreement | NMI | photos moved | float32 seed 1 vs 0: agreement | NMI "
             "| NMI to truth float32 / float16 | k-means CPU s float32 / float16 |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in data["rows"]:
        truth = (f"{r['truth_nmi']['float32']:.4f} / {r['truth_nmi']['float16']:.4f}" if "truth_nmi" in r else "–")
        lines.append(f"| {r['n']} | {r['kind']} | {r['k']} | {r['agreement']:.5f} | {r['nmi']:.5f} | {r['changed']} "
                     f"| {r['seed_agreement']:.4f} | {r['seed_nmi']:.4f} | {truth} "
                     f"| {r['kmeans_cpu_s']['float32']:.1f} / {r['kmeans_cpu_s']['float16']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import sys

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="200000", help="N, above proxysort.learn.core.HALF_ROWS")
    p.add_argument("--out", type=Path, metavar="STEM", help="write STEM.json and STEM.md from this one run")
    args = p.parse_args()
    data = {"command": "python -m benchmarks.half_feature " + " ".join(sys.argv[1:]),
            "rows": measure([int(n) for n in args.sizes.split(",") if n])}
    text = markdown(data)
    print(text, end="")
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
