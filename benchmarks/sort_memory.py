"""What the real ``proxysort cluster`` path holds per photo: peak RSS of ``index``, ``sort`` and ``write_folders``.

    HF_HUB_OFFLINE=1 nice -n 10 python -m benchmarks.sort_memory --sizes 100000,500000
    HF_HUB_OFFLINE=1 nice -n 10 python -m benchmarks.sort_memory --sizes 1000000,2000000 \\
        --before /tmp/proxysort-before/src --out benchmarks/results/sort-memory

``benchmarks/scale.py`` models the sorting stage; this one runs the library's own entry points on an archive
that is already indexed, as a re-run of ``proxysort cluster`` finds it (issue 25, item 5: 4 GB at 10M photos):
N empty files in folders of 5000 and a real vector store that :func:`proxysort.index` takes as up to date
(each file's row has its real size and mtime, and a synthetic float16 unit vector keyed by a 32-hex content
hash, at the store path the index computes for ``ModelSpec("ViT-B-32", "none", "cpu")``, a random-weight
model, so nothing is downloaded). Each N is made once, in its own process; then each measurement runs in a
fresh process, so each peak is its own:

* ``index`` – :func:`proxysort.index` with ``load_vectors=False`` alone (what ``sort`` calls first): the scan,
  the diff against the store and the paths and content ids handed to the sort;
* ``sort`` – :func:`proxysort.sort` by one concept (8 words, k = 4, the default method; ``proxy_cache=False``,
  so every run embeds the words and nothing a run leaves in the store changes the next one), index included;
* ``write`` – :func:`proxysort.write_folders` of that result: the symlink tree and its manifest, in a
  temporary folder, measured from the resident set the sort left.

``--before SRC`` runs the same measurements with the ``proxysort`` package found under ``SRC`` (e.g. a
``git worktree`` of an older commit), beside this tree's at each N (both at once, each phase in a process of
its own), so both see the same machine.
The peak is sampled from ``/proc/self/statm`` every 5 ms (as ``benchmarks/scale.py`` does); ``base`` is the
resident set after the imports, before the phase. The growth per photo is taken between the two largest N.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.scale import _PeakRSS

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")
K = 4
PHASES = ("index", "sort", "write")
FAR = 10_000_000


def _spec():
    from proxysort.encoders import ModelSpec

    return ModelSpec("ViT-B-32", "none", "cpu")


def make(folder: Path, n: int) -> None:
    """N empty photos under ``folder/photos`` and the store the index of them would have left, in ``folder/cache``."""
    import numpy as np

    from proxysort.store import VectorStore, store_path

    photos = folder / "photos"
    spec = _spec()
    identity = spec.identity()
    rng = np.random.default_rng(0)
    with VectorStore(store_path(folder / "cache", identity), identity=identity) as store:
        for s in range(0, n, 5000):
            m = min(5000, n - s)
            sub = photos / f"d{s // 5000:04d}"
            sub.mkdir(parents=True)
            vec = rng.standard_normal((m, 512)).astype(np.float32)
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            files, vectors = [], {}
            for j in range(m):
                p = sub / f"img_{s + j:07d}.jpg"
                p.touch()
                st = p.stat()
                digest = hashlib.blake2b(str(s + j).encode(), digest_size=16).hexdigest()
                files.append((str(p), st.st_size, st.st_mtime_ns, digest))
                vectors[digest] = vec[j]
            store.write_batch(files, vectors)


def measure(folder: Path, phase: str) -> dict:
    """One phase's peak in this process (``sort`` also measures ``write``)."""
    import faiss  # noqa: F401  (imports are start-up cost, not a phase's)
    import open_clip  # noqa: F401
    import torch

    torch.set_num_threads(1)
    import proxysort
    from proxysort.sorting import By

    rss = _PeakRSS()
    photos, cache = folder / "photos", folder / "cache"
    out: dict = {"base_mb": rss.reset() / 2**20}

    def timed(name: str, fn):
        rss.reset()
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        out[name] = {"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c,
                     "peak_rss_mb": rss.peak() / 2**20}
        print(f"  {phase}: {name} {out[name]['wall_s']:.1f} s, peak {out[name]['peak_rss_mb']:.0f} MB",
              file=sys.stderr, flush=True)
        return value

    if phase == "index":
        indexed = timed("index", lambda: proxysort.index(photos, model=_spec(), cache_dir=cache, load_vectors=False))
        out["photos"] = len(indexed.paths)
        return out
    by = By("color", words=list(WORDS), k=K)
    result = timed("sort", lambda: proxysort.sort(photos, by, model=_spec(), cache_dir=cache, proxy_cache=False))
    out["photos"] = len(result.paths)
    tree = Path(tempfile.mkdtemp(prefix="proxysort-sortmem-"))
    try:
        timed("write", lambda: proxysort.write_folders(result, tree / "out"))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return out


