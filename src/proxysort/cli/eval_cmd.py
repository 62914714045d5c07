"""``proxysort eval``: score the clustering against ground-truth labels, the way the papers report it.

Runs the same pipeline as ``cluster`` (words → index → proxies) but writes no folders; then k-means with ten
seeds and the true number of classes, printing NMI, AMI, ARI, Rand index and Hungarian accuracy as
mean ± std. Labels come only from ``labels.csv``, never from folder names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from proxysort.cli.app import app, get_env, handle_errors
from proxysort.cli.cluster_cmd import (
    ByOpt,
    ClusterWordsFileOpt,
    ClusterWordsOpt,
    EpochsOpt,
    FeatureOpt,
    LabelColumnOpt,
    ModeOpt,
    SeedOpt,
    SourceArg,
    run_pipeline,
    source_of,
)
from proxysort.cli.common import reporter_for
from proxysort.cli.options import DEFAULTS, CacheDirOpt, DeviceOpt, ModelOpt, PretrainedOpt, QuietOpt
from proxysort.cli.words_cmd import LlmOpt, NounOpt
from proxysort.errors import UsageError


@app.command("eval")
@handle_errors
def eval_command(
    source: SourceArg,
    by: ByOpt,
    labels: Annotated[
        Path, typer.Option("--labels", help="labels.csv: a 'path' column relative to the file, then one column per labelling.", dir_okay=False)
    ],
    label_column: LabelColumnOpt = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Clusters for scoring (default: the true number of classes).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Number of k-means seeds to average over (the papers use 10).")] = 10,
    words: ClusterWordsOpt = None,
    words_file: ClusterWordsFileOpt = None,
    llm: LlmOpt = None,
    noun: NounOpt = None,
    mode: ModeOpt = "subspace",
    feature: FeatureOpt = None,
    epochs: EpochsOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per concept with mean and std of each score.")] = False,
    model: ModelOpt = DEFAULTS["model"],
    pretrained: PretrainedOpt = DEFAULTS["pretrained"],
    device: DeviceOpt = DEFAULTS["device"],
    cache_dir: CacheDirOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Score clustering by each --by concept against labels.csv: NMI, AMI, ARI, RI, accuracy (mean ± std).

    stdout: a table on a terminal, otherwise TSV rows 'concept, column, k, n, metric, mean, std' (or --json).
    """
    from proxysort.formats import write_eval
    from proxysort.pipeline import evaluate, read_labels

    env = get_env()
    reporter = reporter_for(env, quiet)
    if k is not None and k < 1:
        raise UsageError(f"--k must be at least 1 (got {k}).")
    columns = label_column or list(by)
    if len(columns) != len(by):
        raise UsageError(f"Give one --label-column per --by concept ({len(by)}), not {len(columns)}.")
    # Read the labels first: a wrong file or column fails now, not after learning. Clustering uses the true
    # number of classes (or --k), as the papers do, rather than the automatic choice.
    truth = {concept: read_labels(labels, column) for concept, column in zip(by, columns)}
    ks = {concept: k or len(set(values.values())) for concept, values in truth.items()}
    run = run_pipeline(
        source=source_of(source, env), by=list(by), k=ks, words=words, words_file=words_file, llm=llm,
        noun=noun, mode=mode, feature=feature, epochs=epochs, model=model, pretrained=pretrained,
        device=device, cache_dir=cache_dir, seed=seed, strict=False, env=env, reporter=reporter,
    )
    results = evaluate(run, labels, columns, k=k, seeds=list(range(seeds)))
    for r in results:
        if r.unlabelled:
            reporter.warning(f"{r.unlabelled} photo(s) are not in {labels} and were left out of the '{r.concept}' scores.")
    fmt = "json" if json_output else ("table" if env.stdout_isatty else "tsv")
    write_eval(results, fmt, env.stdout, is_tty=bool(env.stdout_isatty))
