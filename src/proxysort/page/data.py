"""What the review page shows, as data: built from a run, read back strictly, reconciled with the manifest.

The page's groups are always the manifest's: :func:`reconcile` takes membership (which photo is in which
group folder, byte-identical photos linked once) from the manifest under the OUT lock, and only scores,
words and the map from the run (or from the page data an earlier run left). So a page never describes
another run's tree, whichever run wrote last, and ``show`` repairs a page that an interrupt left behind.

The data file beside the page (``OUT/.proxysort-page.json``) may have been edited or forged like the
manifest, so :meth:`PageData.from_json` checks every type, range, length and the nesting depth; anything
else is :class:`PageDataError` (one sentence), never a traceback or markup on the page.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, TypeVar

from proxysort.corrections import group_folder, marks_of
from proxysort.manifest import Manifest, is_hex_digest, is_manifest_text
from proxysort.names import safe_name

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

PAGE_DATA_VERSION = 2
#: The map draws at most this many points (a stable sample); more only hides the groups' shapes.
MAP_POINTS = 3000
#: Limits of what a data file may hold: beyond them it is not proxysort's (a forged file must not make the
#: page, or the reading, grow without bound).
MAX_TEXT = 4096
#: Paths may be longer than PATH_MAX (4096): proxysort reaches such photos through folder descriptors, so
#: the page must read back the paths it wrote. The bound only keeps a forged file from costing unbounded memory.
MAX_PATH = 65_536
MAX_ITEMS = 10_000_000
MAX_WORDS = 10_000


T = TypeVar("T")


class PageDataError(ValueError):
    """The page data is not what proxysort writes (the message says what)."""


# -------------------------------------------------------------------------------------------- input


@dataclass
class RunConcept:
    """One concept of a run, as the page needs it (built by :func:`proxysort.sorting.page_run`)."""

    concept: str
    words: list[str]
    word_source: str
    names: list[str]  # k, the group names the run chose
    mode: str
    feature: str
    k: int
    labels: "np.ndarray"  # N, group index per photo
    scores: "np.ndarray"  # N, cosine to the own group's centre
    features: "np.ndarray"  # N x d, the clustered feature (for fit and the map)
    word_scores: "np.ndarray"  # k x len(words), cosine of each group centre to each word's prompt
    unsure: "np.ndarray"  # N, shown in the group's -unsure folder (on its edge): the group's folder is the other


@dataclass
class PageRun:
    """The page's input: a sort's photos and concepts, without the learning machinery (``SortResult``)."""

    paths: Sequence[str]  # absolute (a sort's column of paths, read as str)
    roots: list[str]  # the photo folders (albums are named relative to them)
    failures: list[tuple[str, str]]  # [path, reason] of photos the run could not use
    model: str  # as a person reads it ("ViT-B-32 · openai", a model file by its name)
    seed: int
    concepts: list[RunConcept]


# --------------------------------------------------------------------------------------------- data


@dataclass
class PagePhoto:
    """One photo in one group: where it is, where the tree put it, how well it fits, its thumbnail."""

    src: str  # absolute path of the original (may hold surrogate escapes)
    dest: str  # path under OUT, as in the manifest
    album: str  # its folder relative to its photo root ("" at the top of the root)
    score: float | None = None  # cosine to the group's centre (None: not known, the tree changed since)
    fit: float | None = None  # simplified silhouette in -1..1 (how much nearer its own group than the next)
    thumb: str | None = None  # full content hash of the original: the thumbnail's name; None when none
    size: int | None = None  # the original's size and mtime when hashed: a re-run reuses the hash
    mtime_ns: int | None = None
    also: list[str] = field(default_factory=list)  # album/name of byte-identical photos linked once
    #: the user moved its link into this group by hand ("placed by you"): every later run keeps it there, so
    #: the page says so, lest a person take the placement for the sorter's and "fix" it back
    pinned: bool = False


@dataclass
class PageGroup:
    name: str  # the folder name in the tree
    photos: list[PagePhoto]  # best fitting first
    word_scores: list[float]  # cosine of the group centre to each candidate word's prompt, in word order
    by_user: bool = False  # the user named it (renamed its folder, or made the folder): no word chose the name


@dataclass
class PageConcept:
    concept: str
    folder: str
    words: list[str]
    word_source: str
    names: list[str]
    mode: str
    feature: str
    k: int
    groups: list[PageGroup]
    #: 2-D map of the clustered features: [x, y, group index], x and y in 0..1
    map_points: list[list[float]] = field(default_factory=list)
    map_variance: list[float] = field(default_factory=list)  # share of variance of the two axes
    fit: float | None = None  # mean simplified silhouette of the concept's photos


@dataclass
class PageData:
    """Everything the page shows; the JSON beside the page is this, so ``show`` can rebuild it."""

    created: str  # when the run wrote this data: "YYYY-MM-DD HH:MM UTC"
    model: str
    sources: list[str]
    photos: int  # photos sorted
    skipped: list[list[str]]  # [path, reason] for photos the run could not use
    concepts: list[PageConcept]

    def to_json(self) -> str:
        # ensure_ascii keeps file names that are not UTF-8 (surrogate escapes) as \\udcXX: valid JSON that
        # reads back into the same str.
        return json.dumps({"tool": "proxysort-page", "version": PAGE_DATA_VERSION, **asdict(self)}, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> "PageData":
        """Strictly: every field of the type and range proxysort writes, else :class:`PageDataError`."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise PageDataError("it is nested too deeply to be proxysort's") from None
        except ValueError as exc:
            raise PageDataError(f"it is not JSON ({exc})") from None
        root = _obj(data, "the file")
        if root.get("tool") != "proxysort-page":
            raise PageDataError("it was not written by proxysort")
        if root.get("version") != PAGE_DATA_VERSION:
            raise PageDataError("it was written by another version of proxysort")
        return cls(
            created=_text(root.get("created"), "created"),
            model=_text(root.get("model"), "model"),
            sources=[_text(s, "sources[]", MAX_PATH) for s in _items(root.get("sources"), "sources", MAX_WORDS)],
            photos=_whole(root.get("photos"), "photos"),
            skipped=[_pair(s) for s in _items(root.get("skipped"), "skipped", MAX_ITEMS)],
            concepts=[_concept(c) for c in _items(root.get("concepts"), "concepts", MAX_WORDS)],
        )