def _run(args: list[str], src: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(src)])}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sort_memory", *args], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measure(folder: str, n: int, code: str, src: Path) -> dict:
    """One code's row at N: ``index`` alone, then ``sort`` and ``write``, each phase run in a fresh process."""
    row = {"code": code, "n": n}
    row.update(_run(["--measure", folder, "index"], src))
    sorted_ = _run(["--measure", folder, "sort"], src)
    assert sorted_["photos"] == row["photos"] == n, (sorted_["photos"], row["photos"], n)
    row.update({p: sorted_[p] for p in ("sort", "write")}, sort_base_mb=sorted_["base_mb"])
    return row


def report(results: list[dict], meta: dict) -> str:
    """The markdown report of one run: each phase's peak per code and N, and each phase's growth per photo."""
    lines: list[str] = []
    out = lines.append
    out("| code | N | base MB | index MB | sort MB | write MB | index s | sort s | write s |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        out(f"| {r['code']} | {r['n']} | {r['base_mb']:.0f} | " + " | ".join(f"{r[p]['peak_rss_mb']:.0f}" for p in PHASES)
            + " | " + " | ".join(f"{r[p]['wall_s']:.1f}" for p in PHASES) + " |")
    out("")
    for code in dict.fromkeys(r["code"] for r in results):
        rs = sorted((r for r in results if r["code"] == code), key=lambda r: r["n"])
        if len(rs) < 2:
            continue
        a, b = rs[-2], rs[-1]
        for p in PHASES:
            grow = (b[p]["peak_rss_mb"] - a[p]["peak_rss_mb"]) * 2**20 / (b["n"] - a["n"])
            far = (b[p]["peak_rss_mb"] * 2**20 + grow * (FAR - b["n"])) / 2**30
            out(f"{code} {p}: peak RSS grows {grow:.0f} B per photo between N={a['n']} and N={b['n']}; "
                f"at that rate {FAR:,} photos peak at {far:.1f} GB")
    return "\n".join(lines) + "\n"


def write_both(stem: Path, results: list[dict], meta: dict, text: str) -> None:
    """``STEM.json`` (measurements and settings) and ``STEM.md`` (the report of exactly those) from one run."""
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        "# Peak memory of the real cluster path per N\n\n"
        f"Written by `{meta['command']}` together with `{stem.with_suffix('.json').name}`, which holds the raw\n"
        "measurements of this same run (`python -m benchmarks.sort_memory --render` remakes the report from it).\n\n"
        + text
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,500000", help="N, comma-separated")
    p.add_argument("--before", type=Path, help="also measure the proxysort package under this src folder")
    p.add_argument("--out", type=Path, metavar="STEM", help="write STEM.json and STEM.md from this one run")
    p.add_argument("--render", type=Path, metavar="JSON", help="print the report of a saved run; run nothing")
    p.add_argument("--make", nargs=2, metavar=("FOLDER", "N"), help=argparse.SUPPRESS)
    p.add_argument("--measure", nargs=2, metavar=("FOLDER", "PHASE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.render:
        data = json.loads(args.render.read_text())
        print(report(data["results"], data["meta"]), end="")
        return
    if args.make:
        make(Path(args.make[0]), int(args.make[1]))
        print("{}")
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1])))
        return
    codes = [("after", ROOT / "src")] + ([("before", args.before.resolve())] if args.before else [])
    results = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        with tempfile.TemporaryDirectory(prefix="proxysort-sortmem-") as tmp:
            print(f"N={n}: making the folder and its store", file=sys.stderr, flush=True)
            _run(["--make", tmp, str(n)], ROOT / "src")
            # Both codes at once, each in its own processes (each peak is its own process's): on a shared
            # machine the two see the same load.
            with ThreadPoolExecutor(max_workers=len(codes)) as pool:
                rows = [f.result() for f in [pool.submit(_measure, tmp, n, code, src) for code, src in codes]]
            for row in rows:
                results.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    meta = {"command": "python -m benchmarks.sort_memory " + " ".join(sys.argv[1:]), "model": "ViT-B-32 (random weights)",
            "words": len(WORDS), "k": K}
    text = report(results, meta)
    print(text, end="")
    if args.out:
        write_both(args.out, results, meta, text)


if __name__ == "__main__":
    main()
