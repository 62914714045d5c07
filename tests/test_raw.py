"""Camera RAW through LibRaw: real DNG files (tests/support/dngwriter.py), preview or demosaic, upright, and every
bad RAW a one-line reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from proxysort.imageio import ImageLoadError, load_image
from proxysort.raw import RAW_SUFFIXES, RawLoadError, is_raw_name, load_raw
from tests.support.dngwriter import dng_bytes, write_dng

RED = (200, 40, 30)


def _corner_is_complement(img, corner: str) -> bool:
    """The test scene has its complement colour in the upper-left quarter; find where it ended up."""
    a = np.asarray(img.convert("RGB"), dtype=np.int32)
    h, w = a.shape[:2]
    y = h // 4 if corner[0] == "t" else 3 * h // 4
    x = w // 4 if corner[1] == "l" else 3 * w // 4
    pixel = a[y, x]
    return bool(pixel[2] > pixel[0])  # complement of red is cyan-blue


def test_libraw_reads_the_written_dng_preview_and_mosaic(tmp_path: Path) -> None:
    """The fixture is a real DNG: LibRaw finds the JPEG preview and demosaics the Bayer data."""
    import io

    import rawpy

    data = dng_bytes(128, 96, preview=(320, 240))
    with rawpy.imread(io.BytesIO(data)) as raw:
        assert raw.raw_type == rawpy.RawType.Flat and raw.num_colors == 3
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (128, 96)
        assert raw.extract_thumb().format == rawpy.ThumbFormat.JPEG
        rgb = raw.postprocess(half_size=True, output_bps=8)
    assert rgb.shape == (48, 64, 3)
    assert rgb[40, 60, 0] > 150 and rgb[40, 60, 2] < 80  # the red background survived the round trip


def test_large_preview_is_used(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "a.dng", width=64, height=48, preview=(320, 240))
    img = load_raw(path, min_size=224)
    assert img.mode == "RGB" and img.size == (320, 240)  # the preview, not the 32x24 demosaic
    assert _corner_is_complement(img, "tl") and not _corner_is_complement(img, "br")


def test_small_preview_falls_back_to_half_size_demosaic(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "a.dng", width=128, height=96, preview=(160, 120))
    img = load_raw(path, min_size=224)
    assert img.size == (64, 48)  # half of the sensor: the 160 px preview is smaller than the model input
    assert _corner_is_complement(img, "tl")


def test_uncompressed_thumbnail_is_a_preview_too(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "a.dng", width=128, height=96)  # only the 32x24 RGB thumbnail in IFD0
    assert load_raw(path, min_size=16).size == (32, 24)
    assert load_raw(path, min_size=224).size == (64, 48)  # too small for the model: demosaic


@pytest.mark.parametrize("preview", [None, (320, 240)])
def test_raw_orientation_turns_preview_and_demosaic_upright(tmp_path: Path, preview) -> None:
    """Orientation 6 (rotate 90 degrees clockwise to view): LibRaw's flip applies to both paths."""
    path = write_dng(tmp_path / "a.dng", width=128, height=96, preview=preview, orientation=6)
    img = load_raw(path, min_size=224)
    assert img.size[1] > img.size[0]  # portrait now
    # Rotating the scene clockwise moves its upper-left quarter to the upper-right.
    assert _corner_is_complement(img, "tr") and not _corner_is_complement(img, "tl")


def test_preview_with_its_own_exif_orientation(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "a.dng", width=64, height=48, preview=(320, 240), preview_exif_orientation=8)
    img = load_raw(path, min_size=224)
    assert img.size == (240, 320)
    assert _corner_is_complement(img, "bl")  # rotated counter-clockwise: upper-left went to lower-left


def test_load_image_routes_raw_suffixes_to_libraw(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "IMG_0001.DNG", width=64, height=48, preview=(320, 240))
    assert load_image(path).size == (320, 240)  # Pillow would have read the 16x12 IFD0 thumbnail


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"this is not a raw file at all" * 40, "not a camera RAW file"),
        (None, "RAW file"),  # cut short: the IFDs at the end are gone
    ],
)
def test_bad_raw_files_fail_with_one_reason(tmp_path: Path, data: bytes | None, reason: str) -> None:
    if data is None:
        whole = dng_bytes(128, 96)
        data = whole[: len(whole) // 3]  # the mosaic is cut short
    path = tmp_path / "bad.NEF"
    path.write_bytes(data)
    with pytest.raises(ImageLoadError, match=reason):
        load_image(path)


def test_fifo_named_raw_does_not_block(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.cr2"
    os.mkfifo(fifo)
    with pytest.raises(RawLoadError, match="not a regular file"):
        load_raw(fifo)


def test_common_raw_suffixes() -> None:
    for suffix in (".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw", ".x3f"):
        assert suffix in RAW_SUFFIXES
        assert is_raw_name("IMG_0001" + suffix.upper())
    assert not is_raw_name("IMG_0001.JPG")
