"""Two ``index`` runs at the same time on the same cache both finish correctly, without corruption.

The runs are real CLI invocations in separate processes (forked from a preloaded server, see
:mod:`crashloop`). They overlap in time: the second starts while the first is scanning or embedding.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.crashloop import Forker, make_folder, mutate, photos_on_disk
from tests.support.storecheck import check_store, store_files, vectors
from tests.support.treesnap import assert_unchanged, snapshot


@pytest.fixture(scope="module")
def forker() -> Forker:
    return Forker(commit_seconds=0.02, extra_args=("--batch-size", "4", "--workers", "1"))


def _start_together(forker: Forker, jobs: list[tuple[Path, Path, Path]], stagger: float) -> list[int]:
    procs = []
    for folder, cache, log in jobs:
        procs.append(forker.start(folder, cache, log))
        time.sleep(stagger)
    codes = []
    for proc in procs:
        proc.join(120)
        assert not proc.is_alive(), "a concurrent index run did not finish"
        codes.append(proc.exitcode)
    return codes


def _resolved(paths: set[str]) -> set[str]:
    return {str(Path(p).resolve()) for p in paths}


@pytest.mark.parametrize("stagger", [0.0, 0.3])
def test_two_runs_on_the_same_folder(tmp_path: Path, forker: Forker, stagger: float) -> None:
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 120, seed=3)
    before = snapshot(folder)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    codes = _start_together(forker, [(folder, cache, logs[0]), (folder, cache, logs[1])], stagger)
    assert codes == [0, 0], [log.read_text()[-800:] for log in logs]
    assert_unchanged(before, folder)
    (db,) = store_files(cache)
    on_disk = _resolved(photos_on_disk(folder))
    check = check_store(db, None, on_disk)
    assert check.ok, check.problems
    # the runs were serialised (the second waited) or the second found everything done: nothing embedded twice
    summaries = [next(line for line in log.read_text().splitlines() if line.startswith("indexed: ")) for log in logs]
    embedded = sorted(int(re.search(r"(\d+) embedded", s).group(1)) for s in summaries)
    assert embedded == [0, len(on_disk)], summaries

    # and the result equals a single clean run's vectors
    solo = tmp_path / "solo-cache"
    assert _start_together(forker, [(folder, solo, tmp_path / "solo.log")], 0) == [0]
    got, want = vectors(db), vectors(store_files(solo)[0])
    assert set(got) == set(want)
    assert max(float(np.abs(got[p] - want[p]).max()) for p in want) < 2e-3


def test_parent_and_subfolder_indexed_at_once_while_the_folder_changes(tmp_path: Path, forker: Forker) -> None:
    """One run indexes the library, another a sub-folder of it, then both again after edits: the sweep of
    one must not remove the other's rows, and both finish."""
    folder, cache = tmp_path / "photos", tmp_path / "cache"
    make_folder(folder, 140, seed=4)
    sub = folder / "d3"
    for round_ in range(2):
        codes = _start_together(
            forker, [(folder, cache, tmp_path / f"all{round_}.log"), (sub, cache, tmp_path / f"sub{round_}.log")], 0.1
        )
        assert codes == [0, 0], (tmp_path / f"all{round_}.log").read_text()[-800:]
        (db,) = store_files(cache)
        check = check_store(db, None, _resolved(photos_on_disk(folder)))
        assert check.ok, (round_, check.problems)
        mutate(folder, random.Random(round_))
