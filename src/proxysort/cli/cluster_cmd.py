"""``proxysort cluster``: sort photos by one or more named concepts into folders of links.

Parses options, asks the library (:mod:`proxysort.pipeline`) to do the work, prints the result on stdout
and writes the folder tree. The output folder is checked *before* indexing and learning, so a bad
``--out`` fails in a second rather than after minutes of work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, Literal, Optional

import typer

from proxysort.cli.app import app, get_env, handle_errors
from proxysort.cli.common import cache_dir_for, model_spec, reporter_for
from proxysort.cli.options import DEFAULTS, CacheDirOpt, DeviceOpt, ModelOpt, PretrainedOpt, QuietOpt
from proxysort.cli.words_cmd import LlmOpt, NounOpt, WordsFileOpt
from proxysort.errors import InputError, UsageError
from proxysort.exitcodes import ExitCode
from proxysort.formats import FORMATS
from proxysort.output import LINK_MODES
from proxysort.proxy import DEFAULT_EPOCHS, FEATURES, MODES

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.env import Environment
    from proxysort.pipeline import ClusterRun
    from proxysort.progress import Reporter

SourceArg = Annotated[
    str,
    typer.Argument(help="The photo folder, or '-' to read image paths from stdin (one per line, or NUL-separated)."),
]
ByOpt = Annotated[
    List[str],
    typer.Option("--by", help="A concept to sort by (color, species, pose, person, ...). Repeat for several."),
]
KOpt = Annotated[
    Optional[int],
    typer.Option("--k", help="Number of groups per concept (default: chosen by silhouette, at most 12)."),
]
ClusterWordsOpt = Annotated[
    Optional[List[str]],
    typer.Option(
        "--words",
        help="Candidate words, comma-separated. With several --by, give one --words per --by, in the same order.",
    ),
]
ClusterWordsFileOpt = Annotated[
    Optional[List[Path]],
    typer.Option(
        "--words-file",
        help="A file of candidate words (one per line or comma-separated); one per --by, in the same order.",
        dir_okay=False,
    ),
]
# Literal[...] built from the library's tuples: --help lists the choices and there is one source of truth.
ModeChoice = Literal[MODES]  # type: ignore[valid-type]
FeatureChoice = Literal[FEATURES]  # type: ignore[valid-type]
LinkChoice = Literal[LINK_MODES]  # type: ignore[valid-type]
FormatChoice = Literal[FORMATS]  # type: ignore[valid-type]

ModeOpt = Annotated[
    ModeChoice,
    typer.Option("--mode", help="How proxies are learned (zeroshot = no training)."),
]
FeatureOpt = Annotated[
    Optional[FeatureChoice],
    typer.Option("--feature", help="What k-means clusters (default: prompt)."),
]
EpochsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--epochs",
        min=0,
        help=f"Most proxy-learning epochs (default: {DEFAULT_EPOCHS['cpu']} on CPU, {DEFAULT_EPOCHS['cuda']} on GPU; "
        "stops earlier on a plateau).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for proxy learning and k-means (same seed, same result).")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail (exit 3) when any photo had to be skipped.")]
LabelsOpt = Annotated[
    Optional[Path],
    typer.Option("--labels", help="A labels.csv ('path' relative to it, one column per labelling) to score against.", dir_okay=False),
]
LabelColumnOpt = Annotated[
    Optional[List[str]],
    typer.Option("--label-column", help="The labels.csv column for each --by, in order (default: the concept name)."),
]


def source_of(source: str, env: "Environment") -> "Path | list[Path]":
    """A folder path, or the image paths piped on stdin when the source is '-'."""
    from proxysort.pipeline import paths_from_text

    if source == "-":
        if env.stdin_isatty:
            raise UsageError("'-' reads image paths from stdin, but stdin is a terminal; pipe a list of paths in.")
        return paths_from_text(env.stdin.read())
    path = Path(source).expanduser()
    if not path.exists():
        # Checked here, before the output folder: a missing folder must not be reported as an --out problem.
        raise InputError(f"{path} does not exist; pass a folder of photos, or '-' and a list of files on stdin.")
    return path


def words_by_concept(by: list[str], values: Optional[list], what: str, split: bool) -> object:
    """``--words``/``--words-file`` values for the library: one for one concept, else a concept mapping."""
    from proxysort.words import split_words

    if not values:
        return None
    if len(by) == 1:
        if split:
            return split_words(values)
        if len(values) > 1:
            raise UsageError(f"Give {what} once per --by concept.")
        return values[0]
    if len(values) != len(by):
        raise UsageError(f"With {len(by)} --by concepts, give {what} {len(by)} times (once per concept, in order), or not at all.")
    return {concept: (split_words([v]) if split else v) for concept, v in zip(by, values)}


def run_pipeline(
    *,
    source: "Path | list[Path]",
    by: list[str],
    k: "int | dict[str, int] | None",
    words: Optional[list[str]],
    words_file: Optional[list[Path]],
    llm: Optional[str],
    noun: Optional[str],
    mode: str,
    feature: Optional[str],
    epochs: Optional[int],
    model: str,
    pretrained: str,
    device: str,
    cache_dir: Optional[Path],
    seed: int,
    strict: bool,
    env: "Environment",
    reporter: "Reporter",
) -> "ClusterRun":
    """Words (confirmed at a terminal) → index → proxies → clusters; shared by ``cluster`` and ``eval``."""
    from proxysort.cli.wordprompt import confirm_words
    from proxysort.pipeline import cluster, resolve_words

    cache = cache_dir_for(env, cache_dir)
    wordlists = resolve_words(
        by,
        words=words_by_concept(by, words, "--words", split=True),  # type: ignore[arg-type]
        words_file=words_by_concept(by, words_file, "--words-file", split=False),  # type: ignore[arg-type]
        llm_model=llm,
        noun=noun,
        k=k,
        env=env,
        reporter=reporter,
        cache_dir=cache,
    )
    wordlists = [confirm_words(w, env) for w in wordlists]
    return cluster(
        source,
        by,
        k=k,
        wordlists=wordlists,
        mode=mode,
        feature=feature,
        epochs=epochs,
        spec=model_spec(model, pretrained, device),
        cache_dir=cache,
        strict=strict,
        seed=seed,
        env=env,
        reporter=reporter,
    )


@app.command("cluster")
@handle_errors
def cluster_command(
    source: SourceArg,
    by: ByOpt,
    k: KOpt = None,
    words: ClusterWordsOpt = None,
    words_file: ClusterWordsFileOpt = None,
    llm: LlmOpt = None,
    noun: NounOpt = None,
    mode: ModeOpt = "subspace",
    feature: FeatureOpt = None,
    epochs: EpochsOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Output folder (default: '<photos>-sorted' beside the photo folder; none for '-').", file_okay=False),
    ] = None,
    no_folders: Annotated[bool, typer.Option("--no-folders", help="Only print the result; write no folder tree.")] = False,
    link: Annotated[
        LinkChoice, typer.Option("--link", help="How photos appear in the tree (relative symlinks by default).")
    ] = "symlink",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing: print the result and the folder plan.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout: path, concept, cluster, name, score, dest.")] = False,
    fmt: Annotated[
        Optional[FormatChoice],
        typer.Option("--format", help="stdout format (default: table on a terminal, tsv otherwise)."),
    ] = None,
    print0: Annotated[bool, typer.Option("--print0", "-0", help="End stdout records with NUL instead of newline.")] = False,
    labels: LabelsOpt = None,
    label_column: LabelColumnOpt = None,
    model: ModelOpt = DEFAULTS["model"],
    pretrained: PretrainedOpt = DEFAULTS["pretrained"],
    device: DeviceOpt = DEFAULTS["device"],
    cache_dir: CacheDirOpt = None,
    seed: SeedOpt = 0,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Sort photos by the concepts you name (--by color) into OUT/<concept>/<group>/ folders of links.

    Results go to stdout (a table on a terminal, TSV in a pipe); progress and the plan go to stderr.
    Exit 3 when some photos had to be skipped (the rest is sorted).
    """
    from proxysort.formats import choose_format, write_eval, write_rows
    from proxysort.output import check_output_folder, default_out
    from proxysort.pipeline import evaluate, photo_roots, read_labels, write_folders

    env = get_env()
    reporter = reporter_for(env, quiet)
    if label_column and not labels:
        raise UsageError("--label-column needs --labels FILE.")
    if no_folders and out is not None:
        raise UsageError("--no-folders and --out contradict each other; give one of them.")
    if labels is not None:
        for column in label_column or by:
            read_labels(labels, column)  # a wrong file or column fails now, not after learning
    fmt = choose_format(fmt, json_flag=json_output, stdout_isatty=bool(env.stdout_isatty), print0=print0)
    src = source_of(source, env)
    roots = photo_roots(src)
    if no_folders:
        out = None
    elif out is None:
        out = default_out(src) if isinstance(src, Path) else None
    if out is not None:
        check_output_folder(out, roots)  # fail before minutes of work, not after

    run = run_pipeline(
        source=src, by=by, k=k, words=words, words_file=words_file, llm=llm, noun=noun, mode=mode,
        feature=feature, epochs=epochs, model=model, pretrained=pretrained, device=device,
        cache_dir=cache_dir, seed=seed, strict=strict, env=env, reporter=reporter,
    )
    dest, out_abs = None, None
    if out is not None:
        plan, summary = write_folders(run, out, link=link, dry_run=dry_run, roots=roots, reporter=reporter)
        dest, out_abs = plan.dest, plan.out
        if dry_run:
            for line in plan.describe():
                env.stderr.write(f"dry run: {line}\n")
        elif summary is not None:
            reporter.message(
                f"wrote {plan.out}: {summary.created} created, {summary.kept} unchanged, {summary.removed} removed"
            )
    elif dry_run:
        env.stderr.write("dry run: no folder tree (no --out), nothing would be written\n")
    write_rows(run.rows(dest, out=out_abs), fmt, env.stdout, print0=print0, is_tty=bool(env.stdout_isatty))
    if labels is not None:
        results = evaluate(run, labels, label_column)
        write_eval(results, "table" if env.stderr_isatty else "tsv", env.stderr, is_tty=bool(env.stderr_isatty))
    if run.failures:
        reporter.warning(f"{len(run.failures)} photo(s) were skipped (listed above); the rest is sorted.")
        raise typer.Exit(int(ExitCode.PARTIAL))
