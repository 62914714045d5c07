"""The review page in a real headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it).

What a person would see, checked from the rendered page after its script ran: the groups and counts equal
the manifest, every thumbnail loads (also from a copy of OUT with proxysort's cache deleted), hostile file
names are shown as text and run nothing, every link opens the right photo through the tree, a missing
thumbnail shows a placeholder, tabs switch concepts, and a malformed URL fragment breaks nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import pytest

from tests.support.browser import Browser, find_chromium
from tests.support.photos import make_photo
from tests.test_page import HOSTILE, manifest_groups, sorted_run

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
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
    scripts: [...document.scripts].filter(s => !s.type || /javascript/.test(s.type)).length,
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
    captions: [...document.querySelectorAll("a.t .cap")].map(c => [c.querySelector("b").textContent, c.querySelector("i").textContent]),
    ready: document.documentElement.getAttribute("data-ready-ms") !== null,
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
    for i, name in enumerate(HOSTILE):
        make_photo(photo_folder / name, (20 * i, 90, 200))
    make_photo(Path(os.fsdecode(bytes(photo_folder) + b"/caf\xe9.png")), (1, 2, 3))
    out = tmp_path / "sorted"
    _, _, job = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out, by=("color", "shape"))
    return job.outcome.page, out


def _from_manifest(out: Path) -> dict[str, str]:
    """Manifest path -> the original's path, as the tree writer recorded them (photos, not companions)."""
    manifest = json.loads((out / ".proxysort.json").read_text())
    return {e["path"]: e["source"] for e in manifest["files"] if "companion_of" not in e}


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
    # Every thumbnail links to its photo through the tree: the URL decodes back to the manifest's path.
    entries = {os.fsencode(str(out / p)) for p in _from_manifest(out)}
    linked = [unquote_to_bytes(urlparse(u).path) for u in seen["links"]]
    assert set(linked) == entries and len(linked) == 32
    # Each tile names its file and its album (the folder under the photo root).
    albums = {os.path.basename(s): os.path.basename(os.path.dirname(s)) if os.path.dirname(s) == str(photo_root(out))
              else os.path.relpath(os.path.dirname(s), photo_root(out)) for s in _from_manifest(out).values()}
    assert all(albums[name.replace("\u240a", "\n")] == album for name, album in seen["captions"])
    # Hostile names render as text, exactly (a newline as its visible symbol).
    for name in HOSTILE:
        assert name.replace("\n", "\u240a") in seen["alts"]
    assert "caf\ufffd.png" in seen["text"]  # the skipped, non-UTF-8 name, listed with its reason
    browser.screenshot(tmp_path / "page.png")
    assert (tmp_path / "page.png").stat().st_size > 10_000


def photo_root(out: Path) -> Path:
    return Path(json.loads((out / ".proxysort-page.json").read_text())["sources"][0])


def test_a_copied_out_shows_every_thumbnail_with_the_cache_deleted(browser, hostile_page, tmp_path) -> None:
    """The page is portable: thumbnails inside OUT, linked relatively; proxysort's cache plays no part."""
    page, out = hostile_page
    shutil.rmtree(tmp_path / "cache")
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(out, copy, symlinks=True)
    shutil.rmtree(out)
    browser.open((copy / "index.html").as_uri())
    seen = browser.evaluate(COLLECT)
    assert seen["ready"] and seen["broken"] == 0
    assert len(seen["loaded"]) == 32 and all(seen["loaded"])


def test_a_malformed_fragment_breaks_nothing(browser, hostile_page) -> None:
    """F22: ``index.html#%E0%A4%A`` (a bad bookmark) must not stop the page's script."""
    page, out = hostile_page
    browser.open(page.as_uri() + "#%E0%A4%A")
    state = browser.evaluate(
        """(() => {
          const hidden = () => [...document.querySelectorAll("section.concept")].map(s => s.hidden);
          const before = hidden();
          document.querySelectorAll("nav.tabs a")[1].click();
          return {ready: document.documentElement.getAttribute("data-ready-ms") !== null, before, after: hidden()};
        })()"""
    )
    assert state == {"ready": True, "before": [False, True], "after": [True, False]}


