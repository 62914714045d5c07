"""Keep a concept's groups across runs, so a growing library is sorted into the tree the user already knows.

A re-run with the same setup (:func:`setup_of`: model, words, method, feature, k, seed) does not cluster
again: every photo sorted before whose content has not changed keeps its group, photos the user placed by
hand stay where they were put, new (or changed) photos join the nearest group centre, and photos that left
the library leave. The centres are the means of the groups' photos, pinned photos included, so new photos
like the ones the user placed follow them (the cheap way of learning from corrections; a recluster uses
them as labelled examples instead: :func:`pin_clusters`, :func:`proxysort.groups.constrained_kmeans`).

Whether new photos fit is measured, not assumed: each group remembers its ``spread``, the distance within
which :data:`SPREAD_QUANTILE` of its own photos lie from its centre; when more than :data:`MISFIT_SHARE` of
the new photos lie farther than that from their nearest centre, the run says so and suggests a recluster
(a group of fewer than :data:`SPREAD_MIN_MEMBERS` photos has no spread to judge by).

Photos on a group's edge (its ``-unsure`` folder, :func:`proxysort.groups.find_unsure`) stay there, and
the others stay out: only new photos are judged, by the margin the tree was made with (``Memory.unsure_margin``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from proxysort.groups import centre_margins, distances, unsure_photos
from proxysort.manifest import GroupRecord, Memory

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.rows import Features

#: A group's spread: the distance from its centre within which this share of its own photos lie.
SPREAD_QUANTILE = 0.95
#: New photos "do not fit" when more than this share of them lie beyond their nearest group's spread (with
#: new photos like the old ones about 1 - SPREAD_QUANTILE of them would).
MISFIT_SHARE = 0.25
#: Fewer new photos than this say nothing either way about the fit.
MISFIT_MIN = 3
#: A group of fewer photos than this has no spread to judge by (the 95th percentile of six distances is
#: their largest: a run of four photos like the old ones was called a misfit in tests).
SPREAD_MIN_MEMBERS = 10


def setup_of(*, identity: str, mode: str, feature: str, words: Sequence[str], k: int | None, seed: int) -> tuple[tuple[str, str], ...]:
    """The settings that make a concept's groups; a different setup makes the tree again."""
    return (
        ("feature", feature), ("identity", identity), ("k", "auto" if k is None else str(k)), ("mode", mode),
        ("seed", str(seed)), ("words", ",".join(words)),
    )


def changed_settings(old: Memory, setup: tuple[tuple[str, str], ...]) -> list[str]:
    """The names of the settings that differ (empty when the setup is the same)."""
    before, now = dict(old.setup), dict(setup)
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def _centre(rows: np.ndarray, spherical: bool) -> np.ndarray:
    c = rows.mean(axis=0)
    return c / max(float(np.linalg.norm(c)), 1e-12) if spherical else c


