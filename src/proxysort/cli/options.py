"""Every command-line option, declared once: commands share these ``Annotated`` types.

Environment defaults (``PROXYSORT_MODEL``, ``PROXYSORT_PRETRAINED``, ``PROXYSORT_DEVICE``,
``PROXYSORT_CACHE_DIR``) are not read by Typer: the options default to None and :mod:`proxysort.cli.common`
fills them from the injected :class:`~proxysort.env.Environment`, the only reader of the process
environment. The help text still names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Literal, Optional

import typer

from proxysort.cli.formats import FORMATS
from proxysort.encoders import DEFAULT_MODEL, DEFAULT_PRETRAINED
from proxysort.output import LINK_MODES
from proxysort.proxy import DEFAULT_EPOCHS, DEFAULT_FEATURE, DEFAULT_MODE, DEFAULT_ROUNDS, FEATURES, MODES

# -- model and cache (every command that embeds or reads the cache) --------------------------------------

ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model", metavar="NAME|CONFIG.json",
        help="open_clip model name, or a path to an open_clip model-config JSON.  "
        f"[env var: PROXYSORT_MODEL; default: {DEFAULT_MODEL}]",
        show_default=False,
    ),
]
PretrainedOpt = Annotated[
    Optional[str],
    typer.Option(
        "--pretrained", metavar="TAG|FILE|none",
        help="open_clip weights tag (downloaded once), a local weights file, or 'none' for random weights.  "
        f"[env var: PROXYSORT_PRETRAINED; default: {DEFAULT_PRETRAINED}]",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--device", metavar="auto|cpu|cuda", help="auto (CUDA when present), cpu or cuda.  [env var: PROXYSORT_DEVICE; default: auto]",
        show_default=False,
    ),
]
CacheDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--cache-dir", metavar="DIR",
        help="Where vectors are cached (default: the platform's user cache folder).  [env var: PROXYSORT_CACHE_DIR]",
        # Not checked here: a cache path that is a file or unreadable is the library's CacheError (exit 5,
        # one sentence), and `words` without an LLM never touches the cache at all.
        readable=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail (exit 3) when any photo had to be skipped.")]

# -- sources --------------------------------------------------------------------------------------------

SourceArg = Annotated[
    str,
    typer.Argument(
        help="The photo folder, or '-' to read image paths from stdin (one per line, or NUL-separated).",
        metavar="DIR|-",
        show_default=False,
    ),
]
IndexSourcesArg = Annotated[
    List[Path],
    typer.Argument(
        help="Photo folder(s) to index recursively, image files, or '-' to read one path per line from stdin.",
        metavar="DIR",
        show_default=False,
    ),
]
FolderArg = Annotated[Path, typer.Argument(help="The photo folder to report on.", metavar="DIR", show_default=False)]
ExcludeOpt = Annotated[
    Optional[List[Path]], typer.Option("--exclude", help="A folder to leave out (repeatable).", file_okay=False, metavar="DIR")
]
IncludeHiddenOpt = Annotated[
    bool,
    typer.Option("--include-hidden", help="Also index hidden folders and files (names starting with '.'), e.g. a hidden album."),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="List every skipped file on its own line (else a reason shared by many is one line with a count)."
    ),
]
IndexStrictOpt = Annotated[
    bool, typer.Option("--strict", help="Treat any skipped file as an error (message + exit code 3).")
]
BatchSizeOpt = Annotated[
    Optional[int], typer.Option("--batch-size", metavar="N", min=1, help="Images per model forward pass (default: 32 CPU, 128 GPU).")
]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", metavar="N", min=1, help="Decoding threads (default: CPU count, 2 to 8).")]
RayOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run the heavy stages (decoding, embedding, proxy learning) on a Ray cluster: auto (the one this "
        "machine belongs to), local (a new one for this run) or HOST:PORT of its head. Needs proxysort[ray] on every node and the "
        "photos at the same path everywhere (README: Large archives).",
    ),
]

# -- concepts and words -----------------------------------------------------------------------------------

def complete_concept(incomplete: str) -> list[str]:
    """``--by`` completion: the offline lexicon's concepts (a stdlib-only module, so completion stays instant)."""
    from proxysort.lexicon import ENTRIES

    return [e.name for e in ENTRIES if e.name.startswith(incomplete.lower())]


