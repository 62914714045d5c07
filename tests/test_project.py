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


def test_changelog_has_a_release_matching_the_package_version_and_one_section_of_each_kind() -> None:
    import tomllib

    text = (ROOT / "CHANGELOG.md").read_text()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.M)
    assert version in releases, f"pyproject.toml's version {version} has no released section in CHANGELOG.md"
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        kinds = re.findall(r"^### (\w+)", block, re.M)
        assert len(kinds) == len(set(kinds)), f"a version block repeats a section: {block.splitlines()[0]}: {kinds}"
        assert set(kinds) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds


def test_exit_codes_are_documented_in_readme() -> None:
    from proxysort.errors import ExitCode

    text = (ROOT / "README.md").read_text()
    for code in ExitCode:
        assert re.search(rf"\|\s*{int(code)}\s*\|", text), f"exit code {int(code)} ({code.name}) missing from README"
