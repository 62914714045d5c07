"""The committed completion scripts must be exactly what the current app generates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gen_completions", ROOT / "completions" / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("shell", sorted(generate.SHELLS))
def test_completion_script_is_current(shell: str) -> None:
    committed = (ROOT / "completions" / generate.SHELLS[shell]).read_text()
    assert committed == generate.render(shell), (
        f"completions/{generate.SHELLS[shell]} is stale: run `python completions/generate.py`"
    )
