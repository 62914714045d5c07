"""A re-run into an OUT that already holds a tree of N photos: peak memory of its plan and write (issue 25).

    nice -n 10 .venv/bin/python -m benchmarks.rerun_memory --sizes 300000,1000000 \\
        --out benchmarks/results/rerun-memory

For each N a fresh process makes N empty photo files in folders of 5000 (under /tmp, deleted afterwards),
writes a first tree of them with :func:`proxysort.output.make_tree` (symlinks; the input a ``Grouped`` as
``benchmarks/scale.py`` and ``proxysort sort`` hand it: random labels over k = 4 named groups), then changes
the library and the grouping: 10 % of the photos move to another group, 1 % are deleted, 1 % are new. Then,
each in a fresh process of its own with the re-run's inputs built (so no memory freed by an earlier step is
reused unseen), it measures:

* ``plan``: :func:`proxysort.output.plan_tree` of the new grouping (reads the old manifest, plans around it);
* ``rerun``: :func:`proxysort.output.make_tree` of it, the plan made under the lock and carried out.

Peak is ``VmHWM`` after resetting it (``/proc/self/clear_refs``), above the baseline; the first run's
peak is given too, so what the old tree costs is the re-run's peak less the first run's. The re-run's tree
and manifest are hashed (every path, link text and the manifest's bytes; the folder's path is the same in
every process), and both ways must give the same hashes.

"before" is the whole source tree at ``--before`` (``git archive``, loaded with ``PYTHONPATH``), "after" the
working tree's; both run for every N, in fresh processes. ``--render`` remakes the report from a saved JSON.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "5a9d97c"  # main before the re-run's plan and write held old files as rows (this benchmark's branch point)
FOLDER = 5000
LABELS = ("red", "green", "blue", "yellow")


def _hwm_reset() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS


def _status(key: str) -> int:
    """``VmHWM`` or ``VmRSS`` in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _measure(fn):  # type: ignore[no-untyped-def]
    """``fn()``'s result, and its peak RSS above the RSS before it (MB), CPU and wall seconds."""
    gc.collect()
    base = _status("VmRSS")
    _hwm_reset()
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = _status("VmHWM")
    return result, {"peak_above_mb": round((peak - base) / 2**20, 1), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}


def _digest(out: Path) -> tuple[str, str]:
    """SHA-256 of the tree's listing (each path, and a link's text) and of the manifest's bytes."""
    tree = hashlib.sha256()
    for folder, dirs, files in os.walk(out):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, out)
            tree.update(f"{rel}\0{os.readlink(p) if os.path.islink(p) else ''}\n".encode("utf-8", "surrogateescape"))
    manifest = hashlib.sha256((out / ".proxysort.json").read_bytes()).hexdigest()
    return tree.hexdigest(), manifest


