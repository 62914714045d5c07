"""The review page ``OUT/index.html``: every group of every concept as thumbnails, in one static file.

A person sorting photos wants to look, not read. The page works from ``file://`` with no server and no
network (no CDN, no framework): plain HTML, one stylesheet and a few lines of vanilla JavaScript, all
inline and pinned by hash in a strict Content-Security-Policy, so nothing else can ever run in it.

What it shows comes from what was written, never from a second computation: the photos, groups and
counts are the folder tree's (``TreePlan.dest``, the same paths the manifest lists), and each photo's
score, the words and the run settings are the :class:`~proxysort.sorting.SortResult`'s. That data is
kept beside the page in ``OUT/.proxysort-page.json`` so ``proxysort show OUT`` can rebuild the page
(after a thumbnail cache was cleared, or with a newer proxysort) without the photos being sorted again;
a rebuild keeps only photos whose entry the manifest still lists.

File names are data from the user's disk and may hold quotes, ``<script>``, newlines or bytes that are not
UTF-8: every one goes through :func:`_text` (HTML-escaped, control characters made visible, undecodable
bytes shown as U+FFFD) or :func:`file_url` (percent-encoded from the raw bytes). There are no inline event
handlers and no ``style`` attributes, so the policy needs no ``unsafe-inline``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import math
import os
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from proxysort.errors import OutputError
from proxysort.manifest import PAGE_FILES
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.sorting import SortResult
    from proxysort.thumbs import Thumb, ThumbStats

PAGE_NAME, PAGE_DATA_NAME = PAGE_FILES
PAGE_DATA_VERSION = 1
#: The least typical share of each group is marked as "doubtful": the photos most likely misplaced.
DOUBT_SHARE = 0.10
#: Thumbnails per grid written as HTML; the rest are added by the page's script on demand.
INITIAL_THUMBS = 60
#: The map draws at most this many points (a stable sample); more only hides the groups' shapes.
MAP_POINTS = 3000
#: Groups get colours by index; the palette repeats beyond 12 groups (the automatic k never goes past 12).
PALETTE = (
    "#4e9bd6", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948",
    "#76b7b2", "#ff9da7", "#9c755f", "#a0cbe8", "#8cd17d", "#bab0ac",
)
#: A group named after a colour is drawn in that colour (a "yellow" group in blue would mislead); the
#: values are tuned to stay visible on the dark page.
NAMED_COLOURS = {
    "red": "#e5484d", "orange": "#f5862b", "yellow": "#f2cf3a", "green": "#46a758", "blue": "#3e83e8",
    "purple": "#9a5bd6", "violet": "#a877e8", "pink": "#ee7fb8", "brown": "#9a6a44", "black": "#5b6068",
    "white": "#f2f2f2", "gray": "#9aa3ad", "grey": "#9aa3ad", "cyan": "#3ccfd8", "teal": "#2a9d8f",
    "magenta": "#d63dc9", "gold": "#d8b13a", "silver": "#c4c9cf", "beige": "#ddcfa8", "navy": "#4456b8",
    "maroon": "#a5364a", "olive": "#9a9a3a", "turquoise": "#40d0c0", "lime": "#9bdc3c", "tan": "#cfae83",
}


# -------------------------------------------------------------------------------------------- data


@dataclass
class PagePhoto:
    """One photo in one group: where it is, where the tree put it, how typical it is, its thumbnail."""

    src: str  # absolute path of the original (may hold surrogate escapes)
    dest: str  # path under OUT, as in the manifest
    score: float
    thumb: str | None  # absolute path of the cached thumbnail; None when it could not be made


@dataclass
class PageGroup:
    name: str  # the folder name in the tree
    photos: list[PagePhoto]  # most typical first
    word_scores: list[float]  # cosine of the group centre to each candidate word's prompt, in word order


@dataclass
class PageConcept:
    concept: str
    folder: str
    words: list[str]
    word_source: str
    names: list[str]  # the cluster names the run chose (words, or word-2 when groups outnumber words)
    mode: str
    feature: str
    k: int
    groups: list[PageGroup]
    #: 2-D map of the clustered features: [x, y, group index], x and y in 0..1
    map_points: list[list[float]] = field(default_factory=list)
    map_variance: list[float] = field(default_factory=list)  # share of variance of the two axes


@dataclass
class PageData:
    """Everything the page shows; the JSON beside the page is this, so ``show`` can rebuild it."""

    created: str  # when the run wrote this data: "YYYY-MM-DD HH:MM UTC"
    model: str
    sources: list[str]
    photos: int  # photos sorted
    skipped: list[list[str]]  # [path, reason] for photos the run could not use
    concepts: list[PageConcept]

    def to_json(self) -> str:
        # ensure_ascii keeps file names that are not UTF-8 (surrogate escapes) as \\udcXX: valid JSON that
        # reads back into the same str.
        return json.dumps({"tool": "proxysort-page", "version": PAGE_DATA_VERSION, **asdict(self)}, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> "PageData":
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("tool") != "proxysort-page" or data.get("version") != PAGE_DATA_VERSION:
            raise ValueError("not a proxysort page data file of this version")
        concepts = []
        for c in data["concepts"]:
            groups = [PageGroup(g["name"], [PagePhoto(**p) for p in g["photos"]], list(g["word_scores"])) for g in c["groups"]]
            concepts.append(PageConcept(**{**c, "groups": groups}))
        return cls(data["created"], data["model"], list(data["sources"]), int(data["photos"]),
                   [list(s) for s in data["skipped"]], concepts)


def _pca_map(x: "np.ndarray", groups: "np.ndarray", seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """The two principal axes of ``x`` (SVD of the centred rows), scaled to 0..1, at most MAP_POINTS rows."""
    import numpy as np

    n = len(x)
    if n == 0:
        return [], []
    rows = np.arange(n)
    if n > MAP_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(n, MAP_POINTS, replace=False))
    sample = np.asarray(x[rows], dtype=np.float64)
    centred = sample - sample.mean(axis=0)
    if centred.shape[1] < 2 or not np.any(centred):
        xy = np.full((len(rows), 2), 0.5)
        share = [0.0, 0.0]
    else:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        if xy.shape[1] < 2:
            xy = np.column_stack([xy, np.zeros(len(xy))])
        total = float((s**2).sum()) or 1.0
        share = [float(v) / total for v in (s[:2] ** 2)]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        xy = (xy - lo) / span
    points = [[round(float(a), 4), round(float(b), 4), int(g)] for (a, b), g in zip(xy, groups[rows])]
    return points, [round(v, 4) for v in share]


def build_page_data(
    run: "SortResult",
    dest: Mapping[tuple[str, str], str],
    thumbs: Sequence["Thumb"],
    *,
    mode: str,
    model: str,
    created: datetime | None = None,
) -> PageData:
    """The page's data for ``run`` as written to a tree whose ``dest`` is ``TreePlan.dest``.

    ``thumbs`` follow ``run.paths``. Photos the tree does not hold (no ``dest``) are not shown; the groups
    are the tree's folders, so names and counts are exactly the manifest's.
    """
    import numpy as np

    from proxysort.groups import cluster_centres

    created = created or datetime.now(timezone.utc)
    concepts = []
    for c in run.concepts:
        by_cluster: dict[int, list[PagePhoto]] = {}
        folders: dict[int, str] = {}
        for i, (path, label, score) in enumerate(zip(run.paths, c.labels, c.scores)):
            rel = dest.get((c.concept, str(path)))
            if rel is None:
                continue
            thumb = thumbs[i].path if i < len(thumbs) else None
            by_cluster.setdefault(int(label), []).append(PagePhoto(str(path), rel, round(float(score), 4), str(thumb) if thumb else None))
            folders.setdefault(int(label), rel.split("/")[1])
        naming = c.proxy.prompts()
        centres = cluster_centres(np.asarray(naming), np.asarray(c.labels), c.k)
        wf = np.asarray(c.proxy.word_features, dtype=np.float64)
        wf = wf / np.maximum(np.linalg.norm(wf, axis=1, keepdims=True), 1e-12)
        sims = centres @ wf.T if len(wf) else np.zeros((c.k, 0))
        # Largest group first; map points carry the index of their group in ``groups``.
        order = sorted(by_cluster, key=lambda g: (-len(by_cluster[g]), folders[g]))
        groups = [
            PageGroup(folders[g], sorted(by_cluster[g], key=lambda p: -p.score), [round(float(s), 4) for s in sims[g]])
            for g in order
        ]
        position = {g: j for j, g in enumerate(order)}
        keep = np.array([position.get(int(label), -1) for label in c.labels])
        shown = keep >= 0
        points, share = _pca_map(np.asarray(c.proxy.feature(c.feature))[shown], keep[shown], seed=run.seed)
        cdir = next(iter(by_cluster.values()))[0].dest.split("/")[0] if by_cluster else c.concept
        concepts.append(
            PageConcept(c.concept, cdir, list(c.words), c.word_source, list(c.names), mode, c.feature, c.k,
                        groups, points, share)
        )
    return PageData(
        created=created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        model=model,
        sources=[str(r) for r in run.roots],
        photos=len(run.paths),
        skipped=[[str(p), str(reason)] for p, reason in run.failures],
        concepts=concepts,
    )


def keep_listed(data: PageData, listed: Iterable[str]) -> PageData:
    """Only the photos whose tree entry is still ``listed`` (manifest paths); empty groups are dropped."""
    keep = set(listed)
    for c in data.concepts:
        old_groups = c.groups
        c.groups = []
        renumber: dict[int, int] = {}
        for g, group in enumerate(old_groups):
            group.photos = [p for p in group.photos if p.dest in keep]
            if group.photos:
                renumber[g] = len(c.groups)
                c.groups.append(group)
        c.map_points = [[x, y, renumber[int(g)]] for x, y, g in c.map_points if int(g) in renumber]
    return data


# ------------------------------------------------------------------------------------------ escaping


def _text(value: object) -> str:
    """Any string as harmless HTML text or attribute value: :func:`_display`, then ``& < > " '`` escaped."""
    return html.escape(_display(value), quote=True)


