"""``OUT/index.html`` from :class:`~proxysort.page.data.PageData`: Jinja2 templates shipped as package data.

A person sorting photos wants to look, not read. The page works from ``file://``, from a copy or a zip of
OUT, or served over HTTP, with no network (no CDN, no framework): plain HTML, one stylesheet and a few
lines of vanilla JavaScript (``proxysort/templates/page.{html,css,js}``), inline and pinned by SHA-256 in a
strict Content-Security-Policy computed from the very bytes inserted, so nothing else can ever run in it.
Every link is relative: thumbnails in OUT's hidden thumbnail folder, photos through the tree's own entries.

File names and everything read back from the page data are data, never markup: the templates are rendered
with autoescaping on, and every value passes :func:`display` (undecodable bytes shown as U+FFFD, control
characters as their visible symbols) first. Numbers are shown as words ("fits its group well"), with the
numbers on hover. There are no inline event handlers and no ``style`` attributes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import urllib.parse
from importlib import resources
from typing import TYPE_CHECKING, Any, Sequence

from proxysort.manifest import PAGE_THUMBS
from proxysort.pagefiles import thumb_rel

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.page.data import PageConcept, PageData, PageGroup, PagePhoto

#: The least typical share of each group is marked as "doubtful": the photos most likely misplaced.
DOUBT_SHARE = 0.10
#: Thumbnails per grid written as HTML; the rest are added by the page's script on demand.
INITIAL_THUMBS = 60
#: How a photo's fit (simplified silhouette, -1..1) reads in words; the cut-offs are Kaufman and
#: Rousseeuw's reading of silhouettes: above 0.5 a clear structure, 0.25-0.5 a weak one, below 0.25 none.
WELL, CLEAR = 0.25, 0.5
#: The words that mark what the user did by hand: a tile's caption, a group's heading, the hover text.
PLACED = "placed by you"
PLACED_WHY = "you moved it into this group; every later run keeps it here"
NAMED = "named by you"
NAMED_WHY = "you named this folder; every later run keeps the name"
#: What a browser opens itself; anything else (HEIC, RAW, TIFF) opens its thumbnail instead.
BROWSER_SHOWS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".avif"})
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


# ------------------------------------------------------------------------------------------ templates


@functools.cache
def template_text(name: str) -> str:
    """A template file of the package, as shipped (its bytes are what the CSP pins)."""
    return (resources.files("proxysort") / "templates" / name).read_text(encoding="utf-8")


def sha256_b64(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def csp(colours: str = "") -> str:
    """Only the page's stylesheets and script may run; images only from the page's folder or files."""
    styles = " ".join(f"'sha256-{sha256_b64(t)}'" for t in (template_text("page.css"), colours))
    return (
        f"default-src 'none'; img-src 'self' file: data:; style-src {styles}; "
        f"script-src 'sha256-{sha256_b64(template_text('page.js'))}'; base-uri 'none'; form-action 'none'"
    )


def display(value: object) -> str:
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


@functools.cache
def _environment() -> Any:
    import jinja2
    from markupsafe import Markup

    def finalize(value: object) -> object:
        # Every {{ value }}: text through display() (then autoescaped); our own Markup and numbers as they are.
        return value if isinstance(value, (Markup, int, float)) else display(value)

    env = jinja2.Environment(autoescape=True, finalize=finalize, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.from_string(template_text("page.html"))


def rel_url(rel: str) -> str:
    """A relative URL for a path inside OUT, percent-encoded from its raw bytes (any name works, and no
    name can become a scheme such as ``javascript:``)."""
    return urllib.parse.quote(os.fsencode(rel), safe="/")


def _json_block(value: object) -> Any:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can end the block."""
    from markupsafe import Markup

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# ------------------------------------------------------------------------------------------ words


def fit_words(fit: float | None) -> tuple[str, str]:
    """(words, css class) for one photo's fit."""
    if fit is None:
        return "", ""
    if fit >= WELL:
        return "fits well", ""
    if fit >= 0:
        return "fits loosely", ""
    return "fits poorly", "poor"


def verdict(fit: float | None) -> tuple[str, str]:
    """What the concept's mean fit means for these photos, in words (and a css class)."""
    if fit is None:
        return "", ""
    if fit >= CLEAR:
        return "The groups are well separated.", ""
    if fit >= WELL:
        return "The groups are only partly separated: some photos sit between two groups.", ""
    return "The groups overlap \u2014 this concept is not well separated for these photos.", "overlap"


