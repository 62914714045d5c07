"""A generated, realistic photo library: a camera card, a phone export, a Google Takeout tree, and the
clutter around them, with what proxysort must do with every file.

:func:`make_library` writes ~50 small files and returns a :class:`PhotoLibrary` whose entries say, for
each file, its kind (a row of the report table) and its expected role:

- ``photo``: indexed and sorted;
- ``companion`` of another file: not indexed, linked beside its photo in the output tree;
- ``ignored:<kind>``: not sorted, counted under that kind (``videos``, ``sidecars without a photo``...);
- ``hidden``: inside a hidden folder, a photo only with ``--include-hidden``.

Everything is real of its kind where a library can make it: DNGs that LibRaw decodes (tests/support/dngwriter.py,
with and without embedded JPEG previews), HEICs encoded by pillow-heif, JPEGs with EXIF orientation,
XMP/AAE/Takeout JSON with the content those tools write. Videos are a few bytes of an MP4/QuickTime
container: proxysort classifies them by name and never opens them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.dngwriter import dng_bytes

PHOTO = "photo"
HIDDEN = "hidden"

#: Colours of the scene in each photo (concept "color"), so the library can also be sorted.
RED, GREEN, BLUE = (200, 40, 30), (40, 170, 60), (40, 60, 200)


@dataclass(frozen=True)
class Item:
    rel: str  # path relative to the library root
    kind: str  # the report's row: "RAW (DNG) + JPEG pair: the JPEG", "Live Photo clip (.MOV)", ...
    role: str  # "photo", "companion", "hidden", or "ignored:<kind>"
    of: str | None = None  # for a companion: the photo it follows
    duplicate_of: str | None = None  # a byte-identical copy of this photo


@dataclass
class PhotoLibrary:
    root: Path
    items: list[Item] = field(default_factory=list)

    def add(self, rel: str, data: bytes, kind: str, role: str, of: str | None = None, duplicate_of: str | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.items.append(Item(rel, kind, role, of, duplicate_of))

    def rels(self, role: str) -> list[str]:
        return sorted(i.rel for i in self.items if i.role == role)

    def companions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for i in self.items:
            if i.role == "companion":
                out.setdefault(i.of or "", []).append(i.rel)
        return {k: sorted(v) for k, v in out.items()}

    def ignored(self, include_hidden: bool = False) -> dict[str, list[str]]:
        """Expected ignored paths by kind; a folder left out whole is listed once, as the folder."""
        out: dict[str, set[str]] = {}
        for i in self.items:
            kind = "hidden folders" if i.role == HIDDEN else i.role.split(":", 1)[1] if i.role.startswith("ignored:") else None
            if include_hidden and kind == "hidden files":
                kind = "other files"  # looked at, and not a photo (.DS_Store)
            if kind is None or (include_hidden and kind == "hidden folders"):
                continue
            rel = i.rel.split("/", 1)[0] if kind.endswith("folders") else i.rel
            out.setdefault(kind, set()).add(rel)
        return {k: sorted(v) for k, v in out.items()}

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(i.kind for i in self.items))


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (96, 72), orientation: int | None = None) -> bytes:
    from PIL import Image

    from tests.support.dngwriter import scene

    img = Image.fromarray(scene(*size, color=color))
    out = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "Phone"
        kwargs["exif"] = exif.tobytes()
    img.save(out, "JPEG", quality=85, **kwargs)
    return out.getvalue()


def _png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    from tests.support.dngwriter import scene

    out = io.BytesIO()
    Image.fromarray(scene(80, 60, color=color)).save(out, "PNG")
    return out.getvalue()


def _heic(color: tuple[int, int, int], size: tuple[int, int] = (96, 72)) -> bytes:
    import pillow_heif
    from PIL import Image

    from tests.support.dngwriter import scene

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.fromarray(scene(*size, color=color)).save(out, "HEIF", quality=60)
    return out.getvalue()


def _video(brand: bytes = b"isom", payload: int = 2048) -> bytes:
    """An MP4/QuickTime container: an ``ftyp`` box and an ``mdat`` box of filler (never decoded)."""
    ftyp = b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"mp41"
    mdat = b"mdat" + bytes(payload)
    return (len(ftyp) + 4).to_bytes(4, "big") + ftyp + (len(mdat) + 4).to_bytes(4, "big") + mdat


def _xmp(rating: int, label: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}" xmp:Label="{label}"/>'
        "</rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>\n"
    ).encode("utf-8")


def _aae() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0"><dict>'
        "<key>adjustmentFormatIdentifier</key><string>com.apple.photo</string>"
        "<key>adjustmentFormatVersion</key><string>1.4</string></dict></plist>\n"
    ).encode("utf-8")


def _takeout(title: str) -> bytes:
    return json.dumps(
        {"title": title, "description": "", "photoTakenTime": {"timestamp": "1609502400", "formatted": "1 Jan 2021"},
         "geoData": {"latitude": 38.7, "longitude": -9.1}, "url": "https://photos.google.com/photo/x"}, indent=2
    ).encode("utf-8")


def make_library(root: Path) -> PhotoLibrary:
    """Write the library under ``root`` (which must not exist yet) and return what must happen to each file."""
    lib = PhotoLibrary(root)
    cam = "DCIM/100CANON"
    # A camera card: RAW+JPEG pairs, RAWs alone (with and without an embedded preview), sidecars, a clip.
    lib.add(f"{cam}/IMG_0001.JPG", _jpeg(RED), "RAW+JPEG pair: the JPEG", PHOTO)
    lib.add(f"{cam}/IMG_0001.DNG", dng_bytes(128, 96, color=RED, preview=(320, 240)), "RAW+JPEG pair: the RAW twin",
            "companion", of=f"{cam}/IMG_0001.JPG")
    lib.add(f"{cam}/IMG_0001.xmp", _xmp(3), "XMP sidecar (by stem)", "companion", of=f"{cam}/IMG_0001.JPG")
    lib.add(f"{cam}/IMG_0002.DNG", dng_bytes(128, 96, color=GREEN, preview=(320, 240)),
            "RAW alone, embedded JPEG preview", PHOTO)
    lib.add(f"{cam}/IMG_0002.DNG.xmp", _xmp(5, "Green"), "XMP sidecar (full name, darktable)", "companion",
            of=f"{cam}/IMG_0002.DNG")
    lib.add(f"{cam}/IMG_0003.DNG", dng_bytes(128, 96, color=BLUE, orientation=6), "RAW alone, no preview (demosaic)", PHOTO)
    lib.add(f"{cam}/MVI_0004.MP4", _video(), "video", "ignored:videos")
    lib.add(f"{cam}/MVI_0004.THM", _jpeg(RED, (32, 24)), "video thumbnail sidecar (.THM)", "ignored:sidecars of videos")

    # A phone export: Live Photos (HEIC and JPEG), an edit sidecar, an edited copy, a video, a screenshot.
    ph = "Phone/2023-06"
    lib.add(f"{ph}/IMG_1001.HEIC", _heic(RED), "HEIC photo", PHOTO)
    lib.add(f"{ph}/IMG_1001.MOV", _video(b"qt  "), "Live Photo clip (.MOV)", "companion", of=f"{ph}/IMG_1001.HEIC")
    lib.add(f"{ph}/IMG_1002.JPG", _jpeg(GREEN, orientation=6), "JPEG photo (EXIF orientation)", PHOTO)
    lib.add(f"{ph}/IMG_1002.MOV", _video(b"qt  "), "Live Photo clip (.MOV)", "companion", of=f"{ph}/IMG_1002.JPG")
    lib.add(f"{ph}/IMG_1003.HEIC", _heic(BLUE), "HEIC photo", PHOTO)
    lib.add(f"{ph}/IMG_1003.AAE", _aae(), "AAE sidecar (Apple edits)", "companion", of=f"{ph}/IMG_1003.HEIC")
    lib.add(f"{ph}/IMG_E1003.HEIC", _heic(GREEN), "HEIC photo", PHOTO)
    lib.add(f"{ph}/IMG_1004.MOV", _video(b"qt  "), "video", "ignored:videos")
    lib.add(f"{ph}/IMG_1005.PNG", _png(BLUE), "PNG photo", PHOTO)
    lib.add(f"{ph}/IMG_1006.AAE", _aae(), "AAE without its photo", "ignored:sidecars without a photo")

    # A Google Takeout tree: JSON sidecars in several spellings, an album holding byte-identical copies.
    year = "Takeout/Google Photos/Photos from 2021"
    album = "Takeout/Google Photos/Lisbon trip"
    red, heic_blue = _jpeg(RED, (100, 75)), _heic(BLUE, (100, 75))
    lib.add(f"{year}/IMG_2001.JPG", red, "JPEG photo", PHOTO)
    lib.add(f"{year}/IMG_2001.JPG.json", _takeout("IMG_2001.JPG"), "Takeout JSON sidecar", "companion", of=f"{year}/IMG_2001.JPG")
    lib.add(f"{year}/IMG_2001(1).JPG", _jpeg(GREEN, (100, 75)), "JPEG photo", PHOTO)
    lib.add(f"{year}/IMG_2001.JPG(1).json", _takeout("IMG_2001(1).JPG"), "Takeout JSON sidecar", "companion",
            of=f"{year}/IMG_2001(1).JPG")
    lib.add(f"{year}/IMG_2002.HEIC", heic_blue, "HEIC photo", PHOTO)
    lib.add(f"{year}/IMG_2002.HEIC.supplemental-metadata.json", _takeout("IMG_2002.HEIC"), "Takeout JSON sidecar",
            "companion", of=f"{year}/IMG_2002.HEIC")
    lib.add(f"{year}/IMG_2002.MP4", _video(), "Live Photo clip (.MP4, Takeout)", "companion", of=f"{year}/IMG_2002.HEIC")
    lib.add(f"{year}/VID_2003.MP4", _video(), "video", "ignored:videos")
    lib.add(f"{year}/VID_2003.MP4.json", _takeout("VID_2003.MP4"), "Takeout JSON of a video", "ignored:sidecars of videos")
    lib.add(f"{year}/IMG_2004.JPG.json", _takeout("IMG_2004.JPG"), "Takeout JSON without its photo",
            "ignored:sidecars without a photo")
    lib.add(f"{album}/IMG_2001.JPG", red, "JPEG photo, duplicate album copy", PHOTO, duplicate_of=f"{year}/IMG_2001.JPG")
    lib.add(f"{album}/IMG_2001.JPG.json", _takeout("IMG_2001.JPG"), "Takeout JSON sidecar", "companion", of=f"{album}/IMG_2001.JPG")
    lib.add(f"{album}/IMG_2002.HEIC", heic_blue, "HEIC photo, duplicate album copy", PHOTO, duplicate_of=f"{year}/IMG_2002.HEIC")
    lib.add(f"{album}/IMG_2002.HEIC.json", _takeout("IMG_2002.HEIC"), "Takeout JSON sidecar", "companion",
            of=f"{album}/IMG_2002.HEIC")
    lib.add(f"{album}/metadata.json", json.dumps({"title": "Lisbon trip"}).encode(), "Takeout album metadata",
            "ignored:other files")

    # The clutter around a library.
    lib.add("notes.txt", b"to print: IMG_0001\n", "other file (text, PDF)", "ignored:other files")
    lib.add("invoice.pdf", b"%PDF-1.4\n%%EOF\n", "other file (text, PDF)", "ignored:other files")
    lib.add(".DS_Store", bytes(64), "hidden file", "ignored:hidden files")
    lib.add(".private/IMG_3001.JPG", _jpeg(BLUE, (90, 60)), "photo in a hidden album", HIDDEN)
    lib.add("@eaDir/IMG_0001.JPG/SYNOPHOTO_THUMB_M.jpg", _jpeg(RED, (32, 24)), "NAS thumbnail folder", "ignored:system folders")
    return lib
