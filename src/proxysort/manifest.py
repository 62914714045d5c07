"""``OUT/.proxysort.json``: what proxysort created in an output folder, so re-runs and ``clean`` touch only that.

Version 2 tracks each concept's tree separately (``concepts``), so sorting by a second concept keeps the
first one's tree; marks files kept because they are the last copy of a photo (``orphan``); ties companion
files (sidecars, Live Photo clips, RAW twins) to their photo (``companion_of``); and lists byte-identical
photos that were linked once (``duplicates``). Version 1 manifests (one tree, no concept names) are read
as one concept per top-level folder.

Each concept entry may also record the run that made its tree (``run``, a :class:`ConceptRun`): the
candidate words used, where they came from, the model, the proxy mode, the clustered feature, k, the seed,
the proxysort version and when it was written, so a tree can be told apart from (or reproduced as) another
run's. The record is optional and additive, so the format stays version 2: manifests without it (older
runs, version 1) are read as before, and an older proxysort that reads a manifest holding records neither
refuses it nor misreads it; it drops every record when it rewrites the manifest (they would describe
trees it may have remade), which loses information but nothing the folder's safety depends on.

The file may have been edited or forged, so reading is strict: anything of the wrong shape or type, a NUL
in any string, a lone surrogate that is not an undecodable byte of a file name (see :func:`_string`), or
JSON nested past reason makes the whole folder "not proxysort's" (an :class:`~proxysort.errors.OutputError`,
exit 7) rather than a traceback or a guess. Paths that would leave
the folder (absolute, ``..``) are dropped, never followed.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import sys
import uuid
from abc import abstractmethod
from array import array
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote  # what dumps(ensure_ascii=True) writes for a str
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence, TypeVar, overload

from proxysort.errors import OutputError
from proxysort.jsonstream import JSONStream, JSONSyntaxError, TooDeep, TooLarge

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.outdir import OutDir

from proxysort.scan import OUTPUT_MANIFEST  # the scanner owns the marker name

#: The review page (page.py) and the data it is rebuilt from, at the top of OUT: proxysort's files, not
#: entries of any concept's tree; `clean` removes them with the last tree.
PAGE_FILES = ("index.html", ".proxysort-page.json")
#: proxysort's own hidden folder in OUT for the page's thumbnails (``ab/<content hash>.jpg``), so a copied,
#: zipped or served OUT shows every picture through relative links, with or without proxysort's cache.
PAGE_THUMBS = ".proxysort-thumbs"

LINK_MODES: tuple[str, ...] = ("symlink", "hardlink", "copy")
MANIFEST_VERSION = 2
#: The largest manifest read: 32 GiB, about 100 million entries as proxysort writes them (a file ~250 bytes, a
#: member ~130): 10M photos in several concepts with their sidecars. It bounds what a forged or runaway file
#: (a sparse 50 GB file, one that grows while read) can cost; the memory of what is read is bounded per entry
#: (:class:`FileColumns`, :class:`MemberColumns`), never the text as a whole.
MAX_MANIFEST_BYTES = 32 << 30
#: The longest single value decoded whole (a file entry, a member, a group, one word, one string): a path is
#: at most 4096 bytes (PATH_MAX), 24 KiB of JSON with every byte escaped, so 1 MiB refuses only forgeries.
MAX_VALUE_CHARS = 1 << 20
#: What may be held as plain Python values outside the columns (``dirs``, ``duplicates``, each tree's
#: ``unsure``, ``left_out`` and ``pins``, the page's thumbnails, keys proxysort does not know): 4 GiB. A
#: manifest of 10M photos holds about 1.3 GB there (a thumbnail's digest per photo, a few % of them unsure),
#: 2.4 GB if every photo were unsure or left out; a forged ``[[],[],…]`` costs ~20 bytes of memory per byte of
#: text, so without this a 32 GiB file could exhaust the machine before any check sees it (the old 256 MB
#: limit held it to ~5 GB).
MAX_HELD_BYTES = 4 << 30
_READ_BYTES = 1 << 20  # the manifest is read this much at a time
_STR_FIELDS = ("path", "source", "kind", "target", "companion_of", "sha256")
_INT_FIELDS = ("dev", "ino", "size", "mtime_ns")


class ManifestError(ValueError):
    """The manifest's content is not what proxysort writes (the message says what)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One file proxysort created, with what it must still look like for proxysort to remove it (slots: a
    plan holds one per photo, and an instance dict would be most of its size)."""

    path: str  # relative to the output folder, POSIX separators
    source: str
    kind: str
    target: str | None = None  # symlink text
    dev: int | None = None  # hard link: the source's device and inode
    ino: int | None = None
    size: int | None = None  # copy: size and mtime (the copy keeps the source's mtime)
    mtime_ns: int | None = None
    companion_of: str | None = None  # the photo's path in OUT, for a sidecar/clip/RAW twin linked beside it
    orphan: bool = False  # kept although no longer planned: the last copy of a photo that left the library
    # copy: SHA-256 of the bytes written. Size and mtime miss an edit in place that keeps both (``exiftool
    # -P``, ``touch -r``); only the content tells proxysort's copy from the user's. Optional: manifests
    # written before it existed have none (see :func:`proxysort.output.content_is_ours`).
    sha256: str | None = None

    def same_plan(self, other: "Entry") -> bool:
        """Whether ``other`` plans exactly this file; the content hash is known only once a copy is made."""
        return replace(self, sha256=None) == replace(other, sha256=None)

    def to_json(self) -> dict[str, object]:
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {k: v for k, v in values if v is not None and v is not False}

    @classmethod
    def from_json(cls, data: object) -> "Entry":
        if not isinstance(data, dict):
            raise ManifestError("a 'files' entry is not an object")
        values: dict[str, object] = {}
        for key in _STR_FIELDS:
            value = data.get(key)
            if value is None and key not in ("path", "source", "kind"):
                continue
            values[key] = _string(value, f"files[].{key}")
        for key in _INT_FIELDS:
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise ManifestError(f"files[].{key} is not a whole number")
            values[key] = value
        orphan = data.get("orphan", False)
        if not isinstance(orphan, bool):
            raise ManifestError("files[].orphan is not true or false")
        sha = values.get("sha256")
        if sha is not None and (len(str(sha)) != 64 or any(c not in "0123456789abcdef" for c in str(sha))):
            raise ManifestError("files[].sha256 is not a SHA-256 in hex")
        if values["kind"] not in LINK_MODES:
            raise ManifestError(f"files[].kind {values['kind']!r} is not one of {', '.join(LINK_MODES)}")
        return cls(orphan=orphan, **values)  # type: ignore[arg-type]

    def matches_disk(self, out: "OutDir") -> bool:
        """True when the file at ``path`` is still exactly what proxysort made (looked up without links)."""
        st = out.lstat(self.path)
        if st is None:
            return False
        if self.kind == "symlink":
            return stat.S_ISLNK(st.st_mode) and out.readlink(self.path) == self.target
        if not stat.S_ISREG(st.st_mode):
            return False
        if self.kind == "hardlink":
            return (st.st_dev, st.st_ino) == (self.dev, self.ino)
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


_NO_FOLDER = 0xFFFFFFFF
_TEXT_FIELDS = ("path", "source", "target", "companion_of")
_INT_FLAGS = tuple(1 << (6 + i) for i in range(len(_INT_FIELDS)))
_ORPHAN, _SHA = 1 << 2, 1 << 10


#: The flag of a text field (by its place in _TEXT_FIELDS: source, target, companion_of) whose last part is
#: the path's name, which is then not kept again.
_SAME_NAME = (0, 1 << 3, 1 << 4, 1 << 5)

_Row = TypeVar("_Row")


class _Rows(Sequence[_Row]):
    """A sequence whose items are made from columns when read (:meth:`_row`): indexing, slices and iteration
    for :class:`FileColumns` and :class:`MemberColumns`, written once."""

    @abstractmethod
    def _row(self, row: int) -> _Row:
        """The item at ``row`` (0 ≤ row < len), made from the columns."""

    @overload
    def __getitem__(self, i: int) -> _Row: ...

    @overload
    def __getitem__(self, i: slice) -> list[_Row]: ...

    def __getitem__(self, i: int | slice) -> _Row | list[_Row]:
        if isinstance(i, slice):
            return [self._row(row) for row in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._row(i)

    def __iter__(self) -> Iterator[_Row]:
        return (self._row(row) for row in range(len(self)))


class FileColumns(_Rows[Entry]):
    """A manifest's file entries read as columns, each :class:`Entry` made when read (issue 25).

    A manifest of millions of files held one ``Entry`` per file, with five strings of its own: over 1 KB a
    file while it was read. Here a file is a 2-byte flag word, four indexes into a table of folder parts (its
    path's, its source's, its link text's and its photo's, each up to and including the last ``/``; shared by
    every file in the same folder) and its names in one byte string: the path's name, then only the names
    that differ from it (a link's source and text usually end in the same name), then its numbers and content
    hash as text. About 30 bytes plus its name; every value reads back exactly as it was given.
    """

    def __init__(self) -> None:
        self._flags = array("H")  # kind (2 bits), orphan, same-name flags, which numbers and hash are present
        self._folders = array("I")  # 4 per file: index into _parts, _NO_FOLDER for a field it has not
        self._start = array("Q")  # where each file's names begin in _text
        self._text = bytearray()  # the names, NUL-separated (no manifest text holds a NUL), UTF-8 + surrogateescape
        self._parts: list[str] = []
        self._part_index: dict[str, int] = {}
        self.error: ManifestError | None = None  # the first entry that was not proxysort's (reading stops keeping)

    def add(self, entry: Entry) -> None:
        """Keep ``entry`` (checked already: every string holds no NUL and round-trips as file names do)."""
        path_part, _, name = entry.path.rpartition("/")
        flags = LINK_MODES.index(entry.kind) | (_ORPHAN if entry.orphan else 0)
        texts = [name]
        folders = [self._part(path_part + "/"), _NO_FOLDER, _NO_FOLDER, _NO_FOLDER]
        for i, value in ((1, entry.source), (2, entry.target), (3, entry.companion_of)):
            if value is not None:
                part, slash, own = value.rpartition("/")
                folders[i] = self._part(part + slash)
                if own == name:
                    flags |= _SAME_NAME[i]
                else:
                    texts.append(own)
        for flag, number in zip(_INT_FLAGS, (entry.dev, entry.ino, entry.size, entry.mtime_ns)):
            if number is not None:
                flags |= flag
                texts.append(str(number))
        if entry.sha256 is not None:
            flags |= _SHA
            texts.append(entry.sha256)
        self._flags.append(flags)
        self._folders.extend(folders)
        self._start.append(len(self._text))
        self._text += "\0".join(texts).encode("utf-8", "surrogateescape")

    def _part(self, part: str) -> int:
        i = self._part_index.get(part)
        if i is None:
            i = self._part_index[part] = len(self._parts)
            self._parts.append(part)
        return i

    def _row(self, row: int) -> Entry:
        end = self._start[row + 1] if row + 1 < len(self._start) else len(self._text)
        texts = iter(self._text[self._start[row]:end].decode("utf-8", "surrogateescape").split("\0"))
        flags, at = self._flags[row], 4 * row
        name = next(texts)
        values: dict[str, object] = {"path": self._parts[self._folders[at]] + name}
        for i in (1, 2, 3):
            part = self._folders[at + i]
            if part != _NO_FOLDER:
                values[_TEXT_FIELDS[i]] = self._parts[part] + (name if flags & _SAME_NAME[i] else next(texts))
        for flag, key in zip(_INT_FLAGS, _INT_FIELDS):
            if flags & flag:
                values[key] = int(next(texts))
        if flags & _SHA:
            values["sha256"] = next(texts)
        return Entry(kind=LINK_MODES[flags & 3], orphan=bool(flags & _ORPHAN), **values)  # type: ignore[arg-type]

    def path(self, row: int) -> str:
        """Row ``row``'s path in OUT, without making its entry (a re-run finds old files by path: issue 25)."""
        start = self._start[row]
        end = self._start[row + 1] if row + 1 < len(self._start) else len(self._text)
        cut = self._text.find(0, start, end)  # the name is the first of the row's NUL-separated texts
        name = self._text[start:end if cut < 0 else cut]
        return self._parts[self._folders[4 * row]] + name.decode("utf-8", "surrogateescape")

    def __len__(self) -> int:
        return len(self._flags)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same entries in the same order (a manifest read back equals the one
        written, or one whose files a caller listed)."""
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def tops(self) -> set[str]:
        """The first folder of every file's path (read from the folder table, no entry made)."""
        return {self._parts[p].split("/", 1)[0] for p in set(self._folders[::4])}

    def within(self, tops: set[str]) -> "FileColumns":
        """The files whose path lies under one of ``tops``: these columns when all do (the usual case)."""
        outside = {i for i, part in enumerate(self._parts) if part.split("/", 1)[0] not in tops}
        rows = [row for row in range(len(self)) if self._folders[4 * row] not in outside] if outside else None
        if rows is None or len(rows) == len(self):
            return self
        kept = FileColumns()
        for row in rows:
            kept.add(self._row(row))
        return kept


class MemberColumns(_Rows[tuple[str, int, str]]):
    """A tree memory's members, ``(photo, group index, content id)``, read as columns: the photo's folder as an
    index into a table of folders, the group as 4 bytes, the photo's name and content id in one byte string
    (about 20 bytes plus the name and id, where a tuple of three objects held ~250). Equal to any sequence of
    the same members, so a memory read back compares equal to the one written."""

    def __init__(self) -> None:
        self._folder = array("I")
        self._group = array("I")
        self._start = array("Q")
        self._text = bytearray()
        self._parts: list[str] = []
        self._part_index: dict[str, int] = {}
        self._most = -1  # the largest group index: checked against the groups once they are all read
        self.error: ManifestError | None = None  # the first member that was not proxysort's (none kept after it)
        self._error_group: int | None = None  # that member's group, when only its content id was wrong

    @classmethod
    def of(cls, items: Iterable[object]) -> "MemberColumns":
        """Members from JSON values (each checked as :meth:`add_json` checks it)."""
        members = cls()
        for item in items:
            members.add_json(item)
        return members

    def add_json(self, item: object) -> None:
        """Check and keep one member as JSON gives it; a wrong one is kept as :attr:`error` (the first only),
        checked in the order a whole memory is: photo, group, content id."""
        if self.error is not None:
            return
        try:
            if not isinstance(item, list) or len(item) != 3:
                raise ManifestError("concepts[].memory.members[] is not [photo, group, content id]")
            photo, group = _string(item[0], "members[].photo"), _whole(item[1], "members[].group", least=0)
            if group > _NO_FOLDER:  # no memory has that many groups
                raise ManifestError("members[].group names no group")
        except ManifestError as exc:
            self.error = exc
            return
        try:
            cid = _string(item[2], "members[].id")
        except ManifestError as exc:
            self.error, self._error_group = exc, group  # its group, if it names none, is the first error
            return
        part, slash, name = photo.rpartition("/")
        i = self._part_index.get(part + slash)
        if i is None:
            i = self._part_index[part + slash] = len(self._parts)
            self._parts.append(part + slash)
        self._folder.append(i)
        self._group.append(group)
        self._most = max(self._most, group)
        self._start.append(len(self._text))
        self._text += f"{name}\0{cid}".encode("utf-8", "surrogateescape")

    def check(self, groups: int) -> None:
        """Raise the first wrong member as a whole memory's check finds it, a group index of ``groups`` or more
        included (ManifestError): the groups may come after the members in the text."""
        if self._most >= groups or (self._error_group is not None and self._error_group >= groups):
            raise ManifestError("members[].group names no group")
        if self.error is not None:
            raise self.error

    def _row(self, row: int) -> tuple[str, int, str]:
        end = self._start[row + 1] if row + 1 < len(self._start) else len(self._text)
        name, _, cid = self._text[self._start[row]:end].decode("utf-8", "surrogateescape").partition("\0")
        return self._parts[self._folder[row]] + name, self._group[row], cid

    def __len__(self) -> int:
        return len(self._group)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))

    def __hash__(self) -> int:
        return hash(tuple(self))


