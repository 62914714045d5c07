"""Decoder crashes contained: a file that kills the process while it is decoded is named and skipped.

LibRaw (``rawpy``) and Pillow's C decoders run inside proxysort's process: a segmentation fault there is
no exception to catch, it ends the run. Without help every re-run dies at the same, unnamed file and the
rest of the folder is never indexed.

So the indexer records the files it is decoding (:class:`InFlight`, one small file beside the store,
rewritten as decodes start and end; the store's run lock means only one run writes there at a time). A
record still present when the next run starts belongs to a run that died mid-decode: each file in it is
a *suspect* and is first decoded in a child process (:func:`crashes`); one that kills the child is
recorded as a failure (skipped with its reason, and skipped by later runs until it changes), the others
are indexed as usual. The cost falls only on runs after a crash: a child process per file would cost
every run a process start per photo (``benchmarks/reliability_report.py`` measures both).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Iterator

#: Records of files being decoded, one per run: ``decoding-<uuid>.txt`` beside the store.
RECORD_PREFIX = "decoding-"
_RECORD_MAX_BYTES = 16 << 20  # paths of the files in flight: a few dozen at most
#: How long a child may take to decode one file before it counts as hung (a 100 MP RAW takes seconds).
CHILD_TIMEOUT_S = 300.0

_CHILD = "import sys; from proxysort.imageio import load_image; load_image(sys.argv[1], int(sys.argv[2]))"


class InFlight:
    """The files this run is decoding right now, kept on disk so a crash leaves them behind."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"{RECORD_PREFIX}{uuid.uuid4().hex}.txt"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._now: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def decoding(self, path: str | Path) -> Iterator[None]:
        """Mark ``path`` as in flight while the block runs (threads may decode several at once)."""
        key = str(path)
        with self._lock:
            self._now[key] = self._now.get(key, 0) + 1
            self._write()
        try:
            yield
        finally:
            with self._lock:
                self._now[key] -= 1
                if not self._now[key]:
                    del self._now[key]
                self._write()

    def _write(self) -> None:
        # No fsync: the record must survive the *process* dying, which the page cache already ensures.
        data = "".join(f"{p}\n" for p in sorted(self._now)).encode("utf-8", "surrogateescape")
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def close(self) -> None:
        """The run ended (normally or by an exception it survived): nothing is in flight any more."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> "InFlight":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def leftovers(folder: Path) -> tuple[set[str], list[Path]]:
    """Files that earlier runs were decoding when they died, and the records naming them.

    Call under the store's run lock: any record then present belongs to a run that is no longer running.
    """
    from proxysort.safeopen import read_limited

    suspects: set[str] = set()
    records = sorted(folder.glob(f"{RECORD_PREFIX}*.txt"))
    for record in records:
        try:
            text = read_limited(record, _RECORD_MAX_BYTES).decode("utf-8", "surrogateescape")
        except OSError:
            continue
        suspects.update(line for line in text.splitlines() if line)
    return suspects, records


def forget(records: list[Path]) -> None:
    """Remove the records of dead runs once their suspects are dealt with."""
    for record in records:
        with contextlib.suppress(OSError):
            os.unlink(record)


def crashes(path: str | Path, min_size: int) -> str | None:
    """Decode ``path`` in a child process: the reason to skip it when decoding kills the child (a signal,
    or no end within :data:`CHILD_TIMEOUT_S`), ``None`` when the child survives (a clean decoding error
    is left to the normal decode, which says what is wrong)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(min_size)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=CHILD_TIMEOUT_S, env=_child_env(),
        )
    except subprocess.TimeoutExpired:
        return f"decoding it did not finish in {CHILD_TIMEOUT_S:.0f} s (the decoder hangs on it); skipped"
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return f"it crashes the image decoder ({name}), alone in a process of its own"
    return None


def _child_env() -> dict[str, str]:
    """The child imports proxysort from where this process did, whatever PYTHONPATH says."""
    here = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)  # passed through unchanged to a child of the same program
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env
