"""The review page without a browser: escaping, strict page data, the page = the manifest, written under the lock."""

from __future__ import annotations

import base64
import hashlib
import json
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


def sorted_run(folder: Path, tiny_clip, cache: Path, out: Path, by=("color",), k=3, page=True):
    """A real (one-epoch) sort of ``folder`` written to ``out`` with its review page; returns (result, plan, job)."""
    from proxysort.page.publish import PageJob
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, page_run, sort, write_folders

    words = {"color": ["red", "green", "blue"], "shape": ["round", "square"]}
    concepts = [By(b, words=words[b], k=min(k, len(words[b]))) for b in by]
    run = sort(folder, concepts, model=tiny_clip, cache_dir=cache, training=ProxyConfig(epochs=1))
    job = PageJob(page_run(run), cache) if page else None
    plan, _ = write_folders(run, out, page=job)
    return run, plan, job


def manifest_groups(out: Path) -> Counter:
    """(concept folder, group folder) -> number of photos, from the manifest the tree writer left."""
    from proxysort.output import read_manifest

    manifest = read_manifest(out)
    assert manifest is not None
    return Counter(tuple(e.path.split("/")[:2]) for e in manifest.files if e.companion_of is None and not e.orphan)


def page_data(out: Path):
    from proxysort.outdir import OutDir
    from proxysort.page.publish import read_page_data_at

    with OutDir.open(out) as od:
        return read_page_data_at(od)


def shown_groups(data) -> Counter:
    return Counter({(c.folder, g.name): len(g.photos) for c in data.concepts for g in c.groups})


# ------------------------------------------------------------------------------------------ escaping


def test_display_shows_controls_and_undecodable_bytes_as_text() -> None:
    from proxysort.page.render import display

    assert display("a\nb\tc\x7f") == "a\u240ab\u2409c\u2421"
    name = os.fsdecode(b"caf\xe9-\xff.jpg")  # not UTF-8: surrogate escapes
    assert display(name) == "caf\ufffd-\ufffd.jpg"
    assert display("\ud800 lone") == "? lone"


def test_links_are_relative_and_percent_encode_the_raw_bytes() -> None:
    from urllib.parse import unquote_to_bytes

    from proxysort.page.render import rel_url

    for raw in [b"color/red/a b#c?d%e.jpg", b"color/red/<x>\"'\n.png", b"color/red/caf\xe9.jpg",
                "color/red/日本.jpg".encode(), b"javascript:alert(1)/x/y.png"]:
        url = rel_url(os.fsdecode(raw))
        assert re.fullmatch(r"[A-Za-z0-9/%._~-]+", url), url  # no ':' so never a scheme
        assert unquote_to_bytes(url) == raw


def test_csp_pins_the_shipped_style_and_script_by_hash() -> None:
    from importlib import resources

    from proxysort.page import PageData
    from proxysort.page.render import render

    page = render(PageData("2026-01-01 00:00 UTC", "m", ["/p"], 0, [], []))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "default-src 'none'" in csp
    blocks = re.findall(r"<(style|script)>(.*?)</\1>", page, flags=re.S)
    assert {kind for kind, _ in blocks} == {"style", "script"}
    for kind, body in blocks:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.split(f"{kind}-src")[1].split(";")[0]
    shipped = resources.files("proxysort") / "templates"
    assert (shipped / "page.js").read_text() in [b for k, b in blocks if k == "script"]
    assert (shipped / "page.css").read_text() in [b for k, b in blocks if k == "style"]
    markup = re.sub(r"<(script|style)>.*?</\1>", "", page, flags=re.S)
    assert re.search(r"\son[a-z]+\s*=", markup) is None and " style=" not in markup  # no inline handlers or styles
    assert '<meta name="generator" content="proxysort">' in page


# ------------------------------------------------------------------------------------------ page data


def _valid_data() -> dict:
    return {
        "tool": "proxysort-page", "version": 2, "created": "2026-01-01 00:00 UTC", "model": "m", "sources": ["/p"],
        "photos": 1, "skipped": [],
        "concepts": [{
            "concept": "color", "folder": "color", "words": ["red", "blue"], "word_source": "user", "names": ["red"],
            "mode": "subspace", "feature": "prompt", "k": 1, "fit": None, "map_points": [[0.5, 0.5, 0]],
            "map_variance": [0.5, 0.2],
            "groups": [{"name": "red", "word_scores": [0.3, 0.1], "photos": [
                {"src": "/p/a.png", "dest": "color/red/a.png", "album": "", "score": 0.9, "fit": None,
                 "thumb": None, "size": None, "mtime_ns": None, "also": []}]}],
        }],
    }