#: ``cluster``/``eval`` sort by one or more concepts; ``words`` shows the words of one.
ByOpt = Annotated[
    List[str],
    typer.Option("--by", metavar="CONCEPT", autocompletion=complete_concept, help="A concept to sort by (color, species, pose, person, ...). Repeat for several."),
]
OneByOpt = Annotated[str, typer.Option("--by", metavar="CONCEPT", autocompletion=complete_concept, help="The concept to sort by, e.g. color, species, pose, person.")]
NounOpt = Annotated[
    Optional[str],
    typer.Option("--noun", metavar="NOUN", help="What the photos show, used in the prompt ('fruit'); default depends on the concept."),
]
WordsOpt = Annotated[
    Optional[List[str]],
    typer.Option(
        "--words", metavar="WORD,WORD,...",
        help="Candidate words, comma-separated. With several --by, give one --words per --by, in the same order.",
    ),
]
OneWordsOpt = Annotated[
    Optional[List[str]],
    typer.Option("--words", metavar="WORD,WORD,...", help="Candidate words, comma-separated (repeatable); skips every other source."),
]
WordsFileOpt = Annotated[
    Optional[List[Path]],
    typer.Option(
        "--words-file", metavar="FILE",
        help="A file of candidate words (one per line or comma-separated); one per --by, in the same order.",
        dir_okay=False,
    ),
]
OneWordsFileOpt = Annotated[
    Optional[Path],
    typer.Option("--words-file", metavar="FILE", help="A text file of candidate words, one per line or comma-separated.", dir_okay=False),
]
LlmOpt = Annotated[
    Optional[str],
    typer.Option(
        "--llm", metavar="MODEL|off",
        help="Ask this chat model (openai SDK; OPENAI_API_KEY, OPENAI_BASE_URL for local servers) for words; "
        "'off' stays offline. Default: $PROXYSORT_LLM, else gpt-4o-mini when OPENAI_API_KEY or OPENAI_BASE_URL "
        "is set, else offline.",
    ),
]
#: ``--k`` means a different count in each command, so each has its own help (one option per meaning).
KOpt = Annotated[
    Optional[List[int]],
    typer.Option(
        "--k", metavar="N",
        help="How many groups to make (default: proxysort picks, at most 12). With several --by, one --k for "
        "all of them, or one per --by in the same order.",
    ),
]
WordsKOpt = Annotated[Optional[int], typer.Option("--k", metavar="N", min=1, help="Number of groups wanted: how many words to ask an LLM for.")]
EvalKOpt = Annotated[Optional[int], typer.Option("--k", metavar="N", help="Clusters for scoring (default: the true number of classes).")]

# -- learning ---------------------------------------------------------------------------------------------

# Literal[...] built from the library's tuples: --help lists the choices and there is one source of truth.
ModeChoice = Literal[MODES]  # type: ignore[valid-type]
FeatureChoice = Literal[FEATURES]  # type: ignore[valid-type]
LinkChoice = Literal[LINK_MODES]  # type: ignore[valid-type]
FormatChoice = Literal[FORMATS]  # type: ignore[valid-type]

ModeOpt = Annotated[ModeChoice, typer.Option(
    "--method", "--mode", metavar="|".join(MODES),
    help=f"How proxies are learned (default {DEFAULT_MODE}: Multi-DProxy; multimap, multisub: the other seed papers; "
    "zeroshot = no training).",
)]
FeatureOpt = Annotated[Optional[FeatureChoice], typer.Option(
    "--feature", metavar="|".join(FEATURES), help=f"What k-means clusters (default: {DEFAULT_FEATURE}).")]
EpochsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--epochs", metavar="N",
        min=0,
        help=f"Exact passes through the text encoder per photo (default: {DEFAULT_ROUNDS['cpu']} for subspace; "
        f"free and linear: at most {DEFAULT_EPOCHS['cpu']} epochs on CPU, {DEFAULT_EPOCHS['cuda']} on GPU, "
        "stopping earlier on a plateau).",
    ),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        metavar="N",
        min=1,
        help="CPU threads for learning and k-means (default: torch's choice, the physical cores; idle threads "
        "wait passively, so a busy machine loses little).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", metavar="N", help="Seed for proxy learning and k-means (same seed, same result).")]

# -- labels -----------------------------------------------------------------------------------------------

LabelsOpt = Annotated[
    Optional[Path],
    typer.Option("--labels", metavar="FILE", help="A labels.csv ('path' relative to it, one column per labelling) to score against.", dir_okay=False),
]
EvalLabelsOpt = Annotated[
    Path, typer.Option("--labels", metavar="FILE", help="labels.csv: a 'path' column relative to the file, then one column per labelling.", dir_okay=False)
]
LabelColumnOpt = Annotated[
    Optional[List[str]],
    typer.Option("--label-column", metavar="COLUMN", help="The labels.csv column for each --by, in order (default: the concept name)."),
]
SeedsOpt = Annotated[int, typer.Option("--seeds", metavar="N", min=1, help="Number of k-means seeds to average over (the papers use 10).")]

# -- output -------------------------------------------------------------------------------------------------

OutOpt = Annotated[
    Optional[Path],
    typer.Option("--out", metavar="DIR", help="Output folder (default: '<photos>-sorted' beside the photo folder; none for '-').", file_okay=False),
]
NoFoldersOpt = Annotated[bool, typer.Option("--no-folders", help="Only print the result; write no folder tree.")]
LinkOpt = Annotated[LinkChoice, typer.Option("--link", metavar="|".join(LINK_MODES), help="How photos appear in the tree (relative symlinks by default).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Write nothing: print the result and the folder plan.")]
KeepDuplicatesOpt = Annotated[
    bool, typer.Option("--keep-duplicates", help="Link every byte-identical copy of a photo (default: once per group).")
]

# -- clean ----------------------------------------------------------------------------------------------

CleanOutArg = Annotated[
    Path, typer.Argument(help="An output folder proxysort wrote (it holds .proxysort.json).", file_okay=False, metavar="OUT")
]
CleanByOpt = Annotated[
    Optional[List[str]], typer.Option("--by", metavar="CONCEPT", help="Only this concept's tree (repeatable; default: every tree).")
]
CleanDryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Remove nothing: say what would be removed.")]
OpenOpt = Annotated[bool, typer.Option("--open", help="Open the review page (OUT/index.html) in the browser when done.")]
ShowOutArg = Annotated[
    Path, typer.Argument(help="A folder proxysort cluster wrote (the --out folder).", file_okay=False, metavar="OUT")
]
ShowOpenOpt = Annotated[
    Optional[bool],
    typer.Option("--open/--no-open", help="Open the page in the browser (default: when run at a terminal)."),
]
FormatOpt = Annotated[Optional[FormatChoice], typer.Option("--format", metavar="|".join(FORMATS), help="stdout format (default: table on a terminal, tsv otherwise).")]
GroupOpt = Annotated[
    Optional[str],
    typer.Option(
        "--group",
        metavar="NAME",
        help="Print only the photos of this group (a folder name such as 'red', or 'color/red' with several "
        "--by); with --format paths or -0, for pipelines.",
    ),
]
Print0Opt = Annotated[bool, typer.Option("--print0", "-0", help="End stdout records with NUL instead of newline.")]
#: ``--json`` prints a different record in each command, so each has its own help.
RowsJsonOpt = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout: path, concept, cluster, name, score, dest.")]
EvalJsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per concept with mean and std of each score.")]
WordsJsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with the words, source and detail.")]
IndexJsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
