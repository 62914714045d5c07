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
from proxysort.learn.core import FEATURES
from proxysort.learn.registry import DEFAULT_MODE, METHODS, MODES, epochs_help
from proxysort.output import LINK_MODES

# -- help panels ------------------------------------------------------------------------------------------
# ``--help`` lists options without a panel first, under "Options": those are the everyday ones (what to sort
# by, into how many groups, where, and what to print). The rest follow in this order (cli/app.py).

WORDS_PANEL = "Words and which photos"
OUTPUT_PANEL = "More about the output"
MODEL_PANEL = "Model and cache"
METHOD_PANEL = "Method (advanced)"
PERFORMANCE_PANEL = "Performance"
#: Every panel, in the order ``--help`` shows them after the everyday options.
PANELS = (WORDS_PANEL, OUTPUT_PANEL, MODEL_PANEL, METHOD_PANEL, PERFORMANCE_PANEL)

# -- model and cache (every command that embeds or reads the cache) --------------------------------------

ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model", metavar="NAME|CONFIG.json",
        help="The CLIP model that looks at the photos: an open_clip model name, or a model-config JSON file.  "
        f"[env var: PROXYSORT_MODEL; default: {DEFAULT_MODEL}]",
        show_default=False, rich_help_panel=MODEL_PANEL,
    ),
]
PretrainedOpt = Annotated[
    Optional[str],
    typer.Option(
        "--pretrained", metavar="TAG|FILE|none",
        help="The model's weights: an open_clip tag (downloaded once), a weights file, or 'none' (random, "
        f"for tests).  [env var: PROXYSORT_PRETRAINED; default: {DEFAULT_PRETRAINED}]",
        show_default=False, rich_help_panel=MODEL_PANEL,
    ),
]
DeviceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--device", metavar="auto|cpu|cuda",
        help="Where the model runs: auto (the GPU when there is one), cpu or cuda.  [env var: PROXYSORT_DEVICE; default: auto]",
        show_default=False, rich_help_panel=MODEL_PANEL,
    ),
]
PrecisionOpt = Annotated[
    Optional[str],
    typer.Option(
        "--precision", metavar="auto|fp32|bf16|fp16",
        help="Number format of the image encoder: auto (bf16 where this CPU measures faster with it, fp16 on "
        "CUDA, else fp32), or one by name. A cache keeps the precision its first vectors were made in "
        "(`status` shows it).  [env var: PROXYSORT_PRECISION; default: auto]",
        show_default=False, rich_help_panel=PERFORMANCE_PANEL,
    ),
]
CacheDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--cache-dir", metavar="DIR",
        help="Where proxysort remembers what it saw in each photo (default: your user cache folder).  "
        "[env var: PROXYSORT_CACHE_DIR]",
        rich_help_panel=MODEL_PANEL,
        # Not checked here: a cache path that is a file or unreadable is the library's CacheError (exit 5,
        # one sentence), and `words` without an LLM never touches the cache at all.
        readable=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict", rich_help_panel=WORDS_PANEL,
        help="Fail (exit 3) when any photo cannot be read, also one already reported by an earlier run.",
    ),
]

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
FolderArg = Annotated[Path, typer.Argument(help="The photo folder (or output folder) to report on.", metavar="DIR", show_default=False)]
ExcludeOpt = Annotated[
    Optional[List[Path]],
    typer.Option("--exclude", help="A folder to leave out (repeatable).", file_okay=False, metavar="DIR", rich_help_panel=WORDS_PANEL),
]
IncludeHiddenOpt = Annotated[
    bool,
    typer.Option(
        "--include-hidden", rich_help_panel=WORDS_PANEL,
        help="Also look in hidden folders and files (names starting with '.'), e.g. a hidden album.",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v",
        help="List every photo that could not be read on its own line (else one line per reason, with a count).",
    ),
]
IndexStrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Fail (exit 3) when any file cannot be read, also one already reported by an earlier run."),
]
BatchSizeOpt = Annotated[
    Optional[int],
    typer.Option(
        "--batch-size", metavar="N", min=1, rich_help_panel=PERFORMANCE_PANEL,
        help="Photos the model looks at in one go (default: 32 on a CPU, 128 on a GPU).",
    ),
]
WorkersOpt = Annotated[
    Optional[int],
    typer.Option(
        "--workers", metavar="N", min=1, rich_help_panel=PERFORMANCE_PANEL,
        help="Threads that read and decode photos (default: one per CPU this process may use, at least 2).",
    ),
]
RayOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        rich_help_panel=PERFORMANCE_PANEL,
        help="Share the heavy work (reading photos, the model, learning) over a Ray cluster: auto (the one this "
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
    typer.Option(
        "--by", metavar="CONCEPT", autocompletion=complete_concept,
        help="What to sort by: color, species, season, pose, ... Repeat for several (one folder tree each).",
    ),
]
OneByOpt = Annotated[str, typer.Option("--by", metavar="CONCEPT", autocompletion=complete_concept, help="The concept to sort by, e.g. color, species, pose, person.")]
NounOpt = Annotated[
    Optional[str],
    typer.Option(
        "--noun", metavar="NOUN", rich_help_panel=WORDS_PANEL,
        help="What the photos show ('fruit', 'dog'), so the names fit them; default depends on the concept.",
    ),
]
WordsOpt = Annotated[
    Optional[List[str]],
    typer.Option(
        "--words", metavar="WORD,WORD,...",
        help="The names to sort into, comma-separated (red,green,blue); without it proxysort proposes some. "
        "With several --by, one --words per --by, in the same order.",
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
        help="The names to sort into, from a file (one per line or comma-separated); one per --by, in order.",
        dir_okay=False, rich_help_panel=WORDS_PANEL,
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
        help="Ask this chat model for names (openai SDK; OPENAI_API_KEY, or OPENAI_BASE_URL for a local "
        "server); 'off' never asks. Default: $PROXYSORT_LLM, else gpt-4o-mini when OPENAI_API_KEY or "
        "OPENAI_BASE_URL is set, else the built-in word lists.",
        rich_help_panel=WORDS_PANEL,
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
EvalKOpt = Annotated[Optional[int], typer.Option("--k", metavar="N", help="Groups to score (default: as many as the labels have).")]

# -- learning ---------------------------------------------------------------------------------------------

# Literal[...] built from the library's tuples: --help lists the choices and there is one source of truth.
ModeChoice = Literal[MODES]  # type: ignore[valid-type]
FeatureChoice = Literal[FEATURES]  # type: ignore[valid-type]
LinkChoice = Literal[LINK_MODES]  # type: ignore[valid-type]
FormatChoice = Literal[FORMATS]  # type: ignore[valid-type]

# Help generated from the method registry: each method's summary, default feature and epochs as declared.
ModeOpt = Annotated[ModeChoice, typer.Option(
    "--method", "--mode", metavar="|".join(MODES), rich_help_panel=METHOD_PANEL,
    help=f"How proxies are learned (default {DEFAULT_MODE}). "
    + "; ".join(f"{m.name}: {m.summary}" for m in METHODS.values()) + ".",
)]
FeatureOpt = Annotated[Optional[FeatureChoice], typer.Option(
    "--feature", metavar="|".join(FEATURES), rich_help_panel=METHOD_PANEL,
    help="What k-means clusters (default: the method's own: "
    + ", ".join(f"{m.name} {m.default_feature}" for m in METHODS.values()) + ").")]
EpochsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--epochs", metavar="N", rich_help_panel=METHOD_PANEL,
        min=0,
        help=f"Learning budget per method (default: {epochs_help()}; Adam stops earlier on a plateau).",
    ),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        metavar="N",
        min=1,
        rich_help_panel=PERFORMANCE_PANEL,
        help="CPU threads for the sorting (default: one per physical core; idle threads wait without "
        "spinning, so a busy machine loses little).",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", metavar="N", rich_help_panel=METHOD_PANEL,
        help="Fixes every random choice: the same seed on the same photos gives the same groups.",
    ),
]