# ---------------------------------------------------------------------------------------- validation


def _obj(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise PageDataError(f"{what} is not an object")
    return value


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit or not is_manifest_text(value):
        raise PageDataError(f"{what} is not text of at most {limit} characters")
    return value


def _whole(value: object, what: str, least: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise PageDataError(f"{what} is not a whole number of at least {least}")
    return value


def _number(value: object, what: str, lo: float, hi: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (lo <= float(value) <= hi):
        raise PageDataError(f"{what} is not a number from {lo:g} to {hi:g}")
    return float(value)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise PageDataError(f"{what} is not true or false")
    return value


def _maybe(value: object, check: Callable[..., T], *args: object) -> T | None:
    return None if value is None else check(value, *args)


def _items(value: object, what: str, limit: int) -> list[object]:
    if not isinstance(value, list) or len(value) > limit:
        raise PageDataError(f"{what} is not a list of at most {limit} items")
    return value


def _pair(value: object) -> list[str]:
    items = _items(value, "skipped[]", 2)
    if len(items) != 2:
        raise PageDataError("skipped[] is not a [path, reason] pair")
    return [_text(items[0], "skipped[] path", MAX_PATH), _text(items[1], "skipped[] reason")]


def _photo(value: object) -> PagePhoto:
    p = _obj(value, "a photo")
    thumb = p.get("thumb")
    if thumb is not None and not is_hex_digest(thumb):
        raise PageDataError("photos[].thumb is not a content hash")
    return PagePhoto(
        src=_text(p.get("src"), "photos[].src", MAX_PATH),
        dest=_text(p.get("dest"), "photos[].dest", MAX_PATH),
        album=_text(p.get("album"), "photos[].album", MAX_PATH),
        score=_maybe(p.get("score"), _number, "photos[].score", -1.0, 1.0),
        fit=_maybe(p.get("fit"), _number, "photos[].fit", -1.0, 1.0),
        thumb=thumb,  # type: ignore[arg-type]
        size=_maybe(p.get("size"), _whole, "photos[].size"),
        mtime_ns=_maybe(p.get("mtime_ns"), _whole, "photos[].mtime_ns"),
        also=[_text(a, "photos[].also[]", MAX_PATH) for a in _items(p.get("also", []), "photos[].also", MAX_ITEMS)],
        pinned=_flag(p.get("pinned", False), "photos[].pinned"),
    )


def _concept(value: object) -> PageConcept:
    c = _obj(value, "a concept")
    words = [_text(w, "concepts[].words[]") for w in _items(c.get("words"), "concepts[].words", MAX_WORDS)]
    groups = []
    for item in _items(c.get("groups"), "concepts[].groups", MAX_WORDS):
        g = _obj(item, "a group")
        scores = [_number(s, "groups[].word_scores[]", -1.0, 1.0) for s in _items(g.get("word_scores"), "groups[].word_scores", MAX_WORDS)]
        if scores and len(scores) != len(words):
            raise PageDataError("groups[].word_scores does not have one score per word")
        groups.append(PageGroup(_text(g.get("name"), "groups[].name"),
                                [_photo(p) for p in _items(g.get("photos"), "groups[].photos", MAX_ITEMS)], scores,
                                _flag(g.get("by_user", False), "groups[].by_user")))
    points: list[list[float]] = []
    for item in _items(c.get("map_points"), "concepts[].map_points", MAP_POINTS):
        point = _items(item, "map_points[]", 3)
        if len(point) != 3:
            raise PageDataError("map_points[] is not [x, y, group]")
        index = _whole(point[2], "map_points[] group")
        if index >= len(groups):
            raise PageDataError("map_points[] names a group that is not there")
        points.append([_number(point[0], "map_points[] x", 0, 1), _number(point[1], "map_points[] y", 0, 1), index])
    return PageConcept(
        concept=_text(c.get("concept"), "concepts[].concept"),
        folder=_text(c.get("folder"), "concepts[].folder"),
        words=words,
        word_source=_text(c.get("word_source"), "concepts[].word_source"),
        names=[_text(n, "concepts[].names[]") for n in _items(c.get("names"), "concepts[].names", MAX_WORDS)],
        mode=_text(c.get("mode"), "concepts[].mode"),
        feature=_text(c.get("feature"), "concepts[].feature"),
        k=_whole(c.get("k"), "concepts[].k", least=1),
        groups=groups,
        map_points=points,
        map_variance=[_number(v, "map_variance[]", 0, 1) for v in _items(c.get("map_variance"), "concepts[].map_variance", 2)],
        fit=_maybe(c.get("fit"), _number, "concepts[].fit", -1.0, 1.0),
    )


# -------------------------------------------------------------------------------------------- build


def album_of(path: str, roots: Sequence[str]) -> str:
    """The photo's folder relative to the photo root that holds it ("" at the root's top); the folder's
    own path when no root holds it (photos given one by one)."""
    folder = os.path.dirname(path)
    for root in sorted(roots, key=len, reverse=True):
        if folder == root:
            return ""
        if folder.startswith(root.rstrip("/") + "/"):
            return folder[len(root.rstrip("/")) + 1:]
    return folder


def _unit(x: "np.ndarray") -> "np.ndarray":
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def fits(features: "np.ndarray", labels: "np.ndarray", k: int) -> "np.ndarray | None":
    """Each photo's simplified silhouette with cosine distance to the group centres: (b - a) / max(a, b),
    a = distance to its own centre, b = to the nearest other. 1: right at its own centre; 0: halfway to
    another group; below 0: nearer another group. None with one group (nothing to be apart from)."""
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64)
    if k < 2 or len(labels) == 0:
        return None
    x = _unit(features)
    centres = np.zeros((k, x.shape[1]))
    np.add.at(centres, labels, x)
    d = 1.0 - x @ _unit(centres).T
    rows = np.arange(len(labels))
    a = d[rows, labels]
    d[rows, labels] = np.inf
    b = d.min(axis=1)
    top = np.maximum(np.maximum(a, b), 1e-12)
    return np.clip((b - a) / top, -1.0, 1.0)


def pca_map(x: "np.ndarray", groups: "np.ndarray", seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """The two principal axes of ``x`` (SVD of the centred rows), scaled to 0..1, at most MAP_POINTS rows."""
    import numpy as np

    n = len(x)
    if n == 0:
        return [], []
    rows = np.arange(n)
    if n > MAP_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(n, MAP_POINTS, replace=False))
    sample = np.asarray(x[rows], dtype=np.float64)
    centred = sample - sample.mean(axis=0)
    if centred.shape[1] < 2 or not np.any(centred):
        xy = np.full((len(rows), 2), 0.5)
        share = [0.0, 0.0]
    else:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        if xy.shape[1] < 2:
            xy = np.column_stack([xy, np.zeros(len(xy))])
        total = float((s**2).sum()) or 1.0
        share = [min(1.0, float(v) / total) for v in (s[:2] ** 2)]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        xy = np.clip((xy - lo) / span, 0.0, 1.0)
    points = [[round(float(a), 4), round(float(b), 4), int(g)] for (a, b), g in zip(xy, groups[rows])]
    return points, [round(v, 4) for v in share]


def _round(value: float) -> float:
    return round(min(1.0, max(-1.0, float(value))), 4)


def build_page_data(
    run: PageRun,
    dest: Mapping[tuple[str, str], str],
    digests: Mapping[str, tuple[str, int | None, int | None]],
    *,
    created: datetime | None = None,
) -> PageData:
    """The page's data for ``run`` as written to a tree whose ``dest`` is ``TreePlan.dest``.

    ``digests``: photo -> (full content hash, size, mtime_ns) for the photos that have a thumbnail. Photos
    the tree does not hold (no ``dest``) are not shown; the groups are the tree's folders.
    """
    import numpy as np

    created = created or datetime.now(timezone.utc)
    concepts = []
    for c in run.concepts:
        fit = fits(c.features, c.labels, c.k)
        by_cluster: dict[int, list[PagePhoto]] = {}
        folders: dict[int, str] = {}
        for i, (path, label, score) in enumerate(zip(run.paths, c.labels, c.scores)):
            rel = dest.get((c.concept, path))
            if rel is None:
                continue
            digest, size, mtime = digests.get(path, (None, None, None))
            by_cluster.setdefault(int(label), []).append(
                PagePhoto(path, rel, album_of(path, run.roots), _round(score), None if fit is None else _round(fit[i]),
                          digest, size, mtime)
            )
            if not c.unsure[i]:
                folders.setdefault(int(label), rel.split("/")[1])
        for g, photos in by_cluster.items():  # a group whose every photo is on its edge: that folder
            folders.setdefault(g, photos[0].dest.split("/")[1])
        order = sorted(by_cluster, key=lambda g: (-len(by_cluster[g]), folders[g]))
        groups = [
            PageGroup(folders[g], sorted(by_cluster[g], key=lambda p: -(p.score or 0.0)),
                      [_round(s) for s in c.word_scores[g]])
            for g in order
        ]
        position = {g: j for j, g in enumerate(order)}
        keep = np.array([position.get(int(label), -1) for label in c.labels])
        shown = keep >= 0
        points, share = pca_map(np.asarray(c.features)[shown], keep[shown], seed=run.seed)
        cdir = next(iter(by_cluster.values()))[0].dest.split("/")[0] if by_cluster else c.concept
        mean_fit = None if fit is None or not shown.any() else _round(float(np.mean(fit[shown])))
        concepts.append(
            PageConcept(c.concept, cdir, list(c.words), c.word_source, list(c.names), c.mode, c.feature, c.k,
                        groups, points, share, mean_fit)
        )
    return PageData(
        created=created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        model=run.model,
        sources=list(run.roots),
        photos=len(run.paths),
        skipped=[[p, r] for p, r in run.failures],
        concepts=concepts,
    )


# ---------------------------------------------------------------------------------------- reconcile


def merge(fresh: PageData | None, old: PageData | None) -> PageData | None:
    """This run's data, with the concepts of ``old`` (an earlier run's page) that this run did not sort."""
    if fresh is None or old is None:
        return fresh or old
    names = {c.concept.casefold() for c in fresh.concepts} | {c.folder for c in fresh.concepts}
    carried = [c for c in old.concepts if c.concept.casefold() not in names and c.folder not in names]
    return replace(fresh, concepts=[*fresh.concepts, *carried],
                   sources=list(dict.fromkeys([*fresh.sources, *old.sources])))


def _is_in(folder: str, names: set[str]) -> bool:
    return folder in names or safe_name(folder) in names


def reconcile(data: PageData | None, manifest: Manifest, created: str) -> PageData:
    """The page for the tree ``manifest`` describes: its concepts, groups and photos exactly; scores, words
    and the map from ``data`` where they describe the same photos (a group the tree changed since loses
    its map, which was drawn for other groups). Byte-identical photos linked once are notes on their tile.
    Photos the user placed and groups the user named are marked as the manifest's memory says
    (:func:`~proxysort.corrections.marks_of`): page data on disk may be
    forged, and a forged "placed by you" would misstate what every run keeps."""
    data = data or PageData(created, "", [], 0, [], [])
    if not data.sources:  # no record of the photo folders (the data file is gone): the folder all photos share
        folders = [os.path.dirname(e.source) for e in manifest.files if os.path.isabs(e.source)]
        data = replace(data, sources=[os.path.commonpath(folders)] if folders else [])
    known = {c.folder: c for c in data.concepts}
    photos = {(c.folder, p.src): p for c in data.concepts for g in c.groups for p in g.photos}
    by_src = {p.src: p for p in photos.values()}  # a photo the tree holds elsewhere: its thumbnail and album
    group_of = {(c.folder, p.src): g.name for c in data.concepts for g in c.groups for p in g.photos}
    order = [c.folder for c in data.concepts]
    trees = sorted(manifest.concepts, key=lambda t: (order.index(t.dir) if t.dir in order else len(order), t.dir))
    shown_by_dest: dict[str, PagePhoto] = {}
    concepts = []
    for tree in trees:
        named, placed = marks_of(tree)
        placed_in: dict[str, set[str]] = {}
        for src, name in placed:
            placed_in.setdefault(src, set()).add(name)
        members: dict[str, list[PagePhoto]] = {}
        for e in manifest.files:
            parts = e.path.split("/")
            if parts[0] != tree.dir or len(parts) < 3 or e.companion_of is not None or e.orphan:
                continue
            group = group_folder(tree, parts[1])  # a group's -unsure folder is shown with the group
            old = photos.get((tree.dir, e.source))
            if old is not None and group_of[(tree.dir, e.source)] == group:
                photo = replace(old, dest=e.path, also=[])
            elif old is not None:  # in another group now: how it fitted the old one says nothing
                photo = replace(old, dest=e.path, also=[], score=None, fit=None)
            elif e.source in by_src:
                seen = by_src[e.source]
                photo = PagePhoto(e.source, e.path, seen.album, thumb=seen.thumb, size=seen.size, mtime_ns=seen.mtime_ns)
            else:
                photo = PagePhoto(e.source, e.path, album_of(e.source, data.sources))
            photo.pinned = _is_in(group, placed_in.get(e.source, set()))
            members.setdefault(group, []).append(photo)
            shown_by_dest[e.path] = photo
        before = known.get(tree.dir)
        run = tree.run
        if before is None:
            before = PageConcept(tree.name, tree.dir, list(run.words) if run else [], run.word_source if run else "",
                                 [], run.mode if run else "", run.feature if run else "", run.k if run else 1, [])
        old_groups = {g.name: g for g in before.groups}
        same = {g.name: {p.src for p in g.photos} for g in before.groups} == {
            name: {p.src for p in ps} for name, ps in members.items()}
        groups = [
            PageGroup(name, sorted(ps, key=lambda p: (-(p.score if p.score is not None else -2.0), p.dest)),
                      old_groups[name].word_scores if name in old_groups else [], _is_in(name, named))
            for name, ps in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
        index = {g.name: i for i, g in enumerate(groups)}
        names = [g.name for g in before.groups]
        points = [[x, y, index[names[int(g)]]] for x, y, g in before.map_points] if same else []
        concepts.append(replace(before, concept=tree.name, folder=tree.dir, groups=groups, map_points=points,
                                map_variance=before.map_variance if same else [], fit=before.fit if same else None))
    roots = data.sources
    for d in manifest.duplicates:
        target = shown_by_dest.get(d.same_as)
        if target is not None:
            album = album_of(d.source, roots)
            target.also.append(f"{album}/{os.path.basename(d.source)}" if album else os.path.basename(d.source))
    most = max((sum(len(g.photos) for g in c.groups) for c in concepts), default=0)
    return replace(data, concepts=concepts, photos=data.photos or most)


def same_content(a: PageData, b: PageData) -> bool:
    """Equal apart from the date: a re-run that changes nothing keeps the page byte for byte."""
    return asdict(replace(a, created="")) == asdict(replace(b, created=""))


__all__ = [
    "MAP_POINTS", "PAGE_DATA_VERSION", "PageConcept", "PageData", "PageDataError", "PageGroup", "PagePhoto",
    "PageRun", "RunConcept", "album_of", "build_page_data", "fits", "merge", "pca_map", "reconcile",
    "same_content",
]
