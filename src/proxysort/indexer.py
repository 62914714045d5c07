"""Build or refresh the vector index of a photo folder: scan → diff → decode pool → batched encode → batched commits.

The shape follows clip-retrieval's reader/mapper/writer split. The *reader* is a thread pool that hashes,
decodes and preprocesses files with a bounded read-ahead (Pillow releases the GIL while decoding and
resizing, so threads overlap with the model); the *mapper* is the model's batched forward pass on the
calling thread; the *writer* commits rows every few hundred images or seconds, so a run that is killed
keeps what it finished and the next run resumes from there.

The model is loaded lazily, on the first file that really needs embedding: a re-run over an unchanged
folder, or one where photos were only renamed, never pays for loading CLIP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, Sequence

from proxysort.decodeguard import InFlight, crashes, forget, leftovers
from proxysort.encoders import ClipModel, ModelSpec, return_freed_memory
from proxysort.env import Environment
from proxysort.errors import CacheError, InputError, StrictModeError, UsageError
from proxysort.imageio import ImageLoadError, is_transient, load_image
from proxysort.library import SKIPPED_COMPANIONS, Library, Photos, Selection, companion_counts, gather, ordered
from proxysort.pathcolumn import ContentIds, PathColumn, columns
from proxysort.progress import Reporter
from proxysort.rows import StoredRows
from proxysort.scan import NOT_UTF8, ScanEntry, check_root, is_utf8
from proxysort.scanskips import SortedSkips, sort_out, store_key
from proxysort.store import FailureRow, FileRow, VectorStore, content_hash, store_path
from proxysort.thumbs import keep_decoded

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.thumbs import ThumbCache

Source = Path | str | Sequence[Path | str]

#: Commit at least this often (images or seconds): bounds the work a crash can lose.
COMMIT_EVERY = 256
COMMIT_SECONDS = 5.0


@dataclass
class IndexSummary:
    """What one run did. ``new`` counts new paths (including duplicates that reused a vector); ``renamed``
    counts new paths whose content matched a file that disappeared in the same run."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    renamed: int = 0
    removed: int = 0
    failed: int = 0
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0
    #: companion files that follow their photos, by kind ("RAW twins", "Live Photo clips", "sidecars")
    companions: dict[str, int] = field(default_factory=dict)
    #: files not sorted, by kind ("videos", "sidecars without a photo", "hidden files", ...)
    ignored: dict[str, int] = field(default_factory=dict)
    #: indexed photos that are byte-identical copies of another indexed photo
    duplicates: int = 0

    @property
    def found(self) -> int:
        """Every photo the run met: each was embedded, reused (its vector was known: unchanged, renamed or
        byte-identical to another) or skipped, so the three always add up to it."""
        return self.embedded + self.unchanged + self.reused + self.failed

    def line(self) -> str:
        """The counts in the words every summary uses: photos found, embedded, reused, skipped."""
        return (
            f"{self.found} photos found: {self.embedded} embedded, {self.unchanged + self.reused} reused, "
            f"{self.failed} skipped ({self.seconds:.1f} s)"
        )

    def changes_line(self) -> str | None:
        """What changed on disk since the last run, when anything did."""
        if not (self.new or self.updated or self.renamed or self.removed):
            return None
        return (f"since the last run: {self.new} new, {self.updated} changed, {self.renamed} renamed or moved, "
                f"{self.removed} gone")

    def library_lines(self) -> list[str]:
        """What else the photo folder held: companions kept with photos, duplicates, ignored files."""
        from proxysort.library import describe

        lines = []
        if any(self.companions.values()):
            lines.append(f"with their photos: {describe(self.companions)}")
        if self.duplicates:
            lines.append(f"duplicates: {self.duplicates} of these photos are byte-identical copies of others "
                         "(each group shows one)")
        if any(self.ignored.values()):
            lines.append(f"ignored: {describe(self.ignored)}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "found": self.found}


@dataclass
class IndexedFolder:
    """The index of one or more sources: ``vectors[i]`` is the unit-norm feature of ``paths[i]``; kept in
    the store and read a block at a time (:class:`proxysort.rows.StoredRows`) when :func:`index` was
    asked not to load them, so that a sort of millions of photos never holds them all (issue 25).

    ``paths`` is a sequence of ``Path`` in sorted order: from :func:`index`, a
    :class:`~proxysort.pathcolumn.PathColumn` (one buffer; each ``Path`` made when read, its ``text`` the
    same paths as ``str``), and ``content_ids`` a :class:`~proxysort.pathcolumn.ContentIds`; both index,
    slice, iterate and compare as lists do."""

    paths: Sequence[Path]
    vectors: "np.ndarray | StoredRows"
    summary: IndexSummary
    failures: list[tuple[Path, str]]
    identity: str
    #: the folders the photos live in (scanned folders, and the folders of files given one by one): no
    #: output may be written inside any of them
    roots: list[Path] = field(default_factory=list)
    clip: ClipModel | None = None
    store: Path | None = field(default=None, repr=False)
    #: photo path -> files that belong with it in any output tree (sidecars .xmp/.aae/Takeout .json, Live
    #: Photo clips, the RAW twin of a RAW+JPEG pair), linked beside the photo under the same name stem.
    companions: dict[Path, list[Path]] = field(default_factory=dict)
    #: files the scan saw but does not sort, by kind ("videos", "sidecars without a photo", ...): none is
    #: dropped silently; summaries, --json and status report them.
    ignored: dict[str, list[Path]] = field(default_factory=dict)
    #: content hash of ``paths[i]`` (same order); byte-identical photos share one, so outputs can dedupe.
    content_ids: Sequence[str] = field(default_factory=list)
    #: the part of ``failures`` an earlier run already skipped for the same reason, the file unchanged since
    #: (same path, size and mtime): counted in one line rather than reported again, and no new problem.
    repeated: list[tuple[Path, str]] = field(default_factory=list)
    #: the image encoder's precision of the store's vectors (None: the store has none yet)
    precision: str | None = None

    @property
    def new_failures(self) -> list[tuple[Path, str]]:
        """The files skipped for the first time (or changed since they were): what makes a run partial."""
        known = {str(p) for p, _ in self.repeated}
        return [(p, r) for p, r in self.failures if str(p) not in known]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Job:
    """One photo to embed: its scan entry, and whether the store had a (now stale) row for its path."""

    entry: ScanEntry
    updated: bool

    @property
    def key(self) -> str:
        return self.entry.key


@dataclass
class Prepared:
    """What :func:`prepare` made of a job: its content hash, and the preprocessed pixels or why not."""

    job: Job
    hash: str | None = None
    tensor: "torch.Tensor | None" = None
    error: str | None = None
    transient: bool = False


class LazyModel:
    """Loads the model on first use, from whichever thread needs it first, exactly once; :meth:`release` lets it
    go once its last use is over."""

    def __init__(self, spec: ModelSpec, clip: ClipModel | None, env_vars: Any, reporter: Reporter | None = None) -> None:
        self.spec, self._clip, self._env_vars, self._reporter = spec, clip, env_vars, reporter
        self._lock = threading.Lock()
        self._failed: BaseException | None = None
        self._released: ModelSpec | None = None

    @property
    def loaded(self) -> ClipModel | None:
        return self._clip

    @property
    def used(self) -> ModelSpec | None:
        """The spec of the model given or loaded, also once it was let go (what a run's record names); None
        when there was none."""
        return self._clip.spec if self._clip is not None else self._released

    def release(self) -> None:
        """Let the model go and give its freed heap back (:func:`proxysort.encoders.return_freed_memory`):
        called once the words are embedded, so that the work that grows with the photos (scoring them, k-means,
        the tree) runs without ~0.6 GB of model resident (issue 25). A model the caller still holds stays
        loaded there; a later :meth:`get` loads it again."""
        with self._lock:
            if self._clip is None:
                return
            self._released, self._clip = self._clip.spec, None
        return_freed_memory()

    def get(self) -> ClipModel:
        with self._lock:
            if self._failed is not None:
                raise self._failed  # every worker waiting on a failed load fails at once, not one by one
            if self._clip is None:
                from proxysort.encoders import load_clip

                try:
                    self._clip = load_clip(self.spec, env=self._env_vars, reporter=self._reporter)
                except BaseException as exc:
                    self._failed = exc
                    raise
            return self._clip


def index(
    source: Source,
    *,
    model: ModelSpec | ClipModel | None = None,
    cache_dir: Path | None = None,
    exclude: Sequence[Path] = (),
    include_hidden: bool = False,
    selection: Selection | None = None,
    strict: bool = False,
    reporter: Reporter | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    env: Environment | None = None,
    commit_every: int = COMMIT_EVERY,
    lock_timeout_s: float = 600.0,
    runner: "PipelineRunner | None" = None,
    check_found: Callable[[int], None] | None = None,
    thumbnails: bool = True,
    load_vectors: bool = True,
) -> IndexedFolder:
    """Index ``source`` (a folder, a file, or a list of either) and return its paths and vectors.

    Folders are scanned recursively and *swept*: rows for files that vanished from them are removed. Files
    given explicitly (e.g. read from stdin) are indexed without any sweep. Which files are photos, which
    are companions of a photo and which are ignored is decided by :mod:`proxysort.library` under
    ``selection`` (built from ``exclude`` and ``include_hidden`` when not given). Files that cannot be
    used (not decoded, or skipped by the scan: dangling links, names that are not UTF-8, unreadable folders
    and files) are reported through ``reporter.skipped`` and listed in ``failures``; those an earlier run
    already skipped for the same reason, unchanged since, are only counted, in one line (``repeated``). With ``strict=True``
    any of them raises :class:`StrictModeError` after everything else was indexed and committed.

    ``model`` is what to embed with: a loaded :class:`ClipModel`, or a :class:`ModelSpec` to load only if
    some photo needs embedding (default: ``ModelSpec.from_env(env.vars)``).

    ``runner`` replaces the decode → embed stage (default: :func:`embed_here`, this machine's thread pool);
    it is given an :class:`IndexRun` and hands every photo to its :class:`Commit`, so the scan, diff,
    commits, sweep and summary stay the same, which is how :mod:`proxysort.distributed` runs on Ray.

    ``check_found`` is called with the number of photos the scan found, before any is embedded, so that a
    caller can refuse impossible work (more groups than photos) in seconds rather than after the embedding.

    ``thumbnails`` makes the review page's thumbnails (:func:`proxysort.thumbs.keep_decoded`, in the cache
    folder the page reads) from the images decoded for the model, so the page never decodes those photos
    again; only the local runner does, and only from decodes at least the thumbnail's size.

    ``load_vectors=False`` leaves the vectors in the store: ``vectors`` is then a
    :class:`~proxysort.rows.StoredRows` that reads them a block at a time (:func:`proxysort.sort` asks so).
    """
    started = time.monotonic()
    reporter = reporter or Reporter()
    env = env or Environment()
    selection = selection or Selection.of(exclude, include_hidden)
    clip = model if isinstance(model, ClipModel) else None
    spec = clip.spec if clip is not None else (model if isinstance(model, ModelSpec) else ModelSpec.from_env(env.vars))
    identity = clip.identity if clip is not None else spec.identity()
    if clip is None:
        from proxysort.encoders import check_weights

        check_weights(spec, env.vars, reporter)  # model first: no scan before we know it can be loaded
    found = sources(source)
    # The store keeps paths as UTF-8 text: a name that is not (bytes from another locale) is skipped, as
    # the folder scan skips it, instead of aborting the run at its first query.
    unnamed = [(f, NOT_UTF8 if os.path.lexists(f) else "file not found") for f in found.files if not is_utf8(str(f))]
    if unnamed:
        found = Sources(found.folders, [f for f in found.files if is_utf8(str(f))])
    roots, files = found.folders, found.files
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else env.cache_dir
    _refuse_cache_inside(cache_root, roots)

    summary = IndexSummary()
    failures: list[tuple[Path, str]] = []
    db = store_path(cache_root, identity)
    with VectorStore(db, identity=identity) as store:
        lazy = LazyModel(_fit_precision(spec, clip, store.precision()), clip, env.vars, reporter)
        with store.run_lock(lock_timeout_s, on_wait=lambda: reporter.message("waiting for another proxysort run on this cache...")):
            lib, scan_skips = _collect(roots, files, selection, reporter)
            entries = lib.photos
            if check_found is not None:
                check_found(len(entries))
            skips = _remembered(store, [*unnamed, *scan_skips, *lib.missing], reporter)
            failures.extend([*skips.new, *skips.repeated])
            plan = _diff(store, roots, files, entries, lib.blind_spots)
            plan.missing_failures -= skips.keys  # skipped again this run: still a problem, not gone
            summary.unchanged = plan.unchanged
            repeated = [(Path(row.path), row.reason) for row in plan.cached_failures]  # said once, below
            failures.extend(repeated)
            repeated.extend(skips.repeated)
            if plan.jobs:  # an up-to-date folder never starts a runner (nor joins a cluster)
                with Commit(store, plan, summary, failures, reporter, commit_every, lazy) as commit, \
                        _thumb_cache(cache_root, found.roots, thumbnails and runner is None) as thumbs:
                    (runner or embed_here)(IndexRun(plan.jobs, lazy, commit, reporter, batch_size, workers, thumbs))
            # Last, so a renamed file could still borrow the vector of the path it replaced.
            store.sweep(plan.missing | plan.missing_failures)
            summary.removed = len(plan.missing) - len(plan.renamed_from)
        summary.failed = len(failures)
        failed_keys = {str(p) for p, _ in failures}
        dim = store.dim() or (lazy.loaded.embed_dim if lazy.loaded is not None else 0)
        # The paths that have a vector and their content ids, streamed into two columns (~85 bytes a photo,
        # where a Path, its str and the id as str were ~0.5 KB: issue 25).
        paths, ids = columns(_indexed(store, roots, [str(f) for f in files], entries, failed_keys))
        matrix: np.ndarray | StoredRows
        if load_vectors:
            have, matrix = store.matrix_for(paths.text)  # one matrix, filled chunk by chunk: ~N x d floats
            if len(have) != len(paths):  # pragma: no cover - the run lock keeps every row read above
                raise CacheError(f"The cache at {db.parent} lost photos' vectors while this run read them; run again.")
            del have
        else:
            matrix = StoredRows(db, paths.text, dim)  # the vectors stay in the store
        precision = store.precision()

    import numpy as np

    if not paths:
        matrix = np.zeros((0, dim), np.float32)
    result = IndexedFolder(paths, matrix, summary, failures, identity, found.roots, lazy.loaded, db,
                           repeated=repeated, precision=precision)
    _account(result, lib, paths, ids)
    summary.seconds = time.monotonic() - started
    reporter.flush()
    reporter.message(f"indexed: {summary.line()}")
    if (changes := summary.changes_line()) is not None:
        reporter.message(changes)
    for line in summary.library_lines():
        reporter.message(line)
    if repeated:
        reporter.message(f"{len(repeated)} file(s) still skipped, as in an earlier run; proxysort status lists them")
    if strict and failures:
        raise StrictModeError(
            f"{len(failures)} file(s) could not be used (listed above); `strict` turns skipped files into an error."
        )
    return result


def _fit_precision(spec: ModelSpec, clip: ClipModel | None, stored: str | None) -> ModelSpec:
    """The spec to load the model with, so that new vectors are in the precision of the store's (``stored``;
    None: no vectors yet). ``auto`` follows the store; another precision is refused here, before the scan."""
    from proxysort.precision import follow

    if clip is not None:
        clip.settle_precision(stored)
        return spec
    return dataclasses.replace(spec, precision=follow(spec.precision, stored))


# -- sources and diff ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """What a source names: folders (scanned and swept) and explicit files (indexed as given)."""

    folders: list[Path]
    files: list[Path]

    @property
    def roots(self) -> list[Path]:
        """The photo folders: each scanned folder, and the folder of each explicit file, once each."""
        unique = {str(p): p for p in [*self.folders, *(f.parent for f in self.files)]}
        return list(unique.values())


def sources(source: Source) -> Sources:
    """Split ``source`` into folders and files, resolved as the scan names them. A lone missing path is an
    error; so is an unreadable folder."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    roots: list[Path] = []
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if _is_dir(path):
            if not is_utf8(str(path)):
                raise InputError(f"the folder name {ascii(str(path))} is not valid UTF-8; rename it to index its photos.")
            roots.append(check_root(path))
        elif len(items) == 1 and not os.path.lexists(path):
            raise InputError(f"{path} does not exist; pass a folder of photos or a list of image files.")
        else:
            # Resolve the folder but keep the file name, exactly as a folder scan would name it.
            absolute = Path(os.path.abspath(path))
            files.append(absolute.parent.resolve() / absolute.name)
    return Sources(roots, files)


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False for names the OS refuses to look up (too long, ...) instead of raising:
    such an entry is then reported as an unreadable file."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _refuse_cache_inside(cache_root: Path, roots: Sequence[Path]) -> None:
    real = cache_root.resolve()
    for root in roots:
        if real == root or root in real.parents:
            raise UsageError(
                f"The cache folder {cache_root} is inside the photo folder {root}, and proxysort never writes "
                "there. Choose another `cache_dir`."
            )


class _NotingReporter(Reporter):
    """Keeps the scan's skipped-file reports instead of passing them on: they count as failures (exit code
    3) like decode failures do, and are named only once the store says which of them are new
    (:func:`_remembered`); a "skipped:" line on stderr must never come with a clean exit."""

    def __init__(self, inner: Reporter, noted: list[tuple[Path, str]]) -> None:
        self.inner, self.noted = inner, noted

    def skipped(self, path: str | Path, reason: str) -> None:
        self.noted.append((Path(path), reason))

    def flush(self) -> None:
        self.inner.flush()


def _collect(
    roots: Sequence[Path], files: Sequence[Path], selection: Selection, reporter: Reporter
) -> tuple[Library, list[tuple[Path, str]]]:
    """The library under the sources, and the problems its walk reported (already shown to the user)."""
    scan_skips: list[tuple[Path, str]] = []
    noting = _NotingReporter(reporter, scan_skips)
    with reporter.progress("scanning") as advance:
        lib = gather(roots, files, selection, reporter=noting, advance=advance)
    return lib, scan_skips


def _remembered(store: VectorStore, skips: Sequence[tuple[Path, str]], reporter: Reporter) -> SortedSkips:
    """The scan's skips split into new ones (named now, and recorded) and ones an earlier run already
    skipped for the same reason (only counted, in the run's "still skipped" line); see :mod:`proxysort.scanskips`."""
    sorted_out = sort_out(skips, store.failures_for([store_key(p) for p, _ in skips]))
    for path, reason in sorted_out.new:
        reporter.skipped(path, reason)
    if sorted_out.rows:
        store.write_batch(failures=sorted_out.rows)
    return sorted_out


def _account(result: IndexedFolder, lib: Library, paths: PathColumn, ids: ContentIds) -> None:
    """Fill the result's companions, ignored files and content ids (``ids``, in the order of ``paths``, its
    paths), and count them in its summary.

    Companions of a photo that could not be indexed are ignored with it, so that every file is either
    sorted with a photo or counted."""
    indexed = paths.text  # in order: a companion's photo is found by bisection, with no set of N paths
    result.ignored = {kind: list(paths) for kind, paths in lib.ignored.items()}
    for key, companions in lib.companions.items():
        if key in indexed:
            result.companions[Path(key)] = list(companions)
        else:
            result.ignored.setdefault(SKIPPED_COMPANIONS, []).extend(companions)
    result.ignored = ordered({kind: sorted(paths, key=str) for kind, paths in result.ignored.items()})
    result.content_ids = ids
    summary = result.summary
    summary.companions = companion_counts(result.companions)
    summary.ignored = {kind: len(paths) for kind, paths in result.ignored.items()}
    summary.duplicates = len(ids) - ids.distinct()


@dataclass
class _Plan:
    jobs: list[Job]
    unchanged: int
    cached_failures: list[FailureRow]
    missing: set[str]  # rows under a scanned root whose file is gone: swept at the end
    missing_failures: set[str]
    missing_hashes: dict[str, list[str]]  # content hash -> vanished paths, for rename detection
    renamed_from: set[str] = field(default_factory=set)


def _diff(
    store: VectorStore,
    roots: Sequence[Path],
    files: Sequence[Path],
    entries: Photos,
    blind_spots: Sequence[Path],
) -> _Plan:
    """What the run must do: the photos to embed (in the scan's order), how many are unchanged, the failures
    still valid, and the rows to sweep.

    The store's rows under the roots are streamed (:func:`_stored_rows`) and each is looked up among the
    scan's photos by position: nothing is kept per photo but a flag, where a dict of every ``FileRow`` under
    the roots held ~0.45 KB a photo beside the scan's own map (issue 25). Only what must change is kept:
    the photos to embed, and the rows whose file is gone."""
    import numpy as np

    fails: dict[str, FailureRow] = {}
    for root in roots:
        fails.update(store.failures_under(root))
    file_keys = [str(p) for p in files]
    fails.update(store.failures_for(file_keys))

    # Sweep only inside scanned roots, and never below a folder the scan could not read or was told to
    # leave out: those files may well still exist.
    blind = [str(p) for p in blind_spots]
    explicit = set(file_keys)

    def gone(path: str) -> bool:
        return path not in entries and path not in explicit and not any(
            path == b or path.startswith(b.rstrip(os.sep) + os.sep) for b in blind
        ) and any(path.startswith(str(r).rstrip(os.sep) + os.sep) for r in roots)

    had_row = np.zeros(len(entries), dtype=bool)
    needs: dict[int, bool] = {}  # position of a photo to embed -> whether the store had a (stale) row for it
    unchanged = 0
    vanished: dict[str, str] = {}  # rows under a root whose file is gone -> their content hash
    for row in _stored_rows(store, roots, file_keys):
        at = entries.position(row.path)
        if at is not None:
            had_row[at] = True
            entry = entries.entry_at(at)
            if row.has_vector and (row.size, row.mtime_ns) == (entry.size, entry.mtime_ns):
                unchanged += 1
            else:
                needs[at] = True
        elif gone(row.path):
            vanished[row.path] = row.hash
    cached: list[FailureRow] = []
    for at in np.flatnonzero(~had_row).tolist():  # in the order found, as every list below
        entry = entries.entry_at(at)
        failure = fails.get(entry.key)
        if failure is not None and (failure.size, failure.mtime_ns) == (entry.size, entry.mtime_ns):
            cached.append(failure)
        else:
            needs[at] = False
    del had_row
    jobs = [Job(entries.entry_at(at), updated=needs[at]) for at in sorted(needs)]

    missing_hashes: dict[str, list[str]] = {}
    for p in sorted(vanished):
        missing_hashes.setdefault(vanished[p], []).append(p)
    gone_fails = [p for p in fails if gone(p)]
    with_rows = store.rows_for(gone_fails)
    return _Plan(
        jobs=jobs,
        unchanged=unchanged,
        cached_failures=cached,
        missing=set(vanished),
        missing_failures={p for p in gone_fails if p not in with_rows},
        missing_hashes=missing_hashes,
    )


def _stored_rows(store: VectorStore, roots: Sequence[Path], file_keys: Sequence[str]) -> Iterator[FileRow]:
    """The store's rows under ``roots`` and of the files given one by one, each once, in path order (the
    store's order, which for UTF-8 text, all the store holds, is ``str``'s): streamed a chunk at a time."""
    import heapq

    streams = [store.each_row_under(root) for root in roots]
    streams.append(iter(sorted(store.rows_for(file_keys).values(), key=lambda row: row.path)))
    last = None
    for row in heapq.merge(*streams, key=lambda row: row.path):
        if row.path != last:  # a root inside another root gives its rows twice
            last = row.path
            yield row


def _indexed(store: VectorStore, roots: Sequence[Path], file_keys: Sequence[str], entries: Photos,
             failed: set[str]) -> Iterator[tuple[str, str]]:
    """(path, content hash) of every photo found, not failed, that has a vector, in path order: what the sort
    gets, read from the store's rows in their order instead of sorting a list of every path (issue 25)."""
    for row in _stored_rows(store, roots, file_keys):
        if row.has_vector and row.path not in failed and row.path in entries:
            yield row.path, row.hash


# -- reading, embedding, committing --------------------------------------------------------------------------------------


class ModelSource(Protocol):
    """What :func:`prepare` needs of the model: its input size and preprocessing (no weights)."""

    image_size: int

    def preprocess(self, image: Any) -> Any: ...


def prepare(
    job: Job, known: set[str], model: Callable[[], ModelSource], flight: "InFlight | None" = None,
    thumbs: "ThumbCache | None" = None,
) -> Prepared:
    """Hash, and unless the content is already embedded (``known`` hashes), decode and preprocess: the
    worker's step of every runner (a local thread, a Ray task). ``model`` is called only when pixels are
    needed, so a folder of known content never loads one. ``flight`` records the file while it is decoded,
    so a decoder crash names it to the next run; ``thumbs`` gets the review page's thumbnail from the same
    decoded image."""
    entry = job.entry
    try:
        digest = content_hash(entry.path, entry.size)
    except OSError as exc:
        return Prepared(job, error=f"cannot be read ({(exc.strerror or str(exc)).lower()})", transient=True)
    # Only a *new* path may borrow a vector by hash: an edited file re-embeds even if the samples match.
    if not job.updated and digest in known:
        return Prepared(job, hash=digest)
    clip = model()
    try:
        with flight.decoding(entry.path) if flight is not None else contextlib.nullcontext():
            image = load_image(entry.path, clip.image_size)
        tensor = clip.preprocess(image)
        if thumbs is not None:
            keep_decoded(entry.key, image, thumbs)
    except ImageLoadError as exc:
        return Prepared(job, hash=digest, error=str(exc), transient=is_transient(exc))
    except Exception as exc:  # noqa: BLE001 - one hostile file must not end a run over 50,000 photos
        return Prepared(job, hash=digest, error=f"cannot be decoded ({type(exc).__name__}: {exc})"[:200])
    return Prepared(job, hash=digest, tensor=tensor)


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[Job], Prepared], jobs: Iterable[Job], ahead: int) -> Iterator[Prepared]:
    """Like ``pool.map`` but with at most ``ahead`` results in flight, so memory stays flat."""
    pending: deque[Future[Prepared]] = deque()
    it = iter(jobs)
    for job in it:
        pending.append(pool.submit(fn, job))
        if len(pending) >= ahead:
            break
    while pending:
        result = pending.popleft().result()
        for job in it:
            pending.append(pool.submit(fn, job))
            break
        yield result


