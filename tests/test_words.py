"""The source priority of get_words (user, file, LLM, lexicon, anchors) and what it tells the user."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from proxysort.env import Environment
from proxysort.errors import InputError, UsageError
from proxysort.lexicon import lookup, vocab_anchors
from proxysort.progress import Reporter
from proxysort.words import WordList, default_noun, get_words


class Recorder(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)


def _env(**variables: str) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), vars=variables)


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
    assert len(rec.warnings) == 1 and "smelliness" in rec.warnings[0] and "`words`" in rec.warnings[0]


def test_bad_arguments() -> None:
    with pytest.raises(UsageError):
        get_words("   ", env=_env())
    with pytest.raises(UsageError):
        get_words("color", k=0, env=_env())


def test_default_noun() -> None:
    assert default_noun("species") == "photo"  # no subject assumed: a folder of fruit is not animals
    assert default_noun("animal") == "animal"
    assert default_noun("colour") == "object"
    assert default_noun("identity") == "person"
    assert default_noun("weather") == "photo"
    assert default_noun("unknown-thing") == "photo"


def test_describe_names_the_source() -> None:
    text = WordList("color", "fruit", ["red", "green"], "llm-cache", "gpt-4o-mini").describe()
    assert "2 words" in text and "cached" in text and "gpt-4o-mini" in text
