"""Every file the user names is read bounded and without blocking (reliability round 3, F9 and F10).

``--words-file /dev/zero`` read until the OOM killer stopped it at 22.9 GB; a FIFO as the words file, the
labels file or the store that ``status`` reads hung forever. Each is one sentence now. The hanging and
unbounded cases run the real CLI in a child process with a timeout and a memory limit, so a regression
fails the test instead of hanging it or exhausting the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from proxysort.safeopen import NotRegularFileError, TooLargeError, read_limited

ROOT = Path(__file__).resolve().parents[1]


def _cli(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process: at most ``timeout`` seconds and 3 GB of data memory."""

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1",
           "PROXYSORT_CACHE_DIR": str(tmp_path / "cache")}
    try:
        return subprocess.run([sys.executable, "-m", "proxysort", *args], capture_output=True, text=True,
                              timeout=timeout, env=env, preexec_fn=limit, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"proxysort {' '.join(args)} hung for {timeout} s")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


# ------------------------------------------------------------------------------------- the helper


def test_read_limited_reads_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"red\ngreen\n")
    assert read_limited(tmp_path / "a", 100) == b"red\ngreen\n"


def test_read_limited_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    done: list[BaseException] = []

    def attempt() -> None:
        try:
            read_limited(fifo, 100)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            done.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the thread ends, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert len(done) == 1 and isinstance(done[0], NotRegularFileError)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_read_limited_refuses_a_device(device: str) -> None:
    with pytest.raises(NotRegularFileError):
        read_limited(device, 100)


def test_read_limited_refuses_a_large_file_before_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        fh.truncate(1 << 40)  # a sparse terabyte: reading it would never end
    with pytest.raises(TooLargeError):
        read_limited(big, 1 << 20)


# ------------------------------------------------------------------------------------- words file


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "sparse"])
def test_a_words_file_that_is_not_a_small_regular_file_is_one_sentence(tmp_path: Path, fifo: Path, kind: str) -> None:
    if kind == "fifo":
        path = str(fifo)
    elif kind == "sparse":
        path = str(tmp_path / "huge.txt")
        with open(path, "wb") as fh:
            fh.truncate(64 << 20)
    else:
        path = kind
    done = _cli(["words", "--by", "color", "--words-file", path, "--llm", "off"], tmp_path, timeout=60)
    assert done.returncode == 6, done.stderr
    assert done.stderr.startswith(f"proxysort: cannot read the words file {path}: ")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert ("not a regular file" if kind != "sparse" else "larger than") in done.stderr


# ------------------------------------------------------------------------------------- labels file


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_labels_file_that_is_not_a_regular_file_is_refused_before_any_work(tmp_path: Path, fifo: Path, kind: str) -> None:
    from tests.support.photos import TINY_ARGS, make_photo

    photos = tmp_path / "photos"
    for i in range(3):
        make_photo(photos / f"{i}.png")
    path = str(fifo) if kind == "fifo" else kind
    done = _cli(["cluster", str(photos), "--by", "color", "--words", "red,green", "--labels", path, "--dry-run",
                 *TINY_ARGS], tmp_path)
    assert done.returncode == 6, done.stderr
    assert "not a regular file" in done.stderr and "indexed" not in done.stderr and "Traceback" not in done.stderr


def test_a_labels_file_larger_than_any_labels_file_is_refused(tmp_path: Path) -> None:
    from proxysort.errors import InputError
    from proxysort.evaluation import read_labels

    big = tmp_path / "labels.csv"
    with open(big, "wb") as fh:
        fh.write(b"path,color\n")
        fh.truncate(1 << 40)
    with pytest.raises(InputError, match="larger than"):
        read_labels(big, "color")


# ------------------------------------------------------------------------------------- the store


def test_status_on_a_store_that_is_a_fifo_is_one_sentence(tmp_path: Path) -> None:
    from tests.support.photos import make_photo

    photos = tmp_path / "photos"
    make_photo(photos / "a.png")
    store = tmp_path / "cache" / "stores" / "m" / "index.sqlite"
    store.parent.mkdir(parents=True)
    os.mkfifo(store)
    done = _cli(["status", str(photos)], tmp_path, timeout=60)
    assert done.returncode == 5, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr
