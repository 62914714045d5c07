"""The tree of a sort of N photos: peak memory of ``write_folders``' plan and write, paths from the index's column.

    nice -n 10 .venv/bin/python -m benchmarks.plan_memory --sizes 200000,400000 --out benchmarks/results/plan-memory

Issue 25 item 5 (the sorting stage of 10M photos in 4 GB): ``write_folders`` made a ``str`` per photo of the
index's :class:`~proxysort.pathcolumn.PathColumn` and the plan held them (its stats, its files' sources, each
group's members). This measures :func:`proxysort.sorting.write_folders` itself, on what a sort hands it: for
each N a fresh process makes N empty photo files in folders of 5000 (under /tmp, deleted afterwards), and then,
each in a fresh process of its own with the sort's result built first (paths as a ``PathColumn`` in sorted
order, 32-hex content ids as ``ContentIds``, random labels over k = 4 named groups, one concept), measures:

* ``plan``: ``write_folders(result, out, dry_run=True)``: the plan alone (what ``--dry-run`` does);
* ``write``: ``write_folders(result, out)``: the symlink tree and its manifest, planned under the lock.

Peak is ``VmHWM`` after resetting it (``/proc/self/clear_refs``), above the RSS before the step. The written
tree and manifest are hashed (every path, link text and the manifest's bytes; the folder's path is the same in
every process; the manifest less the time it was written), and both ways must give the same hashes.

"before" is the source tree at ``--before`` (``git archive``, loaded with ``PYTHONPATH``), "after" the working
tree's; both run for every N, in fresh processes. ``--render`` remakes the report from a saved JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.rerun_memory import _before_tree, _digest, _measure

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "6d9b22f"  # main before the plan held the photos' paths as columns (this benchmark's branch point)
FOLDER = 5000
LABELS = ("red", "green", "blue", "yellow")


def _base(n: int) -> Path:
    return Path(tempfile.gettempdir()) / f"proxysort-plan-memory-{n}"  # the same path in every process


def _result(n: int, photos: Path) -> SimpleNamespace:
    """What ``write_folders`` reads of a sort's result, as :func:`proxysort.sort` hands it: the same in every
    process (one seed)."""
    import numpy as np

    from proxysort.encoders import ModelSpec
    from proxysort.pathcolumn import ContentIds, PathColumn

    paths = PathColumn.of(f"{photos}/d{i // FOLDER:04d}/img_{i:07d}.jpg" for i in range(n))
    ids = ContentIds.of(hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest() for i in range(n))
    labels = np.random.default_rng(0).integers(0, len(LABELS), size=n)
    concept = SimpleNamespace(concept="color", names=list(LABELS), labels=labels, unsure=None, left_out=None,
                              memory=None, words=LABELS, candidates=LABELS, word_source="given", feature="proxy",
                              k=len(LABELS))
    index = SimpleNamespace(companions={}, content_ids=ids, identity="bench")
    return SimpleNamespace(paths=paths, concepts=[concept], index=index, roots=[photos], gestures=(), seed=0,
                           mode="proxy", model=ModelSpec("ViT-B-32", "none", "cpu"))


def child(n: int, step: str) -> dict:
    """One step in this fresh process (``PYTHONPATH`` says which code): ``setup`` makes the photos; ``plan`` and
    ``write`` measure ``write_folders`` with and without ``dry_run`` (the tree and manifest hashed after)."""
    from proxysort.sorting import write_folders

    base = _base(n)
    photos, out = base / "photos", base / "out"
    if step == "setup":
        shutil.rmtree(base, ignore_errors=True)
        for i in range(n):
            if i % FOLDER == 0:
                os.makedirs(photos / f"d{i // FOLDER:04d}")
            open(photos / f"d{i // FOLDER:04d}" / f"img_{i:07d}.jpg", "wb").close()
        return {}
    result = _result(n, photos)
    if step == "plan":
        (plan, _), planned = _measure(lambda: write_folders(result, out, dry_run=True))  # type: ignore[arg-type]
        return {"plan": planned, "planned": plan.count_create()}
    shutil.rmtree(out, ignore_errors=True)
    (_, summary), wrote = _measure(lambda: write_folders(result, out))  # type: ignore[arg-type]
    tree, _ = _digest(out)
    # the manifest less the time each tree was written (the run's record says when: it differs run to run)
    text = re.sub(rb'"written": "[^"]*"', b'"written": ""', (out / ".proxysort.json").read_bytes())
    manifest = hashlib.sha256(text).hexdigest()
    shutil.rmtree(out)
    return {"write": wrote, "created": summary.created, "tree_sha256": tree, "manifest_sha256": manifest}


def run(sizes: list[int], before: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="proxysort-plan-before-") as tmp:
        src = {"before": _before_tree(before, Path(tmp)), "after": ROOT / "src"}

        def step(n: int, way: str, name: str) -> dict:
            env = {**os.environ, "PYTHONPATH": f"{src[way]}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1"}
            done = subprocess.run([sys.executable, "-m", "benchmarks.plan_memory", "--child", str(n), name],
                                  cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])

        for n in sizes:
            try:
                step(n, "after", "setup")
                for way in ("before", "after"):
                    row: dict = {"n": n, "way": way, **step(n, way, "plan"), **step(n, way, "write")}
                    assert row["planned"] == row["created"] == n, row
                    row["load"] = round(os.getloadavg()[0], 2)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
            finally:
                shutil.rmtree(_base(n), ignore_errors=True)
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
        "# The tree of a sort of N photos: memory of write_folders' plan and write (issue 25)", "",
        f"Written by `{meta['command']}` together with the JSON beside it ({meta['when']}, {meta['cpus']} CPUs shared, "
        f"Python {meta['python']}). Before: the source tree at {meta['before']}; after: the working tree's. Each row is "
        "one fresh process per step; each peak (`VmHWM`, reset before the step) is above the RSS before that step, "
        "the sort's result (paths as a column, content ids, labels) already built. One concept, k = 4, symlinks.", "",
        "| N photos | way | plan peak MB | plan CPU s | plan+write peak MB | plan+write CPU s | created | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['n']} | {r['way']} | {r['plan']['peak_above_mb']} | {r['plan']['cpu_s']} | "
                     f"{r['write']['peak_above_mb']} | {r['write']['cpu_s']} | {r['created']} | {r['load']} |")
    lines.append("")
    for n in sorted({r["n"] for r in rows}):
        pair = {r["way"]: r for r in rows if r["n"] == n}
        if len(pair) == 2:
            same = all(pair["before"][k] == pair["after"][k] for k in ("tree_sha256", "manifest_sha256"))
            b, a = pair["before"]["write"], pair["after"]["write"]
            lines.append(f"- N = {n}: plan+write peak {b['peak_above_mb']} → {a['peak_above_mb']} MB "
                         f"({b['peak_above_mb'] * 2**20 / n:.0f} → {a['peak_above_mb'] * 2**20 / n:.0f} bytes a photo), "
                         f"CPU {b['cpu_s']} → {a['cpu_s']} s; tree and manifest "
                         f"{'byte for byte the same' if same else 'DIFFER'}")
    lines.append("")
    for way in ("before", "after"):
        for stage, what in (("plan", "plan (--dry-run)"), ("write", "plan and write")):
            growth = _per_photo(rows, way, stage)
            if growth is not None:
                n1, n2, per = growth
                lines.append(f"- {way}, {what}: the peak grows {per:.0f} bytes a photo between N = {n1} and {n2}: "
                             f"**{per * 1e7 / 2**30:.2f} GB extrapolated at 10M photos**")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200000,400000")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--render", type=Path, help="print the report of a saved JSON")
    parser.add_argument("--child", nargs=2, metavar=("N", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    if args.render:
        print(markdown(json.loads(args.render.read_text())), end="")
        return
    rows = run([int(s) for s in args.sizes.split(",")], args.before)
    command = "python -m benchmarks.plan_memory " + " ".join(sys.argv[1:])
    data = {"meta": {"command": command, "before": args.before, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "cpus": os.cpu_count(), "python": platform.python_version()}, "rows": rows}
    text = markdown(data)
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
