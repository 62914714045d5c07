"""Skipped-file lines on stderr: one line per distinct reason plus one count, or every file with verbose."""

from __future__ import annotations

import io

from proxysort.progress import ConsoleReporter

HEIC = "HEIC/HEIF support is missing: pillow-heif is not installed (pip install pillow-heif)"


def lines(reporter: ConsoleReporter) -> list[str]:
    return reporter.stream.getvalue().splitlines()  # type: ignore[attr-defined]


def test_repeated_reasons_collapse_into_one_count_line() -> None:
    rep = ConsoleReporter(io.StringIO(), is_tty=False)
    for i in range(5):
        rep.skipped(f"/p/{i}.heic", HEIC)
    rep.skipped("/p/x.jpg", "empty file")
    rep.flush()
    assert lines(rep) == [
        f"skipped: /p/0.heic: {HEIC}",
        "skipped: /p/x.jpg: empty file",
        f"skipped: 4 more file(s): {HEIC} (`verbose` lists each)",
    ]
    rep.flush()
    assert len(lines(rep)) == 3  # a second flush has nothing new to say


def test_the_cli_wording_turns_parameters_into_flags() -> None:
    """A library user reads `verbose`, the parameter; the CLI's reporter shows --verbose, its flag."""
    from proxysort.cli.common import in_flags

    rep = ConsoleReporter(io.StringIO(), is_tty=False, wording=in_flags)
    rep.skipped("/p/0.heic", HEIC)
    rep.skipped("/p/1.heic", HEIC)
    rep.warning("give `words` or `words_file`; `unknown_name` stays as it is")
    rep.flush()
    assert lines(rep)[1:] == [
        "warning: give --words or --words-file; `unknown_name` stays as it is",
        f"skipped: 1 more file(s): {HEIC} (--verbose lists each)",
    ]


def test_verbose_lists_every_file() -> None:
    rep = ConsoleReporter(io.StringIO(), is_tty=False, verbose=True)
    for i in range(3):
        rep.skipped(f"/p/{i}.heic", HEIC)
    rep.flush()
    assert lines(rep) == [f"skipped: /p/{i}.heic: {HEIC}" for i in range(3)]


def test_heic_without_a_decoder_is_one_line_and_a_count(tmp_path, tiny_clip, cache_dir, monkeypatch) -> None:
    """The issue's case: every HEIC skipped for the same reason is one problem, said once with a count."""
    import proxysort.imageio as imageio
    from proxysort.indexer import index
    from tests.support.photos import make_photo

    monkeypatch.setattr(imageio, "heif_available", lambda: False)
    for i in range(4):
        (tmp_path / "p").mkdir(exist_ok=True)
        (tmp_path / "p" / f"IMG_{i}.HEIC").write_bytes(b"ftypheic" + bytes(64))
    make_photo(tmp_path / "p" / "ok.jpg")
    rep = ConsoleReporter(io.StringIO(), is_tty=False)
    result = index(tmp_path / "p", model=tiny_clip, cache_dir=cache_dir, reporter=rep, workers=1)
    assert len(result.failures) == 4  # every path is still a failure (listed by --json)
    skip_lines = [line for line in lines(rep) if line.startswith("skipped:")]
    assert len(skip_lines) == 2 and skip_lines[1] == f"skipped: 3 more file(s): {HEIC} (`verbose` lists each)"
    assert lines(rep).index(skip_lines[1]) < next(i for i, line in enumerate(lines(rep)) if line.startswith("indexed:"))


def test_terminal_escapes_in_names_and_messages_are_shown_escaped() -> None:
    """F20: a file named ``esc\\e]0;PWNED\\a\\e[2J.png`` must not retitle or clear the user's terminal."""
    import re

    buf = io.StringIO()
    rep = ConsoleReporter(buf, is_tty=False, verbose=True)
    rep.skipped("/p/esc\x1b]0;PWNED-TITLE\x07\x1b[2J.png", "it is not an image")
    rep.message("words for 'col\x1b[31mor\x9b2J': red, green")
    rep.warning("bad \x00 byte\rhere")
    out = buf.getvalue()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), ascii(out)
    assert "\\x1b]0;PWNED-TITLE\\x07" in out and "col\\x1b[31mor\\x9b2J" in out
    assert out.count("\n") == 3
