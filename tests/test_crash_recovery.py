"""``kill -9`` during ``index``, 20+ times at random moments: the store is never damaged, the next complete
run leaves exactly the photos on disk (no duplicate or stale rows), and the vectors equal a clean run's.

Runs are forks of a server that imported torch once (see :mod:`crashloop`), so 20 kills fit in the
default test run; ``benchmarks/reliability_report.py`` repeats the loop with fresh ``python -m proxysort``
processes. Between kills the folder changes (edits, removals, renames, additions) so every run has work
to lose. Forked runs use batches of 4 and commit every ~20 ms, so kills land inside and between commits.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from tests.support.crashloop import Forker, make_folder, mutate, photos_on_disk, run_and_kill, run_to_end
from tests.support.storecheck import check_store, rows_committed_since, store_files, vectors
from tests.support.treesnap import assert_unchanged, snapshot

KILLS = 20
COMPLETE_EVERY = 4  # a run to the end after every 4th kill, then full checks


def _clean_reference(folder: Path, cache: Path) -> dict[str, np.ndarray]:
    """Vectors of a clean, uninterrupted run on the folder as it is now."""
    from proxysort.encoders import ModelSpec
    from proxysort.indexer import index
    from tests.support.crashloop import TINY

    result = index(folder, model=ModelSpec(model=TINY, pretrained="none", device="cpu"), cache_dir=cache)
    return vectors(result.store)


def test_kill_minus_nine_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    folder = tmp_path / "photos"
    cache = tmp_path / "cache"
    make_folder(folder, 160, seed=1)
    # small batches and a 20 ms commit interval: a one-second run commits ~20 times
    forker = Forker(commit_seconds=0.02, extra_args=("--batch-size", "4", "--workers", "1"))
    log = tmp_path / "run.log"

    # Calibrate: how long one complete run of this size takes here (first fork also starts the server).
    first = run_to_end(forker.start, folder, tmp_path / "calibration-cache", log)
    assert first.code == 0, log.read_text()
    mutate(folder, rng, edit_fraction=0.5)
    timed = run_to_end(forker.start, folder, tmp_path / "calibration-cache", log)
    assert timed.code == 0, log.read_text()
    span = max(0.5, 1.3 * timed.seconds)

    kills, completed_early, where, iterations = 0, 0, [], 0
    while kills < KILLS:
        iterations += 1
        assert iterations <= 5 * KILLS, f"only {kills} of {iterations} runs were still running at their kill time"
        mutate(folder, rng, edit_fraction=0.5)
        before = snapshot(folder)
        # half the kills anywhere in the run, half in its last 40 % where the commits happen
        delay = rng.uniform(0.05, span) if rng.random() < 0.5 else rng.uniform(0.6 * span, span)
        outcome = run_and_kill(forker.start, folder, cache, log, delay)
        assert_unchanged(before, folder)
        if not outcome.killed:
            assert outcome.code == 0, log.read_text()
            completed_early += 1
            span = max(0.3, 0.85 * span)  # this machine is faster than calibrated: aim earlier
            continue
        kills += 1
        where.append(rows_committed_since(cache, outcome.started_wall))
        for db in store_files(cache):
            check = check_store(db, after_crash=True)
            assert check.ok, (kills, outcome, check.integrity, check.problems)
        if kills % COMPLETE_EVERY == 0:
            done = run_to_end(forker.start, folder, cache, log)
            assert done.code == 0, log.read_text()
            (db,) = store_files(cache)
            check = check_store(db, folder.resolve(), {str(Path(p).resolve()) for p in photos_on_disk(folder)})
            assert check.ok, (kills, check.integrity, check.problems)

    # kills landed both before a run's first commit and after some of its commits (mid-write)
    assert where.count(0) >= 1 and sum(1 for n in where if n > 0) >= 2, where
    done = run_to_end(forker.start, folder, cache, log)
    assert done.code == 0, log.read_text()
    (db,) = store_files(cache)
    on_disk = {str(Path(p).resolve()) for p in photos_on_disk(folder)}
    check = check_store(db, None, on_disk)
    assert check.ok, check.problems
    got = vectors(db)
    want = _clean_reference(folder, tmp_path / "reference-cache")
    assert set(got) == set(want) == on_disk
    worst = max(float(np.abs(got[p] - want[p]).max()) for p in want)
    assert worst < 2e-3, worst  # float16 storage: equal up to one rounding step
