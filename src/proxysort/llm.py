"""Candidate words from an LLM through the openai SDK, with a disk cache and graceful degradation.

Works with OpenAI and with local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) via
``OPENAI_BASE_URL``. Servers differ in what they accept, so the request degrades in steps: structured
output with a word-list JSON schema, then JSON mode (``{"type": "json_object"}``), then plain text parsed
leniently. Anything that stops us getting words (no key, network down, timeout, unknown model, a useless
answer) becomes :class:`LLMUnavailable`, which the caller turns into one warning and the offline lexicon:
sorting photos must never fail because a chat server is down.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from proxysort.names import MAX_WORDS, sanitize_words
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.env import Environment

#: A GPT-4-class model that is cheap and fast; any chat model name the server knows works.
DEFAULT_LLM_MODEL = "gpt-4o-mini"
#: Seconds for the whole exchange (every format tried, retries, reading the answer): the SDK's timeout is
#: per read, so a server trickling one byte every few seconds would never trip it. A word list is short,
#: and a hung server must not stall a sort for minutes. ``PROXYSORT_LLM_TIMEOUT`` overrides it.
TIMEOUT_S = 20.0
MAX_RETRIES = 1
#: An answer longer than this (characters) is not a word list; parsing a huge one would only waste time.
MAX_ANSWER_CHARS = 100_000
#: Fewer usable words than this means the answer is useless (one word cannot separate photos).
MIN_WORDS = 2
_OPENAI_URL = "https://api.openai.com/v1"
_CACHE_VERSION = 1

WORDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"words": {"type": "array", "items": {"type": "string"}}},
    "required": ["words"],
    "additionalProperties": False,
}


class LLMUnavailable(Exception):
    """No usable answer; ``str()`` is a sentence for the user, ``reason`` a short tag for details."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class LLMAnswer:
    words: list[str]
    cached: bool
    detail: str


