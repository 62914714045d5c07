"""The two synthetic worlds behind one interface, so the trainer, benchmarks and tests can take either.

``shapes`` is the first world (tests/fixtures/miniclip.pt): captions half in the proxy prompt's own
style. ``glyphs`` is the second (tests/fixtures/miniclip2.pt): plain natural captions only, an attribute
the image embedding hardly cares about (position) and an identity-like one that no caption names (symbol).
``halfknown`` is the third (tests/fixtures/miniclip3b.pt, made on first use: :meth:`World.ready`): the first world's photos and frozen image tower,
a text tower trained on plain captions that confuse pairs of colors and patterns part of the time
(miniworld/halfknown.py), so CLIP's text side half knows what its image side separates.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class World:
    """What the trainer and the benchmarks need from a world."""

    name: str
    attributes: dict[str, tuple[str, ...]]
    sample_attributes: Callable[..., list[Any]]
    render: Callable[[Any], Any]
    caption_with_attributes: Callable[..., tuple[str, dict[str, str]]]
    write_folder: Callable[..., list[Any]]
    #: Zero-shot prompt the trainer logs accuracy with ({concept}, {value} filled in): proxysort's own style.
    prompt: str
    #: Noun for proxysort's prompt ("a photo of a <noun> with a <concept> of *").
    noun: str
    #: Imperfect candidate lists (a synonym, a missing value, distractors) per attribute.
    candidates: dict[str, tuple[str, ...]]
    config: Path
    weights: Path
    #: Attributes no caption names: candidate words can only be anchors.
    unnamed: tuple[str, ...] = ()
    #: Weights whose image tower the trainer loads and freezes (only the text tower learns); None: both learn.
    frozen_image: Path | None = None
    #: Attributes the text side only half knows (where learning from the photos can help).
    half_known: tuple[str, ...] = ()
    #: Long candidate lists: the true values plus plausible same-kind distractors, as an LLM lists them.
    long: dict[str, tuple[str, ...]] | None = None
    #: Trainer arguments that make ``weights`` when the repository does not carry them (see :meth:`ready`).
    build: tuple[str, ...] = ()

    def ready(self) -> Path:
        """``weights``, made first when they are missing and ``build`` says how.

        A 7 MB model is data the repository should not carry when it can be made again: the trainer runs
        on one thread with a fixed seed, so its tensors come out bit-identical (checked against the file
        the quality bars were measured on), in about 2 minutes on 2 cores. It runs in a process of its own
        (it sets torch's threads), under a lock so that two test workers make it once, into a temporary
        name renamed when done, so a killed build never leaves a half-trained model behind.
        """
        if self.weights.exists() or not self.build:
            return self.weights
        with open(self.weights.with_name(self.weights.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.weights.exists():
                partial = self.weights.with_name(self.weights.name + ".partial")
                subprocess.run([sys.executable, "-m", "miniworld.train", *self.build, "--out", str(partial)],
                               cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
                os.replace(partial, self.weights)
        return self.weights


#: Every world, in the order the benchmarks report them.
WORLDS = ("shapes", "glyphs", "halfknown")


def get_world(name: str) -> World:
    """The world called ``name`` (one of :data:`WORLDS`)."""
    if name in ("shapes", "halfknown"):
        from miniworld import captions, generate, halfknown
        from miniworld.candidates import CANDIDATES, LONG

        if name == "shapes":
            return World("shapes", generate.ATTRIBUTES, generate.sample_attributes, generate.render,
                         captions.caption_with_attributes, generate.write_folder,
                         "a photo of an object with a {concept} of {value}", "object", CANDIDATES,
                         FIXTURES / "miniclip.json", FIXTURES / "miniclip.pt", long=LONG)
        return World("halfknown", generate.ATTRIBUTES, generate.sample_attributes, generate.render,
                     halfknown.caption_with_attributes, generate.write_folder,
                     "a photo of an object with a {concept} of {value}", "object", CANDIDATES,
                     FIXTURES / "miniclip.json", FIXTURES / "miniclip3b.pt", long=LONG,
                     frozen_image=FIXTURES / "miniclip.pt", half_known=halfknown.HALF_KNOWN,
                     build=("--world", "halfknown", "--seed", "0", "--steps", "800"))
    if name == "glyphs":
        from miniworld import glyph_captions, glyphs
        from miniworld.candidates import GLYPH_CANDIDATES, GLYPH_LONG

        return World("glyphs", glyphs.ATTRIBUTES, glyphs.sample_attributes, glyphs.render,
                     glyph_captions.caption_with_attributes, glyphs.write_folder,
                     "a photo of a symbol with a {concept} of {value}", "symbol", GLYPH_CANDIDATES,
                     FIXTURES / "miniclip.json", FIXTURES / "miniclip2.pt", unnamed=("symbol",), long=GLYPH_LONG)
    raise ValueError(f"unknown world {name!r}; choose {', '.join(WORLDS)}")
