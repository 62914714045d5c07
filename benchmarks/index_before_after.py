"""`proxysort index` of camera-size JPEGs, before and after issue 25, through the real CLI in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.index_before_after --images 2000 \
        --out benchmarks/results/index-before-after

*before* is the source tree at ``--before`` (default: the commit before issue 25's first change, the parent of
4d5dec0), unpacked with ``git archive``; *after* is this checkout's ``src``. Each run is a fresh
``python -m proxysort index FOLDER`` process into an empty cache with the same model (ViT-B-32 with random
weights, ``--pretrained none``: no weights can be downloaded here, and the cost of a forward pass does not
depend on the weights' values) on the CPU, so the figures include what a user waits for: the import, the
model load, the scan, hashing, decoding, encoding, the store's commits and, after, the review page's
thumbnails made from the same decodes. Rounds alternate which tree runs first, so a shared machine's
changing load does not favour one.

The folder holds ``--images`` 4000×3000 JPEGs (~3 MB each) made from ``--distinct`` generated scenes: each
file is one scene with its own JPEG comment segment, so every file has its own bytes (nothing is deduplicated
by content) and is decoded in full by both trees. CPU seconds of the child process and everything it waited
for are the figure to read on a shared machine; wall seconds are given with the load average.

``--render JSON`` remakes the report from a saved run (the report and the JSON come from one run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = "4d5dec0^"
MODEL = ("--model", "ViT-B-32", "--pretrained", "none", "--device", "cpu")


def folder_of(images: int, distinct: int) -> Path:
    """``images`` distinct files in ``bench-out/`` made from ``distinct`` generated scenes (kept for re-runs)."""
    from benchmarks.index_throughput import generate

    scenes = generate(REPO / "bench-out" / "camera-scenes", distinct)
    folder = REPO / "bench-out" / f"camera-{images}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(images):
        path = folder / f"IMG_{i:05d}.jpg"
        if path.exists():
            continue
        data = scenes[i % distinct].read_bytes()
        comment = f"proxysort benchmark photo {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment  # COM right after SOI
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data[:2] + segment + data[2:])
        tmp.rename(path)
    return folder


def unpack(rev: str, into: Path) -> Path:
    """The ``src`` tree of ``rev`` under ``into`` (git archive: no worktree left behind)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "src"],
                             check=True, capture_output=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def run_index(src: Path, folder: Path) -> dict:
    """One CLI index into an empty cache: wall s, CPU s (the child and all it waited for), photos embedded."""
    cache = Path(tempfile.mkdtemp(prefix="proxysort-bench-cache-"))
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "PROXYSORT_CACHE_DIR": str(cache)}
    env.pop("PROXYSORT_PRECISION", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "proxysort", "index", str(folder), *MODEL,
                               "--cache-dir", str(cache), "--json", "-q"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"index under {src} exited {done.returncode}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "embedded": _embedded(result), "load": os.getloadavg()[0],
            "precision": result.get("precision", "fp32")}  # before issue 25 the encoder was always fp32


def _embedded(result: dict) -> int:
    """The number of photos embedded, from either tree's ``--json`` summary."""
    summary = result.get("summary", result)
    return int(summary.get("embedded", 0))


def report(data: dict) -> str:
    """The markdown report of one saved run."""
    meta, runs = data["meta"], data["runs"]
    n = meta["images"]
    lines = [
        f"    {meta['command']}", "",
        f"{n} JPEGs 4000x3000 ({meta['distinct']} scenes, each file its own bytes), ViT-B-32 (random weights) on "
        f"the CPU, {meta['cpus']} CPUs; before = `{meta['before']}` ({meta['before_commit'][:7]}), after = "
        f"{meta['after_commit'][:7]}; the image encoder's precision per run is the one the index reported "
        f"(`--precision auto` after issue 25, always fp32 before).", "",
        "| round | tree | precision | wall s | CPU s | CPU-ms per photo | photos/s | embedded | load (1 min) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['round']} | {r['tree']} | {r.get('precision', 'fp32')} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{1000 * r['cpu_s'] / n:.1f} | {n / r['wall_s']:.2f} | {r['embedded']} | {r['load']:.2f} |")
    med = {t: {k: statistics.median(r[k] for r in runs if r["tree"] == t) for k in ("wall_s", "cpu_s")}
           for t in ("before", "after")}
    lines += ["", f"median CPU s: before {med['before']['cpu_s']:.1f}, after {med['after']['cpu_s']:.1f} "
              f"(after/before {med['after']['cpu_s'] / med['before']['cpu_s']:.2f}x); median wall s: before "
              f"{med['before']['wall_s']:.1f}, after {med['after']['wall_s']:.1f} "
              f"(after/before {med['after']['wall_s'] / med['before']['wall_s']:.2f}x)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--distinct", type=int, default=100, help="generated scenes the files are made from")
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' tree")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--render", type=Path, help="print the report of a saved JSON and exit")
    args = parser.parse_args()
    if args.render:
        print(report(json.loads(args.render.read_text())), end="")
        return
    folder = folder_of(args.images, args.distinct)
    commit = lambda rev: subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], check=True,  # noqa: E731
                                        capture_output=True, text=True).stdout.strip()
    meta = {"images": args.images, "distinct": args.distinct, "before": args.before,
            "before_commit": commit(args.before), "after_commit": commit("HEAD"), "cpus": os.cpu_count(),
            "command": "HF_HUB_OFFLINE=1 python -m benchmarks.index_before_after " + " ".join(sys.argv[1:])}
    runs = []
    with tempfile.TemporaryDirectory(prefix="proxysort-before-") as tmp:
        trees = {"before": unpack(args.before, Path(tmp)), "after": REPO / "src"}
        for rnd in range(1, args.rounds + 1):
            order = ("before", "after") if rnd % 2 else ("after", "before")
            for tree in order:
                run = {"round": rnd, "tree": tree, **run_index(trees[tree], folder)}
                print(f"round {rnd} {tree}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} CPU s, "
                      f"load {run['load']:.2f}", file=sys.stderr, flush=True)
                runs.append(run)
    data = {"meta": meta, "runs": runs}
    text = report(data)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        args.out.with_suffix(".md").write_text("# `proxysort index` before and after issue 25\n\n" + text)
    print(text, end="")


if __name__ == "__main__":
    main()