def _display(value: object) -> str:
    """Any string as text a page can show: undecodable bytes (surrogate escapes from the file system) become
    U+FFFD and control characters such as a newline in a file name their visible symbol (U+2400 block)."""
    s = str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        try:
            s = s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that is not a byte escape: not from a file name
            s = s.encode("utf-8", "replace").decode("utf-8")
    return "".join(chr(0x2400 + ord(ch)) if ord(ch) < 0x20 else ("\u2421" if ord(ch) == 0x7F else ch) for ch in s)


def file_url(path: str | os.PathLike[str]) -> str:
    """A ``file://`` URL for an absolute path, percent-encoded from its raw bytes (so any name works)."""
    raw = os.fsencode(os.path.abspath(path))
    return "file://" + urllib.parse.quote(raw, safe="/")


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1] or path


# ------------------------------------------------------------------------------------------- render

_CSS = """
:root{color-scheme:dark;--bg:#121417;--panel:#1b1f24;--line:#2b3138;--text:#e7e9ec;--dim:#9aa3ad;--doubt:#ffb020}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header.top{padding:18px 28px 10px;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 4px;font-weight:600}
h1 .brand{color:var(--dim);font-weight:400}
.meta{color:var(--dim);margin:0}
.meta b{color:var(--text);font-weight:500}
details.skipped{margin-top:6px;color:var(--dim)}
details.skipped summary{cursor:pointer;color:var(--doubt)}
details.skipped li{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
nav.tabs{display:flex;gap:4px;padding:10px 28px 0;border-bottom:1px solid var(--line);flex-wrap:wrap}
nav.tabs a{padding:8px 14px;border-radius:8px 8px 0 0;color:var(--dim);text-decoration:none;border:1px solid transparent;border-bottom:none}
nav.tabs a[aria-selected=true]{background:var(--panel);color:var(--text);border-color:var(--line)}
nav.tabs a small{color:var(--dim);margin-left:6px}
section.concept{padding:18px 28px 40px}
.summary{display:grid;grid-template-columns:minmax(260px,360px) 1fr;gap:22px;background:var(--panel);border:1px solid var(--line);border-radius:12px;padding:16px 18px;margin-bottom:22px}
@media (max-width:760px){.summary{grid-template-columns:1fr}}
.summary h2{margin:0 0 6px;font-size:18px}
.facts{margin:0 0 10px;color:var(--dim)}
.facts b{color:var(--text);font-weight:500}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0 12px;padding:0;list-style:none}
.chips li{padding:2px 9px;border-radius:999px;border:1px solid var(--line);color:var(--dim);font-size:12.5px}
.chips li.used{background:#2a3440;color:var(--text);border-color:#3d4a58}
.legend{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:2px 16px}
.legend li{padding:2px 0}
.legend a{color:var(--text);text-decoration:none}
.legend a:hover{text-decoration:underline}
.legend .n{color:var(--dim);margin-left:4px}
.sw{display:inline-block;width:10px;height:10px;border-radius:3px;background:var(--c);margin-right:7px;vertical-align:0}
svg.map{width:100%;height:auto;background:#15181c;border:1px solid var(--line);border-radius:8px}
svg.map circle{fill:var(--c);fill-opacity:.78}
svg.map text{fill:var(--c);font-size:11px;font-weight:600;paint-order:stroke;stroke:#15181c;stroke-width:3px}
.caption{color:var(--dim);font-size:12px;margin:4px 0 0}
.toolbar{display:flex;gap:10px;align-items:center;margin:0 0 14px;color:var(--dim)}
button{white-space:nowrap;background:#242a31;color:var(--text);border:1px solid var(--line);border-radius:7px;padding:5px 11px;font:inherit;cursor:pointer}
button[aria-pressed=true]{border-color:var(--doubt);color:var(--doubt)}
.group{margin:0 0 28px;content-visibility:auto;contain-intrinsic-size:auto 600px}
.ghead{display:flex;flex-wrap:wrap;align-items:center;gap:8px 18px;margin:0 0 10px;padding-bottom:8px;border-bottom:1px solid var(--line)}
.ghead h3{margin:0;font-size:16px;font-weight:600}
.ghead .count{color:var(--dim);font-weight:400;margin-left:6px}
.ghead .stat{color:var(--dim);font-size:12.5px}
a.jump{color:var(--doubt);font-size:12.5px;text-decoration:none;border:1px dashed var(--doubt);border-radius:6px;padding:1px 8px}
a.jump:hover{background:#2d2615}
svg.bars{height:auto;margin-left:auto}
svg.bars rect.bg{fill:#262c33}
svg.bars rect.v{fill:var(--c)}
svg.bars text{fill:var(--dim);font-size:10px}
svg.bars text.name{fill:var(--text)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(132px,1fr));gap:8px}
.t{position:relative;display:block;aspect-ratio:1;border-radius:8px;overflow:hidden;background:#1f242a;outline:2px solid transparent;outline-offset:-2px}
.t img{width:100%;height:100%;object-fit:cover;display:block;transition:transform .15s}
.t:hover img{transform:scale(1.04)}
.t .s{position:absolute;right:5px;bottom:5px;background:rgba(0,0,0,.6);color:#fff;font-size:11px;padding:0 5px;border-radius:4px}
.t.doubt{outline:2px dashed var(--doubt)}
.t.doubt::after{content:"?";position:absolute;left:5px;top:5px;width:18px;height:18px;border-radius:50%;background:var(--doubt);color:#000;font:700 12px/18px system-ui;text-align:center}
.t .ph{display:flex;height:100%;align-items:center;justify-content:center;padding:8px;text-align:center;color:var(--dim);font-size:11px;word-break:break-all}
.t.broken img{display:none}
.t.broken::before{content:"thumbnail missing: run proxysort show OUT";position:absolute;inset:0;display:flex;align-items:center;justify-content:center;padding:8px;text-align:center;color:var(--dim);font-size:11px}
.doubt-head{font-size:13px;font-weight:500;color:var(--doubt);margin:14px 0 8px}
button.more{display:block;margin:10px auto 0}
.only-doubt .typical{display:none}
.only-doubt .group:not(:has(.doubtful)){display:none}
.dq{display:inline-block;width:16px;height:16px;border-radius:50%;background:var(--doubt);color:#000;font:700 11px/16px system-ui;text-align:center}
footer{color:var(--dim);padding:0 28px 30px;font-size:12px}
"""

