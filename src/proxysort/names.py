"""Every sanitiser of names: candidate words, and the folder names built from them.

Words come from users, files and LLMs and end up as folder names, so one module decides what is safe. It
imports nothing from the package, which keeps ``words`` → ``llm`` free of a circle (both need it).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

#: Characters that are never allowed in a word: path separators plus what Windows forbids in file names.
_FORBIDDEN = frozenset('/\\\x00<>:"|?*')
#: Device names Windows reserves in every folder: a cluster folder called "con" could not be created there.
_RESERVED = frozenset(["con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))])
_WS = re.compile(r"\s+")
#: Folder names are capped so that ``concept/cluster/file`` stays well inside PATH_MAX everywhere.
MAX_NAME_CHARS = 64
#: The most candidate words one concept may have. Words are a concept's *values* (a lexicon entry has a
#: dozen); every word is encoded by CLIP and scored against every photo in each learning step, so a list
#: of 200,000 words would run for hours without naming groups any better. Refused, not silently cut.
MAX_WORDS = 1000
_MAX_NAME_BYTES = 200


def _clean_one(raw: object, max_len: int) -> str | None:
    """One candidate → a safe lower-case word, or None when it cannot be made safe."""
    if not isinstance(raw, str):
        return None
    # NFC after lower(): lower() can emit combining marks, and NFC makes equal-looking words equal.
    word = unicodedata.normalize("NFC", raw.strip().lower())
    if any(ch in _FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in word):
        return None
    word = _WS.sub(" ", word).strip()
    if not word or len(word) > max_len or word.startswith(".") or ".." in word or word.endswith("."):
        return None
    if not any(ch.isalnum() for ch in word) or word.split(".")[0] in _RESERVED:
        return None
    return word


def sanitize_words(raw: Iterable[str], *, max_len: int = 32) -> list[str]:
    """Lower-case, stripped, de-duplicated (order kept) words that are safe as folder names.

    A word is dropped, not repaired, when it is empty, longer than ``max_len``, contains a path or
    control character, starts or ends with a dot, contains ``..``, has no letter or digit, or is a name
    Windows reserves (``con``, ``nul``, ...): silently rewriting ``../etc`` into ``etc`` would hide a
    broken source. Unicode letters are kept.
    """
    seen: set[str] = set()
    out: list[str] = []
    for item in raw:
        word = _clean_one(item, max_len)
        if word is not None and word not in seen:
            seen.add(word)
            out.append(word)
    return out


def distinct_count(raw: Iterable[str]) -> int:
    """How many different non-blank words ``raw`` holds (case-insensitive), cheaply: :func:`sanitize_words`
    costs ~60 µs a word, so a huge list is measured with this before it is sanitized."""
    return len({str(w).strip().lower() for w in raw} - {""})


def dropped_words(raw: Sequence[str]) -> list[str]:
    """The non-blank words :func:`sanitize_words` rejects, to tell the user what was ignored."""
    return [w for w in raw if str(w).strip() and _clean_one(w, 32) is None]


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A single, harmless path component for a concept or cluster name.

    Words may come from an LLM, so this is defense in depth even though the word sources sanitise too:
    no separators, NUL or control characters, no leading dot (hidden files, ``..``), at most 64 characters.
    """
    text = unicodedata.normalize("NFC", str(text))
    cleaned = "".join(
        "-" if ch in "/\\" or unicodedata.category(ch)[0] == "C" else ch for ch in text
    )
    cleaned = " ".join(cleaned.split())  # collapse whitespace runs, drop leading/trailing space
    cleaned = cleaned.lstrip(". -")
    cleaned = cleaned[:MAX_NAME_CHARS]
    while len(cleaned.encode("utf-8")) > _MAX_NAME_BYTES:
        cleaned = cleaned[:-1]
    cleaned = cleaned.rstrip(" .")
    return cleaned or fallback


def unique_names(names: Sequence[str], taken: set[str] | None = None, fallback: str = "unnamed") -> list[str]:
    """Sanitise each name and make them distinct, ignoring case (macOS and Windows folders ignore it)."""
    seen = {t.casefold() for t in (taken or set())}
    result = []
    for name in names:
        base = safe_name(name, fallback)
        candidate, n = base, 1
        while candidate.casefold() in seen:
            n += 1
            suffix = f"-{n}"
            candidate = base[: MAX_NAME_CHARS - len(suffix)] + suffix
        seen.add(candidate.casefold())
        result.append(candidate)
    return result


def numbered_names(concept: str, sizes: Sequence[int]) -> list[str]:
    """``person-1 … person-k`` for groups whose candidate words were random anchors, not values.

    An anchor ("lantern") says nothing about a group of faces; a folder named after it would claim a
    meaning that is not there. Numbers follow group size (``-1`` is the largest), ties by group order.
    """
    stem = "-".join(concept.split()) or "group"
    order = sorted(range(len(sizes)), key=lambda i: (-int(sizes[i]), i))
    names = [""] * len(sizes)
    for rank, i in enumerate(order, start=1):
        names[i] = f"{stem}-{rank}"
    return names
