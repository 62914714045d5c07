"""The LLM word source: real openai SDK calls against a stub server on 127.0.0.1, format fallbacks,
the disk cache, and graceful degradation to the offline lexicon."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proxysort import llm
from proxysort.env import Environment
from proxysort.lexicon import lookup
from proxysort.progress import Reporter
from proxysort.words import get_words
from tests.support.llm_stub import StubLLM, closed_port_url, direct_to_localhost, serve


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    direct_to_localhost(monkeypatch)


class Recorder(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.messages: list[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)

    def message(self, text: str) -> None:
        self.messages.append(text)


def _env(**variables: str) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), vars=variables)


def _ask(stub_url: str, cache: Path, *, concept: str = "color", model: str | None = "stub-model", k: int | None = None, **variables: str):
    rec = Recorder()
    env = _env(OPENAI_BASE_URL=stub_url, OPENAI_API_KEY="sk-test", **variables)
    result = get_words(concept, noun="fruit", llm_model=model, k=k, env=env, reporter=rec, cache_dir=cache)
    return result, rec


def test_structured_output_path(tmp_path: Path) -> None:
    with serve(StubLLM(words=["Red", "green", "Blue", "red"])) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.words == ["red", "green", "blue"]
    assert result.source == "llm" and "stub-model" in result.detail
    assert rec.warnings == []
    assert stub.formats() == ["json_schema"]
    request = stub.requests[0]
    assert request["model"] == "stub-model"
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["words"]["type"] == "array" and schema["required"] == ["words"]
    assert "color" in request["messages"][-1]["content"] and "fruit" in request["messages"][-1]["content"]
    assert stub.headers[0]["authorization"] == "Bearer sk-test"


def test_server_without_schemas_falls_back_to_json_mode(tmp_path: Path) -> None:
    with serve(StubLLM(words=["yellow", "purple"], reject=("json_schema",))) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert stub.formats() == ["json_schema", "json_object"]
    assert result.words == ["yellow", "purple"] and result.source == "llm"
    assert "json_object" in result.detail
    assert rec.warnings == []


def test_server_without_any_response_format_gets_plain_text_parsed(tmp_path: Path) -> None:
    content = "Sure! Here are some colors:\n1. Crimson\n2. Teal\n- olive, navy\n"
    with serve(StubLLM(content=content, reject=("json_schema", "json_object"))) as stub:
        result, _ = _ask(stub.base_url, tmp_path)
    assert stub.formats() == ["json_schema", "json_object", "none"]
    assert result.words[-4:] == ["crimson", "teal", "olive", "navy"]


def test_model_that_rejects_temperature_keeps_structured_output(tmp_path: Path) -> None:
    with serve(StubLLM(words=["red", "green"], reject_temperature=True)) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.source == "llm" and rec.warnings == []
    assert stub.formats() == ["json_schema", "json_schema"]
    assert "temperature" in stub.requests[0] and "temperature" not in stub.requests[1]


def test_non_chat_answer_falls_back(tmp_path: Path) -> None:
    with serve(StubLLM(html="<html>proxy login</html>")) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.source == "lexicon"
    assert len(rec.warnings) == 1 and "not a chat completion" in rec.warnings[0]


def test_json_mode_answer_with_another_key_or_fences_is_understood(tmp_path: Path) -> None:
    fenced = '```json\n{"colors": ["amber", "jade"]}\n```'
    with serve(StubLLM(content=fenced)) as stub:
        result, _ = _ask(stub.base_url, tmp_path)
    assert result.words == ["amber", "jade"]


def test_cache_hit_avoids_a_second_request_and_keys_on_k(tmp_path: Path) -> None:
    with serve(StubLLM(words=["red", "green"])) as stub:
        first, _ = _ask(stub.base_url, tmp_path)
        second, _ = _ask(stub.base_url, tmp_path, concept="  Color ")
        assert len(stub.requests) == 1
        assert (first.source, second.source) == ("llm", "llm-cache")
        assert second.words == first.words
        files = list((tmp_path / "llm").glob("*.json"))
        assert len(files) == 1 and json.loads(files[0].read_text())["words"] == ["red", "green"]
        _ask(stub.base_url, tmp_path, k=5)  # a different k is a different question
        assert len(stub.requests) == 2
        assert "5" in stub.requests[1]["messages"][-1]["content"]


def test_corrupt_cache_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    key = llm.cache_key("color", "fruit", "stub-model", None)
    path = tmp_path / "llm" / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with serve(StubLLM(words=["red", "green"])) as stub:
        result, _ = _ask(stub.base_url, tmp_path)
    assert result.source == "llm" and len(stub.requests) == 1
    assert json.loads(path.read_text())["words"] == ["red", "green"]


def test_hostile_llm_answer_becomes_safe_distinct_words(tmp_path: Path) -> None:
    hostile = ["../x", "/", "", "a" * 200, "Rouge", "rouge", "grün", "a\x00b", "new\nline", ".hidden", "..", "RED", "red", "  blue  ", 7, None]
    with serve(StubLLM(words=hostile)) as stub:
        result, _ = _ask(stub.base_url, tmp_path)
    assert result.words == ["rouge", "grün", "red", "blue", "7"]


def test_server_down_falls_back_to_lexicon_with_one_warning(tmp_path: Path) -> None:
    result, rec = _ask(closed_port_url(), tmp_path)
    assert result.source == "lexicon"
    assert result.words == list(lookup("color").words)
    assert "LLM unavailable" in result.detail
    assert len(rec.warnings) == 1 and "cannot reach the LLM" in rec.warnings[0] and "offline" in rec.warnings[0]
    assert not (tmp_path / "llm").exists()


def test_no_key_falls_back_without_any_request(tmp_path: Path) -> None:
    rec = Recorder()
    result = get_words("weather", llm_model="gpt-4o-mini", env=_env(), reporter=rec, cache_dir=tmp_path)
    assert result.source == "lexicon"
    assert len(rec.warnings) == 1 and "OPENAI_API_KEY" in rec.warnings[0]


@pytest.mark.parametrize(("status", "expected"), [(401, "API key"), (404, "does not know that model"), (500, "HTTP 500")])
def test_http_errors_fall_back_with_a_specific_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, expected: str) -> None:
    monkeypatch.setattr(llm, "MAX_RETRIES", 0)
    with serve(StubLLM(status=status)) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.source == "lexicon"
    assert len(rec.warnings) == 1 and expected in rec.warnings[0]


def test_timeout_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm, "TIMEOUT_S", 0.3)
    monkeypatch.setattr(llm, "MAX_RETRIES", 0)
    with serve(StubLLM(delay=2.0)) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.source == "lexicon"
    assert len(rec.warnings) == 1 and "did not answer" in rec.warnings[0]


def test_answer_without_usable_words_falls_back(tmp_path: Path) -> None:
    with serve(StubLLM(words=["../..", "/", ""])) as stub:
        result, rec = _ask(stub.base_url, tmp_path)
    assert result.source == "lexicon" and "usable words" in rec.warnings[0]
    assert not (tmp_path / "llm").exists()


def test_llm_is_used_automatically_when_an_endpoint_is_configured(tmp_path: Path) -> None:
    with serve(StubLLM(words=["red", "green"])) as stub:
        result, _ = _ask(stub.base_url, tmp_path, model=None)
        assert result.source == "llm" and stub.requests[0]["model"] == llm.DEFAULT_LLM_MODEL
        _ask(stub.base_url, tmp_path / "other", model=None, PROXYSORT_LLM="my-local-model")
        assert stub.requests[1]["model"] == "my-local-model"
        off, _ = _ask(stub.base_url, tmp_path / "third", model=None, PROXYSORT_LLM="off")
        explicit_off, _ = _ask(stub.base_url, tmp_path / "fourth", model="off")
        identity, _ = _ask(stub.base_url, tmp_path / "fifth", model=None, concept="which person")
        assert len(stub.requests) == 2
    assert (off.source, explicit_off.source, identity.source) == ("lexicon", "lexicon", "anchors")


def test_no_endpoint_configured_means_offline(tmp_path: Path) -> None:
    rec = Recorder()
    result = get_words("color", llm_model="", env=_env(), reporter=rec, cache_dir=tmp_path)
    assert result.source == "lexicon" and rec.warnings == []


def test_model_named_in_the_environment_without_a_key_warns(tmp_path: Path) -> None:
    rec = Recorder()
    result = get_words("color", env=_env(PROXYSORT_LLM="gpt-4o"), reporter=rec, cache_dir=tmp_path)
    assert result.source == "lexicon"
    assert len(rec.warnings) == 1 and "OPENAI_API_KEY" in rec.warnings[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"words": ["a", "b"]}', ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ('Here you go: {"words": ["a", "b"]} enjoy', ["a", "b"]),
        ("```\n[\"a\", \"b\"]\n```", ["a", "b"]),
        ('{"values": ["a", 2, true, null]}', ["a", "2"]),
        ("* a\n* b\n3) c", ["a", "b", "c"]),
        ('"a", "b", `c`', ["a", "b", "c"]),
    ],
)
def test_parse_answer(content: str, expected: list[str]) -> None:
    assert llm.parse_answer(content) == expected


def test_cache_key_is_stable_and_normalised() -> None:
    assert llm.cache_key("Color ", "Fruit", "m", None) == llm.cache_key("color", "fruit", "m", None)
    assert llm.cache_key("color", "fruit", "m", None) != llm.cache_key("color", "fruit", "m2", None)
    assert llm.cache_key("color", "fruit", "m", 3) != llm.cache_key("color", "fruit", "m", None)


def test_prompt_names_concept_noun_and_count() -> None:
    text = llm.build_messages("color", "fruit", 6)[-1]["content"]
    assert "Photos of a fruit" in text and "their color" in text and "List 6 " in text and '"words"' in text
    plain = llm.build_messages("weather", "photo", None)[-1]["content"]
    assert plain.startswith("Photos will be grouped by their weather") and "8 to 12" in plain


# -- hostile answers (issue 14): each falls back to the offline words with one warning, in bounded time


def _nested(depth: int) -> str:
    return '{"words": ' * depth + '["red", "blue"]' + "}" * depth


@pytest.mark.parametrize(
    "kind",
    ["garbage-bytes-as-json", "deeply-nested-body", "deeply-nested-content", "100000-words", "trickle"],
)
def test_hostile_answers_fall_back_with_one_warning_in_bounded_time(tmp_path: Path, kind: str) -> None:
    import random
    import time

    rng = random.Random(14)
    stub = {
        "garbage-bytes-as-json": StubLLM(raw=bytes(rng.randrange(256) for _ in range(5000))),
        "deeply-nested-body": StubLLM(raw=b'{"choices": ' * 100_000 + b"[]" + b"}" * 100_000),
        "deeply-nested-content": StubLLM(content=_nested(100_000)),
        "100000-words": StubLLM(words=[f"w{i}" for i in range(100_000)]),
        # one byte every 0.5 s: each read arrives long before a per-read timeout, the whole never does
        "trickle": StubLLM(trickle=0.5),
    }[kind]
    with serve(stub) as stub:
        started = time.monotonic()
        result, rec = _ask(stub.base_url, tmp_path, PROXYSORT_LLM_TIMEOUT="3")
        took = time.monotonic() - started
    assert result.source == "lexicon" and result.words == list(lookup("color").words), kind
    assert len(rec.warnings) == 1 and "offline" in rec.warnings[0], rec.warnings
    assert took < 30, took  # a bound, not a speed bar: the old code never returned for "trickle"
    assert not (tmp_path / "llm").exists()



def test_llm_timeout_setting() -> None:
    assert llm.timeout_for(_env(PROXYSORT_LLM_TIMEOUT="2.5")) == 2.5
    assert llm.timeout_for(_env(PROXYSORT_LLM_TIMEOUT="nonsense")) == llm.TIMEOUT_S
    assert llm.timeout_for(_env(PROXYSORT_LLM_TIMEOUT="-1")) == llm.TIMEOUT_S
    assert llm.timeout_for(_env()) == llm.TIMEOUT_S