@dataclass(frozen=True)
class ConceptRun:
    """How one concept's tree was made: the settings a person needs to tell it apart or make it again.

    Field names are the ones the library uses for the same facts (``ConceptResult.words``/``word_source``/
    ``feature``/``k``, ``ModelSpec.model``/``pretrained``, the store's model ``identity``, ``ProxyConfig.mode``).
    """

    words: tuple[str, ...]  # the candidate words the method kept (after any pruning): the groups' names come from them
    candidates: tuple[str, ...]  # the candidate words as given: with the settings below, the tree can be made again
    word_source: str  # user, llm, lexicon or anchors
    model: str  # as given: a model name or a config file's path
    pretrained: str | None  # as given: a weights tag or file, None for random weights
    identity: str  # the vector store's key for the (model, weights) pair
    mode: str
    feature: str
    k: int
    seed: int
    proxysort_version: str
    written: str  # UTC, ISO 8601

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "words": list(self.words), "candidates": list(self.candidates)}

    @classmethod
    def from_json(cls, data: object) -> "ConceptRun":
        if not isinstance(data, dict):
            raise ManifestError("a concept's 'run' is not an object")
        words = data.get("words")
        if not isinstance(words, list):
            raise ManifestError("concepts[].run.words is not a list")
        # Manifests written before the candidates were recorded kept only the words used: the best record left.
        candidates = data.get("candidates", words)
        if not isinstance(candidates, list):
            raise ManifestError("concepts[].run.candidates is not a list")
        pretrained = data.get("pretrained")
        text = {key: _string(data.get(key), f"concepts[].run.{key}") for key in
                ("word_source", "model", "identity", "mode", "feature", "proxysort_version", "written")}
        try:
            datetime.fromisoformat(text["written"])
        except ValueError:
            raise ManifestError("concepts[].run.written is not an ISO 8601 time") from None
        return cls(
            words=tuple(_string(w, "concepts[].run.words[]") for w in words),
            candidates=tuple(_string(w, "concepts[].run.candidates[]") for w in candidates),
            pretrained=None if pretrained is None else _string(pretrained, "concepts[].run.pretrained"),
            k=_whole(data.get("k"), "concepts[].run.k", least=1),
            seed=_whole(data.get("seed"), "concepts[].run.seed", least=0),
            **text,
        )

    def dated_as(self, old: "ConceptRun | None") -> "ConceptRun":
        """This record with ``old``'s time when both record the same settings: a repeated run that changes
        nothing in its tree leaves the manifest byte for byte as it was."""
        if old is not None and replace(self, written=old.written) == old:
            return old
        return self