_JS = """
(function () {
  "use strict";
  var root = document.documentElement;
  var tabs = Array.prototype.slice.call(document.querySelectorAll("nav.tabs a"));
  function show(id) {
    tabs.forEach(function (t) {
      var on = t.getAttribute("aria-controls") === id;
      t.setAttribute("aria-selected", on ? "true" : "false");
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
  }
  tabs.forEach(function (t) {
    t.addEventListener("click", function (e) {
      e.preventDefault();
      show(t.getAttribute("aria-controls"));
      history.replaceState(null, "", "#" + t.getAttribute("aria-controls"));
    });
  });
  if (tabs.length) {
    var target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    var section = target && target.closest ? target.closest("section.concept") : null;
    show(section ? section.id : tabs[0].getAttribute("aria-controls"));
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button.doubt-only") : null;
    if (b === null) { return; }
    var on = b.getAttribute("aria-pressed") !== "true";
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.closest("section.concept").classList.toggle("only-doubt", on);
  });
  // Grids beyond their first thumbnails: data (never HTML) turned into elements when asked for.
  function thumb(item, doubt) {
    var a = document.createElement("a");
    a.className = doubt ? "t doubt" : "t";
    a.href = item[0];
    a.title = item[2] + "\\nscore " + item[3].toFixed(3) + (doubt ? "\\namong the least typical of this group" : "");
    if (item[1]) {
      var img = document.createElement("img");
      img.src = item[1];
      img.alt = item[2];
      img.loading = "lazy";
      img.decoding = "async";
      img.width = 160;
      img.height = 160;
      a.appendChild(img);
    } else {
      var ph = document.createElement("span");
      ph.className = "ph";
      ph.textContent = item[2];
      a.appendChild(ph);
    }
    var s = document.createElement("span");
    s.className = "s";
    s.textContent = item[3].toFixed(3);
    a.appendChild(s);
    return a;
  }
  function expand(button) {
    var id = button.getAttribute("data-grid");
    var grid = document.getElementById(id);
    var data = document.getElementById(id + "-more");
    if (grid === null || data === null) { return; }
    var doubt = grid.classList.contains("doubtful");
    var frag = document.createDocumentFragment();
    JSON.parse(data.textContent).forEach(function (item) { frag.appendChild(thumb(item, doubt)); });
    grid.appendChild(frag);
    data.remove();
    button.remove();
  }
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button.more"));
  buttons.forEach(function (b) { b.addEventListener("click", function () { expand(b); }); });
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); expand(e.target); }
      });
    }, {rootMargin: "600px"});
    buttons.forEach(function (b) { seen.observe(b); });
  }
  function broken(img) { img.closest(".t").classList.add("broken"); }
  document.addEventListener("error", function (e) {
    if (e.target.tagName === "IMG") { broken(e.target); }
  }, true);
  Array.prototype.forEach.call(document.images, function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("loading") !== "lazy") { broken(img); }
  });
  root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  window.addEventListener("load", function () {
    root.setAttribute("data-load-ms", String(Math.round(performance.now())));
  });
})();
"""


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


