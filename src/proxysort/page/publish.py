"""Writing the review page into OUT: on the tree writer's descriptors, under its lock, tied to its manifest.

``cluster`` makes the run's thumbnails in the cache first (no lock needed: they are keyed by content), then
hands a :class:`PageJob` to the tree writer, which calls it in the same locked section, right after the tree
and its manifest are written. ``show`` takes the same lock and calls the same :func:`publish`. So:

* nothing is written by path name: an OUT swapped for a link meanwhile receives nothing, and no page lands
  in a photo folder;
* the page's groups are the manifest's (:func:`~proxysort.page.data.reconcile`), whichever of two runs
  into one OUT finishes last, and the page shows every concept the folder holds;
* its thumbnails are copied into OUT (``.proxysort-thumbs/ab/<hash>.jpg``) and linked relatively, so the
  folder works copied, zipped or served, with the cache gone;
* the manifest records the SHA-256 of the page, of its data and the thumbnails, so ``clean`` removes those
  and nothing else, and a user's own ``index.html`` is never replaced.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from proxysort.errors import OutputError
from proxysort.manifest import PAGE_THUMBS, Manifest, PageRecord, read_manifest_at
from proxysort.outdir import OutDir
from proxysort.page.data import PageData, PageDataError, PageRun, build_page_data, merge, reconcile, same_content
from proxysort.pagefiles import (
    PAGE_DATA_NAME,
    PAGE_NAME,
    page_is_ours,
    read_own,
    sha256_hex,
    thumb_rel,
)
from proxysort.progress import Reporter
from proxysort.thumbs import MAX_THUMB_BYTES, Thumb, ThumbCache, ThumbStats, is_whole_jpeg, make_thumbnails

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.output import WriteSummary

#: Page data larger than this is not proxysort's (10,000 photos make about 3 MB).
MAX_DATA_BYTES = 256 << 20


@dataclass
class PageOutcome:
    """What one publication did: the page's path (``None`` when a file of the user's holds its name)."""

    page: Path | None
    thumbs: ThumbStats
    copied: int = 0  # thumbnails copied into OUT this time
    notes: list[str] = field(default_factory=list)  # one sentence each, for stderr


def read_page_data_at(od: OutDir) -> PageData | None:
    """The page data in an open OUT; ``None`` when there is none. Read like the manifest: bounded, regular
    files only, never through a link or blocking on a FIFO; :class:`PageDataError` says what is wrong."""
    try:
        raw = od.read_bytes(PAGE_DATA_NAME, MAX_DATA_BYTES)
    except OSError as exc:
        raise PageDataError(f"it cannot be read ({exc.strerror or exc})") from None
    if raw is None:
        return None
    if len(raw) > MAX_DATA_BYTES:
        raise PageDataError("it is too large to be proxysort's")
    try:
        return PageData.from_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PageDataError("it is not UTF-8 text") from None


def _known_digests(data: PageData | None) -> dict[str, str]:
    """photo -> full content hash, from page data, for photos whose size and mtime are still the same."""
    known: dict[str, str] = {}
    for c in data.concepts if data is not None else ():
        for g in c.groups:
            for p in g.photos:
                if p.thumb is None or p.size is None or p.src in known:
                    continue
                try:
                    st = os.stat(p.src)
                except OSError:
                    continue
                if (st.st_size, st.st_mtime_ns) == (p.size, p.mtime_ns):
                    known[p.src] = p.thumb
    return known


def _stat_key(photo: str) -> tuple[int | None, int | None]:
    try:
        st = os.stat(photo)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def _has_thumb(od: OutDir, digest: str, thorough: bool) -> bool:
    """Whether OUT holds this thumbnail: a regular file of a thumbnail's size, written whole by proxysort
    (atomically); ``thorough`` (``show``, the repair) also reads it and checks it is a whole JPEG."""
    if not thorough:
        st = od.lstat(thumb_rel(digest))
        return st is not None and stat.S_ISREG(st.st_mode) and 100 < st.st_size <= MAX_THUMB_BYTES
    try:
        return is_whole_jpeg(od.read_bytes(thumb_rel(digest), MAX_THUMB_BYTES))
    except (OutputError, OSError):
        return False


class PageJob:
    """The page of one ``cluster`` run: thumbnails made before the lock, the page written under it.

    Call :meth:`prepare` first (outside the lock), then pass the job as ``after=`` to the tree writer.
    ``tree_written`` tells an interrupt handler whether the tree was written before the page step began.
    """

    def __init__(self, run: PageRun, cache_root: Path, *, reporter: Reporter | None = None,
                 workers: int | None = None) -> None:
        self.run = run
        self.cache_root = Path(cache_root)
        self.reporter = reporter or Reporter()
        self.workers = workers
        self.thumbs: dict[str, Thumb] = {}
        self.stats = ThumbStats()
        self.tree_written = False
        self.outcome: PageOutcome | None = None

    def prepare(self, out: Path) -> None:
        """Thumbnails of every photo of the run, in the cache (or in memory where the cache cannot keep
        them); hashes a last page of ``out`` recorded are reused for files that did not change."""
        old = None
        try:
            with OutDir.open(Path(out)) as od:
                old = read_page_data_at(od) if od.exists else None
        except (OutputError, PageDataError, OSError):
            old = None  # said once, under the lock, when the page is written
        with ThumbCache(self.cache_root, [Path(r) for r in self.run.roots]) as cache:
            if cache.problem:
                self.reporter.warning(f"{cache.problem}; thumbnails are made without it")
            with self.reporter.progress("thumbnails", total=len(self.run.paths)) as advance:
                thumbs, self.stats = make_thumbnails(self.run.paths, cache, digests=_known_digests(old),
                                                     workers=self.workers, advance=advance)
        self.thumbs = dict(zip(self.run.paths, thumbs))

    def __call__(self, od: OutDir, summary: "WriteSummary") -> None:
        self.tree_written = True
        plan = summary.plan
        dest = plan.dest if plan is not None else {}
        digests = {}
        for photo, thumb in self.thumbs.items():
            if thumb.digest is not None and thumb.ok:
                size, mtime = _stat_key(photo)
                digests[photo] = (thumb.digest, size, mtime)
        fresh = build_page_data(self.run, dest, digests)
        old_record = plan.old.page if plan is not None and plan.old is not None else None
        in_memory = {t.digest: t.data for t in self.thumbs.values() if t.digest and t.data}
        with ThumbCache(self.cache_root, [Path(r) for r in self.run.roots]) as cache:
            try:
                self.outcome = publish(od, fresh, cache, self.reporter, record=old_record, in_memory=in_memory,
                                       roots=self.run.roots, stats=self.stats)
            except OutputError as exc:  # OUT refused the page (full, read-only): the tree stands, rows follow
                self.reporter.warning(str(exc))
                self.outcome = PageOutcome(None, self.stats, notes=[str(exc)])


def publish(
    od: OutDir,
    fresh: PageData | None,
    cache: ThumbCache,
    reporter: Reporter,
    *,
    record: PageRecord | None = None,
    in_memory: Mapping[str, bytes] | None = None,
    roots: Sequence[str] = (),
    stats: ThumbStats | None = None,
    remake: Callable[[Sequence[str]], Mapping[str, Thumb]] | None = None,
) -> PageOutcome:
    """Write the page of the tree in ``od`` (which the caller has locked): data, thumbnails, page, record.

    ``fresh`` is this run's data (``None`` for ``show``); concepts it does not cover come from the page data
    already in OUT, and the groups of every concept from the manifest. Thumbnails missing in OUT are copied
    from ``in_memory`` or the cache, else made by ``remake`` (photo paths -> thumbs), else shown as
    placeholders. Never raises for a bad page data file, thumbnail or a user's ``index.html``: each is one
    note; only OUT itself failing (no space, read-only) is an :class:`OutputError`.
    """
    notes: list[str] = []
    stats = stats or ThumbStats()
    manifest = read_manifest_at(od) or Manifest()
    record = record if record is not None else manifest.page
    try:
        old = read_page_data_at(od)
    except PageDataError as exc:
        old = None
        notes.append(f"{od.path / PAGE_DATA_NAME} cannot be used ({exc}); the page is made from the folder tree's "
                     "record instead")
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    base = merge(fresh, old)
    if base is not None and not base.sources and roots:
        base = replace(base, sources=list(roots))
    data = reconcile(base, manifest, created)
    copied = _place_thumbnails(od, data, cache, in_memory or {}, remake, stats, thorough=remake is not None)
    if old is not None and same_content(old, data):
        data.created = old.created
    data_text = data.to_json().encode("utf-8")
    html = _render(data).encode("utf-8")
    page: Path | None = od.path / PAGE_NAME
    try:
        if read_own(od, PAGE_DATA_NAME, MAX_DATA_BYTES) != data_text:
            od.write_file(PAGE_DATA_NAME, data_text)
        ours = page_is_ours(od, record)
        if ours is False:
            page = None
            notes.append(f"{od.path / PAGE_NAME} is not a page proxysort made, so it is left alone and the review "
                         "page was not written; move it away and run proxysort show")
        elif read_own(od, PAGE_NAME) != html:
            od.write_file(PAGE_NAME, html)
    except OSError as exc:
        raise OutputError(f"Cannot write the review page in {od.path}: {exc.strerror or exc}.") from exc
    thumbs = tuple(sorted({p.thumb for c in data.concepts for g in c.groups for p in g.photos if p.thumb}))
    _drop_stale_thumbnails(od, record, set(thumbs))
    from proxysort.output import save_manifest

    new_record = PageRecord(sha256_hex(html) if page is not None else None, sha256_hex(data_text), thumbs)
    save_manifest(od, replace(read_manifest_at(od) or manifest, page=new_record))
    for note in notes:
        reporter.warning(note)
    return PageOutcome(page, stats, copied, notes)


def _render(data: PageData) -> str:
    from proxysort.page.render import render

    return render(data)


def _place_thumbnails(
    od: OutDir,
    data: PageData,
    cache: ThumbCache,
    in_memory: Mapping[str, bytes],
    remake: Callable[[Sequence[str]], Mapping[str, Thumb]] | None,
    stats: ThumbStats,
    *,
    thorough: bool,
) -> int:
    """Every thumbnail the page shows, present and whole in OUT: copied from memory or the cache, else made
    again (``remake``, one batch); a photo whose thumbnail cannot be had is shown as a placeholder (its
    ``thumb`` cleared). Returns how many thumbnails were written into OUT."""
    photos = [p for c in data.concepts for g in c.groups for p in g.photos]
    source: dict[str, str] = {}  # thumbnail -> a photo it is made from
    for p in photos:
        if p.thumb is not None:
            source.setdefault(p.thumb, p.src)
    present = {d for d in source if _has_thumb(od, d, thorough)}
    pending = {d: in_memory.get(d) or cache.get(d) for d in source if d not in present}
    lacking = sorted({source[d] for d, b in pending.items() if b is None} | {p.src for p in photos if p.thumb is None})
    if lacking and remake is not None:
        made = remake(lacking)
        for p in photos:
            t = made.get(p.src)
            if t is not None and t.ok and t.digest is not None:
                p.thumb = t.digest
                p.size, p.mtime_ns = _stat_key(p.src)
                if t.digest not in present and pending.get(t.digest) is None:
                    pending[t.digest] = t.data or cache.get(t.digest)
    copied = 0
    for digest, blob in sorted(pending.items()):
        if blob is None:
            continue
        rel = thumb_rel(digest)
        try:
            od.dir_fd(rel.rsplit("/", 1)[0], create=True)
            od.write_file(rel, blob)
        except (OutputError, OSError) as exc:
            stats.failures.append((source.get(digest, digest), f"cannot write its thumbnail into the output folder: {exc}"))
            continue
        present.add(digest)
        copied += 1
    for p in photos:
        if p.thumb is not None and p.thumb not in present:
            p.thumb = None
    return copied


def _drop_stale_thumbnails(od: OutDir, record: PageRecord | None, keep: set[str]) -> None:
    """Thumbnails proxysort put in OUT that the page no longer shows; their fan-out folders when empty."""
    for digest in record.thumbs if record is not None else ():
        if digest not in keep:
            try:
                od.unlink(thumb_rel(digest))
            except OSError:
                pass
    for fan in od.listdir(PAGE_THUMBS):
        if not od.listdir(f"{PAGE_THUMBS}/{fan}"):
            od.rmdir(f"{PAGE_THUMBS}/{fan}")
    if not od.listdir(PAGE_THUMBS):
        od.rmdir(PAGE_THUMBS)


def rebuild_page(
    out: Path, cache_root: Path | None, *, workers: int | None = None, reporter: Reporter | None = None,
    lock_timeout: float | None = None,
) -> PageOutcome:
    """``proxysort show``: the page of ``out`` made again under its lock, without sorting again.

    The groups are the manifest's; scores and words come from the page data where they still describe
    the same photos; thumbnails missing from OUT are copied from the cache or made again from the originals
    (``cache_root`` None: no cache, and none made again: ``clean`` redrawing the page of the trees it kept).
    """
    from proxysort.outdir import DEFAULT_LOCK_TIMEOUT
    from proxysort.output import check_location

    reporter = reporter or Reporter()
    out = Path(os.path.abspath(Path(out).expanduser()))
    with OutDir.open(out) as od:
        manifest = read_manifest_at(od) if od.exists else None
        if manifest is None or not manifest.concepts:
            raise OutputError(
                f"{out} holds no sorted photos with a review page; sort photos into it first (proxysort cluster)."
            )
        with od.lock(lock_timeout if lock_timeout is not None else DEFAULT_LOCK_TIMEOUT, reporter.warning):
            try:
                data = read_page_data_at(od)
            except PageDataError:
                data = None  # publish() says so
            roots = list(data.sources) if data is not None else []
            check_location(od.real_path(), [Path(r) for r in roots])
            with ThumbCache(cache_root, [Path(r) for r in roots]) as cache:
                if cache.problem:
                    reporter.warning(f"{cache.problem}; thumbnails are made without it")
                stats = ThumbStats()
                if cache_root is None:
                    return publish(od, None, cache, reporter, roots=roots, stats=stats)

                def remake(photos: Sequence[str]) -> Mapping[str, Thumb]:
                    with reporter.progress("thumbnails", total=len(photos)) as advance:
                        thumbs, made = make_thumbnails(photos, cache, workers=workers, advance=advance)
                    stats.made += made.made
                    stats.reused += made.reused
                    stats.failed += made.failed
                    stats.failures += made.failures
                    return dict(zip(photos, thumbs))

                return publish(od, None, cache, reporter, roots=roots, stats=stats, remake=remake)
