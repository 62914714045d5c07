"""Offline word sources: a small curated lexicon of common photo concepts, and random CLIP-vocabulary
anchors for concepts whose values are not words.

The lexicon is what users get with no LLM configured, so it covers the concepts people sort photos by
(color, species, material, weather, emotion, ...), each with a handful of short values CLIP knows well.
Matching is forgiving (case, plurals, ``_``/``-``, synonyms, the head word of a phrase: "fruit color" →
color), because a user typing ``--by colours`` should not fall through to random anchors.

Anchors follow Multi-MaP, which used ten random dictionary words for identity: here, whole-word tokens of
CLIP's own BPE vocabulary, read straight from open_clip's vocabulary file so no torch import is needed.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import random
import re
from dataclasses import dataclass
from pathlib import Path

#: Words whose first letter misleads the a/an rule: a vowel letter with a consonant sound, or a silent h.
_A_BEFORE = ("uni", "use", "usu", "uti", "eu", "one", "once", "ewe", "ufo", "uro")
_AN_BEFORE = ("hour", "honest", "honou", "heir")


def article(word: str) -> str:
    """The indefinite article for ``word`` ("an object", "an age", "a unicorn", "an hour"): prompts read as English."""
    w = word.strip().lower()
    if w.startswith(_AN_BEFORE):
        return "an"
    if w.startswith(_A_BEFORE):
        return "a"
    return "an" if w[:1] in tuple("aeiou") else "a"


@dataclass(frozen=True)
class Entry:
    """One lexicon concept: its canonical name, the names users type for it, its values, a template noun."""

    name: str
    aliases: tuple[str, ...]
    words: tuple[str, ...]
    noun: str = "photo"


def _e(name: str, aliases: str, words: str, noun: str = "photo") -> Entry:
    split = lambda text: tuple(w.strip() for w in text.split(",") if w.strip())  # noqa: E731
    return Entry(name, (name, *split(aliases)), split(words), noun)


#: Concepts whose values are kinds of something: with ``--noun fruit`` they defer to the "fruit" entry.
KIND_WORDS = frozenset(["kind", "type", "species", "category", "variety", "sort", "class", "breed"])

ENTRIES: tuple[Entry, ...] = (
    _e("color", "colour, colors, colours, hue, tint", "red, orange, yellow, green, blue, purple, pink, brown, black, white, gray", "object"),
    _e("hair color", "hair colour, hair", "blonde, brown, black, red, gray, white", "person"),
    # "species" assumes no subject: with --noun (fruit, dog, animal, ...) it defers to that entry instead.
    _e("species", "organism, living thing", "dog, cat, bird, fish, insect, horse, tree, flower, mushroom, fruit, vegetable, human"),
    _e("animal", "animals, creature, animal species", "dog, cat, bird, horse, cow, sheep, fish, rabbit, deer, bear, elephant, lion, monkey, insect", "animal"),
    _e("kind", "type, category, class, object, thing, content, subject", "person, animal, plant, food, vehicle, building, landscape, furniture, toy, tool, clothing, document"),
    _e("fruit", "fruits", "apple, banana, orange, lemon, grape, strawberry, cherry, pear, peach, watermelon, pineapple, mango, kiwi, plum", "fruit"),
    _e("vegetable", "vegetables, veggie", "carrot, tomato, potato, onion, broccoli, cucumber, pepper, lettuce, cabbage, corn, eggplant, pumpkin", "vegetable"),
    _e("flower", "flowers, bloom", "rose, tulip, daisy, sunflower, lily, orchid, dandelion, lavender, poppy, iris", "flower"),
    _e("tree", "trees", "oak, pine, palm, maple, birch, willow, fir, cherry blossom", "tree"),
    _e("bird", "birds", "sparrow, eagle, owl, parrot, pigeon, duck, swan, robin, crow, penguin, flamingo, hummingbird", "bird"),
    _e("dog breed", "dog, dogs, breed", "labrador, poodle, beagle, bulldog, chihuahua, husky, dachshund, boxer, pug, shepherd, terrier, spaniel", "dog"),
    _e("vehicle", "vehicles, transport, transportation", "car, bus, truck, bicycle, motorcycle, train, airplane, boat, van, scooter", "vehicle"),
    _e("food", "dish, meal, cuisine", "pizza, salad, soup, pasta, sandwich, cake, sushi, burger, rice, bread, steak, ice cream", "food"),
    _e("shape", "shapes, form, outline, silhouette", "round, square, rectangular, triangular, oval, star, heart, cylindrical, irregular", "object"),
    _e("material", "materials, made of, substance", "wood, metal, glass, plastic, stone, fabric, paper, leather, ceramic, concrete, rubber", "object"),
    _e("pattern", "patterns, print, motif", "striped, checkered, polka dot, floral, plaid, plain, geometric, paisley, camouflage, zigzag", "object"),
    _e("texture", "textures, surface, feel, finish", "smooth, rough, furry, fluffy, shiny, matte, grainy, bumpy, wrinkled, soft", "object"),
    _e("season", "seasons, time of year", "spring, summer, autumn, winter"),
    _e("weather", "weather condition, sky, climate", "sunny, cloudy, rainy, snowy, foggy, stormy, windy, overcast, clear"),
    _e("time of day", "daytime, time, hour, day time", "dawn, morning, noon, afternoon, sunset, evening, night"),
    _e("scene", "scenes, environment, place, location, setting, background, surroundings, landscape, terrain", "beach, forest, mountain, city, street, park, desert, field, lake, river, snow, indoors"),
    _e("room", "rooms, indoor, interior", "kitchen, bedroom, bathroom, living room, office, garage, hallway, dining room, classroom"),
    _e("emotion", "emotions, expression, facial expression, face expression, mood, feeling, feelings, sentiment", "happy, sad, angry, surprised, neutral, scared, disgusted, calm", "person"),
    _e("pose", "poses, posture, body pose, stance, position", "standing, sitting, lying, walking, running, jumping, kneeling, bending", "person"),
    _e("orientation", "direction, facing, head pose, head direction, view, viewpoint, angle, gaze", "front, left, right, up, down, back, side"),
    _e("count", "counts, number, quantity, amount, how many, crowd", "one, two, three, four, five, several, many"),
    _e("size", "sizes, scale, bigness", "tiny, small, medium, large, huge", "object"),
    _e("style", "styles, art style, visual style, look, aesthetic, genre", "realistic, cartoon, painting, sketch, watercolor, black and white, vintage, minimalist, abstract, pixel art"),
    _e("lighting", "light, lights, illumination, brightness, exposure", "bright, dim, dark, backlit, sunlit, shadowy, neon, candlelit, flash"),
    _e("age", "ages, age group, generation", "baby, child, teenager, adult, elderly", "person"),
    _e("clothing", "clothes, outfit, garment, wear, attire, apparel", "shirt, dress, jacket, coat, sweater, hoodie, jeans, uniform, swimsuit, t-shirt", "person"),
    _e("activity", "activities, action, doing, what doing", "eating, sleeping, playing, running, reading, swimming, cooking, dancing, working, talking", "person"),
    _e("sport", "sports, game", "soccer, basketball, tennis, baseball, swimming, skiing, cycling, running, golf, surfing, volleyball"),
    _e("event", "events, occasion, celebration", "wedding, birthday, party, concert, sports, graduation, holiday, picnic, meeting"),
    _e("framing", "shot, shot type, composition, camera angle, distance, zoom", "close-up, portrait, wide shot, aerial, macro, selfie, group photo"),
    _e("hairstyle", "hair style, haircut, hair length", "long hair, short hair, curly, straight, bald, ponytail, braided", "person"),
    _e("eyewear", "glasses, spectacles, sunglasses", "glasses, sunglasses, no glasses", "person"),
    _e("ripeness", "freshness, ripe, maturity", "ripe, unripe, overripe, rotten, fresh", "fruit"),
    _e("suit", "suits, card suit", "hearts, diamonds, clubs, spades", "card"),
    _e("rank", "ranks, card rank, card value, value", "ace, two, three, four, five, six, seven, eight, nine, ten, jack, queen, king", "card"),
)

#: Words meaning "which individual": their values are identities, not words, so anchors are used.
IDENTITY_WORDS = frozenset(
    """person people identity identities who whom whose face faces individual individuals someone somebody
    id character characters celebrity player owner member persona""".split()
)

_STOP = frozenset(["of", "the", "a", "an", "by", "which", "what", "is", "it", "in", "on", "and", "or"])


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_\-./,;:]+", " ", text.lower())).strip()


def _singular(word: str) -> str:
    """Crude English singular, good enough for concept names ("colours", "species", "activities")."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "species")) and len(word) > 3:
        return word[:-1]
    return word


