"""Render synthetic photos: one coloured shape on a patterned grey background.

Four attributes vary independently — object ``color`` (6 hues with jitter, so red/orange/yellow and
blue/purple are neighbours a model must learn to tell apart), ``shape`` (5), background ``pattern`` (4)
and ``size`` (3) — and none of them can be read off one pixel statistic alone because of the nuisances:
position, rotation, stripe angle and spacing, background grey level, lighting gradient and sensor noise.
The background is always grey so that "color" is only ever the object's colour.
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

#: Attribute values are real English words that CLIP's BPE encodes as one token each.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("red", "orange", "yellow", "green", "blue", "purple"),
    "shape": ("circle", "square", "triangle", "star", "cross"),
    "pattern": ("stripes", "dots", "grid", "plain"),
    "size": ("small", "medium", "large"),
}
#: Values that occur only in the training world. They make the model know plausible words that are
#: absent from evaluation folders, as an LLM's distractors are for a real photo collection.
TRAIN_ONLY: dict[str, tuple[str, ...]] = {
    "color": ("pink", "brown"),
    "shape": ("diamond",),
    "pattern": ("waves",),
    "size": (),
}

#: Hue centres in degrees; each image jitters its hue by up to ±HUE_JITTER.
_HUES = {"red": 0.0, "orange": 28.0, "yellow": 55.0, "green": 120.0, "blue": 222.0, "purple": 282.0,
         "pink": 330.0, "brown": 25.0}
#: (saturation, value) ranges; pink is pale and brown is dark, the rest are vivid.
_SAT_VAL = {"pink": ((0.3, 0.5), (0.9, 1.0)), "brown": ((0.6, 0.85), (0.35, 0.5))}
_VIVID = ((0.65, 1.0), (0.7, 1.0))
_HUE_JITTER = 9.0
#: Circumradius in pixels (of 64) per size, before ±1 px jitter.
_RADIUS = {"small": 8.0, "medium": 13.0, "large": 19.0}
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class Sample:
    """The ground truth of one image: its four attributes and the seed that renders it."""

    color: str
    shape: str
    pattern: str
    size: str
    seed: int

    def attrs(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "pattern": self.pattern, "size": self.size}


def values(name: str, training: bool = False) -> tuple[str, ...]:
    """The values of attribute ``name``; the training world adds :data:`TRAIN_ONLY` values."""
    return ATTRIBUTES[name] + (TRAIN_ONLY[name] if training else ())


def sample_attributes(n: int, seed: int, training: bool = False) -> list[Sample]:
    """Draw ``n`` samples with every attribute uniform and independent of the others."""
    rng = np.random.default_rng(seed)
    table = {name: values(name, training) for name in ATTRIBUTES}
    picks = {name: rng.integers(len(vals), size=n) for name, vals in table.items()}
    seeds = rng.integers(2**31 - 1, size=n)
    return [
        Sample(**{name: table[name][picks[name][i]] for name in ATTRIBUTES}, seed=int(seeds[i]))
        for i in range(n)
    ]


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of the shape with circumradius ``r`` rotated by ``angle`` (circles: a fine polygon)."""
    if shape == "circle":
        pts = [(r * 0.9, 2 * math.pi * i / 48) for i in range(48)]
    elif shape == "square":
        pts = [(r * 0.95, angle + math.pi / 4 + math.pi / 2 * i) for i in range(4)]
    elif shape == "triangle":
        pts = [(r, angle + 2 * math.pi / 3 * i) for i in range(3)]
    elif shape == "star":
        pts = [(r if i % 2 == 0 else r * 0.42, angle + math.pi / 5 * i) for i in range(10)]
    elif shape == "diamond":
        pts = [(r if i % 2 == 0 else r * 0.55, angle + math.pi / 2 * i) for i in range(4)]
    elif shape == "cross":
        a, b = r * 0.95, r * 0.32
        corners = [(b, a), (b, b), (a, b), (a, -b), (b, -b), (b, -a),
                   (-b, -a), (-b, -b), (-a, -b), (-a, b), (-b, b), (-b, a)]
        pts = [(math.hypot(x, y), math.atan2(y, x) + angle) for x, y in corners]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return [(cx + rad * math.cos(t), cy + rad * math.sin(t)) for rad, t in pts]


