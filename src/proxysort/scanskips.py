"""Files skipped before any decode (dangling links, names that are not UTF-8, unreadable folders and files,
listed files that are not there), remembered in the store's ``failures`` table like decode failures.

Why: a run cannot fix a broken link or rename a file in the user's library, so without a memory every later
run would name the same files again and exit 3, and a ``set -e`` script would fail until the user deleted
them. With it, a file skipped for the same reason as in an earlier run, unchanged since (same size and mtime
of the entry itself, where it can be looked at), is only counted in the run's one "still skipped" line, as a
decode failure already is; a new one is named and makes the run partial.

The scan looks at these files again on every run (a stat is cheap, and a link may have been mended), so
unlike a decode failure the record never stops a file from being looked at: it only says whether the
problem is new. To keep it so, a scan-stage row stores its size as a negative number (``-2 - size``, or -1
when nothing could be looked at): a decode failure row whose size and mtime match a scanned photo lets that
photo go undecoded, and a file that was unreadable and is readable again, with the same size and mtime (a
permission changes neither), must be decoded, not taken for a remembered decode failure. The sign keeps the
one ``failures`` table (and ``status``'s one list) without a schema change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from proxysort.store import FailureRow

#: the stored stamp of an entry nothing can be learned about (a listed file that does not exist)
_UNKNOWN = (-1, -1)


def store_key(path: str | Path) -> str:
    """The path as the store's UTF-8 text. A name that is not UTF-8 keeps its undecodable bytes as ``\\xNN``
    escapes: SQLite cannot hold the raw bytes as text, and the key only has to find the same file again."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _stamp(path: Path) -> tuple[int, int]:
    """The stored (size, mtime) of the entry itself (the link, not its missing target): the size made
    negative so that it never equals a scanned photo's (see the module's docstring), or :data:`_UNKNOWN`."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return _UNKNOWN
    return -2 - st.st_size, st.st_mtime_ns


@dataclass
class SortedSkips:
    """The scan's skips, split by what the store remembers of them."""

    #: skipped for the first time, or for another reason, or changed since: to be named and counted as new
    new: list[tuple[Path, str]] = field(default_factory=list)
    #: skipped for the same reason by an earlier run, unchanged since: counted in one line only
    repeated: list[tuple[Path, str]] = field(default_factory=list)
    #: the rows to (re)write: one for every new skip (a repeated one is already there as it is)
    rows: list[FailureRow] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        """The store keys of every skip of this run: rows a sweep must not forget."""
        return {store_key(p) for p, _ in [*self.new, *self.repeated]}


def sort_out(skips: Sequence[tuple[Path, str]], known: dict[str, FailureRow]) -> SortedSkips:
    """Split ``skips`` (path, reason) into new and repeated against ``known`` (the store's failure rows by
    key); the same path skipped twice in one run (a root inside another) counts once."""
    out = SortedSkips()
    seen: set[str] = set()
    for path, reason in skips:
        key = store_key(path)
        if key in seen:
            continue
        seen.add(key)
        size, mtime_ns = _stamp(Path(path))
        row = known.get(key)
        if row is not None and (row.size, row.mtime_ns, row.reason) == (size, mtime_ns, reason):
            out.repeated.append((Path(path), reason))
        else:
            out.new.append((Path(path), reason))
            out.rows.append(FailureRow(key, size, mtime_ns, reason))
    return out
