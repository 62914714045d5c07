"""Issue 24: files the scan skips (dangling links, names that are not UTF-8, unreadable folders and files) are
remembered like decode failures, so that a file skipped for the same reason by an earlier run no longer
fails every later `index`, `cluster` or `eval` (exit 0, one "still skipped" line), while a new one still
exits 3 and `--strict` fails on any. Through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.photos import TINY_CONFIG

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
INDEX_MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none"]
WORDS = ["--by", "color", "--words", "red,green,blue"]


def _labels(photo_folder: Path, tmp_path: Path) -> Path:
    labels = tmp_path / "labels.csv"
    labels.write_text("path,color\n" + "".join(
        f"{p.relative_to(tmp_path)},x\n" for p in sorted(photo_folder.rglob("img*"))))
    return labels


def _non_utf8(folder: Path, like: Path) -> bytes:
    """A copy of ``like`` under a Latin-1 name (bytes that are not UTF-8); returns that name."""
    name = os.fsencode(folder) + b"/caf\xe9.jpg"
    with open(name, "wb") as fh:
        fh.write(like.read_bytes())
    return name


def test_scan_skips_are_one_line_and_exit_0_on_later_runs(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    gone = photo_folder / "a" / "gone.jpg"
    gone.symlink_to(photo_folder / "a" / "nowhere.jpg")  # a dangling link
    _non_utf8(photo_folder / "b", photo_folder / "a" / "img00.jpg")
    args = ["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(tmp_path / "sorted"), *MODEL]

    first = run_cli(args)
    assert first.exit_code == 3, first.stderr
    assert f"skipped: {gone}: cannot be read" in first.stderr
    assert "not valid UTF-8" in first.stderr and "\\udce9" in first.stderr

    labels = _labels(photo_folder, tmp_path)
    for again in (run_cli(args), run_cli([*args, "--format", "paths", "-0", "-q"]),
                  run_cli(["index", str(photo_folder), *INDEX_MODEL]),
                  run_cli(["eval", str(photo_folder), *WORDS, "--labels", str(labels), "--seeds", "1", *MODEL])):
        assert again.exit_code == 0, again.stderr  # index, cluster and eval agree
        assert "skipped: " not in again.stderr
    still = run_cli(args)
    assert "2 file(s) still skipped, as in an earlier run; proxysort status lists them" in still.stderr

    status = run_cli(["status", str(photo_folder)])
    assert f"skipped: {gone}: cannot be read" in status.stdout
    assert "caf\\xe9.jpg: file or folder name is not valid UTF-8" in status.stdout

    strict = run_cli([*args, "--strict"])
    assert strict.exit_code == 3 and "--strict" in strict.stderr

    # a new dangling link is a new problem: exit 3, and only it is named
    lost = photo_folder / "b" / "lost.png"
    lost.symlink_to(photo_folder / "b" / "elsewhere.png")
    new = run_cli(args)
    assert new.exit_code == 3, new.stderr
    assert f"skipped: {lost}:" in new.stderr and f"skipped: {gone}:" not in new.stderr
    assert "2 file(s) still skipped" in new.stderr

    # a link pointed elsewhere (still dangling) changed: it is named again
    gone.unlink()
    gone.symlink_to(photo_folder / "a" / "a-much-longer-name-for-nowhere.jpg")
    changed = run_cli(args)
    assert changed.exit_code == 3 and f"skipped: {gone}:" in changed.stderr

    # a mended link is a photo again, and sorted
    lost.unlink()
    lost.symlink_to(photo_folder / "a" / "img00.jpg")
    mended = run_cli([*args, "--json"])
    assert mended.exit_code == 0, mended.stderr
    assert f"skipped: {lost}" not in mended.stderr and "13 photos" in mended.stderr
    status = run_cli(["status", str(photo_folder)])
    assert str(lost) not in status.stdout  # no longer remembered as skipped


def test_an_unreadable_folder_and_file_are_remembered(run_cli, photo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, whom permissions do not stop: the refusal is made by the OS calls themselves.
    locked_dir, locked_file = photo_folder / "b" / "c", photo_folder / "a" / "img01.png"
    scandir, access = os.scandir, os.access

    def refusing_scandir(path: object = ".") -> object:
        if Path(os.fspath(path)) == locked_dir:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)  # type: ignore[arg-type]

    def refusing_access(path: object, mode: int, **kw: object) -> bool:
        return Path(os.fspath(path)) != locked_file and access(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    monkeypatch.setattr(os, "access", refusing_access)
    args = ["index", str(photo_folder), *INDEX_MODEL, "--json"]
    first = run_cli(args)
    assert first.exit_code == 3, first.stderr
    assert f"skipped: {locked_dir}: folder cannot be read (permission denied)" in first.stderr
    assert f"skipped: {locked_file}: cannot be read (permission denied)" in first.stderr
    second = run_cli(args)
    assert second.exit_code == 0, second.stderr
    assert "skipped: " not in second.stderr and "2 file(s) still skipped" in second.stderr
    assert run_cli([*args, "--strict"]).exit_code == 3

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "access", access)
    readable = run_cli(args)  # permission given back: everything is indexed, nothing remembered
    assert readable.exit_code == 0, readable.stderr
    assert "still skipped" not in readable.stderr and "12 photos found" in readable.stderr
    status = run_cli(["status", str(photo_folder)])
    assert "skipped:" not in status.stdout


def test_a_listed_file_that_is_not_there_is_remembered(run_cli, photo_folder: Path) -> None:
    missing = photo_folder / "a" / "deleted.jpg"
    args = ["index", "-", *INDEX_MODEL]
    listing = f"{photo_folder / 'a' / 'img00.jpg'}\n{missing}\n"
    first = run_cli(args, stdin=listing)
    assert first.exit_code == 3 and f"skipped: {missing}: file not found" in first.stderr
    second = run_cli(args, stdin=listing)
    assert second.exit_code == 0, second.stderr
    assert "1 file(s) still skipped" in second.stderr
