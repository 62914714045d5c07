"""Candidate words for a concept, from the best source available, always safe to use as folder names.

The method needs a handful of words naming the values a concept can take ("red, green, ..." for
"color"). They come, in this order, from: the user (``words``), a file (``words_file``), an LLM through
the openai SDK, the offline lexicon, and finally random CLIP-vocabulary anchors for concepts whose values
are not words (identity) or that nothing else knows. Every source goes through :func:`sanitize_words`,
because the words later become folder names and prompt text: an LLM answering ``../x`` must not be able
to escape the output folder.

When is the LLM asked? When ``llm_model`` (``--llm``) or ``PROXYSORT_LLM`` names a model, or, with
:data:`~proxysort.llm.DEFAULT_LLM_MODEL`, when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set: someone
who configured an endpoint wants it used, and answers are cached on disk, so it costs one request per
concept. ``off`` (as ``llm_model`` or ``PROXYSORT_LLM``) keeps everything offline. Identity-like concepts
skip the LLM unless ``llm_model`` names one: their values are not words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from proxysort import lexicon
from proxysort.errors import InputError, UsageError
from proxysort.names import MAX_WORDS, distinct_count, dropped_words, sanitize_words
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.env import Environment

#: ``llm_model`` / ``PROXYSORT_LLM`` values that disable the LLM.
LLM_OFF = ("off", "none", "no", "false", "0")
#: How many anchors to use when ``k`` is not given (Multi-MaP used ten random words).
DEFAULT_ANCHORS = 10
_WS = re.compile(r"\s+")


@dataclass
class WordList:
    """Words for one concept and where they came from, so the CLI can tell the user."""

    concept: str
    noun: str
    words: list[str]
    #: "user" | "file" | "llm" | "llm-cache" | "lexicon" | "anchors"
    source: str
    #: e.g. the model name, the lexicon entry matched, why a fallback happened
    detail: str = ""

    def describe(self) -> str:
        """One line for stderr saying where the words came from."""
        where = {
            "user": "your list",
            "file": "words file",
            "llm": "LLM",
            "llm-cache": "LLM (cached answer)",
            "lexicon": "offline lexicon",
            "anchors": "random CLIP-vocabulary anchors",
        }.get(self.source, self.source)
        extra = f" ({self.detail})" if self.detail else ""
        return f"{len(self.words)} words for '{self.concept}' from {where}{extra}"


def default_noun(concept: str) -> str:
    """The noun for the prompt template when the user gives none (``"animal"`` for species, ...)."""
    entry = lexicon.lookup(concept)
    if entry is not None:
        return entry.noun
    return "person" if lexicon.is_identity_like(concept) else "photo"


def split_words(values: Iterable[str]) -> list[str]:
    """``["red,green", "blue"]`` → ``["red", "green", "blue"]``: how ``--words`` and prompts are typed."""
    return [part for value in values for part in value.split(",")]


#: A words file holds at most MAX_WORDS short words and comments: anything larger is not one.
WORDS_FILE_MAX_BYTES = 4 << 20


def read_words_file(path: Path) -> list[str]:
    """Words from a text file: one per line or comma-separated; ``#`` starts a comment.

    Read bounded and without blocking (:func:`~proxysort.safeopen.read_limited`): a FIFO, a device or a
    disk image given by mistake is one sentence, not a hang or every byte of memory.
    """
    from proxysort.safeopen import read_limited

    try:
        text = read_limited(Path(path).expanduser(), WORDS_FILE_MAX_BYTES).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise InputError(f"cannot read the words file {path}: {reason}.") from None
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return split_words(lines)


def _checked(raw: Sequence[str], origin: str, reporter: Reporter, param: str = "words") -> list[str]:
    """Sanitize words a person wrote, telling them what was dropped and refusing an empty result or more
    than :data:`~proxysort.names.MAX_WORDS` words (``param`` names where they came from)."""
    n = distinct_count(raw)
    if n > MAX_WORDS:
        raise UsageError(
            f"`{param}` gives {n} different candidate words, more than the {MAX_WORDS} proxysort can use for one "
            "concept (each is scored against every photo); keep the likely values of the concept."
        )
    words = sanitize_words(raw)
    dropped = dropped_words(raw)
    if dropped:
        shown = ", ".join(repr(w) for w in dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        reporter.warning(f"ignored {len(dropped)} unusable word(s) {origin}: {shown}")
    if not words:
        raise UsageError(f"no usable candidate words {origin}; give words of letters or digits, separated by commas.")
    if len(words) == 1:
        reporter.warning(f"only one candidate word ('{words[0]}'): it cannot separate photos; give at least two.")
    return words


def _llm_choice(llm_model: str | None, env: "Environment", identity: bool) -> str | None:
    """The model to ask, or None when the LLM should not be used (see the module docstring)."""
    from proxysort.llm import DEFAULT_LLM_MODEL

    if llm_model is not None and llm_model.strip():
        return None if llm_model.strip().lower() in LLM_OFF else llm_model.strip()
    named = (env.get("PROXYSORT_LLM") or "").strip()
    if named.lower() in LLM_OFF or identity:
        return None
    if named:
        return named
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        return DEFAULT_LLM_MODEL
    return None


def _offline(concept: str, noun: str, k: int | None, reporter: Reporter, why: str = "") -> WordList:
    """Lexicon when it knows the concept, otherwise vocabulary anchors."""
    entry = lexicon.lookup(concept, noun)
    prefix = f"{why}; " if why else ""
    if entry is not None:
        return WordList(concept, noun, list(entry.words), "lexicon", f"{prefix}entry '{entry.name}'")
    # k beyond the vocabulary (or beyond any photo count) is refused once the photos are counted; the
    # anchors only need to be enough words, and never more than there are.
    n = min(max(k or 0, DEFAULT_ANCHORS), MAX_WORDS)
    anchors = lexicon.vocab_anchors(n)
    if lexicon.is_identity_like(concept):
        return WordList(concept, noun, anchors, "anchors", f"{prefix}'{concept}' has no word values")
    reporter.warning(
        f"no offline words for '{concept}'; using {n} random anchor words. "
        "Give `words`, `words_file` or `llm_model` for better groups."
    )
    return WordList(concept, noun, anchors, "anchors", f"{prefix}'{concept}' is not in the lexicon")


def get_words(
    concept: str,
    *,
    noun: str = "photo",
    words: Sequence[str] | None = None,
    words_file: Path | None = None,
    llm_model: str | None = None,
    k: int | None = None,
    env: "Environment | None" = None,
    reporter: Reporter | None = None,
    cache_dir: Path | None = None,
) -> WordList:
    """Candidate words for ``concept`` from the best available source (see the module docstring).

    ``k`` is the number of groups the caller wants, when known: the LLM is asked for that many values
    and at least that many anchors are drawn; user words and lexicon lists are returned whole, because
    cutting them could drop the right value. Network trouble never raises: one warning, then offline.
    """
    reporter = reporter or Reporter()
    concept = _WS.sub(" ", concept).strip()
    noun = _WS.sub(" ", noun).strip() or "photo"
    if not concept:
        raise UsageError("the concept is empty; name what to sort by, e.g. `by` color.")
    if k is not None and k < 1:
        raise UsageError(f"k must be at least 1, not {k}.")
    if words is not None:
        raw = split_words([words]) if isinstance(words, str) else list(words)
        return WordList(concept, noun, _checked(raw, "in `words`", reporter), "user")
    if words_file is not None:
        raw = read_words_file(words_file)
        return WordList(concept, noun, _checked(raw, f"in {words_file}", reporter, "words_file"), "file", str(words_file))

    if env is None:
        from proxysort.env import Environment

        env = Environment()
    model = _llm_choice(llm_model, env, lexicon.is_identity_like(concept))
    if model is None:
        return _offline(concept, noun, k, reporter)
    from proxysort import llm

    try:
        answer = llm.ask_words(concept, noun, model=model, k=k, env=env, cache_dir=cache_dir or env.cache_dir, reporter=reporter)
    except llm.LLMUnavailable as err:
        reporter.warning(f"{err} Using offline words instead.")
        return _offline(concept, noun, k, reporter, why=f"LLM unavailable: {err.reason}")
    return WordList(concept, noun, answer.words, "llm-cache" if answer.cached else "llm", answer.detail)