class _Writer:
    """Accumulates rows and commits them in batches (count or time), always vectors before file rows, with
    the precision of the model that embedded them (``lazy``'s, loaded by the time there are vectors)."""

    def __init__(self, store: VectorStore, every: int, lazy: LazyModel) -> None:
        self.store, self.every, self.lazy = store, max(1, every), lazy
        self.files: list[tuple[str, int, int, str]] = []
        self.vectors: dict[str, Any] = {}
        self.failures: list[FailureRow] = []
        self.forget: list[str] = []
        self.drop: list[str] = []
        self.last = time.monotonic()

    def add_file(self, entry: ScanEntry, digest: str, vector: Any = None) -> None:
        self.files.append((entry.key, entry.size, entry.mtime_ns, digest))
        self.forget.append(entry.key)
        if vector is not None:
            self.vectors[digest] = vector

    def add_failure(self, prepared: Prepared) -> None:
        entry = prepared.job.entry
        self.drop.append(entry.key)  # an old vector no longer describes this file
        if not prepared.transient:
            self.failures.append(FailureRow(entry.key, entry.size, entry.mtime_ns, prepared.error or ""))

    def maybe_flush(self) -> None:
        if len(self.files) + len(self.failures) >= self.every or time.monotonic() - self.last >= COMMIT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.files or self.failures or self.drop:
            clip = self.lazy.loaded  # loaded whenever there are vectors
            precision = clip.precision if clip is not None else "fp32"
            self.store.write_batch(self.files, self.vectors, self.failures, self.forget, self.drop, precision)
        self.files, self.vectors, self.failures, self.forget, self.drop = [], {}, [], [], []
        self.last = time.monotonic()


