"""What a command reads from stdin: the list of image paths behind a ``-`` source (``index -``, ``cluster -``,
``eval -``), parsed one way for all of them.

stdin is read as bytes and decoded the way the OS decodes file names (UTF-8 with surrogate escapes), so a
list from ``find`` names every file exactly, even one whose name is not valid UTF-8 (the indexer then
reports that file as skipped), and a ``\\r`` inside a name is not turned into a line break.
"""

from __future__ import annotations

import os
from pathlib import Path

from proxysort.env import Environment
from proxysort.errors import InputError, UsageError


def paths_from_text(text: str, cwd: Path | None = None) -> list[Path]:
    """Parse a path list: NUL-separated if it contains a NUL, else one path per ``\\n``-ended line.

    A NUL-separated list ends with a NUL (as ``find -print0`` writes it; one final newline after it is
    allowed); a list that has both NULs and line breaks but does not end that way is refused, because a
    NUL cannot be part of a path and the names would be cut in the wrong places. Lines may end in CRLF.
    Relative paths are taken from ``cwd``; empty entries are ignored, duplicates kept once.
    """
    cwd = cwd or Path.cwd()
    if "\0" in text:
        if "\n" in text and not text.rstrip("\r\n").endswith("\0"):
            raise InputError(
                "stdin has a NUL inside a line: a NUL-separated list must end with a NUL (as find -print0 "
                "writes it), and a list of lines cannot contain one; pipe one kind of list."
            )
        parts = text.rstrip("\r\n").split("\0")
    else:
        parts = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    seen: dict[str, Path] = {}
    for part in parts:
        if not part.strip():
            continue
        path = _expanded(Path(part))
        path = path if path.is_absolute() else cwd / path
        seen.setdefault(str(path), path)
    if not seen:
        raise InputError("No paths were given on stdin; pipe a list of image files (one per line, or NUL-separated).")
    return list(seen.values())


def _expanded(path: Path) -> Path:
    """``~`` and ``~user`` expanded; a name like ``~x`` with no such user stays as it is (it may be a file)."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def _read(env: Environment) -> str:
    """All of stdin, as file names are decoded (bytes when the stream has them, else its text)."""
    raw = getattr(env.stdin, "buffer", None)
    try:
        data = raw.read() if raw is not None else env.stdin.read()
    except UnicodeDecodeError:
        raise InputError("stdin is not text in the locale's encoding; pipe a list of image paths.") from None
    return os.fsdecode(data) if isinstance(data, bytes) else data


def stdin_paths(env: Environment) -> list[Path]:
    """The image paths piped on stdin for a ``-`` source; refused when none of them exists (binary garbage,
    or a list meant for another folder), because then nothing can be indexed and every line would be
    reported as a skipped file."""
    if env.stdin_isatty:
        raise UsageError("'-' reads image paths from stdin, but stdin is a terminal; pipe a list of paths in.")
    paths = paths_from_text(_read(env))
    if not any(os.path.lexists(p) for p in paths):
        first = ascii(str(paths[0]))
        first = first if len(first) <= 80 else first[:77] + "..."
        raise InputError(
            f"none of the {len(paths)} path(s) read from stdin exists (the first is {first}); "
            "pipe a list of image files, one per line or NUL-separated."
        )
    return paths


def source_of(source: str, env: Environment) -> "Path | list[Path]":
    """A folder path, or the image paths piped on stdin when the source is '-'."""
    if source == "-":
        return stdin_paths(env)
    path = Path(source).expanduser()
    if not path.exists():
        # Checked here, before the output folder: a missing folder must not be reported as an --out problem.
        raise InputError(f"{path} does not exist; pass a folder of photos, or '-' and a list of files on stdin.")
    if not path.is_dir():
        # Checked here too: a photo given as DIR would otherwise be reported as an --out problem.
        raise UsageError(
            f"the photo folder argument (DIR) must be a folder, and {path} is a file; pass the folder that holds "
            f"it ({path.parent}), or '-' with the file's path on stdin."
        )
    return path
