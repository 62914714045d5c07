"""The default sort's per-photo scoring on the driver against on Ray workers: the driver's seconds and memory.

    HF_HUB_OFFLINE=1 python -m benchmarks.ray_scoring                   # 100k synthetic photos, 2 CPUs
    HF_HUB_OFFLINE=1 python -m benchmarks.ray_scoring --photos 100000 --write

N synthetic unit vectors in a real vector store (as ``benchmarks/scale.py`` makes them) and K = 8 random
unit word features with CLIP's logit scale (no model: the scoring needs only the words' features, which a
re-run takes from the store). Measured stage, in a fresh process per side so each peak RSS is its own:
what :func:`proxysort.sort` computes per photo for the default method, i.e. zeroshot's scores of every photo
(``Method.from_words``), its ``imagemix`` feature (two more passes) and naming's cosines
(:func:`proxysort.groups.similarities`). ``local``: the store's rows read on the driver
(:class:`proxysort.rows.StoredRows`); ``ray``: the same rows as :class:`proxysort.distributed.scoring.RayRows`
on a local Ray cluster (loopback, ``--cpus`` CPUs), each block read and scored in a task. Reported per side:
the driver's wall and CPU seconds and peak RSS during the stage (Ray's start and the store's check before
it, apart), and the largest difference of the features between the sides. On one machine the workers share
the driver's cores, so wall time does not show what a cluster gains; the driver's CPU and memory do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
K = 8


def _store(folder: Path, n: int) -> None:
    import numpy as np

    from proxysort.store import VectorStore

    rng = np.random.default_rng(0)
    paths = []
    with VectorStore(folder / "index.sqlite", identity="ray-scoring") as store:
        for s in range(0, n, 5000):
            m = min(5000, n - s)
            vec = rng.standard_normal((m, 512)).astype(np.float32)
            files, vectors = [], {}
            for j in range(m):
                p = str(folder / "photos" / f"img_{s + j:07d}.jpg")
                paths.append(p)
                files.append((p, 0, 0, f"h{s + j}"))
                vectors[f"h{s + j}"] = vec[j]
            store.write_batch(files, vectors)
    words = rng.standard_normal((K, 512)).astype(np.float32)
    np.save(folder / "words.npy", words / np.linalg.norm(words, axis=1, keepdims=True))
    (folder / "paths.json").write_text(json.dumps(paths))


def _child(folder: Path, side: str, cpus: int) -> dict:
    import numpy as np

    from benchmarks.scale import _PeakRSS
    from proxysort.groups import similarities
    from proxysort.learn.core import Concept
    from proxysort.learn.registry import method, run_for
    from proxysort.rows import StoredRows

    rss = _PeakRSS()
    out: dict = {"side": side}
    rows = StoredRows(folder / "index.sqlite", json.loads((folder / "paths.json").read_text()), 512)
    words = np.load(folder / "words.npy")
    concept = Concept("color", tuple(f"w{i}" for i in range(K)))
    if side == "ray":
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        import ray

        from proxysort import distributed

        t = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        rows = distributed.on_workers(rows, "auto")
        out["ray_start_s"] = time.perf_counter() - t
        assert isinstance(rows, distributed.scoring.RayRows)
    _, run = run_for(None, None)
    zeroshot = method("zeroshot")
    assert zeroshot.from_words is not None
    base = rss.reset()
    w, c = time.perf_counter(), time.process_time()
    (res,) = zeroshot.from_words(rows, [concept], [words], 100.0, run)
    mixed = res.feature("imagemix")
    sims = similarities(rows, words)
    out.update(wall_s=time.perf_counter() - w, cpu_s=time.process_time() - c, rss_before_mb=base / 2**20,
               peak_rss_mb=rss.peak() / 2**20)
    np.save(folder / f"{side}-imagemix.npy", mixed)
    np.save(folder / f"{side}-sims.npy", sims)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=100_000)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--write", action="store_true", help="write benchmarks/results/ray-scoring.json and .md")
    p.add_argument("--child", nargs=2, metavar=("FOLDER", "SIDE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(Path(args.child[0]), args.child[1], args.cpus)))
        return
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="ray-scoring-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        _store(folder, args.photos)
        print(f"store of {args.photos} synthetic vectors: {time.perf_counter() - t:.1f} s", flush=True)
        env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
        sides = {}
        for side in ("local", "ray"):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.ray_scoring", "--cpus", str(args.cpus),
                                   "--child", str(folder), side], capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
            sides[side] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(sides[side], flush=True)
        diff = {name: float(np.abs(np.load(folder / f"ray-{name}.npy") - np.load(folder / f"local-{name}.npy")).max())
                for name in ("imagemix", "sims")}
    out = {"photos": args.photos, "cpus": args.cpus, "loadavg_1min_after": round(os.getloadavg()[0], 2),
           "sides": sides, "max_abs_difference": diff}
    lines = [
        f"# Scoring every photo on Ray workers ({args.photos} synthetic photos, {args.cpus} CPUs, one machine)", "",
        "```", "HF_HUB_OFFLINE=1 python -m benchmarks.ray_scoring " + " ".join(sys.argv[1:]), "```", "",
        "| side | driver wall s | driver CPU s | driver peak RSS MB | RSS before MB |", "|---|---|---|---|---|",
        *[f"| {s} | {v['wall_s']:.2f} | {v['cpu_s']:.2f} | {v['peak_rss_mb']:.0f} | {v['rss_before_mb']:.0f} |"
          for s, v in sides.items()], "",
        f"Ray's start and the store check (not in the stage): {sides['ray'].get('ray_start_s', 0):.1f} s. Largest "
        f"difference ray − local: imagemix {diff['imagemix']:.2e}, naming cosines {diff['sims']:.2e}. "
        f"1-minute load average after the run: {out['loadavg_1min_after']}.", "",
    ]
    print("\n".join(lines))
    if args.write:
        (ROOT / "benchmarks" / "results" / "ray-scoring.json").write_text(json.dumps(out, indent=1) + "\n")
        (ROOT / "benchmarks" / "results" / "ray-scoring.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
