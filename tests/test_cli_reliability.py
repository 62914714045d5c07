"""The CLI under the reliability round-3 attacks (F5, F15, F20, F21): links out of the photo folders in
copy mode, a ``--group`` that names no group, ``--print0`` with a table, a prompt longer than CLIP reads,
escapes in echoed concepts. Real CLI, in-process, on generated folders."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
WORDS = ["--by", "color", "--words", "red,green,blue"]


def test_group_naming_no_group_is_refused_before_anything_is_written(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for extra in ([], ["--dry-run"]):
        result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), "--group", "purple",
                          *extra, *MODEL])
        assert result.exit_code == 2, result.stderr
        assert "No group is named 'purple'" in result.stderr
        assert not out.exists(), "the tree was written before --group was checked"
        assert result.stdout == ""


def test_print0_with_a_table_is_refused(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--no-folders", "--format", "table", "--print0", *MODEL])
    assert result.exit_code == 2
    assert "--print0" in result.stderr and "--format table" in result.stderr and "indexed" not in result.stderr


def test_print0_is_honoured_by_every_other_format(run_cli, photo_folder: Path) -> None:
    for fmt in ("tsv", "json", "paths"):
        result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--no-folders", "--format", fmt,
                          "--print0", "-q", *MODEL])
        assert result.exit_code == 0, result.stderr
        assert "\n" not in result.stdout and result.stdout.count("\0") == 12, fmt


def test_a_sidecar_linking_to_proc_environ_never_reaches_out(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """C04: ``IMG.xmp -> /proc/self/environ`` copied proxysort's environment (and OPENAI_API_KEY) into OUT."""
    first = sorted(p for p in photo_folder.rglob("*.png"))[0]
    os.symlink("/proc/self/environ", first.with_suffix(".xmp"))
    before = snapshot(photo_folder)
    out = tmp_path / "out"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), "--link", "copy", *MODEL],
                     extra_env={"OPENAI_API_KEY": "sk-SECRET-round3"})
    assert result.exit_code == 3, result.stderr
    assert f"skipped: {first.with_suffix('.xmp')}: it links to the system file" in result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert b"sk-SECRET-round3" not in path.read_bytes(), path
    assert not list(out.rglob("*.xmp")) and any(out.rglob("*.png"))
    assert_unchanged(before, photo_folder)


def test_a_concept_holding_terminal_escapes_is_echoed_escaped(run_cli) -> None:
    result = run_cli(["words", "--by", "col\x1b]0;PWNED\x07or", "--words", "red,green", "--llm", "off"])
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr and "\\x1b]0;PWNED\\x07" in result.stderr


def test_a_prompt_longer_than_clip_reads_says_so(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), "--by", "c" * 10_000, "--words", "red,green", "--no-folders", *MODEL])
    assert result.exit_code == 2, result.stderr
    assert "must contain the placeholder" not in result.stderr
    assert "77" in result.stderr and "tokens" in result.stderr
    assert len(result.stderr.splitlines()[-1]) < 400  # the error itself, not the concept echoed whole


def test_ctrl_c_swallowed_by_a_destructor_still_stops_the_run(run_cli, photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """F19 (G09): a SIGINT that lands inside a ``__del__`` (regex's, during tokenisation) is printed as
    "Exception ignored" by Python and lost; the run went on, wrote the tree and exited 0."""
    import signal

    import proxysort.textpath as textpath

    class Victim:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside __del__, where its exception is swallowed
                pass

    real = textpath._input_embedding

    def tokenising(model):
        Victim()
        return real(model)

    monkeypatch.setattr(textpath, "_input_embedding", tokenising)
    out = tmp_path / "out"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), *MODEL])
    assert result.exit_code == 130, result.stderr
    assert not out.exists()


def test_cli_a_new_photo_under_a_deleted_photos_name_keeps_the_last_copy(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """F1 (K01-K04) through the real CLI: hard links, a counter reset, a re-run, then clean."""
    out = tmp_path / "out"
    args = ["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), "--link", "hardlink", "-q", *MODEL]
    first = run_cli(args)
    assert first.exit_code == 0, first.stderr
    victim = photo_folder / "a" / "img00.jpg"
    lost = victim.read_bytes()
    victim.unlink()  # OUT now holds the photo's only copy
    victim.write_bytes((photo_folder / "b" / "c" / "img09.jpg").read_bytes())  # another photo, the same name
    again = run_cli(args)
    assert again.exit_code == 0, again.stderr
    assert "last copy" in again.stderr
    assert any(p.read_bytes() == lost for p in out.rglob("*.jpg")), "the re-run deleted the last copy"
    cleaned = run_cli(["clean", str(out)])
    assert cleaned.exit_code == 0, cleaned.stderr
    assert any(p.read_bytes() == lost for p in out.rglob("*.jpg")), "clean deleted the last copy"
