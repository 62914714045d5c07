"""Which files of a folder are photos, which belong to a photo, and what is ignored (by name, no decoding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxysort.library import (
    ORPHAN_SIDECARS,
    OTHER_FILES,
    VIDEO_SIDECARS,
    VIDEOS,
    Selection,
    classify,
    describe,
    gather,
)
from proxysort.scan import IMAGE_SUFFIXES


def plan_of(*names: str):
    photos = [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    others = [n for n in names if n not in photos]
    plan = classify(photos, others)
    seen = [*plan.photos, *(c for cs in plan.companions.values() for c in cs), *(n for ns in plan.ignored.values() for n in ns)]
    assert sorted(seen) == sorted(names), "every name is accounted for exactly once"
    return plan


def test_raw_plus_jpeg_is_one_photo_with_the_raw_as_companion() -> None:
    plan = plan_of("IMG_0001.CR2", "IMG_0001.JPG", "IMG_0002.NEF", "IMG_0003.jpg")
    assert plan.photos == ["IMG_0001.JPG", "IMG_0002.NEF", "IMG_0003.jpg"]
    assert plan.companions == {"IMG_0001.JPG": ["IMG_0001.CR2"]}


def test_raw_plus_heic_and_case_insensitive_stems() -> None:
    plan = plan_of("dsc_1.arw", "DSC_1.HEIC")
    assert plan.photos == ["DSC_1.HEIC"] and plan.companions == {"DSC_1.HEIC": ["dsc_1.arw"]}


def test_jpeg_and_heic_of_one_stem_stay_two_photos_and_the_raw_goes_with_the_jpeg() -> None:
    plan = plan_of("A.HEIC", "A.JPG", "A.DNG", "A.png")
    assert plan.photos == ["A.HEIC", "A.JPG", "A.png"]
    assert plan.companions == {"A.JPG": ["A.DNG"]}


def test_live_photo_clip_follows_its_still_and_other_videos_are_ignored() -> None:
    plan = plan_of("IMG_1.HEIC", "IMG_1.MOV", "IMG_2.JPG", "IMG_2.mp4", "VID_3.MP4", "IMG_4.png", "IMG_4.mov")
    assert plan.companions == {"IMG_1.HEIC": ["IMG_1.MOV"], "IMG_2.JPG": ["IMG_2.mp4"]}
    assert plan.ignored == {VIDEOS: ["IMG_4.mov", "VID_3.MP4"]}  # a PNG has no Live Photo clip


@pytest.mark.parametrize(
    "sidecar",
    ["IMG_1.xmp", "IMG_1.CR2.xmp", "IMG_1.XMP", "IMG_1.AAE", "IMG_O1.AAE", "IMG_1.CR2.pp3", "IMG_1.CR2.dop"],
)
def test_editor_sidecars_follow_the_pair(sidecar: str) -> None:
    plan = plan_of("IMG_1.CR2", "IMG_1.JPG", sidecar)
    assert plan.photos == ["IMG_1.JPG"]
    assert plan.companions == {"IMG_1.JPG": sorted(["IMG_1.CR2", sidecar])}


def test_exact_name_sidecar_wins_over_stem() -> None:
    plan = plan_of("A.JPG", "A.PNG", "A.PNG.xmp", "A.xmp")
    assert plan.companions == {"A.PNG": ["A.PNG.xmp"], "A.JPG": ["A.xmp"]}  # a shared stem means the JPEG


@pytest.mark.parametrize(
    "photo, sidecar",
    [
        ("IMG_1234.JPG", "IMG_1234.JPG.json"),
        ("IMG_1234.JPG", "IMG_1234.JPG.supplemental-metadata.json"),
        ("IMG_1234.JPG", "IMG_1234.JPG.supplemental-metad.json"),
        ("IMG_1234.JPG", "IMG_1234.JPG.suppl.json"),
        ("IMG_1234(1).JPG", "IMG_1234.JPG(1).json"),
        ("IMG_1234(1).JPG", "IMG_1234.JPG.supplemental-metadata(1).json"),
        ("Screenshot_20200101-120000_Some Very Long App.jpg", "Screenshot_20200101-120000_Some Very Long A.json"),
        ("PXL_20230101_120000000.MP.jpg", "PXL_20230101_120000000.MP.jpg.json"),
    ],
)
def test_google_takeout_json_spellings(photo: str, sidecar: str) -> None:
    plan = plan_of(photo, sidecar, "IMG_9999.JPG")
    assert plan.companions == {photo: [sidecar]}


def test_takeout_copy_number_does_not_attach_to_the_original() -> None:
    plan = plan_of("IMG_1234.JPG", "IMG_1234.JPG.json", "IMG_1234.JPG(1).json")
    assert plan.companions == {"IMG_1234.JPG": ["IMG_1234.JPG.json"]}
    assert plan.ignored == {ORPHAN_SIDECARS: ["IMG_1234.JPG(1).json"]}


def test_sidecars_without_their_photo_and_of_videos() -> None:
    plan = plan_of("VID_1.MP4", "VID_1.MP4.json", "VID_1.THM", "gone.jpg.json", "gone.xmp", "IMG_5.JPG")
    assert plan.ignored == {
        VIDEOS: ["VID_1.MP4"],
        VIDEO_SIDECARS: ["VID_1.MP4.json", "VID_1.THM"],
        ORPHAN_SIDECARS: ["gone.jpg.json", "gone.xmp"],
    }


def test_album_metadata_and_other_files_are_other_files() -> None:
    plan = plan_of("metadata.json", "print-subscriptions.json", "notes.txt", "scan.pdf", "IMG_1.JPG", "Thumbs.db")
    assert plan.ignored == {OTHER_FILES: ["Thumbs.db", "metadata.json", "notes.txt", "print-subscriptions.json", "scan.pdf"]}


def test_sidecar_of_a_live_photo_clip_follows_the_still() -> None:
    plan = plan_of("IMG_1.HEIC", "IMG_1.MOV", "IMG_1.MOV.json", "IMG_1.HEIC.json")
    assert plan.companions == {"IMG_1.HEIC": ["IMG_1.HEIC.json", "IMG_1.MOV", "IMG_1.MOV.json"]}


def test_describe_counts_in_words() -> None:
    assert describe({VIDEOS: 6, ORPHAN_SIDECARS: 3}) == "6 videos, 3 sidecars without a photo"
    assert describe({VIDEOS: 1, OTHER_FILES: 0, ORPHAN_SIDECARS: 1}) == "1 video, 1 sidecar without a photo"


# -- gather: folders and listed files under the same rules -----------------------------------------------


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_gather_accounts_for_hidden_junk_excluded_and_output_folders(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    for rel in ["a.jpg", ".hidden.jpg", ".album/b.jpg", "@eaDir/c.jpg", "skip/d.jpg", "out/.proxysort.json", "out/x/e.jpg"]:
        touch(root / rel)
    lib = gather([root.resolve()], [], Selection.of([root / "skip"]))
    r = root.resolve()
    assert list(lib.photos) == [str(r / "a.jpg")]
    assert lib.ignored == {
        "hidden folders": [r / ".album"], "hidden files": [r / ".hidden.jpg"], "system folders": [r / "@eaDir"],
        "proxysort output folders": [r / "out"], "excluded folders": [r / "skip"],
    }
    lib = gather([r], [], Selection.of([root / "skip"], include_hidden=True))
    assert sorted(lib.photos) == [str(r / ".album" / "b.jpg"), str(r / ".hidden.jpg"), str(r / "a.jpg")]
    assert "hidden folders" not in lib.ignored and "hidden files" not in lib.ignored


def test_listed_files_follow_the_folder_rules(tmp_path: Path) -> None:
    """stdin lists: the same formats as a scan, pairs stay pairs, companions are found beside the photo."""
    d = tmp_path / "p"
    for name in ["IMG_1.JPG", "IMG_1.CR2", "IMG_1.xmp", "IMG_2.HEIC", "IMG_2.MOV", "IMG_3.DNG", "IMG_4.JPG", "IMG_4.NEF",
                 "VID.MP4", "notes.txt", "lone.xmp"]:
        touch(d / name)
    d = d.resolve()
    listed = [d / n for n in ["IMG_1.JPG", "IMG_1.CR2", "IMG_2.HEIC", "IMG_3.DNG", "IMG_4.NEF", "VID.MP4", "notes.txt", "lone.xmp"]]
    lib = gather([], listed)
    assert sorted(Path(p).name for p in lib.photos) == ["IMG_1.JPG", "IMG_2.HEIC", "IMG_3.DNG", "IMG_4.NEF"]
    assert lib.companions == {
        str(d / "IMG_1.JPG"): [d / "IMG_1.CR2", d / "IMG_1.xmp"],  # the .xmp was not listed, but is its sidecar
        str(d / "IMG_2.HEIC"): [d / "IMG_2.MOV"],
    }
    # IMG_4.NEF was listed without its JPEG: it is what was asked for, so it is indexed.
    assert lib.ignored == {VIDEOS: [d / "VID.MP4"], OTHER_FILES: [d / "notes.txt"], ORPHAN_SIDECARS: [d / "lone.xmp"]}


def test_scan_and_listing_select_the_same_photos(tmp_path: Path) -> None:
    d = tmp_path / "p"
    for name in ["a.jpg", "a.cr2", "b.dng", "c.heic", "c.mov", "d.mp4", "e.xmp", "f.png"]:
        touch(d / name)
    d = d.resolve()
    scanned = gather([d], [])
    listed = gather([], sorted(d.iterdir()))
    assert list(scanned.photos) == list(listed.photos)
    assert scanned.companions == listed.companions
    assert scanned.ignored == listed.ignored


def test_the_photos_found_read_as_a_map_in_the_order_found_and_a_nested_root_adds_none_twice(tmp_path: Path) -> None:
    from proxysort.library import Photos
    from proxysort.scan import ScanEntry

    inner = tmp_path / "b"
    inner.mkdir()
    for name in ("a/1.jpg", "b/2.jpg", "b/3.jpg", "c.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * len(name))
    lib = gather([tmp_path.resolve(), inner.resolve()], [inner.resolve() / "2.jpg"])
    root = str(tmp_path.resolve())
    keys = [f"{root}/c.jpg", f"{root}/a/1.jpg", f"{root}/b/2.jpg", f"{root}/b/3.jpg"]  # a folder's files, then its folders
    assert isinstance(lib.photos, Photos) and list(lib.photos) == keys and len(lib.photos) == 4
    assert lib.photos[keys[2]] == ScanEntry(keys[2], 7, (tmp_path / "b/2.jpg").stat().st_mtime_ns)
    assert keys[3] in lib.photos and f"{root}/b/4.jpg" not in lib.photos and lib.photos.get("nope") is None
    assert [lib.photos.position(k) for k in keys] == [0, 1, 2, 3] and lib.photos.entry_at(1).key == keys[1]
