"""What does `index --ray` cost against the local path, and what would 10 million photos take?

One run, same folder of camera-sized JPEGs, same model (ViT-B-32 with random weights by default: the real
compute, no download), each index into an empty cache:

- local:     images/s of ``proxysort.indexer.index`` (decode thread pool + batched encode), model loaded;
- ray:       images/s of ``proxysort.distributed.index`` on a local Ray cluster of ``--cpus`` CPUs (2 by
             default, loopback only), counted from the call to the result: actor start and model load
             inside the actor included, cluster start-up not (reported on its own);
- ray fixed: the same call on a single photo, i.e. what every Ray run pays before its first photo.

Local and Ray rounds are interleaved ``--rounds`` times and medians reported, so a shared machine's load
drifts over both. Then the per-stage costs the estimate is built from, each measured alone on one core:
hash + decode + preprocess per photo, embedding per photo at batch 32 (on this CPU), and the driver's
SQLite commit per photo, as CPU time (on a shared machine wall time also counts other processes' turns). The 10-million estimate combines them with two stated assumptions (GPU images/s
per node and the shared file system's read bandwidth), which you can replace with your own figures.

Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_index.py                  # 64 photos, 2 rounds
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_index.py --images 16 --rounds 1 --model tests/fixtures/tiny-clip.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the local cluster binds to 127.0.0.1 only

from index_throughput import generate  # noqa: E402

TARGET = 10_000_000


def timed_index(fn, folder: Path | list[Path], **kwargs) -> tuple[float, int]:
    cache = Path(tempfile.mkdtemp(prefix="proxysort-ray-bench-"))
    try:
        start = time.perf_counter()
        result = fn(folder, cache_dir=cache, **kwargs)
        return time.perf_counter() - start, result.summary.embedded
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def stage_costs(paths: list[Path], clip, samples: int = 16) -> dict[str, float]:
    """CPU seconds per photo of each stage, on one core (torch set to one thread). CPU time, not wall time:
    on a shared machine the wall clock also counts the other processes' turns on the core."""
    import numpy as np
    import torch

    from proxysort.indexer import Job, prepare
    from proxysort.scan import ScanEntry
    from proxysort.store import VectorStore

    torch.set_num_threads(1)
    jobs = [Job(ScanEntry(str(p), p.stat().st_size, p.stat().st_mtime_ns), updated=False) for p in paths[:samples]]
    start = time.process_time()
    tensors = [prepare(j, set(), lambda: clip).tensor for j in jobs]
    decode = (time.process_time() - start) / len(jobs)
    batch = torch.stack([tensors[i % len(tensors)] for i in range(32)])
    clip.encode_images(batch[:2])  # warm-up
    start = time.process_time()
    clip.encode_images(batch)
    embed = (time.process_time() - start) / 32
    with tempfile.TemporaryDirectory() as tmp:
        with VectorStore(Path(tmp) / "s.sqlite", identity="bench") as store:
            rows = 2048
            vecs = np.random.default_rng(0).normal(size=(rows, clip.embed_dim)).astype(np.float32)
            start = time.process_time()
            for b in range(0, rows, 256):
                store.write_batch(
                    [(f"/photos/{i:08d}.jpg", 1, 1, f"{i:032x}") for i in range(b, b + 256)],
                    {f"{i:032x}": vecs[i] for i in range(b, b + 256)},
                )
            commit = (time.process_time() - start) / rows
    return {"decode_s": decode, "embed_cpu_s": embed, "commit_s": commit}