@contextlib.contextmanager
def _thumb_cache(cache_root: Path, roots: Sequence[Path], wanted: bool) -> Iterator["ThumbCache | None"]:
    """The page's thumbnail cache while photos are decoded (None when not ``wanted``)."""
    if not wanted:
        yield None
        return
    from proxysort.thumbs import ThumbCache

    with ThumbCache(cache_root, roots) as cache:
        yield cache


def _default_workers() -> int:
    """One decoding thread per CPU this process may use (its affinity, so a container's share), at least 2.

    No fixed cap: a cap of 8 left a 16-core GPU machine decoding ~260 photos/s while its encoder waited
    (issue 25). On a CPU the encoder's threads and these share the cores; a decoding thread that runs ahead
    blocks on the bounded read-ahead, so decoding takes only the time the encoder leaves."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 2
    return max(2, cpus)


class Commit:
    """The driver's half of every runner, the one commit loop: each prepared photo becomes a skip line and a
    failure row, a reused vector (by content hash; a rename when its content belonged to a vanished path)
    or a new vector, counted in the summary and committed in batches. Used as a context manager by
    :func:`index`: whatever stops the runner (Ctrl-C, a lost cluster), every vector that reached the
    driver is committed, and the next run starts after them."""

    def __init__(self, store: VectorStore, plan: "_Plan", summary: IndexSummary, failures: list[tuple[Path, str]],
                 reporter: Reporter, every: int, lazy: LazyModel) -> None:
        self.store, self.plan, self.summary, self.failures, self.reporter = store, plan, summary, failures, reporter
        self.writer = _Writer(store, every, lazy)
        #: Content hashes the store has vectors for (a new path with one of them reuses its vector).
        self.known = store.known_hashes()
        self.embedded_now: set[str] = set()
        #: What the progress bar shows.
        self.counts = {"embedded": 0, "skipped": 0}

    def __enter__(self) -> "Commit":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, CacheError):  # the store itself failed: writing again would fail the same way
            self.writer.flush()

    def has(self, digest: str) -> bool:
        """Whether this content's vector was embedded in this run (a later copy reuses it)."""
        return digest in self.embedded_now

    def failed(self, prepared: Prepared) -> None:
        job = prepared.job
        error = prepared.error or ""
        self.reporter.skipped(job.entry.path, error)
        self.failures.append((job.entry.path, error))
        self.writer.add_failure(prepared)
        self.counts["skipped"] += 1

    def reused(self, job: Job, digest: str) -> None:
        renamed = _claim_rename(self.plan, digest)
        self.writer.add_file(job.entry, digest)
        _count(self.summary, job, renamed=renamed)
        self.summary.reused += 1

    def embedded(self, job: Job, digest: str, vector: Any) -> None:
        self.writer.add_file(job.entry, digest, vector)
        _count(self.summary, job, renamed=False)
        self.embedded_now.add(digest)
        self.summary.embedded += 1
        self.counts["embedded"] += 1

    def take(self, prepared: Prepared) -> bool:
        """A failed or reused photo committed; False when it still needs its vector (call :meth:`embedded`)."""
        if prepared.error is not None:
            self.failed(prepared)
        elif prepared.tensor is None or self.has(prepared.hash or ""):
            assert prepared.hash is not None
            self.reused(prepared.job, prepared.hash)
        else:
            return False
        return True

    def maybe_flush(self) -> None:
        self.writer.maybe_flush()

    def flush(self) -> None:
        self.writer.flush()


