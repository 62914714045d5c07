"""The review page in a real headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it).

What a person would see, checked from the rendered page after its script ran: the groups and counts equal
the manifest, every thumbnail loads, hostile file names are shown as text and run nothing, every link opens
the right original, a missing thumbnail shows a placeholder, and tabs switch concepts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import pytest

from browser import Browser, find_chromium
from conftest import make_photo
from test_page import HOSTILE, manifest_groups, sorted_run

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it)"),
]

#: Everything the checks need from the page, read in one evaluation after forcing the lazy images to load.
COLLECT = """
(async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = "eager"; });
  const loaded = await Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth > 0, () => false)));
  const sections = [...document.querySelectorAll("section.concept")];
  return {
    pwned: window.pwned === undefined ? null : String(window.pwned),
    scripts: document.scripts.length,
    loaded: loaded,
    groups: sections.map(s => [...s.querySelectorAll(".group")].map(g => ({
      concept: s.getAttribute("aria-label"),
      name: g.querySelector(".gname").textContent,
      count: parseInt(g.querySelector(".count").textContent, 10),
      thumbs: g.querySelectorAll("a.t").length,
      doubt: g.querySelectorAll("a.t.doubt").length,
      jump: (g.querySelector("a.jump") || {}).hash || null,
    }))).flat(),
    links: [...document.querySelectorAll("a.t")].map(a => a.href),
    alts: [...document.images].map(i => i.alt),
    text: document.body.textContent,
    broken: document.querySelectorAll(".t.broken").length,
  };
})()
"""


@pytest.fixture(scope="module")
def browser():
    with Browser(CHROMIUM, width=1280, height=900) as b:
        yield b


@pytest.fixture
def hostile_page(photo_folder: Path, tmp_path: Path, tiny_clip):
    """A sorted folder with hostile names (and one that is not UTF-8, which the index skips), and its page."""
    from proxysort.page import make_page

    for i, name in enumerate(HOSTILE):
        make_photo(photo_folder / name, (20 * i, 90, 200))
    make_photo(Path(os.fsdecode(bytes(photo_folder) + b"/caf\xe9.png")), (1, 2, 3))
    out = tmp_path / "sorted"
    run, plan = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out, by=("color", "shape"))
    page, _ = make_page(run, plan.dest, out, cache_root=tmp_path / "cache", mode="subspace", model="tiny")
    return page, out


def _from_manifest(out: Path) -> dict[str, str]:
    """Manifest path -> the original's path, as the tree writer recorded them."""
    manifest = json.loads((out / ".proxysort.json").read_text())
    return {e["path"]: e["source"] for e in manifest["files"]}


def test_page_shows_the_manifest_loads_every_thumbnail_and_runs_no_file_name(browser, hostile_page, tmp_path) -> None:
    page, out = hostile_page
    browser.open(page.as_uri())
    seen = browser.evaluate(COLLECT)

    # Nothing from a file name ran: the only script is the page's own, and the markers were never set.
    assert seen["pwned"] is None and seen["scripts"] == 1
    # Groups and counts are the manifest's (both concepts; tab contents are in the DOM, one shown).
    shown = Counter({(g["concept"], g["name"]): g["count"] for g in seen["groups"]})
    manifest = manifest_groups(out)
    assert shown == manifest and sum(shown.values()) == 2 * 16
    assert all(g["thumbs"] == g["count"] for g in seen["groups"])
    for g in seen["groups"]:  # the least typical are marked and one click away
        if g["count"] >= 3:
            assert g["doubt"] >= 1 and g["jump"] and g["jump"].endswith("-doubt")
    # Every thumbnail loads.
    assert len(seen["loaded"]) == 32 and all(seen["loaded"])
    # Every thumbnail links to its original: the URL decodes back to the manifest's source bytes.
    sources = {os.fsencode(s) for s in _from_manifest(out).values()}
    linked = [unquote_to_bytes(urlparse(u).path) for u in seen["links"]]
    assert set(linked) == sources and len(linked) == 32
    # Hostile names render as text, exactly (a newline as its visible symbol).
    for name in HOSTILE:
        assert name.replace("\n", "\u240a") in seen["alts"]
    assert "caf\ufffd.png" in seen["text"]  # the skipped, non-UTF-8 name, listed with its reason
    browser.screenshot(tmp_path / "page.png")
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_missing_thumbnail_shows_a_placeholder_and_tabs_switch(browser, hostile_page) -> None:
    from proxysort.page import read_page_data

    page, out = hostile_page
    data = read_page_data(out)
    first = data.concepts[0].groups[0].photos[0]
    Path(first.thumb).unlink()  # e.g. the cache was cleared
    browser.open(page.as_uri())
    state = browser.evaluate(
        """(async () => {
          const imgs = [...document.images];
          imgs.forEach(i => { i.loading = "eager"; });
          await Promise.all(imgs.map(i => i.decode().catch(() => null)));
          await new Promise(r => setTimeout(r, 50));
          const hidden = () => [...document.querySelectorAll("section.concept")].map(s => s.hidden);
          const before = hidden();
          document.querySelectorAll("nav.tabs a")[1].click();
          const after = hidden();
          const b = document.querySelector("section.concept:not([hidden]) button.doubt-only");
          b.click();
          const onlyDoubt = [...document.querySelectorAll("section.concept:not([hidden]) a.t")]
            .filter(a => getComputedStyle(a).display !== "none").every(a => a.classList.contains("doubt"));
          return {before, after, broken: document.querySelectorAll(".t.broken").length, onlyDoubt, hash: location.hash};
        })()"""
    )
    uses = sum(p.thumb == first.thumb for c in data.concepts for g in c.groups for p in g.photos)
    assert uses == 2 and state["broken"] == uses  # the same photo in each concept's tab
    assert state["before"] == [False, True] and state["after"] == [True, False] and state["hash"] == "#c1"
    assert state["onlyDoubt"] is True