def cache_key(concept: str, noun: str, model: str, k: int | None) -> str:
    """Stable across runs and platforms; the concept and noun are normalised so "Color" hits "color"."""
    payload = json.dumps([concept.strip().lower(), noun.strip().lower(), model, k], ensure_ascii=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _cache_file(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "llm" / f"{key}.json"


def _read_cache(path: Path) -> list[str] | None:
    """A cached word list, or None when absent or unreadable (then we simply ask again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or not isinstance(data.get("words"), list):
        return None
    words = sanitize_words(data["words"])
    return words if len(words) >= MIN_WORDS else None


def _write_cache(path: Path, record: dict[str, Any], reporter: Reporter) -> None:
    """Atomic write (temp file + rename) so a crash or a parallel run never leaves half a JSON file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except OSError as err:
        reporter.warning(f"could not cache the LLM answer in {path.parent}: {err.strerror or err}")


def build_messages(concept: str, noun: str, k: int | None) -> list[dict[str, str]]:
    """The chat prompt: values of the concept, short and visual, as JSON ``{"words": [...]}``."""
    how_many = f"{k}" if k else "8 to 12"
    subject = "Photos" if noun.lower() in ("photo", "image", "picture") else f"Photos of a {noun}"
    return [
        {
            "role": "system",
            "content": "You help sort photos by one visual attribute. Reply with JSON only, no prose.",
        },
        {
            "role": "user",
            "content": (
                f"{subject} will be grouped by their {concept}. List {how_many} distinct, common values "
                f"of '{concept}' that can be seen in such photos. Each value is one or two lower-case English "
                'words. Answer as {"words": ["...", "..."]}.'
            ),
        },
    ]


def _response_formats() -> list[tuple[str, dict[str, Any] | None]]:
    return [
        ("json_schema", {"type": "json_schema", "json_schema": {"name": "word_list", "strict": True, "schema": WORDS_SCHEMA}}),
        ("json_object", {"type": "json_object"}),
        ("text", None),
    ]


def _strings_in(value: Any) -> list[str] | None:
    """The word list inside a parsed answer: ``{"words": [...]}``, a bare list, or the first list value."""
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    if isinstance(value, dict):
        if "words" in value:
            return _strings_in(value["words"])
        for item in value.values():
            if isinstance(item, list):
                return _strings_in(item)
    return None


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def parse_answer(content: str) -> list[str]:
    """Raw candidate strings from the model's text: JSON (possibly fenced or surrounded by prose), else
    a list written one per line or comma-separated, with bullets, numbering and quotes removed."""
    text = content.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    candidates = [text]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            found = _strings_in(json.loads(candidate))
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
            continue
        if found is not None:
            return found
    parts = [part for line in text.splitlines() for part in line.split(",")]
    return [_BULLET.sub("", p).strip().strip("\"'`").strip() for p in parts]


def _describe_error(err: Exception, base_url: str) -> LLMUnavailable:
    import openai

    where = base_url.rstrip("/")
    if isinstance(err, openai.APITimeoutError):
        return LLMUnavailable(f"the LLM at {where} did not answer in time.", "timeout")
    if isinstance(err, openai.APIConnectionError):
        return LLMUnavailable(f"cannot reach the LLM at {where} (check OPENAI_BASE_URL and the network).", "no connection")
    if isinstance(err, openai.AuthenticationError):
        return LLMUnavailable(f"the LLM at {where} rejected the API key (check OPENAI_API_KEY).", "bad key")
    if isinstance(err, openai.NotFoundError):
        return LLMUnavailable(f"the LLM at {where} does not know that model (choose one with `llm_model`).", "unknown model")
    if isinstance(err, openai.RateLimitError):
        return LLMUnavailable(f"the LLM at {where} refused for rate limit or quota.", "rate limit")
    if isinstance(err, openai.APIStatusError):
        return LLMUnavailable(f"the LLM at {where} answered HTTP {err.status_code}.", f"HTTP {err.status_code}")
    return LLMUnavailable(f"the LLM at {where} failed: {type(err).__name__}.", type(err).__name__)


def _content(response: Any, model: str) -> str:
    """The assistant's text; a server that answers 200 with something else is as useless as a 500."""
    try:
        message = response.choices[0].message
        refusal, content = getattr(message, "refusal", None), message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise LLMUnavailable(f"the LLM ({model}) sent an answer that is not a chat completion.", "bad answer") from None
    if refusal or not isinstance(content, str) or not content.strip():
        raise LLMUnavailable(f"the LLM ({model}) gave no word list.", "empty answer")
    if len(content) > MAX_ANSWER_CHARS:
        raise LLMUnavailable(f"the LLM ({model}) sent {len(content)} characters, far too long for a word list.", "answer too long")
    return content


def _request(client: Any, model: str, messages: list[dict[str, str]], base_url: str) -> tuple[list[str], str]:
    """Try each response format until the server accepts one; returns (raw words, format used).

    A 400 that blames ``temperature`` (reasoning models accept only the default) retries the same format
    without it, so those models are not mistaken for servers without schema support.
    """
    import openai

    rejected = (openai.BadRequestError, openai.UnprocessableEntityError)
    settings: dict[str, Any] = {"temperature": 0}
    last: Exception | None = None
    for name, fmt in _response_formats():
        extra = {"response_format": fmt} if fmt is not None else {}
        while True:
            try:
                response = client.chat.completions.create(model=model, messages=messages, **settings, **extra)
            except rejected as err:
                last = err
                if "temperature" in settings and "temperature" in str(err).lower():
                    settings.pop("temperature")
                    continue
                break  # this server does not support the format: try the next, simpler one
            except openai.OpenAIError as err:
                raise _describe_error(err, base_url) from None
            return parse_answer(_content(response, model)), name
    assert last is not None
    raise _describe_error(last, base_url)


def timeout_for(env: "Environment") -> float:
    """The total deadline in seconds: ``PROXYSORT_LLM_TIMEOUT`` when it is a positive number, else :data:`TIMEOUT_S`."""
    try:
        value = float(env.get("PROXYSORT_LLM_TIMEOUT") or TIMEOUT_S)
    except ValueError:
        return TIMEOUT_S
    return value if 0 < value < float("inf") else TIMEOUT_S


def _within(deadline_s: float, work: Callable[[], Any], on_late: Callable[[], None], where: str) -> Any:
    """``work()`` in a daemon thread, waited for at most ``deadline_s`` seconds in all.

    The SDK cannot enforce a total deadline (its timeout restarts with every byte read), so the request
    runs beside us; when time is up, ``on_late`` closes its connections and the thread is abandoned (a
    daemon, it never keeps the process alive). Any exception it raised is re-raised here, and anything
    that is not an :class:`LLMUnavailable` (an answer that crashes the SDK's parser, a recursion error on
    deeply nested JSON) becomes one, so the caller always gets the offline words with one warning.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # noqa: BLE001 - carried to the caller's thread, converted below
            box["error"] = err

    thread = threading.Thread(target=run, name="proxysort-llm", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if thread.is_alive():
        on_late()
        raise LLMUnavailable(f"the LLM at {where} did not answer within {deadline_s:g} s.", "timeout")
    err = box.get("error")
    if err is None:
        return box["value"]
    if isinstance(err, LLMUnavailable):
        raise err
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        raise err
    raise LLMUnavailable(f"the LLM at {where} sent an answer that could not be read ({type(err).__name__}).", "bad answer")


def ask_words(
    concept: str,
    noun: str,
    *,
    model: str,
    k: int | None,
    env: "Environment",
    cache_dir: Path,
    reporter: Reporter | None = None,
    timeout_s: float | None = None,
) -> LLMAnswer:
    """Sanitized candidate words for ``concept`` from ``model``, from the disk cache when asked before.

    ``timeout_s`` bounds the whole exchange (default: :func:`timeout_for` ``env``). Raises
    :class:`LLMUnavailable` (never an SDK exception) when no usable words can be had in that time.
    """
    reporter = reporter or Reporter()
    path = _cache_file(cache_dir, cache_key(concept, noun, model, k))
    cached = _read_cache(path)
    if cached is not None:
        return LLMAnswer(cached, True, model)

    base_url = env.get("OPENAI_BASE_URL") or _OPENAI_URL
    api_key = env.get("OPENAI_API_KEY")
    if api_key is None:
        if base_url == _OPENAI_URL:
            raise LLMUnavailable("no OPENAI_API_KEY is set, so the LLM cannot be asked.", "no key")
        api_key = "unused"  # local servers (Ollama, llama.cpp) ignore the key, but the SDK requires one
    try:
        import openai
    except ImportError:
        raise LLMUnavailable("the openai package is not installed.", "no openai package") from None

    deadline = timeout_s if timeout_s is not None else timeout_for(env)
    client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=deadline, max_retries=MAX_RETRIES)
    reporter.message(f"asking {model} for '{concept}' words ...")
    messages = build_messages(concept, noun, k)
    try:
        raw, fmt = _within(deadline, lambda: _request(client, model, messages, base_url), client.close, base_url.rstrip("/"))
    finally:
        client.close()
    if len(raw) > MAX_WORDS:
        raise LLMUnavailable(f"the LLM ({model}) answered with {len(raw)} words, more than the {MAX_WORDS} proxysort can use.", "too many words")
    words = sanitize_words(raw)
    if len(words) < MIN_WORDS:
        raise LLMUnavailable(f"the LLM ({model}) answered without usable words.", "no usable words")
    record = {"version": _CACHE_VERSION, "concept": concept, "noun": noun, "model": model, "k": k, "format": fmt, "words": words}
    _write_cache(path, record, reporter)
    return LLMAnswer(words, False, f"{model}, {fmt}")
