"""Attacks on the output tree while proxysort writes it, shared by the tests and the reliability report.

- :func:`swap_race`: a thread swaps the tree's folders for symlinks into the photo folder (and back) as
  fast as it can while the writer re-sorts the photos again and again (creating and removing entries).
  The photo folder must stay byte-identical.
- :func:`concurrent_writers`: several processes write the same output folder at the same instant (same or
  different concepts); afterwards the folder must equal its manifest, with every run's tree present.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.outcheck import problems
from tests.support.treesnap import diff, snapshot


def _src() -> str:
    """The ``src`` folder of the proxysort under test (writer processes import the same code)."""
    import proxysort

    return str(Path(proxysort.__file__).resolve().parent.parent)


def make_library(root: Path, n: int) -> list[str]:
    files = []
    for i in range(n):
        p = root / f"d{i % 3}" / f"IMG_{i:03d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"photo {i} ".encode() * (30 + i))
        files.append(str(p))
    return files


@dataclass
class RaceResult:
    iterations: int
    swaps: int
    refused: int  # runs that stopped with an OutputError (allowed)
    photo_changes: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # entries created beside OUT and the photos

    @property
    def ok(self) -> bool:
        return not self.photo_changes and not self.outside


def _attacker(out: Path, concept: str, target: Path, stop: threading.Event, counter: list[int]) -> None:
    """Swap folders of the tree for links into ``target`` and back, until told to stop."""
    rng = random.Random(7)
    while not stop.is_set():
        cdir = out / concept
        candidates = [cdir]
        try:
            candidates += [cdir / n for n in os.listdir(cdir)]
        except OSError:
            pass
        d = rng.choice(candidates)
        aside = d.with_name(f"{d.name}.aside")
        try:
            if d.is_symlink() or not d.is_dir():
                continue
            os.rename(d, aside)
        except OSError:
            continue
        try:
            os.symlink(target, d, target_is_directory=True)
            counter[0] += 1
            time.sleep(rng.choice([0, 0, 0.0005, 0.002]))
            os.unlink(d)
        except OSError:
            pass
        finally:
            try:
                os.rename(aside, d)
            except OSError:
                pass


def swap_race(work: Path, link: str, iterations: int = 40, n_photos: int = 30, seed: int = 0) -> RaceResult:
    """Re-sort ``n_photos`` ``iterations`` times while a thread swaps the tree's folders for symlinks."""
    from proxysort.errors import OutputError
    from proxysort.output import plan_tree, write_tree

    photos = work / "photos"
    files = make_library(photos, n_photos)
    out = work / "out"
    before = snapshot(photos)
    rng = random.Random(seed)
    stop, counter = threading.Event(), [0]
    attacker = threading.Thread(target=_attacker, args=(out, "color", photos / "d0", stop, counter), daemon=True)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    refused = 0
    try:
        attacker.start()
        for _ in range(iterations):
            names = rng.sample(["red", "green", "blue", "d0", "IMG"], 3)
            groups = {"color": [(f, rng.choice(names)) for f in files]}
            try:
                write_tree(plan_tree(out, groups, link=link, photo_roots=[photos]))
            except OutputError:
                refused += 1
    finally:
        stop.set()
        attacker.join(10)
        sys.setswitchinterval(old_interval)
    outside = sorted(set(os.listdir(work)) - {"out", "photos"})
    return RaceResult(iterations, counter[0], refused, diff(before, snapshot(photos)), outside)


_WRITER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from proxysort.output import plan_tree, write_tree
with open(sys.argv[2]) as fh:  # a file: 1200 photos' paths exceed one argument's limit (128 KiB)
    args = json.load(fh)
plan = plan_tree(args["out"], args["groups"], link=args["link"], photo_roots=[args["photos"]])
time.sleep(max(0.0, args["start_at"] - time.time()))
write_tree(plan)
"""


@dataclass
class ConcurrentResult:
    codes: list[int]
    problems: list[str]
    trees: list[str]
    errors: list[str]

    @property
    def ok(self) -> bool:
        return all(c == 0 for c in self.codes) and not self.problems


def concurrent_writers(work: Path, concepts: list[str], link: str = "symlink", n_photos: int = 150, seed: int = 0) -> ConcurrentResult:
    """One process per entry of ``concepts`` (repeats allowed), all writing ``work/out`` at the same instant."""
    photos = work / "photos"
    files = make_library(photos, n_photos) if not photos.exists() else sorted(str(p) for p in photos.rglob("*.jpg"))
    out = work / "out"
    rng = random.Random(seed)
    start_at = time.time() + 1.5
    procs = []
    for k, concept in enumerate(concepts):
        names = [f"{concept}-{i}" for i in range(4)]
        groups = {concept: [(f, rng.choice(names)) for f in files]}
        args = work / f"writer{k}.json"
        args.write_text(json.dumps({"out": str(out), "photos": str(photos), "groups": groups, "link": link,
                                    "start_at": start_at}))
        procs.append(subprocess.Popen([sys.executable, "-c", _WRITER, _src(), str(args)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    codes, errors = [], []
    for p in procs:
        _, err = p.communicate(120)
        codes.append(p.returncode)
        if p.returncode:
            errors.append(err[-500:])
    trees = sorted(n for n in os.listdir(out) if (out / n).is_dir() and not n.startswith(".")) if out.exists() else []
    return ConcurrentResult(codes, problems(out), trees, errors)


def concurrent_cluster_runs(work: Path, bys: list[str], forker, n_photos: int = 16, seed: int = 0) -> ConcurrentResult:
    """Real ``proxysort cluster`` runs (forked from a preloaded server), one per ``bys`` entry, into one OUT."""
    import tests.support.crashloop as cl

    photos = work / "photos"
    if not photos.exists():
        cl.make_folder(photos, n_photos, seed=seed)
    out, cache = work / "out", work / "cache"
    words = {"color": "red,green,blue", "species": "cat,dog,bird", "mood": "happy,sad"}
    procs = []
    for i, by in enumerate(bys):
        argv = ["cluster", str(photos), "--by", by, "--words", words.get(by, "a,b"), "--k", "2", "--out", str(out),
                "--format", "tsv", "--epochs", "1", "--seed", str(seed + i), *cl.MODEL_ARGS]
        procs.append(forker.start_argv(argv, cache, work / f"run{i}.log"))
    codes, errors = [], []
    for i, p in enumerate(procs):
        p.join(300)
        codes.append(p.exitcode)
        if p.exitcode:
            errors.append((work / f"run{i}.log").read_text()[-600:])
    trees = sorted(n for n in os.listdir(out) if (out / n).is_dir() and not n.startswith(".")) if out.exists() else []
    return ConcurrentResult(codes, problems(out), trees, errors)