#: Only this stylesheet and this script may run; images only from files (the thumbnails); nothing else.
CSP = (
    f"default-src 'none'; img-src file: data:; style-src 'sha256-{_sha256(_CSS)}'; "
    f"script-src 'sha256-{_sha256(_JS)}'; base-uri 'none'; form-action 'none'"
)


def _colour_of(name: str, index: int) -> str:
    """A group's colour: the colour it is named after, else the palette's by position."""
    word = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
    return NAMED_COLOURS.get(word.strip().casefold(), PALETTE[index % len(PALETTE)])


def _colour_classes(data: PageData) -> str:
    """``.k0 .c3{--c:#...}`` per concept and group: colours live in the stylesheet, never in attributes."""
    return "".join(
        f"#c{ci} .c{gi}{{--c:{_colour_of(g.name, gi)}}}"
        for ci, c in enumerate(data.concepts)
        for gi, g in enumerate(c.groups)
    )


def _doubtful(n: int) -> int:
    """How many of a group's ``n`` photos are marked as doubtful (none in groups too small to judge)."""
    return 0 if n < 3 else max(1, math.ceil(n * DOUBT_SHARE))


def _map_svg(c: PageConcept) -> str:
    size, pad = 320, 10
    dots = []
    for x, y, g in c.map_points:
        cx = pad + x * (size - 2 * pad)
        cy = pad + (1 - y) * (size - 2 * pad)
        dots.append(f'<circle class="c{int(g)}" cx="{cx:.1f}" cy="{cy:.1f}" r="2.6"/>')
    # Each group's name at the mean position of its dots, so the map reads without the legend.
    sums: dict[int, list[float]] = {}
    for x, y, g in c.map_points:
        acc = sums.setdefault(int(g), [0.0, 0.0, 0.0])
        acc[0] += x
        acc[1] += y
        acc[2] += 1
    for g, (sx, sy, n) in sums.items():
        if g < len(c.groups):
            lx = min(max(pad + sx / n * (size - 2 * pad), 30), size - 30)
            ly = min(max(pad + (1 - sy / n) * (size - 2 * pad) - 7, 12), size - 4)
            dots.append(f'<text class="c{g}" x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle">{_text(c.groups[g].name)}</text>')
    share = " · ".join(f"PC{i + 1} {v:.0%}" for i, v in enumerate(c.map_variance))
    return (
        f'<svg class="map" viewBox="0 0 {size} {size}" role="img" aria-label="map of the groups">'
        f'<title>{_text(c.concept)}: principal components of the clustered feature</title>{"".join(dots)}</svg>'
        f'<p class="caption">Each dot is a photo ({len(c.map_points)} shown), placed by the two principal '
        f"components of the clustered feature ({_text(c.feature)}; {share} of its variance), coloured by group. "
        "Well-separated colours mean well-separated groups.</p>"
    )


