"""A generator of hostile photo folders, with the outcome each entry must have.

Users point proxysort at their only copy of their photos, and real folders contain everything: truncated
downloads, mislabelled files, decompression bombs, NAS junk folders, symlink loops, names with newlines.
:func:`make_corpus` writes one entry of every kind we know about into a folder and returns a manifest
saying, for each entry, what ``index`` must do with it:

- ``ok``: decoded and indexed (possibly after correcting orientation or mode);
- ``skipped``: not indexed, and reported exactly once on stderr with a reason;
- ``absent``: not a photo candidate at all (a folder, a hidden or junk file, a pipe, a dangling link):
  not indexed, and reported at most once (reporting it is allowed, crashing or hanging is not).

Some entries cannot be built on every machine (permission bits do not stop root); those are recorded in
:attr:`Corpus.not_built` with the reason instead of being silently dropped.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from hypothesis import strategies as st

OK = "ok"
SKIPPED = "skipped"
ABSENT = "absent"

#: Deeper than any real photo library, shallow enough for every tool on the path to cope.
DEEP_LEVELS = 60


@dataclass(frozen=True)
class Entry:
    """One hostile thing in the folder.

    ``allowed`` is the set of outcomes a correct product may produce; ``expect`` is the preferred one.
    Most entries allow exactly one outcome; a few (file names that are not UTF-8, paths longer than
    PATH_MAX) allow a reported skip as well, because refusing them with a clear reason is also correct.
    """

    kind: str
    path: Path
    expect: str
    note: str = ""
    allowed: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.allowed:
            object.__setattr__(self, "allowed", frozenset({self.expect}))


@dataclass
class Corpus:
    """What :func:`make_corpus` built, and what it could not build on this machine (kind → reason)."""

    root: Path
    entries: list[Entry] = field(default_factory=list)
    not_built: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, path: Path, expect: str, note: str = "", allowed: Iterable[str] = ()) -> Entry:
        entry = Entry(kind, path, expect, note, frozenset(allowed))
        self.entries.append(entry)
        return entry

    @property
    def kinds(self) -> set[str]:
        return {e.kind for e in self.entries}

    def where(self, expect: str) -> list[Entry]:
        """Entries whose only allowed outcome is ``expect``."""
        return [e for e in self.entries if e.allowed == frozenset({expect})]


# --------------------------------------------------------------------------------------------- images


def _picture(size: tuple[int, int] = (48, 32), mode: str = "RGB"):
    """An asymmetric picture (a block in the top-left corner) so rotations and flips are visible."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (40, 90, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, size[0] // 3, size[1] // 3], fill=(240, 200, 20))
    draw.line([0, size[1] - 1, size[0] - 1, 0], fill=(10, 10, 10), width=2)
    return img if mode == "RGB" else img.convert(mode)


