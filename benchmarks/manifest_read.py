"""Reading an OUT folder's manifest (what a re-run, ``clean`` and ``status`` do first): peak memory and time
of the whole-text read before issue 25's streaming reader against the reader now, on the same files.

    nice -n 10 .venv/bin/python -m benchmarks.manifest_read --sizes 1000000,2000000 \\
        --out benchmarks/results/manifest-read

For each N a manifest of N photos is written by the real writer (``Manifest.json_parts``, one concept: a
symlink per photo in one of 12 groups, 500 photos to an album folder, and the tree's memory with a member per
photo and 12 groups of 512-d centres: 2N entries) in a temporary folder under /tmp, deleted afterwards. Each
(way, N) reads it in a fresh process, twice, interleaved; the process reports its peak RSS above what it held
before the read, its CPU and wall time, and checks what it read (N files, N members, the first and last
entry; peak = ``VmHWM``). "before" is ``manifest.py`` at the commit before the streaming reader (``BEFORE``), loaded from git
with its 256 MB refusal lifted so that it can be measured at all; "after" is the working tree's.
``--render`` remakes the report from a saved JSON.

``--rerun-sizes`` also times what a re-run does with the manifest it read: ``plan_tree`` of the same concept
into a real tree of M photos (empty files, symlinks, made once by the working tree's code), in a fresh
process per way, "before" being the whole source tree at ``BEFORE`` (``git archive``), which looked up each
old entry on disk in a list of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "2fa9fd9"  # main just before the streaming reader: json.loads of the whole text, an Entry per file
GROUPS = 12
ALBUM = 500


def _photo(i: int) -> tuple[str, str]:
    """Photo ``i``'s source path and name."""
    name = f"IMG_{i:07d}.jpg"
    return f"/home/user/Pictures/{2000 + i // 200_000}/album{i // ALBUM:05d}/{name}", name


class _Files:
    """The files of the generated tree in path order, made one at a time (the writer asks for
    ``in_path_order``): no list of N entries in the generating process either."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def in_path_order(self) -> Iterator[object]:
        from proxysort.manifest import Entry

        for g in range(GROUPS):  # group g holds photos g, g + 12, ...; names sort as their numbers
            for i in range(g, self.n, GROUPS):
                source, name = _photo(i)
                yield Entry(f"color/g{g:02d}/{name}", source, "symlink", target=f"../../..{source}")


def generate(path: Path, n: int, *, complete: bool = True) -> int:
    """Write the manifest of ``n`` photos to ``path``; its size in bytes. ``complete=False`` marks it as a
    crash leaves it (its links may not have been made: none of these is on disk)."""
    from proxysort.manifest import ConceptTree, GroupRecord, Manifest, Memory

    groups = tuple(GroupRecord(f"g{g:02d}", tuple(0.044 * ((g + d) % 7 - 3) for d in range(512)), 0.3)
                   for g in range(GROUPS))
    members = tuple((_photo(i)[0], i % GROUPS, f"{i:016x}") for i in range(n))
    tree = ConceptTree("color", "color", "symlink", None, Memory(groups=groups, members=members))
    manifest = Manifest(files=_Files(n), dirs=["color", *(f"color/g{g:02d}" for g in range(GROUPS))],  # type: ignore[arg-type]
                        link="symlink", concepts=[tree], complete=complete)
    with open(path, "w", encoding="utf-8") as fh:
        for part in manifest.json_parts():
            fh.write(part)
    return path.stat().st_size


def _before_module():
    """``manifest.py`` as it was at BEFORE, as a module of its own (its 256 MB refusal lifted)."""
    source = subprocess.run(["git", "show", f"{BEFORE}:src/proxysort/manifest.py"], cwd=ROOT, check=True,
                            stdout=subprocess.PIPE, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location("manifest_before", fh.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["manifest_before"] = module
    spec.loader.exec_module(module)
    os.unlink(fh.name)
    module._MAX_BYTES = 1 << 40
    return module


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """This process's peak RSS (``VmHWM``, bytes): not ``ru_maxrss``, which Linux carries over from the parent
    forked before ``exec`` (the parent that generated the manifest holds hundreds of MB)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def child(way: str, folder: Path, n: int) -> dict:
    """Read the manifest in ``folder`` the ``way`` given; what it cost, checked against what was written."""
    from proxysort.outdir import OutDir

    module = _before_module() if way == "before" else __import__("proxysort.manifest", fromlist=["x"])
    with OutDir.open(folder) as od:
        before = _rss_now()
        cpu, wall = time.process_time(), time.perf_counter()
        manifest = module.read_manifest_at(od)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = _peak_rss()
    held = _rss_now()
    members = manifest.concepts[0].memory.members
    first, last = manifest.files[0], manifest.files[len(manifest.files) - 1]
    assert len(manifest.files) == n and len(members) == n, (len(manifest.files), len(members))
    assert first.path == f"color/g00/{_photo(0)[1]}" and first.source == _photo(0)[0]
    g = GROUPS - 1
    assert last.path == f"color/g{g:02d}/{_photo(max(range(g, n, GROUPS)))[1]}"
    assert tuple(members[n - 1]) == (_photo(n - 1)[0], (n - 1) % GROUPS, f"{n - 1:016x}")
    return {"way": way, "n": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "peak_above_mb": round((peak - before) / 2**20, 1), "held_after_mb": round((held - before) / 2**20, 1)}