def _background(pattern: str, rng: np.random.Generator) -> np.ndarray:
    """A grey H×W float image in [0, 255] carrying the pattern at a random phase, angle and spacing."""
    s = IMAGE_SIZE
    base = rng.uniform(95, 165)
    contrast = rng.uniform(28, 45) * rng.choice([-1.0, 1.0])
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    period = rng.uniform(7.0, 11.0)
    if pattern == "stripes":
        theta = rng.uniform(0, math.pi)
        u = xx * math.cos(theta) + yy * math.sin(theta) + rng.uniform(0, period)
        mask = (np.mod(u, period) < period / 2).astype(np.float32)
    elif pattern == "waves":
        theta = rng.uniform(0, math.pi)
        u = xx * math.cos(theta) + yy * math.sin(theta)
        v = -xx * math.sin(theta) + yy * math.cos(theta)
        u = u + rng.uniform(1.5, 3.0) * np.sin(v * 2 * math.pi / rng.uniform(10, 16)) + rng.uniform(0, period)
        mask = (np.mod(u, period) < period / 2).astype(np.float32)
    elif pattern == "dots":
        ox, oy = rng.uniform(0, period, size=2)
        dx = np.mod(xx + ox, period) - period / 2
        dy = np.mod(yy + oy, period) - period / 2
        mask = (dx * dx + dy * dy < rng.uniform(1.6, 2.4) ** 2).astype(np.float32)
    elif pattern == "grid":
        ox, oy = rng.uniform(0, period, size=2)
        width = rng.uniform(1.0, 1.8)
        mask = ((np.mod(xx + ox, period) < width) | (np.mod(yy + oy, period) < width)).astype(np.float32)
    elif pattern == "plain":
        mask = np.zeros((s, s), np.float32)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return base + contrast * mask


def render(sample: Sample) -> np.ndarray:
    """The H×W×3 uint8 photo of ``sample``; the same sample always renders the same pixels."""
    rng = np.random.default_rng(sample.seed)
    s = IMAGE_SIZE
    bg = _background(sample.pattern, rng)
    img = np.repeat(bg[:, :, None], 3, axis=2)

    r = _RADIUS[sample.size] + rng.uniform(-1.0, 1.0)
    margin = r + 1.5
    cx, cy = rng.uniform(margin, s - margin, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    ss = _SUPERSAMPLE
    canvas = Image.new("L", (s * ss, s * ss), 0)
    poly = _shape_polygon(sample.shape, cx * ss, cy * ss, r * ss, angle)
    ImageDraw.Draw(canvas).polygon(poly, fill=255)
    alpha = np.asarray(canvas.resize((s, s), Image.BILINEAR), np.float32)[:, :, None] / 255.0

    hue = (_HUES[sample.color] + rng.uniform(-_HUE_JITTER, _HUE_JITTER)) % 360.0
    (s_lo, s_hi), (v_lo, v_hi) = _SAT_VAL.get(sample.color, _VIVID)
    rgb = colorsys.hsv_to_rgb(hue / 360.0, rng.uniform(s_lo, s_hi), rng.uniform(v_lo, v_hi))
    obj = np.asarray(rgb, np.float32) * 255.0
    img = img * (1 - alpha) + obj[None, None, :] * alpha

    # Lighting: a global gain and a linear gradient in a random direction.
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    theta = rng.uniform(0, 2 * math.pi)
    light = rng.uniform(0.78, 1.15) * (1 + rng.uniform(0, 0.3) * (xx * math.cos(theta) + yy * math.sin(theta)))
    img = img * light[:, :, None]
    img = img + rng.normal(0, rng.uniform(0, 7), size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_folder(root: Path, n: int, seed: int) -> list[Sample]:
    """Write ``n`` PNG photos under ``root/images`` and ``root/labels.csv`` (the shared datasets' layout).

    File names carry only an index, never a label, so nothing can cheat by reading them.
    """
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
