"""Plain natural captions for the second world: no concept-word templates, no glyph names.

The proxy engine's prompts read "a photo of a symbol with a color of *". Nothing here uses that
phrasing (no "with a X of", no "X: value", no "whose X is"): captions say what a person would write
under such a photo ("a red sign on the left, on sand", "something purple in the snow", "grass"), so any
advantage a method gets from the prompt's wording has to come from the words, not from having been
trained on the template. The glyph is always just "a symbol", "a sign", "a mark"...: no caption tells
two glyphs apart.
"""

from __future__ import annotations

import random

from miniworld.glyphs import CAPTIONED, GlyphSample

_NOUNS = ("symbol", "sign", "mark", "glyph", "figure", "drawing", "letter", "shape")
#: Synonyms captions use now and then, so that a synonym in a candidate list means something.
SYNONYMS = {"yellow": "gold", "purple": "violet", "water": "sea", "grass": "lawn", "middle": "center"}
_SYNONYM_RATE = 0.2
_GROUND = {
    "sand": ("on sand", "on the sand", "on sandy ground", "drawn in the sand"),
    "grass": ("on grass", "on the grass", "on grassy ground", "in the grass"),
    "water": ("on water", "on the water", "floating on water", "in the water"),
    "snow": ("on snow", "in the snow", "on snowy ground", "on the snow"),
    "stone": ("on stone", "on a stone", "on the stone", "carved in stone"),
    "lawn": ("on a lawn", "on the lawn"),
    "sea": ("on the sea", "floating on the sea"),
}
_PLACE = {
    "left": ("on the left", "at the left", "to the left", "on the left side"),
    "middle": ("in the middle", "in the middle of the frame", "right in the middle"),
    "center": ("in the center", "at the center", "centered"),
    "right": ("on the right", "at the right", "to the right", "on the right side"),
}
_SUBSET_SIZES = (1, 1, 2, 2, 3)
#: Phrasings that would give the proxy prompt a home advantage; a test checks none is ever produced.
FORBIDDEN = (" of red", "color of", "colour of", "background of", "position of", "symbol of", ":", "whose", " is ")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _caption(attrs: dict[str, str], rng: random.Random) -> str:
    """A natural phrase naming exactly the attributes in ``attrs`` (already synonym-substituted)."""
    color, ground, place = attrs.get("color"), attrs.get("background"), attrs.get("position")
    noun = rng.choice(_NOUNS)
    if len(attrs) == 1:
        if color and rng.random() < 0.5:
            return rng.choice((f"something {color}", color, f"{color} paint", f"painted {color}", f"a {color} one"))
        if ground and rng.random() < 0.5:
            return rng.choice((ground, f"a photo of {ground}", f"{ground} everywhere", f"plain {ground}"))
        if place and rng.random() < 0.4:
            return f"something {rng.choice(_PLACE[place])}"
    head = f"{color} {noun}" if color else noun
    tails = [rng.choice(_PLACE[place])] if place else []
    if ground:
        tails.append(rng.choice(_GROUND[ground]))
    rng.shuffle(tails)
    text = f"{_article(head)} {head}" + (" " if tails else "") + ", ".join(tails)
    style = rng.random()
    if style < 0.25:
        return f"a photo of {text}"
    if style < 0.35:
        return f"a picture of {text}"
    if style < 0.45 and color and not ground and not place:
        return f"{color}, a {noun}"
    return text


def caption_with_attributes(sample: GlyphSample, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A caption and the true attribute values it mentions (before any synonym was substituted)."""
    attrs = {k: v for k, v in sample.attrs().items() if k in CAPTIONED}
    keys = rng.sample(sorted(attrs), rng.choice(_SUBSET_SIZES))
    mentioned = {k: attrs[k] for k in keys}
    chosen = {k: SYNONYMS[v] if v in SYNONYMS and rng.random() < _SYNONYM_RATE else v for k, v in mentioned.items()}
    return _caption(chosen, rng), mentioned


def caption(sample: GlyphSample, rng: random.Random) -> str:
    """One random caption for ``sample``."""
    return caption_with_attributes(sample, rng)[0]
