"""Regenerate the shell-completion scripts from the Typer app: ``python completions/generate.py``.

The scripts are what ``proxysort --show-completion SHELL`` prints; tests/test_completions.py fails when the
committed files differ, so a change to the app or to Typer cannot leave them stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHELLS = {"bash": "proxysort.bash", "zsh": "_proxysort", "fish": "proxysort.fish"}
HERE = Path(__file__).resolve().parent


def render(shell: str) -> str:
    """The completion script for ``shell``, as the installed CLI prints it."""
    env = dict(os.environ, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    out = subprocess.run(
        [sys.executable, "-m", "proxysort", "--show-completion", shell],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout.rstrip("\n") + "\n"


def main() -> None:
    for shell, name in SHELLS.items():
        (HERE / name).write_text(render(shell))
        print(f"wrote completions/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
