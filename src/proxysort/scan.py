"""A recursive, safe walk of a photo folder.

Photo libraries are full of things that are not photos: NAS thumbnail folders (``@eaDir``), version
control, app caches, hidden files, and proxysort's own output folders (which hold links back into the
library and would otherwise be indexed twice). Symlinked folders are followed, but each real directory is
visited once, so a link pointing at an ancestor cannot loop forever.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from proxysort.errors import InputError
from proxysort.progress import Reporter

#: A directory holding this file was written by proxysort (an output tree) and is never scanned.
OUTPUT_MANIFEST = ".proxysort.json"

#: Lower-case suffixes of the formats we decode (HEIC/HEIF need the ``[heic]`` extra).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)

#: Directory names that never hold the user's photos (NAS indexes, VCS, tooling caches).
JUNK_DIRS = frozenset({"@eaDir", "#recycle", ".git", "node_modules", "__pycache__", "$RECYCLE.BIN"})


@dataclass(frozen=True)
class ScanEntry:
    """One candidate image: absolute path plus the stat fields that decide whether it changed."""

    path: Path
    size: int
    mtime_ns: int


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def check_root(root: Path) -> Path:
    """The absolute, resolved root, or an :class:`InputError` when it cannot be scanned.

    Callers rely on this before sweeping: a missing or unreadable root must never look like an empty one.
    """
    root = Path(root).expanduser()
    try:
        resolved = root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"Photo folder {root} does not exist or cannot be resolved: {_why(exc)}.") from exc
    if not resolved.is_dir():
        raise InputError(f"{root} is not a folder; pass a folder of photos (or a list of files).")
    try:
        with os.scandir(resolved):
            pass
    except OSError as exc:
        raise InputError(f"Photo folder {root} cannot be read: {_why(exc)}.") from exc
    return resolved


def scan(
    root: Path,
    *,
    exclude: Sequence[Path] = (),
    reporter: Reporter | None = None,
    unreadable: list[Path] | None = None,
) -> Iterator[ScanEntry]:
    """Yield every image file under ``root`` (sorted within each folder), depth first.

    ``exclude`` folders (e.g. an output folder inside the library) are pruned. Unreadable sub-folders and
    files are reported through ``reporter.skipped`` (and appended to ``unreadable``, so a sweep can leave
    what it could not see alone) and the walk goes on; an unreadable root raises :class:`InputError`.
    """
    reporter = reporter or Reporter()
    top = check_root(Path(root))
    excluded = {_real(p) for p in exclude}
    visited: set[tuple[int, int]] = set()
    stack: list[Path] = [top]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in visited:
                continue  # a symlink back to a folder already walked (loop or duplicate)
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            reporter.skipped(folder, f"folder cannot be read ({_why(exc)})")
            if unreadable is not None:
                unreadable.append(folder)
            continue
        if folder != top and any(e.name == OUTPUT_MANIFEST for e in entries):
            continue  # proxysort's own output tree
        subdirs: list[Path] = []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in JUNK_DIRS:
                continue
            path = folder / name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                real = _real(path)
                if entry.is_symlink() and (real == top or real in top.parents):
                    # A link to the root or above it is a loop; following it would walk the whole disk
                    # (a link to / indexes every image on the machine) before reaching the root again.
                    continue
                if real not in excluded:
                    subdirs.append(path)
                continue
            if not is_image_name(name):
                continue
            if not _is_utf8(str(path)):
                # The store keeps paths as UTF-8 text; such a name would abort the whole run at commit time.
                reporter.skipped(path, "file or folder name is not valid UTF-8; rename it to index this photo")
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                reporter.skipped(path, f"cannot be read ({_why(exc)})")
                if unreadable is not None:
                    unreadable.append(path)
                continue
            if stat.S_ISREG(st.st_mode):
                yield ScanEntry(path, st.st_size, st.st_mtime_ns)
        stack.extend(reversed(subdirs))  # pop() then visits sub-folders in name order


def _real(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(Path(path).expanduser()))


def _is_utf8(text: str) -> bool:
    """False for names the OS gave us as undecodable bytes (surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
