"""``proxysort words`` through the real CLI, and the interactive accept/edit prompt."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proxysort.cli.wordprompt import confirm_words
from proxysort.env import Environment
from proxysort.lexicon import lookup
from proxysort.words import WordList
from tests.support.llm_stub import StubLLM, closed_port_url, direct_to_localhost, serve


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    direct_to_localhost(monkeypatch)


OFFLINE = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "PROXYSORT_LLM": ""}


def test_words_from_lexicon_one_per_line(run_cli) -> None:
    result = run_cli(["words", "--by", "colour"], extra_env=OFFLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == list(lookup("color").words)
    assert "offline lexicon" in result.stderr and "entry 'color'" in result.stderr


def test_words_json(run_cli) -> None:
    result = run_cli(["words", "--by", "species", "--noun", "fruit", "--json"], extra_env=OFFLINE)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["source"] == "lexicon" and record["noun"] == "fruit" and "banana" in record["words"]


def test_user_words_and_repeated_option(run_cli) -> None:
    result = run_cli(["words", "--by", "color", "--words", "Red,../x", "--words", "green", "-q"], extra_env=OFFLINE)
    assert result.exit_code == 0
    assert result.stdout == "red\ngreen\n"
    assert "../x" in result.stderr  # the dropped word is reported even with --quiet


def test_words_file_and_missing_file(run_cli, tmp_path: Path) -> None:
    file = tmp_path / "words.txt"
    file.write_text("tabby\nsiamese, persian\n")
    ok = run_cli(["words", "--by", "breed", "--words-file", str(file)], extra_env=OFFLINE)
    assert ok.stdout.splitlines() == ["tabby", "siamese", "persian"]
    missing = run_cli(["words", "--by", "breed", "--words-file", str(tmp_path / "nope.txt")], extra_env=OFFLINE)
    assert missing.exit_code == 6
    assert missing.stdout == "" and missing.stderr.count("\n") == 1 and "words file" in missing.stderr


def test_unusable_words_exit_with_usage_code(run_cli) -> None:
    result = run_cli(["words", "--by", "color", "--words", "../,/"], extra_env=OFFLINE)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_unknown_concept_warns_and_uses_anchors(run_cli) -> None:
    result = run_cli(["words", "--by", "smelliness", "--k", "12"], extra_env=OFFLINE)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 12
    assert "warning: no offline words for 'smelliness'" in result.stderr


def test_llm_via_stub_server_then_cache(run_cli) -> None:
    with serve(StubLLM(words=["Scarlet", "teal"])) as stub:
        variables = {"OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-test", "PROXYSORT_LLM": ""}
        first = run_cli(["words", "--by", "color", "--llm", "stub-model", "--json"], extra_env=variables)
        second = run_cli(["words", "--by", "color", "--llm", "stub-model", "--json"], extra_env=variables)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["words"] == ["scarlet", "teal"]
    assert [json.loads(r.stdout)["source"] for r in (first, second)] == ["llm", "llm-cache"]
    assert len(stub.requests) == 1


def test_llm_down_is_a_warning_not_a_traceback(run_cli) -> None:
    variables = {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-test", "PROXYSORT_LLM": ""}
    result = run_cli(["words", "--by", "weather"], extra_env=variables)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == list(lookup("weather").words)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("warning:") == 1 and "cannot reach the LLM" in result.stderr


# --- the interactive prompt -------------------------------------------------------------------------


def _env(stdin: str, interactive: bool = True) -> Environment:
    return Environment(
        stdin=io.StringIO(stdin),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=interactive,
        stderr_isatty=interactive,
        vars={},
    )


PROPOSED = WordList("color", "fruit", ["red", "green"], "lexicon", "entry 'color'")


def test_enter_accepts_the_proposal() -> None:
    env = _env("\n")
    assert confirm_words(PROPOSED, env) is PROPOSED
    shown = env.stderr.getvalue()
    assert "red, green" in shown and "Enter" in shown
    assert env.stdout.getvalue() == ""


def test_typed_list_replaces_the_proposal() -> None:
    env = _env(" Yellow, ORANGE ,yellow\n")
    result = confirm_words(PROPOSED, env)
    assert result.words == ["yellow", "orange"]
    assert (result.source, result.detail) == ("user", "edited from lexicon")
    assert (result.concept, result.noun) == ("color", "fruit")


def test_unusable_answer_asks_again() -> None:
    env = _env("../, /\nblue,pink\n")
    assert confirm_words(PROPOSED, env).words == ["blue", "pink"]
    assert "No usable words" in env.stderr.getvalue()


def test_end_of_input_accepts() -> None:
    assert confirm_words(PROPOSED, _env("")) is PROPOSED


def test_no_prompt_when_not_interactive_or_words_came_from_the_user() -> None:
    env = _env("blue\n", interactive=False)
    assert confirm_words(PROPOSED, env) is PROPOSED
    assert env.stderr.getvalue() == "" and env.stdin.read() == "blue\n"
    mine = WordList("color", "fruit", ["red"], "user")
    env = _env("blue\n")
    assert confirm_words(mine, env) is mine and env.stderr.getvalue() == ""
