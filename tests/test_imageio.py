"""Decoding: upright, reduced size, every format we claim, and one clear reason for every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from proxysort.imageio import ImageLoadError, load_image


def picture(size=(96, 64)) -> Image.Image:
    img = Image.new("RGB", size, (200, 40, 40))
    draw = ImageDraw.Draw(img)
    draw.rectangle([size[0] // 10, size[1] // 6, size[0] // 2, size[1] // 2], fill=(20, 20, 220))
    return img


def test_jpeg_is_decoded_at_reduced_size_but_not_below_the_model_input(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    picture((2000, 1500)).save(path, quality=90)
    img = load_image(path, min_size=224)
    assert img.mode == "RGB"
    assert 224 <= min(img.size) < 1500  # DCT scaling happened, and kept enough pixels
    assert img.size[0] / img.size[1] == pytest.approx(2000 / 1500, rel=0.02)


def test_small_images_are_not_upscaled(tmp_path: Path) -> None:
    path = tmp_path / "small.jpg"
    picture((100, 80)).save(path)
    assert load_image(path, min_size=224).size == (100, 80)


@pytest.mark.parametrize("orientation, transpose", [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, transpose: Image.Transpose) -> None:
    upright = picture()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rot.png"  # lossless, so the pixels can be compared exactly
    upright.transpose(transpose).save(path, exif=exif)
    loaded = load_image(path, min_size=16)
    assert loaded.size == upright.size
    assert loaded.tobytes() == upright.tobytes()


@pytest.mark.parametrize("ext", ["png", "webp", "bmp", "tiff", "avif"])
def test_formats(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"a.{ext}"
    picture().convert("RGBA" if ext == "png" else "RGB").save(path)
    img = load_image(path, min_size=16)
    assert img.mode == "RGB" and img.size == (96, 64)


def test_heic_with_the_extra(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "a.heic"
    pillow_heif.from_pillow(picture()).save(path)
    assert load_image(path, min_size=16).size == (96, 64)


def test_gif_uses_the_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = load_image(path, min_size=16).getpixel((5, 5))
    assert r > 200 and b < 50


def test_content_decides_not_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "really-a-png.jpg"
    picture().save(path, format="PNG")
    assert load_image(path, min_size=16).size == (96, 64)


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "text.jpg"
    path.write_text("not a photo")
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.jpg"


def _truncated(tmp_path: Path) -> Path:
    full = tmp_path / "full.jpg"
    picture((400, 300)).save(full, quality=95)
    data = full.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (_empty, "empty file"),
        (_text, "not an image"),
        (_truncated, "truncated"),
        (_missing, "disappeared"),
    ],
)
def test_bad_files_raise_one_clear_reason(tmp_path: Path, make, reason: str) -> None:
    with pytest.raises(ImageLoadError, match=reason):
        load_image(make(tmp_path), min_size=16)


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    picture((400, 300)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400 * 300 // 4)  # 400x300 is now > 2x the limit
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(path, min_size=16)


def test_heic_without_pillow_heif_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import proxysort.imageio as imageio

    monkeypatch.setattr(imageio, "heif_available", lambda: False)
    path = tmp_path / "a.heic"
    path.write_bytes(b"....")
    with pytest.raises(ImageLoadError, match=r"pip install pillow-heif"):
        load_image(path)
