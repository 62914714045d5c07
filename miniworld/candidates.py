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
