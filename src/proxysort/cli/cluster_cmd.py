"""``proxysort cluster``: sort photos by one or more named concepts into folders of links.

Parses options, asks the library (:mod:`proxysort.sorting`) to do the work, prints the result on stdout
and writes the folder tree. The output folder is checked *before* indexing and learning, so a bad
``--out`` fails in a second rather than after minutes of work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proxysort.cli.common import (
    by_from_flags,
    cache_dir_for,
    fail,
    get_env,
    open_in_browser,
    reporter_for,
    sort_with_flags,
)
from proxysort.cli.inputs import source_of
from proxysort.cli.options import (
    ByOpt,
    CacheDirOpt,
    DeviceOpt,
    DryRunOpt,
    EpochsOpt,
    ExcludeOpt,
    FeatureOpt,
    FormatOpt,
    GroupOpt,
    IncludeHiddenOpt,
    KeepDuplicatesOpt,
    KeepFoldersOpt,
    KOpt,
    LabelColumnOpt,
    LabelsOpt,
    LinkOpt,
    LlmOpt,
    ModelOpt,
    ModeOpt,
    NoFoldersOpt,
    NounOpt,
    OpenOpt,
    OutOpt,
    PretrainedOpt,
    Print0Opt,
    QuietOpt,
    RayOpt,
    ReclusterOpt,
    RowsJsonOpt,
    SeedOpt,
    SourceArg,
    StrictOpt,
    ThreadsOpt,
    VerboseOpt,
    WordsFileOpt,
    WordsOpt,
)
from proxysort.errors import ExitCode, UsageError
from proxysort.learn.registry import DEFAULT_MODE

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.page.publish import PageJob
    from proxysort.progress import Reporter
    from proxysort.sorting import SortResult


def review_page_job(result: "SortResult", *, cache: Path, reporter: "Reporter") -> "PageJob":
    """The review page of a run, written by the tree writer under the output folder's lock."""
    from proxysort.page.publish import PageJob
    from proxysort.sorting import page_run

    return PageJob(page_run(result), cache, reporter=reporter)


def report_page(job: "PageJob", reporter: "Reporter") -> Path | None:
    """One line on what the page step did; the page's path, or None when none was written."""
    outcome = job.outcome
    if outcome is None:
        return None
    stats = job.stats
    made = f"{stats.made} thumbnails made, {stats.reused} reused" + (f", {stats.failed} failed" if stats.failed else "")
    for photo, reason in stats.failures:
        reporter.skipped(Path(photo), f"no thumbnail: {reason}")
    if outcome.page is not None:
        reporter.message(f"review page: {outcome.page} ({made})")
    return outcome.page


