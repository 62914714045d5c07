"""Kill ``proxysort index`` with SIGKILL at random moments and check what the next run finds.

Two ways to start a run, both executing the real CLI entry point (``proxysort.cli.main``):

- :func:`start_subprocess`: a fresh ``python -m proxysort index ...``, exactly what a user runs. Each start
  pays the interpreter and torch import (several seconds on a loaded 2-core box).
- :class:`Forker`: a ``forkserver`` that imported torch and proxysort once; each run is a fork of it, so
  a kill costs a second or two. Used by the test suite to afford 20+ kills.

Also the folder generator and mutations used between kills (new, edited, removed, renamed photos), so a
crash can leave work of every kind half done.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.photos import TINY_ARGS, TINY_CONFIG

TINY = str(TINY_CONFIG)
MODEL_ARGS = TINY_ARGS


# ------------------------------------------------------------------------------------------- photos


def write_photo(path: Path, rng: random.Random, size: tuple[int, int] = (160, 120)) -> Path:
    """A small JPEG with random blocks: every call gives different content (and a different vector)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle([x0, y0, x0 + rng.randrange(10, 60), y0 + rng.randrange(10, 40)],
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=85)
    return path


def make_folder(root: Path, n: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    return [write_photo(root / f"d{i % 7}" / f"img{i:04d}.jpg", rng) for i in range(n)]


def mutate(root: Path, rng: random.Random, *, edit_fraction: float = 0.3) -> dict[str, int]:
    """Change the folder the way users do between runs; returns how many of each change were made.

    Edits rewrite content (new vector needed) and bump the mtime, so each following run has real work.
    """
    files = sorted(p for p in root.rglob("*.jpg"))
    rng.shuffle(files)
    counts = {"edited": 0, "removed": 0, "renamed": 0, "added": 0}
    n_edit = int(len(files) * edit_fraction)
    for p in files[:n_edit]:
        write_photo(p, rng)
        counts["edited"] += 1
    for p in files[n_edit : n_edit + 3]:
        p.unlink()
        counts["removed"] += 1
    for p in files[n_edit + 3 : n_edit + 6]:
        p.rename(p.with_name(f"moved-{rng.randrange(10**9)}.jpg"))
        counts["renamed"] += 1
    for _ in range(4):
        write_photo(root / f"d{rng.randrange(7)}" / f"new-{rng.randrange(10**9)}.jpg", rng)
        counts["added"] += 1
    return counts


def photos_on_disk(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*.jpg") if p.is_file()}


# ------------------------------------------------------------------------------------------- running


def index_argv(folder: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return ["index", str(folder), *MODEL_ARGS, *extra]


def child_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PROXYSORT_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    return env


def start_subprocess(folder: Path, cache: Path, log: Path) -> subprocess.Popen:
    """``python -m proxysort index FOLDER`` with stderr to ``log``."""
    fh = open(log, "wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "proxysort", *index_argv(folder)],
            stdout=subprocess.DEVNULL, stderr=fh, env=child_env(cache), cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        fh.close()


def _run_cli_in_child(argv: list[str], cache: str, log: str, commit_seconds: float | None) -> None:
    """Forked child: point fds 1/2 at the log and run the real CLI entry point; exit with its code.

    ``commit_seconds`` shortens the indexer's commit interval so that a one-second run commits many
    batches, and random kills land before, between and inside commits rather than only around the last.
    """
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.environ.update({"PROXYSORT_CACHE_DIR": cache, "HF_HUB_OFFLINE": "1"})
    from proxysort.cli import main
    from proxysort.env import Environment

    if commit_seconds is not None:
        import proxysort.indexer

        proxysort.indexer.COMMIT_SECONDS = commit_seconds
    err = os.fdopen(2, "w", buffering=1)
    code = 0
    try:
        main(argv, env=Environment(stdout=open(os.devnull, "w"), stderr=err, stdin=open(os.devnull)))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    err.flush()
    os._exit(code)


class Forker:
    """Runs the CLI in processes forked from a server that already imported torch and proxysort."""

    def __init__(self, commit_seconds: float | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.commit_seconds = commit_seconds
        self.extra_args = extra_args
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["torch", "open_clip", "PIL.Image", "numpy", "proxysort.cli",
                                         "proxysort.indexer", "tests.support.crashloop"])

    def start_argv(self, argv: list[str], cache: Path, log: Path) -> "mp.process.BaseProcess":
        """Any proxysort command line (e.g. ``cluster``), forked the same way."""
        proc = self.ctx.Process(target=_run_cli_in_child, args=(argv, str(cache), str(log), self.commit_seconds))
        proc.start()
        return proc

    def start(self, folder: Path, cache: Path, log: Path) -> "mp.process.BaseProcess":
        proc = self.ctx.Process(
            target=_run_cli_in_child,
            args=(index_argv(folder, self.extra_args), str(cache), str(log), self.commit_seconds),
        )
        proc.start()
        return proc


@dataclass
class Outcome:
    killed: bool  # False when the run ended by itself before the kill
    code: int | None
    last_stderr: str  # the last progress line, to say where the kill landed
    seconds: float
    started_wall: float = 0.0  # time.time() at start: rows committed after it are this run's


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:120] if lines else "(before any output)"


def run_and_kill(start, folder: Path, cache: Path, log: Path, delay: float) -> Outcome:
    """Start a run, wait ``delay`` seconds, SIGKILL it (unless it already ended)."""
    t0, wall = time.monotonic(), time.time()
    proc = start(folder, cache, log)
    deadline = t0 + delay
    while time.monotonic() < deadline:
        code = proc.poll() if hasattr(proc, "poll") else (proc.exitcode if not proc.is_alive() else None)
        if code is not None:
            return Outcome(False, code, _last_line(log), time.monotonic() - t0, wall)
        time.sleep(0.02)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        # It ended (and was reaped by multiprocessing's bookkeeping) between the last poll and the kill.
        code = proc.wait() if hasattr(proc, "wait") else (proc.join() or proc.exitcode)
        return Outcome(False, code, _last_line(log), time.monotonic() - t0, wall)
    if hasattr(proc, "wait"):
        proc.wait()
    else:
        proc.join()
    return Outcome(True, None, _last_line(log), time.monotonic() - t0, wall)


def run_to_end(start, folder: Path, cache: Path, log: Path, timeout: float = 300) -> Outcome:
    t0 = time.monotonic()
    proc = start(folder, cache, log)
    if hasattr(proc, "wait"):
        code = proc.wait(timeout)
    else:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise TimeoutError(f"index did not finish in {timeout} s")
        code = proc.exitcode
    return Outcome(False, code, _last_line(log), time.monotonic() - t0)
