"""Per-photo text held as columns: every photo path in one byte buffer, every content id in 16 bytes.

Why: at archive scale (issue 25: 10M photos in 4 GB) a ``Path`` per photo costs ~318 bytes, its ``str`` ~112
more, a 32-hex content id ~90: over 0.5 KB a photo before any number about it, each list of them held again
by the next step. :class:`PathColumn` keeps the paths as one buffer of their file-system bytes
(``os.fsencode``, so a name that is not UTF-8 round-trips through surrogate escapes) and an array of end
offsets, ~8 bytes a photo beyond the text itself; a ``Path`` (or, through :attr:`PathColumn.text`, a ``str``)
is made when one is read. :class:`ContentIds` keeps 32-hex content ids as their 16 bytes. Both compare equal
to a list of the same items, slice to their own kind, and pickle as their buffers (Ray sends them whole).

A column built from paths in sorted order knows it (:attr:`PathColumn.in_order`) and finds a path by
bisection (:meth:`PathColumn.find`): the index hands its paths sorted, so the tree finds each photo's content
id by its path without a dict of N entries. For text that is valid UTF-8, as every indexed path is, the order
of the bytes is the order of the strings.
"""

from __future__ import annotations

import bisect
import codecs
import os
import sys
from array import array
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, ValuesView, overload

import numpy as np


class _Bytes(Sequence[bytes]):
    """A column's items as bytes: what :func:`bisect.bisect_left` compares."""

    def __init__(self, column: "PathColumn | PathBuffer | PathRows") -> None:
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        return self.column.raw(i)


class PathColumn(Sequence[Path]):
    """Paths in one buffer: ``column[i]`` is a ``Path`` made on access, :attr:`text` the same items as ``str``."""

    __slots__ = ("_data", "_ends", "in_order", "text")

    def __init__(self, data: bytes | bytearray = b"", ends: "np.ndarray | None" = None, in_order: bool = True) -> None:
        self._data = data
        self._ends = np.zeros(0, np.int64) if ends is None else ends
        #: whether the items are in sorted order (each ≤ the next): :meth:`find` bisects then
        self.in_order = in_order
        #: the same column read as ``str`` (a view: nothing copied)
        self.text = PathTexts(self)

    @classmethod
    def of(cls, paths: Iterable[str | os.PathLike[str]]) -> "PathColumn":
        """The column of ``paths`` (strings or paths), read once: a generator is never held whole."""
        data, ends = bytearray(), array("q")
        in_order, last = True, b""
        for p in paths:
            raw = os.fsencode(p)
            if in_order and raw < last:
                in_order = False
            data += raw
            ends.append(len(data))
            last = raw
        return cls(data, np.frombuffer(ends, np.int64) if len(ends) else None, in_order)

    def __len__(self) -> int:
        return len(self._ends)

    def raw(self, i: int) -> bytes:
        """Item ``i``'s file-system bytes."""
        start = int(self._ends[i - 1]) if i > 0 else 0
        return bytes(self._data[start : int(self._ends[i])])

    def _index(self, i: int) -> int:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("path index out of range")
        return i

    @overload
    def __getitem__(self, i: int) -> Path: ...

    @overload
    def __getitem__(self, i: slice) -> "PathColumn": ...

    def __getitem__(self, i: int | slice) -> "Path | PathColumn":
        if isinstance(i, slice):
            return self.take(range(*i.indices(len(self))))
        return Path(os.fsdecode(self.raw(self._index(i))))

    def str_at(self, i: int) -> str:
        """Item ``i`` as ``str`` (what ``str(column[i])`` gives, without the ``Path``)."""
        return os.fsdecode(self.raw(self._index(i)))

    def __iter__(self) -> Iterator[Path]:
        return (Path(s) for s in self.text)

    def take(self, rows: "Iterable[int] | np.ndarray") -> "PathColumn":
        """The column of the items at ``rows`` (positions, or a boolean mask of ``len(self)``), in that order."""
        rows = np.asarray(rows if not isinstance(rows, range) else np.arange(rows.start, rows.stop, rows.step))
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        ascending = bool(len(rows) < 2 or (np.diff(rows) > 0).all())
        if ascending and len(rows) and rows[-1] - rows[0] + 1 == len(rows):  # one run: one copy of its bytes
            a, b = int(rows[0]), int(rows[-1]) + 1
            start = int(self._ends[a - 1]) if a > 0 else 0
            return PathColumn(bytes(self._data[start : int(self._ends[b - 1])]), self._ends[a:b] - start,
                              self.in_order)
        return PathColumn.of_raw((self.raw(int(r)) for r in rows), self.in_order and ascending)

    @classmethod
    def of_raw(cls, items: Iterable[bytes], in_order: bool) -> "PathColumn":
        data, ends = bytearray(), array("q")
        for raw in items:
            data += raw
            ends.append(len(data))
        return cls(data, np.frombuffer(ends, np.int64) if len(ends) else None, in_order)

    def find(self, path: str | os.PathLike[str]) -> int:
        """The position of ``path`` (-1 when absent): by bisection in a column :attr:`in_order`, else a scan."""
        raw = os.fsencode(path)
        if self.in_order:
            at = bisect.bisect_left(_Bytes(self), raw)
            return at if at < len(self) and self.raw(at) == raw else -1
        return next((i for i in range(len(self)) if self.raw(i) == raw), -1)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and self.find(path) >= 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathColumn):
            return bytes(self._data) == bytes(other._data) and np.array_equal(self._ends, other._ends)
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(other) == len(self) and all(Path(o) == p for o, p in zip(other, self))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which have none

    def __repr__(self) -> str:
        return f"PathColumn({len(self)} paths)"

    def __reduce__(self) -> tuple[Any, ...]:
        return PathColumn, (bytes(self._data), np.array(self._ends), self.in_order)

    @property
    def nbytes(self) -> int:
        """The bytes its buffers hold."""
        return len(self._data) + self._ends.nbytes


