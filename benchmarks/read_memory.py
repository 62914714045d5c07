"""Peak memory of reading N vectors out of the store: one matrix filled chunk by chunk (``matrix_for``, what
``index`` returns since issue 25) against the dict of per-photo arrays plus their stacked copy it replaced.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/read_memory.py --sizes 10000,100000

A real store with N synthetic 512-d unit vectors (float16 rows, as ``index`` writes them; file rows only,
no photos on disk). Each (way, N) runs in a fresh process, which reports its peak RSS above what it held
after opening the store; the baseline is the old code path, kept here verbatim.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIM = 512


def build(store_file: Path, n: int) -> list[str]:
    import numpy as np

    from proxysort.store import VectorStore

    rng = np.random.default_rng(0)
    paths = [f"/photos/d{i // 5000:04d}/img_{i:07d}.jpg" for i in range(n)]
    with VectorStore(store_file, identity="read-memory") as store:
        for s in range(0, n, 5000):
            vec = rng.standard_normal((min(5000, n - s), DIM)).astype(np.float32)
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            store.write_batch([(p, 1, 1, f"h{s + j}") for j, p in enumerate(paths[s : s + 5000])],
                              {f"h{s + j}": v for j, v in enumerate(vec)})
    return paths


def old_read(store, paths: list[str]):
    """The read before issue 25: a dict of N unit vectors, then one stacked float32 copy."""
    import numpy as np

    from proxysort.store import _chunks, _guard

    out = {}
    dim = store.dim()
    with _guard(store.path):
        for chunk in _chunks(paths):
            sql = ("SELECT f.path, v.vec FROM files f JOIN vectors v ON v.hash = f.hash "
                   f"WHERE f.path IN ({','.join('?' * len(chunk))})")
            for path, blob in store.conn.execute(sql, chunk):
                vec = store._vector(blob, dim)
                if not np.isfinite(vec).all():
                    raise ValueError("damaged")
                out[path] = vec / max(float(np.linalg.norm(vec)), 1e-12)
    kept = [p for p in paths if p in out]
    return kept, np.stack([out[p] for p in kept]).astype(np.float32)


def child(way: str, store_file: Path, n: int) -> dict:
    import numpy as np  # noqa: F401  (imports are not the read's memory)

    from proxysort.store import VectorStore

    paths = [f"/photos/d{i // 5000:04d}/img_{i:07d}.jpg" for i in range(n)]
    with VectorStore(store_file) as store:
        store.dim()
        before = _rss_now()
        start = time.process_time()
        kept, matrix = (old_read(store, paths) if way == "old" else store.matrix_for(paths))
        cpu = time.process_time() - start
    assert len(kept) == n and matrix.shape == (n, DIM)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"way": way, "n": n, "cpu_s": cpu, "peak_above_mb": (peak - before) / 2**20,
            "matrix_mb": matrix.nbytes / 2**20}


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), int(args.child[2]))))
        return 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    rows = []
    with tempfile.TemporaryDirectory(prefix="proxysort-read-") as tmp:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            store_file = Path(tmp) / f"n{n}" / "index.sqlite"
            build(store_file, n)
            for way in ("old", "matrix_for", "old", "matrix_for"):  # twice each, interleaved
                out = subprocess.run([sys.executable, "-m", "benchmarks.read_memory", "--child", way, str(store_file), str(n)],
                                     env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| way | N | peak RSS above the open store, MB (two runs) | per photo KB | the matrix itself, MB | CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in sorted({r["n"] for r in rows}):
        for way in ("old", "matrix_for"):
            rs = [r for r in rows if r["n"] == n and r["way"] == way]
            peaks = [r["peak_above_mb"] for r in rs]
            print(f"| {way} | {n} | {', '.join(f'{x:.0f}' for x in peaks)} | {min(peaks) * 1024 / n:.1f} | "
                  f"{rs[0]['matrix_mb']:.0f} | {min(r['cpu_s'] for r in rs):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