@dataclass(frozen=True)
class GroupRecord:
    """One group of a concept as the next run needs it to keep the group: its folder name, its centre in
    the clustered feature space, how far its own photos lie from that centre, and whether the user named it
    (renamed its folder, or made the folder)."""

    name: str  # the folder under the concept's folder
    centre: tuple[float, ...]
    spread: float  # distance (1 - cosine, or Euclidean for non-spherical features) most members stay within
    by_user: bool = False

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"name": self.name, "centre": [round(v, 7) for v in self.centre], "spread": self.spread}
        if self.by_user:
            data["by_user"] = True
        return data

    @classmethod
    def from_json(cls, data: object) -> "GroupRecord":
        if not isinstance(data, dict):
            raise ManifestError("a memory's group is not an object")
        centre = data.get("centre")
        if not isinstance(centre, list) or not all(_is_number(v) for v in centre):
            raise ManifestError("concepts[].memory.groups[].centre is not a list of numbers")
        spread, by_user = data.get("spread"), data.get("by_user", False)
        if not _is_number(spread) or not isinstance(by_user, bool):
            raise ManifestError("concepts[].memory.groups[] has a wrong spread or by_user")
        return cls(_string(data.get("name"), "concepts[].memory.groups[].name"), tuple(float(v) for v in centre),
                   float(spread), by_user)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Memory:
    """What a concept's tree remembers so that the next run keeps it (see :mod:`proxysort.stable`) and the
    user's corrections stick (see :mod:`proxysort.corrections`).

    ``setup`` is the settings that made the groups (a different setup re-makes the tree); ``members`` maps
    each sorted photo to its group (an index into ``groups``) and its content id (a changed photo is placed
    again); ``pins`` are photos the user moved into a group by hand ("placed by you"); ``left_out`` are photos
    whose link the user deleted, kept out of the concept until a recluster or ``clean``; ``unsure`` are
    photos shown in their group's ``-unsure`` folder (``red-unsure`` beside ``red``: they lie almost as near
    another group, :func:`proxysort.groups.unsure_photos`), still members of the group, and ``unsure_margin``
    the margin below which a new photo joins them (0: the tree shows no such folders).
    """

    setup: tuple[tuple[str, str], ...] = ()
    groups: tuple[GroupRecord, ...] = ()
    # (photo, group index, content id); read from a manifest: a MemberColumns (columns, not a tuple per photo)
    members: Sequence[tuple[str, int, str]] = ()
    pins: tuple[tuple[str, int], ...] = ()  # (photo, group index)
    left_out: tuple[str, ...] = ()
    unsure: tuple[str, ...] = ()
    unsure_margin: float = 0.0

    def to_json(self, members: str | None = None) -> dict[str, object]:
        """The memory as JSON values; ``members`` (a placeholder string) stands in for the list of members,
        which :meth:`Manifest.json_parts` then writes one member at a time (a list per photo otherwise)."""
        data: dict[str, object] = {
            "setup": dict(self.setup),
            "groups": [g.to_json() for g in self.groups],
            "members": members if members is not None else [list(m) for m in sorted(self.members)],
            "pins": [list(p) for p in sorted(self.pins)],
            "left_out": sorted(self.left_out),
        }
        if self.unsure or self.unsure_margin:  # absent from trees without them: their manifests stay as they were
            data["unsure"] = sorted(self.unsure)
            data["unsure_margin"] = self.unsure_margin
        return data

    @classmethod
    def from_json(cls, data: object) -> "Memory":
        if not isinstance(data, dict):
            raise ManifestError("a concept's 'memory' is not an object")
        setup = data.get("setup", {})
        if not isinstance(setup, dict):
            raise ManifestError("concepts[].memory.setup is not an object")
        groups = tuple(GroupRecord.from_json(g) for g in _list(data, "groups"))

        def index(value: object, what: str) -> int:
            i = _whole(value, what, least=0)
            if i >= len(groups):
                raise ManifestError(f"{what} names no group")
            return i

        # A manifest read from a file gives its members already read into columns (see _read_members).
        members = data.get("members")
        if not isinstance(members, MemberColumns):
            members = MemberColumns.of(_list(data, "members"))
        members.check(len(groups))
        pins = []
        for p in _list(data, "pins"):
            if not isinstance(p, list) or len(p) != 2:
                raise ManifestError("concepts[].memory.pins[] is not [photo, group]")
            pins.append((_string(p[0], "pins[].photo"), index(p[1], "pins[].group")))
        margin = data.get("unsure_margin", 0.0)
        if not _is_number(margin) or margin < 0:
            raise ManifestError("concepts[].memory.unsure_margin is not a number of at least 0")
        return cls(
            setup=tuple(sorted((_string(k, "setup key"), _string(v, "setup value")) for k, v in setup.items())),
            groups=groups, members=members, pins=tuple(pins),
            left_out=tuple(_string(s, "left_out[]") for s in _list(data, "left_out")),
            unsure=tuple(_string(s, "unsure[]") for s in _list(data, "unsure")),
            unsure_margin=float(margin),
        )


