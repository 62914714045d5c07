"""What a command reads from stdin: the list of image paths behind a ``-`` source (``index -``, ``cluster -``,
``eval -``), parsed one way for all of them."""

from __future__ import annotations

from pathlib import Path

from proxysort.env import Environment
from proxysort.errors import InputError, UsageError


def paths_from_text(text: str, cwd: Path | None = None) -> list[Path]:
    """Parse a path list: NUL-separated if it contains a NUL, else one path per line.

    Relative paths are taken from ``cwd``; empty entries are ignored, duplicates kept once.
    """
    cwd = cwd or Path.cwd()
    parts = text.split("\0") if "\0" in text else text.splitlines()
    seen: dict[str, Path] = {}
    for part in parts:
        if not part.strip():
            continue
        path = Path(part).expanduser()
        path = path if path.is_absolute() else cwd / path
        seen.setdefault(str(path), path)
    if not seen:
        raise InputError("No paths were given on stdin; pipe a list of image files (one per line, or NUL-separated).")
    return list(seen.values())


def stdin_paths(env: Environment) -> list[Path]:
    """The image paths piped on stdin for a ``-`` source."""
    if env.stdin_isatty:
        raise UsageError("'-' reads image paths from stdin, but stdin is a terminal; pipe a list of paths in.")
    return paths_from_text(env.stdin.read())


def source_of(source: str, env: Environment) -> "Path | list[Path]":
    """A folder path, or the image paths piped on stdin when the source is '-'."""
    if source == "-":
        return stdin_paths(env)
    path = Path(source).expanduser()
    if not path.exists():
        # Checked here, before the output folder: a missing folder must not be reported as an --out problem.
        raise InputError(f"{path} does not exist; pass a folder of photos, or '-' and a list of files on stdin.")
    return path
