"""Project-level promises: the README's set-up commands are exactly what CI runs; docs exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```\n(.*?)\n```", text, re.S)
    assert block, "README must open with a code block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_that_ci_runs_verbatim() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    head = (ROOT / "README.md").read_text().split("```")[0]
    assert len(head.splitlines()) <= 5, "the commands must be in the README's first lines"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert any(line.startswith(command) for line in ci), f".ci/run does not run: {command}"


def test_changelog_follows_keep_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    assert "keepachangelog.com" in text


def test_exit_codes_are_documented_in_readme() -> None:
    from proxysort.errors import ExitCode

    text = (ROOT / "README.md").read_text()
    for code in ExitCode:
        assert re.search(rf"\|\s*{int(code)}\s*\|", text), f"exit code {int(code)} ({code.name}) missing from README"
