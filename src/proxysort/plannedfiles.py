"""The files a tree plan makes, held as a few numbers per file rather than an :class:`Entry` per file (issue 25).

A plan of millions of photos held one ``Entry`` per file, each with its path in OUT and (symlinks) its link
text as strings of their own: about 270 bytes a photo, the largest part of the write stage's memory. Here a
planned file is its source's position among the plan's photos (a companion's source: its bytes in a buffer),
the index of its folder in OUT, the index of its link text's folder part and the row of the photo it is a
companion of: about 20 bytes, no ``str`` per file. Its
``Entry`` is made when it is read, the same one every time; the few that do not follow the pattern (a file
named otherwise than its source, a link text that is not ``<folder part>/<source's real name>``, an entry
kept from the old manifest) are held whole beside the columns.

The manifest lists files in path order; :meth:`PlannedFiles.in_path_order` gives them so without a sorted
list of entries: each folder's rows are sorted by name (one folder's names at a time) and the folders merged.
"""

from __future__ import annotations

import heapq
import os
from array import array
from operator import attrgetter
from typing import Iterator, Mapping, Sequence, overload

from proxysort.manifest import Entry
from proxysort.pathcolumn import PathBuffer

_PATH = attrgetter("path")


def _basename(path: str) -> str:
    """``os.path.basename`` of a ``str`` path, without its checks: called several times per planned file."""
    return path.rpartition("/")[2]


