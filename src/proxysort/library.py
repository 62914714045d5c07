"""What a photo library holds besides photos, and which files belong together.

Real libraries mix photos with the files that describe them: editor sidecars (``IMG_1.xmp`` or
``IMG_1.CR2.xmp``, Apple's ``IMG_1.AAE``, Google Takeout's ``IMG_1.JPG.json`` in its several spellings),
Live Photo clips (``IMG_1.HEIC`` + ``IMG_1.MOV``), the RAW half of RAW+JPEG shooting (``IMG_1.CR2`` +
``IMG_1.JPG``), and then videos, album metadata and everything else. :func:`classify` sorts the names of
one folder into photos to index, companions that travel with a photo (same folder, same name stem), and
ignored files by kind; :func:`gather` applies it to scanned folders and to files given one by one (stdin),
with the same rules, so ``index``, ``cluster`` and ``status`` select exactly the same photos.

Choices:

* A RAW file with a JPEG or HEIC of the same stem is that photo's RAW twin: the pair is one photo, embedded
  once from the JPEG/HEIC (what the camera rendered), the RAW a companion. A RAW on its own is a photo.
* A video with a JPEG/HEIC of the same stem is a Live Photo clip; any other video is ignored ("videos").
* A sidecar names its file exactly (``IMG_1.CR2.xmp``) or by stem (``IMG_1.xmp``); a stem shared by several
  photos picks JPEG, then HEIC, then RAW, then the rest. A sidecar of a video is ignored with the video.
* Nothing is dropped silently: every file under a root is a photo, a companion, or ignored under a kind.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from proxysort.progress import Reporter
from proxysort.raw import RAW_SUFFIXES
from proxysort.scan import IMAGE_SUFFIXES, ScanEntry, walk

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Containers of camera and phone videos (classified by name only; never opened).
VIDEO_SUFFIXES = frozenset(
    {".mov", ".mp4", ".m4v", ".avi", ".mkv", ".mts", ".m2ts", ".3gp", ".3g2", ".wmv", ".webm", ".mpg",
     ".mpeg", ".vob", ".flv", ".lrv", ".insv", ".mod", ".tod", ".dv"}
)
#: Sidecars that describe one photo (editors' settings, Apple edits, camera thumbnails of videos).
SIDECAR_SUFFIXES = frozenset({".xmp", ".aae", ".pp3", ".dop", ".thm", ".json"})
#: Formats a camera or phone writes beside a RAW file or a Live Photo clip.
PAIR_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".heic", ".heif")

# Kinds of ignored files (keys of :attr:`Library.ignored`, plural nouns shown in summaries).
VIDEOS = "videos"
VIDEO_SIDECARS = "sidecars of videos"
ORPHAN_SIDECARS = "sidecars without a photo"
OTHER_FILES = "other files"
SKIPPED_COMPANIONS = "companions of skipped photos"

#: The order kinds are listed in (what a user most likely wants to know first).
KIND_ORDER = (
    "RAW twins", "Live Photo clips", "sidecars",
    VIDEOS, VIDEO_SIDECARS, ORPHAN_SIDECARS, SKIPPED_COMPANIONS, OTHER_FILES,
    "hidden files", "hidden folders", "system folders", "proxysort output folders", "excluded folders", "special files",
)

_SINGULAR = {
    VIDEOS: "video", VIDEO_SIDECARS: "sidecar of a video", ORPHAN_SIDECARS: "sidecar without a photo",
    OTHER_FILES: "other file", SKIPPED_COMPANIONS: "companion of a skipped photo",
    "hidden folders": "hidden folder", "hidden files": "hidden file", "system folders": "system folder",
    "proxysort output folders": "proxysort output folder", "excluded folders": "excluded folder",
    "special files": "special file", "RAW twins": "RAW twin", "Live Photo clips": "Live Photo clip",
    "sidecars": "sidecar",
}

T = TypeVar("T")
_SUPPLEMENTAL = "supplemental-metadata"
_COPY_NUMBER = re.compile(r"^(.*?)(\(\d+\))$")


@dataclass(frozen=True)
class Selection:
    """The rules that decide which files under the sources are considered: one value, shared by every
    command, so ``index`` and ``cluster`` (and ``status``) never disagree on what the photos are."""

    exclude: tuple[Path, ...] = ()
    include_hidden: bool = False

    @classmethod
    def of(cls, exclude: Iterable[Path | str] = (), include_hidden: bool = False) -> "Selection":
        return cls(tuple(Path(p).expanduser() for p in exclude), include_hidden)


@dataclass
class FolderPlan:
    """:func:`classify`'s answer for one folder, by file name."""

    photos: list[str] = field(default_factory=list)
    companions: dict[str, list[str]] = field(default_factory=dict)
    ignored: dict[str, list[str]] = field(default_factory=dict)