def why_named(group: "PageGroup", c: "PageConcept") -> str:
    """Why a group's name is not the candidate word nearest to it (empty when it is, and when the user
    named the group: no word chose that name, and the heading says who did)."""
    if group.by_user or not group.word_scores or not c.words:
        return ""
    best = c.words[max(range(len(c.words)), key=lambda i: group.word_scores[i])]
    name = group.name.casefold()
    if name == best.casefold():
        return ""
    from proxysort.groups import WEAK_MARK

    base, _, number = group.name.rpartition("-")
    if number.isdigit() and base.casefold() == "-".join(c.concept.split()).casefold():
        if c.word_source == "anchors":
            return "The candidate words were random anchors, not values, so the groups are numbered."
        return (f"The candidate words fit these photos poorly as a whole, so this group is numbered rather than "
                f"named after a word that may be wrong; its nearest word is “{best}”.")
    if group.name.endswith(WEAK_MARK):
        return (f"“{group.name.removesuffix(WEAK_MARK)}” is a guess: it does not single out this group's "
                f"photos, few of them prefer it, or photos of other groups prefer it as much (nearest word: "
                f"“{best}”); a value may be missing from the words, or the model confuses two of them.")
    if number.isdigit() and base.casefold() in {w.casefold() for w in c.words}:
        return (f"More groups than words: this group took its nearest word, \u201c{base}\u201d, with a number; "
                "more candidate words would name it better.")
    owner = next((g.name for g in c.groups if g.name.casefold() == best.casefold()), None)
    if owner is not None:
        return (f"\u201c{best}\u201d is nearer to this group than \u201c{group.name}\u201d, but each word names "
                f"one group and \u201c{best}\u201d names the group \u201c{owner}\u201d: the names are chosen to "
                "fit all groups best together.")
    return (f"\u201c{best}\u201d is a little nearer to this group; the names are chosen to fit all groups best "
            "together.")


def why_unsure(group: "PageGroup") -> str:
    """What the group's ``-unsure`` folder holds, when some of its photos are there (empty otherwise)."""
    from proxysort.groups import unsure_folder

    folder = unsure_folder(group.name)
    edge = sum(1 for p in group.photos if p.dest.split("/")[1] == folder)
    if not edge:
        return ""
    return (f"{edge} of its photos are in \u201c{folder}\u201d: each lies almost as near another group as this one, "
            f"so \u201c{group.name}\u201d is a guess for them; move a link to where it belongs and the next run keeps it.")


def _doubtful(n: int) -> int:
    """How many of a group's ``n`` photos are marked as doubtful (none in groups too small to judge)."""
    return 0 if n < 3 else max(1, math.ceil(n * DOUBT_SHARE))


def _also(names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:3])
    return f"also in {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "") + " (the same photo)"


# ------------------------------------------------------------------------------------------ view


def _tile(p: "PagePhoto", doubt: bool) -> dict[str, Any]:
    from markupsafe import Markup

    name = os.path.basename(p.src) or p.src
    album = p.album or os.path.basename(os.path.dirname(p.src)) or "/"
    thumb = rel_url(thumb_rel(p.thumb)) if p.thumb else ""
    ext = os.path.splitext(name)[1].casefold()
    viewable = ext in BROWSER_SHOWS
    href = rel_url(p.dest) if viewable or not thumb else thumb
    fit, fit_class = fit_words(p.fit)
    numbers = " \u00b7 ".join(
        x for x in (f"score {p.score:.3f}" if p.score is not None else "", f"fit {p.fit:.2f}" if p.fit is not None else "") if x
    )
    lines = [display(name), display(album), numbers]
    if p.pinned:
        lines.append(f"{PLACED}: {PLACED_WHY}")
    if doubt:
        lines.append("among the least typical of this group")
    if not viewable and thumb:
        lines.append(f"opens its thumbnail: browsers cannot show {ext or 'this kind of'} files")
    return {
        "href": href, "thumb": thumb, "name": display(name), "album": display(album),
        # Hover text, one fact a line: "&#10;" in the attribute (each line escaped), a newline in the JSON.
        "title": Markup("&#10;").join(x for x in lines if x), "title_text": "\n".join(x for x in lines if x),
        "fit": fit, "fit_class": fit_class,
        "also": display(_also(p.also)),
        "placed": PLACED if p.pinned else "",
    }


def _group_view(ci: int, gi: int, g: "PageGroup", c: "PageConcept") -> dict[str, Any]:
    n = len(g.photos)
    scored = all(p.score is not None for p in g.photos)
    doubt = _doubtful(n) if scored else 0
    typical, doubtful = g.photos[: n - doubt], list(reversed(g.photos[n - doubt:]))
    fitted = [p.fit for p in g.photos if p.fit is not None]
    well = sum(f >= WELL for f in fitted)
    fit_text = f"{well} of {len(fitted)} fit it well" if fitted else ""
    numbers = " \u00b7 ".join(x for x in (
        f"mean score {sum(p.score or 0 for p in g.photos) / n:.3f}" if scored and n else "",
        f"mean fit {sum(fitted) / len(fitted):.2f}" if fitted else "") if x)
    bars = []
    if g.word_scores and c.words:
        order = sorted(range(len(c.words)), key=lambda i: -g.word_scores[i])[:4]
        lo, hi = min(g.word_scores), max(g.word_scores)
        span = (hi - lo) or 1.0
        bars = [(c.words[i][:14], r * 13, f"{4 + (g.word_scores[i] - lo) / span * 116:.1f}", f"{g.word_scores[i]:.3f}")
                for r, i in enumerate(order)]
    return {
        "name": g.name, "count": n, "named": NAMED if g.by_user else "", "named_why": NAMED_WHY, "fit_words": fit_text, "numbers": numbers, "doubt": doubt,
        "bars": bars, "bars_height": 13 * len(bars) + 2, "why": " ".join(x for x in (why_named(g, c), why_unsure(g)) if x),
        "typical": [_tile(p, False) for p in typical], "doubtful": [_tile(p, True) for p in doubtful],
    }


