"""How close does `proxysort index` get to the model's own speed?

Reports, in one run and on the same folder of camera-sized JPEGs (4000×3000) with the same model
(ViT-B-32, random weights, CPU by default):

- index:    images/s of the real ``proxysort.indexer.index`` path into an empty cache (scan, hash,
            decode pool, batched encode, SQLite commits), model already loaded;
- ceiling:  the model's forward pass alone on pre-decoded, pre-resized batches of the same size;
- naive:    one image at a time: full-resolution PIL decode, preprocess, encode, no overlap;
- peak RSS of the process after the first index phase (model + pipeline), and the ratios;
- precision: with ``--precisions fp32,bf16,fp16`` the index and ceiling phases run once per precision
  of the image encoder in every round (fp32 first), each with images/s and CPU-ms per photo (the
  process's CPU time over the phase: what a shared machine pays), and each precision's minimum and mean
  cosine to fp32 on the same pre-decoded photos; also what ``auto`` picks on this machine.

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
# As the CLI runs: OpenMP threads wait passively, so CPU time measures work, not spinning (threads.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


def run_index(folder: Path, clip, batch_size: int, workers: int | None) -> tuple[float, float]:
    """(images/s, CPU-ms per photo) of the real index path into an empty cache."""
    from proxysort.indexer import index

    cache = Path(tempfile.mkdtemp(prefix="proxysort-bench-cache-"))
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = index(folder, model=clip, cache_dir=cache, batch_size=batch_size, workers=workers)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert result.summary.embedded == len(result.paths) and not result.failures, result.summary
    assert result.precision == clip.precision, (result.precision, clip.precision)
    return len(result.paths) / elapsed, 1000 * cpu / len(result.paths)


def decoded_batches(paths: list[Path], clip, batch_size: int) -> list:
    """The photos decoded (draft mode) and preprocessed once, in batches: the same input for every model."""
    import torch
    from PIL import Image

    tensors = []
    for p in paths:
        with Image.open(p) as img:
            img.draft("RGB", (clip.image_size, clip.image_size))
            tensors.append(clip.preprocess(img.convert("RGB")))
    return [torch.stack(tensors[i : i + batch_size]) for i in range(0, len(tensors), batch_size)]


def run_ceiling(batches: list, clip) -> tuple[float, float]:
    """(images/s, CPU-ms per photo) of forward passes only: decoding and resizing happened before."""
    clip.encode_images(batches[0][:2])  # warm-up (allocator, kernels)
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        clip.encode_images(batch)
    n = sum(len(b) for b in batches)
    return n / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / n


def run_naive(paths: list[Path], clip) -> float:
    """What a first script does: full decode, one image at a time, decode and model never overlap."""
    from PIL import Image, ImageOps

    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            upright = ImageOps.exif_transpose(img).convert("RGB")
        clip.encode_images(clip.preprocess(upright)[None])
    return len(paths) / (time.perf_counter() - start)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


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
    parser.add_argument("--precisions", default="bf16", help="image-encoder precisions compared with fp32, comma-separated (default bf16)")
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

    import numpy as np
    import torch

    from proxysort.precision import choose

    names = list(dict.fromkeys(["fp32", *(p.strip() for p in args.precisions.split(",") if p.strip())]))
    clips = {name: load_clip(ModelSpec(args.model, "none", args.device, name)) for name in names}
    clip = clips["fp32"]
    rss_model = peak_rss_mb()
    probe = load_clip(ModelSpec(args.model, "none", args.device))
    started = time.perf_counter()
    auto = choose(probe.device, probe.model.visual)
    auto_s = time.perf_counter() - started
    del probe
    batches = decoded_batches(paths, clip, args.batch_size)
    reference = np.concatenate([clip.encode_images(b) for b in batches])
    cosine = {}
    for name, c in clips.items():
        cos = (np.concatenate([c.encode_images(b) for b in batches]) * reference).sum(1)
        cosine[name] = {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}
    naive_n = args.naive_images or min(args.images, 50)
    phases = [f"{kind} {name}" for name in names for kind in ("index", "ceiling")]
    rates: dict[str, list[float]] = {k: [] for k in [*phases, "naive"]}
    cpu_ms: dict[str, list[float]] = {k: [] for k in phases}
    loads: list[float] = []
    rss_index = 0.0
    # Interleaved rounds and medians: on a shared machine the load changes from minute to minute, and
    # running each phase once, one after the other, would hand one of them the quiet minute.
    for r in range(args.rounds):
        for name, c in clips.items():
            rate, ms = run_index(folder, c, args.batch_size, args.workers)
            rates[f"index {name}"].append(rate)
            cpu_ms[f"index {name}"].append(ms)
            rss_index = rss_index or peak_rss_mb()
            rate, ms = run_ceiling(batches, c)
            rates[f"ceiling {name}"].append(rate)
            cpu_ms[f"ceiling {name}"].append(ms)
        rates["naive"].append(run_naive(paths[:naive_n], clip))
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rates.items()) + f" img/s; load {loads[-1]:.2f}",
              file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rates.items()}
    med_ms = {k: statistics.median(v) for k, v in cpu_ms.items()}
    index_rate, ceiling, naive = med["index fp32"], med["ceiling fp32"], med["naive"]

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
        "per_round_cpu_ms_per_photo": {k: [round(x, 1) for x in v] for k, v in cpu_ms.items()},
        "precisions": {
            name: {
                "index_img_s": round(med[f"index {name}"], 2),
                "index_cpu_ms_per_photo": round(med_ms[f"index {name}"], 1),
                "ceiling_img_s": round(med[f"ceiling {name}"], 2),
                "ceiling_cpu_ms_per_photo": round(med_ms[f"ceiling {name}"], 1),
                "cosine_to_fp32": cosine[name],
            }
            for name in names
        },
        "auto_picks": auto,
        "auto_choice_s": round(auto_s, 2),
        "index_over_ceiling": round(index_rate / ceiling, 3),
        "index_over_naive": round(index_rate / naive, 2),
        "peak_rss_mb_after_model_load": round(rss_model),
        "peak_rss_mb_after_index": round(rss_index),
        "load_average_1min": [round(x, 2) for x in loads],
        "cpu_model": _cpu_model(),
    }
    print(f"{len(paths)} JPEGs 4000x3000 (~{mb:.1f} MB each), {args.model} random weights on {args.device}, "
          f"{torch.get_num_threads()} torch threads, batch {args.batch_size}, {_cpu_model()}")
    print(f"medians of {args.rounds} interleaved rounds:")
    print(f"  index    {index_rate:7.2f} img/s")
    print(f"  ceiling  {ceiling:7.2f} img/s   (encoder only, pre-decoded batches)")
    print(f"  naive    {naive:7.2f} img/s   (full decode, one at a time, {naive_n} images)")
    print(f"  index/ceiling = {index_rate / ceiling:.2f}  (target >= 0.85)")
    print(f"  index/naive   = {index_rate / naive:.2f}  (target >= 2)")
    print("  precision  index img/s  CPU-ms/photo   encoder img/s  CPU-ms/photo   cosine to fp32 (min, mean)")
    for name in names:
        print(f"  {name:9}  {med[f'index {name}']:11.2f}  {med_ms[f'index {name}']:12.1f}   "
              f"{med[f'ceiling {name}']:13.2f}  {med_ms[f'ceiling {name}']:12.1f}   "
              f"{cosine[name]['min']:.6f}, {cosine[name]['mean']:.6f}")
    for name in names[1:]:
        print(f"  {name}/fp32: index {med[f'index {name}'] / index_rate:.2f}x img/s, "
              f"{med_ms[f'index {name}'] / med_ms['index fp32']:.2f}x CPU; encoder "
              f"{med_ms[f'ceiling {name}'] / med_ms['ceiling fp32']:.2f}x CPU")
    print(f"  auto picks {auto} here (chosen in {auto_s:.2f} s)")
    print(f"  peak RSS: {rss_model:.0f} MB after model load, {rss_index:.0f} MB after index")
    print(f"  load average (1 min) after each round: {', '.join(f'{x:.2f}' for x in loads)} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
