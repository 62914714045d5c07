"""Per-photo row matrices that need not sit in memory whole: walked a block at a time, made whole on demand.

Why: at archive scale (issue 25) the N×512 float32 image vectors are 2 KB per photo, 20 GB at 10M photos,
while the default sort (zero-shot scores over K words, k-means on N×2K, names from N×K similarities)
needs only one pass over them. Each class here stands for such a matrix without holding it:

* :class:`StoredRows` – the index's vectors, read from the store in path order a block at a time;
* :class:`UnitRows` – another row matrix scaled to unit rows block by block (the learners' normalisation);
* :class:`PickedRows` – ``table[index]``: each photo's row of a small table (a zero-shot photo's prompt
  is the text feature of its nearest word, so N×512 prompts are N indices into K rows);
* :class:`HalfRows` – an archive's clustered feature kept in float16, its columns scaled on reading (half the
  bytes of float32: :func:`proxysort.learn.core.imagemix` above :data:`proxysort.learn.core.HALF_ROWS` photos).

Each has ``shape``, ``ndim``, ``len()``, :meth:`blocks`, :meth:`map_blocks` (a function of each block,
where the rows are), :meth:`subset` (a boolean mask) and
``__array__``, which makes the whole matrix for a method that needs every row at once (the learned modes
do); :func:`blocks` and :func:`subset` treat a plain array the same way. Blocks are computed row by row,
so every number equals the whole matrix's; a matrix of at most :data:`BLOCK` rows is one block, exactly
the computation made before these existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar, Union

from proxysort.pathcolumn import PathTexts

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.learn.textonly import MixRows

#: Rows per block: 16k rows of 512 float32 numbers are 32 MB, a bounded share of any run's memory.
BLOCK = 16384
T = TypeVar("T")


class _Lazy:
    """What every lazy row matrix shares: its shape, and the whole matrix made from its blocks on demand."""

    shape: tuple[int, int]

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def blocks(self, size: int = BLOCK) -> Iterator["np.ndarray"]:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def map_blocks(self, fn: Callable[..., T], args: tuple, size: int = BLOCK) -> Iterator[T]:
        """``fn(block, *args)`` of every block, in order: here, in this process (rows that live where other
        processes can read them may run it there: :class:`proxysort.distributed.scoring.RayRows`)."""
        for block in self.blocks(size):
            yield fn(block, *args)

    def __array__(self, dtype: object = None, copy: object = None) -> "np.ndarray":
        import numpy as np

        out = np.empty(self.shape, np.float32)
        start = 0
        for block in self.blocks():
            out[start : start + len(block)] = block
            start += len(block)
        return np.asarray(out, dtype=dtype)  # type: ignore[call-overload]


class StoredRows(_Lazy):
    """The float32 unit vectors of ``paths`` as the store holds them, in ``paths``' order; every path must
    have a vector (the index found them all). A block that comes back short means the store lost a vector
    since (another run swept it): a :class:`~proxysort.errors.CacheError`, never rows out of line."""

    def __init__(self, store_file: Path, paths: Sequence[str], dim: int) -> None:
        # The index's own column of paths is held as it is (a view of one buffer); any other sequence is copied.
        self.paths: Sequence[str] = paths if isinstance(paths, PathTexts) else list(paths)
        self.store_file, self.shape = Path(store_file), (len(paths), dim)

    def blocks(self, size: int = BLOCK) -> Iterator["np.ndarray"]:
        from proxysort.errors import CacheError
        from proxysort.store import VectorStore

        with VectorStore(self.store_file, readonly=True) as store:
            for start in range(0, len(self.paths), size):
                wanted = self.paths[start : start + size]
                found, block = store.matrix_for(wanted)
                if len(found) != len(wanted):
                    raise CacheError(f"The cache at {self.store_file.parent} lost photos' vectors while this run read "
                                     "them (another run changed it); run again.")
                yield block

    def subset(self, mask: "np.ndarray") -> "StoredRows":
        return StoredRows(self.store_file, paths_where(self.paths, mask), self.shape[1])


def paths_where(paths: Sequence[str], mask: "np.ndarray") -> Sequence[str]:
    """The paths where ``mask`` is true: a column's own kind (:class:`~proxysort.pathcolumn.PathTexts`), else a list."""
    if isinstance(paths, PathTexts):
        return paths.subset(mask)
    return [p for p, keep in zip(paths, mask.tolist()) if keep]


