"""``--help`` and shell completion must stay instant: they may not import torch, open_clip or faiss."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "open_clip", "faiss", "sklearn", "openai")


def _imported_modules(args: list[str], extra_env: dict[str, str] | None = None) -> set[str]:
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "proxysort", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, proc.stderr[-2000:]
    return names


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["cluster", "--help"], ["words", "--help"]])
def test_help_does_not_import_heavy_modules(args: list[str]) -> None:
    assert _heavy(_imported_modules(args)) == []


def test_completion_does_not_import_heavy_modules() -> None:
    names = _imported_modules(
        [],
        {"_PROXYSORT_COMPLETE": "complete_bash", "COMP_WORDS": "proxysort clu", "COMP_CWORD": "1"},
    )
    assert _heavy(names) == []
