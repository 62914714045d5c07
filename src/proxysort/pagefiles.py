"""The review page's files in OUT, told apart from a user's: which are proxysort's, and removing only those.

``index.html`` is a common name: a person may keep their own notes page in a sorted folder. A file there is
proxysort's page only when its SHA-256 is the one the manifest recorded (:class:`~proxysort.manifest.PageRecord`)
or, after a crash between writing the page and recording it, when it carries proxysort's generator mark.
Everything is read through :class:`~proxysort.outdir.OutDir`: bounded, regular files only, never through a
link, never blocking on a FIFO. Kept apart from :mod:`proxysort.page` so that ``output.clean_tree`` can use
it without importing the renderer.
"""

from __future__ import annotations

import contextlib
import hashlib

from proxysort.manifest import PAGE_FILES, PAGE_THUMBS, PageRecord
from proxysort.outdir import OutDir

PAGE_NAME, PAGE_DATA_NAME = PAGE_FILES
#: In every page proxysort writes (``<meta name="generator">``); older pages end with the second mark.
GENERATOR = b'<meta name="generator" content="proxysort">'
_OLD_MARK = b"Made by proxysort."
#: Larger files are no page of ours (100,000 photos make a page of about 30 MB).
MAX_PAGE_BYTES = 512 << 20


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_own(od: OutDir, name: str, limit: int = MAX_PAGE_BYTES) -> bytes | None:
    """The bytes of top-level file ``name`` if it is a regular file within ``limit``; ``None`` otherwise
    (missing, a link, a FIFO, a folder, too large, unreadable)."""
    try:
        data = od.read_bytes(name, limit)
    except OSError:
        return None
    return data if data is not None and len(data) <= limit else None


def page_is_ours(od: OutDir, record: PageRecord | None) -> bool | None:
    """Whether ``OUT/index.html`` is proxysort's page (``None`` when there is nothing at that name)."""
    if od.lstat(PAGE_NAME) is None:
        return None
    data = read_own(od, PAGE_NAME)
    if data is None:
        return False
    if record is not None and record.html is not None and sha256_hex(data) == record.html:
        return True
    return GENERATOR in data[:4096] or data.rstrip().endswith(b"</html>") and _OLD_MARK in data[-4096:]


def thumb_rel(digest: str) -> str:
    """Where the thumbnail of a photo with content hash ``digest`` lives in OUT (two-level fan-out)."""
    return f"{PAGE_THUMBS}/{digest[:2]}/{digest}.jpg"


def remove_page(od: OutDir, record: PageRecord | None) -> int:
    """Remove the page, its data and its thumbnails from OUT, each only if it is proxysort's; the count."""
    removed = 0
    if page_is_ours(od, record):
        removed += od.unlink(PAGE_NAME)
    data = read_own(od, PAGE_DATA_NAME)
    if data is not None and (
        (record is not None and record.data == sha256_hex(data)) or data.startswith(b'{"tool": "proxysort-page"')
    ):
        removed += od.unlink(PAGE_DATA_NAME)
    for digest in record.thumbs if record is not None else ():
        with contextlib.suppress(OSError):
            removed += od.unlink(thumb_rel(digest))
    for fan in od.listdir(PAGE_THUMBS):
        od.clean_partials([f"{PAGE_THUMBS}/{fan}"])
        od.rmdir(f"{PAGE_THUMBS}/{fan}")
    od.clean_partials([PAGE_THUMBS])
    od.rmdir(PAGE_THUMBS)
    return removed