def rerun_child(base: Path, m: int) -> dict:
    """Plan a re-run of the tree in ``base/out`` (``m`` photos in ``base/photos``) with the proxysort on
    ``sys.path``: its CPU and peak RSS above what was held before."""
    from proxysort.output import plan_tree

    files = sorted(str(p) for p in (base / "photos").rglob("*.jpg"))
    groups = {"color": [(f, f"g{i % GROUPS:02d}") for i, f in enumerate(files)]}
    before = _rss_now()
    cpu, wall = time.process_time(), time.perf_counter()
    plan = plan_tree(base / "out", groups, photo_roots=[base / "photos"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = _peak_rss()
    assert len(files) == m and len(plan.keep) == m and not plan.remove, (len(files), len(plan.keep))
    return {"m": m, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "peak_above_mb": round((peak - before) / 2**20, 1)}


def rerun(sizes: list[int], env: dict[str, str]) -> list[dict]:
    """Each way's re-run plan of a real tree of each size, interleaved."""
    from proxysort.output import plan_tree, write_tree

    rows = []
    with tempfile.TemporaryDirectory(prefix="proxysort-rerun-", dir="/tmp") as tmp:
        old_src = Path(tmp) / "before"
        old_src.mkdir()
        archive = subprocess.run(["git", "archive", BEFORE, "src"], cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive, check=True)
        for m in sizes:
            base = Path(tmp) / f"m{m}"
            files = []
            for i in range(m):
                photo = base / "photos" / f"a{i // ALBUM:04d}" / f"IMG_{i:07d}.jpg"
                photo.parent.mkdir(parents=True, exist_ok=True)
                photo.write_bytes(b"")
                files.append(str(photo))
            write_tree(plan_tree(base / "out", {"color": [(f, f"g{i % GROUPS:02d}") for i, f in enumerate(sorted(files))]},
                                 photo_roots=[base / "photos"]))
            for way, src in (("before", old_src / "src"), ("after", ROOT / "src")):
                load = _load_average()
                out = subprocess.run([sys.executable, "-m", "benchmarks.manifest_read", "--rerun-child", str(base), str(m)],
                                     env={**env, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}, cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True, check=True)
                rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "way": way, "load_average": load})
    return rows


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run(sizes: list[int], repeats: int, rerun_sizes: list[int]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    rows, files = [], {}
    with tempfile.TemporaryDirectory(prefix="proxysort-manifest-read-", dir="/tmp") as tmp:
        for n in sizes:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            start = time.perf_counter()
            size = generate(folder / ".proxysort.json", n)
            files[str(n)] = {"bytes": size, "write_s": round(time.perf_counter() - start, 1)}
            for _ in range(repeats):
                for way in ("before", "after"):  # interleaved: both see the same load
                    load = _load_average()
                    out = subprocess.run([sys.executable, "-m", "benchmarks.manifest_read", "--child", way, str(folder),
                                          str(n)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
                    rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "load_average": load})
            (folder / ".proxysort.json").unlink()
    reruns = rerun(rerun_sizes, env) if rerun_sizes else []
    return {"meta": {"command": " ".join(["python -m benchmarks.manifest_read", *sys.argv[1:]]),
                     "before": BEFORE, "machine": platform.machine(), "cpus": os.cpu_count(),
                     "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
            "files": files, "rows": rows, "reruns": reruns}


def markdown(data: dict) -> str:
    """The report of one run's JSON (``--render`` remakes it)."""
    rows, meta = data["rows"], data["meta"]
    lines = [
        "# Reading the manifest of a large OUT tree (issue 25, item 5)", "",
        f"Written by `{meta['command']}` together with the JSON beside it "
        f"({meta['when']}, {meta['cpus']} CPUs shared, Python {meta['python']}). Before: `manifest.py` at "
        f"{meta['before']} (whole text, `json.loads`, an `Entry` per file; its 256 MB refusal lifted to measure it). "
        "After: the streaming reader into columns. Each row is one fresh process; peak RSS (`VmHWM`) is above what the "
        "process held before the read.", "",
    ]
    if rows:
        lines += [
            "| N photos (2N entries) | manifest MB | way | peak RSS above, MB | held after, MB | CPU s | wall s | load |",
            "|---:|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            mb = data["files"][str(r["n"])]["bytes"] / 2**20
            lines.append(f"| {r['n']} | {mb:.0f} | {r['way']} | {r['peak_above_mb']} | {r['held_after_mb']} | "
                         f"{r['cpu_s']} | {r['wall_s']} | {r['load_average']} |")
        lines += ["", "Ratios (before / after; the smaller of each way's runs):", ""]

        def best(n: int, way: str, key: str) -> float:
            return min(r[key] for r in rows if r["n"] == n and r["way"] == way)

        sizes = sorted({r["n"] for r in rows})
        for n in sizes:
            peak_b, peak_a = best(n, "before", "peak_above_mb"), best(n, "after", "peak_above_mb")
            cpu_b, cpu_a = best(n, "before", "cpu_s"), best(n, "after", "cpu_s")
            lines.append(f"- N = {n}: peak RSS {peak_b:.0f} → {peak_a:.0f} MB (**{peak_b / peak_a:.1f}×** less; "
                         f"{peak_b * 2**20 / n:.0f} → {peak_a * 2**20 / n:.0f} bytes a photo), CPU {cpu_b} → {cpu_a} s "
                         f"({cpu_b / cpu_a:.2f}×), wall {best(n, 'before', 'wall_s')} → {best(n, 'after', 'wall_s')} s")
        if len(sizes) >= 2:
            lo, hi = sizes[0], sizes[-1]
            slope = (best(hi, "after", "peak_above_mb") - best(lo, "after", "peak_above_mb")) / (hi - lo)
            at_10m = best(hi, "after", "peak_above_mb") + slope * (10_000_000 - hi)
            lines += ["", f"After, from {lo} to {hi} photos the read's peak grows {slope * 2**20:.0f} bytes a photo: "
                      f"**{at_10m / 1024:.2f} GB extrapolated at 10M photos** (20M entries)."]
    reruns = data.get("reruns", [])
    if reruns:
        lines += ["", "A re-run's plan of the same concept into a real tree of M photos (symlinks; `plan_tree`, which "
                  "reads the manifest and looks each old entry up on disk):", "",
                  "| M photos | way | CPU s | wall s | peak RSS above, MB | load |", "|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r['m']} | {r['way']} | {r['cpu_s']} | {r['wall_s']} | {r['peak_above_mb']} | {r['load_average']} |"
                  for r in reruns]
        lines.append("")
        for m in sorted({r["m"] for r in reruns}):
            cpu = {r["way"]: r["cpu_s"] for r in reruns if r["m"] == m}
            lines.append(f"- M = {m}: CPU {cpu['before']} → {cpu['after']} s (**{cpu['before'] / cpu['after']:.1f}×**)")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000000,2000000")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    p.add_argument("--render", type=Path, help="print the report of a saved JSON")
    p.add_argument("--rerun-sizes", default="", help="also time a re-run's plan of real trees of these sizes")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--rerun-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rerun_child:  # the proxysort of PYTHONPATH: the working tree's or the one at BEFORE
        print(json.dumps(rerun_child(Path(args.rerun_child[0]), int(args.rerun_child[1]))))
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), int(args.child[2]))))
        return 0
    if args.render:
        print(markdown(json.loads(args.render.read_text())), end="")
        return 0
    data = run([int(x) for x in args.sizes.split(",") if x], args.repeats,
               [int(x) for x in args.rerun_sizes.split(",") if x])
    text = markdown(data)
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
