"""Write the result as folders of links (``OUT/<concept>/<cluster>/<file>``) that a re-run can replace safely.

Safety rules, in order of importance:

1. Nothing is ever written inside a photo folder: the output folder may not overlap any folder the photos
   come from (neither inside it nor containing it in a way that a concept folder would land in it).
2. proxysort only deletes or replaces what it created. Every created file and folder is listed in a
   manifest (``OUT/.proxysort.json``) with a fingerprint (symlink target, hard-link inode, or copy
   size+mtime); an entry is removed only if the file on disk still matches it. Anything else in the
   output folder is left alone and its name is never reused.
3. A crash never leaves unlisted files: the manifest is written first with the union of old and planned
   entries, then the tree is changed, then the manifest is rewritten with exactly what now exists.
4. An existing, non-empty folder without a manifest is refused: it is not ours.

The same manifest file marks the folder as proxysort output, so the scanner skips it if a user ever
points proxysort at a folder that contains it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal, Mapping, Sequence

from proxysort.errors import OutputError, UsageError
from proxysort.names import unique_names
from proxysort.progress import Reporter
from proxysort.scan import OUTPUT_MANIFEST  # the scanner owns the marker name

LinkMode = Literal["symlink", "hardlink", "copy"]
LINK_MODES: tuple[str, ...] = ("symlink", "hardlink", "copy")
MANIFEST_VERSION = 1
_NAME_MAX_BYTES = 255
_PARTIAL_PREFIX = ".proxysort-partial-"


# --------------------------------------------------------------------------------------------- names


def _file_name(basename: str, taken: set[str]) -> str:
    """The photo's own file name, or ``stem-2.ext`` when two photos in one cluster share it."""
    stem, dot, ext = basename.rpartition(".")
    if not stem:  # no extension, or a name like ".hidden"
        stem, dot, ext = basename, "", ""
    candidate, n = basename, 1
    while candidate.casefold() in taken:
        n += 1
        tail = f"-{n}{dot}{ext}"
        room = _NAME_MAX_BYTES - len(tail.encode("utf-8"))
        short = stem
        while len(short.encode("utf-8")) > room:
            short = short[:-1]
        candidate = short + tail
    taken.add(candidate.casefold())
    return candidate


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
                f"The output folder {out} is inside the photo folder {root}; choose an --out outside it "
                f"(default: {default_out(root)})."
            )
        for name in concept_dirs:
            target = real_out / name
            if _inside(real_root, target):
                raise OutputError(
                    f"Writing {target} would write into the photo folder {root}; choose another --out."
                )


# ------------------------------------------------------------------------------------------ manifest


@dataclass(frozen=True)
class Entry:
    """One file proxysort created, with what it must still look like for proxysort to remove it."""

    path: str  # relative to the output folder, POSIX separators
    source: str
    kind: str
    target: str | None = None  # symlink text
    dev: int | None = None  # hard link: the source's device and inode
    ino: int | None = None
    size: int | None = None  # copy: the source's size and mtime (copy2 keeps the mtime)
    mtime_ns: int | None = None

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "Entry":
        fields = {k: data.get(k) for k in cls.__dataclass_fields__}
        if not isinstance(fields["path"], str) or fields["kind"] not in LINK_MODES:
            raise ValueError("bad entry")
        return cls(**fields)  # type: ignore[arg-type]

    def matches_disk(self, out: Path) -> bool:
        """True when the file at ``path`` is still exactly what proxysort made."""
        try:
            st = os.lstat(out / self.path)
        except OSError:
            return False
        if self.kind == "symlink":
            return stat.S_ISLNK(st.st_mode) and os.readlink(out / self.path) == self.target
        if not stat.S_ISREG(st.st_mode):
            return False
        if self.kind == "hardlink":
            return (st.st_dev, st.st_ino) == (self.dev, self.ino)
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