class PathTexts(Sequence[str]):
    """A :class:`PathColumn` read as ``str``: what the sort, the tree and the page hold as photo keys."""

    __slots__ = ("column",)

    def __init__(self, column: PathColumn) -> None:
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> "PathTexts": ...

    def __getitem__(self, i: int | slice) -> "str | PathTexts":
        if isinstance(i, slice):
            return self.column[i].text
        return self.column.str_at(i)

    def __iter__(self) -> Iterator[str]:
        data, ends, start = self.column._data, self.column._ends, 0
        for end in ends.tolist() if len(ends) < 65536 else ends:
            yield os.fsdecode(bytes(data[start:end]))
            start = int(end)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.column.find(path) >= 0

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        at = self.column.find(value) if isinstance(value, str) else -1
        if at < 0 or at < start or (stop is not None and at >= stop):
            return super().index(value, start, len(self) if stop is None else stop)
        return at

    def subset(self, mask: "np.ndarray") -> "PathTexts":
        """The items where ``mask`` is true."""
        return self.column.take(mask).text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathTexts):
            return self.column == other.column
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(other) == len(self) and all(o == s for o, s in zip(other, self))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PathTexts({len(self)} paths)"

    def __reduce__(self) -> tuple[Any, ...]:
        return _texts, (self.column,)


def _texts(column: PathColumn) -> PathTexts:
    return column.text


class PathBuffer(Sequence[str]):
    """Paths appended one at a time (a tree plan's photos and files), held as :class:`PathColumn` holds them:
    their file-system bytes in one buffer and an end offset each (~8 bytes a path beyond its text, where a
    ``str`` costs ~50 more and its pointer 8); ``buffer[i]`` is the ``str`` appended, made when read.

    A ``str`` whose bytes would read back as another (a lone surrogate that is no escaped byte) is kept whole.
    :attr:`plain` says every path is UTF-8 text as it stands (no escaped byte): the byte order of the paths
    is then their ``str`` order, and :meth:`lower` bisects the bytes without making a ``str``."""

    __slots__ = ("_data", "_ends", "_whole", "plain")

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("q")
        self._whole: dict[int, str] = {}  # position -> a path its bytes do not give back
        #: every path is UTF-8 as it stands: bytes order is ``str`` order
        self.plain = True

    def append(self, path: str) -> None:
        if path.isascii():
            raw = path.encode("ascii")
        else:
            try:
                raw = path.encode("utf-8")
            except UnicodeEncodeError:  # an escaped byte (a name that is not UTF-8), or a lone surrogate
                self.plain = False
                try:
                    raw = os.fsencode(path)
                except UnicodeEncodeError:
                    raw = b""
                if os.fsdecode(raw) != path:
                    self._whole[len(self._ends)] = path
        self._data += raw
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def raw(self, i: int) -> bytes:
        """Path ``i``'s file-system bytes."""
        return bytes(self._data[self._ends[i - 1] if i > 0 else 0 : self._ends[i]])

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        if i < 0:
            i += len(self._ends)
        return self._whole.get(i) or os.fsdecode(self.raw(i))

    def __iter__(self) -> Iterator[str]:
        data, whole, start = self._data, self._whole, 0
        for i, end in enumerate(self._ends):
            yield whole.get(i) or os.fsdecode(bytes(data[start:end]))
            start = end

    def lower(self, path: str, lo: int = 0) -> int:
        """Where ``path`` would go among paths appended in ``str`` order (:func:`bisect.bisect_left` from ``lo``):
        on their bytes where both are plain UTF-8, else on the ``str`` of each probe."""
        return _lower(self, self.plain, path, lo)