@dataclass(frozen=True)
class ConceptTree:
    """One concept's tree in OUT: the concept as the user named it, its folder, and how photos appear;
    ``run`` says how it was made (None for trees written by an older proxysort, or by
    :func:`~proxysort.output.plan_tree` given no record)."""

    name: str
    dir: str
    link: str
    run: ConceptRun | None = None
    memory: Memory | None = None  # what the next run keeps, and the user's corrections

    def to_json(self, members: str | None = None) -> dict[str, object]:
        """The tree as JSON values (``members``: see :meth:`Memory.to_json`)."""
        data: dict[str, object] = {"name": self.name, "dir": self.dir, "link": self.link}
        if self.run is not None:
            data["run"] = self.run.to_json()
        if self.memory is not None:
            data["memory"] = self.memory.to_json(members)
        return data


@dataclass(frozen=True)
class Duplicate:
    """A photo not linked because a byte-identical one is already in the same group."""

    concept: str
    source: str
    same_as: str  # path in OUT of the copy that was linked


@dataclass(frozen=True)
class PageRecord:
    """What proxysort wrote for the review page, so ``clean`` removes only that: the SHA-256 (hex) of
    ``index.html`` and of its data file as written (``None``: not written, e.g. the user's own
    ``index.html`` was in the way), and the content hashes of the thumbnails in :data:`PAGE_THUMBS`."""

    html: str | None = None
    data: str | None = None
    thumbs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"html": self.html, "data": self.data, "thumbs": sorted(self.thumbs)}

    @classmethod
    def from_json(cls, data: object) -> "PageRecord":
        if not isinstance(data, dict):
            raise ManifestError("'page' is not an object")
        hashes = {key: data.get(key) for key in ("html", "data")}
        for key, value in hashes.items():
            if value is not None and not is_hex_digest(value):
                raise ManifestError(f"page.{key} is not a SHA-256 digest")
        thumbs = data.get("thumbs", [])
        if not isinstance(thumbs, list) or not all(is_hex_digest(t) for t in thumbs):
            raise ManifestError("page.thumbs is not a list of SHA-256 digests")
        html, page_data = (value if isinstance(value, str) else None for value in hashes.values())
        return cls(html, page_data, tuple(str(t) for t in thumbs))


