"""A recursive, safe walk of a photo folder.

Photo libraries are full of things that are not photos: NAS thumbnail folders (``@eaDir``), version
control, app caches, hidden files, and proxysort's own output folders (which hold links back into the
library and would otherwise be indexed twice). Symlinked folders are followed, but each real directory is
visited once, so a link pointing at an ancestor cannot loop forever.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Sequence

from proxysort.errors import InputError
from proxysort.progress import Reporter
from proxysort.raw import RAW_SUFFIXES

#: A directory holding this file was written by proxysort (an output tree) and is never scanned.
OUTPUT_MANIFEST = ".proxysort.json"

#: Lower-case suffixes of the raster formats Pillow decodes (HEIC/HEIF through pillow-heif).
RASTER_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)

#: Every photo format proxysort indexes: raster images and camera RAW (through LibRaw).
IMAGE_SUFFIXES = RASTER_SUFFIXES | RAW_SUFFIXES

#: Directory names that never hold the user's photos (NAS indexes, VCS, tooling caches).
JUNK_DIRS = frozenset({"@eaDir", "#recycle", ".git", "node_modules", "__pycache__", "$RECYCLE.BIN"})

#: Kinds of folders the walk does not enter, as :attr:`Listing.left_out` keys.
HIDDEN_FOLDERS = "hidden folders"
HIDDEN_FILES = "hidden files"
SYSTEM_FOLDERS = "system folders"
OUTPUT_FOLDERS = "proxysort output folders"
EXCLUDED_FOLDERS = "excluded folders"
SPECIAL_FILES = "special files"


@dataclass(frozen=True, slots=True)
class ScanEntry:
    """One candidate image: absolute path plus the stat fields that decide whether it changed.

    The path is kept as the ``str`` the store keys it by (``key``), one object shared with the library's map
    of photos; :attr:`path` makes the ``Path`` when asked. A ``Path`` and a dataclass with a ``__dict__`` per
    photo were ~0.4 KB a photo held through an index of the whole archive (issue 25)."""

    key: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.key)


@dataclass
class Listing:
    """What the walk found in one folder: photo candidates (checked regular files with a photo suffix),
    the names of every other file, and what it left out (hidden entries, junk and excluded folders),
    by kind, so nothing under the root goes uncounted."""

    folder: Path
    photos: list[ScanEntry] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    left_out: dict[str, list[Path]] = field(default_factory=dict)


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
    include_hidden: bool = False,
    reporter: Reporter | None = None,
    unreadable: list[Path] | None = None,
) -> Iterator[ScanEntry]:
    """Yield every photo candidate under ``root`` (sorted within each folder), depth first; see :func:`walk`."""
    for listing in walk(root, exclude=exclude, include_hidden=include_hidden, reporter=reporter, unreadable=unreadable):
        yield from listing.photos


def walk(
    root: Path,
    *,
    exclude: Sequence[Path] = (),
    include_hidden: bool = False,
    reporter: Reporter | None = None,
    unreadable: list[Path] | None = None,
) -> Iterator[Listing]:
    """Yield one :class:`Listing` per folder under ``root`` (names sorted), depth first.

    ``exclude`` folders (e.g. an output folder inside the library) are pruned, and so are hidden entries
    unless ``include_hidden``; junk folders (:data:`JUNK_DIRS`) and proxysort's output trees always are.
    Unreadable sub-folders and photo candidates are reported through ``reporter.skipped`` (and appended
    to ``unreadable``, so a sweep can leave what it could not see alone) and the walk goes on; an
    unreadable root raises :class:`InputError`.
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
        listing = Listing(folder)
        if folder != top and any(e.name == OUTPUT_MANIFEST for e in entries):
            listing.left_out[OUTPUT_FOLDERS] = [folder]  # proxysort's own output tree
            yield listing
            continue
        subdirs: list[Path] = []
        for entry in entries:
            name = entry.name
            path = folder / name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                kind = _left_out_folder(path, name, top, excluded, include_hidden, entry.is_symlink())
                if kind:
                    listing.left_out.setdefault(kind, []).append(path)
                elif kind is None:
                    subdirs.append(path)
                continue
            if name.startswith(".") and (not include_hidden or name.startswith("._")):
                # "._name" files are macOS resource forks, never photos, even among hidden files.
                if name != OUTPUT_MANIFEST:
                    listing.left_out.setdefault(HIDDEN_FILES, []).append(path)
                continue
            if not is_image_name(name):
                _note_other(listing, entry, name)
                continue
            if not is_utf8(str(path)):
                # The store keeps paths as UTF-8 text; such a name would abort the whole run at commit time.
                reporter.skipped(path, NOT_UTF8)
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                reporter.skipped(path, f"cannot be read ({_why(exc)})")
                if unreadable is not None:
                    unreadable.append(path)
                continue
            if stat.S_ISREG(st.st_mode) and not os.access(path, os.R_OK):
                # Found here rather than at decode time, so the skip is remembered like the scan's other
                # skips (a permission does not change the file's size or mtime, so a decode failure
                # could not be; see proxysort.scanskips).
                reporter.skipped(path, "cannot be read (permission denied)")
                if unreadable is not None:
                    unreadable.append(path)
            elif stat.S_ISREG(st.st_mode):
                listing.photos.append(ScanEntry(str(path), st.st_size, st.st_mtime_ns))
            else:
                listing.left_out.setdefault(SPECIAL_FILES, []).append(path)
        yield listing
        stack.extend(reversed(subdirs))  # pop() then visits sub-folders in name order


def _left_out_folder(
    path: Path, name: str, top: Path, excluded: set[Path], include_hidden: bool, is_link: bool
) -> str | None | Literal[False]:
    """The kind under which a sub-folder is left out, ``None`` to walk it, ``False`` to pass over it
    without a word (a link back to the root or above: not a folder of the library at all)."""
    if name in JUNK_DIRS:
        return SYSTEM_FOLDERS
    if name.startswith(".") and not include_hidden:
        return HIDDEN_FOLDERS
    real = _real(path)
    if is_link and (real == top or real in top.parents):
        # A link to the root or above it is a loop; following it would walk the whole disk (a link to /
        # indexes every image on the machine) before reaching the root again.
        return False
    if real in excluded:
        return EXCLUDED_FOLDERS
    return None


def _note_other(listing: Listing, entry: os.DirEntry, name: str) -> None:
    """A file that is not a photo candidate: kept by name for the companion/ignored classification."""
    try:
        regular = entry.is_file(follow_symlinks=True)
    except OSError:
        regular = False
    if regular:
        listing.others.append(name)
    else:
        listing.left_out.setdefault(SPECIAL_FILES, []).append(Path(listing.folder) / name)


def _real(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(Path(path).expanduser()))


#: Why a file whose name is not UTF-8 is skipped.
NOT_UTF8 = "file or folder name is not valid UTF-8; rename it to index this photo"


def is_utf8(text: str) -> bool:
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
