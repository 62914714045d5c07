"""Write the result as folders of links (``OUT/<concept>/<cluster>/<file>``) that a re-run can replace safely.

Safety rules, in order of importance:

1. Nothing is ever written inside a photo folder: the output folder may not overlap any folder the photos
   come from, and every create and remove goes through directory descriptors opened without following
   links (:mod:`proxysort.outdir`), so a folder swapped for a symlink mid-run is never written through.
2. No last copy of a photo is ever removed: a hard link or copy whose photo left the library (deleted, or
   moved where no other link or planned photo has its bytes) is kept, said once on stderr, and marked
   ``orphan`` in the manifest. "The photo is still there" means *the same file* is at its path (device
   and inode for a hard link; size and every byte for a copy), never merely *a* file: camera counters
   reset, and a different photo arriving under a deleted one's name must not cost the old one's copy.
3. proxysort only deletes or replaces what it created. Every created file and folder is listed in the
   manifest (:mod:`proxysort.manifest`) with a fingerprint (a copy also with the SHA-256 of its bytes, so
   an edit in place that keeps size and mtime is seen); an entry is removed only if the file on disk
   still matches it. Anything else in the output folder is left alone and its name is never reused.
4. In copy and hard-link mode only files inside the photo folders are copied or linked: a photo or
   companion that is a symlink to a file elsewhere (``IMG.xmp -> /etc/passwd``, ``-> /proc/self/environ``)
   is skipped with its reason; symlink mode points at it, as a symlink does. A companion that cannot be
   read is skipped the same way, never the whole tree.
5. A crash never leaves unlisted files: the manifest is written first with the union of old and planned
   entries, then the tree is changed, then the manifest is rewritten with exactly what now exists.
6. Runs into one folder take turns (``flock`` on the folder) and each concept has its own tree:
   sorting by another concept keeps the earlier trees; re-running a concept replaces only its tree.
7. An existing, non-empty folder without a manifest is refused: it is not ours.

The same manifest file marks the folder as proxysort output, so the scanner skips it if a user ever
points proxysort at a folder that contains it.
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import os
import re
import stat
from array import array
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    Literal,
    Mapping,
    NamedTuple,
    Sequence,
    TypeVar,
    overload,
)

from proxysort.corrections import Gesture, adopt, apply, regroup
from proxysort.corrections import late as made_since
from proxysort.errors import OutputError, UsageError
from proxysort.manifest import (
    LINK_MODES,
    OUTPUT_MANIFEST,
    PAGE_FILES,
    PAGE_THUMBS,
    ConceptRun,
    ConceptTree,
    Duplicate,
    Entry,
    FileColumns,
    Manifest,
    Memory,
    is_manifest_text,
    read_manifest,
    read_manifest_at,
)
from proxysort.names import unique_names
from proxysort.outdir import DEFAULT_LOCK_TIMEOUT, PARTIAL_PREFIX, OutDir, check_path_length
from proxysort.pagefiles import remove_page
from proxysort.pathcolumn import PathBuffer, PathColumn, PathRows, PathTexts, utf8
from proxysort.plannedfiles import PlannedFiles
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "LINK_MODES", "OUTPUT_MANIFEST", "Entry", "Manifest", "TreePlan", "WriteSummary",
    "CleanSummary", "Grouped", "check_location", "check_output_folder", "clean_tree", "default_out", "make_tree", "plan_tree",
    "read_manifest", "write_tree",
]

LinkMode = Literal["symlink", "hardlink", "copy"]
_NAME_MAX_BYTES = 255
#: Names in OUT that belong to proxysort's bookkeeping, not to any tree.
_BOOKKEEPING = {OUTPUT_MANIFEST, *PAGE_FILES, PAGE_THUMBS}


# --------------------------------------------------------------------------------------------- names


def _split_ext(basename: str) -> tuple[str, str]:
    """(stem, ".ext"); a name without extension or a dotfile has no extension."""
    stem, dot, ext = basename.rpartition(".")
    return (stem, dot + ext) if stem else (basename, "")


#: Google Takeout's second photo of a name: ``IMG_1(1).jpg``, whose sidecar is ``IMG_1.jpg(1).json``.
_TAKEOUT_COPY = re.compile(r"(.*)(\(\d+\))")


def _companion_tail(photo: str, companion: str) -> str:
    """What follows the photo's name in its companion's name, so the pair stays together after renaming.

    ``IMG_1.jpg.json`` (Google Takeout) -> ``.json`` after the whole name, marked ``\0``; Takeout's copy
    ``IMG_1(1).jpg`` with ``IMG_1.jpg(1).json`` -> ``(1).json`` after ``IMG_1.jpg``, marked ``\1``, the
    name Takeout tools look for; ``IMG_1.xmp``/``IMG_1.MOV`` -> the part after the stem; anything else
    (``IMG_O1.AAE``) keeps only its extension.
    """
    if companion.casefold().startswith(photo.casefold()) and len(companion) > len(photo):
        return "\0" + companion[len(photo):]  # "\0": after the full name
    stem, ext = _split_ext(photo)
    copy = _TAKEOUT_COPY.fullmatch(stem)
    if copy and companion.casefold().startswith((copy.group(1) + ext + copy.group(2)).casefold()):
        return "\1" + companion[len(copy.group(1) + ext):]  # "\1": after the name without its "(1)"
    if companion.casefold().startswith(stem.casefold() + ".") or companion.casefold().startswith(stem.casefold() + "_"):
        return companion[len(stem):]
    return _split_ext(companion)[1] or ".companion"


def _fit(stem: str, tail: str) -> str:
    """``stem + tail``, the stem cut to fit the name limit in bytes on disk (names that are not UTF-8
    hold surrogate escapes, one byte each: os.fsencode counts them)."""
    room = _NAME_MAX_BYTES - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem + tail


def _file_names(
    basename: str, companions: Sequence[str], taken: set[str], prefer: str | None = None
) -> tuple[str, list[str]]:
    """The photo's own file name (or ``stem-2.ext`` when taken) and its companions' names beside it.

    Every name of the set must be free, so a photo and its sidecars move to ``-2`` together; a Takeout
    copy ``IMG_1(1).jpg`` becomes ``IMG_1-2(1).jpg`` beside ``IMG_1-2.jpg(1).json``, still Takeout's
    pattern. Companions whose names would clash (``IMG.xmp`` and ``IMG.XMP`` from two editors, many
    ``.json`` files) each get their own: ``IMG.2.XMP``, still starting with the photo's stem so the pair
    stays visible; none is dropped.
    ``prefer`` is the name the photo's link already has, kept when it is still free (a link never changes
    name).
    """
    stem, ext = _split_ext(basename)
    copy = _TAKEOUT_COPY.fullmatch(stem)
    core, number = (copy.group(1), copy.group(2)) if copy else (stem, "")
    tails = [_companion_tail(basename, c) for c in companions]
    n = 1
    if prefer is not None and prefer != basename:
        prefer_stem = _split_ext(prefer)[0]
        if number and prefer_stem.endswith(number):
            prefer_stem = prefer_stem[: -len(number)]
        digits = prefer_stem.rpartition("-")[2]
        if digits.isdigit() and int(digits) > 1 and _fit(f"{core}-{digits}", number + ext) == prefer:
            n = int(digits)
        elif not companions and prefer.casefold() not in taken:  # the user renamed the link: theirs to name
            taken.add(prefer.casefold())
            return prefer, []
    while True:
        c = core if n == 1 else f"{core}-{n}"
        name = _fit(c, number + ext) if n > 1 else basename
        s = _split_ext(name)[0]
        names: list[str] = []
        seen = {name.casefold()}
        for tail in tails:
            if tail.startswith("\0"):
                base, rest = name, tail[1:]
            elif tail.startswith("\1"):
                base, rest = c, ext + tail[1:]
            else:
                base, rest = s, tail
            cand, extra = _fit(base, rest), 1
            while cand.casefold() in seen:
                extra += 1
                cand = _fit(base, f".{extra}{rest}")
            seen.add(cand.casefold())
            names.append(cand)
        if not (seen & taken):
            taken |= seen
            return name, names
        n += 1


def album(source: str, roots: Sequence[Path]) -> tuple[str, ...]:
    """Where a photo came from: the folders between the photo root holding it (the deepest, when roots
    nest) and the photo, as ``("2019", "Summer holiday")``; empty for a photo directly in a root or in
    none. Names are raw here: :func:`_plan` makes each a safe folder name."""
    folder = os.path.dirname(source)
    holders = [str(r) for r in roots if folder == str(r) or folder.startswith(str(r).rstrip(os.sep) + os.sep)]
    if not holders:
        return ()
    rel = os.path.relpath(folder, max(holders, key=len))
    return () if rel == "." else tuple(rel.split(os.sep))


# ------------------------------------------------------------------------------------------ location


def default_out(source: Path) -> Path:
    """``<photos>-sorted`` beside the photo folder: outside it, and easy to find."""
    source = Path(os.path.abspath(source))
    return source.parent / f"{source.name}-sorted"


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_location(out: Path, photo_roots: Sequence[Path], concept_dirs: Sequence[str] = ()) -> None:
    """Refuse an output folder that would put anything inside a photo folder.

    ``out`` may contain a photo folder (``--out .`` from the folder above the photos) as long as no concept
    folder we write is, contains, or lies inside that photo folder.
    """
    real_out = _real(out)
    for root in photo_roots:
        real_root = _real(root)
        if _inside(real_out, real_root):
            raise OutputError(
                f"The output folder {out} is inside the photo folder {root}; choose an `out` outside it "
                f"(default: {default_out(root)})."
            )
        for name in concept_dirs:
            target = real_out / name
            if _inside(real_root, target):
                raise OutputError(
                    f"Writing {target} would write into the photo folder {root}; choose another `out`."
                )


# ------------------------------------------------------------------------------------------ checks


def check_output_folder(out: Path, photo_roots: Sequence[Path] = (), *, cache_dir: Path | None = None) -> Manifest | None:
    """Every check that needs no clustering result, so the CLI can refuse a bad ``--out`` before minutes
    of work. Returns the previous run's manifest (``None`` for a new or empty folder)."""
    out = Path(os.path.abspath(out))
    check_path_length(out)
    check_location(out, photo_roots)
    if cache_dir is not None and _inside(_real(cache_dir), _real(out)):
        raise OutputError(
            f"The cache folder {cache_dir} is inside the output folder {out}; choose a `cache_dir` outside it."
        )
    _check_writable(out)
    with OutDir.open(out) as od:
        if not od.exists:
            return None
        old = read_manifest_at(od)
        if old is None and _foreign_names(od):
            raise OutputError(
                f"{out} already has files that proxysort did not create; choose an empty or new `out` folder."
            )
        return old