def _jpeg_bytes(img=None, **kw) -> bytes:
    buf = io.BytesIO()
    (img or _picture()).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def _png_bytes(img=None, **kw) -> bytes:
    buf = io.BytesIO()
    (img or _picture()).save(buf, "PNG", **kw)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _save(path: Path, img, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def upright_picture():
    """The picture every ``exif-orientation-N`` entry shows once its orientation tag is applied."""
    return _picture((48, 32))


# PIL transpose that turns the upright picture into what a camera stores for each EXIF orientation: the
# inverse of what a viewer (and ImageOps.exif_transpose) applies when showing the file.
_STORE_FOR_ORIENTATION = {
    1: None,
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_90",
    7: "TRANSVERSE",
    8: "ROTATE_270",
}


def _oriented_jpeg(orientation: int) -> bytes:
    from PIL import Image

    stored = upright_picture()
    op = _STORE_FOR_ORIENTATION[orientation]
    if op:
        stored = stored.transpose(getattr(Image.Transpose, op))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg_bytes(stored, exif=exif.tobytes())


def _jpeg_with_app1(payload: bytes) -> bytes:
    """A valid JPEG with an APP1 segment spliced in right after SOI (how EXIF is stored)."""
    body = _jpeg_bytes()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return body[:2] + segment + body[2:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width``×``height`` pixels (a few rows of real data).

    Pillow refuses it at open time with DecompressionBombError under its default (or any sane) limit; a
    decoder without a limit would try to allocate width×height×3 bytes.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress((b"\x00" + b"\x00" * (3 * width)) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to claim ``width``×``height``."""
    data = bytearray(_jpeg_bytes())
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _animated(fmt: str) -> bytes:
    from PIL import Image

    frames = [Image.new("RGB", (32, 24), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- the corpus


def make_corpus(root: Path) -> Corpus:
    """Write every hostile kind under ``root`` (created) and return the manifest.

    Takes well under a second; everything is small except one sparse file.
    """
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    c = Corpus(root)
    good = _jpeg_bytes()

    # A control: a plain good photo, so a run that indexes nothing cannot pass.
    c.add("control", _write(root / "good.jpg", good), OK)

    # ---- empty, truncated, mislabelled, not images at all
    c.add("zero-byte", _write(root / "broken" / "empty.jpg", b""), SKIPPED)
    c.add("truncated-jpeg", _write(root / "broken" / "half.jpg", good[: len(good) // 2]), SKIPPED)
    png = _png_bytes(_picture((64, 64)))
    c.add("truncated-png", _write(root / "broken" / "half.png", png[: len(png) // 2]), SKIPPED)
    c.add("header-only-jpeg", _write(root / "broken" / "header.jpg", good[:20]), SKIPPED)
    c.add("text-named-jpg", _write(root / "broken" / "notes.jpg", b"shopping list: milk, eggs\n" * 20), SKIPPED)
    c.add("html-named-png", _write(root / "broken" / "page.png", b"<!doctype html><html><body>404</body></html>"), SKIPPED)
    c.add("random-bytes-webp", _write(root / "broken" / "noise.webp", os.urandom(4096)), SKIPPED)
    bad_crc = bytearray(png)
    bad_crc[33 + 8 + 10] ^= 0xFF  # inside the first IDAT's data: zlib stream now corrupt
    c.add("corrupt-png-data", _write(root / "broken" / "badcrc.png", bytes(bad_crc)), SKIPPED)
    c.add("png-named-jpg", _write(root / "mislabelled" / "really-png.jpg", png), OK, "decode by content, not name")
    c.add("jpeg-named-png", _write(root / "mislabelled" / "really-jpeg.png", good), OK)
    c.add("upper-case-ext", _write(root / "mislabelled" / "SHOUT.JPEG", good), OK)

    # ---- oversized: decompression bombs that must be refused before allocating anything
    c.add("bomb-png-header", _write(root / "bombs" / "bomb.png", _png_bomb(40_000, 40_000)), SKIPPED,
          "1.6 Gpixel claim in a ~1 KiB file")
    c.add("bomb-jpeg-header", _write(root / "bombs" / "bomb.jpg", _jpeg_claiming(65_000, 65_000)), SKIPPED,
          "4.2 Gpixel claim in a small JPEG")
    sparse = root / "bombs" / "sparse.jpg"
    with open(sparse, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)
    c.add("sparse-64MiB-zeros", sparse, SKIPPED, "64 MiB of zeros (sparse): must be rejected without reading it all")

    # ---- strange but valid images
    c.add("one-pixel", _save(root / "odd" / "dot.png", Image.new("RGB", (1, 1), (1, 2, 3))), OK)
    c.add("extreme-aspect", _save(root / "odd" / "strip.png", Image.new("RGB", (4000, 1), (9, 9, 9))), OK)
    c.add("cmyk-jpeg", _write(root / "odd" / "cmyk.jpg", _jpeg_bytes(_picture(mode="CMYK"))), OK)
    c.add("grey-jpeg", _write(root / "odd" / "grey.jpg", _jpeg_bytes(_picture(mode="L"))), OK)
    c.add("16bit-png", _save(root / "odd" / "deep.png", _picture().convert("L").point(lambda v: v * 256, "I").convert("I;16")), OK)
    c.add("bilevel-png", _save(root / "odd" / "bw.png", _picture(mode="1")), OK)
    pal = _picture(mode="P")
    c.add("palette-transparency", _save(root / "odd" / "pal.png", pal, transparency=0), OK)
    c.add("rgba-png", _save(root / "odd" / "alpha.png", _picture(mode="RGBA")), OK)
    c.add("la-png", _save(root / "odd" / "greyalpha.png", _picture(mode="LA")), OK)
    c.add("animated-gif", _write(root / "odd" / "anim.gif", _animated("GIF")), OK, "first frame")
    c.add("animated-webp", _write(root / "odd" / "anim.webp", _animated("WEBP")), OK, "first frame")
    c.add("multipage-tiff", _write(root / "odd" / "pages.tif", _animated("TIFF")), OK, "first page")
    c.add("float-tiff", _save(root / "odd" / "float.tiff", _picture().convert("F")), OK)
    c.add("bmp", _save(root / "odd" / "plain.bmp", _picture()), OK)
    c.add("jpeg-trailing-garbage", _write(root / "odd" / "trailer.jpg", good + os.urandom(2048)), OK)
    for n in range(1, 9):
        c.add(f"exif-orientation-{n}", _write(root / "orient" / f"o{n}.jpg", _oriented_jpeg(n)), OK)
    c.add("corrupt-exif", _write(root / "orient" / "badexif.jpg", _jpeg_with_app1(b"Exif\x00\x00" + os.urandom(60))), OK,
          "pixels are fine; the EXIF block is garbage: decode without orientation")
    c.add("exif-truncated-ifd", _write(root / "orient" / "shortifd.jpg", _jpeg_with_app1(b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05")), OK)
    exif = Image.Exif()
    exif[0x0112] = 9
    c.add("exif-orientation-9", _write(root / "orient" / "o9.jpg", _jpeg_bytes(upright_picture(), exif=exif.tobytes())), OK,
          "out-of-range orientation: ignore it")

    # ---- camera RAW and what surrounds photos (decoded through LibRaw; never decoded at all)
    from tests.support.dngwriter import dng_bytes

    c.add("dng-with-preview", _write(root / "raw" / "IMG_0001.DNG", dng_bytes(64, 48, preview=(320, 240))), OK)
    c.add("dng-mosaic-only", _write(root / "raw" / "IMG_0002.dng", dng_bytes(64, 48)), OK, "half-size demosaic")
    c.add("text-named-cr2", _write(root / "raw" / "notes.CR2", b"not a raw file\n" * 50), SKIPPED)
    c.add("truncated-dng", _write(root / "raw" / "half.NEF", dng_bytes(64, 48)[:2000]), SKIPPED)
    c.add("video-mov", _write(root / "raw" / "clip.MOV", b"\x00\x00\x00\x14ftypqt  " + bytes(64)), ABSENT,
          "a video: counted as ignored, never opened")

    # ---- the file system itself
    locked = _write(root / "perm" / "locked.jpg", good)
    locked.chmod(0)
    try:
        with open(locked, "rb"):
            pass
        c.add("unreadable-permissions", locked, OK, "running as root: mode 000 does not stop reads, so it must index")
        c.not_built["unreadable-permissions (real EACCES)"] = "running as root; covered by the fifo and race kinds"
    except PermissionError:
        c.add("unreadable-permissions", locked, SKIPPED)
    if hasattr(os, "mkfifo"):
        fifo = root / "fs" / "pipe.jpg"
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
        c.add("fifo-named-jpg", fifo, ABSENT, "opening it for reading would block forever: must not hang",
              allowed={ABSENT, SKIPPED})
    sock_path = root / "fs" / "sock.jpg"
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock_path))
        s.close()
        c.add("socket-named-jpg", sock_path, ABSENT, allowed={ABSENT, SKIPPED})
    except OSError as err:  # e.g. path too long for sun_path
        c.not_built["socket-named-jpg"] = str(err)
    dangling = root / "fs" / "dangling.jpg"
    dangling.symlink_to(root / "fs" / "does-not-exist.jpg")
    c.add("broken-symlink", dangling, ABSENT, allowed={ABSENT, SKIPPED})
    selfloop = root / "fs" / "self.jpg"
    selfloop.symlink_to(selfloop)
    c.add("self-symlink", selfloop, ABSENT, "stat gives ELOOP", allowed={ABSENT, SKIPPED})
    (root / "loop" / "inner").mkdir(parents=True)
    _write(root / "loop" / "inner" / "in-loop.jpg", good)
    c.add("symlink-loop-target", root / "loop" / "inner" / "in-loop.jpg", OK, "indexed once, not once per cycle")
    (root / "loop" / "inner" / "up").symlink_to("..", target_is_directory=True)
    c.add("symlink-loop", root / "loop" / "inner" / "up", ABSENT, "dir symlink to its parent")
    (root / "fs" / "up-and-out").symlink_to("../..", target_is_directory=True)
    c.add("symlink-to-ancestor-of-root", root / "fs" / "up-and-out", ABSENT,
          "points above the photo folder: a loop that would otherwise walk everything beside (or, for /, the disk)")
    dirjpg = root / "fs" / "folder.jpg"
    dirjpg.mkdir()
    c.add("directory-named-jpg", dirjpg, ABSENT, "a folder: walk into it, do not decode it")
    c.add("inside-directory-named-jpg", _write(dirjpg / "inside.png", png), OK)
    c.add("hidden-file", _write(root / "fs" / ".hidden.jpg", good), ABSENT)
    c.add("hidden-folder", _write(root / ".thumbnails" / "t.jpg", good), ABSENT)
    c.add("nas-junk-folder", _write(root / "@eaDir" / "good.jpg" / "SYNOPHOTO_THUMB_M.jpg", good), ABSENT)
    c.add("git-folder", _write(root / ".git" / "x.jpg", good), ABSENT)
    c.add("node-modules-folder", _write(root / "node_modules" / "pkg" / "logo.png", png), ABSENT)
    c.add("not-an-image-extension", _write(root / "fs" / "photo.jpg.txt", good), ABSENT, "extension decides candidacy")

    # ---- names
    names = root / "names"
    c.add("unicode-name", _write(names / "café ☕ 日本語.jpg", good), OK)
    c.add("emoji-name", _write(names / "📷🐈‍⬛.png", png), OK)
    c.add("newline-name", _write(names / "two\nlines.jpg", good), OK, "one stderr line per file must still be one line")
    c.add("tab-and-quotes-name", _write(names / "a\t'b' \"c\".jpg", good), OK)
    c.add("dash-name", _write(names / "-rf --help.jpg", good), OK)
    c.add("backslash-name", _write(names / "back\\slash.jpg", good), OK)
    c.add("long-name-255-bytes", _write(names / ("L" * 251 + ".jpg"), good), OK)
    c.add("nfc-name", _write(names / "caf\u00e9.jpg", good), OK)
    c.add("nfd-name-next-to-nfc", _write(names / "cafe\u0301.jpg", good), OK, "same look, different bytes: two photos")
    raw = os.fsencode(names) + b"/latin1-\xe9t\xe9.jpg"
    with open(raw, "wb") as fh:
        fh.write(good)
    c.add("non-utf8-name", Path(os.fsdecode(raw)), OK, "surrogate-escaped name: cannot be encoded as UTF-8 text",
          allowed={OK, SKIPPED})

    # ---- depth
    deep = root / "deep"
    for i in range(DEEP_LEVELS):
        deep = deep / f"d{i:02d}"
    c.add("deep-nesting-60", _write(deep / "bottom.jpg", good), OK)
    _make_beyond_path_max(c, root, good)
    return c


def _make_beyond_path_max(c: Corpus, root: Path, data: bytes) -> None:
    """A photo whose absolute path is longer than PATH_MAX (4096): only reachable through directory fds.

    Built with ``dir_fd`` because neither ``mkdir`` nor ``open`` accept such a path. A product may index it
    (by walking with fds) or skip it with a reason; it must not crash.
    """
    name = "p" * 200
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.mkdir("beyond-path-max", dir_fd=fd)
        parts = ["beyond-path-max"]
        nfd = os.open("beyond-path-max", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        while len(str(root)) + sum(len(p) + 1 for p in parts) < 4300:
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            parts.append(name)
        out = os.open("far.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        try:
            os.write(out, data)
        finally:
            os.close(out)
    finally:
        os.close(fd)
    c.add("path-longer-than-PATH_MAX", root.joinpath(*parts, "far.jpg"), SKIPPED,
          "ENAMETOOLONG for path-based calls", allowed={OK, SKIPPED, ABSENT})


# ------------------------------------------------------------------------------- races after the scan


@dataclass(frozen=True)
class Race:
    """A change made to a file after the scan listed it and before it is decoded."""

    kind: str
    path: Path
    expect: str


def make_race_targets(root: Path) -> list[Race]:
    """Good photos that :func:`spoil` will remove or replace; index them as normal photos first."""
    root.mkdir(parents=True, exist_ok=True)
    good = _jpeg_bytes()
    specs = [
        ("removed-after-scan", SKIPPED),
        ("emptied-after-scan", SKIPPED),
        ("replaced-by-garbage-after-scan", SKIPPED),
        ("replaced-by-directory-after-scan", SKIPPED),
        ("replaced-by-fifo-after-scan", SKIPPED),
        ("replaced-by-other-photo-after-scan", OK),
    ]
    races = []
    for kind, expect in specs:
        races.append(Race(kind, _write(root / f"{kind}.jpg", good), expect))
    return races


def spoil(races: Iterable[Race]) -> None:
    """Apply every race's change. Call it from a hook that runs between scan and decode.

    ``replaced-by-fifo`` is the nasty one: a decoder that opens it blocks forever unless it re-checks the
    file type (or opens with O_NONBLOCK) before reading.
    """
    from PIL import Image

    for race in races:
        p = race.path
        if race.kind == "removed-after-scan":
            p.unlink()
        elif race.kind == "emptied-after-scan":
            p.write_bytes(b"")
        elif race.kind == "replaced-by-garbage-after-scan":
            p.write_bytes(b"GIF89a but not really" * 10)
        elif race.kind == "replaced-by-directory-after-scan":
            p.unlink()
            p.mkdir()
        elif race.kind == "replaced-by-fifo-after-scan":
            p.unlink()
            os.mkfifo(p)
        elif race.kind == "replaced-by-other-photo-after-scan":
            p.write_bytes(_jpeg_bytes(Image.new("RGB", (40, 40), (0, 250, 0))))
        else:  # pragma: no cover - a typo in a new race kind
            raise ValueError(race.kind)


def is_regular(path: Path) -> bool:
    """True for a regular file (not following links); used by tests to pick what snapshots can hash."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# -- hostile names (what an LLM or a words file could produce) -------------------------------------------

# Names an LLM (or a user's words file) could produce: separators, dots, controls, NUL, surrogates,
# very long runs, case variants of each other.
hostile_text = st.one_of(
    st.sampled_from(["..", ".", "/", "../x", "../../etc/passwd", "", " ", "\x00", "a/b", "\\..\\x", "~", "-rf",
                     ".hidden", "CON", "red\n", "RED", "Red", "x" * 300, "é" * 200, "\ud800", "📷" * 80]),
    st.text(min_size=0, max_size=120),
)


def assert_harmless_name(name: str) -> None:
    """One visible path component that every file system accepts and no shell glob or dotfile rule hits."""
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".")
    assert all(ord(ch) >= 32 for ch in name)
    assert len(name.encode("utf-8")) <= 255  # also proves it is encodable (no lone surrogates)


# -- hostile path lists on stdin and hostile explicit file names (issue 14) -------------------------------


@dataclass(frozen=True)
class ListCase:
    """One ``index`` invocation with a hostile path list: ``args`` after ``index``, the raw ``stdin`` bytes,
    and the exit codes the README allows for it (6: nothing usable was named; 3: some entries skipped)."""

    kind: str
    args: tuple[str, ...]
    stdin: bytes
    exits: frozenset[int]
    #: how many photos end up indexed, when the case has a definite answer
    vectors: int | None = None


def make_list_cases(root: Path) -> list[ListCase]:
    """Write two good photos (one with CR and newline in its name) and one with a Latin-1 name under
    ``root``, and return the cases. Every case must end in one ``proxysort:`` sentence or ``skipped:``
    lines, never a traceback, a hang, or a name cut at the wrong place."""
    import random

    rng = random.Random(14)
    good = _write(root / "good.jpg", _jpeg_bytes())
    odd = _write(root / "two\nlines\rcr.jpg", _jpeg_bytes())
    latin = os.fsencode(root) + b"/latin1-\xe9t\xe9.jpg"
    with open(latin, "wb") as fh:
        fh.write(_jpeg_bytes())
    g, o = os.fsencode(good), os.fsencode(odd)
    return [
        ListCase("binary-garbage", ("-",), bytes(rng.randrange(256) for _ in range(4096)), frozenset({6})),
        ListCase("garbage-without-nul", ("-",), bytes(rng.randrange(1, 256) for _ in range(4096)), frozenset({6})),
        ListCase("non-utf8-line-beside-a-good-one", ("-",), g + b"\n" + latin + b"\n", frozenset({3}), 1),
        ListCase("nul-inside-a-newline-line", ("-",), g + b"\nx\0y.jpg\n" + g + b"\n", frozenset({6})),
        ListCase("nul-list-with-newline-and-cr-in-a-name", ("-",), g + b"\0" + o + b"\0", frozenset({0}), 2),
        ListCase("nul-list-then-echo-newline", ("-",), g + b"\0" + o + b"\0\n", frozenset({0}), 2),
        ListCase("crlf-line-list", ("-",), g + b"\r\n", frozenset({0}), 1),
        ListCase("name-longer-than-NAME_MAX", ("-",), g + b"\n" + b"x" * 5000 + b".jpg\n", frozenset({3}), 1),
        # The cases share one cache, and the Latin-1 name was skipped by the first list already: a file
        # skipped for the same reason by an earlier run is counted, not a new problem (exit 0, issue 24).
        ListCase("explicit-non-utf8-file-alone", (os.fsdecode(latin),), b"", frozenset({0}), 0),
        ListCase("explicit-non-utf8-file-with-others", (os.fsdecode(latin), str(good)), b"", frozenset({0}), 1),
    ]
