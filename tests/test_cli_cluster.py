"""`proxysort cluster` and `proxysort eval` through the real CLI (in-process): streams, formats, exit codes,
and the promise that the photo folder is never touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
WORDS = ["--by", "color", "--words", "red,green,blue"]


def _tsv(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_cluster_default_out_tsv_and_idempotent_rerun(run_cli, photo_folder: Path) -> None:
    before = snapshot(photo_folder)
    first = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", *MODEL])
    assert first.exit_code == 0, first.stderr
    out = photo_folder.parent / "photos-sorted"  # default: beside the photos, never inside
    rows = _tsv(first.stdout)  # stdout is not a terminal: TSV by default
    assert len(rows) == 12 and all(len(r) == 6 for r in rows)
    # The tiny model is random: its words fit no group, so the groups are numbered, not named (issue 21).
    assert {r[1] for r in rows} == {"color"} and {r[3] for r in rows} == {"color-1", "color-2", "color-3"}
    # Issue 21: one warning that the words fit poorly as a whole, suggesting --words; the page shows each
    # numbered group's nearest word.
    mismatch = [line for line in first.stderr.splitlines() if "fit these photos poorly as a whole" in line]
    assert len(mismatch) == 1 and "--words" in mismatch[0]
    from proxysort.pagefiles import PAGE_NAME

    html = (out / PAGE_NAME).read_text(encoding="utf-8")
    assert html.count("so this group is numbered rather than named after a word that may be wrong; its nearest word "
                      "is") == 3
    for path, _, _, name, score, dest in rows:
        assert Path(dest) == out / "color" / name / Path(path).name
        assert Path(dest).is_symlink() and Path(dest).read_bytes() == Path(path).read_bytes()
        float(score)
    assert "3 words for 'color' from your list" in first.stderr
    tree = snapshot(out)

    second = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", *MODEL, "--quiet"])
    assert second.exit_code == 0 and second.stderr == ""
    assert second.stdout == first.stdout
    assert snapshot(out) == tree  # same tree, nothing rewritten
    assert_unchanged(before, photo_folder)


def test_dry_run_json_and_two_concepts(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    before = snapshot(photo_folder)
    out = tmp_path / "sorted"
    args = ["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue", "--by", "shape",
            "--words", "round,square", "--k", "2", "--out", str(out), "--dry-run", "--json", *MODEL]
    result = run_cli(args)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 24
    assert {tuple(sorted(r)) for r in records} == {("cluster", "concept", "dest", "name", "path", "score")}
    assert {r["concept"] for r in records} == {"color", "shape"}
    assert all(r["dest"].startswith(str(out / r["concept"])) for r in records)
    assert "dry run: would create 24" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["cache", "photos"]  # only the vector cache was written
    assert_unchanged(before, photo_folder)


def test_hardlink_tree_and_labels_scores(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    before = snapshot(photo_folder)
    labels = tmp_path / "labels.csv"
    lines = ["path,color"] + [
        f"{os.path.relpath(p, tmp_path)},{['red', 'green', 'blue'][int(p.name[3:5]) % 3]}"
        for p in sorted(photo_folder.rglob("img*"))
    ]
    labels.write_text("\n".join(lines) + "\n")
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--out", str(out), "--link", "hardlink",
                      "--labels", str(labels), "--format", "paths", *MODEL])
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(str(p) for p in photo_folder.rglob("img*"))
    scored = [line.split("\t") for line in result.stderr.splitlines() if line.startswith("color\tcolor\t")]
    assert [r[4] for r in scored] == ["nmi", "ami", "ari", "ri", "acc"]
    linked = [p for p in out.rglob("img*")]
    assert len(linked) == 12 and all(p.stat().st_nlink == 2 and not p.is_symlink() for p in linked)
    assert_unchanged(before, photo_folder)


def test_stdin_paths_print0(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    files = sorted(photo_folder.rglob("img*"))[:6]
    out = tmp_path / "picked"
    result = run_cli(["cluster", "-", *WORDS, "--k", "2", "--out", str(out), "--format", "paths", "--print0", *MODEL],
                     stdin="\0".join(str(f) for f in files) + "\0")
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.split("\0")[:-1]) == sorted(map(str, files))
    assert len(list(out.rglob("img*"))) == 6


def test_stdin_without_out_writes_no_tree(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    files = sorted(photo_folder.rglob("img*"))[:4]
    result = run_cli(["cluster", "-", *WORDS, "--k", "2", "--dry-run", *MODEL], stdin="\n".join(map(str, files)))
    assert result.exit_code == 0, result.stderr
    assert all(r[5] == "" for r in _tsv(result.stdout)) and len(_tsv(result.stdout)) == 4
    assert "no folder tree" in result.stderr


def test_impossible_k_is_exit_2_with_a_clear_message(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "13", *MODEL])
    assert result.exit_code == 2
    assert "--k 13 asks for more clusters than there are photos (12); use --k 12 or fewer." in result.stderr
    assert "Traceback" not in result.stderr and "`" not in result.stderr  # library parameter names become flags
    assert not (photo_folder.parent / "photos-sorted").exists()
    zero = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "0", *MODEL])
    assert zero.exit_code == 2 and zero.stderr == "proxysort: --k must be at least 1 (got 0).\n"


def test_usage_errors_fail_before_any_work(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    inside = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(photo_folder / "sorted"), *MODEL])
    assert inside.exit_code == 7 and "inside the photo folder" in inside.stderr
    assert "indexed" not in inside.stderr
    mismatch = run_cli(["cluster", str(photo_folder), "--by", "color", "--by", "shape", "--words", "red,green", *MODEL])
    assert mismatch.exit_code == 2 and "once per concept" in mismatch.stderr
    foreign = tmp_path / "taken"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("x")
    refused = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(foreign), *MODEL])
    assert refused.exit_code == 7 and (foreign / "mine.txt").read_text() == "x"
    tty = run_cli(["cluster", "-", *WORDS, *MODEL], stdin_isatty=True)
    assert tty.exit_code == 2 and "stdin" in tty.stderr
    both = run_cli(["cluster", str(photo_folder), *WORDS, "--no-folders", "--out", str(tmp_path / "o"), *MODEL])
    assert both.exit_code == 2 and "contradict" in both.stderr
    (tmp_path / "labels.csv").write_text("path,colour\na/img00.jpg,red\n")
    wrong = run_cli(["cluster", str(photo_folder), *WORDS, "--labels", str(tmp_path / "labels.csv"), *MODEL])
    assert wrong.exit_code == 2 and "no column 'color'" in wrong.stderr and "indexed" not in wrong.stderr
    missing = run_cli(["cluster", str(tmp_path / "nope"), *WORDS, *MODEL])
    assert missing.exit_code == 6 and "does not exist" in missing.stderr


def test_table_on_a_terminal(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--no-folders", "-q", *MODEL], stdout_isatty=True)
    assert result.exit_code == 0, result.stderr
    assert "concept" in result.stdout and "photos" in result.stdout and "color-1" in result.stdout
    assert not (photo_folder.parent / "photos-sorted").exists()


def test_eval_command(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["path,color,part"] + [
        f"{os.path.relpath(p, tmp_path)},{['red', 'green', 'blue'][int(p.name[3:5]) % 3]},{p.parent.name}"
        for p in sorted(photo_folder.rglob("img*"))
    ]
    labels.write_text("\n".join(rows) + "\n")
    result = run_cli(["eval", str(photo_folder), "--by", "color", "--words", "red,green,blue", "--labels", str(labels),
                      "--seeds", "3", "--json", *MODEL])
    assert result.exit_code == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (record["concept"], record["k"], record["n"], record["seeds"]) == ("color", 3, 12, 3)
    assert set(record["mean"]) == {"nmi", "ami", "ari", "ri", "acc"}
    bad = run_cli(["eval", str(photo_folder), "--by", "color", "--labels", str(labels), "--label-column", "nope", *MODEL])
    assert bad.exit_code == 2 and "no column 'nope'" in bad.stderr


def test_words_are_confirmed_at_a_terminal(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    # No --words: the offline lexicon proposes colours; the person replaces them with their own list.
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--k", "2", "--no-folders", "--llm", "off", *MODEL],
                     stdin="warm, cool\n", stdin_isatty=True, stderr_isatty=True)
    assert result.exit_code == 0, result.stderr
    assert "Press Enter to use them" in result.stderr
    # The person's words are the candidates: their groups take them, or (the tiny model is random, so no word
    # fits its photos) numbers, with the warning that says so; never a lexicon word.
    names = {r[3] for r in _tsv(result.stdout)}
    assert names == {"warm", "cool"} or (names == {"color-1", "color-2"} and "fit these photos poorly" in result.stderr)


def test_skipped_photos_give_exit_3_but_a_full_result(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    (photo_folder / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--out", str(out), *MODEL])
    assert result.exit_code == 3
    assert "broken.jpg" in result.stderr and len(_tsv(result.stdout)) == 12
    assert len(list(out.rglob("img*"))) == 12


def test_formats_escape_and_choose() -> None:
    import io

    from proxysort.cli.formats import ResultRow, choose_format, write_rows

    assert choose_format(None, json_flag=False, stdout_isatty=True) == "table"
    assert choose_format(None, json_flag=False, stdout_isatty=False) == "tsv"
    assert choose_format(None, json_flag=False, stdout_isatty=True, print0=True) == "tsv"
    assert choose_format("paths", json_flag=True, stdout_isatty=False) == "json"
    row = ResultRow("/p/a\tb\nc.jpg", "color", 0, "red", 0.5)
    buf = io.StringIO()
    write_rows([row], "tsv", buf)
    assert buf.getvalue() == "/p/a\\tb\\nc.jpg\tcolor\t0\tred\t0.5000\t\n"
    buf = io.StringIO()
    write_rows([row], "paths", buf, print0=True)
    assert buf.getvalue() == "/p/a\tb\nc.jpg\0"
    buf = io.StringIO()
    write_rows([row], "json", buf)
    assert json.loads(buf.getvalue())["path"] == row.path


#: Every character ``str.splitlines`` breaks at (universal newlines), in a file name.
LINE_BREAKERS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _unescape(text: str) -> str:
    """The inverse of the line formats' escaping (``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\xNN``, ``\\uNNNN``)."""
    import re

    simple = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    return re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)",
                  lambda m: simple.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), text)


