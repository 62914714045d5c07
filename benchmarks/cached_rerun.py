"""A cached ``cluster`` re-run: wall time with the words' text features in the store (NumPy + FAISS, no
torch) against the same re-run that must embed the words (model loaded, the torch path), in one run.

    HF_HUB_OFFLINE=1 python -m benchmarks.cached_rerun                 # 300 photos, 3 rounds, 2 threads
    HF_HUB_OFFLINE=1 python -m benchmarks.cached_rerun --photos 300 --rounds 5 --write
    HF_HUB_OFFLINE=1 python -m benchmarks.cached_rerun --auto-k --write     # no --k: the automatic k
    HF_HUB_OFFLINE=1 python -m benchmarks.cached_rerun --method dproxy --write   # DProxy's stored word choice

Both sides are the real CLI in a fresh interpreter, on the same folder of the shapes world (``miniworld``,
seed 5) and the trained miniclip, every photo's vector already cached. Equal work apart from what is
measured: before each baseline run the store's word features are deleted (``DELETE FROM word_features``),
which is exactly what a re-run had to do before they were kept; rounds alternate baseline and instant so
the machine's load falls on both alike. Reported: wall seconds and child CPU seconds per run, their
medians and the ratio baseline / instant, the 1-minute load average, whether both printed the same bytes,
and a ``python -X importtime`` excerpt of one instant run (cumulative microseconds).

``--method dproxy``: the same with DProxy (its word choice stored as nodes on the first run); each round
also runs the default zeroshot re-run from the same cache, so the two cached re-runs are side by side.
Any other registered method works the same way (``--method multisub``: its rows per photo stored on the
first run).

``--method all``: every registered method in turn on one folder and cache, each measured as above against
its own torch path (its words' features deleted before each baseline run: the model is loaded, the stored
rows or steps are still used), written as ``cached-rerun-methods.json`` and ``.md`` (:func:`report`), with
the first run's wall time per method (what a re-run of a method that kept nothing cost before) and, per
method, the heavy modules a cached run imported (none: the ``-X importtime`` of one cached run each).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
WORDS = "red,orange,yellow,green,blue,purple,pink,brown"
#: Modules whose cumulative import time the excerpt shows (those absent were not imported).
SHOWN = ("torch", "open_clip", "torchvision", "numpy", "faiss", "scipy", "sklearn", "proxysort.cli",
         "proxysort.sorting", "proxysort.indexer", "proxysort.groups")


def _command(folder: Path, importtime: bool = False, auto_k: bool = False, method: str = "zeroshot") -> list[str]:
    return [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "proxysort", "cluster", str(folder),
            "--by", "color", "--words", WORDS, *([] if auto_k else ["--k", "6"]), "--model", str(FIXTURES / "miniclip.json"),
            "--pretrained", str(FIXTURES / "miniclip.pt"), "--device", "cpu", "--method", method, "--no-folders",
            "--format", "paths"]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, child CPU s, process) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc


def _forget_words(cache: Path) -> int:
    """Delete every stored word feature (the baseline's state); returns how many rows there were."""
    total = 0
    for db in cache.glob("stores/*/index.sqlite"):
        with sqlite3.connect(db) as conn:
            total += conn.execute("DELETE FROM word_features").rowcount
    return total


def _excerpt(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.startswith("import time:") and "|" in line]
    keep = [line for line in lines if line.rsplit("|", 1)[1].strip() in SHOWN]
    return keep


#: Modules a cached re-run must not import (the first of a module's dotted name).
HEAVY = ("torch", "open_clip", "torchvision")


def _heavy(stderr: str) -> list[str]:
    """The heavy modules (:data:`HEAVY`) an ``-X importtime`` run imported."""
    names = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:") and "|" in line}
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


def _round(command: list[str], env: dict[str, str], cache: Path, first: str) -> tuple[tuple[float, float], tuple[float, float], bool, int]:
    """One round: the torch path (every stored word feature deleted first), then the cached re-run; the (wall,
    CPU) seconds of each, whether both printed ``first``, and how many word rows were deleted."""
    forgotten = _forget_words(cache)
    wall, cpu, proc = _run(command, env)
    torch_path, same = (wall, cpu), proc.stdout == first
    wall, cpu, proc = _run(command, env)
    return torch_path, (wall, cpu), same and proc.stdout == first, forgotten


def _method(folder: Path, cache: Path, env: dict[str, str], method: str, rounds: int, auto_k: bool) -> dict:
    """One method's first run, then ``rounds`` of (torch path, cached) re-runs alternating, then one cached
    run under ``-X importtime``."""
    command = _command(folder, auto_k=auto_k, method=method)
    first_wall, _, first = _run(command, env)
    base: list[tuple[float, float]] = []
    fast: list[tuple[float, float]] = []
    same = True
    for r in range(rounds):
        torch_path, cached, same_here, _ = _round(command, env, cache, first.stdout)
        base.append(torch_path)
        fast.append(cached)
        same &= same_here
        print(f"{method} round {r + 1}: torch path {base[-1][0]:.2f} s wall ({base[-1][1]:.2f} CPU-s), cached "
              f"{fast[-1][0]:.2f} s wall ({fast[-1][1]:.2f} CPU-s)", flush=True)
    _, _, traced = _run(_command(folder, importtime=True, auto_k=auto_k, method=method), env)
    b_wall, f_wall = statistics.median(w for w, _ in base), statistics.median(w for w, _ in fast)
    b_cpu, f_cpu = statistics.median(c for _, c in base), statistics.median(c for _, c in fast)
    return {
        "first_run_wall_s": round(first_wall, 3),
        "torch_path_wall_s": [round(w, 3) for w, _ in base], "cached_wall_s": [round(w, 3) for w, _ in fast],
        "torch_path_cpu_s": [round(c, 3) for _, c in base], "cached_cpu_s": [round(c, 3) for _, c in fast],
        "median_wall_ratio": round(b_wall / f_wall, 2), "median_cpu_ratio": round(b_cpu / f_cpu, 2),
        "same_stdout": same, "heavy_imports": _heavy(traced.stderr), "importtime_excerpt": _excerpt(traced.stderr),
    }


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def report(data: dict) -> str:
    """``--method all``'s table, from its JSON (what ``cached-rerun-methods.md`` shows)."""
    lines = [
        f"{data['photos']} photos, k {data['k']}, {data['rounds']} rounds, {data['threads']} threads; 1-minute load "
        f"average {data['loadavg_1min_before']} before, {data['loadavg_1min_after']} after.",
        "",
        "| method | first run s | torch path: median wall s | cached: median wall s | cached wall s (rounds) | "
        "median CPU s torch / cached | ratio wall | ratio CPU | same stdout | heavy imports when cached |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in data["methods"].items():
        lines.append(
            f"| {name} | {m['first_run_wall_s']:.2f} | {_median(m['torch_path_wall_s'])} | {_median(m['cached_wall_s'])} | "
            f"{', '.join(f'{w:.2f}' for w in m['cached_wall_s'])} | {_median(m['torch_path_cpu_s'])} / "
            f"{_median(m['cached_cpu_s'])} | {m['median_wall_ratio']:.2f}x | {m['median_cpu_ratio']:.2f}x | "
            f"{'yes' if m['same_stdout'] else 'NO'} | {', '.join(m['heavy_imports']) or 'none'} |")
    return "\n".join(lines) + "\n"


def _all(folder: Path, cache: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    """``--method all``: every registered method, one after another, on the same folder and cache."""
    from proxysort.learn.registry import METHODS

    before = os.getloadavg()[0]
    methods = {name: _method(folder, cache, env, name, args.rounds, args.auto_k) for name in METHODS}
    data = {"photos": args.photos, "k": "automatic" if args.auto_k else 6, "rounds": args.rounds,
            "threads": args.threads, "loadavg_1min_before": round(before, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2), "methods": methods}
    text = report(data)
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "cached-rerun-methods.json").write_text(json.dumps(data, indent=1) + "\n")
        md = ROOT / "benchmarks" / "results" / "cached-rerun-methods.md"
        intro = md.read_text().split(_TABLE_MARK)[0] if md.exists() else "# Cached re-runs of every method\n\n"
        md.write_text(f"{intro}{_TABLE_MARK}\n\n{text}")


#: The line after which ``cached-rerun-methods.md`` holds the rendered table (text above it is kept).
_TABLE_MARK = "<!-- written by python -m benchmarks.cached_rerun --method all --write -->"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--auto-k", action="store_true", help="no --k: the automatic k (silhouettes) on both sides")
    p.add_argument("--method", default="zeroshot", help="a registered method, or all (every one, one report)")
    p.add_argument("--write", action="store_true",
                   help="write benchmarks/results/cached-rerun.json (cached-rerun-auto-k.json with --auto-k, "
                        "cached-rerun-METHOD.json with another --method, cached-rerun-methods.json and .md with all)")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from miniworld.generate import write_folder
    from proxysort.learn.registry import METHODS

    if args.method != "all" and args.method not in METHODS:
        p.error(f"--method must be all or one of {', '.join(METHODS)}")
    with tempfile.TemporaryDirectory(prefix="cached-rerun-") as tmp:
        folder, cache = Path(tmp) / "images", Path(tmp) / "cache"
        write_folder(folder, args.photos, seed=5)
        threads = str(args.threads)
        env = dict(os.environ, PROXYSORT_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads, PYTHONPATH=str(ROOT / "src"))
        if args.method == "all":
            return _all(folder, cache, env, args)
        command = _command(folder, auto_k=args.auto_k, method=args.method)
        first_wall, _, first = _run(command, env)  # index + learn: fills the vectors, word features (and nodes)
        print(f"first run (index {args.photos} photos + sort): {first_wall:.2f} s", flush=True)
        zeroshot = _command(folder, auto_k=args.auto_k) if args.method != "zeroshot" else None
        zeroshot_first = _run(zeroshot, env)[2] if zeroshot else None
        base: list[tuple[float, float]] = []
        fast: list[tuple[float, float]] = []
        other: list[tuple[float, float]] = []  # the zeroshot re-run from the same cache (--method dproxy)
        same = True
        for r in range(args.rounds):
            torch_path, cached, same_here, forgotten = _round(command, env, cache, first.stdout)
            base.append(torch_path)
            fast.append(cached)
            same &= same_here
            line = (f"round {r + 1}: torch path {base[-1][0]:.2f} s wall ({base[-1][1]:.2f} CPU-s, {forgotten} word rows "
                    f"deleted), cached {fast[-1][0]:.2f} s wall ({fast[-1][1]:.2f} CPU-s)")
            if zeroshot and zeroshot_first:
                wall, cpu, proc = _run(zeroshot, env)
                other.append((wall, cpu))
                same &= proc.stdout == zeroshot_first.stdout
                line += f", zeroshot cached {wall:.2f} s wall ({cpu:.2f} CPU-s)"
            print(line, flush=True)
        _, _, traced = _run(_command(folder, importtime=True, auto_k=args.auto_k, method=args.method), env)
        excerpt = _excerpt(traced.stderr)
    load = os.getloadavg()[0]
    b_wall, f_wall = statistics.median(w for w, _ in base), statistics.median(w for w, _ in fast)
    b_cpu, f_cpu = statistics.median(c for _, c in base), statistics.median(c for _, c in fast)
    out = {
        "photos": args.photos, "method": args.method, "k": "automatic" if args.auto_k else 6, "rounds": args.rounds, "threads": args.threads, "loadavg_1min_after": round(load, 2),
        "torch_path_wall_s": [round(w, 3) for w, _ in base], "cached_wall_s": [round(w, 3) for w, _ in fast],
        "torch_path_cpu_s": [round(c, 3) for _, c in base], "cached_cpu_s": [round(c, 3) for _, c in fast],
        "median_wall_ratio": round(b_wall / f_wall, 2), "median_cpu_ratio": round(b_cpu / f_cpu, 2),
        "same_stdout": same, "importtime_excerpt": excerpt,
    }
    if other:
        out["zeroshot_cached_wall_s"] = [round(w, 3) for w, _ in other]
        out["zeroshot_cached_cpu_s"] = [round(c, 3) for _, c in other]
    print(f"median wall: torch path {b_wall:.2f} s, cached {f_wall:.2f} s ({b_wall / f_wall:.2f}x); median CPU: "
          f"{b_cpu:.2f} vs {f_cpu:.2f} s ({b_cpu / f_cpu:.2f}x); load average {load:.2f}; same stdout: {same}")
    if other:
        print(f"median wall of the zeroshot re-run from the same cache: {statistics.median(w for w, _ in other):.2f} s")
    print("\n".join(excerpt))
    if args.write:
        name = "cached-rerun-auto-k.json" if args.auto_k else "cached-rerun.json"
        if args.method != "zeroshot":
            name = f"cached-rerun-{args.method}.json"
        (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
