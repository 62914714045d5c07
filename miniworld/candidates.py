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
