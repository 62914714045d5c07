"""Benchmark the review page: thumbnails + ``index.html`` against the ``cluster`` run they follow.

For each size N (default 1,000 and 10,000 generated photos) in one process, so ratios are meaningful on a
busy machine:

* ``cluster``: the library run the CLI does before the page — index (decode + embed) → proxies → k-means →
  write the tree — with the tiny test CLIP (tests/fixtures/tiny-clip.json) by default. Its embedding
  costs next to nothing, so this baseline is the pessimistic one: ``--model ViT-B-32`` runs the default
  model's architecture with random weights (a real run's compute, offline). ``tree`` (the folder writing
  alone) is printed too.
* ``page cold``: thumbnails made (empty cache) + page data + ``index.html``; ``page warm``: the same on a
  re-run, every thumbnail already cached.
* page weight (``index.html`` bytes), thumbnail bytes against the originals' bytes;
* with ``chromium`` on PATH: time from navigation to the ``load`` event in headless Chromium (lazy images:
  only the first screen's thumbnails load), and the page's own ``performance.now()`` at ``load``.

Photos are JPEGs of ``--width`` x ``--height`` (default 1600x1200, ~2 MP, a few hundred KB: smaller than a
phone's 12 MP / 3-5 MB, so the thumbnail ratio is pessimistic too), each different (a gradient, shapes
and sensor-like noise), written once under ``--workdir`` and reused by later runs.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/page_speed.py                 # 1,000 and 10,000
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/page_speed.py --sizes 1000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny-clip.json"
WORDS = ["red", "orange", "yellow", "green", "blue", "purple"]


def _photos(folder: Path, n: int, width: int, height: int) -> list[Path]:
    """``n`` distinct JPEGs in ``folder`` (made once; an existing complete set is reused)."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i // 1000:02d}" / f"IMG_{i:05d}.jpg" for i in range(n)]
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    bases = []  # a few noisy gradients; each photo adds its own shapes (making each base costs ~1 s)
    for _ in range(8):
        a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
        t = ((xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (width + height) + 0.5)[..., None]
        img = a * (1 - t) + b * t + rng.normal(0, 9, (height, width, 3))
        bases.append(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)))
    for i, path in enumerate(paths):
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        rng = np.random.default_rng([1, i])  # per photo: an interrupted run resumes with the same photos
        im = bases[i % len(bases)].copy()
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = rng.integers(0, width - 200), rng.integers(0, height - 200)
            size = int(rng.integers(80, 400))
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x0 + size, y0 + size], fill=colour)
        tmp = path.with_suffix(".tmp")
        im.save(tmp, "JPEG", quality=90)
        tmp.rename(path)  # an interrupted run never leaves a truncated photo that a re-run would reuse
    return paths


def _browser_open(page: Path) -> tuple[float, int, int] | None:
    """Seconds from navigation to ``load`` in headless Chromium, and the page's own ms when its script ran
    (the whole DOM parsed) and at ``load``."""
    sys.path.insert(0, str(ROOT))
    from tests.support.browser import Browser, find_chromium

    exe = find_chromium()
    if exe is None:
        return None
    with Browser(exe, width=1280, height=900) as b:
        b.open("about:blank")
        start = time.perf_counter()
        b.open(page.as_uri())
        seconds = time.perf_counter() - start
        ready, load = b.evaluate("['data-ready-ms', 'data-load-ms'].map(a => parseInt(document.documentElement.getAttribute(a) || '-1', 10))")
    return seconds, ready, load


def run_size(n: int, work: Path, width: int, height: int, model: str) -> dict[str, float]:
    import torch

    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.page.publish import PageJob
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, page_run, sort, write_folders

    torch.set_num_threads(1)
    photos_dir = work / f"photos-{n}"
    t = time.perf_counter()
    paths = _photos(photos_dir, n, width, height)
    made = time.perf_counter() - t
    originals = sum(p.stat().st_size for p in paths)
    cache, out = work / f"cache-{n}", work / f"out-{n}"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    clip = load_clip(ModelSpec(str(TINY) if model == "tiny" else model, "none", "cpu"))

    t = time.perf_counter()
    run = sort(photos_dir, [By("color", words=WORDS, k=6)], model=clip, cache_dir=cache,
               training=ProxyConfig(mode="subspace", epochs=2))
    learn = time.perf_counter() - t
    t = time.perf_counter()
    plan, _ = write_folders(run, out)
    tree = time.perf_counter() - t
    baseline = learn + tree

    # The tree is unchanged on these re-runs, so what they add over a re-run without the page (``rerun``) is
    # the page step: thumbnails (cold: made; warm: reused from the page's own hashes and OUT) and the page
    # written under the lock.
    t = time.perf_counter()
    write_folders(run, out)
    rerun = time.perf_counter() - t
    t = time.perf_counter()
    job = PageJob(page_run(run), cache)
    write_folders(run, out, page=job)
    cold = time.perf_counter() - t - rerun
    t = time.perf_counter()
    again = PageJob(page_run(run), cache)
    write_folders(run, out, page=again)
    warm = time.perf_counter() - t - rerun
    stats, stats2 = job.stats, again.stats
    page = job.outcome.page
    # Byte-identical photos share one thumbnail, so ``made`` can be below n; every photo has one.
    assert stats.made + stats.reused == n and stats2.reused == n, (stats, stats2)
    thumb_bytes = sum(f.stat().st_size for f in (out / ".proxysort-thumbs").rglob("*.jpg"))
    opened = _browser_open(page)

    print(f"\nN = {n} photos ({width}x{height} JPEG, {originals / n / 1e3:.0f} KB each; generated in {made:.0f} s)")
    print(f"  cluster run (index+learn+k-means, {model} CLIP): {learn:8.2f} s   tree writing: {tree:6.2f} s   baseline (both): {baseline:8.2f} s")
    print(f"  page cold ({stats.made} thumbnails made + page):  {cold:8.2f} s   ratio to baseline {cold / baseline:5.2f}   to tree {cold / tree:6.1f}")
    print(f"  page warm (thumbnails cached):                {warm:8.2f} s   ratio to baseline {warm / baseline:5.3f}   to tree {warm / tree:6.2f}")
    print(f"  page weight: index.html {page.stat().st_size / 1e6:.2f} MB "
          f"({page.stat().st_size / n:.0f} B/photo), data {(out / '.proxysort-page.json').stat().st_size / 1e6:.2f} MB")
    print(f"  thumbnails: {thumb_bytes / 1e6:.1f} MB = {thumb_bytes / n / 1e3:.1f} KB each = "
          f"{thumb_bytes / originals:.2%} of the originals ({originals / 1e6:.0f} MB)")
    if opened:
        print(f"  headless Chromium: navigation to load {opened[0]:.2f} s; page's own performance.now(): "
              f"DOM parsed and script run {opened[1]} ms, load {opened[2]} ms")
    else:
        print("  headless Chromium: not installed, open time not measured")
    return {"cold": cold, "warm": warm, "baseline": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/proxysort-page-bench"))
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--model", default="tiny",
                        help="'tiny' (the test CLIP) or an open_clip architecture such as ViT-B-32, with random "
                        "weights: a real model's compute, for a realistic baseline")
    args = parser.parse_args()
    for n in args.sizes:
        run_size(n, args.workdir, args.width, args.height, args.model)


if __name__ == "__main__":
    main()
