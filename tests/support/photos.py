"""The test fixtures on disk (the tiny CLIP config) and small generated photos."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: A tiny open_clip config; with ``pretrained="none"`` its seeded random weights load offline in seconds.
TINY_CONFIG = FIXTURES / "tiny-clip.json"
#: The same, as the CLI flags that select it.
TINY_ARGS = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]


def make_photo(path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48), **save_kw) -> Path:
    """Write a small solid-colour image with a little texture so encoders see distinct inputs."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.rectangle([size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=tuple(255 - c for c in color))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **save_kw)
    return path