class Photos(Mapping[str, ScanEntry]):
    """The photos :func:`gather` found, by path, in the order found, held as columns: the paths' bytes in one
    buffer, their sizes and mtimes as machine integers, and (made on the first look-up after the last
    :meth:`add`) each path's hash beside its position, ~100 bytes a photo where a dict of ``str`` keys and
    :class:`ScanEntry` values held ~250 (issue 25: 10M photos in 4 GB). Read as the dict it replaces; a
    :class:`ScanEntry` (and a key ``str``) is made when one is read. :meth:`position`, :meth:`key_at` and
    :meth:`entry_at` read it by position (the order found), which is how the index diffs it."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("q")
        self._sizes = array("q")
        self._mtimes = array("q")
        self._table: tuple["np.ndarray", "np.ndarray"] | None = None

    def add(self, entry: ScanEntry) -> None:
        """Keep ``entry`` after the others (its path must not be here yet)."""
        self._data += os.fsencode(entry.key)
        self._ends.append(len(self._data))
        self._sizes.append(entry.size)
        self._mtimes.append(entry.mtime_ns)
        self._table = None

    def __len__(self) -> int:
        return len(self._ends)

    def _raw(self, i: int) -> bytes:
        return bytes(self._data[self._ends[i - 1] if i else 0 : self._ends[i]])

    def key_at(self, i: int) -> str:
        return os.fsdecode(self._raw(i))

    def entry_at(self, i: int) -> ScanEntry:
        return ScanEntry(self.key_at(i), self._sizes[i], self._mtimes[i])

    def position(self, key: str) -> int | None:
        """Where ``key`` was found (its place in the order found), or None."""
        import numpy as np

        if self._table is None:
            hashes = np.fromiter((hash(self._raw(i)) for i in range(len(self))), np.int64, len(self))
            rows = np.argsort(hashes, kind="stable")
            self._table = hashes[rows], rows
        hashes, rows = self._table
        raw = os.fsencode(key)
        h = hash(raw)
        at = int(np.searchsorted(hashes, h))
        while at < len(hashes) and hashes[at] == h:
            if self._raw(int(rows[at])) == raw:
                return int(rows[at])
            at += 1
        return None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.position(key) is not None

    def __getitem__(self, key: str) -> ScanEntry:
        at = self.position(key) if isinstance(key, str) else None
        if at is None:
            raise KeyError(key)
        return self.entry_at(at)

    def __iter__(self) -> Iterator[str]:
        return (self.key_at(i) for i in range(len(self)))


@dataclass
class Library:
    """Everything :func:`gather` found: photos to index (by path string), their companions, the files it
    ignores by kind, and what the index sweep must leave alone."""

    photos: Photos = field(default_factory=Photos)
    companions: dict[str, list[Path]] = field(default_factory=dict)
    ignored: dict[str, list[Path]] = field(default_factory=dict)
    #: folders and files that were not read or not entered: rows below them are never swept
    blind_spots: list[Path] = field(default_factory=list)
    #: explicit files that do not exist or are not files (reported, and counted as failures)
    missing: list[tuple[Path, str]] = field(default_factory=list)

    def ignore(self, kind: str, paths: Iterable[Path]) -> None:
        paths = list(paths)
        if paths:
            self.ignored.setdefault(kind, []).extend(paths)


# -- one folder, by name --------------------------------------------------------------------------------


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _stem(name: str) -> str:
    return os.path.splitext(name)[0].casefold()


def _rank(name: str) -> tuple[int, str]:
    """Which photo a shared stem means: JPEG, then HEIC, then RAW, then any other format."""
    suffix = _suffix(name)
    if suffix in PAIR_SUFFIXES[:4]:
        return 0, name
    if suffix in PAIR_SUFFIXES[4:]:
        return 1, name
    return (2 if suffix in RAW_SUFFIXES else 3), name


def classify(photos: Sequence[str], others: Sequence[str]) -> FolderPlan:
    """Sort the file names of one folder: ``photos`` (names with a photo suffix) and ``others`` (the rest).

    Returns the photos to index, each photo's companions (RAW twins, Live Photo clips, sidecars) and the
    ignored names by kind; every name given appears exactly once in the answer.
    """
    plan = FolderPlan()
    primary: dict[str, str] = {}  # companion name -> the photo it belongs to
    by_stem: dict[str, list[str]] = {}
    for name in sorted(photos):
        by_stem.setdefault(_stem(name), []).append(name)

    def attach(photo: str, companion: str) -> None:
        primary[companion] = photo
        plan.companions.setdefault(photo, []).append(companion)

    for names in by_stem.values():  # RAW + JPEG/HEIC: one photo
        raws = [n for n in names if _suffix(n) in RAW_SUFFIXES]
        rendered = [n for n in names if _suffix(n) in PAIR_SUFFIXES]
        if raws and rendered:
            keeper = min(rendered, key=_rank)
            for raw in raws:
                attach(keeper, raw)
    plan.photos = [n for n in sorted(photos) if n not in primary]

    videos: dict[str, list[str]] = {}
    sidecars: list[str] = []
    rest: list[str] = []
    for name in sorted(others):
        suffix = _suffix(name)
        if suffix in VIDEO_SUFFIXES:
            videos.setdefault(_stem(name), []).append(name)
        elif suffix in SIDECAR_SUFFIXES:
            sidecars.append(name)
        else:
            rest.append(name)

    ignored_videos: set[str] = set()
    for stem, clips in videos.items():  # Live Photo clips
        stills = [n for n in by_stem.get(stem, []) if _suffix(n) in PAIR_SUFFIXES and n not in primary]
        for clip in clips:
            if stills:
                attach(min(stills, key=_rank), clip)
            else:
                ignored_videos.add(clip)
                plan.ignored.setdefault(VIDEOS, []).append(clip)

    exact = {n.casefold(): n for n in [*photos, *(c for cs in videos.values() for c in cs)]}
    keys = sorted(exact)
    for name in sidecars:
        target, media_like = _sidecar_target(name, exact, keys, by_stem, videos, primary)
        if target is not None and target in ignored_videos:
            plan.ignored.setdefault(VIDEO_SIDECARS, []).append(name)
        elif target is not None:
            attach(primary.get(target, target), name)
        elif media_like:
            plan.ignored.setdefault(ORPHAN_SIDECARS, []).append(name)
        else:
            plan.ignored.setdefault(OTHER_FILES, []).append(name)  # e.g. Takeout's album metadata.json
    for name in rest:
        plan.ignored.setdefault(OTHER_FILES, []).append(name)
    for names in [*plan.companions.values(), *plan.ignored.values()]:
        names.sort()
    return plan


def _sidecar_target(
    name: str,
    exact: Mapping[str, str],
    keys: Sequence[str],
    by_stem: Mapping[str, list[str]],
    videos: Mapping[str, list[str]],
    primary: Mapping[str, str],
) -> tuple[str | None, bool]:
    """The photo or video a sidecar describes (``None`` when absent), and whether the sidecar looks like
    one at all (a ``.json`` that names no media file is album metadata, not a sidecar)."""
    base = name[: -len(_suffix(name))]
    if _suffix(name) == ".json":
        return _takeout_target(base, exact, keys)
    hit = exact.get(base.casefold())  # IMG_1.CR2.xmp (darktable, RawTherapee, DxO)
    if hit is not None:
        return hit, True
    stems = [base.casefold()]
    if _suffix(name) == ".aae" and stems[0].startswith("img_o"):
        stems.append("img_" + stems[0][5:])  # iOS exports IMG_O1234.AAE for the edits of IMG_1234
    for stem in stems:
        candidates = [n for n in by_stem.get(stem, []) if n not in primary] or by_stem.get(stem, [])
        if candidates:
            return min(candidates, key=_rank), True
        if videos.get(stem):
            return videos[stem][0], True
    return None, True


def _takeout_target(base: str, exact: Mapping[str, str], keys: Sequence[str]) -> tuple[str | None, bool]:
    """Google Takeout's JSON names: ``IMG.JPG.json``, ``IMG.JPG.supplemental-metadata.json`` (and its
    truncations ``.supplemental-meta.json``, ``.suppl.json``...), ``IMG.JPG(1).json`` for ``IMG(1).JPG``,
    and names cut at Takeout's length limit, which only start like their photo's name."""
    copy = ""
    match = _COPY_NUMBER.match(base)
    if match:
        base, copy = match.group(1), match.group(2)
    head, dot, tail = base.rpartition(".")
    supplemental = bool(dot and head and tail and _SUPPLEMENTAL.startswith(tail.casefold()) and _suffix(head))
    if supplemental:
        base = head
        match = _COPY_NUMBER.match(base)
        if match and not copy:
            base, copy = match.group(1), match.group(2)
    stem, ext = os.path.splitext(base)
    candidate = f"{stem}{copy}{ext}" if copy else base
    hit = exact.get(candidate.casefold())
    if hit is not None:
        return hit, True
    media_like = supplemental or _suffix(base) in IMAGE_SUFFIXES | VIDEO_SUFFIXES
    if not copy and len(base) >= 40:  # cut at Takeout's length limit: the one name that starts the same way
        prefix = base.casefold()
        at = bisect.bisect_left(keys, prefix)  # names that start with the prefix sort right after it
        starts = list(itertools.takewhile(lambda key: key.startswith(prefix), keys[at : at + 2]))
        if len(starts) == 1:
            return exact[starts[0]], True
    return None, media_like


def kind_of(name: str) -> str:
    """The ignored kind a lone file of this name has, when nothing it could belong to is selected."""
    suffix = _suffix(name)
    if suffix in VIDEO_SUFFIXES:
        return VIDEOS
    if suffix in SIDECAR_SUFFIXES:
        return ORPHAN_SIDECARS
    return OTHER_FILES


# -- sources ------------------------------------------------------------------------------------------


def gather(
    roots: Sequence[Path],
    files: Sequence[Path],
    selection: Selection = Selection(),
    *,
    reporter: Reporter | None = None,
    advance: Callable[..., None] = lambda n=1, **fields: None,
) -> Library:
    """Walk ``roots`` and take ``files`` (given one by one, e.g. on stdin) under the same rules.

    A listed file is a photo when its name is one (RAW+JPEG listed together are still one photo); its
    companions are found beside it even when they were not listed; a listed non-photo is ignored by kind.
    Problems the walk meets are reported through ``reporter.skipped``.
    """
    reporter = reporter or Reporter()
    lib = Library()
    unreadable: list[Path] = []
    applied: set[str] = set()  # folders whose photos are kept: a root inside another root reaches them twice
    for root in roots:
        for listing in walk(root, exclude=selection.exclude, include_hidden=selection.include_hidden,
                            reporter=reporter, unreadable=unreadable):
            for kind, paths in listing.left_out.items():
                lib.ignore(kind, paths)
                lib.blind_spots.extend(paths)
            by_name = {os.path.basename(e.key): e for e in listing.photos}
            plan = classify(list(by_name), listing.others)
            if str(listing.folder) in applied:
                plan.photos = []  # the same folder, by the same path, so the same photos: kept once
                plan.companions = {}
            applied.add(str(listing.folder))
            _apply(lib, listing.folder, plan, by_name, advance)
    lib.blind_spots.extend(unreadable)
    lib.blind_spots.extend(_resolved(p) for p in selection.exclude)
    _gather_files(lib, files, advance)
    lib.ignored = ordered({kind: sorted(set(paths), key=str) for kind, paths in lib.ignored.items()})
    return lib


def _apply(lib: Library, folder: Path, plan: FolderPlan, entries: Mapping[str, ScanEntry], advance: Callable[..., None]) -> None:
    for name in plan.photos:  # never one already kept (gather applies each folder's photos once)
        key = entries[name].key
        lib.photos.add(entries[name])
        if name in plan.companions:
            lib.companions[key] = [folder / c for c in plan.companions[name]]
        advance(1, found=len(lib.photos))
    for kind, names in plan.ignored.items():
        lib.ignore(kind, (folder / n for n in names))


def _gather_files(lib: Library, files: Sequence[Path], advance: Callable[..., None]) -> None:
    listed: dict[Path, dict[str, ScanEntry | None]] = {}  # folder -> listed name -> entry (None: not a photo)
    for path in files:
        if str(path) in lib.photos:
            continue
        try:
            st = path.stat()
        except ValueError:  # a NUL in the name (a library caller's list): no file can have it
            lib.missing.append((path, "file not found"))
            continue
        except OSError as exc:
            lib.missing.append((path, "file not found" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"))
            continue
        if not path.is_file():
            lib.missing.append((path, "not a regular file"))
            continue
        entry = ScanEntry(str(path), st.st_size, st.st_mtime_ns) if _suffix(path.name) in IMAGE_SUFFIXES else None
        listed.setdefault(path.parent, {})[path.name] = entry
    for folder, names in listed.items():
        photos = {n for n, e in names.items() if e is not None}
        others = {n for n, e in names.items() if e is None}
        for sibling in _siblings(folder):  # companions beside a listed photo count even when not listed
            (photos if _suffix(sibling) in IMAGE_SUFFIXES else others).add(sibling)
        plan = classify(sorted(photos), sorted(others))
        owner = {c: p for p, cs in plan.companions.items() for c in cs}
        chosen: dict[str, ScanEntry] = {}
        for name in sorted(names):
            entry = names[name]
            if entry is not None and (name not in owner or owner[name] not in names):
                chosen[name] = entry  # a photo, or a RAW twin listed without its JPEG: what was asked for
        keep = FolderPlan(photos=sorted(chosen))
        for photo in keep.photos:
            if photo in plan.companions:
                keep.companions[photo] = [c for c in plan.companions[photo] if c not in chosen]
        kept = {c for cs in keep.companions.values() for c in cs}
        for name in sorted(names):
            if names[name] is None and name not in kept:
                keep.ignored.setdefault(_listed_kind(name, plan), []).append(name)
        _apply(lib, folder, keep, chosen, advance)


def _listed_kind(name: str, plan: FolderPlan) -> str:
    for kind, names in plan.ignored.items():
        if name in names:
            return kind
    return kind_of(name)  # it belongs to a photo that was not listed


def _siblings(folder: Path) -> list[str]:
    """Names of the regular files beside listed ones (nothing when the folder cannot be listed)."""
    try:
        with os.scandir(folder) as it:
            return [e.name for e in it if not e.name.startswith(".") and _is_file(e)]
    except OSError:
        return []


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file(follow_symlinks=True)
    except OSError:
        return False


def _resolved(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(Path(path).expanduser()))


# -- after indexing -----------------------------------------------------------------------------------


def ordered(by_kind: Mapping[str, T]) -> dict[str, T]:
    """``by_kind`` with its kinds in :data:`KIND_ORDER` (unknown kinds last, by name)."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return {k: by_kind[k] for k in sorted(by_kind, key=lambda k: (rank.get(k, len(rank)), k))}


def describe(counts: Mapping[str, int]) -> str:
    """``6 videos, 1 sidecar without a photo`` from {kind: count}, in :data:`KIND_ORDER`."""
    parts = []
    for kind, n in ordered(counts).items():
        if n:
            parts.append(f"{n} {kind if n != 1 else _SINGULAR.get(kind, kind)}")
    return ", ".join(parts)


def companion_counts(companions: Mapping[Path, Sequence[Path]]) -> dict[str, int]:
    """How many companions of each kind (RAW twins, Live Photo clips, sidecars) follow their photos."""
    counts = {"RAW twins": 0, "Live Photo clips": 0, "sidecars": 0}
    for names in companions.values():
        for path in names:
            suffix = _suffix(path.name)
            kind = "RAW twins" if suffix in RAW_SUFFIXES else "Live Photo clips" if suffix in VIDEO_SUFFIXES else "sidecars"
            counts[kind] += 1
    return counts
