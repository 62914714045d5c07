"""What the embedded preview saves when indexing camera RAW: preview path vs half-size demosaic.

Writes two DNGs of the same 6-megapixel Bayer mosaic (tests/support/dngwriter.py): one with a 1620x1080 JPEG
preview, one with only the 1/4-size RGB thumbnail in IFD0. ``proxysort.raw.load_raw`` decodes the first
from its preview and the second by demosaicing (asked for a larger image than the thumbnail), and the
medians of ``--rounds`` interleaved rounds are reported with their ratio.

Usage:
    .venv/bin/python benchmarks/raw_decode.py [--rounds 7] [--width 3000 --height 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxysort.raw import load_raw  # noqa: E402
from tests.support.dngwriter import write_dng  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        preview = write_dng(folder / "preview.dng", width=args.width, height=args.height,
                            preview=(args.width * 54 // 100, args.height * 54 // 100))
        mosaic = write_dng(folder / "mosaic.dng", width=args.width, height=args.height)
        need = args.width // 4 + 2  # larger than the IFD0 thumbnail: forces the demosaic
        cases = {"preview": (preview, 224), "demosaic": (mosaic, need)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        sizes = {}
        for _ in range(args.rounds):
            for name, (path, min_size) in cases.items():
                start = time.perf_counter()
                sizes[name] = load_raw(path, min_size).size
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        mp = args.width * args.height / 1e6
        for name in cases:
            print(f"{name:9s} {med[name] * 1000:7.1f} ms/file  -> {sizes[name][0]}x{sizes[name][1]}  ({mp:.0f} MP mosaic)")
        print(f"demosaic / preview: {med['demosaic'] / med['preview']:.1f}x")


if __name__ == "__main__":
    main()
