"""Does the image encoder's precision change the sort? NMI of the default sort in fp32, bf16 and fp16.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/precision_quality.py

On both trained miniworld models (tests/fixtures/miniclip*.pt), 160 generated photos (world seed 12), the
imperfect candidate words of miniworld/candidates.py and k = the true number of values: each precision
indexes into its own cache and sorts; printed are the NMI against the truth and against the fp32 sort
(1.0000: the same partition). The photos are generated in a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

CASES = (("shapes", "color"), ("shapes", "pattern"), ("glyphs", "color"))
PRECISIONS = ("fp32", "bf16", "fp16")


def main() -> int:
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec
    from proxysort.metrics import score_all
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, sort

    tmp = Path(tempfile.mkdtemp(prefix="proxysort-precision-"))
    print("| world | concept | precision | NMI vs truth | NMI vs fp32 |\n|---|---|---|---:|---:|")
    for wname, concept in CASES:
        world = get_world(wname)
        samples = world.write_folder(tmp / wname, 160, 12)
        truth = [s.attrs()[concept] for s in samples]
        k = len(set(truth))
        labels = {}
        for name in PRECISIONS:
            spec = ModelSpec(str(world.config), str(world.weights), "cpu", name)
            result = sort(tmp / wname / "images", [By(concept, words=list(world.candidates[concept]), k=k)],
                          model=spec, cache_dir=tmp / f"cache-{wname}-{name}", training=ProxyConfig(seed=0))
            labels[name] = result.concepts[0].labels
            print(f"| {wname} | {concept} | {name} | {score_all(truth, labels[name])['nmi']:.4f} | "
                  f"{score_all(labels['fp32'], labels[name])['nmi']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
