"""`proxysort index` and `proxysort status` through the real CLI: streams, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.photos import TINY_CONFIG, make_photo

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]


def test_index_then_status(run_cli, photo_folder: Path) -> None:
    first = run_cli(["index", str(photo_folder), *MODEL])
    assert first.exit_code == 0, first.stderr
    assert first.stdout == ""  # results only on stdout; the summary is for people
    assert "indexed: 12 photos found: 12 embedded, 0 reused, 0 skipped" in first.stderr
    assert "since the last run: 12 new, 0 changed, 0 renamed or moved, 0 gone" in first.stderr

    second = run_cli(["index", str(photo_folder), *MODEL, "--json", "--quiet"])
    assert second.exit_code == 0 and second.stderr == ""
    data = json.loads(second.stdout)
    assert data["vectors"] == 12 and data["summary"]["unchanged"] == 12 and data["summary"]["embedded"] == 0
    assert data["failures"] == []

    shown = run_cli(["status", str(photo_folder)])
    assert shown.exit_code == 0
    assert "12 indexed (12 up to date" in shown.stdout and "tiny-clip" in shown.stdout
    report = json.loads(run_cli(["status", str(photo_folder), "--json"]).stdout)
    assert report["on_disk"] == 12 and report["stores"][0]["indexed"] == 12


def test_skipped_files_give_exit_3_and_one_line_each(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    make_photo(root / "ok.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "zero.png").write_bytes(b"")
    result = run_cli(["index", str(root), *MODEL])
    assert result.exit_code == 3
    skipped = sorted(line for line in result.stderr.splitlines() if line.startswith("skipped: "))
    assert len(skipped) == 2
    assert skipped[0].startswith(f"skipped: {(root / 'broken.jpg').resolve()}: ")
    assert skipped[1] == f"skipped: {(root / 'zero.png').resolve()}: empty file"

    strict = run_cli(["index", str(root), *MODEL, "--strict"])
    assert strict.exit_code == 3 and "--strict" in strict.stderr


def test_paths_from_stdin(run_cli, photo_folder: Path) -> None:
    picks = sorted(str(p) for p in photo_folder.rglob("*.png"))
    result = run_cli(["index", "-", *MODEL, "--json", "-q"], stdin="\n".join(picks) + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["vectors"] == len(picks) == 4


@pytest.mark.parametrize("command", ["index", "status"])
def test_missing_folder_is_exit_6(run_cli, tmp_path: Path, command: str) -> None:
    result = run_cli([command, str(tmp_path / "nope"), *(MODEL if command == "index" else [])])
    assert result.exit_code == 6
    assert result.stderr.startswith("proxysort: ") and "Traceback" not in result.stderr


def test_unusable_cache_is_exit_5(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    result = run_cli(["index", str(photo_folder), *MODEL, "--cache-dir", str(blocker / "sub")])
    assert result.exit_code == 5 and "--cache-dir" in result.stderr


def test_help_documents_the_exit_codes(run_cli, capsys) -> None:
    result = run_cli(["index", "--help"])  # click writes help to the process stdout
    assert result.exit_code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 some files were skipped" in text and "--strict" in text


def test_a_cache_from_a_newer_proxysort_exits_5_naming_the_flag(run_cli, photo_folder: Path, cache_dir: Path) -> None:
    import sqlite3

    assert run_cli(["index", str(photo_folder), *MODEL]).exit_code == 0
    (db,) = cache_dir.rglob("index.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    for argv in (["index", str(photo_folder), *MODEL], ["status", str(photo_folder)]):
        result = run_cli(argv)
        assert result.exit_code == 5, result.stderr
        assert result.stderr.count("\n") == 1 and "schema version 99" in result.stderr and "--cache-dir" in result.stderr


def test_index_dash_reads_the_same_path_list_as_cluster(run_cli, photo_folder: Path) -> None:
    files = sorted(str(p) for p in photo_folder.rglob("*.jpg"))
    result = run_cli(["index", "-", *MODEL, "--json", "--quiet"], stdin="\0".join(files))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["vectors"] == len(files)


def test_precision_is_chosen_by_flag_or_variable_and_shown_by_status(run_cli, photo_folder: Path) -> None:
    first = run_cli(["index", str(photo_folder), *MODEL, "--precision", "bf16", "--json"])
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["precision"] == "bf16"
    shown = run_cli(["status", str(photo_folder)])
    assert "12 vectors x 32 in bf16" in shown.stdout
    assert json.loads(run_cli(["status", str(photo_folder), "--json"]).stdout)["stores"][0]["precision"] == "bf16"

    make_photo(photo_folder / "new.png", (90, 90, 10))
    refused = run_cli(["index", str(photo_folder), *MODEL], extra_env={"PROXYSORT_PRECISION": "fp16"})
    assert refused.exit_code == 2
    assert "--precision fp16" in refused.stderr and "bf16" in refused.stderr and "`" not in refused.stderr
    followed = run_cli(["index", str(photo_folder), *MODEL, "--json"])  # auto: the store's bf16
    assert followed.exit_code == 0 and json.loads(followed.stdout)["summary"]["embedded"] == 1


def test_a_wrong_precision_names_the_flag(run_cli, photo_folder: Path) -> None:
    result = run_cli(["index", str(photo_folder), *MODEL, "--precision", "fp8"])
    assert result.exit_code == 2 and "--precision must be one of auto, fp32, bf16, fp16" in result.stderr