def is_hex_digest(value: object) -> bool:
    """A lowercase hex SHA-256: the only names proxysort gives thumbnails (never a path)."""
    return isinstance(value, str) and len(value) == 64 and all(ch in "0123456789abcdef" for ch in value)


@dataclass
class Manifest:
    files: Sequence[Entry] = field(default_factory=list)  # a list, or a plan's files (proxysort.plannedfiles)
    dirs: list[str] = field(default_factory=list)
    link: str | None = None
    concepts: list[ConceptTree] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    #: False while a run changes the tree: files listed may not have been made yet (a crash leaves it so), so
    #: a listed file that is missing is not a link the user deleted (:mod:`proxysort.corrections`).
    complete: bool = True
    page: PageRecord | None = None  # the review page's files, when proxysort wrote one

    def is_empty(self) -> bool:
        """Lists nothing of proxysort's: no file, folder or tree (what ``clean`` leaves when it removed all)."""
        return not (self.files or self.dirs or self.concepts or self.duplicates)

    def concept_of(self, rel: str) -> ConceptTree | None:
        """The concept whose folder holds ``rel``."""
        top = PurePosixPath(rel).parts[0]
        return next((c for c in self.concepts if c.dir == top), None)

    def to_json(self) -> str:
        return "".join(self.json_parts())

    def json_parts(self) -> Iterator[str]:
        """The manifest's JSON text in pieces, one per file entry: joined, exactly what one ``json.dumps`` of
        the whole object with ``indent=1`` gives, but never a list of N dicts nor one string of every entry
        at once (a tree of millions of photos is written a piece at a time; issue 25)."""

        def dump(value: object) -> str:
            # ensure_ascii: names may hold lone surrogates (undecodable bytes): escaped, read back exactly
            return json.dumps(value, indent=1, ensure_ascii=True)

        # Each tree's members (one per sorted photo) are written one at a time where a placeholder stands: the
        # head is never one string holding millions of members, nor a list per photo made for it (issue 25).
        trees = sorted(self.concepts, key=lambda c: c.dir)
        holders = [f"\x00members {uuid.uuid4().hex}\x00" for _ in trees]  # no name or word holds one
        head = dump({
            "tool": "proxysort",
            "version": MANIFEST_VERSION,
            **({} if self.complete else {"complete": False}),
            "link": self.link,
            "concepts": [c.to_json(h) for c, h in zip(trees, holders)],
            "dirs": sorted(set(self.dirs)),
        })
        tail = dump({
            "duplicates": [d.__dict__ for d in sorted(self.duplicates, key=lambda d: (d.concept, d.source))],
            **({"page": self.page.to_json()} if self.page is not None else {}),
        })
        for tree, holder in zip(trees, holders):
            if tree.memory is None:
                continue
            before, head = head.split(dump(holder), 1)
            yield before
            yield from _members_json(tree.memory.members, before.rpartition("\n")[2][: -len('"members": ')])
        yield head[: -len("\n}")] + ',\n "files": ['
        # A plan's files come in path order without a sorted list of them (PlannedFiles.in_path_order).
        ordered = getattr(self.files, "in_path_order", None)
        files = ordered() if ordered is not None else iter(sorted(self.files, key=lambda e: e.path))
        first = True
        for entry in files:  # each entry as the whole dump nests it: two levels deeper
            yield ("\n" if first else ",\n") + "\n".join("  " + line for line in dump(entry.to_json()).split("\n"))
            first = False
        yield ("]" if first else "\n ]") + ",\n" + tail[len("{\n"):]


