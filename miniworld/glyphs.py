"""The second synthetic world: an unnamed glyph painted on a natural-looking ground.

The first world's model was trained partly on captions in the proxy prompt's own style ("an object with
a color of red"), which gives proxysort a home advantage. This world removes it: its captions
(:mod:`miniworld.glyph_captions`) are plain natural phrases only. It also has two kinds of attribute the
first world lacks:

- ``position`` (left / middle / right third of the frame): easy for the model to learn from captions, but
  a small share of the pixels compared with the ground, so k-means on image vectors does not follow it.
- ``symbol`` (six hand-drawn glyphs): an identity-like concept. Captions never name a glyph, so no word
  means any of them; candidate words for it can only be random anchors, as for ``--by person``.

``color`` (of the glyph) and ``background`` (sand, grass, water, snow: most of the pixels) complete it.
Nuisance: glyph rotation, scale, vertical position, lighting gain and gradient, sensor noise.
"""

from __future__ import annotations

import colorsys
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("red", "yellow", "blue", "purple", "black"),
    "background": ("sand", "grass", "water", "snow"),
    "position": ("left", "middle", "right"),
    # Identity-like: never named in captions. The names are only labels.csv values.
    "symbol": ("alpha", "beta", "gamma", "delta", "epsilon", "zeta"),
}
#: Values that occur only in the training world (plausible distractors for candidate lists).
TRAIN_ONLY: dict[str, tuple[str, ...]] = {
    "color": ("orange", "pink"),
    "background": ("stone",),
    "position": (),
    "symbol": (),
}
#: Attributes that captions may name; ``symbol`` is deliberately absent.
CAPTIONED = ("color", "background", "position")

_HUES = {"red": 0.0, "orange": 28.0, "yellow": 55.0, "blue": 225.0, "purple": 282.0, "pink": 330.0}
_SAT_VAL = {"pink": ((0.3, 0.5), (0.9, 1.0)), "black": ((0.0, 0.3), (0.04, 0.18))}
_VIVID = ((0.7, 1.0), (0.7, 1.0))
_HUE_JITTER = 8.0
#: Horizontal centre (pixels of 64) of each position, jittered by ±3 px.
_X = {"left": 15.0, "middle": 32.0, "right": 49.0}
#: Glyphs as polylines in [-1, 1]²; each is drawn with a thick stroke.
_GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "alpha": [[(-1, -1), (1, -1), (-1, 1), (1, 1)]],  # Z
    "beta": [[(math.cos(t * math.pi / 10) * 0.85, math.sin(t * math.pi / 10) * 0.85) for t in range(21)],
             [(0, -1), (0, 1)]],  # ring with a bar
    "gamma": [[(1, -1), (-1, -1), (-1, 1), (1, 1)], [(-1, 0), (0.6, 0)]],  # E
    "delta": [[(0, 1), (0, -1)], [(-0.9, -0.1), (0, -1), (0.9, -0.1)]],  # arrow
    "epsilon": [[(-1, 1), (-1, -1), (1, -1), (1, 1), (-0.4, 1), (-0.4, -0.4), (0.4, -0.4), (0.4, 0.4)]],  # spiral
    "zeta": [[(0, 1), (0, 0)], [(0, 0), (-0.95, -1)], [(0, 0), (0.95, -1)], [(-0.7, 0.55), (0.7, 0.55)]],  # fork
}
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class GlyphSample:
    """The ground truth of one image of the second world and the seed that renders it."""

    color: str
    background: str
    position: str
    symbol: str
    seed: int

    def attrs(self) -> dict[str, str]:
        return {"color": self.color, "background": self.background, "position": self.position, "symbol": self.symbol}


def values(name: str, training: bool = False) -> tuple[str, ...]:
    """The values of attribute ``name``; the training world adds :data:`TRAIN_ONLY` values."""
    return ATTRIBUTES[name] + (TRAIN_ONLY[name] if training else ())


def sample_attributes(n: int, seed: int, training: bool = False) -> list[GlyphSample]:
    """Draw ``n`` samples with every attribute uniform and independent of the others."""
    rng = np.random.default_rng(seed)
    table = {name: values(name, training) for name in ATTRIBUTES}
    picks = {name: rng.integers(len(vals), size=n) for name, vals in table.items()}
    seeds = rng.integers(2**31 - 1, size=n)
    return [
        GlyphSample(**{name: table[name][picks[name][i]] for name in ATTRIBUTES}, seed=int(seeds[i]))
        for i in range(n)
    ]


