"""Re-running ``cluster``: the sorting stage with an empty proxy cache, then from the cache.

    HF_HUB_OFFLINE=1 python -m benchmarks.proxy_cache                       # default method, 3,000 photos, CPU
    HF_HUB_OFFLINE=1 python -m benchmarks.proxy_cache --method subspace     # per-photo proxies

One process, one store, k passed to the learner exactly as ``sort()`` (``cluster --k``) passes it: the
config settled for the method's default feature by the registry, ``k`` as the learner's argument. Runs: 1 learns with an empty cache
(k = 4); 2 is the same photos, words and k (what another ``--format``, ``--dry-run``, ``--link`` or
``--out`` re-runs); 3-6 are other k (6, 3, 2, 5); 7 adds 100 new photos (k = 4). For the default ``dproxy``
the cache holds the nodes of the word choice learned on a sample of the photos (one per pruning reached):
another k reads its usage at the stored nodes and learns only where its words leave every stored route (k = 3 halves once more than k = 4); new photos learn the choice again when
one of them enters the sample. For ``subspace`` it holds every photo's proxy, which no k changes. Each run
builds its prompt encoder afresh, as a new process would. Timed per run: proxies (cache read or learning),
k-means, names. The photos are synthetic unit vectors (the cost of the text path does not depend on the
weights' values, so the tower has random weights).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
WORDS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--photos", type=int, default=3000)
    p.add_argument("--new", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", default=None, help="proxy mode (default: proxysort's default)")
    args = p.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.groups import cluster_centres, kmeans, name_clusters, spherical_for
    from proxysort.learn.core import Concept, ProxyConfig
    from proxysort.learn.registry import settled
    from proxysort.progress import Reporter
    from proxysort.proxycache import learn_cached

    class Quiet(Reporter):
        def __init__(self) -> None:
            self.messages: list[str] = []

        def message(self, text: str) -> None:
            self.messages.append(text)

    clip = load_clip(ModelSpec(args.model, "none", "cpu"))
    x = np.random.default_rng(0).standard_normal((args.photos + args.new, clip.embed_dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    concept = Concept("color", WORDS, noun="fruit")

    mode = args.method or ProxyConfig().mode
    config, feature = settled(ProxyConfig(mode=mode), None)  # what sort() learns with, for the default feature

    def run(X, k: int, store: Path) -> tuple[float, float, str]:
        rep = Quiet()
        t0 = time.perf_counter()
        (res,) = learn_cached(X, [concept], clip, config, rep, store, k=k)
        t1 = time.perf_counter()
        km = kmeans(res.feature(feature), k, seed=0, spherical=spherical_for(feature))
        name_clusters(cluster_centres(res.prompts(), km.labels, k), res.word_features, list(res.concept.words))
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, "; ".join(rep.messages) or "nothing from the cache"

    with tempfile.TemporaryDirectory(prefix="proxysort-cache-bench-") as tmp:
        store = Path(tmp) / "index.sqlite"
        rows = [("1: empty cache, k=4", x[: args.photos], 4),
                ("2: same photos and k (--format, --dry-run, --out)", x[: args.photos], 4),
                *((f"{i}: same photos, k={k}", x[: args.photos], k) for i, k in ((3, 6), (4, 3), (5, 2), (6, 5))),
                (f"7: +{args.new} new photos, k=4", x, 4)]
        times = []
        print(f"{args.model} text tower (random weights), {args.photos} photos, method {mode}, one concept, "
              f"{len(WORDS)} words, torch threads {args.threads}\n")
        print("| run | proxies s | k-means + names s | total s | cache |")
        print("|---|---:|---:|---:|---|")
        for label, X, k in rows:
            learn, rest, note = run(X, k, store)
            times.append(learn + rest)
            print(f"| {label} | {learn:.2f} | {rest:.2f} | {learn + rest:.2f} | {note} |", flush=True)
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
    print(f"\nsecond run / first run: {times[0] / times[1]:.0f}x faster; other k: {min(times[2:6]):.2f}-"
          f"{max(times[2:6]):.2f} s; store on disk {size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
