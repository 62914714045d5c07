"""Benchmark proxysort's k-means (FAISS, spherical, k-means++ starts) against scikit-learn's KMeans.

Same data, same number of starts, same iteration cap, in one run, so the ratio is meaningful on a busy
machine; also reports how well each recovers the planted clusters (NMI), so speed is not bought with
quality. The data are unit vectors around k planted centres, like CLIP features (d = 512).

    HF_HUB_OFFLINE=1 python benchmarks/kmeans_speed.py                  # N=5000, d=512, k=10, 5 starts
    HF_HUB_OFFLINE=1 python benchmarks/kmeans_speed.py --n 20000 --k 20 --repeats 3
"""

from __future__ import annotations

import argparse
import time


def _data(n: int, d: int, k: int, noise: float, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d))
    truth = rng.integers(0, k, n)
    x = centres[truth] + noise * rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), truth


def _best_of(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--noise", type=float, default=5.0, help="per-dimension noise (centres have unit-variance entries)")
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    args = parser.parse_args()

    from sklearn.cluster import KMeans

    from proxysort.groups import DEFAULT_NITER, kmeans
    from proxysort.metrics import score_all

    x, truth = _data(args.n, args.d, args.k, args.noise, seed=0)
    faiss_s, ours = _best_of(args.repeats, lambda: kmeans(x, args.k, seed=0, n_init=args.starts).labels)
    sk_s, theirs = _best_of(
        args.repeats,
        lambda: KMeans(args.k, n_init=args.starts, max_iter=DEFAULT_NITER, random_state=0).fit_predict(x),
    )
    print(f"N={args.n} d={args.d} k={args.k} starts={args.starts} iterations<={DEFAULT_NITER} (best of {args.repeats})")
    print("| implementation | seconds | NMI vs planted |")
    print("|---|---|---|")
    print(f"| proxysort.groups.kmeans (FAISS) | {faiss_s:.3f} | {score_all(truth, ours)['nmi']:.3f} |")
    print(f"| sklearn KMeans (lloyd) | {sk_s:.3f} | {score_all(truth, theirs)['nmi']:.3f} |")
    print(f"speed-up: {sk_s / faiss_s:.1f}x")


if __name__ == "__main__":
    main()