def test_line_formats_keep_every_record_on_one_line_for_universal_newline_readers() -> None:
    import io

    from proxysort.cli.formats import ResultRow, write_rows

    rows = [ResultRow(f"/p/x{ch}y.jpg", "color", 0, "red", 0.5) for ch in LINE_BREAKERS + "\\\t"]
    for fmt in ("paths", "tsv", "json"):
        buf = io.StringIO()
        write_rows(rows, fmt, buf)
        lines = buf.getvalue().splitlines()
        assert len(lines) == len(rows), (fmt, lines)
        if fmt == "json":
            got = [json.loads(line)["path"] for line in lines]
        else:
            got = [_unescape(line.split("\t")[0] if fmt == "tsv" else line) for line in lines]
        assert sorted(got) == sorted(r.path for r in rows), fmt
    buf = io.StringIO()
    write_rows(rows, "paths", buf, print0=True)  # NUL records stay exact, never escaped
    assert sorted(buf.getvalue().split("\0")[:-1]) == sorted(r.path for r in rows)


def test_cli_paths_format_escapes_a_carriage_return_in_a_name(run_cli, tmp_path: Path) -> None:
    from tests.support.photos import make_photo

    folder = tmp_path / "photos"
    names = ["cr\rname.jpg", "ls\u2028name.png", "plain.jpg", "vt\x0bname.png"]
    for i, name in enumerate(names):
        make_photo(folder / name, [(220, 20, 20), (20, 200, 20)][i % 2], size=(60 + i, 48))
    result = run_cli(["cluster", str(folder), *WORDS, "--k", "2", "--dry-run", "--format", "paths", *MODEL])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4, lines
    assert sorted(_unescape(line) for line in lines) == sorted(str(folder / n) for n in names)


