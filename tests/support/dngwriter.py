"""Write small, real DNG camera RAW files for tests: a Bayer mosaic that LibRaw demosaics, and optionally a
JPEG preview in a SubIFD, exactly as cameras and converters lay them out.

A DNG is a TIFF whose IFD0 carries the DNG tags (version, camera model, colour matrix) and a small RGB
thumbnail, with SubIFDs holding the raw mosaic (NewSubFileType 0, PhotometricInterpretation CFA) and
larger previews (NewSubFileType 1, JPEG-compressed). ``tifffile`` can write the mosaic but needs the
``imagecodecs`` package for any JPEG segment, so this module writes the few dozen TIFF entries itself;
``tests/test_raw.py`` checks that LibRaw (through rawpy) decodes what it writes, preview and mosaic both.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

# TIFF field types
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_FORMATS = {_BYTE: "B", _SHORT: "H", _LONG: "I", _RATIONAL: "I", _SRATIONAL: "i"}

#: XYZ (D65) -> linear sRGB: as the DNG ColorMatrix1 it makes the "camera" a linear sRGB sensor, so the
#: demosaiced colours are the colours of the scene that was mosaicked.
_XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
WHITE_LEVEL = 4095


class _TiffBuilder:
    """Little-endian classic TIFF, laid out front to back: pixel data, out-of-line values, then each IFD."""

    def __init__(self) -> None:
        self.buf = bytearray(b"II*\x00\x00\x00\x00\x00")

    def blob(self, data: bytes) -> int:
        if len(self.buf) % 2:
            self.buf += b"\x00"  # TIFF offsets are word-aligned
        offset = len(self.buf)
        self.buf += data
        return offset

    def ifd(self, entries: Sequence[tuple[int, int, object]]) -> int:
        encoded = []
        for tag, typ, value in sorted(entries, key=lambda e: e[0]):
            if typ == _ASCII:
                raw = str(value).encode("ascii") + b"\x00"
                count = len(raw)
            else:
                values = list(value) if isinstance(value, (list, tuple)) else [value]
                raw = struct.pack(f"<{len(values)}{_FORMATS[typ]}", *values)
                count = len(values) // 2 if typ in (_RATIONAL, _SRATIONAL) else len(values)
            field = raw.ljust(4, b"\x00") if len(raw) <= 4 else struct.pack("<I", self.blob(raw))
            encoded.append(struct.pack("<HHI", tag, typ, count) + field)
        offset = self.blob(struct.pack("<H", len(encoded)) + b"".join(encoded) + struct.pack("<I", 0))
        return offset

    def finish(self, ifd0: int) -> bytes:
        self.buf[4:8] = struct.pack("<I", ifd0)
        return bytes(self.buf)


def scene(width: int, height: int, color: tuple[int, int, int] = (200, 40, 30)) -> np.ndarray:
    """An sRGB test picture: a background colour with its complement in the upper-left quarter (so the
    orientation of a decoded picture can be told from its pixels)."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = color
    img[height // 8 : height // 2, width // 8 : width // 2] = [255 - c for c in color]
    return img


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB Bayer mosaic of a picture, as 12-bit sensor values in 16-bit words."""
    lin = _srgb_to_linear(rgb)
    cfa = np.empty(rgb.shape[:2], np.float64)
    cfa[0::2, 0::2] = lin[0::2, 0::2, 0]
    cfa[0::2, 1::2] = lin[0::2, 1::2, 1]
    cfa[1::2, 0::2] = lin[1::2, 0::2, 1]
    cfa[1::2, 1::2] = lin[1::2, 1::2, 2]
    return np.round(cfa * WHITE_LEVEL).astype("<u2")


def _jpeg(rgb: np.ndarray, exif_orientation: int | None = None) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    Image.fromarray(rgb).save(out, "JPEG", quality=90, **kwargs)
    data = out.getvalue()
    if exif_orientation is not None and data[2:4] == b"\xff\xe0":
        # Camera previews open with their EXIF block (APP1), not a JFIF header (APP0); LibRaw keeps the
        # EXIF of such a preview and only adds its own in front of previews that lack one.
        data = data[:2] + data[4 + int.from_bytes(data[4:6], "big"):]
    return data


def _strip_tags(offset: int, nbytes: int, width: int, height: int) -> list[tuple[int, int, object]]:
    return [(256, _LONG, width), (257, _LONG, height), (273, _LONG, offset), (278, _LONG, height), (279, _LONG, nbytes)]


def dng_bytes(
    width: int = 128,
    height: int = 96,
    *,
    color: tuple[int, int, int] = (200, 40, 30),
    preview: tuple[int, int] | None = None,
    orientation: int = 1,
    preview_exif_orientation: int | None = None,
    model: str = "Test Camera",
) -> bytes:
    """A DNG of a :func:`scene`: ``width`` x ``height`` mosaic, a 1/4-size RGB thumbnail in IFD0, and with
    ``preview`` a JPEG preview of that size in a SubIFD. ``orientation`` is the TIFF Orientation of IFD0
    (which LibRaw reports as its ``flip``); ``preview_exif_orientation`` puts an EXIF orientation inside
    the preview JPEG itself."""
    if width % 2 or height % 2:
        raise ValueError("the Bayer mosaic needs even sides")
    t = _TiffBuilder()
    picture = scene(width, height, color)
    mosaic = _mosaic(picture).tobytes()
    raw_at = t.blob(mosaic)
    raw_ifd = t.ifd([
        (254, _LONG, 0), *_strip_tags(raw_at, len(mosaic), width, height),
        (258, _SHORT, 16), (259, _SHORT, 1), (262, _SHORT, 32803), (277, _SHORT, 1), (284, _SHORT, 1),
        (33421, _SHORT, (2, 2)), (33422, _BYTE, (0, 1, 1, 2)),  # CFARepeatPatternDim, CFAPattern RGGB
        (50710, _BYTE, (0, 1, 2)), (50711, _SHORT, 1),  # CFAPlaneColor, CFALayout
        (50714, _SHORT, 0), (50717, _SHORT, WHITE_LEVEL),  # BlackLevel, WhiteLevel
    ])
    subifds = [raw_ifd]
    if preview is not None:
        pw, ph = preview
        jpeg = _jpeg(scene(pw, ph, color), preview_exif_orientation)
        jpeg_at = t.blob(jpeg)
        subifds.append(t.ifd([
            (254, _LONG, 1), *_strip_tags(jpeg_at, len(jpeg), pw, ph),
            (258, _SHORT, (8, 8, 8)), (259, _SHORT, 7), (262, _SHORT, 6), (277, _SHORT, 3), (284, _SHORT, 1),
        ]))
    thumb = scene(max(width // 4, 1), max(height // 4, 1), color)
    thumb_bytes = thumb.tobytes()
    thumb_at = t.blob(thumb_bytes)
    matrix = [v for x in _XYZ_TO_SRGB for v in (round(x * 10000), 10000)]
    ifd0 = t.ifd([
        (254, _LONG, 1), *_strip_tags(thumb_at, len(thumb_bytes), thumb.shape[1], thumb.shape[0]),
        (258, _SHORT, (8, 8, 8)), (259, _SHORT, 1), (262, _SHORT, 2), (277, _SHORT, 3), (284, _SHORT, 1),
        (271, _ASCII, "Proxysort"), (272, _ASCII, model), (274, _SHORT, orientation),
        (330, _LONG, tuple(subifds)),
        (50706, _BYTE, (1, 4, 0, 0)), (50707, _BYTE, (1, 1, 0, 0)),  # DNGVersion, DNGBackwardVersion
        (50708, _ASCII, f"Proxysort {model}"),  # UniqueCameraModel
        (50721, _SRATIONAL, tuple(matrix)), (50778, _SHORT, 21),  # ColorMatrix1 under D65
        (50728, _RATIONAL, (1, 1, 1, 1, 1, 1)),  # AsShotNeutral: no white balance to undo
    ])
    return t.finish(ifd0)


def write_dng(path: Path, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dng_bytes(**kwargs))  # type: ignore[arg-type]
    return path
