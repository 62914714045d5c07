"""Captions that each mention a random subset of an image's attributes, never all four.

A CLIP learns an attribute only if captions single it out; it learns to *separate* attributes only if
they are mentioned independently. So each caption names one to three attributes, in varied phrasing:
plain noun phrases ("a small red circle on a striped background"), fragments ("something green",
"stripes behind a large shape") and the concept-word templates the proxy engine fills in
("a photo of an object with a color of red", "an object whose shape is a circle"), so that the text tower
understands "<concept> of <word>" prompts and a placeholder in the word slot lands where the images are.
"""

from __future__ import annotations

import random

from miniworld.generate import Sample

#: Words for each concept the prompts may use; the first is the one proxysort users will type.
CONCEPT_WORDS = {
    "color": ("color", "colour"),
    "shape": ("shape",),
    "pattern": ("pattern", "background", "texture"),
    "size": ("size",),
}
_NOUNS = ("photo", "object", "shape", "thing", "image", "picture")
_PATTERN_ADJ = {"stripes": "striped", "lines": "lined", "dots": "dotted", "grid": "grid", "plain": "plain", "waves": "wavy"}
_SUBSET_SIZES = (1, 1, 2, 2, 2, 3)
#: Synonyms captions use now and then, so that a synonym in a candidate list means something.
SYNONYMS = {"yellow": "gold", "purple": "violet", "square": "box", "stripes": "lines", "small": "tiny", "large": "big"}
_SYNONYM_RATE = 0.2


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _phrase(attrs: dict[str, str], rng: random.Random) -> str:
    """A natural noun phrase naming exactly the attributes in ``attrs``."""
    head = attrs.get("shape") or rng.choice(("shape", "object", "thing"))
    words = [attrs[k] for k in ("size", "color") if k in attrs] + [head]
    if "pattern" in attrs:
        p = attrs["pattern"]
        if p == "plain":
            tail = rng.choice(("on a plain background", "on a plain grey background", "with nothing behind it"))
        else:
            tail = rng.choice((
                f"on a {_PATTERN_ADJ[p]} background",
                f"on a background of {p}",
                f"in front of {p}",
                f"with {p} behind it",
            ))
        words.append(tail)
    text = " ".join(words)
    if len(attrs) == 1 and "shape" not in attrs and rng.random() < 0.4:
        value = next(iter(attrs.values()))
        return rng.choice((f"something {value}", f"{value}", f"{value} background" if "pattern" in attrs else f"a {value} one"))
    if len(attrs) == 1 and "pattern" in attrs and rng.random() < 0.5:
        return rng.choice((f"{attrs['pattern']}", f"a {_PATTERN_ADJ[attrs['pattern']]} background"))
    if "pattern" in attrs and "shape" not in attrs and rng.random() < 0.3:
        rest = " ".join([attrs[k] for k in ("size", "color") if k in attrs] + ["shape"])
        return f"{attrs['pattern']} behind {_article(rest)} {rest}"
    return f"{_article(text)} {text}"


def _concept_template(attrs: dict[str, str], rng: random.Random) -> str:
    """The proxy engine's prompt style: "<a photo of> a <noun> with a <concept> of <value> [and ...]"."""
    noun = rng.choice(_NOUNS)
    items = list(attrs.items())
    rng.shuffle(items)
    parts = [f"{rng.choice(CONCEPT_WORDS[k])} of {v}" for k, v in items]
    style = rng.random()
    if style < 0.45:
        prefix = rng.choice(("a photo of ", "a picture of ", ""))
        return f"{prefix}{_article(noun)} {noun} with a " + " and a ".join(parts)
    if style < 0.75:
        clauses = [f"{rng.choice(CONCEPT_WORDS[k])} is {v}" for k, v in items]
        return f"{_article(noun)} {noun} whose " + " and whose ".join(clauses)
    if style < 0.9:
        return ", ".join(f"{rng.choice(CONCEPT_WORDS[k])}: {v}" for k, v in items)
    return " and ".join(f"the {rng.choice(CONCEPT_WORDS[k])} is {v}" for k, v in items)


def caption(sample: Sample, rng: random.Random) -> str:
    """One random caption for ``sample`` mentioning one to three of its four attributes."""
    return caption_with_attributes(sample, rng)[0]


def caption_with_attributes(sample: Sample, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A caption and the true attribute values it mentions (before any synonym was substituted).

    Training needs the second part: a caption that names only "red" describes every red image in a batch,
    and the contrastive targets should say so.
    """
    attrs = sample.attrs()
    keys = rng.sample(sorted(attrs), rng.choice(_SUBSET_SIZES))
    mentioned = {k: attrs[k] for k in keys}
    chosen = {k: SYNONYMS[v] if v in SYNONYMS and rng.random() < _SYNONYM_RATE else v for k, v in mentioned.items()}
    if rng.random() < 0.5:
        return _concept_template(chosen, rng), mentioned
    return _phrase(chosen, rng), mentioned