def _members_json(members: Sequence[tuple[str, int, str]], indent: str) -> Iterator[str]:
    """A memory's members as ``json.dumps(..., indent=1, ensure_ascii=True)`` of their sorted list nests them
    after ``indent`` (its key's line), one member at a time, each ``[photo, group, content id]`` formatted here
    (the same escapes as ``dumps``; a ``dumps`` per member costs three times the CPU)."""
    if not members:
        yield "[]"
        return
    inner = indent + "  "
    # Members that say they are sorted already (stable.Members of the index's column) are not sorted again.
    for i, (photo, group, cid) in enumerate(members if getattr(members, "in_order", False) else sorted(members)):
        yield (f"{'[' if i == 0 else ','}\n{indent} [\n{inner}{_quote(photo)},\n{inner}{int(group)},\n"
               f"{inner}{_quote(cid)}\n{indent} ]")
    yield "\n" + indent + "]"


def is_manifest_text(value: str) -> bool:
    """Whether a manifest can hold ``value`` and read it back: no NUL, and valid text as file names are.

    File names, symlink targets, model paths and command-line arguments need not be UTF-8 on Linux: Python
    gives their undecodable bytes as lone surrogates U+DC80..U+DCFF (``surrogateescape``, as
    :func:`os.fsdecode` does), and the writer keeps them as ``\\udcXX`` escapes. So valid text is a string
    that round-trips through those bytes; any other lone surrogate (or an escape of bytes that are UTF-8
    after all, "\\udcc3\\udca9" for "é") cannot come from a name and is refused.
    """
    if "\x00" in value:
        return False
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape") == value
    except UnicodeEncodeError:  # a surrogate outside U+DC80..U+DCFF
        return False


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"{what} is not text")
    if "\x00" in value:
        raise ManifestError(f"{what} contains a NUL character")
    if not value.isascii() and not is_manifest_text(value):  # ASCII text round-trips (a manifest is mostly ASCII)
        raise ManifestError(f"{what} is not valid text")
    return value