def _map_view(c: "PageConcept") -> dict[str, Any]:
    size, pad = 320, 10
    dots = [(f"{pad + x * (size - 2 * pad):.1f}", f"{pad + (1 - y) * (size - 2 * pad):.1f}", int(g))
            for x, y, g in c.map_points]
    sums: dict[int, list[float]] = {}
    for x, y, g in c.map_points:
        acc = sums.setdefault(int(g), [0.0, 0.0, 0.0])
        acc[0] += x
        acc[1] += y
        acc[2] += 1
    labels = []
    for g, (sx, sy, n) in sorted(sums.items()):
        lx = min(max(pad + sx / n * (size - 2 * pad), 30), size - 30)
        ly = min(max(pad + (1 - sy / n) * (size - 2 * pad) - 7, 12), size - 4)
        labels.append((f"{lx:.1f}", f"{ly:.1f}", g, c.groups[g].name))
    share = ", ".join(f"axis {i + 1}: {v:.0%}" for i, v in enumerate(c.map_variance))
    if dots:
        caption = ("Each dot is a photo, placed so that photos alike are near each other and coloured by its "
                   "group: colours that stay apart are groups that stay apart.")
    else:
        caption = "No map: the folder tree changed since the map was drawn (sort again to draw it)."
    return {
        "dots": dots, "labels": labels, "map_caption": caption,
        "map_title": f"{display(c.concept)}: map of the photos",
        "map_numbers": f"{len(dots)} photos; the two main directions of the clustered feature ({display(c.feature)}), "
                       f"holding {share or 'none'} of its variance",
    }


def _concept_view(ci: int, c: "PageConcept", model: str) -> dict[str, Any]:
    used = {g.name.casefold() for g in c.groups} | {n.casefold() for n in c.names}
    words = {w.casefold() for w in c.words}
    text, cls = verdict(c.fit)
    placed = sum(p.pinned for g in c.groups for p in g.photos)
    named = sum(g.by_user for g in c.groups)
    yours = ", ".join(x for x in (f"{placed} photo{'s' if placed != 1 else ''} {PLACED}" if placed else "",
                                  f"{named} group{'s' if named != 1 else ''} {NAMED}" if named else "") if x)
    return {
        "yours": f"Kept from your changes in the folders: {yours}." if yours else "",
        "concept": c.concept, "folder": c.folder, "word_source": c.word_source or "unknown",
        "total": sum(len(g.photos) for g in c.groups),
        "verdict": text, "verdict_class": cls,
        "verdict_numbers": f"mean fit {c.fit:.2f} (1: every photo at its group's centre; 0: halfway between two groups)"
        if c.fit is not None else "",
        "how": f"method {display(c.mode)} \u00b7 feature {display(c.feature)} \u00b7 k {c.k} \u00b7 model {display(model)}",
        "chips": [(w, w.casefold() in used) for w in c.words],
        "extra": ", ".join(g.name for g in c.groups if g.name.casefold() not in words) if c.words else "",
        "groups": [_group_view(ci, gi, g, c) for gi, g in enumerate(c.groups)],
        **_map_view(c),
    }


def _colour_of(name: str, index: int) -> str:
    """A group's colour: the colour it is named after, else the palette's by position."""
    word = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
    return NAMED_COLOURS.get(word.strip().casefold(), PALETTE[index % len(PALETTE)])


def _colour_classes(data: "PageData") -> str:
    """``#c0 .c3{--c:#...}`` per concept and group: colours live in a stylesheet, never in attributes."""
    return "".join(
        f"#c{ci} .c{gi}{{--c:{_colour_of(g.name, gi)}}}"
        for ci, c in enumerate(data.concepts)
        for gi, g in enumerate(c.groups)
    )


def render(data: "PageData") -> str:
    """The complete HTML page for ``data``."""
    from markupsafe import Markup

    colours = _colour_classes(data)

    def more(tiles: list[dict[str, str]]) -> Any:
        return _json_block([[t["href"], t["thumb"], t["name"], t["album"], t["title_text"], t["fit"], t["fit_class"],
                             t["also"], t["placed"]] for t in tiles])

    return _environment().render(
        data=data,
        concepts=[_concept_view(i, c, data.model) for i, c in enumerate(data.concepts)],
        title=" \u00b7 ".join(display(c.concept) for c in data.concepts),
        sources=", ".join(display(s) for s in data.sources) or "(listed files)",
        csp=Markup(csp(colours)),  # base64 and quotes only: no `"` can end the attribute
        css=Markup(template_text("page.css")),
        js=Markup(template_text("page.js")),
        colours=Markup(colours),
        doubt_share=f"{DOUBT_SHARE:.0%}",
        thumbs_folder=PAGE_THUMBS,
        initial=INITIAL_THUMBS,
        more=more,
    )