class PlannedFiles(Sequence[Entry]):
    """A tree plan's files (see the module's docstring): ``extra`` entries held whole (the orphans kept, first,
    as a plan lists them), then the planned rows in the order they were added. A plan's link mode is one for
    every row: a symlink row's text is derived, a hard link's or copy's two numbers are held in columns.

    ``replaced`` (path -> entry) overrides rows (entries kept from the old manifest with their content hash,
    or the fingerprint a hard link or copy turned out to have); ``dropped`` paths are left out (files not made).
    :meth:`written` gives such a view of the same columns without copying them.
    """

    def __init__(self, link: str, out_real: str, extra: Sequence[Entry] = (), photos: Sequence[str] = ()) -> None:
        self._link = link
        self._out_real = out_real
        self._extra: list[Entry] = list(extra)
        self._photos = photos  # the plan's photos (its own buffer of their paths): a row's source by position
        self._source = array("i")  # per row: its source's position in _photos, or -1 - its position in _sources
        self._sources = PathBuffer()  # the other rows' sources (companions): their bytes, a str made when read
        self._dir = array("I")  # index into _dirs: the file's folder in OUT
        self._dirs: list[str] = []
        self._dir_index: dict[str, int] = {}
        self._companion_of = array("i")  # the row of the photo this file is a companion of, -1 for a photo
        self._names: dict[int, str] = {}  # row -> its name in OUT, where it is not its source's own name
        # symlink: index into _prefixes, the link text's part before the source's real name, per (real folder, folder in OUT)
        self._prefix = array("I")
        self._prefixes: list[str] = []
        self._prefix_index: dict[tuple[str, int], int] = {}
        self._targets: dict[int, str] = {}  # row -> its link text, where it does not follow that pattern
        self._real_names: dict[int, str] = {}  # row -> its source's real name, where it is not the source's own
        # hard link: the source's device and inode; copy: its size and mtime (what the Entry records)
        self._numbers = (array("q"), array("q"))
        self._replaced: Mapping[str, Entry] = {}
        # rows kept from the old manifest: row -> the row of its old entry in ``_old`` (-1: as planned); None: none
        self._old: Sequence[Entry] = ()
        self._from_old: array | None = None
        self._carried: Sequence[Entry] = ()  # other trees' files, left as they were (a view of the old manifest)
        self._dropped: frozenset[str] | set[str] = frozenset()
        self._order: list[array] | None = None  # each folder's rows sorted by name (made when first asked)

    # ------------------------------------------------------------------------------------------ building

    def add(self, rel_dir: str, name: str, source: str | int, numbers: tuple[int, int] | None,
            companion_of: int = -1) -> int:
        """Plan file ``rel_dir/name`` made from ``source`` (its path, or its position in ``photos``; ``numbers``:
        a hard link's device and inode, a copy's size and mtime); returns its row. The symlink text is worked out here as :func:`os.path.relpath` of
        the source's real path from the folder in OUT, and kept only as an index to its folder part."""
        row = len(self._source)
        d = self._dir_index.get(rel_dir)
        if d is None:
            d = self._dir_index[rel_dir] = len(self._dirs)
            self._dirs.append(rel_dir)
        if isinstance(source, int):
            self._source.append(source)
            source = self._photos[source]
        else:
            self._source.append(-1 - len(self._sources))
            self._sources.append(source)
        self._dir.append(d)
        self._companion_of.append(companion_of)
        own = _basename(source)
        if name != own:
            self._names[row] = name
        if self._link == "symlink":
            dest_dir = os.path.join(self._out_real, rel_dir)
            real = os.path.realpath(source)
            target = os.path.relpath(real, dest_dir)
            real_dir, _, real_name = real.rpartition("/")
            key = (real_dir, d)
            p = self._prefix_index.get(key)
            if p is None:
                p = self._prefix_index[key] = len(self._prefixes)
                self._prefixes.append(os.path.relpath(real_dir or "/", dest_dir))
            self._prefix.append(p)
            if real_name != own:
                self._real_names[row] = real_name
            if self._target(row, own) != target:  # never expected; kept whole so the link text is exactly relpath's
                self._targets[row] = target
        else:
            a, b = numbers or (0, 0)
            self._numbers[0].append(a)
            self._numbers[1].append(b)
        self._order = None
        return row

    def written(self, replaced: Mapping[str, Entry], dropped: set[str], extra: Sequence[Entry],
                carried: Sequence[Entry] = ()) -> "PlannedFiles":
        """The same files with ``replaced`` entries put in, ``dropped`` paths left out and ``extra`` entries
        added, and ``carried`` (other trees' files, in no folder of this plan; a view of the old manifest that
        gives them ``in_path_order``, or any sequence): what the manifest lists once the tree is written.
        Shares the columns."""
        view = object.__new__(PlannedFiles)
        view.__dict__.update(self.__dict__)
        view._extra = [*self._extra, *extra]
        view._replaced = {**self._replaced, **replaced}
        view._dropped = set(self._dropped) | dropped
        view._carried = carried
        return view

    def keeping(self, old: Sequence[Entry], rows: array) -> "PlannedFiles":
        """These files with old entries in place of some rows: ``rows[row]`` is the position in ``old`` of row
        ``row``'s entry (it holds a copy's content hash), -1 for a row as planned. 4 bytes a row, where a map of
        path to entry held ~400 per kept copy (issue 25)."""
        view = self.written({}, set(), ())
        view._old, view._from_old = old, rows
        return view

    # ------------------------------------------------------------------------------------------- reading

    def source(self, row: int) -> str:
        """The source of planned row ``row``."""
        at = self._source[row]
        return self._photos[at] if at >= 0 else self._sources[-1 - at]

    def _name(self, row: int) -> str:
        name = self._names.get(row)
        return name if name is not None else _basename(self.source(row))

    def path(self, row: int) -> str:
        """The path in OUT of planned row ``row``."""
        return f"{self._dirs[self._dir[row]]}/{self._name(row)}"

    def _target(self, row: int, own: str) -> str:
        """Row ``row``'s link text (``own``: its source's name)."""
        target = self._targets.get(row)
        if target is not None:
            return target
        real_name = self._real_names.get(row, own)
        prefix = self._prefixes[self._prefix[row]]
        return real_name if prefix == "." else f"{prefix}/{real_name}"

    def _made(self, row: int) -> Entry:
        """Row ``row``'s entry as planned (before ``replaced``)."""
        source = self.source(row)
        own = _basename(source)
        name = self._names.get(row, own)
        path = f"{self._dirs[self._dir[row]]}/{name}"
        c = self._companion_of[row]
        companion_of = None if c < 0 else self.path(c)
        if self._link == "symlink":
            return Entry(path, source, "symlink", target=self._target(row, own), companion_of=companion_of)
        a, b = self._numbers[0][row], self._numbers[1][row]
        if self._link == "hardlink":
            return Entry(path, source, "hardlink", dev=a, ino=b, companion_of=companion_of)
        return Entry(path, source, "copy", size=a, mtime_ns=b, companion_of=companion_of)

    @property
    def rows(self) -> int:
        """How many rows were planned (``extra`` and ``carried`` not counted)."""
        return len(self._source)

    def entry(self, row: int) -> Entry | None:
        """Row ``row``'s entry, ``None`` when it is dropped."""
        old = self._from_old[row] if self._from_old is not None else -1
        entry = self._made(row) if old < 0 else self._old[old]
        if self._dropped and entry.path in self._dropped:
            return None
        return self._replaced.get(entry.path, entry) if self._replaced else entry

    def __len__(self) -> int:
        if self._dropped:
            return sum(1 for _ in self)
        return len(self._extra) + len(self._carried) + len(self._source)

    def __iter__(self) -> Iterator[Entry]:
        yield from self._extra
        yield from self._carried
        for row in range(len(self._source)):
            entry = self.entry(row)
            if entry is not None:
                yield entry

    @overload
    def __getitem__(self, i: int) -> Entry: ...

    @overload
    def __getitem__(self, i: slice) -> list[Entry]: ...

    def __getitem__(self, i: int | slice) -> Entry | list[Entry]:
        """By position in iteration order (a walk over the rows when some are dropped: for tests, not loops)."""
        if isinstance(i, slice) or self._dropped or self._carried:
            return list(self)[i]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i < len(self._extra):
            return self._extra[i]
        entry = self.entry(i - len(self._extra))
        assert entry is not None
        return entry

    def paths(self) -> Iterator[str]:
        """The planned rows' paths in OUT (not ``extra``'s), without making their entries."""
        return (self.path(row) for row in range(len(self._source)))

    def in_path_order(self) -> Iterator[Entry]:
        """Every entry sorted by path, as the manifest lists them: each folder's rows sorted by name (4 bytes a
        row kept; one folder's names at a time), merged with each other and with ``extra``."""
        if self._order is None:
            rows: dict[int, array] = {}
            for row, d in enumerate(self._dir):
                rows.setdefault(d, array("I")).append(row)
            self._order = [array("I", sorted(r, key=self._name)) for r in rows.values()]

        def entries(order: array) -> Iterator[Entry]:
            for row in order:
                entry = self.entry(row)
                if entry is not None:
                    yield entry

        in_order = getattr(self._carried, "in_path_order", None)
        carried = in_order() if in_order is not None else sorted(self._carried, key=_PATH)
        return heapq.merge(sorted(self._extra, key=_PATH), carried, *(entries(o) for o in self._order), key=_PATH)

