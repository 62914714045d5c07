"""``proxysort status OUT``: what an output folder holds, and the corrections of the user's it keeps.

``status`` of a photo folder reports what the cache knows (:mod:`proxysort.folder_status`). An output
folder is not a photo folder: its links point at photos elsewhere, and what a person wants to know of it is
which trees it holds, how they were made, and which of their own changes (links moved, folders renamed or
made, links deleted) every later run keeps. Those live in the manifest's memory; changes made since the
last run are found the way the next run finds them (:func:`~proxysort.corrections.adopt`) and listed
apart, since they are not kept until a run takes them in.

Read-only: it never takes the folder's lock (a reading that races a run is at worst one run old), never
writes, never loads a model. A manifest that is not proxysort's is an :class:`~proxysort.errors.OutputError`.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from proxysort.corrections import adopt, kept, marks_of
from proxysort.manifest import ConceptTree, Manifest, read_manifest_at
from proxysort.outdir import OutDir
from proxysort.scan import OUTPUT_MANIFEST


@dataclass
class GroupStatus:
    """One group folder of a tree: its name, how many photos it links, whether the user named it."""

    name: str
    photos: int
    by_user: bool = False


@dataclass
class TreeStatus:
    """One concept's tree: its folder, how it was made, its groups and the corrections it keeps."""

    concept: str
    folder: str
    photos: int
    made_with: str  # "method ..., feature ..., k ..., model ..." ("" for a tree written without a record)
    groups: list[GroupStatus]
    placed: list[tuple[str, str]] = field(default_factory=list)  # (photo, group) the user placed by hand
    left_out: list[str] = field(default_factory=list)  # photos whose link the user deleted


@dataclass
class OutStatus:
    """An output folder's trees; ``kept``: one line per correction kept (as ``show`` lists them);
    ``pending``: the user's changes since the last run, which the next run takes in."""

    out: Path
    trees: list[TreeStatus]
    kept: list[str]
    pending: list[str]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


def is_output_folder(folder: Path | str) -> bool:
    """Whether ``folder`` holds proxysort's manifest (a regular file, not followed through a link): an
    output folder, never a photo folder (``cluster`` refuses an OUT inside the photos)."""
    try:
        return stat.S_ISREG(os.lstat(Path(folder) / OUTPUT_MANIFEST).st_mode)
    except OSError:
        return False


def _tree_status(tree: ConceptTree, manifest: Manifest) -> TreeStatus:
    counts: Counter[str] = Counter()
    for e in manifest.files:
        parts = e.path.split("/", 2)  # a manifest's paths are normalised (manifest.safe_relative)
        if parts[0] == tree.dir and len(parts) == 3 and e.companion_of is None and not e.orphan:
            counts[parts[1]] += 1
    named, placed = marks_of(tree)
    groups = [GroupStatus(name, n, name in named) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    run = tree.run
    made_with = f"method {run.mode}, feature {run.feature}, k {run.k}, model {run.model}" if run else ""
    left_out = sorted(tree.memory.left_out) if tree.memory is not None else []
    return TreeStatus(tree.name, tree.dir, sum(counts.values()), made_with, groups, sorted(placed), left_out)


def out_status(out: Path | str) -> OutStatus:
    """The trees of output folder ``out`` and the corrections they keep; read only."""
    out = Path(os.path.abspath(Path(out).expanduser()))
    with OutDir.open(out) as od:
        manifest = read_manifest_at(od) if od.exists else None
        if manifest is None:
            return OutStatus(out, [], [], [])
        _, gestures = adopt(od, manifest)
    return OutStatus(out, [_tree_status(t, manifest) for t in manifest.concepts], kept(manifest),
                     [g.describe() for g in gestures])
