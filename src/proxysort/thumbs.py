"""Small upright thumbnails for the review page, made once per photo content and kept in the cache.

A review page of 10,000 photos must open at once, so it shows thumbnails, never the originals. They are:

* **keyed by the full content hash** (SHA-256 of every byte, :func:`full_hash`): a renamed or re-sorted
  photo reuses its thumbnail, an edited one gets a new one, and two different photos never share one (the
  index's sampled hash can, for files that differ only between its samples);
* **cached like the store** (``<cache>/thumbs/<kind>/ab/<hash>.jpg``): every folder below the cache folder
  is opened without following links (:class:`~proxysort.outdir.OutDir`), so a link planted in the cache
  never sends a JPEG elsewhere, and a cache that resolves into a photo folder is refused;
* **checked when reused**: a cached file that is empty or not a whole JPEG is made again;
* **decoded the way the index decodes** (:func:`proxysort.imageio.load_image`): upright from EXIF, JPEGs
  DCT-downscaled while decoding, and every bad file one short reason instead of an exception;
* **written atomically** (temporary name, then rename), so two runs at once or a crash never leave half a
  JPEG that a later run would take for a finished one.

Every failure (a photo, a cache folder that cannot be made) is that thumbnail's error, never an exception:
the tree is written by then, and its result rows must still reach stdout. The page copies the thumbnails it
shows into OUT (:mod:`proxysort.page.publish`); the cache only saves making them again.

Decoding dominates the cost, and Pillow releases the GIL while decoding and encoding, so a thread pool
scales with cores.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from proxysort.errors import OutputError
from proxysort.outdir import OutDir

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

#: Shorter side in pixels. The page crops each thumbnail to a square cell of ~130-160 CSS px, so the
#: shorter side is what is seen; 240 px stays sharp at 1.5x zoom and is 10-20 KB as JPEG. JPEGs decode
#: at 1/4 or 1/8 scale for this (libjpeg's DCT scaling), which is most of the speed.
THUMB_SIZE = 240
#: Panoramas keep at most this aspect ratio's worth of long side.
_MAX_LONG = 2 * THUMB_SIZE
#: JPEG quality: clean at thumbnail size, ~10-20 KB for a camera photo. JPEG rather than WebP because
#: libjpeg encodes a thumbnail 6-10x faster than libwebp (measured: 2.7 ms vs 27-53 ms per 320x240
#: thumbnail), which decides how long the page takes for 10,000 photos; WebP would save a few KB each.
THUMB_QUALITY = 80
#: The folder name encodes every parameter, so changing one never serves a stale thumbnail; v2: keyed by
#: the full SHA-256 of the photo.
THUMB_KIND = f"v2-{THUMB_SIZE}-q{THUMB_QUALITY}-jpeg"
#: A thumbnail is at most 480x240 at quality 80: far below this; anything larger is not ours.
MAX_THUMB_BYTES = 4 << 20


@dataclass(frozen=True)
class Thumb:
    """A photo's thumbnail: the photo's full content hash (its name), where it is (in the cache, or its
    bytes here when the cache could not keep them), or the reason it could not be made."""

    digest: str | None
    cached: bool = False
    data: bytes | None = field(default=None, repr=False)
    error: str | None = None
    made: bool = False

    @property
    def ok(self) -> bool:
        return self.digest is not None and (self.cached or self.data is not None)


@dataclass
class ThumbStats:
    """What one :func:`make_thumbnails` call did; ``made + reused + failed`` is the number of photos."""

    made: int = 0
    reused: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, photo: str, thumb: Thumb) -> None:
        if not thumb.ok:
            self.failed += 1
            self.failures.append((photo, thumb.error or "unknown"))
        elif thumb.made:
            self.made += 1
        else:
            self.reused += 1


def is_whole_jpeg(data: bytes | None) -> bool:
    """A JPEG from start marker to end marker (an empty, cut or overwritten file is not)."""
    return data is not None and len(data) > 100 and data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"


def full_hash(photo: str) -> str:
    """SHA-256 of every byte of ``photo`` (a FIFO or device swapped in is refused, never read)."""
    from proxysort.safeopen import open_regular

    h = hashlib.sha256()
    with open_regular(photo) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def render_thumbnail(photo: str) -> bytes:
    """The JPEG bytes of ``photo``'s thumbnail; :class:`~proxysort.imageio.ImageLoadError` for a bad photo."""
    from proxysort.imageio import load_image

    return thumbnail_bytes(load_image(photo, min_size=THUMB_SIZE))


def keep_decoded(photo: str, img: "PILImage.Image", cache: ThumbCache) -> bool:
    """Make ``photo``'s thumbnail from ``img``, the upright image ``index`` decoded for the model, and keep
    it in ``cache``, so the review page never decodes that photo again (issue 25). Only when ``img`` is at
    least :data:`THUMB_SIZE` on its shorter side (a smaller decode would make a blurrier thumbnail than
    the page's own) and the cache has none yet. True when a thumbnail was kept; never raises: a thumbnail
    that cannot be made here is made by the page as before."""
    if min(img.size) < THUMB_SIZE or cache.problem is not None:
        return False
    try:
        digest = full_hash(photo)
        if cache.get(digest) is not None:
            return False
        return cache.put(digest, thumbnail_bytes(img)) is None
    except Exception:  # noqa: BLE001 - the index must not fail for a thumbnail the page can still make
        return False