def estimate(costs: dict[str, float], mean_bytes: float, args: argparse.Namespace) -> list[dict[str, float]]:
    """Hours for TARGET photos on N nodes of ``--cores`` cores and one GPU each, from the per-stage costs."""
    rows = []
    decode_node = args.cores / costs["decode_s"]  # every core decodes (the GPU actor needs ~1 core)
    driver = 1 / costs["commit_s"]
    fs = args.fs_gbps * 1e9 / mean_bytes
    for n in (1, 2, 4, 8, 16, 32, 64):
        per_node = min(decode_node, args.gpu_rate)
        rate = min(n * per_node, driver, fs)
        bound = "decode" if rate == n * decode_node else "gpu" if rate == n * args.gpu_rate else "driver" if rate == driver else "file system"
        rows.append({"nodes": n, "images_per_s": rate, "hours": TARGET / rate / 3600, "bound": bound})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--pretrained", default="none")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--gpu-rate", type=float, default=2000.0,
                        help="ASSUMED ViT-B-32 images/s per GPU node (not measured here; put your GPU's figure)")
    parser.add_argument("--cores", type=int, default=16, help="CPU cores per GPU node in the estimate")
    parser.add_argument("--fs-gbps", type=float, default=5.0, help="ASSUMED shared file system read GB/s, all nodes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import ray

    from proxysort import distributed
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.indexer import index

    folder = REPO / "bench-out" / "ray-photos"
    paths = generate(folder, args.images)
    for p in paths:  # warm page cache for every phase alike
        p.read_bytes()
    mean_bytes = statistics.mean(p.stat().st_size for p in paths)
    spec = ModelSpec(model=args.model, pretrained=args.pretrained, device="cpu")
    clip = load_clip(spec)

    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - start
    distributed.connect("auto")
    fixed, _ = timed_index(distributed.index, [paths[0]], model=clip, ray="auto")  # also spawns the worker processes
    fixed, _ = timed_index(distributed.index, [paths[0]], model=clip, ray="auto")

    local_t, ray_t = [], []
    for _ in range(args.rounds):
        t, n = timed_index(index, folder, model=clip, batch_size=args.batch_size)
        assert n == len(paths)
        local_t.append(t)
        t, n = timed_index(distributed.index, folder, model=clip, batch_size=args.batch_size, ray="auto")
        assert n == len(paths)
        ray_t.append(t)
    ray.shutdown()

    costs = stage_costs(paths, clip)
    local_ips = len(paths) / statistics.median(local_t)
    ray_ips = len(paths) / statistics.median(ray_t)
    # Photos after the first, over the time after the fixed cost; None when that time is within the noise
    # of the fixed cost itself (under a quarter of the run), where the rate would be meaningless.
    extra = statistics.median(ray_t) - fixed
    steady = (len(paths) - 1) / extra if extra > 0.25 * statistics.median(ray_t) and len(paths) > 1 else None
    report = {
        "images": len(paths),
        "mean_file_bytes": mean_bytes,
        "model": args.model,
        "cpus": args.cpus,
        "load_average": os.getloadavg()[0],
        "local_images_per_s": local_ips,
        "ray_images_per_s": ray_ips,
        "ray_over_local": ray_ips / local_ips,
        "ray_fixed_s": fixed,
        "ray_after_fixed_images_per_s": steady,
        "ray_cluster_start_s": ray_start,
        "stage_s_per_image": costs,
        "assumed_gpu_images_per_s": args.gpu_rate,
        "assumed_fs_gbps": args.fs_gbps,
        "estimate_10M": estimate(costs, mean_bytes, args),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{len(paths)} photos of {mean_bytes / 1e6:.1f} MB, {args.model}, CPU; load average {report['load_average']:.1f}")
    print(f"local index:        {local_ips:7.2f} images/s  (median of {args.rounds})")
    print(f"ray index ({args.cpus} CPUs): {ray_ips:7.2f} images/s  = {ray_ips / local_ips:.2f} x local")
    after = f"{steady:.2f} images/s" if steady is not None else "too few photos to tell (use --images)"
    print(f"  fixed cost per run {fixed:.1f} s (1 photo); after it {after}; cluster start {ray_start:.1f} s")
    print(
        "CPU time per photo: decode {decode_s:.4f} s, embed on CPU {embed_cpu_s:.4f} s, driver commit {commit_s:.6f} s".format(**costs)
    )
    print(f"\n10 million photos, {args.cores} cores + 1 GPU per node, ASSUMED {args.gpu_rate:.0f} GPU images/s per node, "
          f"{args.fs_gbps:.0f} GB/s shared file system:")
    for row in report["estimate_10M"]:
        print(f"  {row['nodes']:3d} nodes: {row['images_per_s']:9.0f} images/s, {row['hours']:7.2f} h  ({row['bound']}-bound)")


if __name__ == "__main__":
    main()