def _bars_svg(words: Sequence[str], scores: Sequence[float], colour: int, top: int = 4) -> str:
    """The group's nearest candidate words as bars (cosine in the prompt space), best first."""
    if not words or not scores:
        return ""
    order = sorted(range(len(words)), key=lambda i: -scores[i])[:top]
    lo = min(scores)
    hi = max(scores)
    span = (hi - lo) or 1.0
    width, row, label_w, bar_w = 250, 13, 86, 120
    parts = []
    for r, i in enumerate(order):
        y = r * row
        w = 4 + (scores[i] - lo) / span * (bar_w - 4)
        parts.append(
            f'<text class="name" x="{label_w - 4}" y="{y + 10}" text-anchor="end">{_text(words[i][:14])}</text>'
            f'<rect class="bg" x="{label_w}" y="{y + 2}" width="{bar_w}" height="9" rx="2"/>'
            f'<rect class="v" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="9" rx="2"/>'
            f'<text x="{label_w + bar_w + 5}" y="{y + 10}">{scores[i]:.3f}</text>'
        )
    height = row * len(order) + 2
    return (
        f'<svg class="bars c{colour }" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="nearest candidate words"><title>cosine of the group to each candidate word '
        f"(bars scaled between the lowest and highest word)</title>{''.join(parts)}</svg>"
    )


