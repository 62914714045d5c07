"""A decoder that kills the process (reliability round 3, F11, local path).

No real crashing file is known (3,400 fuzzed DNGs passed), so the crash is injected: a ``sitecustomize``
on the child's path replaces the decoder with one that sends itself SIGSEGV on one file, in every Python
process started with that path (the run, and the child that decodes suspects). Before the fix every re-run
died at the same unnamed file and the other photos were never indexed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.photos import TINY_ARGS, make_photo
from tests.support.treesnap import assert_unchanged, snapshot

ROOT = Path(__file__).resolve().parents[1]

_SITE = '''
import os, signal
import proxysort.imageio as _m
_real = _m.load_image
def load_image(path, *args, **kwargs):
    if "crashme" in str(path):
        os.kill(os.getpid(), signal.SIGSEGV)
    return _real(path, *args, **kwargs)
_m.load_image = load_image
'''


def _index(photos: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")]), "HF_HUB_OFFLINE": "1",
           "PROXYSORT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "proxysort", "index", str(photos), *TINY_ARGS], capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.mark.slow
def test_a_decoder_crash_is_named_and_skipped_by_the_next_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for i in range(6):
        make_photo(photos / f"p{i}.png", color=(40 * i, 200 - 30 * i, 90))
    crash = make_photo(photos / "crashme.png")
    before = snapshot(photos)
    first = _index(photos, tmp_path)
    assert first.returncode == -signal.SIGSEGV, first.stderr  # nothing can catch a crash in-process
    second = _index(photos, tmp_path)
    assert second.returncode == 3, second.stderr
    assert f"skipped: {crash}: it crashes the image decoder (SIGSEGV)" in second.stderr
    assert "6 new" in second.stderr  # every other photo is indexed
    third = _index(photos, tmp_path)  # the failure is remembered: no crash, no child; counted, as every old skip
    assert third.returncode == 0, third.stderr
    assert "1 file(s) still skipped, as in an earlier run" in third.stderr
    assert not list((tmp_path / "cache").rglob("decoding-*.txt"))
    assert_unchanged(before, photos)


@pytest.mark.slow
@pytest.mark.ray
def test_a_decoder_crash_on_ray_is_retried_a_bounded_number_of_times_then_named(tmp_path: Path) -> None:
    """Y02: with ``--ray``, a crashing decode task was retried forever with nothing printed."""
    pytest.importorskip("ray")
    photos = tmp_path / "photos"
    for i in range(6):
        make_photo(photos / f"p{i}.png", color=(40 * i, 200 - 30 * i, 90))
    crash = make_photo(photos / "crashme.png")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")]), "HF_HUB_OFFLINE": "1",
           "PROXYSORT_CACHE_DIR": str(tmp_path / "cache"), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    try:
        done = subprocess.run([sys.executable, "-m", "proxysort", "index", str(photos), "--ray", "local", *TINY_ARGS],
                              capture_output=True, text=True, env=env, timeout=420)
    except subprocess.TimeoutExpired:
        pytest.fail("index --ray kept retrying a crashing decode task")
    assert done.returncode == 3, done.stderr[-3000:]
    assert f"skipped: {crash}: it crashes the image decoder (SIGSEGV)" in done.stderr
    assert "6 new" in done.stderr
