"""How the sorting stage grows with the library: seconds and peak memory per stage, per path and N.

    HF_HUB_OFFLINE=1 python -m benchmarks.scale                      # default at N = 1k, 10k, 100k; old paths at 1k
    HF_HUB_OFFLINE=1 python -m benchmarks.scale --sizes 1000,10000 --old-sizes 1000 --threads 2

Every (path, N) runs in a fresh process, so each peak RSS is its own. The photos are N synthetic unit
vectors in a real vector store (float16 rows, as ``index`` leaves them) and N empty files; the text tower is
the real ViT-B-32 architecture with random weights (``pretrained=None``): the cost of the text path does
not depend on the weights' values. Paths (``learn`` is the only stage where they differ):

* ``default`` – today's default (issue 21): no learning, every photo gets the zero-shot view over the
  candidate words beside its image vector's principal directions (``imagemix``), scored a block of photos
  at a time straight from the store;
* ``dproxy-all`` – an earlier default: DProxy learning every photo's proxy with Adam through the text
  encoder every epoch (``mode="dproxy"``, ``engine="adam"``, ``sample`` 0);
* ``subspace-adam`` – the default this benchmark was first written against: the subspace proxy, 20 Adam
  epochs through the text encoder for every photo.

Stages, as ``proxysort cluster`` runs them after ``index``:

* ``read``   – which of N paths have a vector in the SQLite store and their content ids, as
  ``index(load_vectors=False)`` hands them to the sort (``VectorStore.hashes_for`` into path and id
  columns): the vectors stay in the store (:class:`proxysort.rows.StoredRows`) and each pass below that
  needs them reads them a block at a time; an old path reads them all when it learns. The model is not
  loaded yet (the index of an indexed folder never loads it);
* ``learn``  – the model loaded (not timed), then proxies for one concept (8 candidate words, k = 4 so
  DProxy prunes) through the sort's entry point (:func:`proxysort.proxycache.learn_cached`): the default
  embeds the words, lets the model go, then scores the photos;
* ``kmeans`` – the path's default feature made (zeroshot's ``imagemix``: two passes over the stored
  vectors) and k = 4 on it (FAISS); ``names`` – the groups named as
  :func:`proxysort.sort` names them (:func:`proxysort.groups.name_groups`) and each photo's score;
* ``plan``   – the output tree planned (``--dry-run``), then dropped; ``write`` – the symlink tree planned
  under the folder's lock and written, as ``proxysort cluster`` writes it (:func:`proxysort.output.make_tree`).

Reported per stage: wall seconds, CPU seconds of the process (on a shared machine CPU time is the stable
figure: wall time there mostly measures the other tenants), and the process's peak RSS during the stage
(exact on Linux: the kernel's high-water mark, reset at each stage's start; :class:`_PeakRSS`).
The growth exponent is the least-squares slope of log(seconds) against log(N). Model loading is not a stage
(random weights load differently from real ones) and is reported apart. What the stages hold follows
:func:`proxysort.sort`: the model is loaded after ``read`` and let go once the words are embedded (the
default, inside ``learn``) or after ``learn`` (the old paths), and the clustered feature matrix is let go after ``names`` (``sort`` returns labels and scores;
the tree is written after it returns). ``rss_released_mb`` is the resident set once the model is let go and
the freed heap given back (:func:`proxysort.encoders.return_freed_memory`).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("read", "learn", "kmeans", "names", "plan", "write")
WORDS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")
K = 4


def _default():
    from proxysort.proxy import ProxyConfig

    return ProxyConfig()


def _dproxy_all():
    from proxysort.proxy import ProxyConfig

    return ProxyConfig(mode="dproxy", engine="adam", options={"sample": 0})


def _subspace_adam():
    from proxysort.proxy import ProxyConfig

    return ProxyConfig(mode="subspace", engine="adam")


PATHS = {"default": _default, "dproxy-all": _dproxy_all, "subspace-adam": _subspace_adam}


class _PeakRSS:
    """The process's peak resident set since ``reset()``, exact where Linux lets a process reset its own high-water
    mark (writing 5 to ``/proc/self/clear_refs`` resets ``VmHWM``): a sampling thread needs the GIL, so it misses
    the peaks of long calls that hold it (the earlier runs' peaks of one stage moved by ±150 MB between runs of
    the same code at 1M photos). Where that file cannot be written, the resident set sampled every few ms."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._peak = 0
        self._stop = False
        self.exact = self._clear()
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _clear() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _hwm() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _now(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop:
            self._peak = max(self._peak, self._now())
            time.sleep(0.005)

    def reset(self) -> int:
        self._peak = now = self._now()
        if self.exact:
            self._clear()
        return now

    def peak(self) -> int:
        self._peak = max(self._peak, self._now(), self._hwm() if self.exact else 0)
        return self._peak


def _child(engine: str, n: int, threads: int, batch: int | None, device: str = "cpu") -> dict:
    """One (engine, N) measurement in this process; returns {stage: {...}} as a dict."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import faiss  # noqa: F401  (imports are start-up cost, not a stage's)
    import scipy.optimize  # noqa: F401

    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.groups import centroid_scores, kmeans, name_groups, spherical_for
    from proxysort.indexer import LazyModel
    from proxysort.output import Grouped, make_tree, plan_tree
    from proxysort.pathcolumn import columns
    from proxysort.proxy import Concept
    from proxysort.proxycache import learn_cached
    from proxysort.rows import StoredRows
    from proxysort.sorting import at_k
    from proxysort.store import VectorStore

    rss = _PeakRSS()
    out: dict = {"engine": engine, "n": n, "threads": threads, "exact_peak": rss.exact}
    with tempfile.TemporaryDirectory(prefix="proxysort-scale-") as tmp:
        tmp_path = Path(tmp)
        photos = tmp_path / "photos"
        rng = np.random.default_rng(0)
        store_file = tmp_path / "index.sqlite"
        with VectorStore(store_file, identity="scale") as store:
            for s in range(0, n, 5000):
                m = min(5000, n - s)
                folder = photos / f"d{s // 5000:04d}"
                folder.mkdir(parents=True)
                vec = rng.standard_normal((m, 512)).astype(np.float32)
                vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                files, vectors = [], {}
                # content ids as the index makes them (32 hex digits: 16 bytes a photo in the sort's id column)
                for j, p in enumerate(_photo_paths(photos, s, m)):
                    Path(p).touch()
                    files.append((p, 0, 0, f"{s + j:032x}"))
                    vectors[f"{s + j:032x}"] = vec[j]
                store.write_batch(files, vectors)
        concept = Concept("color", WORDS, noun="fruit")
        config = PATHS[engine]()
        if batch:
            config.batch_size = batch

        def stage(name: str, fn):
            rss.reset()
            w, c = time.perf_counter(), time.process_time()
            value = fn()
            out[name] = {"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c,
                         "peak_rss_mb": rss.peak() / 2**20}
            print(f"  {engine} n={n} {name}: {out[name]['wall_s']:.2f} s wall, {out[name]['cpu_s']:.2f} s cpu, "
                  f"peak {out[name]['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
            return value

        def read():
            # As index(load_vectors=False) reads them: the paths that have a vector and their content ids,
            # streamed from the store into two columns (proxysort.pathcolumn), no row kept per photo. The paths
            # come as the index's scan yields them, one at a time: no list of N strings is held here.
            with VectorStore(store_file) as store:
                found, _ = columns(store.hashes_for(_photo_paths(photos, 0, n)))
                dim = store.dim()
            assert len(found) == n and dim is not None
            return StoredRows(store_file, found.text, dim)

        X = stage("read", read)
        # The model is loaded where proxysort.sort loads it: after the index found every photo's vector, to
        # embed the words (the index of an indexed folder never loads it).
        t0 = time.perf_counter()
        spec = ModelSpec("ViT-B-32", "none", device)
        lazy = LazyModel(spec, load_clip(spec), None)  # as proxysort.sort hands it to the learning: its one holder
        out["model_load_s"] = time.perf_counter() - t0
        out["rss_before_mb"] = rss.reset() / 2**20
        # Through the sort's entry point (without a store, so the words' features are not kept: a few KB), which
        # lets the model go once the words are embedded, before the photos are scored.
        (res,) = stage("learn", functools.partial(learn_cached, X, [concept], lazy, config, None, None, k=K))
        out["epochs_run"] = res.epochs_run
        lazy.release()  # as proxysort.sort lets go a model the learning still held (the old paths learn with it)
        out["rss_released_mb"] = rss.reset() / 2**20
        spherical = spherical_for(res.default_feature)

        def cluster():
            # The method's own default feature as the sort's k-means sees it at K (imagemix reads the vectors
            # twice, and its image columns are weighed by the words' own k-means at K), then k-means.
            _, made = at_k(res, res.default_feature, np.ones(len(X), dtype=bool), K, 0)
            return made, kmeans(made, K, seed=0, spherical=spherical)

        feat, km = stage("kmeans", cluster)

        def names(feat):
            naming = name_groups(concept.name, X, km.labels, K, res.prompts(), res.word_features,
                                 list(res.concept.words))
            centroid_scores(feat, km.labels, km.centroids)
            return naming.names

        label_names = stage("names", functools.partial(names, feat))
        del feat  # proxysort.sort returns labels and scores, not the clustered matrix: the tree is written without it

        def groups():
            # As proxysort.sorting.write_folders hands them over: the index's column read as str (its view, no
            # str held per photo: the plan keeps the column's rows), pairs made when read.
            return {"color": Grouped(X.paths, km.labels, label_names)}

        stage("plan", lambda: plan_tree(tmp_path / "out", groups(), link="symlink", photo_roots=[photos]).out)
        stage("write", lambda: make_tree(tmp_path / "out", groups(), link="symlink", photo_roots=[photos]).created)
        out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _photo_paths(photos: Path, start: int, count: int) -> Iterator[str]:
    """The paths of photos ``start`` .. ``start + count`` of the benchmark's folder, made one at a time (5,000 to
    a sub-folder), so that the benchmark itself holds no list of N strings the sort would not hold."""
    for i in range(start, start + count):
        yield f"{photos}/d{i // 5000:04d}/img_{i:07d}.jpg"


def _slope(ns: list[int], values: list[float]) -> float | None:
    pts = [(math.log(n), math.log(v)) for n, v in zip(ns, values) if v > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="N for the default path")
    p.add_argument("--old-sizes", default="1000", help="N for the old paths (they learn every photo)")
    p.add_argument("--old", default="dproxy-all,subspace-adam", help="old paths to run at --old-sizes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=None, help="proxy batch size (default: ProxyConfig's)")
    p.add_argument("--device", default="cpu", help="where the text tower learns: cpu (default) or cuda")
    p.add_argument("--json", type=Path, help="also write the raw measurements here (a bare list)")
    p.add_argument("--out", type=Path, metavar="STEM",
                   help="write STEM.json (measurements + settings) and STEM.md (the report) from this one run")
    p.add_argument("--render", type=Path, metavar="JSON", help="print the report of a saved run; run nothing")
    p.add_argument("--child", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.render:
        print(report(*load(args.render)), end="")
        return
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.threads, args.batch, args.device)))
        return

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads),
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    olds = [o for o in args.old.split(",") if o]
    runs = [(o, int(n)) for o in olds for n in args.old_sizes.split(",") if n]
    runs += [("default", int(n)) for n in args.sizes.split(",") if n]
    results = []
    for engine, n in runs:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--child", engine, str(n), "--threads", str(args.threads),
               "--device", args.device]
        if args.batch:
            cmd += ["--batch", str(args.batch)]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    meta = {"device": args.device, "threads": args.threads, "omp_wait_policy": env["OMP_WAIT_POLICY"], "old": olds,
            "command": "python -m benchmarks.scale " + " ".join(sys.argv[1:])}
    text = report(results, meta)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.out:
        write_both(args.out, results, meta, text)


def write_both(stem: Path, results: list[dict], meta: dict, text: str) -> None:
    """``STEM.json`` (the raw measurements and the run's settings) and ``STEM.md`` (the report made from
    exactly those measurements) from one run: written together so that they cannot drift apart, as
    results/scale.json and scale.md once did (issue 22)."""
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        "# Sorting stage per N\n\n"
        f"Written by `{meta['command']}` together with `{stem.with_suffix('.json').name}`, which holds the raw\n"
        "measurements of this same run (`python -m benchmarks.scale --render` remakes the report from it).\n\n"
        + text
    )


def load(path: Path) -> tuple[list[dict], dict]:
    """The measurements and settings of a saved run: ``{"meta", "results"}`` as :func:`write_both` writes
    it, or the bare list that ``--json`` writes (settings then as this benchmark's defaults were)."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, list):
        engines = [r["engine"] for r in data]
        olds = [e for e in dict.fromkeys(engines) if e != "default"]
        threads = data[0]["threads"] if data else 2
        return data, {"device": None, "threads": threads, "omp_wait_policy": "PASSIVE", "old": olds}
    return data["results"], data["meta"]


def report(results: list[dict], meta: dict) -> str:
    """The markdown report of one run: the per-stage table, growth exponents and the old paths' ratios."""
    lines: list[str] = []
    out = lines.append
    olds = list(meta["old"])
    device = f"device {meta['device']}, " if meta.get("device") else ""
    out(f"{device}threads {meta['threads']}, OMP_WAIT_POLICY={meta['omp_wait_policy']}, ViT-B-32 text tower (random "
        f"weights), one concept with {len(WORDS)} words, k = {K}\n")
    out("| path | N | " + " | ".join(f"{s} s (cpu s)" for s in STAGES) + " | total s (cpu s) | peak RSS MB | RSS per photo KB |")
    out("|---|---:|" + "---:|" * (len(STAGES) + 3))
    for r in results:
        cells = [f"{r[s]['wall_s']:.2f} ({r[s]['cpu_s']:.2f})" for s in STAGES]
        wall = sum(r[s]["wall_s"] for s in STAGES)
        cpu = sum(r[s]["cpu_s"] for s in STAGES)
        peak = max(r[s]["peak_rss_mb"] for s in STAGES)
        per_photo = (peak - r["rss_before_mb"]) * 1024 / r["n"]
        out(f"| {r['engine']} | {r['n']} | " + " | ".join(cells) + f" | {wall:.1f} ({cpu:.1f}) | {peak:.0f} | {per_photo:.1f} |")
    out("")
    for engine in ("default", *olds):
        # By N: the growth per photo is measured between the two largest N (at smaller N the heaps that stay
        # from the fixed costs, such as the model's, hide it), whatever order the sizes were given in.
        rs = sorted((r for r in results if r["engine"] == engine), key=lambda r: r["n"])
        if len(rs) < 2:
            continue
        ns = [r["n"] for r in rs]
        for what in ("learn", "total"):
            for clock in ("wall_s", "cpu_s"):
                vals = [sum(r[s][clock] for s in STAGES) if what == "total" else r[what][clock] for r in rs]
                e = _slope(ns, vals)
                out(f"growth exponent, {engine} {what} ({clock[:-2]}): {e:.2f}" if e is not None else "")
        peaks = [max(r[s]["peak_rss_mb"] for s in STAGES) for r in rs]
        e = _slope(ns, [p - r["rss_before_mb"] for p, r in zip(peaks, rs)])
        if e is not None:
            out(f"growth exponent, {engine} peak RSS above the loaded model: {e:.2f}")
        marginal = (peaks[-1] - peaks[-2]) * 1024 / (ns[-1] - ns[-2])
        # Extrapolated to 1M photos; once 1M was measured, to the archive of issue 25 (10M, target 4 GB).
        far = 10_000_000 if ns[-1] >= 1_000_000 else 1_000_000
        out(f"{engine}: peak RSS grows {marginal:.1f} KB per photo between N={ns[-2]} and N={ns[-1]}; at that rate "
            f"{far:,} photos peak at {(peaks[-1] + marginal * (far - ns[-1]) / 1024) / 1024:.1f} GB")
        # Each stage extrapolated from its own peaks: the overall peaks may come from different stages (the
        # model's fixed cost at small N, the tree at large N), and the stage that grows fastest is the one that lasts.
        grows = {st: (rs[-1][st]["peak_rss_mb"] - rs[-2][st]["peak_rss_mb"]) * 1024 / (ns[-1] - ns[-2]) for st in STAGES}
        reach = {st: rs[-1][st]["peak_rss_mb"] + grows[st] * (far - ns[-1]) / 1024 for st in STAGES}
        top = max(STAGES, key=reach.__getitem__)
        own, far_mb = grows[top], reach[top]
        if ns[-1] >= 1_000_000:  # the archive of issue 25 (reports of smaller runs are kept as they were written)
            out(f"{engine}: stage by stage, {top} reaches the most: it grows {own:.1f} KB per photo between the same "
                f"N; at that rate {far:,} photos peak at {far_mb / 1024:.1f} GB")
        if ns[-1] >= 1_000_000:  # where the memory goes at the largest N: each stage's own peak
            released = rs[-1].get("rss_released_mb")  # runs before the model was let go after learning have none
            out(f"{engine} at N={ns[-1]}: model loaded {rs[-1]['rss_before_mb']:.0f} MB"
                + (f", {released:.0f} MB once let go after learn" if released is not None else "") + "; peak per stage "
                + ", ".join(f"{st} {rs[-1][st]['peak_rss_mb']:.0f} MB" for st in STAGES))
    new = {r["n"]: r for r in results if r["engine"] == "default"}
    for old_name in olds:
        old = {r["n"]: r for r in results if r["engine"] == old_name}
        for n in sorted(set(old) & set(new)):
            for clock in ("wall_s", "cpu_s"):
                ratio = old[n]["learn"][clock] / max(new[n]["learn"][clock], 1e-9)
                total = sum(old[n][s][clock] for s in STAGES) / max(sum(new[n][s][clock] for s in STAGES), 1e-9)
                out(f"N={n}, {old_name} / default ({clock[:-2]}): learn {ratio:.1f}x, whole stage {total:.1f}x")
        if old:
            n0 = max(old)
            per_photo = old[n0]["learn"]["cpu_s"] / n0
            for n in sorted(new):
                if n not in old:
                    out(f"{old_name} learn at N={n}, extrapolated linearly from N={n0} (it learns every photo): "
                        f"{per_photo * n:.0f} cpu s vs default {new[n]['learn']['cpu_s']:.0f} cpu s")

    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
