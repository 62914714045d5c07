"""How close does `proxysort index` get to the model's own speed?

Reports, in one run and on the same folder of camera-sized JPEGs (4000×3000) with the same model
(ViT-B-32, random weights, CPU by default):

- index:    images/s of the real ``proxysort.indexer.index`` path into an empty cache (scan, hash,
            decode pool, batched encode, SQLite commits), model already loaded;
- ceiling:  the model's forward pass alone on pre-decoded, pre-resized batches of the same size;
- naive:    one image at a time: full-resolution PIL decode, preprocess, encode, no overlap;
- peak RSS of the process after the first index phase (model + pipeline), and the ratios.

The phases are interleaved for ``--rounds`` rounds and the medians reported, so a shared machine's
changing load does not favour one phase.

Targets: index >= 0.85 x ceiling and index >= 2 x naive.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/index_throughput.py            # 200 images
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/index_throughput.py --images 24 # quick look

The generated folder is cached under ``bench-out/`` (git-ignored), so re-runs skip generation. Every
file is read once before timing, so all three phases see the same warm page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def generate(folder: Path, count: int, size: tuple[int, int] = (4000, 3000)) -> list[Path]:
    """Photo-like JPEGs: smooth random scenes plus sensor-like noise, so files are camera-sized (~3-5 MB)
    and the decoder does realistic entropy-decoding work. Deterministic per index; existing files kept."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:04d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        base = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
        pixels = np.asarray(base, dtype=np.int16) + rng.normal(0, 6, (size[1], size[0], 3)).astype(np.int16)
        tmp = path.with_suffix(".tmp")
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(tmp, format="JPEG", quality=92)
        tmp.rename(path)  # an interrupted generation never leaves a half-written photo behind
        print(f"\rgenerated {i + 1}/{count}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_index(folder: Path, clip, batch_size: int, workers: int | None) -> float:
    from proxysort.indexer import index

    cache = Path(tempfile.mkdtemp(prefix="proxysort-bench-cache-"))
    try:
        start = time.perf_counter()
        result = index(folder, model=clip, cache_dir=cache, batch_size=batch_size, workers=workers)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert result.summary.embedded == len(result.paths) and not result.failures, result.summary
    return len(result.paths) / elapsed


def run_ceiling(paths: list[Path], clip, batch_size: int) -> float:
    """Forward passes only: decoding and resizing happen before the clock starts."""
    import torch
    from PIL import Image

    tensors = []
    for p in paths:
        with Image.open(p) as img:
            img.draft("RGB", (clip.image_size, clip.image_size))
            tensors.append(clip.preprocess(img.convert("RGB")))
    batches = [torch.stack(tensors[i : i + batch_size]) for i in range(0, len(tensors), batch_size)]
    clip.encode_images(batches[0][:2])  # warm-up (allocator, kernels)
    start = time.perf_counter()
    for batch in batches:
        clip.encode_images(batch)
    return len(paths) / (time.perf_counter() - start)


def run_naive(paths: list[Path], clip) -> float:
    """What a first script does: full decode, one image at a time, decode and model never overlap."""
    from PIL import Image, ImageOps

    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            upright = ImageOps.exif_transpose(img).convert("RGB")
        clip.encode_images(clip.preprocess(upright)[None])
    return len(paths) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="photos in the generated folder (default 200)")
    parser.add_argument("--naive-images", type=int, default=None, help="photos for the slow naive baseline (default: min(images, 50))")
    parser.add_argument("--dir", type=Path, default=REPO / "bench-out" / "photos-4000x3000", help="where the generated photos are cached")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="decoding threads for index (default: its own default)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; medians are reported (default 3)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from proxysort.encoders import ModelSpec, load_clip

    pool = generate(args.dir / "pool", args.images)
    folder = args.dir / f"n{args.images}"  # exactly N photos, as links into the shared pool
    folder.mkdir(parents=True, exist_ok=True)
    for p in pool:
        if not (folder / p.name).exists():
            (folder / p.name).symlink_to(p)
    paths = sorted(folder.iterdir())
    for p in paths:  # same warm page cache for every phase
        p.read_bytes()
    mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6

    import torch

    clip = load_clip(ModelSpec(args.model, "none", args.device))
    rss_model = peak_rss_mb()
    naive_n = args.naive_images or min(args.images, 50)
    rates: dict[str, list[float]] = {"index": [], "ceiling": [], "naive": []}
    rss_index = 0.0
    # Interleaved rounds and medians: on a shared machine the load changes from minute to minute, and
    # running each phase once, one after the other, would hand one of them the quiet minute.
    for r in range(args.rounds):
        rates["index"].append(run_index(folder, clip, args.batch_size, args.workers))
        rss_index = rss_index or peak_rss_mb()
        rates["ceiling"].append(run_ceiling(paths, clip, args.batch_size))
        rates["naive"].append(run_naive(paths[:naive_n], clip))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rates.items()) + " img/s", file=sys.stderr)
    index_rate, ceiling, naive = (statistics.median(rates[k]) for k in ("index", "ceiling", "naive"))

    figures = {
        "images": len(paths),
        "mean_file_mb": round(mb, 2),
        "model": f"{args.model} (random weights)",
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "batch_size": args.batch_size,
        "index_img_s": round(index_rate, 2),
        "ceiling_img_s": round(ceiling, 2),
        "naive_img_s": round(naive, 2),
        "naive_images": naive_n,
        "rounds": args.rounds,
        "per_round_img_s": {k: [round(x, 2) for x in v] for k, v in rates.items()},
        "index_over_ceiling": round(index_rate / ceiling, 3),
        "index_over_naive": round(index_rate / naive, 2),
        "peak_rss_mb_after_model_load": round(rss_model),
        "peak_rss_mb_after_index": round(rss_index),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(f"{len(paths)} JPEGs 4000x3000 (~{mb:.1f} MB each), {args.model} random weights on {args.device}, "
          f"{torch.get_num_threads()} torch threads, batch {args.batch_size}")
    print(f"medians of {args.rounds} interleaved rounds:")
    print(f"  index    {index_rate:7.2f} img/s")
    print(f"  ceiling  {ceiling:7.2f} img/s   (encoder only, pre-decoded batches)")
    print(f"  naive    {naive:7.2f} img/s   (full decode, one at a time, {naive_n} images)")
    print(f"  index/ceiling = {index_rate / ceiling:.2f}  (target >= 0.85)")
    print(f"  index/naive   = {index_rate / naive:.2f}  (target >= 2)")
    print(f"  peak RSS: {rss_model:.0f} MB after model load, {rss_index:.0f} MB after index")
    print(f"  load average during run (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
