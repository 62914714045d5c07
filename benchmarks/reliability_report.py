"""Reliability figures for the closing note: hostile inputs, kill -9 loop, concurrent runs, files changed.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_report --kills 25 --pairs 5   # from the repository root

Everything runs the real CLI with the tiny test model (random weights, offline) in a temporary folder:

1. Hostile corpus: ``proxysort index`` once; the outcome of every kind and whether it matches the manifest.
2. Kill loop: ``--kills`` times, change the folder, start ``python -m proxysort index`` (a fresh process,
   or a fork of a preloaded server with ``--fork``), SIGKILL it after a random delay, then run to the end
   and check the store (integrity, exact rows, no duplicates). At the end, compare all vectors with a
   clean run's.
3. Concurrency: ``--pairs`` times, two runs on the same folder and cache at once.
4. Photo-tree snapshots before/after everything: files lost or changed (must be 0).
5. Output tree (issue 14's output half, issue 11's trees): every output-tree test case (tests/test_output_*.py)
   grouped by scenario family, plus stress rounds: ``--race-rounds`` symlink-swap races per link mode,
   ``--writer-trials`` sets of 2-3 writers into one OUT at once, and the property test with
   ``--property-examples`` random interleavings. Prints a table: family, cases tried, passed.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_report --skip hostile kills pairs inputs   # output tree only
6. Issue 14's input families (``benchmarks/reliability_inputs.py``): hostile stdin lists and names, arguments,
   LLM answers, damaged caches, line-breaking names; a table of family, cases tried, passed.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_report --skip hostile kills pairs output   # inputs only
7. Round 3 (issue 26, everything but the review page and thumbnails): every test written for a round-3
   finding, run with slow ones included, grouped by finding (F1 ... F21) into a table of family, cases,
   passed; the system files the attacks aimed at (``/etc/passwd``, ``/etc/hosts``) compared before and
   after. Then what containing a decoder crash in a child process would cost: a RAW decoded in this
   process vs. in a child of its own, median of ``--raw-rounds``, as a ratio (why proxysort records the
   files in flight instead and uses a child only after a crash). And F16's price: a content id over every
   byte vs. the old sampled one, beside the decode a new file gets anyway.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_report --skip hostile kills pairs output inputs   # round 3 only
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tests.support.crashloop as cl
from tests.support.storecheck import check_store, rows_committed_since, store_files, vectors
from tests.support.treesnap import diff, snapshot


def hostile(work: Path) -> tuple[int, int, list[str]]:
    """(kinds, kinds with the expected outcome, lines describing the rest)."""
    from proxysort.encoders import ModelSpec
    from proxysort.indexer import index
    from proxysort.progress import Reporter
    from tests.support.hostile import ABSENT, OK, SKIPPED, make_corpus

    class Rec(Reporter):
        def __init__(self) -> None:
            self.skips: list[str] = []

        def skipped(self, path, reason) -> None:  # type: ignore[override]
            self.skips.append(str(path))

    corpus = make_corpus(work / "hostile")
    before = snapshot(corpus.root)
    rec = Rec()
    result = index(corpus.root, model=ModelSpec(model=cl.TINY, pretrained="none", device="cpu"),
                   cache_dir=work / "hostile-cache", reporter=rec)
    indexed = {str(p) for p in result.paths}
    good, notes = 0, []
    for e in corpus.entries:
        n = rec.skips.count(str(e.path))
        got = OK if str(e.path) in indexed else (SKIPPED if n else ABSENT)
        if got in e.allowed and n <= 1:
            good += 1
        else:
            notes.append(f"  {e.kind}: got {got} (reported {n}x), allowed {sorted(e.allowed)}")
    changed = diff(before, snapshot(corpus.root))
    notes += [f"  photo tree: {c}" for c in changed]
    print(f"hostile corpus: {len(corpus.kinds)} kinds, {good} with the expected outcome, "
          f"{len(corpus.where(SKIPPED))} must-skip, {len(rec.skips)} skip lines, {len(changed)} tree changes")
    if corpus.not_built:
        print(f"  not built here: {corpus.not_built}")
    for line in notes:
        print(line)
    return len(corpus.kinds), good, notes


def kill_loop(work: Path, kills: int, n_photos: int, use_fork: bool, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    folder, cache, log = work / "photos", work / "cache", work / "run.log"
    cl.make_folder(folder, n_photos, seed=seed)
    if use_fork:
        forker = cl.Forker(commit_seconds=0.02, extra_args=("--batch-size", "4", "--workers", "1"))
        start = forker.start
    else:
        start = cl.start_subprocess
    t = cl.run_to_end(start, folder, work / "calibration", log)
    assert t.code == 0, log.read_text()
    cl.mutate(folder, rng, edit_fraction=0.5)
    t = cl.run_to_end(start, folder, work / "calibration", log)
    span = max(0.5, 1.1 * t.seconds)
    print(f"kill loop: {n_photos} photos, {'forked' if use_fork else 'fresh python -m proxysort'} runs, "
          f"one complete run after an edit takes {t.seconds:.1f} s; kill delays in [0.05, {span:.1f}] s, half of them in the last 40 %")

    stats: collections.Counter[str] = collections.Counter()
    committed_at_kill: list[int] = []
    tree_changes = 0
    while stats["killed"] < kills:
        cl.mutate(folder, rng, edit_fraction=0.5)
        before = snapshot(folder)
        delay = rng.uniform(0.05, span) if rng.random() < 0.5 else rng.uniform(0.6 * span, span)
        o = cl.run_and_kill(start, folder, cache, log, delay)
        tree_changes += len(diff(before, snapshot(folder)))
        if not o.killed:
            stats["finished before the kill"] += 1
            stats["bad exit"] += o.code != 0
            print(f"  run finished (exit {o.code}) before its kill at {delay:.1f} s", flush=True)
            span = max(0.3, 0.85 * span)  # runs are faster than calibrated (load went down): aim earlier
            continue
        stats["killed"] += 1
        n = rows_committed_since(cache, o.started_wall)
        committed_at_kill.append(n)
        for db in store_files(cache):
            c = check_store(db, after_crash=True)
            stats["integrity failures after kill"] += not c.ok
        before = snapshot(folder)
        done = cl.run_to_end(start, folder, cache, log)
        tree_changes += len(diff(before, snapshot(folder)))
        stats["next run completed"] += done.code == 0
        (db,) = store_files(cache)
        on_disk = {str(Path(p).resolve()) for p in cl.photos_on_disk(folder)}
        c = check_store(db, None, on_disk)
        stats["store exact after next run"] += c.ok
        print(f"  kill {stats['killed']} at {o.seconds:.1f} s ({n} rows of that run committed): next run exit "
              f"{done.code}, store {'exact' if c.ok else c.integrity + ' ' + str(c.problems)}", flush=True)
    (db,) = store_files(cache)
    from proxysort.encoders import ModelSpec
    from proxysort.indexer import index

    ref = index(folder, model=ModelSpec(model=cl.TINY, pretrained="none", device="cpu"), cache_dir=work / "reference")
    got, want = vectors(db), vectors(ref.store)
    worst = max(float(abs(got[p] - want[p]).max()) for p in want) if set(got) == set(want) else float("inf")
    before_first = sum(1 for n in committed_at_kill if n == 0)
    print(f"  kills: {stats['killed']} ({before_first} before the run's first commit, "
          f"{stats['killed'] - before_first} after 1..{max(committed_at_kill)} rows of it were committed); "
          f"{stats['finished before the kill']} runs finished before their kill time "
          f"({stats['bad exit']} of them with a non-zero exit)")
    print(f"  next run completed: {stats['next run completed']}/{stats['killed']}; store exact (integrity ok, rows == "
          f"files on disk, no duplicates, no stale rows): {stats['store exact after next run']}/{stats['killed']}; "
          f"integrity failures right after a kill: {stats['integrity failures after kill']}")
    print(f"  final vectors vs a clean run: {len(got)} paths, same set: {set(got) == set(want)}, max |diff| {worst:.2e}")
    print(f"  photo tree changes made by proxysort during the loop: {tree_changes}")
    return dict(stats, worst=worst, tree_changes=tree_changes)


def pairs(work: Path, n_pairs: int, seed: int) -> None:
    forker = cl.Forker(commit_seconds=0.02, extra_args=("--batch-size", "4", "--workers", "1"))
    rng = random.Random(seed)
    ok = exact = 0
    changes = 0
    for i in range(n_pairs):
        folder, cache = work / f"pair{i}" / "photos", work / f"pair{i}" / "cache"
        cl.make_folder(folder, 100, seed=seed + i)
        before = snapshot(folder)
        procs = []
        for j in range(2):
            procs.append(forker.start(folder, cache, work / f"pair{i}" / f"{j}.log"))
            time.sleep(rng.uniform(0, 0.5))
        for p in procs:
            p.join(300)
        ok += all(p.exitcode == 0 for p in procs)
        (db,) = store_files(cache)
        exact += check_store(db, None, {str(Path(p).resolve()) for p in cl.photos_on_disk(folder)}).ok
        changes += len(diff(before, snapshot(folder)))
    print(f"concurrency: {n_pairs} pairs of simultaneous index runs: both exit 0 in {ok}/{n_pairs}, "
          f"store exact in {exact}/{n_pairs}, photo tree changes {changes}")


#: Output-tree scenario families: (name, regex over the test ids that belong to it).
OUTPUT_FAMILIES = [
    ("last copy never removed (hardlink/copy re-run, clean)", r"last_copy|moved_inside|rerun_after_deleting|symlinks_to_deleted"),
    ("folder swapped for a symlink while writing/removing", r"swapped_for_symlinks|replaced_by_a_symlink"),
    ("concurrent runs into one OUT (same/different --by)", r"at_once"),
    ("photo deleted while cluster learns (exit 3)", r"deleted_after_indexing|deleted_while_learning"),
    ("cache folder inside the new OUT (refused first)", r"cache_inside"),
    ("manifest hardening (types, NUL, nesting, forged paths)", r"malformed_manifest|deeply_nested|forged_manifest|tampered_manifest"),
    ("--out longer than PATH_MAX / on a read-only mount", r"path_max|read_only"),
    ("trees of several concepts coexist", r"second_concept|two_concepts|rerunning_two|previous_version"),
    ("companions beside their photo, duplicates once", r"companion"),
    ("clean removes only proxysort's files", r"clean"),
    ("property: random runs/kills/edits/deletions", r"random_interleavings"),
    ("other output safety (names, foreign files, crash)", r"."),
]


def output_tree(work: Path, race_rounds: int, writer_trials: int, property_examples: int, seed: int) -> list[tuple[str, int, int]]:
    """Run every output-tree test case and the stress rounds; return (family, cases, passed) rows."""
    import re
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    from proxysort.output import LINK_MODES
    from tests.support.outrace import concurrent_writers, swap_race

    rows: dict[str, list[int]] = {name: [0, 0] for name, _ in OUTPUT_FAMILIES}
    junit = work / "output-tree.xml"
    env = dict(os.environ, PROXYSORT_PROPERTY_EXAMPLES=str(property_examples), OMP_NUM_THREADS="1")
    root = Path(__file__).resolve().parent.parent
    tests = sorted(str(p) for p in (root / "tests").glob("test_output*.py"))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                    f"--junitxml={junit}", *tests], cwd=root, env=env, stdout=subprocess.DEVNULL)
    failed_ids = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("skipped") is not None:
            continue
        ok = case.find("failure") is None and case.find("error") is None
        family = next(f for f, pattern in OUTPUT_FAMILIES if re.search(pattern, name))
        rows[family][0] += 1
        rows[family][1] += ok
        if not ok:
            failed_ids.append(name)
    rng = random.Random(seed)
    race = "folder swapped for a symlink while writing/removing"
    for i in range(race_rounds):
        for link in LINK_MODES:
            r = swap_race(work / f"race-{i}-{link}", link, iterations=40, n_photos=30, seed=seed + i)
            rows[race][0] += 1
            rows[race][1] += r.ok and r.swaps > 0
            if not r.ok:
                failed_ids.append(f"swap race {link} round {i}: {r.photo_changes[:3]} {r.outside}")
    conc = "concurrent runs into one OUT (same/different --by)"
    for i in range(writer_trials):
        concepts = [rng.choice(["color", "species", "mood"]) for _ in range(rng.choice([2, 3]))]
        r = concurrent_writers(work / f"writers-{i}", concepts, link=rng.choice(LINK_MODES), n_photos=150, seed=seed + i)
        ok = r.ok and r.trees == sorted(set(concepts))
        rows[conc][0] += 1
        rows[conc][1] += ok
        if not ok:
            failed_ids.append(f"writers {concepts}: codes {r.codes}, {r.problems[:3]}, trees {r.trees}")
    print(f"output tree: tests/test_output*.py with {property_examples} property examples, {race_rounds} swap-race "
          f"round(s) of 40 runs per link mode, {writer_trials} concurrent-writer trial(s)")
    print(f"  {'scenario family':<58} {'cases':>5} {'passed':>6}")
    table = [(name, c, p) for name, (c, p) in rows.items() if c]
    for name, cases, passed in table:
        print(f"  {name:<58} {cases:>5} {passed:>6}")
    print(f"  {'total':<58} {sum(c for _, c, _ in table):>5} {sum(p for _, _, p in table):>6}")
    for line in failed_ids:
        print(f"  FAILED: {line}")
    return table


#: Round-3 findings this slice fixes: (family, regex over the test names); the first pattern that fits wins.
ROUND3_FAMILIES = [
    ("F1 a new photo under a deleted photo's name keeps its last copy", r"new_photo_under_a_deleted|hard_link_whose_photo_was_replaced"),
    ("F2 a copy edited in place (same size, mtime) is never removed", r"edited_in_place|content_hash_and_unchanged|without_content_hashes"),
    ("F5 links out of the photo folders never copied or hard-linked", r"linking_outside|link_inside_the_photo|outside_link_after|proc_environ|between_the_check"),
    ("F15 one unreadable companion skipped, never the tree", r"swapped_for_a_fifo|turns_into_a_fifo|unreadable_companion|write_error_names"),
    ("F9 FIFOs named as words, labels, store: one sentence, no hang", r"fifo|not_a_regular_file|refuses_a_device"),
    ("F10 huge or endless words/labels files refused before reading", r"large|small_regular|read_limited_reads"),
    ("F11 decoder crash named and skipped (local, Ray bounded)", r"decoder_crash"),
    ("F14 clean on a read-only OUT is one sentence", r"clean_on_a_read_only"),
    ("F16 files differing outside the samples get their own vector", r"outside_the_sampled|reads_every_byte"),
    ("F17 clashing companion names all arrive", r"names_clash"),
    ("F19 Ctrl-C swallowed in a destructor still stops the run", r"destructor"),
    ("F20 terminal escapes shown escaped", r"escape"),
    ("F21 --group, --print0 with a table, a too-long prompt", r"group_naming|print0|longer_than_clip"),
    ("F3 the page written on the held OUT, never into the photos", r"held_folder"),
    ("F4, F12 thumbnail cache: no link followed, no traceback", r"link_in_the_cache|cache_inside_the_photo|cannot_hold_folders|bad_thumbnail_cache"),
    ("F6 the page is the manifest's (stale page, runs at once, clean)", r"stale_page|reconcile_takes|two_runs_at_once|clean_of_one_concept"),
    ("F7 Ctrl-C in the page step says the tree was written", r"interrupt_in_the_page"),
    ("F8, F13 page data read strictly, every value escaped", r"strictly|nested_deep|forged_page_data|bad_page_data"),
    ("F2 (K12), F23 clean: only proxysort's page files, no partials", r"users_index_html"),
    ("F16 thumbnails named by the full content", r"full_content"),
    ("F18 a damaged thumbnail is made again", r"damaged"),
    ("F22 a malformed URL fragment breaks nothing (Chromium)", r"malformed_fragment"),
    ("a copied OUT shows every thumbnail, cache deleted (Chromium)", r"copied_out"),
]
ROUND3_TESTS = ["tests/test_output_identity.py", "tests/test_bounded_reads.py", "tests/test_cli_reliability.py",
                "tests/test_decode_crash.py", "tests/test_reporter.py::test_terminal_escapes_in_names_and_messages_are_shown_escaped",
                "tests/test_store.py::test_content_hash_reads_every_byte",
                "tests/test_indexer.py::test_scans_differing_only_outside_the_sampled_regions_get_their_own_vectors",
                # the page and the thumbnail cache (page's part of issue 26)
                "tests/test_thumbs.py::test_a_link_in_the_cache_never_sends_thumbnails_elsewhere",
                "tests/test_thumbs.py::test_a_cache_inside_the_photo_folder_is_refused",
                "tests/test_thumbs.py::test_a_cache_that_cannot_hold_folders_is_one_reason_per_photo_not_a_traceback",
                "tests/test_thumbs.py::test_a_damaged_cached_thumbnail_is_made_again",
                "tests/test_thumbs.py::test_thumbnails_are_addressed_by_the_full_content",
                "tests/test_cli_show.py::test_show_renders_forged_page_data_as_nothing_but_text",
                "tests/test_cli_show.py::test_bad_page_data_or_page_is_one_message_never_a_traceback_or_a_hang",
                "tests/test_cli_show.py::test_a_damaged_thumbnail_is_made_again_by_show",
                "tests/test_cli_show.py::test_interrupt_in_the_page_step_says_the_tree_was_written",
                "tests/test_cli_show.py::test_two_runs_at_once_of_different_concepts_leave_a_page_with_both",
                "tests/test_cli_show.py::test_clean_of_one_concept_redraws_the_page_without_it",
                "tests/test_cli_show.py::test_a_bad_thumbnail_cache_sends_nothing_into_the_photos_and_stops_nothing",
                "tests/test_page.py::test_page_data_is_read_as_strictly_as_the_manifest",
                "tests/test_page.py::test_page_data_nested_deep_or_not_json_is_refused",
                "tests/test_page.py::test_a_stale_page_is_reconciled_with_the_manifest",
                "tests/test_page.py::test_reconcile_takes_groups_from_the_manifest_and_what_it_knows_from_the_data",
                "tests/test_page.py::test_the_page_is_written_on_the_held_folder_even_if_out_is_swapped",
                "tests/test_page.py::test_a_users_index_html_is_neither_replaced_nor_cleaned",
                "tests/test_page.py::test_a_fifo_at_the_page_or_its_data_never_blocks",
                "tests/test_page_browser.py::test_a_malformed_fragment_breaks_nothing",
                "tests/test_page_browser.py::test_a_copied_out_shows_every_thumbnail_with_the_cache_deleted"]
SYSTEM_FILES = ["/etc/passwd", "/etc/hosts"]


def _system_state() -> dict[str, tuple[int, int, int, int, str]]:
    import hashlib

    state = {}
    for name in SYSTEM_FILES:
        st = os.stat(name)
        state[name] = (st.st_ino, st.st_nlink, st.st_size, st.st_mtime_ns, hashlib.sha256(Path(name).read_bytes()).hexdigest())
    return state


def round3(work: Path) -> list[tuple[str, int, int]]:
    """Every round-3 test of this slice, slow ones included, grouped by finding; system files checked."""
    import re
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    root = Path(__file__).resolve().parent.parent
    junit = work / "round3.xml"
    before = _system_state()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root / "src"))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *ROUND3_TESTS],
                   cwd=root, env=env, stdout=subprocess.DEVNULL)
    rows: dict[str, list[int]] = {name: [0, 0] for name, _ in ROUND3_FAMILIES}
    failed, unplaced = [], []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("skipped") is not None:
            continue
        ok = case.find("failure") is None and case.find("error") is None
        family = next((f for f, pattern in ROUND3_FAMILIES if re.search(pattern, name)), None)
        if family is None:
            unplaced.append(name)
            continue
        rows[family][0] += 1
        rows[family][1] += ok
        if not ok:
            failed.append(name)
    changed = [name for name, state in _system_state().items() if state != before[name]]
    print(f"round 3 (issue 26): {', '.join(ROUND3_TESTS[:4])} and {len(ROUND3_TESTS) - 4} more, slow ones included")
    print(f"  {'finding':<66} {'cases':>5} {'passed':>6}")
    table = [(name, c, p) for name, (c, p) in rows.items() if c]
    for name, cases, passed in table:
        print(f"  {name:<66} {cases:>5} {passed:>6}")
    print(f"  {'total':<66} {sum(c for _, c, _ in table):>5} {sum(p for _, _, p in table):>6}")
    print(f"  system files changed: {changed or 'none'} (of {', '.join(SYSTEM_FILES)})")
    for name in failed:
        print(f"  FAILED: {name}")
    for name in unplaced:
        print(f"  not in any family: {name}")
    return table


def child_cost(work: Path, rounds: int) -> None:
    """A 6 MP DNG decoded here vs. in a child process of its own (what isolating every RAW would cost)."""
    import statistics

    from proxysort.decodeguard import crashes
    from proxysort.imageio import load_image
    from tests.support.dngwriter import write_dng

    path = write_dng(work / "cost.dng", width=3000, height=2000, preview=(1620, 1080))
    here, child = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        load_image(path, 224)
        here.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert crashes(path, 224) is None
        child.append(time.perf_counter() - t)
    a, b = statistics.median(here), statistics.median(child)
    print(f"decoder isolation: a 6 MP DNG (with preview) decoded in-process {a * 1000:.0f} ms, in a child process "
          f"{b * 1000:.0f} ms (median of {rounds}): {b / a:.1f}x per RAW")


def hash_cost(work: Path, rounds: int) -> None:
    """F16's price: the content id over every byte vs. the old three 64 KiB samples, beside the decode the
    same new file gets anyway, for a 12 MP camera-like JPEG (noise, so it does not compress away)."""
    import hashlib
    import statistics

    import numpy as np
    from PIL import Image

    from proxysort.imageio import load_image
    from proxysort.store import content_hash

    path = work / "camera.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)).save(path, quality=90)
    size = path.stat().st_size

    def sampled() -> str:  # the old partial hash, as it was
        h, chunk = hashlib.blake2b(digest_size=16), 64 * 1024
        with open(path, "rb") as f:
            h.update(str(size).encode())
            h.update(f.read(chunk))
            f.seek(size // 2)
            h.update(f.read(chunk))
            f.seek(size - chunk)
            h.update(f.read(chunk))
        return h.hexdigest()

    times: dict[str, list[float]] = {"sampled": [], "full": [], "decode": []}
    for _ in range(rounds):
        for name, fn in (("sampled", sampled), ("full", lambda: content_hash(path)), ("decode", lambda: load_image(path, 224))):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"content id of a {size / 1e6:.1f} MB 12 MP JPEG (page cache warm, median of {rounds}): sampled "
          f"{med['sampled']:.2f} ms, every byte {med['full']:.1f} ms, the reduced decode every new file gets "
          f"{med['decode']:.0f} ms: the full hash adds {med['full'] / med['decode']:.0%} of the decode")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--fork", action="store_true", help="fork runs from a preloaded server (fast) instead of fresh processes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--race-rounds", type=int, default=3, help="symlink-swap race rounds per link mode")
    ap.add_argument("--writer-trials", type=int, default=8, help="trials of 2-3 writers into one OUT at once")
    ap.add_argument("--property-examples", type=int, default=100, help="examples of the output-tree property test")
    ap.add_argument("--raw-rounds", type=int, default=7, help="rounds of the in-process vs child-process RAW decode")
    ap.add_argument("--skip", nargs="*", default=[], choices=["hostile", "kills", "pairs", "output", "inputs", "round3"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxysort-reliability-") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        if "hostile" not in args.skip:
            hostile(work)
        if "kills" not in args.skip:
            kill_loop(work, args.kills, args.photos, args.fork, args.seed)
        if "pairs" not in args.skip:
            pairs(work, args.pairs, args.seed)
        if "output" not in args.skip:
            output_tree(work, args.race_rounds, args.writer_trials, args.property_examples, args.seed)
        if "inputs" not in args.skip:  # issue 14, input side: its own module, its own table
            from benchmarks.reliability_inputs import print_table, run_families

            print("input families (issue 14):")
            print_table(run_families(work))
        if "round3" not in args.skip:
            round3(work)
            child_cost(work, args.raw_rounds)
            hash_cost(work, args.raw_rounds)
        print(f"total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