def thumbnail_bytes(img: "PILImage.Image") -> bytes:
    """The JPEG bytes of the thumbnail of an upright decoded photo."""
    from PIL import Image

    w, h = img.size
    scale = min(1.0, THUMB_SIZE / min(w, h), _MAX_LONG / max(w, h))
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=THUMB_QUALITY)
    return buf.getvalue()


class ThumbCache:
    """``<cache>/thumbs/<kind>``, opened once; reads and writes relative to folder descriptors.

    ``problem`` says why the cache cannot be used (a link or file in the way, a folder that cannot be made,
    a cache inside a photo folder): thumbnails are then made without it, and the caller says so once.
    """

    def __init__(self, cache_root: Path | None, photo_roots: Sequence[Path] = ()) -> None:
        self.problem: str | None = None
        self._od: OutDir | None = None
        self._lock = threading.Lock()
        if cache_root is None:  # no cache: nothing is read or kept
            return
        base = Path(os.path.abspath(cache_root))
        self.problem = self._inside(Path(os.path.realpath(base)), base, photo_roots)  # before making anything
        if self.problem:
            return
        try:
            od = OutDir.open(base, create=True)
            od.dir_fd(f"thumbs/{THUMB_KIND}", create=True)
        except (OutputError, OSError) as exc:
            self.problem = f"the thumbnail cache in {base} cannot be used ({_reason(exc)})"
            return
        self.problem = self._inside(od.real_path(), base, photo_roots)  # where the folder opened really is
        if self.problem:
            od.close()
            return
        self._od = od

    @staticmethod
    def _inside(real: Path, base: Path, photo_roots: Sequence[Path]) -> str | None:
        for root in photo_roots:
            real_root = Path(os.path.realpath(root))
            if real == real_root or real.is_relative_to(real_root):
                return f"the thumbnail cache {base / 'thumbs'} is inside the photo folder {root}; it is not used"
        return None

    def close(self) -> None:
        if self._od is not None:
            self._od.close()
            self._od = None

    def __enter__(self) -> "ThumbCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def rel(digest: str) -> str:
        return f"thumbs/{THUMB_KIND}/{digest[:2]}/{digest}.jpg"

    def get(self, digest: str) -> bytes | None:
        """The cached thumbnail's bytes, ``None`` when missing, unreadable or damaged (then made again)."""
        if self._od is None:
            return None
        try:
            with self._lock:
                data = self._od.read_bytes(self.rel(digest), MAX_THUMB_BYTES)
        except (OutputError, OSError):
            return None
        return data if is_whole_jpeg(data) else None

    def put(self, digest: str, data: bytes) -> str | None:
        """Keep ``data`` for ``digest``; the reason when it could not be kept (the thumbnail still works)."""
        if self._od is None:
            return self.problem or "no cache"
        rel = self.rel(digest)
        try:
            with self._lock:
                self._od.dir_fd(rel.rsplit("/", 1)[0], create=True)
            self._od.write_file(rel, data)
        except (OutputError, OSError) as exc:
            return f"cannot keep it in the cache: {_reason(exc)}"
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).rstrip(".")


def _one(photo: str, digest: str | None, cache: ThumbCache) -> Thumb:
    """Find or make one thumbnail; every failure is the Thumb's error."""
    from proxysort.imageio import ImageLoadError

    try:
        digest = digest or full_hash(photo)
    except OSError as exc:
        return Thumb(None, error=f"cannot read: {_reason(exc)}")
    if cache.get(digest) is not None:
        return Thumb(digest, cached=True)
    try:
        data = render_thumbnail(photo)
    except ImageLoadError as exc:
        return Thumb(digest, error=str(exc))
    except (OSError, ValueError) as exc:
        return Thumb(digest, error=f"cannot make the thumbnail: {_reason(exc)}")
    if cache.put(digest, data) is None:
        return Thumb(digest, cached=True, made=True)
    return Thumb(digest, data=data, made=True)  # the cache could not keep it: carried to the page in memory


def default_workers() -> int:
    """One thread per core, at most 8: decoding is CPU-bound and releases the GIL."""
    return max(1, min(8, os.cpu_count() or 1))


def make_thumbnails(
    photos: Sequence[str | Path],
    cache: ThumbCache,
    *,
    digests: Mapping[str, str] | None = None,
    workers: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[list[Thumb], ThumbStats]:
    """One :class:`Thumb` per photo (same order), made only where the cache has none (or a damaged one).

    ``digests`` are full content hashes already known (photo -> hash, from the last page of the same files
    with the same size and mtime): those photos are not read again unless their thumbnail must be made.
    ``advance`` is called with 1 per finished photo, for a progress bar. Never raises for a bad photo or
    cache: its Thumb has no data and an ``error``, and the page shows a placeholder.
    """
    known = digests or {}
    stats = ThumbStats()
    results: list[Thumb] = []

    def job(photo: str) -> Thumb:
        return _one(photo, known.get(photo), cache)

    names = [str(p) for p in photos]
    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="thumb") as pool:
        for photo, thumb in zip(names, pool.map(job, names)):
            results.append(thumb)
            stats.add(photo, thumb)
            if advance is not None:
                advance(1)
    return results, stats