def test_missing_thumbnail_shows_a_placeholder_and_tabs_switch(browser, hostile_page) -> None:
    from proxysort.pagefiles import thumb_rel
    from tests.test_page import page_data

    page, out = hostile_page
    data = page_data(out)
    first = data.concepts[0].groups[0].photos[0]
    (out / thumb_rel(first.thumb)).unlink()  # e.g. someone tidied the hidden folder
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
            .filter(a => a.getClientRects().length > 0);
          const onlyDoubtOk = onlyDoubt.length > 0 && onlyDoubt.every(a => a.classList.contains("doubt"));
          return {before, after, broken: document.querySelectorAll(".t.broken").length, onlyDoubt: onlyDoubtOk, hash: location.hash};
        })()"""
    )
    uses = sum(p.thumb == first.thumb for c in data.concepts for g in c.groups for p in g.photos)
    assert uses == 2 and state["broken"] == uses  # the same photo in each concept's tab
    assert state["before"] == [False, True] and state["after"] == [True, False] and state["hash"] == "#c1"
    assert state["onlyDoubt"] is True


def test_large_groups_open_small_and_expand_to_every_photo_safely(browser, tmp_path) -> None:
    """Past the first thumbnails a grid is data turned into elements by the page's script: the page opens
    with a few hundred elements, and expanding shows every photo, hostile names still as plain text."""
    from proxysort.page import PageConcept, PageData, PageGroup, PagePhoto
    from proxysort.page.render import INITIAL_THUMBS, render
    from proxysort.pagefiles import thumb_rel

    out = tmp_path / "sorted"
    digest = "ab" + "0" * 62
    make_photo(out / thumb_rel(digest), (10, 200, 90), size=(320, 240))
    names = [f"{i:03d}-{HOSTILE[i % len(HOSTILE)]}" if i % 7 == 0 else f"{i:03d}.jpg" for i in range(150)]
    # In the JSON block (the end of the typical grid): "<!--<script" would change how the HTML parser reads
    # the rest of a script block if "<" were not escaped there.
    names[100] = '<!--<script><img src=x onerror="window.pwned=3">.png'

    photos = [PagePhoto(f"/photos/{n}", f"color/red/{n}", "", round(1 - i / 300, 4), None, digest) for i, n in enumerate(names)]
    group = PageGroup("red", photos, [0.3, 0.1])
    concept = PageConcept("color", "color", ["red", "blue"], "user", ["red"], "subspace", "prompt", 1, [group], [[0.5, 0.5, 0]], [0.5, 0.2])
    page = out / "index.html"
    page.write_text(render(PageData("2026-01-01 00:00 UTC", "tiny", ["/photos"], 150, [], [concept])))

    browser.open(page.as_uri())
    before = browser.evaluate("document.querySelectorAll('a.t').length")
    doubt = 15
    assert before == INITIAL_THUMBS + doubt  # the typical grid is cut, the 15 least typical are all there
    seen = browser.evaluate(
        COLLECT.replace("const imgs", "document.querySelectorAll('button.more').forEach(b => b.click());\n  const imgs")
    )
    assert seen["pwned"] is None and seen["scripts"] == 1
    assert seen["groups"] == [{"concept": "color", "name": "red", "count": 150, "thumbs": 150, "doubt": doubt, "jump": "#c0g0-doubt"}]
    assert len(seen["loaded"]) == 150 and all(seen["loaded"])
    shown = [name.replace("\n", "\u240a") for name in names]
    order = shown[: 150 - doubt] + shown[150 - doubt :][::-1]  # typical best first, then least typical first
    assert seen["alts"] == order
    assert [unquote_to_bytes(urlparse(u).path).decode() for u in seen["links"]] == [
        f"{out}/color/red/{n}" for n in names[: 150 - doubt] + names[150 - doubt :][::-1]]


def test_photos_placed_and_groups_named_by_the_user_are_marked_also_past_the_first_thumbnails(browser, tmp_path) -> None:
    """Issue 23: "placed by you" on the tiles the HTML holds and on those the script draws from the JSON."""
    from proxysort.page.render import INITIAL_THUMBS, render
    from tests.test_page import _placed_page

    page = tmp_path / "index.html"
    page.write_text(render(_placed_page(extra=INITIAL_THUMBS)))
    browser.open(page.as_uri())
    seen = browser.evaluate(
        """(() => {
          document.querySelectorAll('button.more').forEach(b => b.click());
          return {
            placed: [...document.querySelectorAll('a.t.placed')].map(a => [a.querySelector('.cap b').textContent,
                                                                             a.querySelector('.cap .placed').textContent]),
            unmarked: [...document.querySelectorAll('a.t:not(.placed) .cap .placed')].length,
            named: [...document.querySelectorAll('.group')].map(g => (g.querySelector('.named') || {}).textContent || ''),
          };
        })()"""
    )
    assert seen == {"placed": [["<i>mine.png", "placed by you"], ["late.png", "placed by you"]], "unmarked": 0,
                    "named": ["named by you", ""]}
