"""The review page without a browser: thumbnails made once and upright, escaping, page data = the manifest."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.support.photos import make_photo
from tests.support.treesnap import assert_unchanged, snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HOSTILE = [
    '<img src=x onerror="window.pwned=1">.png',
    '"><script>window.pwned=2<\\script>.png',
    "quote's \"and\"\nnewline.png",
    "percent %41 #hash ?q &amp; .png",
]


def sorted_run(folder: Path, tiny_clip, cache: Path, out: Path, by=("color",), k=3):
    """A real (one-epoch) sort of ``folder`` written to ``out``; returns (result, plan)."""
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, sort, write_folders

    words = {"color": ["red", "green", "blue"], "shape": ["round", "square"]}
    concepts = [By(b, words=words[b], k=min(k, len(words[b]))) for b in by]
    run = sort(folder, concepts, model=tiny_clip, cache_dir=cache, training=ProxyConfig(epochs=1))
    plan, _ = write_folders(run, out)
    return run, plan


def manifest_groups(out: Path) -> Counter:
    """(concept folder, group folder) -> number of files, from the manifest the tree writer left."""
    from proxysort.output import read_manifest

    manifest = read_manifest(out)
    assert manifest is not None
    return Counter(tuple(e.path.split("/")[:2]) for e in manifest.files)


# ------------------------------------------------------------------------------------------ escaping


def test_text_escapes_markup_controls_and_undecodable_bytes() -> None:
    from proxysort.page import _text

    assert _text('<script>"x"&\'y\'') == "&lt;script&gt;&quot;x&quot;&amp;&#x27;y&#x27;"
    assert _text("a\nb\tc\x7f") == "a\u240ab\u2409c\u2421"
    name = os.fsdecode(b"caf\xe9-\xff.jpg")  # not UTF-8: surrogate escapes
    shown = _text(name)
    assert shown == "caf\ufffd-\ufffd.jpg"
    shown.encode("utf-8")  # writable into a UTF-8 page
    assert _text("\ud800 lone") == "? lone"


def test_file_url_percent_encodes_the_raw_bytes() -> None:
    from urllib.parse import unquote_to_bytes

    from proxysort.page import file_url

    for raw in [b"/p/a b#c?d%e.jpg", b"/p/<x>\"'\n.png", b"/p/caf\xe9.jpg", "/p/日本.jpg".encode()]:
        url = file_url(os.fsdecode(raw))
        assert url.startswith("file:///") and re.fullmatch(r"[A-Za-z0-9/:%._~-]+", url), url
        assert unquote_to_bytes(url[len("file://"):]) == raw


def test_csp_pins_the_inline_style_and_script_by_hash() -> None:
    from proxysort.page import CSP, PageData, render

    page = render(PageData("2026-01-01 00:00 UTC", "m", ["/p"], 0, [], []))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "default-src 'none'" in csp
    assert csp.startswith(CSP.split("style-src")[0])
    blocks = re.findall(r"<(style|script)>(.*?)</\1>", page, flags=re.S)
    assert {kind for kind, _ in blocks} == {"style", "script"}
    for kind, body in blocks:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.split(f"{kind}-src")[1].split(";")[0]
    markup = re.sub(r"<(script|style)>.*?</\1>", "", page, flags=re.S)
    assert re.search(r"\son[a-z]+\s*=", markup) is None and " style=" not in markup  # no inline handlers or styles


# ------------------------------------------------------------------------------------------ thumbnails


def test_thumbnails_are_made_once_upright_small_and_outside_the_photos(tmp_path: Path) -> None:
    from PIL import Image

    from proxysort.thumbs import THUMB_SIZE, make_thumbnails, thumbs_dir

    photos = tmp_path / "photos"
    big = make_photo(photos / "big.jpg", (30, 120, 200), size=(1600, 1200), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90° clockwise, so it is portrait upright
    sideways = make_photo(photos / "sideways.jpg", (200, 40, 40), size=(800, 400), exif=exif)
    bad = photos / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    before = snapshot(photos)
    cache = tmp_path / "cache"

    thumbs, stats = make_thumbnails([big, sideways, bad], cache, workers=2)
    assert (stats.made, stats.reused, stats.failed) == (2, 0, 1)
    assert thumbs[2].path is None and "not an image" in (thumbs[2].error or "")
    for t in thumbs[:2]:
        assert t.path is not None and t.path.is_relative_to(thumbs_dir(cache)) and t.path.suffix == ".jpg"
    with Image.open(thumbs[0].path) as im:
        assert im.size == (THUMB_SIZE * 4 // 3, THUMB_SIZE)  # shorter side THUMB_SIZE, aspect kept
    with Image.open(thumbs[1].path) as im:
        assert im.width < im.height  # EXIF orientation applied
    assert thumbs[0].path.stat().st_size < 0.1 * big.stat().st_size
    mtimes = [t.path.stat().st_mtime_ns for t in thumbs[:2]]

    again, stats2 = make_thumbnails([sideways, big], cache)
    assert (stats2.made, stats2.reused) == (0, 2)
    assert [t.path for t in again] == [thumbs[1].path, thumbs[0].path]
    assert [t.path.stat().st_mtime_ns for t in thumbs[:2]] == mtimes  # not regenerated
    assert_unchanged(before, photos)
    assert not any(t.path.is_relative_to(photos) for t in again)


# ------------------------------------------------------------------------------------------ page data


def test_page_groups_and_counts_are_the_manifests(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    from proxysort.page import PAGE_DATA_NAME, PAGE_NAME, PageData, make_page, read_page_data

    for i, name in enumerate(HOSTILE):
        make_photo(photo_folder / name, (20 * i, 90, 200))
    out = tmp_path / "sorted"
    run, plan = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out, by=("color", "shape"))
    before = snapshot(photo_folder)
    page, stats = make_page(run, plan.dest, out, cache_root=tmp_path / "cache", mode="zeroshot", model="tiny")
    assert page == out / PAGE_NAME and stats.failed == 0 and stats.made == len(run.paths)
    data = read_page_data(out)
    assert data is not None
    shown = Counter({(c.folder, g.name): len(g.photos) for c in data.concepts for g in c.groups})
    assert shown == manifest_groups(out)
    assert data.photos == len(run.paths) == 16
    for c in data.concepts:
        scores = [[p.score for p in g.photos] for g in c.groups]
        assert all(s == sorted(s, reverse=True) for s in scores)  # most typical first
        assert len(c.map_points) == 16 and {int(g) for *_, g in c.map_points} == set(range(len(c.groups)))
        assert all(len(g.word_scores) == len(c.words) for g in c.groups)

    html = page.read_text(encoding="utf-8")
    body = html.split("</head>", 1)[1].rsplit("<script>", 1)[0]
    assert "<script" not in body and "<img src=x" not in body and "onerror=" not in body.replace("onerror=&quot;", "")
    assert "&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;.png" in body
    assert "quote&#x27;s &quot;and&quot;\u240anewline.png" in body
    assert "percent%20%2541%20%23hash%20%3Fq%20%26amp%3B%20.png" in body  # the link's URL
    assert_unchanged(before, photo_folder)

    # A repeated run leaves page and data byte-identical and untouched (the date included).
    mtimes = [(out / n).stat().st_mtime_ns for n in (PAGE_NAME, PAGE_DATA_NAME)]
    make_page(run, plan.dest, out, cache_root=tmp_path / "cache", mode="zeroshot", model="tiny")
    assert [(out / n).stat().st_mtime_ns for n in (PAGE_NAME, PAGE_DATA_NAME)] == mtimes
    assert PageData.from_json((out / PAGE_DATA_NAME).read_text()) == data


def test_keep_listed_drops_photos_the_manifest_no_longer_lists(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    from proxysort.page import build_page_data, keep_listed
    from proxysort.thumbs import Thumb

    out = tmp_path / "sorted"
    run, plan = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out)
    data = build_page_data(run, plan.dest, [Thumb(None)] * len(run.paths), mode="zeroshot", model="tiny")
    first = data.concepts[0].groups[0]
    gone = {p.dest for p in first.photos}
    listed = [p.dest for g in data.concepts[0].groups for p in g.photos if p.dest not in gone]
    kept = keep_listed(data, listed)
    assert sum(len(g.photos) for g in kept.concepts[0].groups) == 12 - len(gone)
    assert first.name not in {g.name for g in kept.concepts[0].groups}
    assert {int(g) for *_, g in kept.concepts[0].map_points} == set(range(len(kept.concepts[0].groups)))


def test_rebuild_remakes_missing_thumbnails_and_follows_the_manifest(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    import json

    from proxysort.errors import OutputError
    from proxysort.page import make_page, read_page_data, rebuild_page

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    run, plan = sorted_run(photo_folder, tiny_clip, cache, out)
    make_page(run, plan.dest, out, cache_root=cache, mode="subspace", model="tiny")
    data = read_page_data(out)
    victim = data.concepts[0].groups[0].photos[0]
    Path(victim.thumb).unlink()
    manifest_path = out / ".proxysort.json"
    manifest = json.loads(manifest_path.read_text())
    dropped = manifest["files"].pop()
    manifest_path.write_text(json.dumps(manifest))

    page, stats = rebuild_page(out, cache)
    assert (stats.made, stats.failed) == (1, 0) and Path(victim.thumb).is_file()
    again = read_page_data(out)
    assert sum(len(g.photos) for c in again.concepts for g in c.groups) == 11
    assert dropped["path"] not in {p.dest for c in again.concepts for g in c.groups for p in g.photos}
    assert Counter({(c.folder, g.name): len(g.photos) for c in again.concepts for g in c.groups}) == manifest_groups(out)

    with pytest.raises(OutputError, match="proxysort cluster"):
        rebuild_page(tmp_path / "nothing-here", cache)


def test_a_later_run_keeps_other_concepts_only_while_the_manifest_lists_them(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    from proxysort.page import make_page, read_page_data

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    run, plan = sorted_run(photo_folder, tiny_clip, cache, out, by=("shape",), k=2)
    make_page(run, plan.dest, out, cache_root=cache, mode="subspace", model="tiny")
    run, plan = sorted_run(photo_folder, tiny_clip, cache, out, by=("color",))
    make_page(run, plan.dest, out, cache_root=cache, mode="subspace", model="tiny")
    data = read_page_data(out)
    # The page shows exactly the concept trees the manifest lists: both if the tree writer keeps the
    # earlier concept's folder beside the new one, else only the new one.
    listed = {folder for folder, _ in manifest_groups(out)}
    assert {c.folder for c in data.concepts} == listed and "color" in listed
    assert Counter({(c.folder, g.name): len(g.photos) for c in data.concepts for g in c.groups}) == manifest_groups(out)