def _group(x: "Features", mask: np.ndarray, spherical: bool, spread: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(centre, each row's distance to it; empty without ``spread``) of the rows of ``x`` where ``mask``, read
    :data:`proxysort.groups.RESTART_ROWS` photos at a time: a group's rows are never copied whole (float32, at
    archive scale larger than the feature itself, issue 25). Up to that many photos, the numbers of the group's
    rows taken whole."""
    from proxysort.groups import RESTART_ROWS
    from proxysort.moments import Moments
    from proxysort.rows import blocks

    if len(x) <= RESTART_ROWS:
        rows = x[mask]
        centre = _centre(rows, spherical)
        return centre, distances(rows, centre[None, :], spherical)[:, 0] if spread else np.zeros(0)
    mean = Moments()
    for start, block in zip(range(0, len(x), RESTART_ROWS), blocks(x, RESTART_ROWS)):
        mean.add(block[mask[start : start + len(block)]])
    c = np.asarray(mean.moments()[0], dtype=np.float32)
    centre = c / max(float(np.linalg.norm(c)), 1e-12) if spherical else c
    if not spread:
        return centre, np.zeros(0)
    parts = [distances(block[mask[start : start + len(block)]], centre[None, :], spherical)[:, 0]
             for start, block in zip(range(0, len(x), RESTART_ROWS), blocks(x, RESTART_ROWS))]
    return centre, np.concatenate(parts)


@dataclass
class Placement:
    """Where each photo of a re-run goes, and what to say about it."""

    labels: np.ndarray  # N, index into names
    names: list[str]
    centres: np.ndarray  # k×d, after the move to their members' mean
    unsure: np.ndarray  # N, shown in their group's -unsure folder (kept as it was; judged for new photos)
    new: int
    unchanged: int
    moved: int
    misfits: int  # new photos beyond their nearest group's spread

    @property
    def fits(self) -> bool:
        return self.new < MISFIT_MIN or self.misfits <= MISFIT_SHARE * self.new

    def summary(self, concept: str) -> str:
        return f"{concept}: {self.new} new photos placed, {self.unchanged} unchanged, {self.moved} moved"


def usable(memory: Memory | None) -> bool:
    """Whether a memory has groups to keep (made with a setup; ``clean`` leaves only the user's pins)."""
    return memory is not None and bool(memory.setup) and bool(memory.groups)


def place(
    x: "Features",
    paths: Sequence[str],
    content_ids: Sequence[str],
    memory: Memory,
    *,
    spherical: bool,
) -> Placement | None:
    """Keep ``memory``'s groups for the photos ``paths`` (features ``x``): see the module's docstring.

    Each group's centre and spread are measured again on its kept photos' features as they are now (the
    proxies of a re-run may differ a little, e.g. when the word choice learned on more photos keeps other
    words), so new photos are compared in one space; a group left without photos uses its stored centre when
    it has the same dimensions. None when no group has a centre to compare with (make the groups again).
    """
    d = x.shape[1]
    k = len(memory.groups)
    members = {m[0]: (m[1], m[2]) for m in memory.members}
    pins = dict(memory.pins)
    labels = np.full(len(paths), -1, dtype=np.int64)
    known = np.zeros(len(paths), dtype=bool)
    were_unsure = set(memory.unsure)
    unsure = np.array([p in were_unsure for p in paths], dtype=bool)
    for i, (path, cid) in enumerate(zip(paths, content_ids)):
        if path in pins:
            labels[i], known[i] = pins[path], True
        elif path in members and members[path][1] == cid:
            labels[i], known[i] = members[path][0], True
    centres = np.zeros((k, d), dtype=np.float32)
    has = np.zeros(k, dtype=bool)
    spreads = np.zeros(k, dtype=np.float64)
    for g, rec in enumerate(memory.groups):
        mine = known & (labels == g)
        if mine.any():  # pins included: a group's centre follows the photos the user placed in it
            many = int(mine.sum()) >= SPREAD_MIN_MEMBERS
            centres[g], dist = _group(x, mine, spherical, spread=many)
            has[g] = True
            if many:
                spreads[g] = np.quantile(dist, SPREAD_QUANTILE)
        elif len(rec.centre) == d:
            centres[g], has[g], spreads[g] = rec.centre, True, rec.spread
    new_rows = np.flatnonzero(~known)
    if len(new_rows) and not has.any():
        return None
    misfits = 0
    if len(new_rows):
        dist = distances(x[new_rows], centres, spherical)
        dist[:, ~has] = np.inf
        nearest = np.argmin(dist, axis=1)
        labels[new_rows] = nearest
        limit = np.where(spreads[nearest] > 0, spreads[nearest], np.inf)
        misfits = int((dist[np.arange(len(new_rows)), nearest] > limit).sum())
        # New photos on a group's edge are unsure by the rule that made the tree; the others keep their folder.
        unsure[new_rows] = unsure_photos(centre_margins(dist, nearest), nearest, [g.name for g in memory.groups],
                                         memory.unsure_margin)
    # Pinned photos count as unchanged: they are where the user put them. A changed photo placed in
    # another group than before counts as moved; in the same group, as placed.
    moved = sum(1 for i, p in enumerate(paths) if not known[i] and p in members and labels[i] != members[p][0])
    unchanged = int(known.sum())
    new = len(paths) - unchanged - moved
    for g in range(k):  # the centres the next run starts from
        if (labels == g).any():
            centres[g] = _group(x, labels == g, spherical, spread=False)[0]
    return Placement(labels, [g.name for g in memory.groups], centres, unsure, new, unchanged, moved, misfits)


def remember(
    x: "Features",
    labels: np.ndarray,
    names: Sequence[str],
    paths: Sequence[str],
    content_ids: Sequence[str],
    *,
    setup: tuple[tuple[str, str], ...],
    spherical: bool,
    previous: Memory | None = None,
    recluster: bool = False,
    by_user: Sequence[bool] | None = None,
    centres: np.ndarray | None = None,
    unsure: np.ndarray | None = None,
    unsure_margin: float = 0.0,
) -> Memory:
    """The memory of a grouping for the next run: centres, spreads, members; the user's pins carried over
    (re-indexed by group name), and their photos left out unless ``recluster`` (which forgets those). A
    group left without photos (the user moved them all away) keeps its centre from ``centres`` and its
    spread, so a new photo like its old ones can still join it. ``unsure`` (per photo) and ``unsure_margin``
    are the photos in ``-unsure`` folders and the margin that put them there (:data:`Memory.unsure`)."""
    k = len(names)
    spread_of = {g.name: g.spread for g in (previous.groups if previous is not None else ())}
    groups = []
    for g in range(k):
        if (labels == g).any():
            centre, dist = _group(x, labels == g, spherical)
            spread = float(np.quantile(dist, SPREAD_QUANTILE))
        elif centres is not None:
            centre, spread = np.asarray(centres[g]), spread_of.get(names[g], 0.0)
        else:
            centre, spread = np.zeros(x.shape[1], dtype=np.float32), 0.0
        groups.append(GroupRecord(names[g], tuple(float(v) for v in centre), spread,
                                  bool(by_user[g]) if by_user is not None else False))
    pins: tuple[tuple[str, int], ...] = ()
    left_out: tuple[str, ...] = ()
    if previous is not None:
        present = set(paths)
        index_of = {n: i for i, n in enumerate(names)}
        label_of = {p: int(labels[i]) for i, p in enumerate(paths)}
        old_names = [g.name for g in previous.groups]
        # A pin stays a pin while its photo is still in the group named as the user chose.
        pins = tuple((p, label_of[p]) for p, g in previous.pins
                     if p in present and index_of.get(old_names[g]) == label_of[p])
        if not recluster:
            left_out = tuple(p for p in previous.left_out)
    out = set(left_out)
    members = Members(paths, labels, content_ids, out)
    doubtful = () if unsure is None else tuple(p for p, u in zip(paths, unsure) if u and p not in out)
    return Memory(setup=setup, groups=tuple(groups), members=members, pins=pins, left_out=left_out,
                  unsure=doubtful, unsure_margin=unsure_margin)


class Members(Sequence[tuple[str, int, str]]):
    """A new memory's members, ``(photo, group index, content id)`` of every photo not left ``out``, made when
    read from the sort's own columns (paths, labels, content ids): a tuple per photo, its path and its id as
    ``str`` were ~250 bytes a photo held until the tree was written (issue 25). Equal to any sequence of the
    same members. ``in_order`` says the members are sorted already (paths from the index's sorted column), so
    the manifest writes them without sorting a list of them all."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray, content_ids: Sequence[str], out: set[str]) -> None:
        self._paths, self._labels, self._ids = paths, labels, content_ids
        self._rows = np.flatnonzero([p not in out for p in paths]) if out else None
        self.in_order = bool(getattr(getattr(paths, "column", None), "in_order", False))

    def __len__(self) -> int:
        return len(self._paths) if self._rows is None else len(self._rows)

    def _member(self, row: int) -> tuple[str, int, str]:
        return self._paths[row], int(self._labels[row]), self._ids[row]

    def __getitem__(self, i: int) -> tuple[str, int, str]:  # type: ignore[override]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._member(i if self._rows is None else int(self._rows[i]))

    def __iter__(self) -> Iterator[tuple[str, int, str]]:
        if self._rows is None:
            return ((p, int(g), c) for p, g, c in zip(self._paths, self._labels, self._ids))
        return (self._member(int(r)) for r in self._rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(other) == len(self) and all(tuple(o) == m for o, m in zip(other, self))

    __hash__ = None  # type: ignore[assignment]


def pinned_rows(memory: Memory | None, paths: Sequence[str]) -> dict[int, int]:
    """row -> the user's group (an index into ``memory.groups``) for every photo the user placed."""
    if memory is None:
        return {}
    row = {p: i for i, p in enumerate(paths)}
    return {row[p]: g for p, g in memory.pins if p in row}


def pin_clusters(memory: Memory, pins: Mapping[int, int], labels: np.ndarray, names: Sequence[str]) -> dict[int, int]:
    """Which cluster of a fresh clustering each group the user placed photos in becomes (user group ->
    cluster): the cluster of the same name (the user said "these are gold"); else, for a group the user
    made or named, the cluster holding most of its placed photos that no other group took; else a new
    cluster, numbered from ``len(names)`` on. A few atypical photos never rename a cluster the words named."""
    of_id: dict[int, int] = {}
    by_name = {n: i for i, n in enumerate(names)}
    for gid in sorted(set(pins.values())):
        if memory.groups[gid].name in by_name:
            of_id[gid] = by_name[memory.groups[gid].name]
    extra = len(names)
    for gid in sorted(set(pins.values()) - set(of_id)):
        taken = set(of_id.values())
        counts = np.bincount([int(labels[r]) for r, g in pins.items() if g == gid], minlength=len(names))
        free = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0 and int(c) not in taken]
        if memory.groups[gid].by_user and free:
            of_id[gid] = free[0]
        else:
            of_id[gid], extra = extra, extra + 1
    return of_id


def user_names(
    memory: Memory | None, of_id: Mapping[int, int], names: list[str], labels: np.ndarray, paths: Sequence[str]
) -> tuple[list[str], list[bool]]:
    """``names`` of a fresh clustering with the user's names kept: each pinned group's cluster is named as
    the user's group is (the user said so by placing photos there), and a group the user named without
    placing photos names the cluster that holds most of its former photos. A name this takes from another
    cluster goes to that cluster in exchange."""
    names = list(names)
    by_user = [False] * len(names)
    if memory is None:
        return names, by_user
    chosen = dict(of_id)
    row = {p: i for i, p in enumerate(paths)}
    for gid, rec in enumerate(memory.groups):
        if gid in chosen or not rec.by_user:
            continue
        former = [int(labels[row[p]]) for p, g, _ in memory.members if g == gid and p in row]
        taken = set(chosen.values())
        counts = np.bincount(former, minlength=len(names)) if former else np.zeros(len(names), dtype=np.int64)
        for cluster in np.argsort(-counts, kind="stable"):
            if counts[cluster] > 0 and int(cluster) not in taken:
                chosen[gid] = int(cluster)
                break
    for gid, cluster in sorted(chosen.items()):
        rec = memory.groups[gid]
        if rec.name in names and names.index(rec.name) != cluster:
            names[names.index(rec.name)] = names[cluster]
        names[cluster] = rec.name
        by_user[cluster] = rec.by_user
    return names, by_user