class PathRows(Sequence[str]):
    """Some rows of a :class:`PathColumn` :attr:`~PathColumn.in_order` whose paths are all UTF-8 as they stand
    (:func:`utf8`), appended in ascending order and read as ``str``: what a tree plan of the index's photos
    holds for their paths, 4 bytes a photo (the bytes stay in the column), where a buffer of its own held
    each path's bytes again. In ``str`` order, as :class:`PathBuffer` with the same :meth:`lower`."""

    __slots__ = ("column", "rows", "_data", "_ends")

    def __init__(self, column: PathColumn) -> None:
        self.column = column
        self.rows = array("i")
        # read as plain memory (a plan reads each path ~12 times: NumPy's scalars were a third of its time)
        self._data = memoryview(column._data)
        self._ends = np.ascontiguousarray(column._ends, dtype=np.int64).data

    def append(self, row: int) -> None:
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def _slice(self, i: int) -> memoryview:
        row = self.rows[i]
        return self._data[self._ends[row - 1] if row > 0 else 0 : self._ends[row]]

    def raw(self, i: int) -> bytes:
        """Path ``i``'s file-system bytes."""
        return bytes(self._slice(i))

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return str(self._slice(i), _FS_ENCODING, _FS_ERRORS)  # as os.fsdecode, without a copy to bytes

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self.rows)))

    def lower(self, path: str, lo: int = 0) -> int:
        """As :meth:`PathBuffer.lower`."""
        return _lower(self, True, path, lo)


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def utf8(column: PathColumn) -> bool:
    """Whether every path of ``column`` is UTF-8 as it stands (none holds an escaped byte): their byte order is
    then their ``str`` order. Read in chunks of 1 MiB."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    data = memoryview(column._data)
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(data[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _lower(paths: "PathBuffer | PathRows", plain: bool, path: str, lo: int) -> int:
    """:func:`bisect.bisect_left` of ``path`` in ``paths`` (in ``str`` order) from ``lo``: on bytes where the
    paths are ``plain`` UTF-8 and ``path`` is too (no ``str`` made per probe), else on each probe's ``str``."""
    if plain and (path.isascii() or _utf8(path)):
        return bisect.bisect_left(_Bytes(paths), path.encode("utf-8"), lo)
    return bisect.bisect_left(paths, path, lo)