@dataclass
class Manifest:
    files: list[Entry] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    link: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "tool": "proxysort",
                "version": MANIFEST_VERSION,
                "link": self.link,
                "dirs": sorted(set(self.dirs)),
                "files": [e.to_json() for e in sorted(self.files, key=lambda e: e.path)],
            },
            indent=1,
            ensure_ascii=False,
        )


def _safe_relative(rel: str, out: Path) -> bool:
    """A manifest path may only name something strictly inside the output folder (it could be edited)."""
    p = PurePosixPath(rel)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        return False
    if p.parts == (OUTPUT_MANIFEST,):
        return False
    real_out = _real(out)
    parent = _real(out / Path(*p.parts[:-1])) if len(p.parts) > 1 else real_out
    return _inside(parent, real_out)


def read_manifest(out: Path) -> Manifest | None:
    """The previous run's manifest, ``None`` if there is none; OutputError if the file is not ours."""
    path = out / OUTPUT_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path} is not a readable proxysort manifest ({exc}); move it away or choose another --out.") from exc
    if not isinstance(data, dict) or data.get("tool") != "proxysort":
        raise OutputError(f"{path} was not written by proxysort; move it away or choose another --out.")
    files = []
    for item in data.get("files", []):
        try:
            entry = Entry.from_json(item)
        except (ValueError, TypeError, AttributeError):
            continue
        if _safe_relative(entry.path, out):
            files.append(entry)
    dirs = [d for d in data.get("dirs", []) if isinstance(d, str) and _safe_relative(d, out)]
    return Manifest(files=files, dirs=dirs, link=data.get("link"))


def _write_manifest(out: Path, manifest: Manifest) -> None:
    """Atomic replace: a reader (or a crash) sees the old or the new manifest, never half of one."""
    text = manifest.to_json()
    path = out / OUTPUT_MANIFEST
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return  # unchanged: a repeated run leaves the folder exactly as it was
    tmp = out / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}.json"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write the manifest in {out}: {exc.strerror or exc}.") from exc


# ------------------------------------------------------------------------------------------ planning


def check_output_folder(out: Path, photo_roots: Sequence[Path] = ()) -> Manifest | None:
    """Every check that needs no clustering result, so the CLI can refuse a bad ``--out`` before minutes
    of work. Returns the previous run's manifest (``None`` for a new or empty folder)."""
    out = Path(os.path.abspath(out))
    check_location(out, photo_roots)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; choose another --out.")
    old = read_manifest(out) if out.is_dir() else None
    if out.is_dir() and old is None and _listdir(out):
        raise OutputError(
            f"{out} already has files that proxysort did not create; choose an empty or new --out folder."
        )
    return old


@dataclass
class TreePlan:
    """Everything a run will do to the output folder, computed without touching it."""

    out: Path
    link: str
    files: list[Entry]
    dirs: list[str]
    keep: set[str]  # planned paths already on disk, exactly as planned
    remove: list[Entry]  # old entries no longer planned (or planned differently), verified ours
    foreign: list[str]  # old entries someone changed: left alone and dropped from the manifest
    old: Manifest | None
    dest: dict[tuple[str, str], str]  # (concept, source path) -> path under out
    concept_dirs: dict[str, str]  # concept -> its folder name

    @property
    def to_create(self) -> list[Entry]:
        return [e for e in self.files if e.path not in self.keep]

    def describe(self) -> list[str]:
        """Human-readable lines for ``--dry-run`` (stderr)."""
        lines = [f"output folder: {self.out}"]
        by_dir: dict[str, int] = {}
        for e in self.files:
            by_dir[str(PurePosixPath(e.path).parent)] = by_dir.get(str(PurePosixPath(e.path).parent), 0) + 1
        for d in sorted(by_dir):
            lines.append(f"  {d}/  {by_dir[d]} {self.link}{'s' if by_dir[d] != 1 else ''}")
        lines.append(
            f"would create {len(self.to_create)}, keep {len(self.keep)}, remove {len(self.remove)} "
            f"(files listed in {OUTPUT_MANIFEST})"
        )
        return lines


