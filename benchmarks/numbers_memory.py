"""What the sorting stage's numbers cost per photo, without the store, the model or the paths (issue 25, item 5).

    python -m benchmarks.numbers_memory 300000            # tracemalloc peak per stage
    python -m benchmarks.numbers_memory 1000000 --rss     # the process's resident set instead

The default's stages on N lazy random unit rows (a block made when read, as the store's are: no N×512 matrix),
8 words, k = 4: ``learn`` (the zero-shot cosines and each photo's nearest word), ``kmeans`` (``imagemix`` at k
via ``sorting.at_k``, then k-means), ``names`` (``groups.name_groups`` and ``centroid_scores``) and ``unsure``
(``groups.find_unsure``). Each stage's peak is printed per photo; the fixed costs (a block's temporaries) are
shared by every N, so the growth per photo is the difference of two N's peaks over the difference of the N's.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import tracemalloc

K, WORDS, DIM, SCALE = 4, 8, 512, 100.0


def main() -> None:
    import numpy as np

    from proxysort import rows as rowsmod
    from proxysort.groups import centroid_scores, find_unsure, kmeans, name_groups
    from proxysort.learn.core import Concept, result
    from proxysort.learn.textonly import zero_shot_features
    from proxysort.methods.basic import FeatureSet
    from proxysort.rows import PickedRows, map_blocks
    from proxysort.sorting import at_k

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int)
    p.add_argument("--rss", action="store_true", help="the resident set (sampled every 5 ms), not tracemalloc")
    args = p.parse_args()
    n = args.n

    class Random(rowsmod._Lazy):
        def __init__(self) -> None:
            self.shape = (n, DIM)

        def blocks(self, size: int = rowsmod.BLOCK):
            for start in range(0, n, size):
                b = np.random.default_rng(start).standard_normal((min(size, n - start), DIM), dtype=np.float32)
                b /= np.linalg.norm(b, axis=1, keepdims=True)
                yield b

    page, peak = os.sysconf("SC_PAGE_SIZE"), [0]

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    if args.rss:
        threading.Thread(target=sample, daemon=True).start()
    else:
        tracemalloc.start()

    def stage(name: str, fn):
        if args.rss:
            start = peak[0] = rss()
        else:
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        cpu = time.process_time()
        value = fn()
        now, top = (rss(), max(peak[0], rss())) if args.rss else tracemalloc.get_traced_memory()
        print(f"{name}: peak {top / n:.0f} B a photo ({(top - start) / n:.0f} above the stage's start), held after "
              f"{now / n:.0f} B a photo, {time.process_time() - cpu:.1f} CPU s", flush=True)
        return value

    x = Random()
    t = np.random.default_rng(99).standard_normal((WORDS, DIM)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    words = tuple(f"w{i}" for i in range(WORDS))

    def learn():
        z, start = np.empty((n, WORDS), np.float32), 0
        for block in map_blocks(x, np.dot, t.T):
            z[start : start + len(block)] = block
            start += len(block)
        prompts = PickedRows(t, z.argmax(axis=1).astype(np.int32))
        features = FeatureSet("zeroshot", x, prompts, logit_scale=SCALE, zero_shot=zero_shot_features(z, SCALE))
        return result(Concept("c", words), features, t, z, [], "imagemix", prompts=prompts)

    res = stage("learn", learn)
    def cluster():
        made = at_k(res, "imagemix", np.ones(n, dtype=bool), K, 0)[1]
        return made, kmeans(made, K, seed=0, spherical=False)

    feat, km = stage("kmeans", cluster)
    naming = stage("names", lambda: (name_groups("c", x, km.labels, K, res.prompts(), res.word_features, list(words)),
                                     centroid_scores(feat, km.labels, km.centroids))[0])
    stage("unsure", lambda: find_unsure(feat, km.labels, km.centroids, naming.names, spherical=False, neutral=False))


if __name__ == "__main__":
    main()