@dataclass
class IndexRun:
    """What a runner is given: the photos to embed, the model (loaded on first use), where every photo's
    outcome goes (:class:`Commit`), and the run's settings."""

    jobs: list[Job]
    model: LazyModel
    commit: Commit
    reporter: Reporter
    batch_size: int | None
    workers: int | None
    #: Where the local runner keeps the review page's thumbnails of what it decodes (None: nowhere).
    thumbs: "ThumbCache | None" = None


class PipelineRunner(Protocol):
    """The decode → embed stage: embeds ``run.jobs`` and hands each photo's outcome to ``run.commit``."""

    def __call__(self, run: IndexRun) -> None: ...


def embed_here(run: IndexRun) -> None:
    """The default runner: a thread pool decodes (:func:`prepare`), this thread embeds in batches."""
    commit, lazy = run.commit, run.model
    _isolate_suspects(run)
    flight = InFlight(commit.store.path.parent)
    workers = run.workers or _default_workers()
    batch: list[Prepared] = []

    def encode(advance: Callable[..., None]) -> None:
        import torch

        feats = lazy.get().encode_images(torch.stack([p.tensor for p in batch]))  # type: ignore[misc]
        for prepared, vec in zip(batch, feats):
            assert prepared.hash is not None
            commit.embedded(prepared.job, prepared.hash, vec)
        advance(len(batch), **commit.counts)
        batch.clear()
        commit.maybe_flush()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="proxysort-decode")
    try:
        with run.reporter.progress("indexing", total=len(run.jobs)) as advance:
            bs = run.batch_size
            ahead = max(2 * workers, 2 * (bs or 32))
            for prepared in _bounded_map(pool, lambda j: prepare(j, commit.known, lazy.get, flight, run.thumbs), run.jobs, ahead=ahead):
                if commit.take(prepared):
                    advance(1, **commit.counts)
                else:
                    batch.append(prepared)
                    if bs is None:
                        bs = run.batch_size or (128 if lazy.get().device.type == "cuda" else 32)
                    if len(batch) >= bs:
                        encode(advance)
                commit.maybe_flush()
            if batch:
                encode(advance)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        flight.close()
        run.reporter.flush()  # counts of repeated skip reasons, also when the run stops early


def _isolate_suspects(run: IndexRun) -> None:
    """Files an earlier run was decoding when it died are decoded first in a child process; one that kills
    the child is skipped with its reason and recorded as a failure (later runs skip it until it changes),
    the others stay in ``run.jobs`` (see :mod:`proxysort.decodeguard`)."""
    suspects, records = leftovers(run.commit.store.path.parent)
    if not suspects:
        forget(records)
        return
    keep: list[Job] = []
    for job in run.jobs:
        reason = crashes(job.entry.path, run.model.get().image_size) if job.key in suspects else None
        if reason is None:
            keep.append(job)
            continue
        run.commit.failed(Prepared(job, error=reason))
    run.jobs[:] = keep
    run.commit.flush()  # the failure is on disk before anything else is decoded
    forget(records)


def _claim_rename(plan: _Plan, digest: str) -> bool:
    """A new path whose content belonged to a vanished path is that file, renamed or moved."""
    olds = plan.missing_hashes.get(digest)
    if not olds:
        return False
    plan.renamed_from.add(olds.pop())
    return True


def _count(summary: IndexSummary, job: Job, *, renamed: bool) -> None:
    if job.updated:
        summary.updated += 1
    elif renamed:
        summary.renamed += 1
    else:
        summary.new += 1
