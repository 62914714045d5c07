"""Score a sort against ground truth: ``labels.csv`` (read once per column) and the papers' protocol on
:mod:`proxysort.metrics` (k-means with the true number of classes, NMI/AMI/ARI/RI/ACC over ten seeds)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from proxysort.errors import InputError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.metrics import SeedScores
    from proxysort.sorting import ConceptResult, SortResult


#: Larger than any labels file of a real library (a million rows of long paths): anything bigger is a
#: mistake, refused before it is read.
LABELS_MAX_BYTES = 512 << 20


@dataclass(frozen=True)
class Labels:
    """One column of a labels file: ``by_path`` maps resolved absolute image paths to their label."""

    file: Path
    column: str
    by_path: dict[str, str]

    @property
    def classes(self) -> int:
        return len(set(self.by_path.values()))


def read_labels(labels_csv: Path | str, column: str) -> Labels:
    """``labels.csv`` → :class:`Labels` for ``column``; ``path`` is relative to the CSV's folder."""
    from proxysort.safeopen import read_limited

    path = Path(labels_csv).expanduser()
    try:
        text = read_limited(path, LABELS_MAX_BYTES).decode("utf-8-sig")
        with io.StringIO(text, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if "path" not in fields:
                raise InputError(f"{path} has no 'path' column; the first column must be 'path'.")
            if column not in fields:
                others = ", ".join(f for f in fields if f != "path")
                raise UsageError(f"{path} has no column {column!r}; its label columns are: {others}.")
            base = path.parent
            labels = {}
            for row in reader:
                if row.get("path") and row.get(column) not in (None, ""):
                    labels[str((base / row["path"]).resolve())] = str(row[column])
    except OSError as exc:
        raise InputError(f"Cannot read the labels file {path}: {exc.strerror or exc}.") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}.") from exc
    if not labels:
        raise InputError(f"{path} has no labelled rows in column {column!r}.")
    return Labels(path, column, labels)


@dataclass
class EvalResult:
    """Scores of one concept against one label column: mean ± std over the k-means seeds."""

    concept: str
    column: str
    k: int
    n: int
    scores: "SeedScores"
    unlabelled: int  # sorted images the labels file does not mention (left out of the scores)


def evaluate(
    result: "SortResult",
    labels: Sequence[Labels],
    *,
    k: int | None = None,
    seeds: Sequence[int] | None = None,
) -> list[EvalResult]:
    """Score each concept of ``result`` against its :class:`Labels` (one per concept, in order).

    k-means is re-run on the same features with ten seeds (0..9) and ``k`` = the true number of classes
    (unless ``k`` is given): :func:`proxysort.metrics.kmeans_scores`. Only labelled images are scored.
    """
    from proxysort.groups import clustered_feature, spherical_for
    from proxysort.metrics import DEFAULT_SEEDS, kmeans_scores

    out = []
    for concept, truth, rows, true, unlabelled in _labelled(result, labels):
        k_eval = k if k is not None else len(set(true))
        x = clustered_feature(concept.proxy, concept.feature, rows, k_eval)
        scores = kmeans_scores(x, true, k_eval, seeds=seeds or DEFAULT_SEEDS, spherical=spherical_for(concept.feature))
        out.append(EvalResult(concept.concept, truth.column, k_eval, len(rows), scores, unlabelled))
    return out


def score_written(result: "SortResult", labels: Sequence[Labels]) -> list[EvalResult]:
    """Score the grouping ``result`` actually produced (the folders written) against its :class:`Labels`.

    Unlike :func:`evaluate`, nothing is re-clustered: ``cluster --labels`` must report the folders the user
    got, not the mean of ten other k-means runs (the papers' protocol, which ``proxysort eval`` keeps).
    """
    from proxysort.metrics import SeedScores, score_all

    out = []
    for concept, truth, rows, true, unlabelled in _labelled(result, labels):
        scores = SeedScores((score_all(true, concept.labels[rows]),))
        out.append(EvalResult(concept.concept, truth.column, concept.k, len(rows), scores, unlabelled))
    return out


def _labelled(
    result: "SortResult", labels: Sequence[Labels]
) -> "Iterator[tuple[ConceptResult, Labels, np.ndarray, list[str], int]]":
    """Per concept and its labels: the rows of the labelled photos, their true labels, how many are unlabelled."""
    import numpy as np

    if len(labels) != len(result.concepts):
        raise UsageError(f"Give one label column per `by` concept ({len(result.concepts)}), not {len(labels)}.")
    keys = [str(p.resolve()) for p in result.paths]
    for concept, truth in zip(result.concepts, labels):
        rows = np.array([i for i, key in enumerate(keys) if key in truth.by_path], dtype=np.int64)
        if len(rows) == 0:
            raise InputError(f"None of the clustered photos appear in {truth.file}; check its 'path' column.")
        yield concept, truth, rows, [truth.by_path[keys[i]] for i in rows], len(keys) - len(rows)
