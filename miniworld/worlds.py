"""The two synthetic worlds behind one interface, so the trainer, benchmarks and tests can take either.

``shapes`` is the first world (tests/fixtures/miniclip.pt): captions half in the proxy prompt's own
style. ``glyphs`` is the second (tests/fixtures/miniclip2.pt): plain natural captions only, an attribute
the image embedding hardly cares about (position) and an identity-like one that no caption names (symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


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


def get_world(name: str) -> World:
    """The world called ``name`` ("shapes" or "glyphs")."""
    if name == "shapes":
        from miniworld import captions, generate
        from miniworld.candidates import CANDIDATES

        return World("shapes", generate.ATTRIBUTES, generate.sample_attributes, generate.render,
                     captions.caption_with_attributes, generate.write_folder,
                     "a photo of an object with a {concept} of {value}", "object", CANDIDATES,
                     FIXTURES / "miniclip.json", FIXTURES / "miniclip.pt")
    if name == "glyphs":
        from miniworld import glyph_captions, glyphs
        from miniworld.candidates import GLYPH_CANDIDATES

        return World("glyphs", glyphs.ATTRIBUTES, glyphs.sample_attributes, glyphs.render,
                     glyph_captions.caption_with_attributes, glyphs.write_folder,
                     "a photo of a symbol with a {concept} of {value}", "symbol", GLYPH_CANDIDATES,
                     FIXTURES / "miniclip.json", FIXTURES / "miniclip2.pt", unnamed=("symbol",))
    raise ValueError(f"unknown world {name!r}; choose shapes or glyphs")
