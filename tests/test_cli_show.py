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
    assert len(list((out / ".proxysort-thumbs").rglob("*.jpg"))) == 12
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


def test_show_renders_forged_page_data_as_nothing_but_text(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """F8 (PJ01, X03): a `k` holding markup in the page data never reaches the page as markup."""
    import json

    out = tmp_path / "sorted"
    assert run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL]).exit_code == 0
    data_path = out / ".proxysort-page.json"
    data = json.loads(data_path.read_text())
    data["concepts"][0]["k"] = '<meta http-equiv=refresh content="0;url=https://example.invalid/">'
    data["concepts"][0]["groups"][0]["name"] = "<b>bold</b>"
    data_path.write_text(json.dumps(data))
    shown = run_cli(["show", str(out), "--no-open"])
    assert shown.exit_code == 0, shown.stderr
    html = (out / "index.html").read_text()
    assert "<meta http-equiv=refresh" not in html and "<b>bold</b>" not in html
    assert ".proxysort-page.json cannot be used (concepts[].k is not a whole number" in shown.stderr
    assert page_groups(out / "index.html") == manifest_groups(out)  # rebuilt from the manifest
    again = run_cli(["cluster", str(photo_folder), "--by", "shape", "--words", "round,square", "--k", "2",
                     "--out", str(out), *MODEL])  # X03: a later run does not carry it either
    assert again.exit_code == 0 and "<meta http-equiv=refresh" not in (out / "index.html").read_text()


@pytest.mark.parametrize("bad", ["deep", "binary", "fifo"])
def test_bad_page_data_or_page_is_one_message_never_a_traceback_or_a_hang(run_cli, photo_folder: Path, tmp_path: Path, bad: str) -> None:
    """F9, F13 (PJ02-PJ30): deep nesting, a non-UTF-8 page, a FIFO: cluster still prints its rows, show works."""
    import os

    out = tmp_path / "sorted"
    assert run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL]).exit_code == 0
    if bad == "deep":
        (out / ".proxysort-page.json").write_text("[" * 100_000 + "]" * 100_000)
    elif bad == "binary":
        (out / "index.html").write_bytes(b"\xff\xfe<\x00h\x00" * 1000)
    else:
        (out / "index.html").unlink()
        os.mkfifo(out / "index.html")
    again = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL])
    assert again.exit_code == 0 and "Traceback" not in again.stderr
    assert len(again.stdout.splitlines()) == 12
    shown = run_cli(["show", str(out), "--no-open"])
    assert "Traceback" not in shown.stderr
    if bad == "deep":
        assert shown.exit_code == 0 and page_groups(out / "index.html") == manifest_groups(out)
    else:  # not proxysort's page: left alone, and said so
        assert shown.exit_code == 7 and "not a page proxysort made" in shown.stderr


def test_a_damaged_thumbnail_is_made_again_by_show(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """F18: a corrupt or empty thumbnail (in OUT and in the cache) is made again, as the page's advice says."""
    out = tmp_path / "sorted"
    assert run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL]).exit_code == 0
    in_out = sorted((out / ".proxysort-thumbs").rglob("*.jpg"))
    in_cache = {p.name: p for p in (tmp_path / "cache").rglob("*.jpg")}
    in_out[0].write_bytes(b"")
    in_cache[in_out[0].name].write_bytes(b"")
    in_out[1].write_bytes(b"\xff\xd8\xff garbage")
    shown = run_cli(["show", str(out), "--no-open"])
    assert shown.exit_code == 0, shown.stderr
    assert "1 made again, 2 put beside the page" in shown.stderr
    for path in (in_out[0], in_out[1], in_cache[in_out[0].name]):
        assert path.read_bytes()[:3] == b"\xff\xd8\xff" and path.stat().st_size > 200


def test_interrupt_in_the_page_step_says_the_tree_was_written(run_cli, photo_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """F7: Ctrl-C after the tree, during the page, does not claim that no tree was written."""
    from proxysort.page import publish

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(publish, "publish", interrupted)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL])
    assert result.exit_code == 130
    assert "no folder tree was written" not in result.stderr
    assert f"the folder tree {out} was written" in result.stderr and "proxysort show" in result.stderr
    assert sum(manifest_groups(out).values()) == 12
    monkeypatch.undo()
    shown = run_cli(["show", str(out), "--no-open"])  # and show repairs the page
    assert shown.exit_code == 0 and page_groups(out / "index.html") == manifest_groups(out)


@pytest.mark.slow
def test_two_runs_at_once_of_different_concepts_leave_a_page_with_both(photo_folder: Path, tmp_path: Path) -> None:
    """F6 (PR02, PR03), issue 22: two processes sort one folder by two concepts into one OUT at the same
    time; whichever finishes last, the page shows both concepts, exactly as the manifest lists them."""
    import os
    import subprocess

    out = tmp_path / "sorted"
    env = {**os.environ, "PROXYSORT_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH")]))}
    concepts = [["--by", "color", "--words", "red,green,blue", "--k", "3"],
                ["--by", "shape", "--words", "round,square", "--k", "2"]]
    runs = [subprocess.Popen([sys.executable, "-m", "proxysort", "cluster", str(photo_folder), *c, "--out", str(out),
                              *MODEL, "--format", "tsv"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for c in concepts]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()[-2000:]
    shown = page_groups(out / "index.html")
    assert shown == manifest_groups(out)
    assert {folder for folder, _ in shown} == {"color", "shape"} and sum(shown.values()) == 24


def test_clean_of_one_concept_redraws_the_page_without_it(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    assert run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL]).exit_code == 0
    assert run_cli(["cluster", str(photo_folder), "--by", "shape", "--words", "round,square", "--k", "2",
                    "--out", str(out), *MODEL]).exit_code == 0
    assert {folder for folder, _ in page_groups(out / "index.html")} == {"color", "shape"}
    cleaned = run_cli(["clean", str(out), "--by", "shape"])
    assert cleaned.exit_code == 0, cleaned.stderr
    assert page_groups(out / "index.html") == manifest_groups(out) and {f for f, _ in manifest_groups(out)} == {"color"}
    assert run_cli(["clean", str(out)]).exit_code == 0 and not out.exists()


@pytest.mark.parametrize("cache_thumbs", ["link-to-photos", "file"])
def test_a_bad_thumbnail_cache_sends_nothing_into_the_photos_and_stops_nothing(run_cli, photo_folder: Path, tmp_path: Path,
                                                                              cache_thumbs: str) -> None:
    """F4 (T02): ``<cache>/thumbs`` a link into the photos; F12 (T07): a file there. The run writes its rows,
    the page gets every thumbnail (inside OUT), and the photo folder is unchanged."""
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    if cache_thumbs == "file":
        (cache / "thumbs").write_text("x")
    else:
        (cache / "thumbs").symlink_to(photo_folder)
    before = snapshot(photo_folder)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--out", str(out), *MODEL])
    assert result.exit_code == 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stdout.splitlines()) == 12 and "thumbnail cache" in result.stderr
    assert len(list((out / ".proxysort-thumbs").rglob("*.jpg"))) == 12
    assert_unchanged(before, photo_folder)