def _thumb(p: PagePhoto, doubt: bool) -> str:
    name = _text(_basename(p.src))
    cls = "t doubt" if doubt else "t"
    title = f"{name}&#10;score {p.score:.3f}" + ("&#10;among the least typical of this group" if doubt else "")
    inner = (
        f'<img src="{_text(file_url(p.thumb))}" alt="{name}" loading="lazy" decoding="async" width="160" height="160">'
        if p.thumb
        else f'<span class="ph">{name}</span>'
    )
    return f'<a class="{cls}" href="{_text(file_url(p.src))}" title="{title}">{inner}<span class="s">{p.score:.3f}</span></a>'


def _json_block(value: object) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can end the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _grid(grid_id: str, photos: Sequence[PagePhoto], doubt: bool) -> str:
    """The first INITIAL_THUMBS thumbnails as HTML; the rest as data that the page's script turns into
    thumbnails (with DOM calls, never HTML) when the grid's end scrolls into view or its button is pressed.
    10,000 photos then open as a few hundred elements instead of 30,000."""
    shown, rest = photos[:INITIAL_THUMBS], photos[INITIAL_THUMBS:]
    html_part = "".join(_thumb(p, doubt) for p in shown)
    kind = "doubtful" if doubt else "typical"
    out = f'<div class="grid {kind}" id="{grid_id}">{html_part}</div>'
    if rest:
        items = [
            [file_url(p.src), file_url(p.thumb) if p.thumb else "", _display(_basename(p.src)), p.score]
            for p in rest
        ]
        out += (
            f'<button type="button" class="more {kind}" data-grid="{grid_id}">Show {len(rest)} more</button>'
            f'<script type="application/json" id="{grid_id}-more">{_json_block(items)}</script>'
        )
    return out


def _group(c_index: int, g_index: int, g: PageGroup, words: Sequence[str]) -> str:
    n = len(g.photos)
    doubt = _doubtful(n)
    gid = f"c{c_index}g{g_index}"
    mean = sum(p.score for p in g.photos) / n if n else 0.0
    colour = g_index
    jump = (
        f'<a class="jump" href="#{gid}-doubt" title="jump to the least typical photos of this group">'
        f"&#9873; {doubt} least typical</a>"
        if doubt
        else ""
    )
    typical, doubtful = g.photos[: n - doubt], list(reversed(g.photos[n - doubt :]))
    body = _grid(f"{gid}-typical", typical, False)
    if doubtful:
        body += (
            f'<h4 class="doubt-head" id="{gid}-doubt"><span class="dq">?</span> Least typical '
            f"({doubt}): the most likely misplaced, least typical first</h4>"
            + _grid(f"{gid}-doubtful", doubtful, True)
        )
    return (
        f'<div class="group c{colour}" id="{gid}" data-group="{_text(g.name)}" data-count="{n}">'
        f'<div class="ghead"><h3><span class="sw"></span><span class="gname">{_text(g.name)}</span>'
        f'<span class="count">{n} photo{"s" if n != 1 else ""}</span></h3>'
        f'<span class="stat">mean score {mean:.3f}</span>{jump}{_bars_svg(words, g.word_scores, colour)}</div>'
        f"{body}</div>"
    )


