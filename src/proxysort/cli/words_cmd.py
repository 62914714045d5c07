"""``proxysort words``: show the candidate words a sort would use, and where they came from.

Lets people check (and script) the word source before a long ``cluster`` run: words on stdout, one per
line or as JSON; the source (user, file, LLM, cache, lexicon, anchors) on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from proxysort.cli.app import app, get_env, handle_errors
from proxysort.cli.common import cache_dir_for, reporter_for
from proxysort.cli.options import CacheDirOpt, QuietOpt

ByOpt = Annotated[str, typer.Option("--by", help="The concept to sort by, e.g. color, species, pose, person.")]
NounOpt = Annotated[
    Optional[str],
    typer.Option("--noun", help="What the photos show, used in the prompt ('fruit'); default depends on the concept."),
]
WordsOpt = Annotated[
    Optional[List[str]],
    typer.Option("--words", help="Candidate words, comma-separated (repeatable); skips every other source."),
]
WordsFileOpt = Annotated[
    Optional[Path],
    typer.Option("--words-file", help="A text file of candidate words, one per line or comma-separated.", dir_okay=False),
]
LlmOpt = Annotated[
    Optional[str],
    typer.Option(
        "--llm",
        help="Ask this chat model (openai SDK; OPENAI_API_KEY, OPENAI_BASE_URL for local servers) for words; "
        "'off' stays offline. Default: $PROXYSORT_LLM, else gpt-4o-mini when OPENAI_API_KEY or OPENAI_BASE_URL "
        "is set, else offline.",
    ),
]
KOpt = Annotated[Optional[int], typer.Option("--k", min=1, help="Number of groups wanted: how many words to ask an LLM for.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with the words, source and detail.")]


@app.command("words")
@handle_errors
def words_command(
    by: ByOpt,
    noun: NounOpt = None,
    words: WordsOpt = None,
    words_file: WordsFileOpt = None,
    llm: LlmOpt = None,
    k: KOpt = None,
    json_output: JsonOpt = False,
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