def _variants(phrase: str) -> list[str]:
    words = phrase.split()
    return [phrase, " ".join(_singular(w) for w in words)] if words else []


@functools.lru_cache(maxsize=1)
def _alias_index() -> dict[str, Entry]:
    index: dict[str, Entry] = {}
    for entry in ENTRIES:
        for alias in entry.aliases:
            for key in _variants(_norm(alias)):
                index.setdefault(key, entry)
    return index


def _match(concept: str) -> Entry | None:
    """Whole phrase first, then its words from the last (the English head word: "fruit color")."""
    index = _alias_index()
    phrase = _norm(concept)
    for key in _variants(phrase):
        if key in index:
            return index[key]
    if any(key in IDENTITY_WORDS for key in _variants(phrase)):
        return None
    for word in reversed(phrase.split()):
        if word in _STOP:
            continue
        for key in _variants(word):
            if key in index:
                return index[key]
    return None


def lookup(concept: str, noun: str = "photo") -> Entry | None:
    """The lexicon entry for ``concept`` (None if unknown or identity-like).

    A "kind" concept defers to a more specific entry named by the noun: ``--by species --noun fruit``
    gives fruit names, not animals.
    """
    entry = _match(concept)
    if entry is None:
        return None
    if set(_norm(concept).split()) & KIND_WORDS or entry.name in ("kind", "species"):
        specific = _match(noun)
        if specific is not None and specific.name not in ("kind", "species") and specific.noun != "photo":
            return specific
    return entry


