"""Names and scores that tell the truth: doubtful group names, and `cluster --labels` scoring what was written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

MODEL = ["--model", str(Path(__file__).parent / "fixtures" / "tiny-clip.json"), "--pretrained", "none", "--device", "cpu"]


def _world(rng: np.random.Generator, missing: bool):
    """Three groups of photos near three word prompts; with ``missing`` the third group's value has no word.

    Word 3 is a distractor that resembles the values present (as "white" resembles yellow more than purple):
    a missing value's group gets named after it anyway, because some word must name every group, yet its
    photos are the ones furthest from it.
    """
    d = 16
    words = np.eye(d, dtype=np.float32)[:4]
    words[3] = (words[0] + words[1]) / np.sqrt(2.0)
    centres = [words[0], words[1], words[2] if not missing else np.eye(d, dtype=np.float32)[9]]
    x = np.concatenate([c + 0.25 * rng.standard_normal((30, d)) for c in centres]).astype(np.float32)
    labels = np.repeat(np.arange(3), 30)
    return x, labels, words


def test_a_group_of_a_missing_value_is_flagged_and_renamed():
    from proxysort.groups import WEAK_MARK, mark_weak, weak_names

    rng = np.random.default_rng(0)
    x, labels, words = _world(rng, missing=True)
    names = ["w0", "w1", "w3"]
    weak = weak_names(x, labels, names, words, ["w0", "w1", "w2", "w3"])
    assert [w.cluster for w in weak] == [2] and weak[0].word == "w3" and weak[0].effect < -3
    assert mark_weak(names, weak) == ["w0", "w1", f"w3{WEAK_MARK}"]


def test_groups_that_match_their_words_are_not_flagged():
    from proxysort.groups import weak_names

    rng = np.random.default_rng(1)
    x, labels, words = _world(rng, missing=False)
    assert weak_names(x, labels, ["w0", "w1", "w2"], words, ["w0", "w1", "w2", "w3"]) == []
    # Numbered leftovers ("w1-2") are checked against their word too.
    assert weak_names(x, labels, ["w0", "w1", "w2-2"], words, ["w0", "w1", "w2", "w3"]) == []


def test_cluster_labels_scores_the_clustering_written(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """The printed NMI is that of the folders written, not a mean over other k-means runs."""
    from proxysort.metrics import score_all

    truth = {}
    lines = ["path,color"]
    for p in sorted(photo_folder.rglob("img*")):
        value = ["red", "green", "blue"][int(p.name[3:5]) % 3]
        truth[str(p.resolve())] = value
        lines.append(f"{os.path.relpath(p, tmp_path)},{value}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue,yellow", "--k", "4",
                      "--labels", str(tmp_path / "labels.csv"), "--json", "--no-folders", "--seed", "3", *MODEL])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    paths = sorted(truth)
    written = {str(Path(r["path"]).resolve()): r["cluster"] for r in rows}
    expected = score_all([truth[p] for p in paths], [written[p] for p in paths])
    printed = {line.split("\t")[4]: float(line.split("\t")[5]) for line in result.stderr.splitlines()
               if line.startswith("color\tcolor\t")}
    assert printed["nmi"] == round(expected["nmi"], 4) or abs(printed["nmi"] - expected["nmi"]) < 1e-4
    assert abs(printed["ari"] - expected["ari"]) < 1e-4