def _inputs(n: int, photos: Path) -> tuple[list[str], object, object, object]:
    """The photos' paths (N, then the re-run's N/100 new ones), their labels, the deleted and the moved photos:
    the same in every process (one seed)."""
    import numpy as np

    extra = n // 100
    paths = [f"{photos}/d{i // FOLDER:04d}/img_{i:07d}.jpg" for i in range(n + extra)]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(LABELS), size=n + extra).astype(np.int32)
    gone = rng.choice(n, size=n // 100, replace=False)
    moved = rng.choice(n, size=n // 10, replace=False)
    return paths, labels, gone, moved


def child(n: int, way: str, step: str) -> dict:
    """One step in this fresh process (``PYTHONPATH`` says which code ``way`` is): ``setup`` makes the photos and
    the first tree (its peak measured) and deletes 1 %; ``plan`` and ``rerun`` measure the re-run's plan alone
    and its plan and write (the tree and manifest hashed after)."""
    import numpy as np

    from proxysort.output import Grouped, make_tree, plan_tree

    base = Path(tempfile.gettempdir()) / f"proxysort-rerun-memory-{n}"  # the same path in every process
    photos, out = base / "photos", base / "out"
    paths, labels, gone, moved = _inputs(n, photos)
    if step == "setup":
        shutil.rmtree(base, ignore_errors=True)
        for folder in sorted({os.path.dirname(p) for p in paths}):
            os.makedirs(folder)
        for p in paths:
            open(p, "wb").close()
        first = {"color": Grouped(paths[:n], labels[:n], LABELS)}  # type: ignore[index]
        summary, first_run = _measure(lambda: make_tree(out, first, link="symlink", photo_roots=[photos]))
        assert summary.created == n, summary.created
        for i in gone:  # type: ignore[attr-defined]
            os.unlink(paths[i])
        return {"first": first_run}
    labels[moved] = (labels[moved] + 1) % len(LABELS)  # type: ignore[index]
    keep = np.ones(len(paths), dtype=bool)
    keep[gone] = False  # type: ignore[index]
    second = {"color": Grouped([p for p, k in zip(paths, keep) if k], labels[keep], LABELS)}  # type: ignore[index]
    del paths
    if step == "plan":
        plan, planned = _measure(lambda: plan_tree(out, second, link="symlink", photo_roots=[photos]))
        return {"plan": planned, "expect": [len(plan.keep), len(plan.remove), plan.count_create()]}
    summary, rerun = _measure(lambda: make_tree(out, second, link="symlink", photo_roots=[photos]))
    tree, manifest = _digest(out)
    return {"rerun": rerun, "kept": summary.kept, "removed": summary.removed, "created": summary.created,
            "tree_sha256": tree, "manifest_sha256": manifest,
            "manifest_mb": round((out / ".proxysort.json").stat().st_size / 2**20, 1)}


def _before_tree(commit: str, into: Path) -> Path:
    """The source tree at ``commit`` (git archive), for the "before" processes."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run(sizes: list[int], before: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="proxysort-rerun-before-") as tmp:
        src = {"before": _before_tree(before, Path(tmp)), "after": ROOT / "src"}
        for n in sizes:
            for way in ("before", "after"):
                env = {**os.environ, "PYTHONPATH": f"{src[way]}{os.pathsep}{ROOT}"}
                row: dict = {"n": n, "way": way}
                try:
                    for step in ("setup", "plan", "rerun"):
                        done = subprocess.run([sys.executable, "-m", "benchmarks.rerun_memory", "--child", str(n), way, step],
                                              cwd=ROOT, env=env, check=True, capture_output=True, text=True)
                        row.update(json.loads(done.stdout.strip().splitlines()[-1]))
                finally:
                    shutil.rmtree(Path(tempfile.gettempdir()) / f"proxysort-rerun-memory-{n}", ignore_errors=True)
                assert row.pop("expect") == [row["kept"], row["removed"], row["created"]], row
                row["load"] = round(os.getloadavg()[0], 2)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    return rows


def _per_photo(rows: list[dict], way: str, stage: str) -> tuple[int, int, float] | None:
    """(N1, N2, bytes per photo) of ``stage``'s peak between the two largest N of ``way``."""
    mine = sorted((r for r in rows if r["way"] == way), key=lambda r: r["n"])
    if len(mine) < 2:
        return None
    a, b = mine[-2], mine[-1]
    return a["n"], b["n"], (b[stage]["peak_above_mb"] - a[stage]["peak_above_mb"]) * 2**20 / (b["n"] - a["n"])


def markdown(data: dict) -> str:
    meta, rows = data["meta"], data["rows"]
    lines = [
        "# A re-run into an OUT of N photos: memory of its plan and write (issue 25)", "",
        f"Written by `{meta['command']}` together with the JSON beside it ({meta['when']}, {meta['cpus']} CPUs shared, "
        f"Python {meta['python']}). Before: the source tree at {meta['before']}; after: the working tree's. Each row is "
        "one fresh process; each peak (`VmHWM`, reset before the step) is above the RSS before that step, the "
        "re-run's inputs already built. The re-run moves 10 % of the photos to another group, deletes 1 % and adds "
        "1 % (symlinks, k = 4).", "",
        "| N photos | way | first run peak MB | re-run plan peak MB | re-run plan+write peak MB | re-run CPU s | "
        "kept | removed | created | manifest MB | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['n']} | {r['way']} | {r['first']['peak_above_mb']} | {r['plan']['peak_above_mb']} | "
                     f"{r['rerun']['peak_above_mb']} | {r['rerun']['cpu_s']} | {r['kept']} | {r['removed']} | "
                     f"{r['created']} | {r['manifest_mb']} | {r['load']} |")
    lines.append("")
    for n in sorted({r["n"] for r in rows}):
        pair = {r["way"]: r for r in rows if r["n"] == n}
        if len(pair) == 2:
            same = all(pair["before"][k] == pair["after"][k] for k in ("tree_sha256", "manifest_sha256"))
            b, a = pair["before"]["rerun"], pair["after"]["rerun"]
            lines.append(f"- N = {n}: re-run peak {b['peak_above_mb']} → {a['peak_above_mb']} MB "
                         f"({b['peak_above_mb'] * 2**20 / n:.0f} → {a['peak_above_mb'] * 2**20 / n:.0f} bytes a photo), "
                         f"CPU {b['cpu_s']} → {a['cpu_s']} s; tree and manifest "
                         f"{'byte for byte the same' if same else 'DIFFER'}")
    lines.append("")
    for way in ("before", "after"):
        for stage, what in (("first", "first run"), ("rerun", "re-run (plan and write)")):
            growth = _per_photo(rows, way, stage)
            if growth is not None:
                n1, n2, per = growth
                lines.append(f"- {way}, {what}: the peak grows {per:.0f} bytes a photo between N = {n1} and {n2}: "
                             f"**{per * 1e7 / 2**30:.2f} GB extrapolated at 10M photos**")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--render", type=Path, help="print the report of a saved JSON")
    parser.add_argument("--child", nargs=3, metavar=("N", "WAY", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.child[2])))
        return
    if args.render:
        print(markdown(json.loads(args.render.read_text())), end="")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = run(sizes, args.before)
    command = "python -m benchmarks.rerun_memory " + " ".join(sys.argv[1:])
    data = {"meta": {"command": command, "before": args.before, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "cpus": os.cpu_count(), "python": platform.python_version(),
                     "max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}, "rows": rows}
    text = markdown(data)
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
