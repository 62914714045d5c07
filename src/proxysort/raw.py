"""Camera RAW files through LibRaw (rawpy): the embedded JPEG preview when it is large enough, else a
half-size demosaic of the sensor data, turned upright either way.

Nearly every camera stores a full- or near-full-size JPEG preview inside its RAW files; decoding it is as
cheap as decoding any JPEG and needs none of the sensor data, which is 20-80 MB that LibRaw then does not
even read. Only when the preview is missing or smaller than the model's input do we demosaic, at half size
(each 2x2 Bayer block becomes one pixel: no interpolation, four times fewer pixels, and still far more than
CLIP's 224 px). LibRaw reads the file through a descriptor we opened ourselves (``/dev/fd/N``), so the
check that it is a regular file (:mod:`proxysort.safeopen`) applies to exactly what LibRaw reads.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from proxysort.safeopen import NotRegularFileError, open_regular

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

#: Lower-case suffixes of the camera RAW formats LibRaw decodes (the common ones of every maker).
RAW_SUFFIXES = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng", ".erf",
        ".fff", ".iiq", ".k25", ".kdc", ".mdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".ori",
        ".pef", ".ptx", ".raf", ".raw", ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".x3f",
    }
)

class RawLoadError(Exception):
    """A RAW file that cannot be used; ``str()`` is the short reason (:mod:`proxysort.imageio` turns it
    into its ``ImageLoadError``, keeping the cause)."""


#: LibRaw's ``flip`` (dcraw's code) -> the EXIF orientation that describes the same transform.
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def is_raw_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in RAW_SUFFIXES


def load_raw(path: str | Path, min_size: int = 224) -> "PILImage.Image":
    """Decode a RAW file as an upright RGB image whose shorter side is at least ``min_size`` (when the
    sensor is that large). Raises :class:`RawLoadError` with a short reason for every unusable file."""
    import rawpy

    path = Path(path)
    try:
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise RawLoadError("empty file")
            with _open_raw(rawpy, fh) as raw:
                flip = int(raw.sizes.flip)
                image = _preview(rawpy, raw, flip, min_size)
                if image is None:
                    image = _demosaic(raw)
    except RawLoadError:
        raise
    except NotRegularFileError as exc:
        raise RawLoadError("not a regular file (replaced by a folder, pipe or device?)") from exc
    except PermissionError as exc:
        raise RawLoadError("permission denied") from exc
    except FileNotFoundError as exc:
        raise RawLoadError("file disappeared") from exc
    except rawpy.LibRawFileUnsupportedError as exc:
        raise RawLoadError("not a camera RAW file LibRaw can read (unsupported or damaged)") from exc
    except rawpy.LibRawTooBigError as exc:
        raise RawLoadError("too many pixels, refused as a possible decompression bomb") from exc
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        raise RawLoadError(f"corrupt or truncated RAW file ({_short(exc)})") from exc
    return image


def _open_raw(rawpy: Any, fh: BinaryIO) -> Any:
    """LibRaw on the descriptor we already checked; it reads only the parts it needs (header, preview).
    Where there is no ``/dev/fd``, the file is read into memory instead."""
    fd_path = f"/dev/fd/{fh.fileno()}"
    if os.path.exists(fd_path):
        return rawpy.imread(fd_path)
    return rawpy.imread(io.BytesIO(fh.read()))


def _preview(rawpy: Any, raw: Any, flip: int, min_size: int) -> "PILImage.Image | None":
    """The embedded preview, upright, if there is one whose shorter side reaches ``min_size``."""
    from PIL import Image

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None  # a damaged preview: the sensor data may still be fine
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with Image.open(io.BytesIO(thumb.data)) as img:
                if min(img.size) < min_size:
                    return None
                img.draft("RGB", (min_size, min_size))
                img.load()
                orientation = img.getexif().get(0x0112)
                upright = _orient(img, orientation, flip)
                return upright.convert("RGB") if upright.mode != "RGB" else upright.copy()
        if thumb.format == rawpy.ThumbFormat.BITMAP:
            if min(thumb.data.shape[:2]) < min_size:
                return None
            return _orient(Image.fromarray(thumb.data).convert("RGB"), None, flip)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # fall back to the sensor data
    return None


def _orient(img: "PILImage.Image", orientation: int | None, flip: int) -> "PILImage.Image":
    """Upright by the preview's own EXIF orientation when it states a rotation, else by LibRaw's flip:
    the RAW's orientation, which previews without EXIF of their own share (LibRaw also writes it into the
    EXIF block it adds to such previews, so both usually agree)."""
    from PIL import Image

    if orientation in (None, 1):
        orientation = _FLIP_TO_ORIENTATION.get(flip, 1)
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation or 1)
    return img.transpose(method) if method is not None else img


def _demosaic(raw: Any) -> "PILImage.Image":
    """Half-size demosaic with the camera's white balance; LibRaw applies the flip itself."""
    from PIL import Image

    rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    return Image.fromarray(rgb)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