class UnitRows(_Lazy):
    """``source``'s rows scaled to unit length, block by block, exactly as the learners normalise their
    input (:func:`proxysort.learn.textonly.unit_rows`)."""

    def __init__(self, source: "Matrix") -> None:
        self.source, self.shape = source, (int(source.shape[0]), int(source.shape[1]))

    def blocks(self, size: int = BLOCK) -> Iterator["np.ndarray"]:
        from proxysort.learn.textonly import unit_rows

        for block in blocks(self.source, size):
            yield unit_rows(block)

    def map_blocks(self, fn: Callable[..., T], args: tuple, size: int = BLOCK) -> Iterator[T]:
        return map_blocks(self.source, _unit_then, fn, *args, size=size)  # wherever the source's blocks are mapped

    def subset(self, mask: "np.ndarray") -> "UnitRows":
        return UnitRows(subset(self.source, mask))


def _unit_then(block: "np.ndarray", fn: Callable[..., T], *args: Any) -> T:
    from proxysort.learn.textonly import unit_rows

    return fn(unit_rows(block), *args)


class PickedRows(_Lazy):
    """Row ``index[i]`` of ``table`` for every photo i: N rows that cost N integers, not N×d floats."""

    def __init__(self, table: "np.ndarray", index: "np.ndarray") -> None:
        self.table, self.index = table, index
        self.shape = (len(index), int(table.shape[1]))

    def blocks(self, size: int = BLOCK) -> Iterator["np.ndarray"]:
        for start in range(0, len(self.index), size):
            yield self.table[self.index[start : start + size]]

    def subset(self, mask: "np.ndarray") -> "PickedRows":
        return PickedRows(self.table, self.index[mask])


class HalfRows(_Lazy):
    """``half`` (N×d float16) read as float32, column j times ``scale[j]``: a feature of millions of photos in
    half the bytes (issue 25). Rows picked by an index, a mask or a slice come back as float32 arrays, so the
    code that reads a few rows of the feature (a group's, the left-out photos') reads them as before.

    ``lead`` (:class:`proxysort.learn.textonly.MixRows`: the zero-shot view's ``scoremix``, made from the N×K
    cosines the result holds anyway) gives the first columns, rounded to float16 as stored columns are, and
    ``half`` holds only the rest: an archive's ``imagemix`` does not keep a second copy of what the cosines
    already say (32 bytes a photo at K = 8)."""

    def __init__(self, half: "np.ndarray", scale: "np.ndarray | None" = None, lead: "MixRows | None" = None) -> None:
        import numpy as np

        self.half, self.lead = half, lead
        self._width = 0 if lead is None else lead.width
        self.shape = (int(half.shape[0]), self._width + int(half.shape[1]))
        self.scale = np.ones(self.shape[1], np.float32) if scale is None else np.asarray(scale, np.float32)

    def __getitem__(self, rows: Any) -> "np.ndarray":
        import numpy as np

        if self.lead is None:
            out = np.asarray(self.half[rows], dtype=np.float32)
        else:
            rest = self.half[rows]
            out = np.empty((*rest.shape[:-1], self.shape[1]), np.float32)
            out[..., : self._width] = self.lead[rows].astype(np.float16)
            out[..., self._width :] = rest
        out *= self.scale
        return out

    def blocks(self, size: int = BLOCK) -> Iterator["np.ndarray"]:
        for start in range(0, self.shape[0], size):
            yield self[start : start + size]

    def subset(self, mask: "np.ndarray") -> "HalfRows":
        return HalfRows(self.half[mask], self.scale, None if self.lead is None else self.lead.subset(mask))

    def copy(self) -> "HalfRows":
        return HalfRows(self.half.copy(), self.scale.copy(), self.lead)


#: A row matrix: in memory, or one of the lazy kinds above.
Matrix = Union["np.ndarray", StoredRows, UnitRows, PickedRows, HalfRows]
#: What k-means clusters: an array, or an archive's float16 feature read a block at a time.
Features = Union["np.ndarray", HalfRows]


def blocks(rows: Matrix, size: int = BLOCK) -> Iterator["np.ndarray"]:
    """The rows of ``rows`` in order, at most ``size`` at a time (an array's as views, in its own dtype)."""
    if isinstance(rows, _Lazy):
        yield from rows.blocks(size)
        return
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def map_blocks(rows: Matrix, fn: Callable[..., T], *args: Any, size: int = BLOCK) -> Iterator[T]:
    """``fn(block, *args)`` of each block of ``rows`` (:func:`blocks`), in order: one pass over the photos
    whose per-photo work may run where the rows are (``fn`` a module-level function, its results small)."""
    if isinstance(rows, _Lazy):
        return rows.map_blocks(fn, args, size)
    return (fn(block, *args) for block in blocks(rows, size))


def subset(rows: Matrix, mask: "np.ndarray") -> Matrix:
    """The rows where ``mask`` (N booleans) is true, as lazy as ``rows`` was."""
    return rows.subset(mask) if isinstance(rows, _Lazy) else rows[mask]


def whole(rows: Matrix) -> "np.ndarray":
    """``rows`` as one array in memory (an array as it is): for a method that needs every row at once."""
    import numpy as np

    return rows if isinstance(rows, np.ndarray) else np.asarray(rows)