def is_identity_like(concept: str) -> bool:
    """True for "person", "which face", "identity": concepts whose values are individuals, not words."""
    if _match(concept) is not None:
        return False
    return any(key in IDENTITY_WORDS for word in _norm(concept).split() for key in _variants(word))


def _bpe_path() -> Path:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip is not installed; it ships CLIP's vocabulary file.")
    return Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"


@functools.lru_cache(maxsize=1)
def _anchor_pool() -> tuple[str, ...]:
    """Whole-word tokens of CLIP's BPE vocabulary: alphabetic ASCII, 4-10 letters, in vocabulary order.

    These are exactly the ``SimpleTokenizer().encoder`` keys ending in ``</w>`` (its vocabulary is the
    byte alphabet plus one token per merge), read from the file without importing open_clip or torch.
    """
    with gzip.open(_bpe_path(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")[1 : 49152 - 256 - 2 + 1]
    pool: list[str] = []
    seen: set[str] = set()
    for line in lines:
        token = "".join(line.split())
        if not token.endswith("</w>"):
            continue
        word = token[: -len("</w>")]
        if 4 <= len(word) <= 10 and word.isascii() and word.isalpha() and word not in seen:
            seen.add(word)
            pool.append(word)
    return tuple(pool)


def vocab_anchors(n: int = 10, seed: int = 0) -> list[str]:
    """``n`` distinct random whole words from CLIP's vocabulary; the same ``seed`` gives the same words."""
    pool = _anchor_pool()
    if not 1 <= n <= len(pool):
        raise ValueError(f"n must be between 1 and {len(pool)}, not {n}")
    return random.Random(seed).sample(pool, n)