def _utf8(path: str) -> bool:
    """Whether ``path`` is UTF-8 text as it stands (no lone surrogate)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_HEX = frozenset("0123456789abcdef")


class ContentIds(Sequence[str]):
    """Content ids, one per photo: a 32-hex id (:func:`proxysort.store.content_hash`) as its 16 bytes; any other
    (an id stored by an older version) kept as it is, by position. ``ids[i]`` is the ``str`` the store holds."""

    __slots__ = ("_raw", "_other")

    def __init__(self, raw: "np.ndarray | None" = None, other: dict[int, str] | None = None) -> None:
        self._raw = np.zeros((0, 16), np.uint8) if raw is None else raw
        self._other = other or {}

    @classmethod
    def of(cls, ids: Iterable[str]) -> "ContentIds":
        data: bytearray = bytearray()
        other: dict[int, str] = {}
        for n, cid in enumerate(ids):
            _add_id(data, other, n, cid)
        return cls._made(data, other)

    @classmethod
    def _made(cls, data: bytearray, other: dict[int, str]) -> "ContentIds":
        return cls(np.frombuffer(data, np.uint8).reshape(-1, 16) if data else None, other)

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> "ContentIds": ...

    def __getitem__(self, i: int | slice) -> "str | ContentIds":
        if isinstance(i, slice):
            return self.take(np.arange(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("content id index out of range")
        return self._other.get(i) or self._raw[i].tobytes().hex()

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self._other.get(i) or self._raw[i].tobytes().hex()

    def take(self, rows: "np.ndarray") -> "ContentIds":
        """The ids at ``rows`` (positions, or a boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        other = {j: self._other[int(r)] for j, r in enumerate(rows.tolist()) if int(r) in self._other} if self._other else {}
        return ContentIds(self._raw[rows], other)

    def distinct(self) -> int:
        """How many different ids there are (byte-identical photos share one), without a ``str`` per photo."""
        hexed = np.ones(len(self), bool)
        hexed[list(self._other)] = False
        whole = np.ascontiguousarray(self._raw[hexed]).view(np.dtype((np.void, 16))).ravel()
        return len(np.unique(whole)) + len(set(self._other.values()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ContentIds):
            return np.array_equal(self._raw, other._raw) and self._other == other._other
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(other) == len(self) and all(o == s for o, s in zip(other, self))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ContentIds({len(self)} ids)"


def _add_id(data: bytearray, other: dict[int, str], n: int, cid: str) -> None:
    """Id ``n`` appended: its 16 bytes, or 16 zeros and the id itself in ``other``."""
    if len(cid) == 32 and _HEX.issuperset(cid):
        data += bytes.fromhex(cid)
    else:
        data += bytes(16)
        other[n] = cid


def columns(pairs: Iterable[tuple[str, str]]) -> tuple[PathColumn, ContentIds]:
    """The paths and content ids of ``(path, content id)`` pairs as two columns, the pairs read once."""
    data: bytearray = bytearray()
    other: dict[int, str] = {}

    def paths() -> Iterator[str]:
        for n, (path, cid) in enumerate(pairs):
            _add_id(data, other, n, cid)
            yield path

    column = PathColumn.of(paths())
    return column, ContentIds._made(data, other)


def texts_of(paths: Sequence[str | os.PathLike[str]]) -> Sequence[str]:
    """``paths`` as ``str``: a column's own view (nothing made per photo until read), else a list of them."""
    return paths.text if isinstance(paths, PathColumn) else [os.fspath(p) for p in paths]


class IdsByPath(Mapping[str, str]):
    """photo path -> content id, read from two columns in the same order (a path found by bisection when
    ``paths`` is in order): what the tree looks each photo's id up in, with no dict of N entries."""

    def __init__(self, paths: PathColumn, ids: Sequence[str]) -> None:
        if len(ids) != len(paths):
            raise ValueError("`ids` needs one content id per path")
        self.paths, self.ids = paths, ids
        self._hashes: np.ndarray | None = None
        self._rows: np.ndarray | None = None

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """Every path's ``hash`` in order and the row of each (16 bytes a photo), made on the first look-up: a
        look-up is then one ``searchsorted`` and one comparison (bisecting the paths took ~30 µs, minutes at 10M)."""
        if self._hashes is None or self._rows is None:
            hashes = np.fromiter((hash(p) for p in self.paths.text), np.int64, len(self.paths))
            self._rows = np.argsort(hashes, kind="stable")
            self._hashes = hashes[self._rows]
        return self._hashes, self._rows

    def __getitem__(self, path: str) -> str:
        if isinstance(path, str):
            hashes, rows = self._table()
            h = hash(path)
            at = int(np.searchsorted(hashes, h))
            while at < len(hashes) and hashes[at] == h:
                row = int(rows[at])
                if self.paths.str_at(row) == path:
                    return self.ids[row]
                at += 1
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths.text)

    def __len__(self) -> int:
        return len(self.paths)

    def values(self) -> "ValuesView[str]":
        return _Values(self)


class _Values(ValuesView[str]):
    """The ids in the paths' order, read from their column (not looked up path by path)."""

    _mapping: IdsByPath

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping.ids)
