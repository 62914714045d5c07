"""Derive tests/test_quality.py's bars: the test's own measurement on several photo sets, mean − 3σ.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality_bars.py --world-seeds 20,21,22,23,24

For each world and attribute, runs ``tests.test_quality.measure`` (proxysort's default, zero-shot argmax,
zero-shot scores k-means, image k-means; imperfect words; the test's photo count and k-means seeds) on
photo sets with the given world seeds, and prints the margins default − best zero-shot and default −
image k-means as mean ± std, with mean − 3σ rounded down to 0.01: the bar the test asserts.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world-seeds", default="20,21,22,23,24")
    p.add_argument("--worlds", default="shapes,glyphs")
    args = p.parse_args()
    import torch

    from benchmarks.quality import encode_world
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from tests.test_quality import KNOWN, N_IMAGES, measure

    torch.set_num_threads(1)
    for name in args.worlds.split(","):
        world = get_world(name)
        clip = load_clip(ModelSpec(str(world.config), str(world.ready()), "cpu"))
        margins: dict[str, dict[str, list[float]]] = {}
        for ws in [int(s) for s in args.world_seeds.split(",")]:
            samples, x = encode_world(world, clip, N_IMAGES, ws)
            for concept in KNOWN[name]:
                truth = [s.attrs()[concept] for s in samples]
                m = measure(world, clip, x, truth, concept)
                best = max(m["argmax"], m["scores"])
                row = margins.setdefault(concept, {"zero-shot": [], "image": [], "default": []})
                row["zero-shot"].append(m["default"] - best)
                row["image"].append(m["default"] - m["image"])
                row["default"].append(m["default"])
                print(f"{name} seed {ws} {concept}: " + " ".join(f"{k}={v:.3f}" for k, v in m.items()), flush=True)
        print(f"\n{name}: margins over world seeds {args.world_seeds} ({N_IMAGES} photos, imperfect words)")
        for concept, row in margins.items():
            cells = []
            for key in ("zero-shot", "image"):
                v = np.array(row[key])
                bar = math.floor((v.mean() - 3 * v.std()) * 100) / 100
                cells.append(f"vs {key} {v.mean():+.3f} ± {v.std():.3f} -> bar {bar:+.2f}")
            print(f"  {concept}: default NMI {np.mean(row['default']):.3f}; " + "; ".join(cells))


if __name__ == "__main__":
    main()
