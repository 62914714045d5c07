"""Scoring a sort against labels.csv: the file read once per column, and the papers' protocol on metrics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxysort.errors import InputError, UsageError
from proxysort.evaluation import evaluate, read_labels
from tests.conftest import COLORS


def _labels_csv(folder: Path, path: Path) -> Path:
    lines = ["path,color,size"]
    for f in sorted(folder.rglob("img*")):
        i = int(f.name[3:5])
        lines.append(f"{os.path.relpath(f, path.parent)},{COLORS[i % 3]},{'small' if i < 6 else 'big'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_scores_against_labels(sorted_colors, tmp_path: Path) -> None:
    photos, run = sorted_colors
    labels = _labels_csv(photos, tmp_path / "labels.csv")
    (res,) = evaluate(run, [read_labels(labels, "color")], seeds=[0, 1, 2])
    assert (res.concept, res.column, res.k, res.n, res.unlabelled) == ("color", "color", 3, 12, 0)
    assert len(res.scores.per_seed) == 3
    assert set(res.scores.mean) == {"nmi", "ami", "ari", "ri", "acc"}
    assert all(0.0 <= res.scores.mean[m] <= 1.0 for m in ("nmi", "ri", "acc"))
    (other,) = evaluate(run, [read_labels(labels, "size")], seeds=[0])
    assert other.k == 2
    with pytest.raises(UsageError, match="one label column per `by` concept"):
        evaluate(run, [])


def test_read_labels_errors(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("path,color\na.jpg,red\n")
    labels = read_labels(f, "color")
    assert labels.by_path == {str((tmp_path / "a.jpg").resolve()): "red"}
    assert (labels.column, labels.classes) == ("color", 1)
    with pytest.raises(UsageError, match="no column 'shape'"):
        read_labels(f, "shape")
    f.write_text("file,color\na.jpg,red\n")
    with pytest.raises(InputError, match="no 'path' column"):
        read_labels(f, "color")
    with pytest.raises(InputError):
        read_labels(tmp_path / "missing.csv", "color")