def cluster_command(
    source: SourceArg,
    by: ByOpt,
    k: KOpt = None,
    words: WordsOpt = None,
    out: OutOpt = None,
    link: LinkOpt = "symlink",
    keep_folders: KeepFoldersOpt = False,
    group: GroupOpt = None,
    fmt: FormatOpt = None,
    json_output: RowsJsonOpt = False,
    print0: Print0Opt = False,
    open_page: OpenOpt = False,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    words_file: WordsFileOpt = None,
    llm: LlmOpt = None,
    noun: NounOpt = None,
    exclude: ExcludeOpt = None,
    include_hidden: IncludeHiddenOpt = False,
    strict: StrictOpt = False,
    no_folders: NoFoldersOpt = False,
    keep_duplicates: KeepDuplicatesOpt = False,
    recluster: ReclusterOpt = False,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = None,
    cache_dir: CacheDirOpt = None,
    mode: ModeOpt = DEFAULT_MODE,
    feature: FeatureOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    labels: LabelsOpt = None,
    label_column: LabelColumnOpt = None,
    threads: ThreadsOpt = None,
    ray: RayOpt = None,
) -> None:
    """Sort your photos into folders by what you name: --by color makes OUT/color/red/, OUT/color/blue/, ...

    Your photo folder is only read: the folders hold links to the photos (or copies, --link copy), and
    sidecars, Live Photo clips and RAW twins go with their photo. The groups are printed on stdout (a table
    at a terminal, TSV in a pipe); progress goes to stderr. Exit 3 when a photo could not be read for the
    first time (the rest is sorted); photos already reported by an earlier run are only counted.

    A re-run into the same OUT keeps its groups: sorted photos stay, new ones join the nearest group
    (--recluster starts over). What you fix there by hand sticks: a link moved to another group folder
    stays there, a renamed group folder keeps your name, a new folder of moved links becomes a group, and
    a photo whose link you deleted is left out.
    """
    from proxysort import interrupts
    from proxysort.cli.formats import choose_format, only_group, result_rows, write_eval, write_rows
    from proxysort.evaluation import read_labels, score_written
    from proxysort.indexer import sources
    from proxysort.lexicon import is_identity_like
    from proxysort.output import check_output_folder, default_out
    from proxysort.sorting import as_by, write_folders

    env = get_env()
    reporter = reporter_for(env, quiet, verbose)
    if label_column and not labels:
        raise UsageError("--label-column needs --labels FILE.")
    if no_folders and out is not None:
        raise UsageError("--no-folders and --out contradict each other; give one of them.")
    if open_page and (no_folders or dry_run or (out is None and source == "-")):
        raise UsageError("--open shows the review page of a written folder tree; it needs --out (and no --dry-run or --no-folders).")
    concepts = as_by(by_from_flags(by, k, words, words_file, noun))
    # Read once, now: a wrong file or column fails before learning, not after.
    truth = [read_labels(labels, column) for column in (label_column or by)] if labels is not None else None
    fmt = choose_format(fmt, json_flag=json_output, stdout_isatty=bool(env.stdout_isatty), print0=print0)
    src = source_of(source, env)
    if no_folders:
        out = None
    elif out is None:
        out = default_out(src) if isinstance(src, Path) else None
        if out is None and not dry_run:
            reporter.warning("paths from stdin ('-') and no --out: no folder tree will be written, only the result on stdout.")
    if out is not None:
        check_output_folder(out, sources(src).roots, cache_dir=cache_dir_for(env, cache_dir))  # fail before work

    result = sort_with_flags(
        source=src, by=concepts, llm=llm, mode=mode, feature=feature, epochs=epochs, model=model,
        pretrained=pretrained, device=device, cache_dir=cache_dir, seed=seed, strict=strict, env=env, reporter=reporter,
        exclude=exclude or (), include_hidden=include_hidden,
        ray=ray,
        threads=threads,
        tree=out,
        recluster=recluster,
    )
    if group is not None:
        only_group(result_rows(result, None, out=None), group)  # a --group naming no group: before any write
    for c in result.concepts:
        if c.placement is not None and not c.placement.fits:
            reporter.warning(
                f"{c.concept}: {c.placement.misfits} of the {c.placement.new} new photos lie farther from every "
                "group than the groups' own photos do; --recluster makes groups that fit them."
            )
    interrupts.check()  # a Ctrl-C lost in a destructor while learning stops the run before the tree
    dest, out_abs, vanished = None, None, 0
    if out is not None:
        job = None if dry_run else review_page_job(result, cache=cache_dir_for(env, cache_dir), reporter=reporter)
        try:
            plan, summary = write_folders(
                result, out, link=link, dry_run=dry_run, keep_duplicates=keep_duplicates, keep_folders=keep_folders,
                reporter=reporter, page=job,
            )
        except KeyboardInterrupt:
            if job is not None and job.tree_written:
                raise fail(
                    f"interrupted while writing the review page; the folder tree {out} was written, but its "
                    f"index.html may not show it yet: run proxysort show {out} to make the page again.",
                    ExitCode.INTERRUPTED,
                ) from None
            raise fail(
                f"interrupted while writing {out}; the tree may be incomplete: run the same command again to finish it.",
                ExitCode.INTERRUPTED,
            ) from None
        dest, out_abs = plan.dest, plan.out
        if dry_run:
            from proxysort.progress import terminal_safe

            for line in plan.describe():
                env.stderr.write(f"dry run: {terminal_safe(line)}\n")
        elif summary is not None:
            reporter.message(
                f"wrote {plan.out}: {summary.created} files created, {summary.kept} unchanged, {summary.removed} removed"
                + (f"; {summary.duplicates} byte-identical copies shown once" if summary.duplicates else "")
            )
            for path in summary.vanished:
                reporter.skipped(path, "it disappeared before it could be linked into the output folder")
            for path, reason in summary.refused:
                reporter.skipped(path, reason)
            vanished = len(summary.vanished) + len(summary.refused)
            page = report_page(job, reporter) if job is not None else None
            if open_page and page is not None:
                open_in_browser(page, env, reporter)
    elif dry_run:
        env.stderr.write("dry run: no folder tree (no --out), nothing would be written\n")
    try:
        rows = result_rows(result, dest, out=out_abs)
        write_rows(rows if group is None else only_group(rows, group), fmt, env.stdout, print0=print0, is_tty=bool(env.stdout_isatty))
        if truth is not None:
            results = score_written(result, truth)
            write_eval(results, "table" if env.stderr_isatty else "tsv", env.stderr, is_tty=bool(env.stderr_isatty))
    except KeyboardInterrupt:
        if out_abs is None or dry_run:
            raise
        raise fail(f"interrupted; the folder tree {out_abs} and its review page were written, the result rows "
                   "may be incomplete.", ExitCode.INTERRUPTED) from None
    for c in result.concepts:
        if c.word_source == "anchors" and not is_identity_like(c.concept):
            # Said last, where it is read: the warning before the scan has scrolled away by now.
            reporter.warning(
                f"{c.concept}: proxysort knows no words for '{c.concept}', so these {c.k} groups follow random "
                f"words, not necessarily {c.concept}, and are numbered by size ({c.names[0]} … {c.names[-1]}); "
                "give --words with names for its values to sort by it."
            )
    new = len(result.index.new_failures) + vanished  # files skipped as in an earlier run are no new problem
    if new:
        reporter.warning(f"{new} file(s) were skipped (listed above); the rest is sorted.")
        raise typer.Exit(int(ExitCode.PARTIAL))
