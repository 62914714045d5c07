"""The one parser of image paths on stdin, behind every '-' source (index, cluster, eval)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proxysort.cli.inputs import paths_from_text, stdin_paths
from proxysort.env import Environment
from proxysort.errors import InputError, UsageError


def test_paths_from_text(tmp_path: Path) -> None:
    assert paths_from_text("a.jpg\n\n/x/b.jpg\na.jpg\n", tmp_path) == [tmp_path / "a.jpg", Path("/x/b.jpg")]
    assert paths_from_text("line\nbreak.jpg\0c.jpg\0", tmp_path) == [tmp_path / "line\nbreak.jpg", tmp_path / "c.jpg"]
    with pytest.raises(InputError):
        paths_from_text("\n\n")


def test_stdin_must_be_piped(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="stdin is a terminal"):
        stdin_paths(Environment(stdin=io.StringIO("a.jpg\n"), stdin_isatty=True))
    a = tmp_path / "a.jpg"
    a.write_bytes(b"")
    assert stdin_paths(Environment(stdin=io.StringIO(f"{a}\0/x/b.jpg"), stdin_isatty=False)) == [a, Path("/x/b.jpg")]


# -- hostile stdin (issue 14): every case is one `proxysort:` sentence or per-file skip lines, never a traceback


def test_nul_inside_a_line_is_refused_not_cut_in_the_wrong_place(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NUL inside a line"):
        paths_from_text("a.jpg\nb\0c.jpg\nd.jpg\n", tmp_path)
    # find -print0 output, also with one newline after it (echo), and a name with a newline in it
    assert paths_from_text("two\nlines.jpg\0c.jpg\0\n", tmp_path) == [tmp_path / "two\nlines.jpg", tmp_path / "c.jpg"]
    assert paths_from_text("solo.jpg\0", tmp_path) == [tmp_path / "solo.jpg"]


def test_line_lists_split_only_at_newlines(tmp_path: Path) -> None:
    """A CR, VT, FF, U+2028 ... is part of a name; CRLF line ends are still understood."""
    names = ["a\rb.jpg", "c\x0bd.jpg", "e\u2028f.jpg", "g\x85h.jpg"]
    assert paths_from_text("\n".join(names) + "\n", tmp_path) == [tmp_path / n for n in names]
    assert paths_from_text("x.jpg\r\ny.jpg\r\n", tmp_path) == [tmp_path / "x.jpg", tmp_path / "y.jpg"]
    assert paths_from_text("~no-such-user-xyz/a.jpg\n", tmp_path) == [tmp_path / "~no-such-user-xyz/a.jpg"]


def test_stdin_bytes_are_decoded_as_file_names() -> None:
    import io

    raw = io.TextIOWrapper(io.BytesIO(b"/x/caf\xe9.jpg\n/x/cr\rname.jpg\n"), encoding="utf-8")
    env = Environment(stdin=raw, stdin_isatty=False)
    with pytest.raises(InputError, match="none of the 2 path"):
        stdin_paths(env)  # neither exists; but reading them did not raise UnicodeDecodeError


def _subprocess_cli(args: list[str], stdin: bytes, tmp_path: Path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PROXYSORT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    return subprocess.run([sys.executable, "-m", "proxysort", *args], input=stdin, capture_output=True, cwd=tmp_path,
                          env=env, timeout=120)


@pytest.mark.parametrize("kind", ["binary-garbage", "garbage-without-nul", "nul-inside-a-line"])
def test_cli_hostile_stdin_is_one_sentence_exit_6(tmp_path: Path, kind: str) -> None:
    import random

    rng = random.Random(14)
    data = {
        "binary-garbage": bytes(rng.randrange(256) for _ in range(4000)),
        "garbage-without-nul": bytes(rng.randrange(1, 256) for _ in range(4000)),
        "nul-inside-a-line": b"a.jpg\nb\0c.jpg\nd.jpg\n",
    }[kind]
    done = _subprocess_cli(["index", "-", "--model", "none-needed"], data, tmp_path)
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    assert done.returncode == 6, done.stderr
    assert len(lines) == 1 and lines[0].startswith("proxysort: "), lines


def test_cli_non_utf8_and_too_long_names_on_stdin_are_skipped(run_cli, tmp_path: Path) -> None:
    import os

    from tests.support.photos import TINY_ARGS, make_photo

    good = make_photo(tmp_path / "photos" / "good.jpg")
    latin = os.fsencode(tmp_path / "photos") + b"/lat\xe9.jpg"
    with open(latin, "wb") as fh:
        fh.write(good.read_bytes())
    data = os.fsencode(good) + b"\n" + latin + b"\n" + b"x" * 5000 + b".jpg\n\xff\xfe.jpg\n"
    result = run_cli(["index", "-", *TINY_ARGS], stdin=data)
    assert result.exit_code == 3, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 3 and "Traceback" not in result.stderr
    assert any("not valid UTF-8" in line and "\\udce9" in line for line in skipped)


@pytest.mark.parametrize("with_others", [False, True])
def test_cli_index_of_an_explicit_non_utf8_file_name(run_cli, tmp_path: Path, with_others: bool) -> None:
    import os

    from tests.support.photos import TINY_ARGS, make_photo

    good = make_photo(tmp_path / "photos" / "good.jpg")
    latin = os.fsencode(tmp_path / "photos") + b"/lat\xe9.jpg"
    with open(latin, "wb") as fh:
        fh.write(good.read_bytes())
    args = [os.fsdecode(latin), *([str(good)] if with_others else [])]
    result = run_cli(["index", *args, *TINY_ARGS, "--json"])
    assert result.exit_code == 3, result.stderr
    assert "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["vectors"] == (1 if with_others else 0)


def test_cli_nul_list_with_a_newline_in_a_name_is_exact(run_cli, tmp_path: Path) -> None:
    from tests.support.photos import TINY_ARGS, make_photo

    files = [make_photo(tmp_path / "photos" / "two\nlines.jpg"), make_photo(tmp_path / "photos" / "cr\rname.png")]
    result = run_cli(["index", "-", *TINY_ARGS, "--json"], stdin=b"".join(bytes(f) + b"\0" for f in files))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["vectors"] == 2