def _set(path: str, value):
    def change(d: dict) -> dict:
        keys = path.split(".")
        target = d
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return d
    return change


@pytest.mark.parametrize("change", [
    _set("concepts.0.k", '<meta http-equiv=refresh content="0;url=https://example.invalid/">'),  # F8
    _set("concepts.0.groups.0.photos.0.score", "0.9"),
    _set("concepts.0.map_points.0", [0.5, 0.5]),
    _set("concepts.0.map_points.0", [0.5, 0.5, "x"]),
    _set("concepts.0.map_points.0", [0.5, 0.5, 7]),
    _set("concepts.0.names", [1, 2]),
    _set("concepts.0.groups.0.name", 3),
    _set("concepts.0.map_variance", "lots"),
    _set("concepts.0.groups.0.word_scores", [0.3]),  # shorter than the words
    _set("concepts.0.groups.0.photos.0.thumb", "../../etc/passwd"),
    _set("concepts.0.groups.0.photos.0.score", float("nan")),
    _set("concepts.0.groups.0.photos.0.src", "x" * 70_000),  # past MAX_PATH (paths may pass PATH_MAX)
    _set("concepts", {"a": 1}),
    _set("version", 1),
    _set("concepts.0.groups.0.photos.0.pinned", "yes"),  # a forged pin: only true or false
    _set("concepts.0.groups.0.photos.0.pinned", 1),
    _set("concepts.0.groups.0.by_user", "<b>you</b>"),
], ids=["k-html", "score-str", "short-point", "point-group-str", "point-group-range", "names-numbers",
        "group-name-number", "variance-str", "short-word-scores", "thumb-path", "score-nan", "long-text",
        "concepts-object", "old-version", "pinned-str", "pinned-number", "by-user-markup"])
def test_page_data_is_read_as_strictly_as_the_manifest(change) -> None:
    """F8, F13: anything of the wrong type, range or length is one PageDataError, never a traceback or markup."""
    from proxysort.page import PageData, PageDataError

    assert PageData.from_json(json.dumps(_valid_data())).concepts[0].k == 1
    with pytest.raises(PageDataError):
        PageData.from_json(json.dumps(change(_valid_data())))


def test_page_data_nested_deep_or_not_json_is_refused() -> None:
    from proxysort.page import PageData, PageDataError

    for text in ["[" * 100_000 + "]" * 100_000, "{not json", '"text"', json.dumps({"tool": "other"})]:
        with pytest.raises(PageDataError):
            PageData.from_json(text)


# ------------------------------------------------------------------------------------------ the page = the tree


def test_page_groups_and_counts_are_the_manifests(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    from proxysort.pagefiles import PAGE_DATA_NAME, PAGE_NAME, thumb_rel

    for i, name in enumerate(HOSTILE):
        make_photo(photo_folder / name, (20 * i, 90, 200))
    out = tmp_path / "sorted"
    before = snapshot(photo_folder)
    run, plan, job = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out, by=("color", "shape"))
    assert job.outcome.page == out / PAGE_NAME and job.stats.failed == 0 and job.stats.made == len(run.paths) == 16
    data = page_data(out)
    assert shown_groups(data) == manifest_groups(out)
    for c in data.concepts:
        scores = [[p.score for p in g.photos] for g in c.groups]
        assert all(s == sorted(s, reverse=True) for s in scores)  # most typical first
        assert len(c.map_points) == 16 and {int(g) for *_, g in c.map_points} == set(range(len(c.groups)))
        assert all(len(g.word_scores) == len(c.words) for g in c.groups)
        assert c.fit is not None and all(-1 <= p.fit <= 1 for g in c.groups for p in g.photos)
        for g in c.groups:
            for p in g.photos:  # the thumbnail is in OUT, named by the full hash of the original
                assert p.thumb == hashlib.sha256(Path(p.src).read_bytes()).hexdigest()
                assert (out / thumb_rel(p.thumb)).is_file()
                parent = Path(p.src).parent
                assert p.album == ("" if parent == photo_folder else str(parent.relative_to(photo_folder)))

    html = (out / PAGE_NAME).read_text(encoding="utf-8")
    body = html.split("</head>", 1)[1].rsplit("<script>", 1)[0]
    assert "<script" not in body and "<img src=x" not in body and "onerror=" not in body.replace("onerror=&#34;", "")
    assert "&lt;img src=x onerror=&#34;window.pwned=1&#34;&gt;.png" in body
    assert "quote&#39;s &#34;and&#34;\u240anewline.png" in body
    assert "percent%20%2541%20%23hash%20%3Fq%20%26amp%3B%20.png" in body  # the link's URL
    assert "file://" not in body and str(tmp_path / "cache") not in body  # every link relative
    assert_unchanged(before, photo_folder)

    # A repeated run leaves page and data byte-identical and untouched (the date included).
    mtimes = [(out / n).stat().st_mtime_ns for n in (PAGE_NAME, PAGE_DATA_NAME, ".proxysort.json")]
    _, _, again = sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out, by=("color", "shape"))
    assert again.stats.made == 0
    assert [(out / n).stat().st_mtime_ns for n in (PAGE_NAME, PAGE_DATA_NAME, ".proxysort.json")] == mtimes


