"""The one parser of image paths on stdin, behind every '-' source (index, cluster, eval)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from proxysort.cli.inputs import paths_from_text, stdin_paths
from proxysort.env import Environment
from proxysort.errors import InputError, UsageError


def test_paths_from_text(tmp_path: Path) -> None:
    assert paths_from_text("a.jpg\n\n/x/b.jpg\na.jpg\n", tmp_path) == [tmp_path / "a.jpg", Path("/x/b.jpg")]
    assert paths_from_text("line\nbreak.jpg\0c.jpg\0", tmp_path) == [tmp_path / "line\nbreak.jpg", tmp_path / "c.jpg"]
    with pytest.raises(InputError):
        paths_from_text("\n\n")


def test_stdin_must_be_piped() -> None:
    with pytest.raises(UsageError, match="stdin is a terminal"):
        stdin_paths(Environment(stdin=io.StringIO("a.jpg\n"), stdin_isatty=True))
    assert stdin_paths(Environment(stdin=io.StringIO("/x/a.jpg\0/x/b.jpg"), stdin_isatty=False)) == [
        Path("/x/a.jpg"), Path("/x/b.jpg")]