def _check_writable(out: Path) -> None:
    """A read-only file system or folder is one sentence now, not an error after all the work."""
    probe = out
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    try:
        readonly = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return  # the real operation will say what is wrong
    if readonly:
        raise OutputError(f"{out} is on a read-only file system; choose an `out` where files can be written.")
    if os.path.isdir(probe) and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{probe} cannot be written (permission denied); choose another `out`.")


def _foreign_names(od: OutDir) -> list[str]:
    """Top-level names that are not proxysort's bookkeeping (a crash may leave the lock or a partial file)."""
    return [n for n in od.listdir("") if n not in _BOOKKEEPING and not n.startswith(PARTIAL_PREFIX)]


# ------------------------------------------------------------------------------------------ planning


class Grouped(Sequence[tuple[str, str]]):
    """A concept's (photo, group folder) pairs, made when read from the photos' paths, each photo's group number
    and the groups' folder names: a tree's input of millions of photos holds no tuple per photo (issue 25).
    ``rows`` (positions in ``photos``) keeps only those photos, in that order; ``None`` keeps every one."""

    def __init__(self, photos: Sequence[str | Path], groups: "Sequence[int] | np.ndarray", names: Sequence[str],
                 rows: Sequence[int] | None = None) -> None:
        if len(groups) != len(photos):
            raise ValueError("`groups` needs one group number per photo")
        self._photos, self._groups, self._names, self._rows = photos, groups, [str(n) for n in names], rows

    def __len__(self) -> int:
        return len(self._photos) if self._rows is None else len(self._rows)

    @overload
    def __getitem__(self, i: int) -> tuple[str, str]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, str]]: ...

    def __getitem__(self, i: int | slice) -> tuple[str, str] | list[tuple[str, str]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        j = i if self._rows is None else self._rows[i]
        return str(self._photos[j]), self._names[self._groups[j]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        names = self._names
        if self._rows is None:
            return ((str(p), names[g]) for p, g in zip(self._photos, self._groups))
        return ((str(self._photos[j]), names[self._groups[j]]) for j in self._rows)

    @property
    def photos(self) -> Sequence[str | Path]:
        return self._photos

    def positions(self) -> Iterable[int]:
        """The photos' positions in :attr:`photos`, in the order the pairs come."""
        return range(len(self._photos)) if self._rows is None else self._rows



@dataclass(frozen=True)
class TreeInputs:
    """What a run asks for; planning it again under the lock gives the plan that is carried out."""

    groups: Mapping[str, Sequence[tuple[str, str]]]  # concept -> [(source path, cluster name)]
    link: str
    photo_roots: tuple[Path, ...] = ()
    companions: Mapping[str, Sequence[str]] = field(default_factory=dict)  # photo -> sidecars, clips, RAW twin
    content_ids: Mapping[str, str] = field(default_factory=dict)  # photo -> content hash
    keep_duplicates: bool = False
    runs: Mapping[str, ConceptRun] = field(default_factory=dict)  # concept -> how its tree is made
    keep_folders: bool = False  # each photo under its album: OUT/<concept>/<group>/<album path>/<photo>
    memories: Mapping[str, Memory] = field(default_factory=dict)  # concept -> what its tree keeps (stable.py)
    basis: tuple[Gesture, ...] = ()  # the user's gestures the groups were made with (corrections.py)


@dataclass
class TreePlan:
    """Everything a run will do to the output folder, computed without touching it."""

    out: Path
    link: str
    files: PlannedFiles  # what the re-run concepts' trees will hold (orphans kept included)
    dirs: list[str]
    keep: _Kept  # planned paths already on disk, exactly as planned
    remove: Sequence[Entry]  # old entries no longer planned (or planned differently), verified ours
    foreign: list[str]  # old entries someone changed: left alone and dropped from the manifest
    old: Manifest | None
    dest: Mapping[tuple[str, str], str]  # (concept, source path) -> path under out
    concept_dirs: dict[str, str]  # concept -> its folder name
    inputs: TreeInputs | None = None
    carried: Sequence[Entry] = field(default_factory=list)  # other concepts' files: untouched
    carried_dirs: list[str] = field(default_factory=list)
    concepts: list[ConceptTree] = field(default_factory=list)  # every tree the folder will hold
    orphans: list[Entry] = field(default_factory=list)  # last copies of photos that left the library: kept
    vanished: list[str] = field(default_factory=list)  # photos (or companions) gone since they were indexed
    duplicates: list[Duplicate] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (photo or companion, why it was not linked)
    # photo or companion -> (st_dev, st_ino) when planned: what a copy or hard link must turn out to be made of
    source_ids: Mapping[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def to_create(self) -> list[Entry]:
        return list(self.iter_create())

    def iter_create(self) -> Iterator[Entry]:
        """:attr:`to_create` one entry at a time: a tree of millions of files is never a list of them."""
        kept, files = self.keep.flags, self.files  # the orphans kept are not rows: never made
        return (e for row in range(files.rows) if not kept[row] and (e := files.entry(row)) is not None)

    def count_create(self) -> int:
        """``len(to_create)`` without making the entries: the kept paths and the orphans are planned files too."""
        return len(self.files) - len(self.keep) - len(self.orphans)

    def describe(self) -> list[str]:
        """Human-readable lines for ``--dry-run`` (stderr), in the units of the run's other lines: each
        group counts its *photos*, as ``color: 60 photos in 6 groups: red (15), ...`` does, then the files
        that show them (a link per photo, byte-identical copies once, companions beside their photo)."""

        def group(rel: str) -> str:  # OUT/<concept>/<group>/..., whatever album folders lie below
            return "/".join(rel.split("/", 2)[:2])  # planned paths are normalised

        photos: dict[str, int] = {}
        for rel in self.dest.values():
            photos[group(rel)] = photos.get(group(rel), 0) + 1
        links: dict[str, int] = {}
        companions: dict[str, int] = {}
        for e in self.files:
            if not e.orphan:
                counts = links if e.companion_of is None else companions
                counts[group(e.path)] = counts.get(group(e.path), 0) + 1
        lines = [f"output folder: {self.out}"]
        for g in sorted(photos):
            n, shown, beside = photos[g], links.get(g, 0), companions.get(g, 0)
            line = f"  {g}/  {_count(n, 'photo')}: {_count(shown, self.link)}"
            if n > shown:
                line += f", {_count(n - shown, 'byte-identical copy', 'byte-identical copies')} shown once"
            if beside:
                line += f", {_count(beside, 'companion file')} beside them"
            lines.append(line)
        kept_trees = sorted({c.dir for c in self.concepts} - set(self.concept_dirs.values()))
        if kept_trees:
            lines.append(f"  kept from earlier runs: {', '.join(t + '/' for t in kept_trees)}")
        new_companions = sum(1 for e in self.iter_create() if e.companion_of is not None)
        creates = self.count_create()
        lines.append(
            f"would create {_count(creates, 'file')} ({creates - new_companions} for photos, "
            f"{new_companions} companions), keep {len(self.keep)}, remove {len(self.remove)} "
            f"(every file listed in {OUTPUT_MANIFEST})"
        )
        lines += _notes(self.orphans, self.duplicates, self.vanished, self.out)
        lines += [f"would skip {path}: {reason}" for path, reason in self.refused]
        return lines


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 photo``, ``3 photos``: a count with its unit, so every summary says what it counts."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _notes(orphans: Sequence[Entry], duplicates: Sequence[Duplicate], vanished: Sequence[str], out: Path) -> list[str]:
    lines = []
    if orphans:
        lines.append(
            f"kept {len(orphans)} file(s) that are the last copy of a photo no longer in the photo folder "
            f"(e.g. {out / orphans[0].path}); marked 'orphan' in {OUTPUT_MANIFEST}"
        )
    if duplicates:
        lines.append(f"{len(duplicates)} byte-identical duplicate photo(s) linked once (listed in {OUTPUT_MANIFEST})")
    if vanished:
        lines.append(f"{len(vanished)} photo(s) disappeared before they could be linked (e.g. {vanished[0]})")
    return lines


class _Stat(NamedTuple):
    """What planning needs of a photo's ``os.stat``: four numbers, not an ``os.stat_result`` (about 560 bytes
    with its numbers), since a plan holds one per photo (issue 25)."""

    st_size: int
    st_mtime_ns: int
    st_dev: int
    st_ino: int


class _Stats(Mapping[str, _Stat]):
    """The planned photos' :class:`_Stat` numbers as four machine-integer columns beside their paths in sorted
    order, the paths in one buffer (:class:`~proxysort.pathcolumn.PathBuffer`), looked up by bisection: about
    40 bytes a photo and its path's bytes, where a dict of ``_Stat`` tuples held about 300 and a ``str`` per
    photo ~60 more (issue 25). Read-only; ``get``, ``in`` and ``items`` work as on the dict it replaces. A
    photo's position is its rank in path order: the plan holds positions, not paths.

    Without ``numbers`` only the paths are kept (a symlink tree with no hard link or copy on disk reads a
    photo's numbers only to compare two byte-identical candidates): a lookup then takes the photo as it is
    now, size -1 when it is gone (no file has that size, so no comparison passes)."""

    def __init__(self, numbers: bool = True, column: PathColumn | None = None) -> None:
        # photos from ``column`` (in sorted order, every path UTF-8): each held as its row there; else their bytes
        self._paths: PathBuffer | PathRows = PathBuffer() if column is None else PathRows(column)
        self._columns = (array("Q"), array("q"), array("Q"), array("Q")) if numbers else ()  # size, mtime_ns, dev, ino

    def append(self, path: str, st: _Stat, row: int = -1) -> None:
        """Add ``path`` (after every path added so far, in sorted order; ``row``: its row in the column)."""
        assert not self._paths or self._paths[-1] < path
        if isinstance(self._paths, PathRows):
            self._paths.append(row)
        else:
            self._paths.append(path)
        for column, value in zip(self._columns, st):
            column.append(value)

    def position(self, path: object) -> int | None:
        """Where ``path`` is in sorted order (``None``: not planned)."""
        if not isinstance(path, str):
            return None
        i = self._paths.lower(path)
        return i if i < len(self._paths) and self._paths[i] == path else None

    def finder(self) -> Callable[[str], int]:
        """:meth:`position` (-1: not planned) for paths asked in sorted order, as each concept's photos come: a
        walk along the paths, about one ``str`` made per photo, where a bisection made ~24; a path asked out of
        order, or far ahead, is bisected for."""
        paths, n = self._paths, len(self._paths)
        state: list[Any] = [0, None, None]  # position, the path there (None: not read yet), the path asked last

        def find(path: str) -> int:
            j, here, last = state
            if last is not None and path < last:
                j, here = paths.lower(path), None
            steps = 0
            while j < n:
                if here is None:
                    here = paths[j]
                if here >= path:
                    break
                j, here, steps = j + 1, None, steps + 1
                if steps == 8:  # far ahead: bisect the rest
                    j = paths.lower(path, j)
                    here = None if j >= n else paths[j]
                    break
            state[:] = j, here, path
            return j if j < n and here == path else -1

        return find

    def __contains__(self, path: object) -> bool:
        return self.position(path) is not None

    @property
    def paths(self) -> Sequence[str]:
        """The paths in sorted order (a buffer: a ``str`` made when read)."""
        return self._paths

    def path_at(self, i: int) -> str:
        return self._paths[i]

    def at(self, i: int) -> _Stat:
        """The numbers of the photo at position ``i``."""
        if not self._columns:
            return _source_stat(self._paths[i]) or _Stat(-1, 0, 0, 0)
        return _Stat(*(column[i] for column in self._columns))

    def __getitem__(self, path: str) -> _Stat:
        i = self.position(path)
        if i is None:
            raise KeyError(path)
        return self.at(i)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class _OutOfOrder(Exception):
    """A concept's photos did not come in sorted order: :func:`_merged` cannot merge them (the plan sorts them)."""


_Item = TypeVar("_Item", str, int)


def _in_order(items: Iterable[_Item]) -> Iterator[_Item]:
    """``items`` as they come; :class:`_OutOfOrder` at the first one less than the one before."""
    last: _Item | None = None
    for item in items:
        if last is not None and item < last:
            raise _OutOfOrder(item)
        yield item
        last = item


def _merged(streams: Iterable[Iterable[_Item]]) -> Iterator[_Item]:
    """Every item of ``streams`` (each a concept's photos in sorted order, as the index's column gives them) once,
    in sorted order: merged as they come, where a set and a sorted list of the photos held ~N strings twice
    (issue 25). :class:`_OutOfOrder` when a stream is not in order."""
    last: _Item | None = None
    for item in heapq.merge(*(_in_order(items) for items in streams)):
        if item != last:
            yield item
            last = item


def _one_column(groups: Iterable[Sequence[tuple[str, str]]]) -> PathColumn | None:
    """The index's column every concept's photos are read from (each a :class:`Grouped` of its ``str`` view),
    when its paths are in sorted order and all UTF-8 (byte order is then ``str`` order); else ``None``."""
    column: PathColumn | None = None
    for g in groups:
        if not (isinstance(g, Grouped) and isinstance(g.photos, PathTexts)) or g.photos.column is not (column or g.photos.column):
            return None
        column = g.photos.column
    return column if column is not None and column.in_order and utf8(column) else None


def _sharing(photos: array, present: _Stats, content_ids: Mapping[str, str]) -> set[int]:
    """The ``photos`` (positions in ``present``) whose content id another of them may share (the same ``hash``):
    the only ones a group can link once for two. The rest need no id held while the group is planned (a dict
    of every photo's id held a ``str`` and an entry per photo of a group; issue 25)."""
    import numpy as np

    hashes = np.zeros(len(photos), np.int64)
    has = np.zeros(len(photos), bool)
    for j, i in enumerate(photos):
        cid = content_ids.get(present.path_at(i))
        if cid:
            hashes[j], has[j] = hash(cid), True
    rows = np.flatnonzero(has)
    order = rows[np.argsort(hashes[rows], kind="stable")]
    same = hashes[order][1:] == hashes[order][:-1]
    twice = np.zeros(len(order), bool)
    twice[1:] |= same
    twice[:-1] |= same
    return set(np.frombuffer(photos, np.int32)[order[twice]].tolist())


def _distinct(positions: array) -> array:
    """``positions`` sorted, each once (a photo listed twice in a group is linked once)."""
    import numpy as np

    return array("i", np.unique(np.frombuffer(positions, dtype=np.int32)).tobytes())


class _Dest(Mapping[tuple[str, str], str]):
    """(concept, photo) -> the photo's path in OUT, held per concept as one row number per planned photo (4 bytes
    in the order of ``photos``): a tree of millions of photos holds no pair, string or dict entry per photo
    (issue 25). Paths are the planned rows' (:meth:`PlannedFiles.path`)."""

    def __init__(self, photos: _Stats, files: PlannedFiles) -> None:
        self._photos, self._files = photos, files
        self._rows: dict[str, array] = {}

    def add(self, concept: str, photo: int, row: int) -> None:
        """The planned photo at position ``photo`` appears in ``concept``'s tree as planned row ``row``."""
        rows = self._rows.get(concept)
        if rows is None:
            rows = self._rows[concept] = array("i", [-1]) * len(self._photos)
        rows[photo] = row

    def _row(self, key: object) -> int:
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], str)):
            raise KeyError(key)
        concept, source = key
        i = self._photos.position(source)
        rows = self._rows.get(concept)
        row = -1 if i is None or rows is None else rows[i]
        if row < 0:
            raise KeyError(key)
        return row

    def __getitem__(self, key: tuple[str, str]) -> str:
        return self._files.path(self._row(key))

    def __contains__(self, key: object) -> bool:
        try:
            self._row(key)
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((c, self._photos.path_at(i)) for c, rows in self._rows.items() for i, row in enumerate(rows) if row >= 0)

    def __len__(self) -> int:
        return sum(len(rows) - rows.count(-1) for rows in self._rows.values())


