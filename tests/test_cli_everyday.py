"""Everyday use of the real CLI: words shown once and checked first, `-` without --out, one group's paths
for pipelines, a truthful Ctrl-C message, and --version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.photos import TINY_CONFIG

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
WORDS = ["--by", "color", "--words", "red,green,blue"]


def test_version(run_cli) -> None:
    from proxysort import __version__

    result = run_cli(["--version"])
    assert result.exit_code == 0 and result.stdout == f"proxysort {__version__}\n"


def test_bad_words_fail_before_the_model_and_the_scan(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    offline_no_weights = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": ""}
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", "../,/"], extra_env=offline_no_weights)
    assert result.exit_code == 2 and "no usable candidate words in --words" in result.stderr
    assert "Weights" not in result.stderr and "scanning" not in result.stderr and "indexed" not in result.stderr


def test_words_are_shown_once_before_the_prompt(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), "--by", "color", "--k", "2", "--no-folders", "--llm", "off", *MODEL],
                     stdin="\n", stdin_isatty=True, stderr_isatty=True)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("words for 'color' from offline lexicon") == 1
    assert "Press Enter to use them" in result.stderr


def test_words_are_shown_once_without_a_prompt(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--no-folders", *MODEL])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("red, green, blue") == 1


def test_stdin_without_out_warns_that_nothing_is_written(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    files = sorted(photo_folder.rglob("img*"))[:4]
    result = run_cli(["cluster", "-", *WORDS, "--k", "2", *MODEL], stdin="\n".join(map(str, files)))
    assert result.exit_code == 0, result.stderr
    assert "warning: paths from stdin ('-') and no --out: no folder tree will be written" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["cache", "photos"]


def test_one_groups_paths_for_a_pipeline(run_cli, photo_folder: Path) -> None:
    everything = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--no-folders", *MODEL])
    rows = [line.split("\t") for line in everything.stdout.splitlines()]
    name = rows[0][3]
    wanted = sorted(r[0] for r in rows if r[3] == name)
    assert 0 < len(wanted) < len(rows)
    picked = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--no-folders", "--group", name,
                      "--format", "paths", "-0", *MODEL, "-q"])
    assert picked.exit_code == 0, picked.stderr
    assert sorted(picked.stdout.split("\0")[:-1]) == wanted
    qualified = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--no-folders", "--group", f"color/{name}",
                         "--format", "paths", *MODEL, "-q"])
    assert sorted(qualified.stdout.splitlines()) == wanted
    unknown = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--no-folders", "--group", "nope", *MODEL, "-q"])
    assert unknown.exit_code == 2 and "No group is named 'nope'; the groups are:" in unknown.stderr
    assert unknown.stdout == ""


def test_ctrl_c_while_learning_says_what_is_kept(photo_folder: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PROXYSORT_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    args = [sys.executable, "-m", "proxysort", "cluster", str(photo_folder), *WORDS, "--k", "3",
            *MODEL[:-2], "--epochs", "100000", "--mode", "free"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # wait until indexing is done and learning has begun
        seen.append(line)
        if line.startswith("indexed:"):
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == (
        "proxysort: interrupted; photos indexed so far are kept in the cache, but proxies learned in this run "
        "are not, and no folder tree was written."
    )
    assert not (photo_folder.parent / "photos-sorted").exists()
