"""Decoding photos the way the model should see them: upright, small, and without trusting the file.

Camera JPEGs are 12+ megapixels but CLIP looks at 224×224, so JPEGs are decoded with libjpeg's DCT
scaling (``draft``), which is several times faster and lighter than a full decode followed by a resize.
Camera RAW files go to :mod:`proxysort.raw` (LibRaw). Every way a file can be bad (empty, truncated, not
an image, a decompression bomb, an unsupported format) becomes one :class:`ImageLoadError` with a short
reason, so the indexer can skip it and go on.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from proxysort.raw import RawLoadError, is_raw_name, load_raw
from proxysort.safeopen import NotRegularFileError, open_regular

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

_heif_lock = threading.Lock()
_heif_state: bool | None = None
_bomb_filter_set = False


class ImageLoadError(Exception):
    """A file that cannot be used as a photo; ``str()`` is the short reason shown to the user."""


def heif_available() -> bool:
    """Register pillow-heif's opener once (a dependency; False only in an install that lacks it)."""
    global _heif_state
    with _heif_lock:
        if _heif_state is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
                _heif_state = True
            except ImportError:
                _heif_state = False
        return _heif_state


def load_image(path: str | Path, min_size: int = 224) -> "PILImage.Image":
    """Open ``path`` as an upright RGB image whose shorter side is still at least ``min_size`` pixels
    (when the original is that large).

    Raises :class:`ImageLoadError` for every file that cannot be used; never returns a partial image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    quiet_pillow_warnings()
    if is_raw_name(path.name):
        try:
            return load_raw(path, min_size)
        except RawLoadError as exc:
            raise ImageLoadError(str(exc)) from (exc.__cause__ or exc)
    if path.suffix.lower() in (".heic", ".heif") and not heif_available():
        raise ImageLoadError("HEIC/HEIF support is missing: pillow-heif is not installed (pip install pillow-heif)")
    try:
        with open_regular(path) as fh, Image.open(fh) as img:
            img.draft("RGB", (min_size, min_size))  # JPEG only: DCT-domain downscale, still >= min_size
            try:
                img.seek(0)  # animated GIF/WebP: the first frame
            except EOFError:
                pass
            img.load()
            upright = ImageOps.exif_transpose(img)
            return upright.convert("RGB") if upright.mode != "RGB" else upright.copy()
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"too many pixels, refused as a possible decompression bomb ({_short(exc)})") from exc
    except UnidentifiedImageError as exc:
        size = _size(path)
        raise ImageLoadError("empty file" if size == 0 else "not an image or an unsupported format") from exc
    except NotRegularFileError as exc:
        raise ImageLoadError("not a regular file (replaced by a folder, pipe or device?)") from exc
    except PermissionError as exc:
        raise ImageLoadError("permission denied") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError("file disappeared") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        # Pillow reports truncated or corrupt data as OSError ("image file is truncated"), SyntaxError
        # (bad PNG chunks) or ValueError; a hostile header can ask for more memory than exists.
        raise ImageLoadError(f"corrupt or truncated image ({_short(exc)})") from exc


def quiet_pillow_warnings() -> None:
    """Between MAX_IMAGE_PIXELS and twice that, Pillow only warns (and we decode at reduced size); above
    it raises, which we report per file. The warning would be a stray unformatted line on stderr.

    Installed once, process-wide and only for Pillow's warning: ``catch_warnings`` is not thread-safe and
    decoding runs in a thread pool.
    """
    global _bomb_filter_set
    if not _bomb_filter_set:
        from PIL import Image

        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        # A damaged EXIF block only costs the orientation (the pixels decode fine); Pillow's warning about
        # it would be the same kind of stray two-line traceback excerpt on stderr.
        warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
        _bomb_filter_set = True


def is_transient(error: ImageLoadError) -> bool:
    """Failures that may go away without the file changing (permissions), so are not remembered."""
    return isinstance(error.__cause__, (PermissionError, FileNotFoundError))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
