"""The review page through the real CLI: ``cluster`` writes it, ``show`` rebuilds it, ``--open`` opens it."""

from __future__ import annotations

import re
import shlex
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot
from tests.test_page import manifest_groups

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "1"]
WORDS = ["--by", "color", "--words", "red,green,blue", "--k", "3"]


def recording_browser(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A $BROWSER command that writes the URL it is given to a file instead of opening anything."""
    record = tmp_path / "opened.txt"
    script = f"import sys; open({str(record)!r}, 'a').write(sys.argv[1] + '\\n')"
    return {"BROWSER": f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} %s"}, record


def page_groups(page: Path) -> Counter:
    """(concept folder, group) -> count, read from the page's markup."""
    html = page.read_text(encoding="utf-8")
    counts: Counter = Counter()
    for section in re.findall(r'<section class="concept".*?</section>', html, flags=re.S):
        folder = re.search(r"folder <b>(.*?)/</b>", section).group(1)
        for name, count in re.findall(r'data-group="([^"]*)" data-count="(\d+)"', section):
            counts[(folder, name)] = int(count)
    return counts


def test_cluster_writes_the_page_and_show_rebuilds_and_opens_it(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    before = snapshot(photo_folder)
    out = tmp_path / "sorted"
    first = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL])
    assert first.exit_code == 0, first.stderr
    page = out / "index.html"
    assert page.is_file() and (out / ".proxysort-page.json").is_file()
    assert f"review page: {page} (12 thumbnails made, 0 reused)" in first.stderr
    assert page_groups(page) == manifest_groups(out) and sum(page_groups(page).values()) == 12
    assert len(first.stdout.splitlines()) == 12  # stdout still carries only the result rows
    assert "tiny-clip.json · none" in page.read_text()

    extra, record = recording_browser(tmp_path)
    page.unlink()
    shown = run_cli(["show", str(out)], extra_env=extra)  # not a terminal: rebuilds, prints, opens nothing
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout == f"{page}\n" and page.is_file() and not record.exists()
    opened = run_cli(["show", str(out), "--open", "--quiet"], extra_env=extra)
    assert opened.exit_code == 0 and opened.stderr == ""
    assert record.read_text() == f"{page.as_uri()}\n"
    assert_unchanged(before, photo_folder)


def test_cluster_open_opens_the_page_once(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    extra, record = recording_browser(tmp_path)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), "--open", "--quiet", *MODEL], extra_env=extra)
    assert result.exit_code == 0, result.stderr
    assert record.read_text() == f"{(out / 'index.html').as_uri()}\n"


def test_open_without_a_tree_and_show_without_a_page_are_refused(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    dry = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(tmp_path / "o"), "--dry-run", "--open", *MODEL])
    assert dry.exit_code == 2 and "--open" in dry.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run_cli(["show", str(empty), "--no-open"])
    assert missing.exit_code == 7 and "proxysort cluster" in missing.stderr and missing.stdout == ""