def _ground(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An H×W×3 float image in [0, 255]: the ground the glyph is painted on."""
    s = IMAGE_SIZE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    gain = rng.uniform(0.9, 1.1)
    if kind == "sand":
        base = np.array([214, 188, 140], np.float32) * gain
        grain = rng.normal(0, 14, size=(s, s, 1)).astype(np.float32)
        img = base + grain * np.array([1.0, 0.95, 0.8], np.float32)
    elif kind == "grass":
        base = np.array([72, 138, 58], np.float32) * gain
        blades = rng.normal(0, 26, size=(s // 4 + 2, s)).astype(np.float32)
        shift = int(rng.integers(4))
        streaks = np.repeat(blades, 4, axis=0)[shift:shift + s]
        img = base + streaks[:, :, None] * np.array([0.6, 1.0, 0.5], np.float32)
    elif kind == "water":
        base = np.array([80, 160, 200], np.float32) * gain
        period = rng.uniform(6.0, 10.0)
        wave = np.sin((yy + 1.5 * np.sin(xx * 2 * math.pi / rng.uniform(12, 20))) * 2 * math.pi / period
                      + rng.uniform(0, 2 * math.pi))
        img = base + (18 * wave)[:, :, None] * np.array([0.7, 0.8, 1.0], np.float32)
    elif kind == "snow":
        base = np.array([236, 240, 246], np.float32) * min(gain, 1.0)
        speckle = (rng.random((s, s)) < 0.04).astype(np.float32) * -rng.uniform(30, 60)
        shade = -12 * (yy / s)
        img = base + (speckle + shade)[:, :, None]
    elif kind == "stone":
        base = np.array([128, 126, 120], np.float32) * gain
        coarse = rng.normal(0, 22, size=(8, 8)).astype(np.float32)
        blobs = np.asarray(Image.fromarray(coarse).resize((s, s), Image.BICUBIC), np.float32)
        img = base + blobs[:, :, None] + rng.normal(0, 5, size=(s, s, 1)).astype(np.float32)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return img


def _glyph_mask(symbol: str, cx: float, cy: float, half: float, angle: float, width: float) -> np.ndarray:
    """Coverage in [0, 1] of the glyph's strokes, antialiased by supersampling."""
    s, ss = IMAGE_SIZE, _SUPERSAMPLE
    canvas = Image.new("L", (s * ss, s * ss), 0)
    draw = ImageDraw.Draw(canvas)
    c, n = math.cos(angle), math.sin(angle)
    for line in _GLYPHS[symbol]:
        pts = [((cx + half * (x * c - y * n)) * ss, (cy - half * (x * n + y * c)) * ss) for x, y in line]
        draw.line(pts, fill=255, width=int(round(width * ss)), joint="curve")
        r = width * ss / 2
        for px, py in (pts[0], pts[-1]):
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
    return np.asarray(canvas.resize((s, s), Image.BILINEAR), np.float32)[:, :, None] / 255.0


def render(sample: GlyphSample) -> np.ndarray:
    """The H×W×3 uint8 photo of ``sample``; the same sample always renders the same pixels."""
    rng = np.random.default_rng(sample.seed)
    s = IMAGE_SIZE
    img = _ground(sample.background, rng)

    half = rng.uniform(8.0, 10.0)
    cx = _X[sample.position] + rng.uniform(-3.0, 3.0)
    cy = rng.uniform(half + 4, s - half - 4)
    angle = math.radians(rng.uniform(-20, 20))
    alpha = _glyph_mask(sample.symbol, cx, cy, half, angle, rng.uniform(3.0, 4.0))

    hue = (_HUES.get(sample.color, 0.0) + rng.uniform(-_HUE_JITTER, _HUE_JITTER)) % 360.0
    (s_lo, s_hi), (v_lo, v_hi) = _SAT_VAL.get(sample.color, _VIVID)
    rgb = colorsys.hsv_to_rgb(hue / 360.0, rng.uniform(s_lo, s_hi), rng.uniform(v_lo, v_hi))
    ink = np.asarray(rgb, np.float32) * 255.0
    img = img * (1 - alpha) + ink[None, None, :] * alpha

    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    theta = rng.uniform(0, 2 * math.pi)
    light = rng.uniform(0.8, 1.12) * (1 + rng.uniform(0, 0.3) * (xx * math.cos(theta) + yy * math.sin(theta)))
    img = img * light[:, :, None]
    img = img + rng.normal(0, rng.uniform(0, 6), size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_folder(root: Path, n: int, seed: int) -> list[GlyphSample]:
    """Write ``n`` PNG photos under ``root/images`` and ``root/labels.csv`` (the shared datasets' layout)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    samples = sample_attributes(n, seed)
    with (root / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", *ATTRIBUTES])
        for i, sample in enumerate(samples):
            rel = f"images/{i:05d}.png"
            Image.fromarray(render(sample)).save(root / rel)
            writer.writerow([rel, *sample.attrs().values()])
    return samples
