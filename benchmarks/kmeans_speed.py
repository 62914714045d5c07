"""Benchmark proxysort's k-means (FAISS, spherical, k-means++ starts) against scikit-learn's KMeans.

Equal work on both sides, in one run, so the ratio is meaningful on a busy machine: same data, same number
of starts, same iteration cap, and the same number of threads (``--threads``; proxysort runs small problems
on one thread whatever it is given, and then sklearn gets one too). Each side reports the Lloyd iterations
it actually ran (both stop a start early once it converges), so the time per iteration is
compared as well as the wall time; and how well each recovers the planted clusters (NMI), so speed is not
bought with quality. The data are unit vectors around k planted centres, like CLIP features (d = 512).

    OMP_NUM_THREADS=1 python -m benchmarks.kmeans_speed                  # N=5000, d=512, k=10, 5 starts
    OMP_NUM_THREADS=2 python -m benchmarks.kmeans_speed --n 20000 --k 20 --threads 2
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


def _sklearn(x, k: int, starts: int, niter: int):
    """sklearn, one start per call so that the iterations of every start can be counted (its ``n_iter_``
    reports only the best start's); the best objective wins, as with ``n_init``."""
    from sklearn.cluster import KMeans

    best, iterations = None, 0
    for seed in range(starts):
        km = KMeans(k, n_init=1, max_iter=niter, random_state=seed).fit(x)
        iterations += int(km.n_iter_)
        if best is None or km.inertia_ < best.inertia_:
            best = km
    return best.labels_, iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--noise", type=float, default=5.0, help="per-dimension noise (centres have unit-variance entries)")
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    args = parser.parse_args()

    import faiss
    from threadpoolctl import threadpool_limits

    from proxysort.groups import _PARALLEL_WORK, DEFAULT_NITER, kmeans
    from proxysort.metrics import score_all

    # proxysort.groups.kmeans drops to one thread below _PARALLEL_WORK: give sklearn what FAISS really gets.
    threads = 1 if args.n * args.k * args.d < _PARALLEL_WORK else args.threads
    faiss.omp_set_num_threads(threads)
    x, truth = _data(args.n, args.d, args.k, args.noise, seed=0)
    faiss_s, ours = _best_of(args.repeats, lambda: kmeans(x, args.k, seed=0, n_init=args.starts))
    with threadpool_limits(limits=threads):
        sk_s, (theirs, sk_iters) = _best_of(args.repeats, lambda: _sklearn(x, args.k, args.starts, DEFAULT_NITER))
    print(f"N={args.n} d={args.d} k={args.k} starts={args.starts} iteration cap {DEFAULT_NITER} per start, "
          f"{threads} thread(s) on each side (best of {args.repeats})")
    print("| implementation | seconds | iterations run | ms / iteration | NMI vs planted |")
    print("|---|---|---|---|---|")
    print(f"| proxysort.groups.kmeans (FAISS) | {faiss_s:.3f} | {ours.iterations} | "
          f"{faiss_s / ours.iterations * 1e3:.2f} | {score_all(truth, ours.labels)['nmi']:.3f} |")
    print(f"| sklearn KMeans (lloyd) | {sk_s:.3f} | {sk_iters} | {sk_s / sk_iters * 1e3:.2f} | "
          f"{score_all(truth, theirs)['nmi']:.3f} |")
    print(f"speed-up: {sk_s / faiss_s:.1f}x wall, {(sk_s / sk_iters) / (faiss_s / ours.iterations):.1f}x per iteration")


if __name__ == "__main__":
    main()