def _fingerprint(rel: str, source: str, link: str, out_real: Path) -> Entry:
    src_real = os.path.realpath(source)
    if link == "symlink":
        dest_dir = out_real / Path(*PurePosixPath(rel).parts[:-1])
        return Entry(rel, source, link, target=os.path.relpath(src_real, dest_dir))
    try:
        st = os.stat(src_real)
    except OSError as exc:
        raise OutputError(f"Cannot read {source}: {exc.strerror or exc}.") from exc
    if link == "hardlink":
        return Entry(rel, source, link, dev=st.st_dev, ino=st.st_ino)
    return Entry(rel, source, link, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def plan_tree(
    out: Path,
    groups: Mapping[str, Sequence[tuple[str, str]]],
    *,
    link: str = "symlink",
    photo_roots: Sequence[Path] = (),
) -> TreePlan:
    """Plan ``OUT/<concept>/<cluster>/<file>`` for ``groups``: concept -> [(source path, cluster name)].

    Reads the output folder (and its manifest) but writes nothing, so ``--dry-run`` is this alone.
    """
    if link not in LINK_MODES:
        raise UsageError(f"--link must be one of {', '.join(LINK_MODES)} (got {link!r}).")
    out = Path(os.path.abspath(out))
    old = check_output_folder(out, photo_roots)
    old_files = old.files if old else []
    old_dirs = set(old.dirs) if old else set()
    # Listed files that someone replaced or edited: never removed, and their names are never reused.
    ours_on_disk = {e.path for e in old_files if e.matches_disk(out)}
    foreign = sorted({e.path for e in old_files if e.path not in ours_on_disk and os.path.lexists(out / e.path)})
    replaceable = ({e.path for e in old_files} | old_dirs) - set(foreign)

    def occupied(rel_dir: str) -> set[str]:
        """Names in a folder of the output that are not ours to replace."""
        names = _listdir(out / rel_dir) if rel_dir else _listdir(out)
        return {n for n in names if (f"{rel_dir}/{n}" if rel_dir else n) not in replaceable} | {OUTPUT_MANIFEST}

    def blocked(rel: str) -> bool:
        """A name that exists but cannot be our folder (a foreign file or symlink); real folders are shared."""
        p = out / rel
        return p.is_symlink() or (p.exists() and not p.is_dir())

    concepts = list(groups)
    top_taken = {n for n in occupied("") if blocked(n)} | {OUTPUT_MANIFEST}
    concept_names = unique_names(concepts, taken=top_taken, fallback="concept")
    check_location(out, photo_roots, concept_names)

    out_real = _real(out)
    files: list[Entry] = []
    dirs: list[str] = []
    dest: dict[tuple[str, str], str] = {}
    for concept, cdir in zip(concepts, concept_names):
        dirs.append(cdir)
        members = groups[concept]
        cluster_names = sorted({name for _, name in members})
        taken = {n for n in occupied(cdir) if blocked(f"{cdir}/{n}")}
        safe = dict(zip(cluster_names, unique_names(cluster_names, taken=taken, fallback="cluster")))
        by_cluster: dict[str, list[str]] = {}
        for source, name in members:
            by_cluster.setdefault(safe[name], []).append(source)
        for folder, sources in sorted(by_cluster.items()):
            rel_dir = f"{cdir}/{folder}"
            dirs.append(rel_dir)
            names_taken = {n.casefold() for n in occupied(rel_dir)}
            for source in sorted(set(sources)):
                rel = f"{rel_dir}/{_file_name(os.path.basename(source) or 'photo', names_taken)}"
                files.append(_fingerprint(rel, source, link, out_real))
                dest[(concept, source)] = rel

    planned = {e.path: e for e in files}
    keep = {e.path for e in old_files if planned.get(e.path) == e and e.matches_disk(out)}
    remove = [e for e in old_files if e.path not in keep and e.matches_disk(out)]
    return TreePlan(out, link, files, dirs, keep, remove, foreign, old, dest, dict(zip(concepts, concept_names)))


# ------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class WriteSummary:
    created: int
    kept: int
    removed: int
    left_alone: int


def _create(entry: Entry, out: Path) -> None:
    path = out / entry.path
    if entry.kind == "symlink":
        os.symlink(entry.target or "", path)
    elif entry.kind == "hardlink":
        os.link(os.path.realpath(entry.source), path)
    else:
        tmp = path.with_name(f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}")
        try:
            shutil.copy2(entry.source, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _clean_partials(out: Path, dirs: Sequence[str]) -> None:
    """Remove temporary files a crashed copy left behind (only ever in folders proxysort made)."""
    for rel in ["", *dirs]:
        for name in _listdir(out / rel if rel else out):
            if name.startswith(_PARTIAL_PREFIX):
                (out / rel / name if rel else out / name).unlink(missing_ok=True)


def write_tree(plan: TreePlan, reporter: Reporter | None = None) -> WriteSummary:
    """Carry out ``plan``: remove our stale entries, create the new ones, keep identical ones."""
    reporter = reporter or Reporter()
    out = plan.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder {out}: {exc.strerror or exc}.") from exc
    _refuse_linked_dirs(out, plan.dirs)
    old = plan.old or Manifest()
    foreign = set(plan.foreign)
    old_ok = [e for e in old.files if e.path not in foreign]
    new_dirs = [d for d in plan.dirs if not (out / d).is_dir()]  # pre-existing folders are not ours
    # 1. Announce everything that may exist during the change, so a crash leaves nothing unlisted.
    _write_manifest(out, Manifest(files=_union(old_ok, plan.files), dirs=[*old.dirs, *new_dirs], link=plan.link))
    _clean_partials(out, old.dirs)
    for path in plan.foreign:
        reporter.warning(f"{out / path} was changed by someone else; proxysort leaves it alone.")
    # 2. Remove our stale files, then make folders and new files.
    for entry in plan.remove:
        (out / entry.path).unlink(missing_ok=True)
    created = 0
    try:
        for rel in new_dirs:
            (out / rel).mkdir(exist_ok=True)
        with reporter.progress(f"writing {plan.link}s", total=len(plan.to_create)) as advance:
            for entry in plan.to_create:
                _create(entry, out)
                created += 1
                advance()
    except OSError as exc:
        hint = " Hard links cannot cross filesystems: use --link symlink or copy." if exc.errno == errno.EXDEV else ""
        raise OutputError(f"Cannot write {exc.filename or out}: {exc.strerror or exc}.{hint}") from exc
    # 3. Drop our folders that are no longer planned, deepest first, only when empty.
    for rel in sorted(set(old.dirs) - set(plan.dirs), key=lambda d: -d.count("/")):
        try:
            (out / rel).rmdir()
        except OSError:
            pass
    made = set(old.dirs) | set(new_dirs)
    dirs = [d for d in made if (out / d).is_dir() and not (out / d).is_symlink()]
    _write_manifest(out, Manifest(files=plan.files, dirs=dirs, link=plan.link))
    return WriteSummary(created=created, kept=len(plan.keep), removed=len(plan.remove), left_alone=len(plan.foreign))


def _refuse_linked_dirs(out: Path, dirs: Sequence[str]) -> None:
    """Refuse when a planned folder is a symlink (or otherwise resolves outside ``out``).

    ``check_location`` compares the output folder itself; a concept or cluster folder from an earlier run
    that someone replaced by a link (e.g. into the photo library) would let links be written through it.
    """
    real_out = _real(out)
    for rel in dirs:
        path = out / rel
        if os.path.islink(path) or not _inside(_real(path), real_out):
            raise OutputError(f"{path} is a link to another folder, not a folder proxysort made; move it away or choose another --out.")


def _union(old: Sequence[Entry], new: Sequence[Entry]) -> list[Entry]:
    """Old and new entries; where both name a path, the old fingerprint matters until it is replaced."""
    by_path = {e.path: e for e in new}
    by_path.update({e.path: e for e in old})
    extra = [e for e in new if by_path[e.path] != e]
    return list(by_path.values()) + extra
