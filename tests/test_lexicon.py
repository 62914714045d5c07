"""The offline lexicon (forgiving matching, sane entries) and CLIP-vocabulary anchors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from proxysort import lexicon
from proxysort.words import sanitize_words


@pytest.mark.parametrize(
    ("concept", "entry"),
    [
        ("color", "color"),
        ("Colours", "color"),
        ("COLOR", "color"),
        ("fruit color", "color"),
        ("hair_colour", "hair color"),
        ("species", "species"),
        ("animals", "animal"),
        ("time of day", "time of day"),
        ("time-of-day", "time of day"),
        ("facial expression", "emotion"),
        ("mood", "emotion"),
        ("the weather", "weather"),
        ("materials", "material"),
        ("textures", "texture"),
        ("environment", "scene"),
        ("activities", "activity"),
        ("person pose", "pose"),
        ("head pose", "orientation"),
        ("how many", "count"),
        ("card suit", "suit"),
        ("season", "season"),
    ],
)
def test_lookup_matches_synonyms_plurals_and_head_words(concept: str, entry: str) -> None:
    found = lexicon.lookup(concept)
    assert found is not None and found.name == entry


@pytest.mark.parametrize("concept", ["smelliness", "which person", "identity", "face", ""])
def test_lookup_misses(concept: str) -> None:
    assert lexicon.lookup(concept) is None


def test_kind_concepts_defer_to_the_noun() -> None:
    assert lexicon.lookup("species", "fruit").name == "fruit"
    assert lexicon.lookup("type", "dog").name == "dog breed"
    assert lexicon.lookup("kind", "flowers").name == "flower"
    assert lexicon.lookup("species", "animal").name == "animal"
    assert lexicon.lookup("species").noun == "photo" and "banana" not in lexicon.lookup("species").words
    assert lexicon.lookup("animals").name == "animal"
    assert lexicon.lookup("kind", "photo").name == "kind"
    assert lexicon.lookup("color", "fruit").name == "color"  # not a kind concept: the noun does not matter


@pytest.mark.parametrize(("concept", "expected"), [("person", True), ("Which Person", True), ("identities", True), ("face", True), ("who", True), ("person pose", False), ("facial expression", False), ("color", False), ("smelliness", False)])
def test_identity_like(concept: str, expected: bool) -> None:
    assert lexicon.is_identity_like(concept) is expected


def test_entries_are_usable_word_lists() -> None:
    names = [e.name for e in lexicon.ENTRIES]
    assert len(names) == len(set(names))
    for entry in lexicon.ENTRIES:
        assert 3 <= len(entry.words) <= 15, entry.name
        assert sanitize_words(entry.words) == list(entry.words), entry.name  # already clean and distinct
        assert entry.noun and entry.noun == entry.noun.lower()


def test_no_alias_is_claimed_by_two_entries() -> None:
    owner: dict[str, str] = {}
    for entry in lexicon.ENTRIES:
        for alias in entry.aliases:
            key = lexicon._norm(alias)
            assert owner.setdefault(key, entry.name) == entry.name, f"{alias!r} in {owner[key]} and {entry.name}"
            assert key not in lexicon.IDENTITY_WORDS


def test_anchors_are_deterministic_distinct_words() -> None:
    a = lexicon.vocab_anchors(10, seed=0)
    assert a == lexicon.vocab_anchors(10, seed=0)
    assert a != lexicon.vocab_anchors(10, seed=1)
    assert len(set(a)) == 10
    assert all(w.isascii() and w.isalpha() and w.islower() and 4 <= len(w) <= 10 for w in a)
    assert len(set(lexicon.vocab_anchors(500, seed=3))) == 500
    with pytest.raises(ValueError):
        lexicon.vocab_anchors(0)


def test_anchor_pool_is_clip_whole_word_tokens_that_encode_to_one_token() -> None:
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    expected = [k[: -len("</w>")] for k in tok.encoder if k.endswith("</w>") and 4 <= len(k) - 4 <= 10 and k[:-4].isascii() and k[:-4].isalpha()]
    assert list(lexicon._anchor_pool()) == expected
    for word in lexicon.vocab_anchors(50, seed=7):
        assert len(tok.encode(word)) == 1, word


def test_anchors_do_not_import_torch() -> None:
    code = "import sys; from proxysort.lexicon import vocab_anchors; vocab_anchors(); print('torch' in sys.modules, 'open_clip' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize("word, expected", [
    ("object", "an"), ("animal", "an"), ("age", "an"), ("emotion", "an"), ("hour", "an"),
    ("fruit", "a"), ("photo", "a"), ("unicorn", "a"), ("user", "a"), ("one", "a"), ("hair color", "a"),
])
def test_article(word: str, expected: str) -> None:
    assert lexicon.article(word) == expected


def test_every_lexicon_prompt_reads_as_english() -> None:
    """Each entry's default noun and name, as the prompt template writes them: "a photo of an object ..."."""
    from proxysort.proxy import Concept

    nouns = {entry.noun for entry in lexicon.ENTRIES} | {"person", "photo"}
    expected_an = {"object", "animal"}
    for noun in nouns:
        prompt = Concept("color", ("red", "blue"), noun=noun).prompt
        if noun == "photo":
            assert prompt == "a photo with a color of *"
        else:
            art = "an" if noun in expected_an else "a"
            assert prompt == f"a photo of {art} {noun} with a color of *", noun
    for entry in lexicon.ENTRIES:
        prompt = Concept(entry.name, ("x", "y"), noun=entry.noun).prompt
        assert " a a" not in prompt and " a e" not in prompt and " a o" not in prompt and " a i" not in prompt, prompt
    assert Concept("age", ("young", "old")).prompt == "a photo with an age of *"