def test_a_stale_page_is_reconciled_with_the_manifest(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    """F6: page data left by another run (other groups) never decides the groups: the manifest does."""
    from proxysort.page.publish import rebuild_page
    from proxysort.pagefiles import PAGE_DATA_NAME

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    sorted_run(photo_folder, tiny_clip, cache, out)
    stale = json.loads((out / PAGE_DATA_NAME).read_text())
    groups = stale["concepts"][0]["groups"]
    moved = groups[0]["photos"].pop()
    groups[1]["photos"].append(moved)  # the page says one photo is in another group
    groups.append({"name": "ghost", "word_scores": [], "photos": []})
    (out / PAGE_DATA_NAME).write_text(json.dumps(stale))

    rebuild_page(out, cache)
    data = page_data(out)
    assert shown_groups(data) == manifest_groups(out)
    assert "ghost" not in {g.name for c in data.concepts for g in c.groups}
    assert data.concepts[0].map_points == []  # drawn for other groups: left out


def test_duplicates_are_shown_once_with_where_else_they_are(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    (photo_folder / "trip").mkdir()
    original = photo_folder / "a" / "img01.png"
    (photo_folder / "trip" / "copy.png").write_bytes(original.read_bytes())
    out = tmp_path / "sorted"
    sorted_run(photo_folder, tiny_clip, tmp_path / "cache", out)
    data = page_data(out)
    photos = [p for c in data.concepts for g in c.groups for p in g.photos]
    assert len(photos) == 12  # 13 photos, one byte-identical pair linked once
    notes = [p.also for p in photos if p.also]
    assert notes in ([["trip/copy.png"]], [["a/img01.png"]])
    html = (out / "index.html").read_text()
    assert "also in " in html and "(the same photo)" in html


def test_the_page_is_written_on_the_held_folder_even_if_out_is_swapped(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    """F3: OUT renamed and replaced by a link to the photos between the tree and the page: nothing of the
    page reaches the photo folder; it lands in the folder that was locked."""
    from proxysort.page.publish import PageJob
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, page_run, sort, write_folders

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    run = sort(photo_folder, [By("color", words=["red", "green", "blue"], k=3)], model=tiny_clip, cache_dir=cache,
               training=ProxyConfig(epochs=1))
    job = PageJob(page_run(run), cache)

    class Swapping:
        def prepare(self, where: Path) -> None:
            job.prepare(where)

        def __call__(self, od, summary) -> None:  # the moment after the tree, before the page
            out.rename(tmp_path / "moved")
            out.symlink_to(photo_folder)
            job(od, summary)

    before = snapshot(photo_folder)
    write_folders(run, out, page=Swapping())
    assert_unchanged(before, photo_folder)
    assert (tmp_path / "moved" / "index.html").is_file() and (tmp_path / "moved" / ".proxysort-thumbs").is_dir()


def test_a_users_index_html_is_neither_replaced_nor_cleaned(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    """F2 (K12), F23: clean removes the page files proxysort made (and partial files), never the user's."""
    from proxysort.output import clean_tree

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    sorted_run(photo_folder, tiny_clip, cache, out)
    (out / ".proxysort-partial-0123abcd").write_text("a write killed halfway")
    clean_tree(out)
    assert not out.exists()  # page, data, thumbnails, partial file and manifest all proxysort's: all gone

    sorted_run(photo_folder, tiny_clip, cache, out)
    (out / "index.html").write_text("<p>my notes</p>")
    _, _, job = sorted_run(photo_folder, tiny_clip, cache, out)  # a re-run does not replace it either
    assert job.outcome.page is None and (out / "index.html").read_text() == "<p>my notes</p>"
    assert any("not a page proxysort made" in n for n in job.outcome.notes)
    clean_tree(out)
    assert sorted(os.listdir(out)) == ["index.html"] and (out / "index.html").read_text() == "<p>my notes</p>"


def test_a_fifo_at_the_page_or_its_data_never_blocks(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    """F9: the page step reads nothing it could block on (O_NONBLOCK, regular files only)."""
    import threading

    from proxysort.page.publish import rebuild_page

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    sorted_run(photo_folder, tiny_clip, cache, out)
    for name in ("index.html", ".proxysort-page.json"):
        (out / name).unlink()
        os.mkfifo(out / name)
    finished = threading.Event()
    result: list = []

    def show() -> None:
        result.append(rebuild_page(out, cache))
        finished.set()

    threading.Thread(target=show, daemon=True).start()
    assert finished.wait(60), "show blocked on a FIFO"
    assert result[0].page is None  # the FIFO at index.html is not ours: left alone, said once
    assert (out / ".proxysort-page.json").is_file()  # our own hidden name: replaced by the data


def test_show_refuses_an_out_inside_the_photos_and_a_folder_without_trees(tmp_path: Path) -> None:
    from proxysort.errors import OutputError
    from proxysort.page.publish import rebuild_page

    with pytest.raises(OutputError, match="proxysort cluster"):
        rebuild_page(tmp_path / "nothing-here", tmp_path / "cache")


def test_a_photo_a_browser_cannot_show_opens_its_thumbnail_and_tiles_speak_in_words() -> None:
    from proxysort.page import PageConcept, PageData, PageGroup, PagePhoto
    from proxysort.page.render import render

    digest = "cd" * 32
    photos = [PagePhoto("/photos/2019/Beach/IMG_1.HEIC", "color/red/IMG_1.HEIC", "2019/Beach", 0.9, 0.6, digest),
              PagePhoto("/photos/IMG_2.jpg", "color/red/IMG_2.jpg", "", 0.5, -0.2, digest, also=["Takeout/IMG_2.jpg"])]
    concept = PageConcept("color", "color", ["red", "cross"], "user", ["red"], "subspace", "prompt", 2,
                          [PageGroup("red", photos, [0.5, 0.9])], [], [], 0.1)
    html = render(PageData("2026-01-01 00:00 UTC", "tiny", ["/photos"], 2, [], [concept]))
    tiles = re.findall(r'<a class="t[^"]*" href="([^"]+)"', html)
    assert tiles == [f".proxysort-thumbs/cd/{digest}.jpg", "color/red/IMG_2.jpg"]
    assert "<b>IMG_1.HEIC</b><i>2019/Beach</i>" in html and "<i>photos</i>" in html
    assert "fits well" in html and "fits poorly" in html  # words on the tile, the numbers on hover:
    assert 'title="IMG_1.HEIC&#10;2019/Beach&#10;score 0.900 \u00b7 fit 0.60&#10;opens its thumbnail' in html
    assert "also in Takeout/IMG_2.jpg" in html
    assert "The groups overlap \u2014 this concept is not well separated for these photos." in html
    assert "\u201ccross\u201d is a little nearer to this group" in html  # why "red" is not its nearest word


def test_reconcile_takes_groups_from_the_manifest_and_what_it_knows_from_the_data() -> None:
    from proxysort.manifest import ConceptTree, Duplicate, Entry, Manifest
    from proxysort.page import PageConcept, PageData, PageGroup, PagePhoto, reconcile

    t1, t2 = "1" * 64, "2" * 64
    data = PageData("2026-01-01 00:00 UTC", "m", ["/p"], 2, [], [
        PageConcept("color", "color", ["red", "blue"], "user", ["red", "blue"], "subspace", "prompt", 2,
                    [PageGroup("red", [PagePhoto("/p/a.jpg", "color/red/a.jpg", "", 0.9, 0.5, t1)], [0.9, 0.1]),
                     PageGroup("blue", [PagePhoto("/p/x/b.jpg", "color/blue/b.jpg", "x", 0.8, 0.4, t2)], [0.1, 0.9])],
                    [[0.1, 0.1, 0], [0.9, 0.9, 1]], [0.6, 0.3], 0.45)])
    manifest = Manifest(
        files=[Entry("color/blue/a.jpg", "/p/a.jpg", "symlink", target="/p/a.jpg"),  # moved since the page
               Entry("color/blue/b.jpg", "/p/x/b.jpg", "symlink", target="/p/x/b.jpg"),
               Entry("color/blue/b.xmp", "/p/x/b.xmp", "symlink", target="/p/x/b.xmp", companion_of="color/blue/b.jpg"),
               Entry("shape/round/a.jpg", "/p/a.jpg", "symlink", target="/p/a.jpg")],
        concepts=[ConceptTree("color", "color", "symlink"), ConceptTree("shape", "shape", "symlink")],
        duplicates=[Duplicate("color", "/p/y/copy.jpg", "color/blue/b.jpg")],
    )
    page = reconcile(data, manifest, "now")
    color, shape = page.concepts
    assert [(g.name, [p.dest for p in g.photos]) for g in color.groups] == [("blue", ["color/blue/b.jpg", "color/blue/a.jpg"])]
    assert color.map_points == [] and color.fit is None  # drawn for other groups
    assert [p.thumb for p in color.groups[0].photos] == [t2, t1]  # scored first; the moved photo's score is gone
    assert [p.score for p in color.groups[0].photos] == [0.8, None]
    assert color.groups[0].photos[0].also == ["y/copy.jpg"] and color.groups[0].word_scores == [0.1, 0.9]
    assert shape.groups[0].photos[0].thumb == t1 and shape.groups[0].photos[0].score is None  # known elsewhere


def test_every_template_is_package_data() -> None:
    """A wheel holds the templates only through MANIFEST.in (setuptools' include-package-data)."""
    import fnmatch

    root = Path(__file__).resolve().parents[1]
    rules = [line.split() for line in (root / "MANIFEST.in").read_text().splitlines() if line.startswith("recursive-include")]
    templates = sorted((root / "src/proxysort/templates").iterdir())
    assert templates
    for path in templates:
        rel = path.relative_to(root)
        assert any(str(rel.parent).startswith(r[1]) and any(fnmatch.fnmatch(path.name, p) for p in r[2:]) for r in rules), rel


def test_without_page_data_the_page_is_made_from_the_manifest_alone(photo_folder: Path, tmp_path: Path, tiny_clip) -> None:
    """The data file deleted (or from another version): show still makes every group, thumbnail and album."""
    from proxysort.page.publish import rebuild_page

    out, cache = tmp_path / "sorted", tmp_path / "cache"
    sorted_run(photo_folder, tiny_clip, cache, out)
    (out / ".proxysort-page.json").unlink()
    outcome = rebuild_page(out, cache)
    data = page_data(out)
    assert outcome.page is not None and shown_groups(data) == manifest_groups(out)
    photos = [p for c in data.concepts for g in c.groups for p in g.photos]
    assert all(p.thumb for p in photos) and {p.album for p in photos} == {"a", "b/c"}


def test_the_page_says_why_a_group_is_numbered_or_unsure() -> None:
    """Neutral names (the words fit poorly as a whole) and -unsure names show the nearest word and why."""
    from proxysort.page.data import PageConcept, PageGroup
    from proxysort.page.render import why_named

    words = ["red", "green", "blue"]
    groups = [PageGroup("color-1", [], [0.9, 0.1, 0.2]), PageGroup("green-unsure", [], [0.1, 0.3, 0.8]),
              PageGroup("blue", [], [0.1, 0.2, 0.9])]
    c = PageConcept("color", "color", words, "user", [g.name for g in groups], "zeroshot", "scoremix", 3, groups)
    assert "numbered" in why_named(groups[0], c) and "\u201cred\u201d" in why_named(groups[0], c)
    assert why_named(groups[1], c).startswith("\u201cgreen\u201d is a guess") and "\u201cblue\u201d" in why_named(groups[1], c)
    assert why_named(groups[2], c) == ""
    anchors = PageConcept("person", "person", words, "anchors", ["person-1"], "zeroshot", "scoremix", 1,
                          [PageGroup("person-1", [], [0.9, 0.1, 0.2])])
    assert "random anchors" in why_named(anchors.groups[0], anchors)


# ------------------------------------------------------------------------------------------ the user's corrections


def _placed_page(extra: int = 0):
    from proxysort.page import PageConcept, PageData, PageGroup, PagePhoto

    mine = PagePhoto("/p/<i>mine.png", "color/My Keepers/<i>mine.png", "", None, None, None, pinned=True)
    rest = [PagePhoto(f"/p/r{i}.png", f"color/My Keepers/r{i}.png", "", 0.5, 0.3, None) for i in range(extra)]
    tail = PagePhoto("/p/late.png", "color/My Keepers/late.png", "", None, None, None, pinned=True)
    groups = [PageGroup("My Keepers", [mine, *rest, tail], [0.2, 0.1], by_user=True),
              PageGroup("red", [PagePhoto("/p/a.png", "color/red/a.png", "", 0.9, 0.5, None)], [0.9, 0.1])]
    concept = PageConcept("color", "color", ["red", "blue"], "user", ["red", "blue"], "subspace", "prompt", 2, groups)
    return PageData("2026-01-01 00:00 UTC", "tiny", ["/p"], 2 + extra, [], [concept])


def test_the_page_marks_photos_placed_and_groups_named_by_the_user() -> None:
    from proxysort.page.render import INITIAL_THUMBS, render, why_named

    data = _placed_page(extra=INITIAL_THUMBS)  # the last placed photo is drawn by the script, from JSON
    html = render(data)
    tiles = re.findall(r'<a class="(t[^"]*)" href="([^"]+)"', html)
    assert ("t placed", "color/My%20Keepers/%3Ci%3Emine.png") in tiles
    assert ("t", "color/red/a.png") in tiles and sum(cls == "t placed" for cls, _ in tiles) == 1
    assert '<span class="placed">placed by you</span>' in html
    assert "placed by you: you moved it into this group; every later run keeps it here" in html
    assert "<i>mine" not in html and "&lt;i&gt;mine.png" in html  # names stay text
    more = json.loads(re.search(r'<script type="application/json" id="c0g0-typical-more">(.*?)</script>', html, re.S)
                      .group(1))
    assert more[-1][2] == "late.png" and more[-1][8] == "placed by you"
    heads = re.findall(r'<span class="gname">([^<]*)</span>(<span class="named"[^>]*>[^<]*</span>)?', html)
    assert heads == [("My Keepers", '<span class="named" title="you named this folder; every later run keeps the '
                                    'name">named by you</span>'), ("red", "")]
    assert "Kept from your changes in the folders: 2 photos placed by you, 1 group named by you." in html
    assert why_named(data.concepts[0].groups[0], data.concepts[0]) == ""  # no word chose a name the user gave
    plain = render(_placed_page().__class__.from_json(_placed_page().to_json()))  # the marks survive the data file
    assert plain.count('<span class="placed">') == 2


def test_the_marks_come_from_the_manifest_never_from_the_page_data() -> None:
    """A pin forged into the page data (valid JSON, a real photo) marks nothing; the manifest's pins and
    user-named groups are marked, a renamed folder matched by its sanitised name too."""
    from proxysort.manifest import ConceptTree, Entry, GroupRecord, Manifest, Memory
    from proxysort.page import reconcile

    forged = _placed_page()
    forged.concepts[0].groups[1].photos[0].pinned = True
    forged.concepts[0].groups[1].by_user = True
    files = [Entry("color/My Keepers/<i>mine.png", "/p/<i>mine.png", "symlink", target="/p/<i>mine.png"),
             Entry("color/My Keepers/late.png", "/p/late.png", "symlink", target="/p/late.png"),
             Entry("color/red/a.png", "/p/a.png", "symlink", target="/p/a.png")]
    memory = Memory(groups=(GroupRecord("red", (), 0.0), GroupRecord("My Keepers", (), 0.0, by_user=True)),
                    pins=(("/p/<i>mine.png", 1),))
    page = reconcile(forged, Manifest(files=files, concepts=[ConceptTree("color", "color", "symlink", memory=memory)]),
                     "now")
    groups = {g.name: g for g in page.concepts[0].groups}
    assert groups["My Keepers"].by_user and not groups["red"].by_user
    assert {p.src: p.pinned for g in groups.values() for p in g.photos} == {
        "/p/<i>mine.png": True, "/p/late.png": False, "/p/a.png": False}
    bare = reconcile(forged, Manifest(files=files, concepts=[ConceptTree("color", "color", "symlink")]), "now")
    assert not any(p.pinned for g in bare.concepts[0].groups for p in g.photos)
    assert not any(g.by_user for g in bare.concepts[0].groups)
