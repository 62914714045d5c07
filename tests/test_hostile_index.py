"""``index`` on a hostile folder: never crashes or hangs, reports each bad file once, changes nothing.

The corpus comes from :mod:`hostile` (60+ kinds, each with the outcome it must have). The library call is
used for the detailed per-file checks (one model load for the module); the CLI test checks what users see:
one stderr line per skipped file and the documented exit code for a partial run (3).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest

from proxysort.errors import ExitCode
from proxysort.progress import Reporter
from tests.support.hostile import (
    ABSENT,
    OK,
    SKIPPED,
    Corpus,
    is_regular,
    make_corpus,
    make_race_targets,
    spoil,
    upright_picture,
)
from tests.support.photos import TINY_CONFIG
from tests.support.storecheck import check_store
from tests.support.treesnap import assert_unchanged, snapshot

TINY = str(TINY_CONFIG)


class Recorder(Reporter):
    """Keeps every skipped-file report so a test can count them per path."""

    def __init__(self) -> None:
        self.skips: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def skipped(self, path: str | Path, reason: str) -> None:
        with self.lock:
            self.skips.append((str(path), reason))


def _outcomes(corpus: Corpus, indexed: set[str], skips: list[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """kind -> (outcome, times reported)."""
    out = {}
    for e in corpus.entries:
        key = str(e.path)
        reports = sum(1 for p, _ in skips if p == key)
        if key in indexed:
            outcome = OK
        elif reports:
            outcome = SKIPPED
        else:
            outcome = ABSENT
        out[e.kind] = (outcome, reports)
    return out


@pytest.fixture(scope="module")
def module_clip():
    from proxysort.encoders import ModelSpec, load_clip

    return load_clip(ModelSpec(model=TINY, pretrained="none", device="cpu"))


def test_corpus_has_at_least_twenty_kinds_and_pillow_agrees(tmp_path: Path) -> None:
    """The generator itself: enough kinds, and plain Pillow fails exactly on the files meant to be bad."""
    from PIL import Image, ImageOps

    corpus = make_corpus(tmp_path / "photos")
    assert len(corpus.kinds) >= 20
    assert {e.expect for e in corpus.entries} == {OK, SKIPPED, ABSENT}
    for e in corpus.entries:
        if e.allowed != frozenset({e.expect}) or e.expect == ABSENT:
            continue
        try:
            with Image.open(e.path) as img:
                ImageOps.exif_transpose(img).convert("RGB")
            decoded = True
        except Exception:  # noqa: BLE001 - any failure counts as "Pillow refuses it"
            decoded = False
        assert decoded == (e.expect == OK), e.kind


def test_index_survives_the_hostile_corpus(tmp_path: Path, module_clip) -> None:
    from proxysort.indexer import index

    corpus = make_corpus(tmp_path / "photos")
    from tests.support.photos import make_photo

    make_photo(tmp_path / "beside" / "not-in-the-folder.jpg")  # reachable only through the link above the root
    before = snapshot(corpus.root)
    rec = Recorder()
    result = index(corpus.root, model=module_clip, cache_dir=tmp_path / "cache", reporter=rec)
    indexed = {str(p) for p in result.paths}
    outcomes = _outcomes(corpus, indexed, rec.skips)

    wrong = {k: o for k, o in outcomes.items() if o[0] not in next(e.allowed for e in corpus.entries if e.kind == k)}
    assert not wrong, f"unexpected outcomes (kind: (outcome, reports)): {wrong}"
    twice = {k: n for k, (_, n) in outcomes.items() if n > 1}
    assert not twice, f"reported more than once: {twice}"
    for path, reason in rec.skips:
        assert reason.strip() and "\n" not in reason, (path, reason)
    # nothing indexed that is not a photo of the corpus (loops, junk and hidden folders stay out)
    known = {str(e.path) for e in corpus.entries}
    assert indexed <= known, sorted(indexed - known)
    assert result.vectors.shape == (len(result.paths), module_clip.embed_dim)
    assert result.summary.failed == len(result.failures) >= len(corpus.where(SKIPPED))
    check = check_store(result.store)
    assert check.ok, check.problems
    assert_unchanged(before, corpus.root)

    # a second run: nothing re-embedded; a bad file the failure cache remembers is counted in one line
    # (`repeated`), every other one (what the scan skips: links, names) is reported once again
    rec2 = Recorder()
    again = index(corpus.root, model=module_clip, cache_dir=tmp_path / "cache", reporter=rec2)
    assert again.summary.embedded == 0
    assert {str(p) for p in again.paths} == indexed
    told, remembered = {str(p) for p, _ in rec2.skips}, {str(p) for p, _ in again.repeated}
    assert remembered and not (told & remembered) and told | remembered == {str(p) for p, _ in rec.skips}
    assert_unchanged(before, corpus.root)


def test_exif_orientations_decode_upright(tmp_path: Path) -> None:
    """All eight orientations (and broken EXIF) give the same upright pixels as the untagged picture."""
    import numpy as np

    from proxysort.imageio import load_image

    corpus = make_corpus(tmp_path / "photos")
    reference = np.asarray(upright_picture(), dtype=np.float32)
    for e in corpus.entries:
        if e.kind.startswith("exif-orientation-") or e.kind in ("corrupt-exif", "exif-truncated-ifd"):
            got = np.asarray(load_image(e.path), dtype=np.float32)
            assert got.shape == reference.shape, e.kind
            assert np.abs(got - reference).mean() < 8, e.kind  # JPEG noise only; a wrong rotation is ~60


def test_files_removed_or_replaced_between_scan_and_decode(tmp_path: Path, module_clip, monkeypatch) -> None:
    """The scan lists a file, then it vanishes, empties, turns into garbage, a folder or a FIFO.

    A FIFO is the dangerous one: opening it for reading blocks until a writer appears, so a decoder that
    does not re-check the file type hangs the run forever. A watchdog unblocks such a reader (by opening
    the write end) after a generous delay, so the test fails instead of hanging.
    """
    import proxysort.indexer as indexer

    root = tmp_path / "photos"
    races = make_race_targets(root)
    before_first = snapshot(root)
    real_gather = indexer.gather

    def scan_then_spoil(*args, **kwargs):
        found = real_gather(*args, **kwargs)
        spoil(races)
        return found

    monkeypatch.setattr(indexer, "gather", scan_then_spoil)
    hung = threading.Event()
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(15):
            return
        hung.set()
        while not done.wait(0.1):  # every open() of the FIFO blocks again: keep releasing them
            for race in races:
                try:
                    if stat.S_ISFIFO(os.lstat(race.path).st_mode):
                        os.close(os.open(race.path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass

    threading.Thread(target=watchdog, daemon=True).start()
    rec = Recorder()
    try:
        result = indexer.index(root, model=module_clip, cache_dir=tmp_path / "cache", reporter=rec)
    finally:
        done.set()
    assert not hung.is_set(), "index blocked on a FIFO that replaced a photo after the scan"
    indexed = {str(p) for p in result.paths}
    reported = [p for p, _ in rec.skips]
    for race in races:
        key = str(race.path)
        if race.expect == OK:
            assert key in indexed, race.kind
        else:
            assert key not in indexed and reported.count(key) == 1, (race.kind, reported)
    assert len(before_first) > 1
    # the next run (no more races) sees the folder as it is now, and the store matches it exactly
    monkeypatch.setattr(indexer, "gather", real_gather)
    again = indexer.index(root, model=module_clip, cache_dir=tmp_path / "cache", reporter=Recorder())
    on_disk = {str(r.path) for r in races if is_regular(r.path) and os.path.getsize(r.path) > 500}
    assert {str(p) for p in again.paths} == on_disk
    check = check_store(again.store, root, on_disk)
    assert check.ok, check.problems


def _skip_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("skipped: ")]


def test_cli_reports_each_bad_file_on_one_line_and_exits_partial(tmp_path: Path, run_cli) -> None:
    corpus = make_corpus(tmp_path / "photos")
    before = snapshot(corpus.root)
    argv = ["index", str(corpus.root), "--model", TINY, "--pretrained", "none", "--device", "cpu"]
    result = run_cli([*argv, "--verbose"])
    assert result.exit_code == ExitCode.PARTIAL == 3, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # results only on stdout, and `index` has none without --json
    lines = _skip_lines(result.stderr)
    for e in corpus.where(SKIPPED):
        shown = str(e.path).encode("unicode_escape", "backslashreplace").decode("ascii") if "\n" in str(e.path) else str(e.path)
        hits = [line for line in lines if line.startswith(f"skipped: {shown}: ")]
        assert len(hits) == 1, (e.kind, hits)
    newline_entry = next(e for e in corpus.entries if e.kind == "newline-name")
    assert not any(line.startswith("lines.jpg") for line in result.stderr.splitlines()), "a name split a line"
    assert newline_entry.expect == OK

    # Without --verbose, a reason already shown is counted instead: every skip is still accounted for
    # (a fresh cache: one that remembers the bad files counts them all in one line).
    again = run_cli([*argv, "--cache-dir", str(tmp_path / "fresh-cache")])
    assert again.exit_code == ExitCode.PARTIAL
    shown, counted = [], 0
    for line in _skip_lines(again.stderr):
        more = re.match(r"skipped: (\d+) more file\(s\): (.*) \(--verbose lists each\)$", line)
        if more:
            counted += int(more.group(1))
            assert any(s.endswith(": " + more.group(2)) for s in shown), line  # its first file was shown
        else:
            shown.append(line)
    assert counted > 0 and len(shown) + counted == len(lines)
    assert_unchanged(before, corpus.root)


@pytest.mark.parametrize("kind", ["broken-symlink", "non-utf8-name", "good-only"])
def test_exit_code_is_partial_exactly_when_something_was_skipped(tmp_path: Path, run_cli, kind: str) -> None:
    """Whatever stage notices a bad file (scan or decode), a skipped line on stderr means exit code 3."""
    from tests.support.photos import make_photo

    root = tmp_path / "photos"
    make_photo(root / "fine.jpg")
    if kind == "broken-symlink":
        (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    elif kind == "non-utf8-name":
        make_photo(Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9.jpg")))
    result = run_cli(["index", str(root), "--model", TINY, "--pretrained", "none", "--device", "cpu"])
    skipped = _skip_lines(result.stderr)
    assert len(skipped) == (0 if kind == "good-only" else 1), result.stderr
    assert result.exit_code == (ExitCode.OK if kind == "good-only" else ExitCode.PARTIAL), result.stderr


def test_damaged_exif_decodes_without_a_stray_warning_line(tmp_path: Path, monkeypatch) -> None:
    """Pillow warns about damaged EXIF through ``warnings``: on a real terminal that is a two-line
    traceback excerpt between the progress lines. The photo itself is fine and must decode silently."""
    import warnings

    import proxysort.imageio as imageio

    corpus = make_corpus(tmp_path / "photos")
    monkeypatch.setattr(imageio, "_bomb_filter_set", False)  # install the filters inside this test's context
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for e in corpus.entries:
            if e.kind in ("corrupt-exif", "exif-truncated-ifd", "exif-orientation-9"):
                imageio.load_image(e.path)
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]


def test_hostile_path_lists_and_explicit_names(tmp_path: Path, run_cli) -> None:
    """Every hostile list or name: the allowed exit code, one sentence or skip lines, no traceback (issue 14)."""
    import json

    from tests.support.hostile import make_list_cases

    failures = []
    for case in make_list_cases(tmp_path / "photos"):
        result = run_cli(["index", *case.args, "--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu",
                          "--json", "-q"], stdin=case.stdin)
        lines = result.stderr.splitlines()
        ok = result.exit_code in case.exits and "Traceback" not in result.stderr
        if result.exit_code in (2, 6):
            ok = ok and len(lines) == 1 and lines[0].startswith("proxysort: ")
        if ok and case.vectors is not None:
            ok = json.loads(result.stdout)["vectors"] == case.vectors
        if not ok:
            failures.append((case.kind, result.exit_code, result.stderr[-300:]))
    assert not failures, failures
