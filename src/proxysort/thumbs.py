"""Small upright thumbnails for the review page, made once per photo content and kept in the cache.

A review page of 10,000 photos must open at once, so it shows thumbnails, never the originals. They are:

* **keyed by content**, with the index's partial content hash (:func:`proxysort.store.content_hash`): a
  renamed or re-sorted photo reuses its thumbnail, an edited one gets a new one, and a re-run makes none;
* **under the cache folder** (``<cache>/thumbs/<kind>/ab/<hash>.jpg``), never beside the photos;
* **decoded the way the index decodes** (:func:`proxysort.imageio.load_image`): upright from EXIF, JPEGs
  DCT-downscaled while decoding, and every bad file one short reason instead of an exception;
* **written atomically** (temporary name, then rename), so two runs at once or a crash never leave half a
  JPEG that a later run would take for a finished one.

Decoding dominates the cost, and Pillow releases the GIL while decoding and encoding, so a thread pool
scales with cores.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

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
#: The folder name encodes every parameter, so changing one never serves a stale thumbnail.
THUMB_KIND = f"v1-{THUMB_SIZE}-q{THUMB_QUALITY}-jpeg"


@dataclass(frozen=True)
class Thumb:
    """Where a photo's thumbnail is (``None`` when it could not be made, with the reason)."""

    path: Path | None
    error: str | None = None


@dataclass
class ThumbStats:
    """What one :func:`make_thumbnails` call did; ``made + reused + failed`` is the number of photos."""

    made: int = 0
    reused: int = 0
    failed: int = 0
    bytes: int = 0  # total size of the thumbnails the page uses
    failures: list[tuple[str, str]] = field(default_factory=list)


def thumbs_dir(cache_root: Path) -> Path:
    """The folder that holds thumbnails of the current kind."""
    return Path(cache_root) / "thumbs" / THUMB_KIND


def thumb_path(cache_root: Path, digest: str) -> Path:
    """The cache file for a photo whose content hash is ``digest`` (two-level fan-out keeps folders small)."""
    return thumbs_dir(cache_root) / digest[:2] / f"{digest}.jpg"


def _one(photo: str, digest: str | None, cache_root: Path) -> tuple[Thumb, bool]:
    """Make or find one thumbnail; returns it and whether it was newly made."""
    from PIL import Image

    from proxysort.imageio import ImageLoadError, load_image
    from proxysort.store import content_hash

    try:
        digest = digest or content_hash(photo)
    except OSError as exc:
        return Thumb(None, error=f"cannot read: {exc.strerror or exc}"), False
    target = thumb_path(cache_root, digest)
    if target.is_file():
        return Thumb(target), False
    try:
        img = load_image(photo, min_size=THUMB_SIZE)
    except ImageLoadError as exc:
        return Thumb(None, error=str(exc)), False
    w, h = img.size
    scale = min(1.0, THUMB_SIZE / min(w, h), _MAX_LONG / max(w, h))
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        img.save(tmp, "JPEG", quality=THUMB_QUALITY)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return Thumb(None, error=f"cannot write the thumbnail: {exc.strerror or exc}"), False
    return Thumb(target), True


def default_workers() -> int:
    """One thread per core, at most 8: decoding is CPU-bound and releases the GIL."""
    return max(1, min(8, os.cpu_count() or 1))


def make_thumbnails(
    photos: Sequence[str | Path],
    cache_root: Path,
    *,
    digests: Sequence[str] | None = None,
    workers: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[list[Thumb], ThumbStats]:
    """One :class:`Thumb` per photo (same order), made only where the cache has none yet.

    ``digests`` are the photos' content hashes when the index already knows them (saves reading the files
    again); ``advance`` is called with 1 per finished photo, for a progress bar. Never raises for a bad
    photo: its Thumb has ``path=None`` and an ``error``, and the page shows a placeholder.
    """
    cache_root = Path(cache_root)
    keys: Sequence[str | None] = digests if digests is not None and len(digests) == len(photos) else [None] * len(photos)
    stats = ThumbStats()
    results: list[Thumb] = []

    def job(i: int) -> tuple[Thumb, bool]:
        return _one(str(photos[i]), keys[i], cache_root)

    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="thumb") as pool:
        for i, (thumb, made) in enumerate(pool.map(job, range(len(photos)))):
            results.append(thumb)
            if thumb.path is None:
                stats.failed += 1
                stats.failures.append((str(photos[i]), thumb.error or "unknown"))
            else:
                stats.made += made
                stats.reused += not made
                try:
                    stats.bytes += thumb.path.stat().st_size
                except OSError:
                    pass
            if advance is not None:
                advance(1)
    return results, stats
