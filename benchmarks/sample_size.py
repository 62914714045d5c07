"""Does learning DProxy's word choice on a sample, or with the refine engine, change it? Both miniworlds.

    HF_HUB_OFFLINE=1 python -m benchmarks.sample_size --n 3000 --world-seeds 1,2,3 --runs adam:0,adam:1024,adam:512
    HF_HUB_OFFLINE=1 python -m benchmarks.sample_size --n 3000 --world-seeds 1,2,3 --runs adam:1024,refine:1024

The default ``dproxy`` clusters every photo on its zero-shot score profile over the words DProxy keeps;
only the choice of words is learned, and it is learned on a sample of the photos (``sample`` option,
the photos with the smallest vector digests). This runs the default on each miniworld photo set with the
true k, for each run ENGINE:SAMPLE (the first is the reference; sample 0 = every photo), and reports per
(world, word list, concept) the words kept and the NMI (k-means seed 0..4), and how many cases keep exactly
the reference's words. ``adam`` takes every epoch through the text encoder; ``refine`` corrects a cheap
model of it with one exact pass per quarter of the epochs (proxysort.methods.dproxy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="photos per photo set")
    p.add_argument("--world-seeds", default="1,2,3")
    p.add_argument("--worlds", default="shapes,glyphs")
    p.add_argument("--runs", default="adam:0,adam:1024,adam:512", help="ENGINE:SAMPLE, the first is the reference")
    p.add_argument("--kinds", default="imperfect,exact")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    import torch

    from benchmarks.quality import encode_images, load_labels, words_for
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.groups import kmeans
    from proxysort.metrics import score_all
    from proxysort.proxy import DEFAULT_FEATURE, Concept, ProxyConfig, learn_proxies

    torch.set_num_threads(1)
    sizes = [(e, int(n)) for e, n in (r.split(":") for r in args.runs.split(","))]
    same = {s: 0 for s in sizes}
    worse = {s: [] for s in sizes}
    cases = 0
    print("| world | set | words | concept | " + " | ".join(f"{e} sample {n or 'all'}" for e, n in sizes) + " |")
    print("|---|---:|---|---|" + "---|" * len(sizes))
    for world_name in args.worlds.split(","):
        world = get_world(world_name)
        clip = load_clip(ModelSpec(str(world.config), str(world.weights), "cpu"))
        for ws in [int(s) for s in args.world_seeds.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "world"
                world.write_folder(folder, args.n, ws)
                paths, labels = load_labels(folder, None)
                x = encode_images(clip, paths)
            for concept, truth in labels.items():
                if concept in world.unnamed:
                    continue
                k = len(set(truth))
                for kind in args.kinds.split(","):
                    words = words_for(concept, truth, kind, {c: list(w) for c, w in world.candidates.items()}, world.unnamed)
                    con = Concept(concept, tuple(words), noun=world.noun)
                    cells, ref = [], None
                    for s in sizes:
                        t0 = time.time()
                        res = learn_proxies(x, [con], clip, ProxyConfig(engine=s[0], options={"sample": s[1]}), k=k)[0]
                        nmi = float(np.mean([score_all(truth, kmeans(res.feature(DEFAULT_FEATURE), k, seed=z, spherical=False).labels)["nmi"]
                                             for z in range(args.seeds)]))
                        kept = res.concept.words
                        if ref is None:
                            ref = (kept, nmi)
                        same[s] += kept == ref[0]
                        worse[s].append(nmi - ref[1])
                        cells.append(f"{nmi:.3f} {','.join(kept) if kept != ref[0] or s == sizes[0] else '(same)'} {time.time() - t0:.0f}s")
                    cases += 1
                    print(f"| {world_name} | {ws} | {kind} | {concept} | " + " | ".join(cells) + " |", flush=True)
    print()
    for s in sizes:
        print(f"{s[0]} sample {s[1] or 'all'}: same words as every photo in {same[s]} of {cases} cases; NMI change "
              f"mean {np.mean(worse[s]):+.3f}, worst {min(worse[s]):+.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
