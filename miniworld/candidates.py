"""Imperfect candidate word lists for the miniworld's concepts, built the way an LLM's answer goes wrong.

Each list has at least two of: a synonym instead of a true value, a true value missing, distractors.
Synonyms and distractors marked (train) are words the miniclip saw in training (TRAIN_ONLY values and
caption SYNONYMS): plausible values that are absent from evaluation folders. Unmarked distractors are words
it never saw, whose token embeddings are still random.
"""

from __future__ import annotations

CANDIDATES: dict[str, tuple[str, ...]] = {
    # gold for yellow (synonym); purple missing; pink, brown (train) and white distractors.
    "color": ("red", "orange", "gold", "green", "blue", "pink", "brown", "white"),
    # box for square (synonym); cross missing; diamond (train) and heart distractors.
    "shape": ("circle", "box", "triangle", "star", "diamond", "heart"),
    # lines for stripes (synonym); plain missing; waves (train) and checks distractors.
    "pattern": ("lines", "dots", "grid", "waves", "checks"),
    # tiny and big for small and large (synonyms); huge distractor; nothing missing (only three values).
    "size": ("tiny", "medium", "big", "huge"),
}

#: The second world (miniworld/glyphs.py). Its symbol concept has no meaningful words at all, so its
#: "candidates" are random anchors drawn at run time (``None`` here); the list below is never used for it.
GLYPH_CANDIDATES: dict[str, tuple[str, ...]] = {
    # gold for yellow (synonym); purple missing; orange, pink (train) and white distractors.
    "color": ("red", "gold", "blue", "black", "orange", "pink", "white"),
    # sea for water (synonym); snow missing; stone (train) and mud distractors.
    "background": ("sand", "grass", "sea", "stone", "mud"),
    # center for middle (synonym); top and bottom distractors (never seen in training).
    "position": ("left", "center", "right", "top", "bottom"),
}

#: Long lists (issue 21): every true value plus eight plausible values of the same kind, in the order an
#: LLM asked "list values of color" might give them (true values not first, distractors the model saw in
#: training among them; "spots" and "lines" are synonyms of true values, as such lists have them). Every
#: true word is there, so a method that drops one of them, or a folder named after a distractor, is the
#: method's fault.
LONG: dict[str, tuple[str, ...]] = {
    "color": ("white", "black", "red", "pink", "orange", "brown", "yellow", "gray", "green", "cyan", "blue",
              "magenta", "purple", "beige"),
    "shape": ("oval", "circle", "rectangle", "square", "diamond", "triangle", "hexagon", "star", "heart",
              "cross", "arrow", "crescent", "pentagon"),
    "pattern": ("checks", "stripes", "spots", "dots", "waves", "grid", "zigzag", "plain", "swirls", "plaid",
                "floral", "lines"),
    "size": ("tiny", "small", "little", "medium", "average", "large", "big", "huge", "giant", "massive", "mini"),
}
GLYPH_LONG: dict[str, tuple[str, ...]] = {
    "color": ("white", "red", "orange", "yellow", "green", "blue", "pink", "purple", "brown", "black", "gray",
              "cyan", "gold"),
    "background": ("sand", "rock", "grass", "dirt", "water", "ice", "snow", "stone", "mud", "wood", "sky",
                   "concrete"),
    "position": ("top", "left", "upper", "middle", "center", "lower", "right", "bottom", "corner", "edge", "side"),
}

#: Folder names that tell the truth about a value (issue 21's *name truth*): the value itself, the caption
#: synonyms the models were trained with, and the offline lexicon's words that mean the same value. A
#: photo whose folder name is none of these and not flagged ``-unsure`` is under a name that lies.
TRUE_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "shapes": {
        "yellow": ("gold",), "purple": ("violet",), "square": ("box",), "circle": ("round",),
        "triangle": ("triangular",), "stripes": ("lines", "striped"), "dots": ("polka dot", "dotted", "spots"),
        "small": ("tiny", "little"), "large": ("big",), "medium": ("average",),
    },
    "glyphs": {
        "yellow": ("gold",), "purple": ("violet",), "water": ("sea", "lake", "river"), "grass": ("lawn", "field"),
        "sand": ("beach", "desert"), "middle": ("center",),
    },
}
TRUE_NAMES["halfknown"] = TRUE_NAMES["shapes"]


def true_names(world: str, value: str) -> frozenset[str]:
    """Every folder name that is true of a photo with ``value`` in ``world``."""
    return frozenset((value, *TRUE_NAMES.get(world, {}).get(value, ())))
