"""What the user did by hand in an output folder, read from OUT against its manifest, and kept.

A folder of links is browsed and fixed in a file manager, so the gestures of a file manager are the way to
teach the sorter: compared with what the manifest says proxysort made,

* a link (or hard link, or copy) **moved** from one group folder to another (or into a folder inside it,
  such as an album of ``--keep-folders``) pins that photo to that group;
* a group folder **renamed** gives the group the new name (sanitised like any name);
* a **new folder** made inside a concept's folder, holding links moved there, is a new group with the
  user's name, its photos pinned to it;
* a group's ``-unsure`` folder (``red-unsure`` beside ``red``: its photos on the group's edge) is part of
  the group, not a group of its own: a link moved out of it into ``red`` pins the photo to ``red`` (the
  user says it is red), into another group pins it there, and a link moved into it pins the photo to
  ``red`` and keeps it shown in ``red-unsure``;
* a link **deleted** (or moved out of the concept's folder entirely) leaves the photo out of the
  concept until a recluster or ``proxysort clean``; not when the last run did not finish
  (``Manifest.complete``), since a missing file may then never have been made.

:func:`adopt` turns what it finds into the manifest a run plans from: moved files are listed where they now
are (still proxysort's, so they are neither reported as someone else's nor made again), the new folders
are listed, and each concept's :class:`~proxysort.manifest.Memory` records pins, user names and photos left
out. It only reads the folder, so it is run again under the folder's lock before anything is changed (a
gesture made while another run held the lock is found then). A concept folder that is gone altogether is no
gesture: its tree is simply made again.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal, Sequence

from proxysort.groups import WEAK_MARK, unsure_folder
from proxysort.manifest import ConceptTree, Entry, GroupRecord, Manifest, Memory
from proxysort.names import safe_name

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.outdir import OutDir

GestureKind = Literal["moved", "renamed", "new group", "deleted"]


@dataclass(frozen=True)
class Gesture:
    """One thing the user did: ``photo`` (None for a folder rename) ended up in group folder ``group``
    (None when deleted); ``before`` is the folder it came from (or the group's old name)."""

    concept: str
    kind: GestureKind
    photo: str | None
    group: str | None
    before: str | None

    def describe(self) -> str:
        what = {"moved": f"{self.photo}: moved from {self.before} to {self.group}",
                "new group": f"{self.photo}: moved from {self.before} to your new folder {self.group}",
                "renamed": f"{self.before}: renamed {self.group}",
                "deleted": f"{self.photo}: link deleted from {self.before}, left out"}
        return f"{self.concept}: {what[self.kind]}"


def _key(entry: Entry) -> tuple[object, ...]:
    """What identifies the file proxysort made wherever it is moved within the tree (a symlink's text stays
    valid between sibling group folders; a hard link keeps its inode; a copy its size, time and name)."""
    if entry.kind == "symlink":
        return ("symlink", entry.target)
    if entry.kind == "hardlink":
        return ("hardlink", entry.dev, entry.ino)
    return ("copy", entry.size, entry.mtime_ns, PurePosixPath(entry.path).name)


def _keys_on_disk(od: OutDir, rel: str, kind: str) -> tuple[object, ...] | None:
    st = od.lstat(rel)
    if st is None:
        return None
    if kind == "symlink":
        return ("symlink", od.readlink(rel)) if stat.S_ISLNK(st.st_mode) else None
    if not stat.S_ISREG(st.st_mode):
        return None
    if kind == "hardlink":
        return ("hardlink", st.st_dev, st.st_ino)
    return ("copy", st.st_size, st.st_mtime_ns, PurePosixPath(rel).name)


def _shown_in(index_of: dict[str, int], folder: str) -> tuple[int, bool] | None:
    """The group a folder of the tree shows and whether it is that group's ``-unsure`` folder; None when it
    is neither a group's folder nor its ``-unsure`` folder. A group of that very name comes first (a whole
    group named ``olive-unsure``, or a folder the user made and named so before)."""
    if folder in index_of:
        return index_of[folder], False
    base = folder.removesuffix(WEAK_MARK)
    return (index_of[base], True) if base != folder and base in index_of else None


def _memory_of(tree: ConceptTree, manifest: Manifest) -> Memory:
    """The tree's memory, or one made from its folders (a tree written before memories were kept)."""
    if tree.memory is not None:
        return tree.memory
    folders = sorted({PurePosixPath(d).parts[1] for d in manifest.dirs if len(PurePosixPath(d).parts) == 2
                      and PurePosixPath(d).parts[0] == tree.dir})
    return Memory(groups=tuple(GroupRecord(f, (), 0.0) for f in folders))


def adopt(od: OutDir, manifest: Manifest) -> tuple[Manifest, list[Gesture]]:
    """``manifest`` as the folder now is after the user's gestures, and the gestures found (read only). A tree
    the user did not touch leaves the manifest's files as they are (read as columns: no list of them)."""
    files: Sequence[Entry] = manifest.files
    dirs = list(manifest.dirs)
    trees: list[ConceptTree] = []
    gestures: list[Gesture] = []
    for tree in manifest.concepts:
        if not od.is_dir(tree.dir):
            trees.append(tree)
            continue
        files, dirs, tree, found = _adopt_tree(od, tree, files, dirs, manifest)
        trees.append(tree)
        gestures += found
    return replace(manifest, files=files, dirs=dirs, concepts=trees), gestures


def _adopt_tree(
    od: OutDir, tree: ConceptTree, files: Sequence[Entry], dirs: list[str], manifest: Manifest
) -> tuple[Sequence[Entry], list[str], ConceptTree, list[Gesture]]:
    def parts(rel: str) -> tuple[str, ...]:
        return PurePosixPath(rel).parts

    def photo(e: Entry) -> bool:  # a photo's link in a group of this tree (a manifest's paths are normalised)
        top, _, rest = e.path.partition("/")
        return top == tree.dir and "/" in rest and e.companion_of is None and not e.orphan

    missing = [e for e in files if photo(e) and od.lstat(e.path) is None]
    if not missing:
        return files, dirs, tree, []
    listed = {e.path for e in files}
    known_dirs = {parts(d)[1] for d in dirs if parts(d)[0] == tree.dir and len(parts(d)) == 2}
    # Files anywhere under the concept's folder that the manifest does not list: where moved links may be.
    wanted = {_key(e): e for e in missing}
    kinds = {e.kind for e in missing}
    found: dict[str, str] = {}  # old path -> new path
    for rel in _unlisted(od, tree.dir, listed):
        if len(parts(rel)) < 3:
            continue  # directly in the concept's folder: in no group
        for kind in kinds:
            key = _keys_on_disk(od, rel, kind)
            entry = wanted.pop(key, None) if key is not None else None
            if entry is not None:
                found[entry.path] = rel
                break

    memory = _memory_of(tree, manifest)
    groups = list(memory.groups)
    index_of = {g.name: i for i, g in enumerate(groups)}

    def group_index(name: str) -> int:
        if name not in index_of:
            index_of[name] = len(groups)
            groups.append(GroupRecord(name, (), 0.0, by_user=True))
        return index_of[name]

    # A new folder is a rename when most of its links came from one group whose folder is gone and whose
    # links went nowhere else; otherwise it is a new group of the user's.
    arrivals: dict[str, list[str]] = {}
    for old, new in found.items():
        arrivals.setdefault(parts(new)[1], []).append(parts(old)[1])
    renames: dict[str, str] = {}  # old group folder -> the group's new name
    moved_to: dict[str, str] = {}  # old group folder -> the folder on disk it was renamed to
    for folder, sources in sorted(arrivals.items()):
        if folder in known_dirs or _shown_in(index_of, folder) is not None:
            continue
        top = max(set(sources), key=lambda f: (sources.count(f), f))
        elsewhere = any(top in s for f, s in arrivals.items() if f != folder)
        if not od.is_dir(f"{tree.dir}/{top}") and not elsewhere and top not in renames and top in index_of:
            renames[top], moved_to[top] = safe_name(folder), folder
    gestures: list[Gesture] = []
    for old_name, new_name in renames.items():
        i = index_of.pop(old_name)
        groups[i] = replace(groups[i], name=new_name, by_user=True)
        index_of[new_name] = i
        gestures.append(Gesture(tree.name, "renamed", None, new_name, old_name))

    members = {m[0]: (m[1], m[2]) for m in memory.members}
    pins = dict(memory.pins)
    left_out = set(memory.left_out)
    unsure = set(memory.unsure)
    by_path = {e.path: e for e in missing}  # every moved photo was missing from its old path
    for old, new in sorted(found.items()):
        entry, before, after = by_path[old], parts(old)[1], parts(new)[1]
        if before == after or (before in renames and moved_to[before] == after):
            continue  # within its group, or moved with its folder: not a correction of its own
        shown = _shown_in(index_of, after)
        known = after in known_dirs or shown is not None
        name = after if known else safe_name(after)  # the user's folder name, made safe like any name
        i, on_edge = shown if shown is not None else (group_index(name), False)
        pins[entry.source] = i
        (unsure.add if on_edge else unsure.discard)(entry.source)
        if entry.source in members:
            members[entry.source] = (i, members[entry.source][1])
        gestures.append(Gesture(tree.name, "moved" if known or name in renames.values() else "new group",
                                entry.source, name, before))
    for entry in missing:
        if entry.path not in found and manifest.complete:  # else it may never have been made (a crash)
            left_out.add(entry.source)
            pins.pop(entry.source, None)
            members.pop(entry.source, None)
            unsure.discard(entry.source)
            gestures.append(Gesture(tree.name, "deleted", entry.source, None, parts(entry.path)[1]))

    # The files and folders as they now are: moved files listed at their new place, with their companions
    # that went along; deleted ones (and companions left without their photo) no longer listed.
    renamed_paths = {old: new for old, new in found.items()}
    gone = {e.path for e in missing if e.path not in found and manifest.complete}
    new_files = []
    for e in files:
        if e.path in renamed_paths:
            new_files.append(replace(e, path=renamed_paths[e.path]))
        elif e.path in gone:
            continue
        elif e.companion_of in renamed_paths:
            beside = f"{PurePosixPath(renamed_paths[e.companion_of]).parent}/{PurePosixPath(e.path).name}"
            if od.lstat(e.path) is None and beside not in listed and _keys_on_disk(od, beside, e.kind) == _key(e):
                new_files.append(replace(e, path=beside, companion_of=renamed_paths[e.companion_of]))
            else:
                new_files.append(replace(e, companion_of=renamed_paths[e.companion_of]))
        else:
            new_files.append(e)
    new_dirs = []
    for d in dirs:  # a renamed group's folders (its albums too) are listed under the new name
        if parts(d)[0] == tree.dir and len(parts(d)) >= 2 and parts(d)[1] in moved_to:
            d = str(PurePosixPath(tree.dir, moved_to[parts(d)[1]], *parts(d)[2:]))
        new_dirs.append(d)
    arrived = {str(PurePosixPath(*parts(new)[:i])) for new in found.values() for i in range(2, len(parts(new)))}
    new_dirs += sorted(d for d in arrived - set(new_dirs) if od.is_dir(d))
    memory = replace(
        memory, groups=tuple(groups), members=tuple((s, g, c) for s, (g, c) in members.items()),
        pins=tuple(pins.items()), left_out=tuple(sorted(left_out)), unsure=tuple(sorted(unsure)),
    )
    return new_files, new_dirs, replace(tree, memory=memory), gestures


def _unlisted(od: "OutDir", top: str, listed: set[str], depth: int = 16) -> list[str]:
    """Files (anything but folders) under folder ``top`` the manifest does not list; folders are entered
    without following links, at most ``depth`` deep."""
    found: list[str] = []
    for name in od.listdir(top):
        rel = f"{top}/{name}"
        if od.is_dir(rel):
            if depth > 0:
                found += _unlisted(od, rel, listed, depth - 1)
        elif rel not in listed:
            found.append(rel)
    return found


def read_corrections(out: Path) -> tuple[Manifest | None, list[Gesture]]:
    """The manifest of output folder ``out`` with the user's gestures taken in, and those gestures; for a
    run to learn from before it takes the folder's lock (which finds them again, and any made meanwhile)."""
    from proxysort.manifest import read_manifest_at
    from proxysort.outdir import OutDir

    with OutDir.open(Path(out)) as od:
        manifest = read_manifest_at(od) if od.exists else None
        if manifest is None:
            return None, []
        return adopt(od, manifest)


def kept(manifest: Manifest | None) -> list[str]:
    """One line per correction a manifest keeps: pins, groups the user named, photos left out."""
    lines: list[str] = []
    for tree in (manifest.concepts if manifest else []):
        if tree.memory is None:
            continue
        names = [g.name for g in tree.memory.groups]
        unsure = set(tree.memory.unsure)
        lines += [f"{tree.name}: group {g.name} named by you" for g in tree.memory.groups if g.by_user]
        lines += [f"{tree.name}: {photo} placed by you in {unsure_folder(names[i]) if photo in unsure else names[i]}"
                  for photo, i in sorted(tree.memory.pins)]
        lines += [f"{tree.name}: {photo} left out (its link was deleted)" for photo in tree.memory.left_out]
    return lines


def group_folder(tree: ConceptTree, folder: str) -> str:
    """The group folder that ``folder`` of the tree shows: a group's ``-unsure`` folder belongs to the group
    (``red-unsure`` -> ``red``), as its memory knows the groups; any other folder is its own."""
    groups = tree.memory.groups if tree.memory is not None else ()
    shown = _shown_in({g.name: i for i, g in enumerate(groups)}, folder)
    return groups[shown[0]].name if shown is not None else folder


def marks_of(tree: ConceptTree) -> tuple[set[str], set[tuple[str, str]]]:
    """The group names the user gave (renamed or made the folder) and the (photo, group name) pairs the
    user placed by hand, as the tree's memory keeps them: what the review page marks and ``status`` lists."""
    memory = tree.memory
    if memory is None:
        return set(), set()
    names = [g.name for g in memory.groups]
    return {g.name for g in memory.groups if g.by_user}, {(photo, names[i]) for photo, i in memory.pins}


def late(found: list[Gesture], basis: list[Gesture]) -> list[Gesture]:
    """Gestures found under the lock that the groups were not planned with (made while the run learned)."""
    seen = set(basis)
    return [g for g in found if g not in seen]


def apply(memory: Memory, gestures: list[Gesture]) -> Memory:
    """``memory`` with ``gestures`` (one concept's) taken in: renames, pins, photos left out."""
    if not gestures:  # its members as they are: a copy per photo of a first run's would be ~250 bytes (issue 25)
        return replace(memory, pins=tuple(dict(memory.pins).items()), left_out=tuple(sorted(set(memory.left_out))),
                       unsure=tuple(sorted(set(memory.unsure))))
    groups = list(memory.groups)
    index_of = {g.name: i for i, g in enumerate(groups)}
    members = {m[0]: (m[1], m[2]) for m in memory.members}
    pins = dict(memory.pins)
    left_out = set(memory.left_out)
    unsure = set(memory.unsure)
    for g in gestures:
        if g.kind == "renamed" and g.before in index_of and g.group is not None:
            i = index_of.pop(g.before)
            groups[i] = replace(groups[i], name=g.group, by_user=True)
            index_of[g.group] = i
        elif g.kind in ("moved", "new group") and g.photo is not None and g.group is not None:
            shown = _shown_in(index_of, g.group)
            if shown is None:
                index_of[g.group] = len(groups)
                groups.append(GroupRecord(g.group, (), 0.0, by_user=True))
            i, on_edge = shown if shown is not None else (index_of[g.group], False)
            pins[g.photo] = i
            (unsure.add if on_edge else unsure.discard)(g.photo)
            if g.photo in members:
                members[g.photo] = (i, members[g.photo][1])
        elif g.kind == "deleted" and g.photo is not None:
            left_out.add(g.photo)
            pins.pop(g.photo, None)
            members.pop(g.photo, None)
            unsure.discard(g.photo)
    return replace(memory, groups=tuple(groups), members=tuple((s, i, c) for s, (i, c) in members.items()),
                   pins=tuple(pins.items()), left_out=tuple(sorted(left_out)), unsure=tuple(sorted(unsure)))


def regroup(members: list[tuple[str, str]], gestures: list[Gesture]) -> list[tuple[str, str]]:
    """(photo, group name) pairs with ``gestures`` (one concept's) obeyed: a group renamed carries its new
    name, a photo moved is in its new group, a photo whose link was deleted is not there."""
    renamed = {str(g.before): str(g.group) for g in gestures if g.kind == "renamed"}
    renamed |= {unsure_folder(old): unsure_folder(new) for old, new in renamed.items()}  # its -unsure folder follows
    placed = {g.photo: g.group for g in gestures if g.kind in ("moved", "new group")}
    dropped = {g.photo for g in gestures if g.kind == "deleted"}
    return [(s, str(placed.get(s) or renamed.get(n, n))) for s, n in members if s not in dropped]


def changes(gestures: list[Gesture]) -> list[str]:
    """One line per concept: what the user changed by hand since the last run, as it will be kept."""
    words = {"moved": "link(s) moved", "new group": "link(s) moved to a new folder", "renamed": "folder(s) renamed",
             "deleted": "link(s) deleted (photos left out)"}
    lines = []
    for concept in dict.fromkeys(g.concept for g in gestures):
        counts = {k: sum(1 for g in gestures if g.concept == concept and g.kind == k) for k in words}
        done = ", ".join(f"{n} {words[k]}" for k, n in counts.items() if n)
        lines.append(f"{concept}: your changes in the tree are kept: {done}")
    return lines