class _SourceIds(Mapping[str, tuple[int, int]]):
    """(st_dev, st_ino) of each planned photo and companion, read from their stat records (no dict of pairs
    per photo): what a copy or hard link must turn out to be made of."""

    def __init__(self, photos: Mapping[str, _Stat], companions: Mapping[str, _Stat | None]) -> None:
        self._photos, self._companions = photos, companions

    def __getitem__(self, path: str) -> tuple[int, int]:
        st = self._photos.get(path) or self._companions.get(path)
        if st is None:
            raise KeyError(path)
        return st.st_dev, st.st_ino

    def __iter__(self) -> Iterator[str]:
        yield from self._photos
        yield from (c for c, st in self._companions.items() if st is not None and c not in self._photos)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _OldRows(Sequence[Entry]):
    """Some of the old manifest's files, by their rows in it (4 bytes a file): what a re-run keeps aside of an
    old tree of millions of files (carried, to remove, announced) without an ``Entry`` per file (issue 25). Each
    entry is made when read; equal to any sequence of the same entries, as the list it replaces was."""

    def __init__(self, files: Sequence[Entry], rows: array) -> None:
        self._files, self._rows = files, rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> Entry: ...

    @overload
    def __getitem__(self, i: slice) -> list[Entry]: ...

    def __getitem__(self, i: int | slice) -> Entry | list[Entry]:
        if isinstance(i, slice):
            return [self._files[row] for row in self._rows[i]]
        return self._files[self._rows[i]]

    def __iter__(self) -> Iterator[Entry]:
        return (self._files[row] for row in self._rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def in_path_order(self) -> Iterator[Entry]:
        """The entries sorted by path, those of one path in the order listed (as a stable sort of them): each
        folder's rows sorted by name, one folder at a time, and the folders merged; no list of every entry."""
        path = _path_of(self._files)
        folders: dict[str, array] = {}
        for row in self._rows:
            folders.setdefault(path(row).rpartition("/")[0], array("I")).append(row)
        ordered = [array("I", sorted(rows, key=path)) for rows in folders.values()]
        del folders
        return heapq.merge(*((self._files[row] for row in rows) for rows in ordered), key=_entry_path)


def _entry_path(entry: Entry) -> str:
    return entry.path


def _linked_key(entry: Entry) -> str:
    """What finds an old photo's link by the folder it is in and its photo (NUL is in no path)."""
    return f"{entry.path.rpartition('/')[0]}\0{entry.source}"


def _path_of(files: Sequence[Entry]) -> Callable[[int], str]:
    """The path of a file of ``files`` by its position, without its entry where the files are columns."""
    return files.path if isinstance(files, FileColumns) else (lambda row: files[row].path)


class _ByKey:
    """Rows found by a string key (a path in OUT; a folder and a photo) without a set or dict of the strings:
    each key's ``hash`` beside its row, sorted (12 bytes a row, where a dict entry and its string held ~150;
    issue 25). A lookup compares the key itself with each row of the same hash, so collisions cost nothing
    but time; the rows of one key come in the order given."""

    def __init__(self, rows: array, key: Callable[[int], str]) -> None:
        import numpy as np

        hashes = np.fromiter((hash(key(row)) for row in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._rows = np.frombuffer(rows, dtype=np.uint32)[order] if len(rows) else np.zeros(0, np.uint32)
        self._key = key

    def find(self, key: str) -> list[int]:
        """The rows whose key is ``key``, in the order given."""
        h = hash(key)
        i = int(self._hashes.searchsorted(h))
        found = []
        while i < len(self._hashes) and self._hashes[i] == h:
            row = int(self._rows[i])
            if self._key(row) == key:
                found.append(row)
            i += 1
        return found


class _Kept(AbstractSet[str]):
    """The planned paths already on disk exactly as planned, held as a flag per planned row (1 byte, where a
    set of the paths held ~130; issue 25): a set of paths to read."""

    def __init__(self, files: PlannedFiles, flags: bytearray) -> None:
        self._files, self.flags = files, flags
        self._count = len(flags) - flags.count(0)
        self._paths: set[str] | None = None  # made when first asked by path (the run itself asks by row)

    def __contains__(self, path: object) -> bool:
        if self._paths is None:
            self._paths = set(self)
        return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return (self._files.path(row) for row, kept in enumerate(self.flags) if kept)

    def __len__(self) -> int:
        return self._count


def _source_stat(source: str) -> _Stat | None:
    """The photo as it is now (following its own links); ``None`` when it is gone or not a file."""
    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return None
    return _Stat(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _numbers(link: str, st: _Stat | None) -> tuple[int, int] | None:
    """What an entry of ``link`` records of a source whose numbers are ``st``: a hard link its device and
    inode, a copy its size and mtime, a symlink nothing (its text is worked out from the path)."""
    if link == "symlink":
        return None
    assert st is not None  # planned files are present
    return (st.st_dev, st.st_ino) if link == "hardlink" else (st.st_size, st.st_mtime_ns)


def _top(rel: str) -> str:
    """The top folder of a normalised path in OUT (planned, or read from a manifest, which accepts only
    normalised ones: :func:`proxysort.manifest.safe_relative`), without a ``PurePosixPath`` per file: its
    parts are interned, and a tree of millions of files would grow the interpreter's table by as many."""
    return rel.partition("/")[0]


def _open_ours(od: OutDir, rel: str) -> int | None:
    """A read descriptor on regular file ``rel`` in OUT, looked up without following links (None: cannot)."""
    try:
        return od.open_regular(rel)
    except OSError:
        return None


def _same_bytes(od: OutDir, rel: str, source: str) -> bool:
    """Whether our file ``rel`` and the photo ``source`` hold identical bytes (chunked, never follows ``rel``)."""
    from proxysort.safeopen import open_regular

    fd = _open_ours(od, rel)
    if fd is None:
        return False
    try:
        with os.fdopen(fd, "rb") as ours, open_regular(source) as theirs:
            while True:
                a, b = ours.read(1 << 20), theirs.read(1 << 20)
                if a != b:
                    return False
                if not a:
                    return True
    except OSError:
        return False


def _files_equal(a: str, b: str) -> bool:
    from proxysort.safeopen import open_regular

    try:
        with open_regular(a) as fa, open_regular(b) as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def content_is_ours(od: OutDir, entry: Entry) -> bool:
    """Whether a copy still holds the bytes proxysort wrote (its recorded SHA-256).

    Entries without a hash (other kinds, manifests written before it) pass: for a copy, removal also
    needs :func:`_is_last_copy` to be false, which compares every byte with the photo, so an edited copy
    of an old manifest is kept as the last copy of what it now holds.
    """
    if entry.kind != "copy" or entry.sha256 is None:
        return True
    fd = _open_ours(od, entry.path)
    if fd is None:
        return False
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == entry.sha256


def _same_photo(od: OutDir, entry: Entry, *, thorough: bool = True) -> bool:
    """Whether the file at ``entry.source`` is still the one ``entry`` was made from: identity, not name.

    A hard link: the same device and inode. A copy: the same size and mtime, and (``thorough``) the same
    bytes as the copy. ``thorough=False`` is the cheap test used while planning, where a kept entry is
    never removed; every entry that is to be removed is then checked thoroughly.
    """
    src = _source_stat(entry.source)
    if src is None:
        return False
    if entry.kind == "hardlink":
        return (src.st_dev, src.st_ino) == (entry.dev, entry.ino)
    if entry.kind != "copy":
        return True
    if (src.st_size, src.st_mtime_ns) != (entry.size, entry.mtime_ns):
        return False
    return not thorough or _same_bytes(od, entry.path, entry.source)


def _is_last_copy(od: OutDir, entry: Entry, planned: Mapping[str, _Stat], *, thorough: bool = True) -> bool:
    """True when removing ``entry`` could lose a photo: it is a hard link or copy, the photo's own path no
    longer holds *that* photo (:func:`_same_photo`), no other hard link to it exists, and no photo planned
    in this run has its bytes."""
    if entry.kind == "symlink":
        return False
    if _same_photo(od, entry, thorough=thorough):
        return False
    st = od.lstat(entry.path)
    if st is None:
        return False
    if entry.kind == "hardlink" and st.st_nlink > 1:
        return False
    return not any(s.st_size == st.st_size and _same_bytes(od, entry.path, src) for src, s in planned.items())


#: System trees whose files are never copied or hard-linked into OUT, whatever links to them.
_SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def _leak_reason(source: str, real_roots: Sequence[Path]) -> str | None:
    """Why copying or hard-linking ``source`` would pull a file from outside the photo folders into OUT
    (``None`` when it lies inside them). Only the resolved path counts: a link inside the photos may
    point anywhere."""
    real = _real(source)
    inside = any(_inside(real, root) for root in real_roots)
    if any(_inside(real, tree) for tree in _SYSTEM_TREES) and not (inside and real.parts[1] == "dev"):
        # (a photo folder on /dev/shm is a folder like any other; /proc and /sys never hold photos)
        return f"it links to the system file {real}, outside the photo folders; it is not copied or hard-linked"
    if real_roots and not inside:
        return f"it links to {real}, outside the photo folders; it is not copied or hard-linked"
    return None


class _Unlinkable(Exception):
    """One photo or companion cannot be copied or linked (the reason says why); the rest of the tree can."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it was replaced by a symbolic link while proxysort was writing"
    return f"it cannot be read ({(exc.strerror or str(exc)).lower()})"


def plan_tree(
    out: Path,
    groups: Mapping[str, Sequence[tuple[str, str]]],
    *,
    link: str = "symlink",
    photo_roots: Sequence[Path] = (),
    companions: Mapping[str, Sequence[str]] | None = None,
    content_ids: Mapping[str, str] | None = None,
    keep_duplicates: bool = False,
    runs: Mapping[str, ConceptRun] | None = None,
    keep_folders: bool = False,
    memories: Mapping[str, Memory] | None = None,
    basis: Sequence[Gesture] = (),
) -> TreePlan:
    """Plan ``OUT/<concept>/<cluster>/<file>`` for ``groups``: concept -> [(source path, cluster name)].

    ``companions`` (photo -> its sidecars, Live Photo clip, RAW twin) are linked beside their photo under
    its name stem; photos with the same ``content_ids`` value appear once per group unless
    ``keep_duplicates``. ``runs`` (concept -> :class:`ConceptRun`) is recorded in the manifest with each
    concept's tree; a concept without one loses the record of an earlier run (it would no longer describe
    the tree). ``keep_folders`` keeps where each photo came from: its folder relative to the photo root
    holding it, every part a safe name (:func:`album`), under its group. ``memories`` (concept ->
    :class:`~proxysort.manifest.Memory`) is what each tree keeps for the next run. The user's gestures in the folder (:mod:`proxysort.corrections`) are obeyed: those not in
    ``basis`` (made after the groups were) move, rename or leave out photos here, so a correction made while
    this run learned is not undone. Reads the output folder (and its manifest) but writes nothing, so
    ``--dry-run`` is this alone; :func:`write_tree` plans again under the folder's lock before it changes
    anything.
    """
    out, inputs = _checked_inputs(out, groups, link=link, photo_roots=photo_roots, companions=companions,
                                  content_ids=content_ids, keep_duplicates=keep_duplicates, runs=runs,
                                  keep_folders=keep_folders, memories=memories, basis=basis)
    with OutDir.open(out) as od:
        return _plan(od, inputs)


def _checked_inputs(
    out: Path,
    groups: Mapping[str, Sequence[tuple[str, str]]],
    *,
    link: str = "symlink",
    photo_roots: Sequence[Path] = (),
    companions: Mapping[str, Sequence[str]] | None = None,
    content_ids: Mapping[str, str] | None = None,
    keep_duplicates: bool = False,
    runs: Mapping[str, ConceptRun] | None = None,
    keep_folders: bool = False,
    memories: Mapping[str, Memory] | None = None,
    basis: Sequence[Gesture] = (),
) -> tuple[Path, TreeInputs]:
    """The absolute output folder and what :func:`plan_tree` was asked, after every check that needs no plan."""
    if link not in LINK_MODES:
        raise UsageError(f"`link` must be one of {', '.join(LINK_MODES)} (got {link!r}).")
    for concept in groups:  # kept as given in the manifest, which must read back what it was written with
        if not is_manifest_text(str(concept)):
            raise UsageError(f"The concept name {ascii(str(concept))} holds a NUL or a character that is not text.")
    inputs = TreeInputs(
        # A pair that is already two strings is kept, not copied: the caller's list holds one per photo;
        # a Grouped makes its pairs of strings when read, and is kept as it is.
        groups={c: m if isinstance(m, Grouped) else
                [t if type(t) is tuple and type(t[0]) is str and type(t[1]) is str else (str(t[0]), str(t[1])) for t in m]
                for c, m in groups.items()},
        link=link,
        photo_roots=tuple(Path(r) for r in photo_roots),
        companions=_str_keyed(companions or {}, lambda v: v if type(v) is list and all(type(c) is str for c in v)
                              else [str(c) for c in v]),
        content_ids=_str_keyed(content_ids or {}, lambda v: v),
        keep_duplicates=keep_duplicates,
        runs=dict(runs or {}),
        keep_folders=keep_folders,
        memories=dict(memories or {}),
        basis=tuple(basis),
    )
    out = Path(os.path.abspath(out))
    check_path_length(out)
    check_location(out, inputs.photo_roots)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise OutputError(f"{out} exists and is not a folder; choose another `out`.")
    return out, inputs


def _str_keyed(mapping: Mapping[Any, Any], value: Callable[[Any], Any]) -> Mapping[str, Any]:
    """``mapping`` itself when its keys are strings and ``value`` keeps every value as it is (a map of one
    entry per photo is not copied: issue 25); otherwise a copy with ``str`` keys and ``value`` of each."""
    if all(type(k) is str for k in mapping) and all(value(v) is v for v in mapping.values()):
        return mapping
    return {str(k): value(v) for k, v in mapping.items()}


def _plan(od: OutDir, inputs: TreeInputs, late: Mapping[str, str] | None = None) -> TreePlan:
    """The plan for ``inputs`` against the folder as it is. ``late`` (path -> "orphan" or "foreign") holds
    old entries that the thorough check of a first pass found must stay: planned again around them."""
    late = dict(late or {})
    out = od.path
    old = read_manifest_at(od) if od.exists else None
    if od.exists and old is None and _foreign_names(od):
        raise OutputError(f"{out} already has files that proxysort did not create; choose an empty or new `out` folder.")
    old, gestures = adopt(od, old) if old is not None else (Manifest(), [])
    fresh = made_since(gestures, list(inputs.basis))
    groups: dict[str, Sequence[tuple[str, str]]] = {}
    for c, m in inputs.groups.items():
        mine_now = [g for g in fresh if g.concept.casefold() == c.casefold()]
        groups[c] = regroup(list(m), mine_now) if mine_now else m  # no gesture: the caller's pairs as they are
    rerun = {c.casefold() for c in inputs.groups}
    previous = {t.name.casefold(): t for t in old.concepts if t.name.casefold() in rerun}
    others = [t for t in old.concepts if t.name.casefold() not in rerun]
    other_dirs = {t.dir for t in others}
    mine_dirs = {t.dir for t in previous.values()}

    def blocked(rel: str) -> bool:
        """A name that exists but cannot be our folder (a foreign file or symlink); real folders are shared."""
        st = od.lstat(rel)
        return st is not None and not stat.S_ISDIR(st.st_mode)

    # Each concept keeps its folder from earlier runs; a new one gets a name no other tree or file has.
    chosen = {n.casefold() for n in od.listdir("") if blocked(n)} | {n.casefold() for n in _BOOKKEEPING}
    chosen |= {d.casefold() for d in other_dirs}
    concept_dirs: dict[str, str] = {}
    for concept in inputs.groups:
        prev = previous.get(concept.casefold())
        if prev is not None and prev.dir.casefold() not in chosen and not blocked(prev.dir):
            name = prev.dir
        else:
            name = unique_names([concept], taken=chosen, fallback="concept")[0]
        chosen.add(name.casefold())
        concept_dirs[concept] = name
    check_location(od.real_path(), inputs.photo_roots, list(concept_dirs.values()))

    # The old files stay in the manifest's columns: the re-run holds their rows (4 bytes each), a flag byte
    # each and two hash indexes (12 bytes each), never an Entry, set or dict entry per old file (issue 25).
    top = _top
    old_files = old.files
    old_path = _path_of(old_files)
    carried_rows, on_disk_rows, linked_rows = array("I"), array("I"), array("I")
    foreign_paths: set[str] = set()
    linked_dirs: set[str] = set()  # folders holding an old photo's link (not a companion's)
    any_not_symlink = False
    for row in range(len(old_files)):
        rel = old_path(row)
        where = top(rel)
        if where in other_dirs and old_files[row].matches_disk(od):
            carried_rows.append(row)
        if where in mine_dirs:
            e = old_files[row]
            if e.matches_disk(od) and late.get(rel) != "foreign":
                on_disk_rows.append(row)
                any_not_symlink = any_not_symlink or e.kind != "symlink"
                if e.companion_of is None:
                    linked_rows.append(row)
                    linked_dirs.add(rel.rpartition("/")[0])
            elif od.lstat(rel) is not None:
                foreign_paths.add(rel)
    carried = _OldRows(old_files, carried_rows)
    carried_dirs = [d for d in old.dirs if top(d) in other_dirs and od.is_dir(d)]
    old_mine_dirs = [d for d in old.dirs if top(d) in mine_dirs]
    foreign = sorted(foreign_paths)
    del foreign_paths

    # The photos as they are now: a photo deleted since it was indexed is reported, not linked.
    real_roots = [_real(r) for r in inputs.photo_roots]
    refused: dict[str, str] = {}

    def leaks(path: str) -> bool:
        """In copy and hard-link mode: a file outside the photo folders is skipped (and said why)."""
        if inputs.link != "symlink" and path not in refused and (reason := _leak_reason(path, real_roots)):
            refused[path] = reason
        return path in refused

    # A symlink is made of no file's bytes: its tree keeps the photos' numbers only when an old hard link or
    # copy on disk may have to be compared with them (the last copy of a photo is never removed).
    def survey(sources: Iterable[str | int], column: PathColumn | None = None) -> tuple[_Stats, list[str]]:
        """The photos of ``sources`` (in sorted order; paths, or rows of ``column``) that are here to link, each
        once, and those gone."""
        present = _Stats(numbers=inputs.link != "symlink" or any_not_symlink, column=column)
        vanished: list[str] = []
        last = None
        for item in sources:
            s = column.str_at(item) if isinstance(item, int) and column is not None else str(item)
            if s == last:
                continue
            last = s
            st = _source_stat(s)
            if st is None:
                vanished.append(s)
            elif not leaks(s):
                present.append(s, st, item if isinstance(item, int) else -1)
        return present, vanished

    # Each concept's photos in sorted order (the index's column is): merged, no set or list of them; the rows of
    # the column itself where every concept's photos are of one column of UTF-8 paths.
    column = _one_column(groups.values())
    try:
        if column is not None:
            present, vanished = survey(_merged(g.positions() for g in groups.values() if isinstance(g, Grouped)), column)
        else:
            present, vanished = survey(_merged((s for s, _ in m) for m in groups.values()))
    except _OutOfOrder:
        present, vanished = survey(sorted({s for members in groups.values() for s, _ in members}))
    orphans: list[Entry] = []
    if any_not_symlink or "orphan" in late.values():  # an old symlink is never the last copy of a photo
        for row in on_disk_rows:
            e = old_files[row]
            if late.get(e.path) == "orphan" or _is_last_copy(od, e, present, thorough=False):
                orphans.append(replace(e, orphan=True))
    orphan_paths = {e.path for e in orphans}
    on_disk = _ByKey(on_disk_rows, old_path)  # our old files on disk, by path
    replaceable_dirs = {d for d in old_mine_dirs if od.is_dir(d)}

    def replaceable(rel: str) -> bool:
        """Our old file or folder there, which this run may replace (not the last copy of a photo)."""
        return rel in replaceable_dirs or (rel not in orphan_paths and bool(on_disk.find(rel)))

    def occupied(rel_dir: str) -> set[str]:
        """Names in a folder of the output that are not ours to replace."""
        names = od.listdir(rel_dir)
        return {n for n in names if not replaceable(f"{rel_dir}/{n}" if rel_dir else n)}

    # Each folder's photos already linked there, found by (folder, photo): the name of its link there.
    linked = _ByKey(linked_rows, lambda row: _linked_key(old_files[row]))
    del linked_rows

    def linked_name(rel_dir: str, source: str) -> str | None:
        """The name of the link to ``source`` in folder ``rel_dir`` (the last one listed), if there is one."""
        rows = linked.find(f"{rel_dir}\0{source}")
        return old_path(rows[-1]).rpartition("/")[2] if rows else None

    out_real = od.real_path() if od.exists else Path(os.path.realpath(out))
    files = PlannedFiles(inputs.link, str(out_real), orphans, present.paths)
    dirs: list[str] = []
    dest = _Dest(present, files)
    duplicates: list[Duplicate] = []
    companion_stats: dict[str, _Stat | None] = {}
    checked: dict[tuple[str, str], bool] = {}
    album_dirs: dict[tuple[str, str], str] = {}  # (folder in OUT, album folder's name) -> its folder in OUT
    subfolders: dict[str, set[str]] = {}  # folder in OUT -> album folders planned in it (files avoid them)

    def album_dir(group_dir: str, parts: Sequence[str]) -> str:
        """The folder in OUT for an album under a group (the group itself for no parts); a part whose
        safe name a foreign file or link holds there gets ``-2``."""
        rel = group_dir
        for part in parts:
            if (rel, part) not in album_dirs:
                taken = {n for n in od.listdir(rel) if blocked(f"{rel}/{n}")}
                child = unique_names([part], taken=taken, fallback="folder")[0]
                album_dirs[(rel, part)] = f"{rel}/{child}"
                subfolders.setdefault(rel, set()).add(child.casefold())
                dirs.append(f"{rel}/{child}")
            rel = album_dirs[(rel, part)]
        return rel

    def identical(a: str, b: str) -> bool:
        """Content ids are sampled hashes: two photos count as one only when all their bytes agree."""
        if (a, b) not in checked:
            checked[(a, b)] = present[a].st_size == present[b].st_size and _files_equal(a, b)
        return checked[(a, b)]

    def numbers(i: int) -> tuple[int, int] | None:
        """What the entry of the photo at position ``i`` records of it (no lookup for a symlink)."""
        return None if inputs.link == "symlink" else _numbers(inputs.link, present.at(i))

    for concept, cdir in concept_dirs.items():
        dirs.append(cdir)
        # cluster name -> its photos, by position in ``present`` (sorted order): no str held per photo
        members: dict[str, array] = {}
        find = present.finder()
        for source, name in groups[concept]:
            i = find(source)
            if i >= 0:
                members.setdefault(name, array("i")).append(i)
        cluster_names = sorted(members)
        taken = {n for n in od.listdir(cdir) if blocked(f"{cdir}/{n}")}  # a file or link is never our folder
        safe = dict(zip(cluster_names, unique_names(cluster_names, taken=taken, fallback="cluster")))
        by_cluster = {safe[name]: sources for name, sources in members.items()}  # safe names are distinct
        del members
        for folder, sources in sorted(by_cluster.items()):
            group_dir = f"{cdir}/{folder}"
            dirs.append(group_dir)
            by_album: dict[str, array] = {}
            distinct = _distinct(sources)
            shared = set() if inputs.keep_duplicates else _sharing(distinct, present, inputs.content_ids)
            for i in distinct:  # in path order: positions in ``present`` are ranks
                parts = album(present.path_at(i), inputs.photo_roots) if inputs.keep_folders else ()
                by_album.setdefault(album_dir(group_dir, parts), array("i")).append(i)
            del distinct
            first_of: dict[str, int] = {}  # content id -> planned row of the copy linked (once per group): shared ids only
            for rel_dir, album_photos in by_album.items():
                names_taken = {n.casefold() for n in occupied(rel_dir)} | subfolders.get(rel_dir, set())
                linked_here = rel_dir in linked_dirs
                if linked_here:
                    # Photos already linked here first, under their names: a new photo never takes an old link's
                    # name. (album_photos are sorted already: a stable split keeps them so, a flag per photo.)
                    was = bytearray(linked_name(rel_dir, present.path_at(i)) is not None for i in album_photos)
                    album_photos = array("i", [*(i for i, w in zip(album_photos, was) if w),
                                               *(i for i, w in zip(album_photos, was) if not w)])
                    del was
                for i in album_photos:
                    source = present.path_at(i)
                    cid = inputs.content_ids.get(source) if i in shared else None
                    if cid and cid in first_of and identical(files.source(first_of[cid]), source):
                        duplicates.append(Duplicate(concept, source, files.path(first_of[cid])))
                        dest.add(concept, i, first_of[cid])
                        continue
                    comps = []
                    for c in inputs.companions.get(source, []):
                        if c not in companion_stats:
                            companion_stats[c] = _source_stat(c)
                        if companion_stats[c] is None:
                            if c not in vanished:
                                vanished.append(c)
                        elif not leaks(c):
                            comps.append(c)
                    name, comp_names = _file_names(os.path.basename(source) or "photo",
                                                   [os.path.basename(c) for c in comps], names_taken,
                                                   prefer=linked_name(rel_dir, source) if linked_here else None)
                    row = files.add(rel_dir, name, i, numbers(i))
                    dest.add(concept, i, row)
                    if cid and cid not in first_of:
                        first_of[cid] = row
                    for comp, comp_name in zip(comps, comp_names):
                        files.add(rel_dir, comp_name, comp, _numbers(inputs.link, companion_stats[comp]), companion_of=row)

    # A planned file already on disk exactly as planned is kept. Each planned entry is made, compared and let go:
    # no map of every planned entry beside the old ones (a re-run of millions of files; issue 25).
    kept = bytearray(files.rows)  # per planned row: on disk exactly as planned
    kept_old = bytearray(len(old_files))  # per old row: its path is kept
    from_old: array | None = None  # planned row -> the row of its old entry, where that is not the planned one
    for row in range(files.rows) if on_disk_rows else ():
        planned = files.entry(row)
        assert planned is not None  # nothing is dropped from a plan
        at = on_disk.find(planned.path)  # every old entry on disk at that path (a crash's union lists old and new)
        if not at or planned.path in orphan_paths:
            continue
        if any(old_files[r].same_plan(planned) for r in at):
            kept[row] = 1
            for r in at:
                kept_old[r] = 1
            if old_files[at[-1]] != planned:  # a copy's content hash: the last one listed, as a map of them kept
                if from_old is None:
                    from_old = array("i", [-1]) * files.rows
                from_old[row] = at[-1]
    remove = _OldRows(old_files, array("I", (r for r in on_disk_rows
                                             if not kept_old[r] and old_path(r) not in orphan_paths)))
    del kept_old
    # What is to be removed must be proxysort's bytes and not the last copy of a photo, checked in full now
    # (the first pass took size and mtime on trust); anything that fails is planned around.
    found = {e.path: "foreign" for e in remove if not content_is_ours(od, e)}
    found |= {e.path: "orphan" for e in remove if e.path not in found and _is_last_copy(od, e, present)}
    if found:
        del files, dest, on_disk, linked, kept, from_old, remove  # planned again: not held twice
        return _plan(od, inputs, {**late, **found})
    if from_old is not None:
        files = files.keeping(old_files, from_old)
    # A tree that stays exactly as it was keeps the time of its record (a repeated run rewrites nothing).
    changed = {top(e.path) for e in remove} | {top(files.path(row)) for row in range(files.rows) if not kept[row]}
    concepts = [*others]
    for c, d in concept_dirs.items():
        run, prev = inputs.runs.get(c), previous.get(c.casefold())
        if run is not None and prev is not None and prev.dir == d and d not in changed:
            run = run.dated_as(prev.run)
        concepts.append(ConceptTree(c, d, inputs.link, run, _memory(c, inputs, previous.get(c.casefold()), gestures)))
    return TreePlan(
        out, inputs.link, files, dirs, _Kept(files, kept), remove, foreign, old if old.concepts or old.files else None, dest,
        concept_dirs, inputs=inputs, carried=carried, carried_dirs=carried_dirs, concepts=concepts,
        orphans=orphans, vanished=vanished, duplicates=duplicates, refused=sorted(refused.items()),
        # A symlink is made of no file's bytes: only a copy or hard link is checked against its source's identity.
        source_ids={} if inputs.link == "symlink" else _SourceIds(present, companion_stats),
    )


# ------------------------------------------------------------------------------------------- writing


@dataclass
class WriteSummary:
    created: int
    kept: int
    removed: int
    left_alone: int
    orphans: list[str] = field(default_factory=list)  # paths in OUT kept as the last copy of a photo
    vanished: list[str] = field(default_factory=list)  # photos gone before they could be linked
    duplicates: int = 0
    plan: TreePlan | None = field(default=None, repr=False)  # the plan carried out (made under the lock)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (photo or companion, why it was skipped)


def _open_for_writing(out: Path, roots: Sequence[Path], concept_dirs: Sequence[str]) -> OutDir:
    check_location(out, roots)
    od = OutDir.open(out, create=True)
    try:
        # The name may have been swapped between the check and the open: check where the folder really is.
        check_location(od.real_path(), roots, concept_dirs)
    except BaseException:
        od.close()
        raise
    return od


def write_tree(
    plan: TreePlan,
    reporter: Reporter | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    after: "Callable[[OutDir, WriteSummary], None] | None" = None,
) -> WriteSummary:
    """Carry out ``plan``: remove our stale entries, create the new ones, keep identical ones.

    Takes the output folder's lock and plans again under it (another run may have changed the folder
    since ``plan`` was made), so the returned summary's ``plan`` is the one actually carried out.
    ``after`` runs in the same locked section once the tree and its manifest are written, on the same
    descriptors: the review page is written there, so it always describes the tree beside it.
    """
    inputs = plan.inputs or TreeInputs(groups={}, link=plan.link)
    return _write(plan.out, inputs, list(plan.concept_dirs.values()), None if plan.inputs is not None else plan,
                  reporter or Reporter(), lock_timeout, after)


def make_tree(
    out: Path,
    groups: Mapping[str, Sequence[tuple[str, str]]],
    *,
    reporter: Reporter | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    after: "Callable[[OutDir, WriteSummary], None] | None" = None,
    **options: Any,
) -> WriteSummary:
    """:func:`plan_tree` (``options`` are its keyword arguments) and :func:`write_tree` in one, planned once,
    under the folder's lock: no plan is made beforehand to be made again there, so the rows of a tree of
    millions of photos are held once, not twice (issue 25). The summary's ``plan`` is the one carried out."""
    out, inputs = _checked_inputs(out, groups, **options)
    return _write(out, inputs, [], None, reporter or Reporter(), lock_timeout, after)


def _write(
    out: Path, inputs: TreeInputs, concept_dirs: list[str], planned: TreePlan | None, reporter: Reporter,
    lock_timeout: float, after: "Callable[[OutDir, WriteSummary], None] | None",
) -> WriteSummary:
    """Plan ``inputs`` under the lock (or carry out ``planned``, a plan made without inputs) and write it."""
    with _open_for_writing(out, inputs.photo_roots, concept_dirs) as od:
        with od.lock(lock_timeout, reporter.warning):
            fresh = planned if planned is not None else _plan(od, inputs)
            summary = _execute(od, fresh, reporter)
            if after is not None:
                after(od, summary)
            return summary


def _create(od: OutDir, entry: Entry, real_roots: Sequence[Path], planned: tuple[int, int] | None = None) -> Entry:
    """Make one planned file; returns its entry with the fingerprint of what was actually made.

    :class:`_Unlinkable` when this one file cannot be made from its source (a link out of the photo
    folders swapped in since planning, a FIFO, no permission to read): the caller skips it, not the tree.
    ``planned`` is the source's (device, inode) when it was planned: a hard link or copy made of any
    other file (a folder on the way swapped for a link after the check) is undone and refused.
    """
    from proxysort.safeopen import open_regular

    if entry.kind == "symlink":
        od.symlink(entry.target or "", entry.path)
        return entry
    reason = _leak_reason(entry.source, real_roots)
    if reason is not None:
        raise _Unlinkable(reason)
    source = os.path.realpath(entry.source)
    changed = "it changed while proxysort was writing (a folder on its way swapped?); run again to link it"
    if entry.kind == "hardlink":
        st = od.hardlink(source, entry.path)
        if planned is not None and (st.st_dev, st.st_ino) != planned:
            od.unlink(entry.path)
            raise _Unlinkable(changed)
        return replace(entry, dev=st.st_dev, ino=st.st_ino)
    try:
        src = open_regular(source, follow=False)  # resolved already: a link swapped in now is refused
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _Unlinkable(_read_reason(exc)) from None
    digest = hashlib.sha256()
    with src:
        opened = os.fstat(src.fileno())
        if planned is not None and (opened.st_dev, opened.st_ino) != planned:
            raise _Unlinkable(changed)
        st = od.copy(src, entry.path, digest)
    return replace(entry, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=digest.hexdigest())


def _execute(od: OutDir, plan: TreePlan, reporter: Reporter) -> WriteSummary:
    out = od.path
    old = plan.old or Manifest()
    foreign = set(plan.foreign)
    tops = {c.dir for c in old.concepts}
    old_path = _path_of(old.files)
    mine_old = _OldRows(old.files, array("I", (row for row in range(len(old.files))
                                               if (p := old_path(row)) not in foreign and _top(p) in tops)))
    new_dirs = [d for d in plan.dirs if not od.is_dir(d)]  # pre-existing folders are not ours
    announced_dirs = [*old.dirs, *new_dirs]
    # 1. Announce everything that may exist during the change, so a crash leaves nothing unlisted.
    concepts = _merge_concepts(old.concepts, plan.concepts)
    _save(od, Manifest(files=_union(mine_old, plan.files), dirs=announced_dirs, link=plan.link, concepts=concepts,
                       duplicates=old.duplicates, complete=not plan.count_create(), page=old.page))
    od.clean_partials(sorted(set(old.dirs)))
    for path in plan.foreign:
        reporter.warning(f"{out / path} was changed by someone else; proxysort leaves it alone.")
    for line in _notes(plan.orphans, [], [], out):
        reporter.warning(line)
    # 2. Remove our stale files (each checked again just before), then make folders and new files.
    removed = 0
    planned: dict[str, _Stat] | None = None
    late_orphans: list[Entry] = []
    for entry in plan.remove:
        # Checked again just before: the user may have edited it, or deleted its photo, since planning.
        if not entry.matches_disk(od) or not content_is_ours(od, entry):
            continue  # theirs now: left alone, and no longer listed
        if entry.kind != "symlink" and not _same_photo(od, entry):
            if planned is None:
                planned = {e.source: st for e in plan.files if not e.orphan and (st := _source_stat(e.source))}
            if _is_last_copy(od, entry, planned):
                late_orphans.append(replace(entry, orphan=True))
                continue
        removed += od.unlink(entry.path)
    created = 0
    made_as: dict[str, Entry] = {}  # the entries whose fingerprint the making changed (hard links, copies)
    vanished = list(plan.vanished)
    refused = list(plan.refused)
    skipped: set[str] = set()
    real_roots = [_real(r) for r in (plan.inputs.photo_roots if plan.inputs else ())]
    current = ""  # the path in OUT being made: what an error names (never the photo it comes from)
    try:
        for rel in plan.dirs:
            current = rel
            od.mkdir(rel)
        with reporter.progress(f"writing {plan.link}s", total=plan.count_create()) as advance:
            for entry in plan.iter_create():
                current = entry.path
                if entry.companion_of in skipped:
                    skipped.add(entry.path)  # its photo was not linked: neither is it
                    advance()
                    continue
                try:
                    result = _create(od, entry, real_roots, plan.source_ids.get(entry.source))
                    created += 1
                    if result is not entry:
                        made_as[result.path] = result
                except FileNotFoundError:
                    if _source_stat(entry.source) is not None:
                        raise
                    vanished.append(entry.source)  # deleted while we were learning: skipped and reported
                    skipped.add(entry.path)
                except FileExistsError:
                    skipped.add(entry.path)  # someone put a file there meanwhile: theirs, left alone
                except _Unlinkable as exc:
                    refused.append((entry.source, exc.reason))
                    skipped.add(entry.path)
                advance()
    except OSError as exc:
        hint = " Hard links cannot cross file systems: use `link` symlink or copy." if exc.errno == errno.EXDEV else ""
        raise OutputError(f"Cannot write {out / current if current else out}: {exc.strerror or exc}.{hint}") from exc
    # 3. Drop the re-run concepts' folders that are no longer planned, deepest first, only when empty.
    mine_dirs = {t.dir for t in plan.concepts if t.dir in plan.concept_dirs.values()}
    stale = {d for d in old.dirs if PurePosixPath(d).parts[0] in set(mine_dirs) | _renamed(old, plan)} - set(plan.dirs)
    for rel in sorted(stale, key=lambda d: -d.count("/")):
        od.rmdir(rel)
    made = [d for d in dict.fromkeys([*old.dirs, *new_dirs]) if od.is_dir(d)]
    dups = [d for d in old.duplicates if d.concept.casefold() not in {c.casefold() for c in plan.concept_dirs}]
    for line in _notes(late_orphans, [], [], out):
        reporter.warning(line)
    final = plan.files.written(made_as, skipped, late_orphans, plan.carried)  # the rows, not a list of them
    _save(od, Manifest(files=final, dirs=made, link=plan.link,
                       concepts=plan.concepts, duplicates=[*dups, *plan.duplicates], page=old.page))
    refused = sorted(set(refused))
    return WriteSummary(
        created=created, kept=len(plan.keep), removed=removed, left_alone=len(plan.foreign),
        orphans=[e.path for e in [*plan.orphans, *late_orphans]], vanished=sorted(set(vanished)),
        duplicates=len(plan.duplicates), refused=refused,
        plan=replace(plan, vanished=sorted(set(vanished)), refused=refused),
    )


def _memory(concept: str, inputs: TreeInputs, prev: ConceptTree | None, found: Sequence[Gesture]) -> Memory | None:
    """What the concept's tree keeps: the run's memory with the gestures made since it was planned; for a
    run without one, the earlier memory's corrections only (its groups no longer describe the tree)."""
    mine = [g for g in made_since(list(found), list(inputs.basis)) if g.concept.casefold() == concept.casefold()]
    memory = inputs.memories.get(concept)
    if memory is not None:
        return apply(memory, mine)
    if prev is None or prev.memory is None:
        return None
    return replace(prev.memory, setup=(), members=())


def _renamed(old: Manifest, plan: TreePlan) -> set[str]:
    """Old folders of re-run concepts that got a new folder name this time (theirs was replaced)."""
    rerun = {c.casefold() for c in plan.concept_dirs}
    return {t.dir for t in old.concepts if t.name.casefold() in rerun}


def _merge_concepts(old: Sequence[ConceptTree], new: Sequence[ConceptTree]) -> list[ConceptTree]:
    by_dir = {t.dir: t for t in old}
    by_dir.update({t.dir: t for t in new})
    return list(by_dir.values())


def save_manifest(od: OutDir, manifest: Manifest) -> None:
    """Write ``manifest`` into the open (and locked) output folder, unless it already says exactly that."""
    _save(od, manifest)


def _save(od: OutDir, manifest: Manifest) -> None:
    """Atomic replace: a reader (or a crash) sees the old or the new manifest, never half of one. Compared and
    written a piece at a time (:meth:`Manifest.json_parts`): a manifest of millions of files is never one
    string in memory, nor the old one read whole."""
    try:
        if od.holds(OUTPUT_MANIFEST, (part.encode("utf-8") for part in manifest.json_parts())):
            return  # unchanged: a repeated run leaves the folder exactly as it was
    except OSError:
        pass
    try:
        od.write_atomic(OUTPUT_MANIFEST, manifest.json_parts())
    except OSError as exc:
        raise OutputError(f"Cannot write the manifest in {od.path}: {exc.strerror or exc}.") from exc


def _union(old: _OldRows, new: PlannedFiles) -> Sequence[Entry]:
    """Old and new entries; where both name a path, the old fingerprint matters until it is replaced."""
    if not old:  # a first run: the planned entries themselves (planned paths are distinct), no map or list of them
        return new
    return _Union(old, new)


class _Union(Sequence[Entry]):
    """The entries announced before a tree is changed, in path order: each path's last old entry, then the
    planned entries of that path that differ from it; made by merging the old rows and the plan in path order
    (a map of every path, and a list of the old and new entries, held ~0.5 KB a file: issue 25)."""

    def __init__(self, old: _OldRows, new: PlannedFiles) -> None:
        self._old, self._new = old, new

    def in_path_order(self) -> Iterator[Entry]:
        merged = heapq.merge(((e, True) for e in self._old.in_path_order()),
                             ((e, False) for e in self._new.in_path_order()), key=lambda pair: pair[0].path)
        held: Entry | None = None  # the last old entry of a path, until every old entry of that path is read
        shown: Entry | None = None  # the old entry of the path the planned entries now come for
        for entry, is_old in merged:  # a path's old entries come before its planned ones
            if is_old:
                if held is not None and held.path != entry.path:
                    yield held
                held = entry
                continue
            if held is not None:
                yield held
                shown, held = held, None
            if shown is None or shown.path != entry.path or shown != entry:
                yield entry
        if held is not None:
            yield held

    def __iter__(self) -> Iterator[Entry]:
        return self.in_path_order()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @overload
    def __getitem__(self, i: int) -> Entry: ...

    @overload
    def __getitem__(self, i: slice) -> list[Entry]: ...

    def __getitem__(self, i: int | slice) -> Entry | list[Entry]:
        """By position in path order (a walk over every entry: for tests, not loops)."""
        return list(self)[i]


# ------------------------------------------------------------------------------------------- cleaning


@dataclass
class CleanSummary:
    removed: int
    folders_removed: int
    orphans: list[str]  # last copies of photos: kept
    left_alone: list[str]  # listed files someone changed: theirs now
    paths: list[str] = field(default_factory=list)  # the files removed (or, on a dry run, that would be), in OUT
    placed: list[str] = field(default_factory=list)  # photos' links the user placed by hand: kept (no --all)

    def per_tree(self) -> dict[str, int]:
        """Files removed per concept tree (its top folder in OUT), in folder order."""
        counts: dict[str, int] = {}
        for path in sorted(self.paths):
            top = PurePosixPath(path).parts[0]
            counts[top] = counts.get(top, 0) + 1
        return counts


def clean_tree(
    out: Path,
    reporter: Reporter | None = None,
    *,
    concepts: Sequence[str] = (),
    dry_run: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    keep_corrections: bool = True,
) -> CleanSummary:
    """Remove what proxysort created in ``out`` (only ``concepts``' trees when given), nothing else.

    The user's corrections (:mod:`proxysort.corrections`) are kept unless ``keep_corrections`` is False:
    links the user placed by hand stay (with their folders), and the tree's record keeps those placements
    and the group names the user chose, so the next run starts from them; photos left out come back.

    Files someone changed are left alone; hard links and copies that are the last copy of a photo are
    kept and stay listed (``orphan``). Folders go only when empty; the manifest and lock file go when
    nothing of proxysort's is left, and ``out`` itself when it is then empty.
    """
    reporter = reporter or Reporter()
    out = Path(os.path.abspath(out))
    check_path_length(out)
    with OutDir.open(out) as od:
        if not od.exists:
            raise OutputError(f"{out} does not exist; nothing to clean.")
        old = read_manifest_at(od)
        if old is None:
            raise OutputError(f"{out} has no {OUTPUT_MANIFEST}, so proxysort created nothing there to clean.")
        wanted = {c.casefold() for c in concepts}
        trees = [t for t in old.concepts if not wanted or t.name.casefold() in wanted or t.dir.casefold() in wanted]
        if wanted and not trees:
            names = ", ".join(t.name for t in old.concepts) or "none"
            raise OutputError(f"{out} has no tree for {', '.join(concepts)}; its concepts are: {names}.")
        if dry_run:
            return _clean(od, adopt(od, old)[0], trees, reporter, dry_run=True, keep_corrections=keep_corrections)
        _check_removable(out)
        with od.lock(lock_timeout, reporter.warning):
            old = adopt(od, read_manifest_at(od) or Manifest())[0]
            trees = [t for t in old.concepts if t.dir in {x.dir for x in trees}]
            summary = _clean(od, old, trees, reporter, dry_run=False, keep_corrections=keep_corrections)
            if len(trees) == len(old.concepts):  # the page shows the trees just removed: only its own files go
                remove_page(od, old.page)
                if (left := read_manifest_at(od)) is not None:  # orphans kept: the record no longer holds
                    _save(od, replace(left, page=None))
            od.clean_partials(sorted(set(old.dirs)))
            remaining = _foreign_names(od)
            left = read_manifest_at(od)
            # Beside the user's own files too, a manifest of nothing is litter; it stays while a folder of a
            # tree does (the user's files in it): that folder is proxysort's, and the next run may use it.
            litter = left is not None and left.is_empty() and not any(od.is_dir(t.dir) for t in old.concepts)
            if (not remaining and not summary.orphans) or litter:
                od.unlink(OUTPUT_MANIFEST)
        if not remaining and not summary.orphans:
            # Nothing of anyone's is left: remove the folder itself (only if empty).
            try:
                os.rmdir(out)
            except OSError:
                pass
    return summary


def _corrections_only(memory: Memory) -> Memory:
    """A tree kept for its placed links remembers only the user's corrections (pins, names, and which placed
    photos the user put in an ``-unsure`` folder): the next run makes it again."""
    pinned = {p for p, _ in memory.pins}
    return replace(memory, setup=(), members=(), left_out=(), unsure_margin=0.0,
                   unsure=tuple(p for p in memory.unsure if p in pinned))


def _check_removable(out: Path) -> None:
    """``clean`` on a read-only file system or folder is one sentence, before anything is tried."""
    try:
        readonly = bool(os.statvfs(out).f_flag & os.ST_RDONLY)
    except OSError:
        return
    if readonly:
        raise OutputError(f"{out} is on a read-only file system; nothing can be removed from it.")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out} cannot be changed (permission denied); nothing can be removed from it.")


def _clean(
    od: OutDir, old: Manifest, trees: Sequence[ConceptTree], reporter: Reporter, *, dry_run: bool, keep_corrections: bool
) -> CleanSummary:
    dirs = {t.dir for t in trees}
    pinned = {(t.dir, s) for t in trees if t.memory is not None and keep_corrections for s, _ in t.memory.pins}
    placed_photos = {e.path for e in old.files
                     if (PurePosixPath(e.path).parts[0], e.source) in pinned and e.companion_of is None}
    placed = placed_photos | {e.path for e in old.files if e.companion_of in placed_photos}
    target = [e for e in old.files if PurePosixPath(e.path).parts[0] in dirs and e.path not in placed]
    removed, orphans, left, paths = 0, [], [], []
    for e in target:
        if not e.matches_disk(od) or not content_is_ours(od, e):
            if od.lstat(e.path) is not None:
                left.append(e.path)
            continue
        if _is_last_copy(od, e, {}):
            orphans.append(replace(e, orphan=True))
            continue
        if dry_run or od.unlink(e.path):
            removed += 1
            paths.append(e.path)
    folders = 0
    for rel in sorted({d for d in old.dirs if PurePosixPath(d).parts[0] in dirs}, key=lambda d: -d.count("/")):
        if not dry_run and od.rmdir(rel):
            folders += 1
    for line in _notes(orphans, [], [], od.path):
        reporter.warning(line)
    for path in left:
        reporter.warning(f"{od.path / path} was changed by someone else; proxysort leaves it alone.")
    if not dry_run:
        keep_files = [e for e in old.files if PurePosixPath(e.path).parts[0] not in dirs or e.path in placed]
        kept_dirs = [d for d in old.dirs if od.is_dir(d)]
        tops = {PurePosixPath(e.path).parts[0] for e in [*orphans, *(f for f in old.files if f.path in placed)]}
        concepts = [t if t.dir not in dirs or t.memory is None else replace(t, memory=_corrections_only(t.memory))
                    for t in old.concepts if t.dir not in dirs or t.dir in tops]
        dups = [d for d in old.duplicates if d.concept.casefold() not in {t.name.casefold() for t in trees}]
        _save(od, Manifest(files=[*keep_files, *orphans], dirs=kept_dirs, link=old.link, concepts=concepts, duplicates=dups,
                           page=old.page))
    return CleanSummary(removed, folders, [e.path for e in orphans], left, paths, sorted(placed_photos))