def _concept(c_index: int, c: PageConcept, hidden: bool) -> str:
    used = {n.casefold() for n in c.names}
    chips = "".join(
        f'<li class="{"used" if w.casefold() in used else "unused"}" title="'
        f'{"names a group" if w.casefold() in used else "candidate, names no group"}">{_text(w)}</li>'
        for w in c.words
    )
    extra = [n for n in c.names if n.casefold() not in {w.casefold() for w in c.words}]
    extra_note = f" Also named: {_text(', '.join(extra))} (more groups than words)." if extra else ""
    total = sum(len(g.photos) for g in c.groups)
    legend = "".join(
        f'<li class="c{i}"><a href="#c{c_index}g{i}"><span class="sw"></span>{_text(g.name)}</a>'
        f'<span class="n">{len(g.photos)}</span></li>'
        for i, g in enumerate(c.groups)
    )
    groups = "".join(_group(c_index, i, g, c.words) for i, g in enumerate(c.groups))
    return (
        f'<section class="concept" id="c{c_index}" aria-label="{_text(c.concept)}"{" hidden" if hidden else ""}>'
        f'<div class="summary"><div>{_map_svg(c)}</div><div>'
        f"<h2>{_text(c.concept)}</h2>"
        f'<p class="facts"><b>{total}</b> photos in <b>{len(c.groups)}</b> groups · mode <b>{_text(c.mode)}</b> · '
        f"feature <b>{_text(c.feature)}</b> · k <b>{c.k}</b> · folder <b>{_text(c.folder)}/</b></p>"
        f'<p class="facts">Candidate words ({_text(c.word_source)}); highlighted ones name a group.{extra_note}</p>'
        f'<ul class="chips">{chips}</ul><ul class="legend">{legend}</ul></div></div>'
        f'<div class="toolbar"><button type="button" class="doubt-only" aria-pressed="false">Show only the least typical</button>'
        f"<span>Marked <span class=\"dq\">?</span>: the {DOUBT_SHARE:.0%} least typical photos of each group "
        "(lowest score: cosine to the group centre), the ones most likely misplaced, shown after each group. "
        "Click a photo to open the original.</span></div>"
        f"{groups}</section>"
    )


def render(data: PageData) -> str:
    """The complete HTML page for ``data``."""
    many = len(data.concepts) > 1
    css = _CSS  # group colours are a second stylesheet with its own hash, so this one's hash is fixed
    colours = _colour_classes(data)
    csp = CSP.replace("style-src ", f"style-src 'sha256-{_sha256(colours)}' ")
    tabs = ""
    if many:
        tabs = '<nav class="tabs" role="tablist">' + "".join(
            f'<a role="tab" href="#c{i}" aria-controls="c{i}" aria-selected="{"true" if i == 0 else "false"}">'
            f"{_text(c.concept)}<small>{len(c.groups)} groups</small></a>"
            for i, c in enumerate(data.concepts)
        ) + "</nav>"
    skipped = ""
    if data.skipped:
        items = "".join(f"<li>{_text(p)}: {_text(r)}</li>" for p, r in data.skipped)
        skipped = (
            f'<details class="skipped"><summary>{len(data.skipped)} photo{"s" if len(data.skipped) != 1 else ""} '
            f"skipped (could not be read); why:</summary><ul>{items}</ul></details>"
        )
    sources = ", ".join(_text(s) for s in data.sources) or "(listed files)"
    title = " · ".join(_text(c.concept) for c in data.concepts)
    sections = "".join(_concept(i, c, hidden=False) for i, c in enumerate(data.concepts))
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>proxysort: {title}</title><style>{css}</style><style>{colours}</style></head><body>"
        f'<header class="top"><h1><span class="brand">proxysort ·</span> {sources}</h1>'
        f'<p class="meta"><b>{data.photos}</b> photos sorted by <b>{title}</b> · model <b>{_text(data.model)}</b> · '
        f'{_text(data.created)} · <b>{len(data.skipped)}</b> skipped</p>{skipped}</header>'
        f"{tabs}<main>{sections}</main>"
        "<footer>Made by proxysort. Thumbnails live in proxysort's cache folder; if they are gone, "
        "<code>proxysort show OUT</code> makes them again.</footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


# ------------------------------------------------------------------------------------------- files


