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
        "proxysort: interrupted; photos indexed so far are kept in the cache, and so are the proxies the "
        "subspace, free, linear, multimap and multisub methods finished (every 2,048 photos where each photo "
        "learns alone, otherwise once the whole set is learned) and the learning steps dproxy finished (not the "
        "other methods' proxies); no folder tree was written."
    )
    assert not (photo_folder.parent / "photos-sorted").exists()


def test_anchor_words_never_name_a_group(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    from proxysort.lexicon import vocab_anchors

    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), "--by", "person", "--k", "3", "--llm", "off", "--out", str(out), *MODEL])
    assert result.exit_code == 0, result.stderr
    assert "random CLIP-vocabulary anchors" in result.stderr
    assert sorted(os.listdir(out / "person")) == ["person-1", "person-2", "person-3"]
    names = [line.split("\t")[3] for line in result.stdout.splitlines()]
    sizes = {n: names.count(n) for n in set(names)}
    assert sizes["person-1"] >= sizes["person-2"] >= sizes["person-3"]  # numbered by size
    anchors = set(vocab_anchors(50))
    assert not any(part in anchors for path in out.rglob("*") for part in path.relative_to(out).parts)


def test_numbered_names() -> None:
    from proxysort.names import numbered_names

    assert numbered_names("which face", [2, 5, 2]) == ["which-face-2", "which-face-1", "which-face-3"]


def test_species_assumes_no_subject(run_cli) -> None:
    import json

    offline = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "PROXYSORT_LLM": ""}
    plain = json.loads(run_cli(["words", "--by", "species", "--json"], extra_env=offline).stdout)
    assert plain["noun"] == "photo" and "lion" not in plain["words"]
    fruit = json.loads(run_cli(["words", "--by", "species", "--noun", "fruit", "--json"], extra_env=offline).stdout)
    assert fruit["noun"] == "fruit" and "banana" in fruit["words"]
    animals = json.loads(run_cli(["words", "--by", "species", "--noun", "animal", "--json"], extra_env=offline).stdout)
    assert "lion" in animals["words"]


def _help(command: str) -> str:
    """``--help`` goes through Click to the process's stdout, so it is read from a real process."""
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "proxysort", command, "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_reads_like_a_man_page_with_examples() -> None:
    import re

    for command in ("index", "status", "words", "cluster", "eval"):
        text = _help(command)
        # Typer's own placeholders: <list[str]>, <int range>, <Path>, <dir>, {DIR} ...
        assert not re.search(r"<(list\[|int|str|float|bool|path|dir|file)", text, re.I), (command, text)
        assert "{" not in text, (command, text)
        assert "Examples:" in text and f"proxysort {command} " in text.split("Examples:")[1]
        if command == "cluster":
            assert "Usage: proxysort cluster [OPTIONS] DIR|-" in text and "--k N " in text and "--by CONCEPT" in text


def test_by_completion_offers_the_lexicon_concepts() -> None:
    env = dict(os.environ, _PROXYSORT_COMPLETE="complete_bash", COMP_WORDS="proxysort cluster photos --by co",
               COMP_CWORD="4")
    out = subprocess.run([sys.executable, "-m", "proxysort"], capture_output=True, text=True, env=env).stdout
    assert out.split() == ["color", "count"]
