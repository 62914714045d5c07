"""``proxysort eval``: score the clustering against ground-truth labels, the way the papers report it.

Runs the same steps as ``cluster`` (words → index → proxies) but writes no folders; then k-means with ten
seeds and the true number of classes, printing NMI, AMI, ARI, Rand index and Hungarian accuracy as
mean ± std. Labels come only from ``labels.csv``, never from folder names.
"""

from __future__ import annotations

import typer

from proxysort.cli.common import by_from_flags, get_env, reporter_for, sort_with_flags
from proxysort.cli.inputs import source_of
from proxysort.cli.options import (
    ByOpt,
    CacheDirOpt,
    DeviceOpt,
    EpochsOpt,
    EvalJsonOpt,
    EvalKOpt,
    EvalLabelsOpt,
    FeatureOpt,
    LabelColumnOpt,
    LlmOpt,
    ModelOpt,
    ModeOpt,
    NounOpt,
    PretrainedOpt,
    QuietOpt,
    SeedOpt,
    SeedsOpt,
    SourceArg,
    StrictOpt,
    ThreadsOpt,
    WordsFileOpt,
    WordsOpt,
)
from proxysort.errors import ExitCode, UsageError
from proxysort.learn.registry import DEFAULT_MODE


def eval_command(
    source: SourceArg,
    by: ByOpt,
    labels: EvalLabelsOpt,
    label_column: LabelColumnOpt = None,
    k: EvalKOpt = None,
    seeds: SeedsOpt = 10,
    words: WordsOpt = None,
    words_file: WordsFileOpt = None,
    llm: LlmOpt = None,
    noun: NounOpt = None,
    mode: ModeOpt = DEFAULT_MODE,
    feature: FeatureOpt = None,
    epochs: EpochsOpt = None,
    threads: ThreadsOpt = None,
    json_output: EvalJsonOpt = False,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = None,
    cache_dir: CacheDirOpt = None,
    seed: SeedOpt = 0,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score clustering by each --by concept against labels.csv: NMI, AMI, ARI, RI, accuracy (mean ± std).

    stdout: a table on a terminal, otherwise TSV rows 'concept, column, k, n, metric, mean, std' (or --json).
    Exit 3 when a photo could not be read for the first time, as `cluster` and `index` do (the scores
    leave it out).
    """
    from proxysort.cli.formats import write_eval
    from proxysort.evaluation import evaluate, read_labels
    from proxysort.groups import check_k
    from proxysort.sorting import as_by

    env = get_env()
    reporter = reporter_for(env, quiet)
    if k is not None:
        check_k(k)
    columns = label_column or list(by)
    if len(columns) != len(by):
        raise UsageError(f"Give one --label-column per --by concept ({len(by)}), not {len(columns)}.")
    # Read the labels once, first: a wrong file or column fails now, not after learning. Clustering uses
    # the true number of classes (or --k), as the papers do, rather than the automatic choice.
    truth = [read_labels(labels, column) for column in columns]
    ks: list[int | None] = [k if k is not None else t.classes for t in truth]
    concepts = as_by(by_from_flags(list(by), ks, words, words_file, noun))
    result = sort_with_flags(
        source=source_of(source, env), by=concepts, llm=llm, mode=mode, feature=feature, epochs=epochs,
        model=model, pretrained=pretrained, device=device, cache_dir=cache_dir, seed=seed, strict=strict,
        env=env, reporter=reporter, threads=threads,
    )
    results = evaluate(result, truth, k=k, seeds=list(range(seeds)))
    for r in results:
        if r.unlabelled:
            reporter.warning(f"{r.unlabelled} photo(s) are not in {labels} and were left out of the '{r.concept}' scores.")
    fmt = "json" if json_output else ("table" if env.stdout_isatty else "tsv")
    write_eval(results, fmt, env.stdout, is_tty=bool(env.stdout_isatty))
    if result.index.new_failures:
        reporter.warning(f"{len(result.index.new_failures)} file(s) were skipped (listed above) and left out of the scores.")
        raise typer.Exit(int(ExitCode.PARTIAL))