def _atomic_write(folder: Path, name: str, text: str) -> bool:
    """Write ``folder/name`` through a temporary file and a rename; False when it already says ``text``."""
    path = folder / name
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    tmp = folder / f".proxysort-partial-{uuid.uuid4().hex}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    return True


def read_page_data(out: Path) -> PageData | None:
    """The data the last page in ``out`` was made from; None when there is none (or it is unreadable)."""
    try:
        return PageData.from_json((Path(out) / PAGE_DATA_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{Path(out) / PAGE_DATA_NAME} is not readable page data ({exc}); re-run proxysort cluster.") from exc


def write_page(out: Path, data: PageData) -> Path:
    """Write the page data and ``index.html`` into ``out`` (each atomically); returns the page's path.

    A re-run whose data only differs by the date leaves both files untouched, like the rest of the tree.
    """
    out = Path(out)
    old = None
    with contextlib.suppress(OutputError):
        old = read_page_data(out)
    if old is not None and asdict(old) == {**asdict(data), "created": old.created}:
        data.created = old.created
    _atomic_write(out, PAGE_DATA_NAME, data.to_json())
    _atomic_write(out, PAGE_NAME, render(data))
    return out / PAGE_NAME


def make_page(
    run: "SortResult",
    dest: Mapping[tuple[str, str], str],
    out: Path,
    *,
    cache_root: Path,
    mode: str,
    model: str,
    workers: int | None = None,
    reporter: "Reporter | None" = None,
) -> tuple[Path, "ThumbStats"]:
    """Thumbnails (made once, cached) and ``OUT/index.html`` for a run whose tree was written to ``out``.

    ``dest`` is the written tree's ``TreePlan.dest``; ``cache_root`` the cache folder (thumbnails go under
    its ``thumbs/``). Returns the page's path and what the thumbnail step did.
    """
    from proxysort.thumbs import make_thumbnails

    reporter = reporter or Reporter()
    ids = run.index.content_ids if len(run.index.content_ids) == len(run.paths) else None
    with reporter.progress("thumbnails", total=len(run.paths)) as advance:
        thumbs, stats = make_thumbnails(run.paths, cache_root, digests=ids, workers=workers, advance=advance)
    data = build_page_data(run, dest, thumbs, mode=mode, model=model)
    data.concepts += _carried_concepts(out, data)
    return write_page(out, data), stats


def _carried_concepts(out: Path, data: PageData) -> list[PageConcept]:
    """Concepts an earlier run sorted into the same ``out`` whose photos the manifest still lists, so one
    page shows every concept tree in the folder (``--by color`` today, ``--by species`` tomorrow)."""
    from proxysort.output import read_manifest

    with contextlib.suppress(OutputError):
        old = read_page_data(out)
        manifest = read_manifest(out)
        if old is None or manifest is None:
            return []
        names = {c.concept.casefold() for c in data.concepts}
        old.concepts = [c for c in old.concepts if c.concept.casefold() not in names]
        return [c for c in keep_listed(old, (e.path for e in manifest.files)).concepts if c.groups]
    return []


def rebuild_page(
    out: Path, cache_root: Path, *, workers: int | None = None, reporter: "Reporter | None" = None
) -> tuple[Path, "ThumbStats"]:
    """``proxysort show``: the page of ``out`` made again from its data, without sorting again.

    Only photos whose entry the manifest still lists are shown (someone may have removed some, or a later
    run changed the tree); thumbnails that are gone from the cache are made again from the originals.
    """
    from proxysort.output import read_manifest
    from proxysort.thumbs import make_thumbnails

    out = Path(os.path.abspath(Path(out).expanduser()))
    data = read_page_data(out)
    manifest = read_manifest(out) if out.is_dir() else None
    if data is None or manifest is None:
        raise OutputError(
            f"{out} holds no sorted photos with a review page; run proxysort cluster PHOTOS --out {out} first."
        )
    data = keep_listed(data, (e.path for e in manifest.files))
    missing = sorted({p.src for c in data.concepts for g in c.groups for p in g.photos
                      if p.thumb is None or not os.path.isfile(p.thumb)})
    reporter = reporter or Reporter()
    with reporter.progress("thumbnails", total=len(missing)) as advance:
        thumbs, stats = make_thumbnails(missing, cache_root, workers=workers, advance=advance)
    made = {src: (str(t.path) if t.path else None) for src, t in zip(missing, thumbs)}
    for c in data.concepts:
        for g in c.groups:
            for p in g.photos:
                if p.src in made:
                    p.thumb = made[p.src]
    return write_page(out, data), stats
