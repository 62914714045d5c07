"""Word sanitizing (property-based: words become folder names) and the source priority of get_words."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxysort.env import Environment
from proxysort.errors import InputError, UsageError
from proxysort.lexicon import lookup, vocab_anchors
from proxysort.progress import Reporter
from proxysort.words import WordList, default_noun, get_words, sanitize_words

# Text biased toward the characters that break paths: separators, dots, NUL, newlines, mixed case.
_hostile_chars = st.sampled_from(list("/\\.\x00\n\r\t :*?\"<>| aAzZ09éÉßİ\u0130\u200b\u2028\ufeff-_"))
_words = st.lists(
    st.one_of(st.text(max_size=40), st.text(alphabet=_hostile_chars, max_size=40)),
    max_size=30,
)


class Recorder(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)


def _env(**variables: str) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), vars=variables)


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


def test_explicit_words_win_over_everything(tmp_path: Path) -> None:
    file = tmp_path / "w.txt"
    file.write_text("cyan\nmagenta\n")
    env = _env(OPENAI_API_KEY="k", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    result = get_words("color", words=["Red", "green"], words_file=file, llm_model="m", env=env)
    assert (result.words, result.source) == (["red", "green"], "user")


def test_words_as_a_single_comma_string() -> None:
    assert get_words("color", words="red, green ,blue").words == ["red", "green", "blue"]


def test_words_file_beats_llm_and_lexicon(tmp_path: Path) -> None:
    file = tmp_path / "w.txt"
    file.write_text("# my colours\ncyan, magenta\n\nochre  # warm\n", encoding="utf-8")
    env = _env(OPENAI_API_KEY="k", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    result = get_words("color", words_file=file, llm_model="m", env=env)
    assert (result.words, result.source, result.detail) == (["cyan", "magenta", "ochre"], "file", str(file))


def test_missing_words_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="words file"):
        get_words("color", words_file=tmp_path / "missing.txt")


def test_unusable_user_words_are_a_usage_error_and_dropped_ones_are_reported() -> None:
    with pytest.raises(UsageError, match="no usable"):
        get_words("color", words=["../", "/", ""])
    rec = Recorder()
    result = get_words("color", words=["red", "../etc", "blue"], reporter=rec)
    assert result.words == ["red", "blue"]
    assert len(rec.warnings) == 1 and "../etc" in rec.warnings[0]


def test_single_user_word_warns() -> None:
    rec = Recorder()
    assert get_words("color", words=["red"], reporter=rec).words == ["red"]
    assert "two" in rec.warnings[0]


def test_lexicon_when_offline(tmp_path: Path) -> None:
    result = get_words("Colours", noun="fruit", env=_env(), cache_dir=tmp_path)
    assert result.source == "lexicon" and result.words == list(lookup("color").words)
    assert "color" in result.detail and result.noun == "fruit"


def test_identity_concepts_get_anchors_without_warning() -> None:
    rec = Recorder()
    result = get_words("which person", env=_env(), reporter=rec, k=12)
    assert result.source == "anchors" and result.words == vocab_anchors(12)
    assert rec.warnings == []


def test_unknown_concepts_get_anchors_with_a_warning() -> None:
    rec = Recorder()
    result = get_words("smelliness", env=_env(), reporter=rec)
    assert result.source == "anchors" and len(result.words) == 10
    assert len(rec.warnings) == 1 and "smelliness" in rec.warnings[0] and "--words" in rec.warnings[0]


def test_bad_arguments() -> None:
    with pytest.raises(UsageError):
        get_words("   ", env=_env())
    with pytest.raises(UsageError):
        get_words("color", k=0, env=_env())


def test_default_noun() -> None:
    assert default_noun("species") == "animal"
    assert default_noun("colour") == "object"
    assert default_noun("identity") == "person"
    assert default_noun("weather") == "photo"
    assert default_noun("unknown-thing") == "photo"


def test_describe_names_the_source() -> None:
    text = WordList("color", "fruit", ["red", "green"], "llm-cache", "gpt-4o-mini").describe()
    assert "2 words" in text and "cached" in text and "gpt-4o-mini" in text
