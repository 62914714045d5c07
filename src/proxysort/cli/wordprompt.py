"""Let a person at a terminal accept or edit the proposed candidate words before a long run.

Words from an LLM or the lexicon are a guess; one look before minutes of proxy learning is cheap. Only
when stdin and stderr are terminals (``env.interactive``) and the words were not typed by the user already:
pipelines and scripts must never block on a prompt.
"""

from __future__ import annotations

import dataclasses

from proxysort.env import Environment
from proxysort.words import WordList, sanitize_words, split_words

#: Sources the user wrote themselves: asking them to confirm their own list would only be noise.
_USER_SOURCES = ("user", "file")


def will_ask(wordlist: WordList, env: Environment) -> bool:
    """True when :func:`confirm_words` will show these words and wait for an answer."""
    return bool(env.interactive) and wordlist.source not in _USER_SOURCES


def confirm_words(wordlist: WordList, env: Environment) -> WordList:
    """Show the proposed words on stderr; Enter accepts, a comma-separated list replaces them.

    Returns ``wordlist`` unchanged when nobody can answer (not interactive), when the words came from
    the user, on an empty answer, or at end of input. An answer with no usable word asks again.
    """
    if not will_ask(wordlist, env):
        return wordlist
    err = env.stderr
    err.write(f"Candidate {wordlist.describe()}:\n  {', '.join(wordlist.words)}\n")
    while True:
        err.write("Press Enter to use them, or type your own comma-separated list: ")
        err.flush()
        answer = env.stdin.readline()
        if not answer.strip():  # Enter, or end of input
            if not answer:
                err.write("\n")
            return wordlist
        words = sanitize_words(split_words([answer]))
        if words:
            return dataclasses.replace(wordlist, words=words, source="user", detail=f"edited from {wordlist.source}")
        err.write("No usable words in that list (use letters or digits, separated by commas).\n")