# -- hostile arguments (issue 14): one sentence naming the flag, exit 2, no hang


def test_seed_out_of_range_is_refused_with_the_flag_name(run_cli, photo_folder: Path) -> None:
    for seed in (str(2**31), str(10**40), "-1"):
        result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--seed", seed, "--dry-run", *MODEL])
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("proxysort: --seed must be") and len(result.stderr.splitlines()) == 1, result.stderr
    from proxysort.errors import UsageError
    from proxysort.proxy import MAX_SEED, ProxyConfig

    ProxyConfig(seed=MAX_SEED).validate()
    import pytest

    with pytest.raises(UsageError, match="`seed`"):
        ProxyConfig(seed=MAX_SEED + 1).validate()


def test_unknown_concept_without_words_and_a_huge_k(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), "--by", "zorblaxity", "--k", str(10**18), "--dry-run", *MODEL])
    assert result.exit_code == 2, result.stderr
    assert "proxysort: --k" in result.stderr and "Traceback" not in result.stderr
    words = run_cli(["words", "--by", "zorblaxity", "--k", str(10**18), "--llm", "off"])
    assert words.exit_code == 0, words.stderr


def test_a_words_file_of_200000_words_is_refused_at_once(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    import random
    import string
    import time

    rng = random.Random(14)
    words_file = tmp_path / "many.txt"
    words_file.write_text("\n".join("".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(200_000)))
    started = time.monotonic()
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--words-file", str(words_file), "--dry-run", *MODEL])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("proxysort: --words-file gives 200000 different candidate words"), result.stderr
    assert time.monotonic() - started < 60  # not a timing bar: the old code ran for many minutes