# -- labels -----------------------------------------------------------------------------------------------

LabelsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--labels", metavar="FILE", dir_okay=False, rich_help_panel=METHOD_PANEL,
        help="A labels.csv of right answers ('path' relative to it, one column per concept) to score the groups against.",
    ),
]
EvalLabelsOpt = Annotated[
    Path, typer.Option("--labels", metavar="FILE", help="labels.csv: a 'path' column relative to the file, then one column per labelling.", dir_okay=False)
]
LabelColumnOpt = Annotated[
    Optional[List[str]],
    typer.Option(
        "--label-column", metavar="COLUMN", rich_help_panel=METHOD_PANEL,
        help="The labels.csv column for each --by, in order (default: the concept name).",
    ),
]
SeedsOpt = Annotated[int, typer.Option("--seeds", metavar="N", min=1, help="Number of k-means seeds to average over (the papers use 10).")]

# -- output -------------------------------------------------------------------------------------------------

OutOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--out", metavar="DIR", file_okay=False,
        help="Where the sorted folders go (default: '<photos>-sorted' beside your photo folder; none for '-').",
    ),
]
NoFoldersOpt = Annotated[
    bool, typer.Option("--no-folders", rich_help_panel=OUTPUT_PANEL, help="Only print which photo goes where; make no folders.")
]
LinkOpt = Annotated[
    LinkChoice,
    typer.Option(
        "--link", metavar="|".join(LINK_MODES),
        help="How photos appear in the sorted folders: symlink (the default, takes no space), hardlink or copy.",
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Make nothing: print the groups and what would be made.")]
ReclusterOpt = Annotated[
    bool,
    typer.Option("--recluster", rich_help_panel=OUTPUT_PANEL, help="Make the groups again from scratch instead of keeping the tree's groups "
                 "(your placements still guide them; photos whose link you deleted come back)."),
]
KeepDuplicatesOpt = Annotated[
    bool,
    typer.Option(
        "--keep-duplicates", rich_help_panel=OUTPUT_PANEL,
        help="Show every identical copy of a photo (default: once per group).",
    ),
]
KeepFoldersOpt = Annotated[
    bool,
    typer.Option(
        "--keep-folders",
        help="Keep each photo's album under its group: OUT/color/red/2019/Summer holiday/IMG_1.jpg "
        "(default: one flat folder per group).",
    ),
]

# -- clean ----------------------------------------------------------------------------------------------

CleanOutArg = Annotated[
    Path, typer.Argument(help="An output folder proxysort wrote (it holds .proxysort.json).", file_okay=False, metavar="OUT")
]
CleanByOpt = Annotated[
    Optional[List[str]], typer.Option("--by", metavar="CONCEPT", help="Only this concept's tree (repeatable; default: every tree).")
]
CleanAllOpt = Annotated[
    bool, typer.Option("--all", help="Also remove the links you placed by hand and the folders you named.")
]
CleanDryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Remove nothing: say how many files each tree would lose (every one with --verbose).")
]
CleanVerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="With --dry-run, list every file that would be removed.")]
OpenOpt = Annotated[bool, typer.Option("--open", help="Open the review page (OUT/index.html) in the browser when done.")]
ShowOutArg = Annotated[
    Path, typer.Argument(help="A folder proxysort cluster wrote (the --out folder).", file_okay=False, metavar="OUT")
]
ShowOpenOpt = Annotated[
    Optional[bool],
    typer.Option("--open/--no-open", help="Open the page in the browser (default: when run at a terminal)."),
]
FormatOpt = Annotated[
    Optional[FormatChoice],
    typer.Option(
        "--format", metavar="|".join(FORMATS),
        help="What is printed: a table of groups (default at a terminal), tsv (default in a pipe), json, or "
        "only the photos' paths.",
    ),
]
GroupOpt = Annotated[
    Optional[str],
    typer.Option(
        "--group",
        metavar="NAME",
        help="Print only the photos of this group (its folder name, such as 'red', or 'color/red' with "
        "several --by); with --format paths -0, for pipelines.",
    ),
]
Print0Opt = Annotated[bool, typer.Option("--print0", "-0", help="End each printed record with NUL instead of a newline (for xargs -0).")]
#: ``--json`` prints a different record in each command, so each has its own help.
RowsJsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per photo: path, concept, cluster, name, score, dest.")
]
EvalJsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per concept with mean and std of each score.")]
WordsJsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with the words, source and detail.")]
IndexJsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
