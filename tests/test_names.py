"""Every sanitiser of names: candidate words (property-based: words become folder names) and the folder
names built from them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxysort.names import dropped_words, safe_name, sanitize_words, unique_names
from tests.support.hostile import assert_harmless_name, hostile_text

# Text biased toward the characters that break paths: separators, dots, NUL, newlines, mixed case.
_hostile_chars = st.sampled_from(list("/\\.\x00\n\r\t :*?\"<>| aAzZ09éÉßİ\u0130\u200b\u2028\ufeff-_"))
_words = st.lists(
    st.one_of(st.text(max_size=40), st.text(alphabet=_hostile_chars, max_size=40)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_words, st.integers(min_value=1, max_value=40))
@example(["../x", "/", "", "a" * 200, "ünï", "Red", "red", "a\x00b", "new\nline", "..", ".", "\\", "con"], 32)
def test_sanitized_words_are_always_safe_folder_names(raw: list[str], max_len: int) -> None:
    words = sanitize_words(raw, max_len=max_len)
    assert len(words) == len(set(words))
    for word in words:
        assert word and word.strip() == word
        assert len(word) <= max_len
        assert word not in (".", "..") and not word.startswith(".") and ".." not in word
        assert not set(word) & set("/\\\x00")
        assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in word)
        assert word == word.lower()
        assert any(ch.isalnum() for ch in word)
    assert sanitize_words(words, max_len=max_len) == words  # idempotent: the cache re-sanitizes


@given(_words)
def test_sanitize_keeps_first_occurrence_order(raw: list[str]) -> None:
    words = sanitize_words(raw)
    positions = [next(i for i, r in enumerate(raw) if sanitize_words([r]) == [w]) for w in words]
    assert positions == sorted(positions)


def test_sanitize_examples() -> None:
    raw = ["../x", "/", "", "a" * 200, "Grün", "GRÜN", "  light   Blue ", "a\x00b", "new\nline", "red\n", "Ünïcödé", "e.g.", "nul", "?"]
    assert sanitize_words(raw) == ["grün", "light blue", "red", "ünïcödé"]
    assert sanitize_words(["abcdef"], max_len=5) == []


def test_dropped_words_are_the_non_blank_rejects() -> None:
    assert dropped_words(["red", "", "  ", "../x", "a\x00b"]) == ["../x", "a\x00b"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("red", "red"),
        ("../x", "x"),
        ("/", "unnamed"),
        ("", "unnamed"),
        ("..", "unnamed"),
        (".hidden", "hidden"),
        ("a/b\\c", "a-b-c"),
        ("nul\x00byte", "nul-byte"),
        ("new\nline", "new-line"),
        ("  spaced   out  ", "spaced out"),
        ("cafe\u0301", "caf\u00e9"),  # NFC: one code point per letter
    ],
)
def test_safe_name(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


def test_safe_name_caps_length_in_chars_and_bytes() -> None:
    assert len(safe_name("x" * 200)) == 64
    wide = safe_name("😀" * 100)
    assert len(wide.encode()) <= 200 and wide


def test_unique_names_ignore_case_and_respect_taken() -> None:
    names = unique_names(["Red", "red", "../red", "", "", "x" * 200, "x" * 300], taken={"RED-2"})
    assert len({n.casefold() for n in names}) == len(names)
    assert names[0] == "Red" and names[1] == "red-3"
    assert all(len(n) <= 64 and "/" not in n and not n.startswith(".") for n in names)


@given(hostile_text)
def test_safe_name_is_one_harmless_component(text: str) -> None:
    assert_harmless_name(safe_name(text))


@given(st.lists(hostile_text, min_size=1, max_size=12))
def test_unique_names_are_distinct_ignoring_case(texts: list[str]) -> None:
    names = unique_names(texts)
    assert len(names) == len(texts)
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert_harmless_name(name)
