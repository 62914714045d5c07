"""The half-known world: the first world's photos and image tower, a text tower that half knows two concepts.

This is the regime the seed papers exist for: CLIP's image embedding separates values that its text side
confuses. The photos are the first world's (miniworld/generate.py) and the image tower is the first
fixture's (tests/fixtures/miniclip.pt), frozen; only the text tower is trained (from scratch, seeded), on
plain captions that name a *confused pair's other value* part of the time:

- color: red <-> orange and blue <-> purple, each named as its partner in CONFUSION_RATE of captions;
- pattern: stripes <-> plain, the same.

The pairs are ones the frozen image tower splits on its own: k-means with two groups on the image vectors of
just a pair's photos gives NMI 0.97-1.00 for every color pair and 0.98-1.00 for stripes/plain (photo sets
0-2, 800 photos; `tests/test_miniworld.py` checks it). The first recipe confused stripes <-> grid, which the
image tower does *not* split that way (NMI 0.00, though a linear probe can), so its pattern cells did not
follow the issue's recipe and are not comparable.

So the text side knows yellow, green, dots and plain as well as the first world does, and knows each
confused pair only by a weak majority (zero-shot accuracy on those attributes drops to 0.5-0.8), while the
frozen image tower still tells the pair apart (it was trained on captions that never confused them).

Captions never use the proxy prompt's own phrasing ("with a color of", "whose", "pattern: "): a test
checks :data:`FORBIDDEN` against thousands of them, so no method gets a home advantage from the wording.
"""

from __future__ import annotations

import random

from miniworld.generate import Sample

#: Pairs of values whose captions name the partner part of the time.
CONFUSED: dict[str, tuple[tuple[str, str], ...]] = {
    "color": (("red", "orange"), ("blue", "purple")),
    "pattern": (("stripes", "plain"),),
}
#: Share of captions mentioning a confused value that name its partner instead.
CONFUSION_RATE = 0.5
#: The attributes whose values the text side half knows (the cells where learning can help).
HALF_KNOWN = tuple(CONFUSED)
_PARTNER = {a: b for pairs in CONFUSED.values() for x, y in pairs for a, b in ((x, y), (y, x))}
_NOUNS = ("shape", "object", "thing", "figure")
_PATTERN_TAIL = {
    "stripes": ("on a striped background", "in front of stripes", "with stripes behind it", "on stripes"),
    "dots": ("on a dotted background", "in front of dots", "with dots behind it", "on dots"),
    "grid": ("on a grid", "in front of a grid", "with a grid behind it", "on a grid background"),
    "plain": ("on a plain background", "on plain grey", "with nothing behind it", "on a plain wall"),
    "waves": ("on a wavy background", "in front of waves", "with waves behind it", "on waves"),
}
_SUBSET_SIZES = (1, 1, 2, 2, 2, 3)
#: Phrasings that would give the proxy prompt a home advantage; a test checks none is ever produced.
FORBIDDEN = ("color of", "colour of", "shape of", "pattern of", "size of", "background of", ":", "whose", " is ")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _caption(attrs: dict[str, str], rng: random.Random) -> str:
    """A natural phrase naming exactly the attributes in ``attrs`` (already confused)."""
    if len(attrs) == 1:
        (name, value), = attrs.items()
        if name == "color" and rng.random() < 0.5:
            return rng.choice((f"something {value}", value, f"a {value} one", f"painted {value}"))
        if name == "pattern" and rng.random() < 0.5:
            return rng.choice((value, f"{value} everywhere", f"a photo of {value}"))
    head = attrs.get("shape") or rng.choice(_NOUNS)
    words = [attrs[k] for k in ("size", "color") if k in attrs] + [head]
    text = " ".join(words)
    text = f"{_article(text)} {text}"
    if "pattern" in attrs:
        text += " " + rng.choice(_PATTERN_TAIL[attrs["pattern"]])
    style = rng.random()
    if style < 0.25:
        return f"a photo of {text}"
    if style < 0.35:
        return f"a picture of {text}"
    return text


def caption_with_attributes(sample: Sample, rng: random.Random) -> tuple[str, dict[str, str | tuple[str, ...]]]:
    """A caption and what it tells about the photo: per mentioned attribute, the value, or for a value of a
    confused pair the pair itself (the caption names either member, whichever the photo shows).

    The trainer treats a caption as true of every photo that matches what it tells: a caption saying
    "orange" is as true of a red photo as of an orange one, because in this world it is said of both as
    often. (Telling the trainer the true value instead would undo the confusion through the targets.)
    """
    attrs = sample.attrs()
    keys = rng.sample(sorted(attrs), rng.choice(_SUBSET_SIZES))
    said, told = {}, {}
    for k in keys:
        v = attrs[k]
        if v in _PARTNER:
            said[k] = _PARTNER[v] if rng.random() < CONFUSION_RATE else v
            told[k] = tuple(sorted((v, _PARTNER[v])))
        else:
            said[k] = told[k] = v
    return _caption(said, rng), told


def caption(sample: Sample, rng: random.Random) -> str:
    """One random caption for ``sample``."""
    return caption_with_attributes(sample, rng)[0]
