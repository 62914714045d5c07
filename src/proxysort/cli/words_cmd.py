"""``proxysort words``: show the candidate words a sort would use, and where they came from.

Lets people check (and script) the word source before a long ``cluster`` run: words on stdout, one per
line or as JSON; the source (user, file, LLM, cache, lexicon, anchors) on stderr.
"""

from __future__ import annotations

import json

from proxysort.cli.common import cache_dir_for, get_env, reporter_for
from proxysort.cli.options import (
    CacheDirOpt,
    LlmOpt,
    NounOpt,
    OneByOpt,
    OneWordsFileOpt,
    OneWordsOpt,
    QuietOpt,
    WordsJsonOpt,
    WordsKOpt,
)


def words_command(
    by: OneByOpt,
    noun: NounOpt = None,
    words: OneWordsOpt = None,
    words_file: OneWordsFileOpt = None,
    llm: LlmOpt = None,
    k: WordsKOpt = None,
    json_output: WordsJsonOpt = False,
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Show the candidate words for a concept and where they came from (nothing is sorted)."""
    from proxysort.words import default_noun, get_words, split_words

    env = get_env()
    reporter = reporter_for(env, quiet)
    result = get_words(
        by,
        noun=noun or default_noun(by),
        words=split_words(words) if words else None,
        words_file=words_file,
        llm_model=llm,
        k=k,
        env=env,
        reporter=reporter,
        cache_dir=cache_dir_for(env, cache_dir),
    )
    reporter.message(f"{result.describe()}; prompt noun '{result.noun}'.")
    if json_output:
        record = {"concept": result.concept, "noun": result.noun, "words": result.words, "source": result.source, "detail": result.detail}
        env.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        env.stdout.write("".join(f"{word}\n" for word in result.words))
    env.stdout.flush()