def _whole(value: object, what: str, *, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ManifestError(f"{what} is not a whole number of at least {least}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _list(data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ManifestError(f"'{key}' is not a list")
    return value


def safe_relative(rel: str) -> bool:
    """A manifest path may only name something strictly inside the output folder (it could be edited)."""
    # Exactly the normalised relative paths (``PurePosixPath(rel)`` gives back ``rel``) with no ``.``/``..``
    # part, by splitting: checked once per file of a manifest of millions.
    parts = rel.split("/")
    return "" not in parts and "." not in parts and ".." not in parts and parts != [OUTPUT_MANIFEST]


def parse_manifest(text: str) -> Manifest:
    """Validate and load a manifest's text; :class:`ManifestError` says what is wrong."""
    return _parse(iter((text,)))


def _parse(pieces: Iterator[str], held_limit: int = MAX_HELD_BYTES) -> Manifest:
    """A manifest from its text given in pieces: read a value at a time (:mod:`proxysort.jsonstream`), the
    files and each tree's members straight into columns, the rest counted against ``held_limit`` bytes, then
    checked as a whole value would be."""
    stream = JSONStream(pieces, value_limit=MAX_VALUE_CHARS)
    try:
        data = _read(stream, (), 0, _Held(held_limit))
        stream.end()
    except TooDeep:
        raise ManifestError("it is nested too deeply to be proxysort's") from None
    except TooLarge:
        raise ManifestError(f"one of its values is longer than {MAX_VALUE_CHARS >> 20} MiB of text") from None
    except JSONSyntaxError as exc:
        raise ManifestError(f"it is not JSON ({exc})") from None
    return _manifest(data)


_STREAM_DEPTH = 8  # objects nested deeper than any proxysort writes are decoded whole (bounded, C recursion)


class _Held:
    """Bytes of memory held as plain values while a manifest is read, refused past ``limit`` as they come (an
    estimate from ``sys.getsizeof``, the references in containers included)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0

    def take(self, value: object) -> object:
        """``value``, counted (ManifestError once the total passes the limit)."""
        if not isinstance(value, (dict, list)):  # a digest, a path, a number: most of what is held
            self.bytes += sys.getsizeof(value) + 8
            if self.bytes > self.limit:
                raise self._refusal()
            return value
        size, stack = 0, [value]
        while stack:
            item = stack.pop()
            size += sys.getsizeof(item)
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        self.bytes += size + 8  # and the reference that holds it
        if self.bytes > self.limit:
            raise self._refusal()
        return value

    def _refusal(self) -> ManifestError:
        return ManifestError(f"it holds more than {self.limit >> 20} MiB besides its files and members, far more "
                             "than proxysort writes")


def _read(stream: JSONStream, where: tuple[str, ...], depth: int, held: _Held) -> object:
    """The value at ``where`` (keys from the top, ``[]`` for a list's element): objects a key at a time, lists
    an element at a time, each element whole (at most MAX_VALUE_CHARS), except the top's ``files`` and each
    tree's ``memory.members``, which go into columns as they are read, and the trees, which hold them; what is
    held as plain values is counted by ``held``."""
    char = stream.peek()
    if char == "[" and where == ("files",):
        return _read_files(stream)
    if char == "[" and where == ("concepts", "[]", "memory", "members"):
        members = MemberColumns()
        for _ in stream.items():
            members.add_json(stream.value())
        return members
    if depth >= _STREAM_DEPTH:
        return held.take(stream.value())
    if char == "{":
        return {held.take(key): _read(stream, (*where, key), depth + 1, held) for key in stream.keys()}
    if char == "[":
        if where == ("concepts",):
            return [_read(stream, (*where, "[]"), depth + 1, held) for _ in stream.items()]
        return [held.take(stream.value()) for _ in stream.items()]
    return held.take(stream.value())


def _read_files(stream: JSONStream) -> FileColumns:
    """The ``files`` list into columns, each entry checked as read; after a wrong one the rest are only read
    (the error is raised where the whole manifest is checked, in the order a whole value is checked)."""
    files = FileColumns()
    for _ in stream.items():
        item = stream.value()
        if files.error is not None:
            continue
        try:
            entry = Entry.from_json(item)
        except ManifestError as exc:
            files.error = exc
            continue
        if safe_relative(entry.path) and "/" in entry.path:
            files.add(entry)
    return files


def _manifest(data: object) -> Manifest:
    """Check the manifest read by :func:`_read` (lists of files and members already in columns)."""
    if not isinstance(data, dict) or data.get("tool") != "proxysort":
        raise ManifestError("it was not written by proxysort")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ManifestError("its version is not a positive whole number")
    if version > MANIFEST_VERSION:
        raise ManifestError(f"it was written by a newer proxysort (manifest version {version})")
    link = data.get("link")
    if link is not None and link not in LINK_MODES:
        raise ManifestError("its 'link' is not a link mode")
    files = data.get("files", FileColumns())
    if not isinstance(files, FileColumns):
        _list(data, "files")  # raises: every list of files was read into columns
        files = FileColumns()
    if files.error is not None:
        raise files.error
    dirs = [_string(d, "dirs[]") for d in _list(data, "dirs")]
    concepts = []
    for item in _list(data, "concepts"):
        if not isinstance(item, dict):
            raise ManifestError("a 'concepts' entry is not an object")
        run, memory = item.get("run"), item.get("memory")
        tree = ConceptTree(_string(item.get("name"), "concepts[].name"), _string(item.get("dir"), "concepts[].dir"),
                           _string(item.get("link", link or "symlink"), "concepts[].link"),
                           None if run is None else ConceptRun.from_json(run),
                           None if memory is None else Memory.from_json(memory))
        if tree.link not in LINK_MODES:
            raise ManifestError("a concept's 'link' is not a link mode")
        if safe_relative(tree.dir) and "/" not in tree.dir:
            concepts.append(tree)
    duplicates = []
    for item in _list(data, "duplicates"):
        if not isinstance(item, dict):
            raise ManifestError("a 'duplicates' entry is not an object")
        duplicates.append(Duplicate(*(_string(item.get(k), f"duplicates[].{k}") for k in ("concept", "source", "same_as"))))
    dirs = [d for d in dirs if safe_relative(d)]
    if version == 1:  # one unnamed tree per top-level folder, all in the run's link mode
        tops = sorted({PurePosixPath(d).parts[0] for d in dirs} | files.tops())
        concepts = [ConceptTree(top, top, link or "symlink") for top in tops]
    known = {c.dir for c in concepts}
    # Anything outside every concept folder cannot be attributed to a tree: it is left alone.
    files = files.within(known)
    dirs = [d for d in dirs if PurePosixPath(d).parts[0] in known]
    complete = data.get("complete", True)
    if not isinstance(complete, bool):
        raise ManifestError("its 'complete' is not true or false")
    page = None if data.get("page") is None else PageRecord.from_json(data["page"])
    return Manifest(files=files, dirs=dirs, link=link, concepts=concepts, duplicates=duplicates, complete=complete,
                    page=page)


class _TooLargeFile(Exception):
    """The manifest grew past :data:`MAX_MANIFEST_BYTES` while it was read."""


def _pieces(fd: int, limit: int) -> Iterator[str]:
    """The text of open file ``fd``, a read at a time, strict UTF-8 (a character cut by a read is joined)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    total = 0
    while chunk := os.read(fd, _READ_BYTES):
        total += len(chunk)
        if total > limit:
            raise _TooLargeFile
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def read_manifest_at(out: "OutDir", limit: int = MAX_MANIFEST_BYTES) -> Manifest | None:
    """The manifest of an open output folder, ``None`` if it has none; OutputError if it is not ours.

    Opened as a regular file without following a link (a FIFO, device or link swapped in is refused, never
    waited on or followed) and read a piece at a time (:func:`_parse`): at most ``limit`` bytes, its size
    checked before the first read and again as it is read (a file that grows, a ``/proc`` file of size 0)."""
    path = out.path / OUTPUT_MANIFEST
    too_large = f"{path} is too large to be a proxysort manifest; move it away or choose another `out`."
    try:
        fd = out.open_regular(OUTPUT_MANIFEST)
    except OSError as exc:
        raise OutputError(f"{path} is not a readable proxysort manifest ({exc.strerror or exc}); move it away or choose another `out`.") from exc
    if fd is None:
        return None
    try:
        if os.fstat(fd).st_size > limit:
            raise OutputError(too_large)
        return _parse(_pieces(fd, limit))
    except _TooLargeFile:
        raise OutputError(too_large) from None
    except MemoryError:
        raise OutputError(f"{path} is too large for this machine's memory; move it away or choose another `out`.") from None
    except OSError as exc:
        raise OutputError(f"{path} is not a readable proxysort manifest ({exc.strerror or exc}); move it away or choose another `out`.") from exc
    except UnicodeDecodeError:
        raise OutputError(f"{path} is not proxysort's: it is not UTF-8 text; move it away or choose another `out`.") from None
    except ManifestError as exc:
        raise OutputError(f"{path} is not proxysort's: {exc}; move it away or choose another `out`.") from None
    finally:
        os.close(fd)


def read_manifest(out: Path) -> Manifest | None:
    """The manifest in output folder ``out`` (a path), ``None`` if there is none."""
    from proxysort.outdir import OutDir

    with OutDir.open(Path(out)) as od:
        return read_manifest_at(od) if od.exists else None
