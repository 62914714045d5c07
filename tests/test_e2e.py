"""The installed `proxysort` console script as a user runs it: a real subprocess with real pipes.

One run only (each costs a Python start, torch import and model load); idempotency, formats and exit codes
are covered in-process by test_cli_cluster.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

SCRIPT = Path(sys.executable).with_name("proxysort")


def test_console_script_sorts_paths_piped_on_stdin(photo_folder: Path, tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    before = snapshot(photo_folder)
    out = tmp_path / "sorted"
    # NUL-separated, as `find -print0` writes them.
    listing = b"\0".join(str(p).encode() for p in sorted(photo_folder.rglob("img*"))) + b"\0"
    args = ["cluster", "-", "--by", "color", "--words", "red,green,blue", "--k", "3", "--out", str(out), "--json",
            "--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
    env = dict(os.environ, PROXYSORT_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([str(SCRIPT), *args], input=listing, capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(records) == 12 and {r["name"] for r in records} == {"color-1", "color-2", "color-3"}  # random model
    for r in records:
        dest = Path(r["dest"])
        assert dest.parent == out / "color" / r["name"]
        assert dest.is_symlink() and dest.resolve() == Path(r["path"]).resolve()
    assert b"writing symlinks" in proc.stderr or b"wrote" in proc.stderr  # progress on stderr, not stdout
    assert_unchanged(before, photo_folder)
