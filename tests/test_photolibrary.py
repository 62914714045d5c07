"""A realistic library (tests/support/photolibrary.py) end to end: every file is a photo, a companion or counted as
ignored; RAW and HEIC are indexed; Takeout copies share a content id; stdin and folder agree; and the
photo folder stays byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxysort.folder_status import status
from proxysort.indexer import index
from proxysort.library import Selection, gather
from tests.support.photolibrary import HIDDEN, PHOTO, make_library
from tests.support.treesnap import assert_unchanged, snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def library(tmp_path: Path):
    return make_library(tmp_path / "library")


def rel(lib, paths) -> list[str]:
    root = lib.root.resolve()
    return sorted(str(Path(p).relative_to(root)) for p in paths)


def test_every_file_has_exactly_the_expected_role(library) -> None:
    found = gather([library.root.resolve()], [])
    assert rel(library, found.photos) == library.rels(PHOTO)
    assert {rel(library, [k])[0]: rel(library, v) for k, v in found.companions.items()} == library.companions()
    assert {k: rel(library, v) for k, v in found.ignored.items()} == library.ignored()
    every = {i.rel for i in library.items}
    on_disk = {str(p.relative_to(library.root)) for p in library.root.rglob("*") if p.is_file()}
    assert every == on_disk, "the manifest describes every file the generator wrote"


def test_include_hidden_adds_the_hidden_album(library) -> None:
    found = gather([library.root.resolve()], [], Selection(include_hidden=True))
    assert rel(library, found.photos) == sorted(library.rels(PHOTO) + library.rels(HIDDEN))
    assert {k: rel(library, v) for k, v in found.ignored.items()} == library.ignored(include_hidden=True)


def test_index_sorts_photos_keeps_companions_and_counts_the_rest(library, tiny_clip, cache_dir) -> None:
    before = snapshot(library.root)
    result = index(library.root, model=tiny_clip, cache_dir=cache_dir, workers=2)
    assert result.failures == []
    assert rel(library, result.paths) == library.rels(PHOTO)  # RAW, HEIC, PNG and JPEG alike
    assert {rel(library, [k])[0]: rel(library, v) for k, v in result.companions.items()} == library.companions()
    assert {k: rel(library, v) for k, v in result.ignored.items()} == library.ignored()
    s = result.summary
    assert s.companions == {"RAW twins": 1, "Live Photo clips": 3, "sidecars": 8}
    assert s.ignored == {"videos": 3, "sidecars of videos": 2, "sidecars without a photo": 2, "other files": 3,
                         "hidden files": 1, "hidden folders": 1, "system folders": 1}

    # Content ids: the album copies share their original's id, and nothing else does.
    ids = dict(zip(rel(library, result.paths), result.content_ids))
    groups: dict[str, list[str]] = {}
    for path, cid in ids.items():
        groups.setdefault(cid, []).append(path)
    dupes = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    expected = sorted(sorted([i.rel, i.duplicate_of]) for i in library.items if i.duplicate_of)
    assert dupes == expected and s.duplicates == 2
    assert_unchanged(before, library.root)


def test_index_summary_lines_say_what_was_ignored(library, tiny_clip, cache_dir) -> None:
    from proxysort.progress import Reporter

    class Lines(Reporter):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def message(self, text: str) -> None:
            self.lines.append(text)

    rep = Lines()
    index(library.root, model=tiny_clip, cache_dir=cache_dir, workers=2, reporter=rep)
    assert "with their photos: 1 RAW twin, 3 Live Photo clips, 8 sidecars" in rep.lines
    assert "duplicates: 2 of these photos are byte-identical copies of others (each group shows one)" in rep.lines
    assert (
        "ignored: 3 videos, 2 sidecars of videos, 2 sidecars without a photo, 3 other files, 1 hidden file, "
        "1 hidden folder, 1 system folder"
    ) in rep.lines


def test_stdin_list_selects_what_the_folder_scan_selects(library, tiny_clip, cache_dir) -> None:
    """`find LIBRARY -type f | proxysort index -` without hidden files: same photos, companions, ignored."""
    listed = [library.root.resolve() / i.rel for i in library.items
              if not i.rel.startswith((".", "@")) and "/." not in i.rel]
    from_list = index(listed, model=tiny_clip, cache_dir=cache_dir, workers=2)
    from_folder = index(library.root, model=tiny_clip, cache_dir=cache_dir, workers=2)
    assert from_list.paths == from_folder.paths
    assert from_list.companions == from_folder.companions
    assert from_list.content_ids == from_folder.content_ids
    folder_only = {"hidden files", "hidden folders", "system folders"}
    assert from_list.ignored == {k: v for k, v in from_folder.ignored.items() if k not in folder_only}


def test_companions_of_a_skipped_photo_are_counted_not_lost(tmp_path, tiny_clip, cache_dir) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "IMG_1.JPG").write_bytes(b"not a jpeg at all")
    (root / "IMG_1.xmp").write_bytes(b"<x/>")
    (root / "IMG_1.MOV").write_bytes(b"\0" * 16)
    result = index(root, model=tiny_clip, cache_dir=cache_dir, workers=1)
    assert [p.name for p, _ in result.failures] == ["IMG_1.JPG"]
    assert result.companions == {}
    assert sorted(p.name for p in result.ignored["companions of skipped photos"]) == ["IMG_1.MOV", "IMG_1.xmp"]


def test_status_counts_photos_as_index_selects_them(library, tiny_clip, cache_dir) -> None:
    index(library.root, model=tiny_clip, cache_dir=cache_dir, workers=2)
    report = status(library.root, cache_dir=cache_dir)
    assert report.on_disk == len(library.rels(PHOTO)) and report.not_indexed == 0
    assert report.ignored["videos"] == 3 and report.companions["RAW twins"] == 1
    data = json.loads(json.dumps(report.as_dict()))
    assert data["ignored"]["sidecars without a photo"] == 2
    hidden = status(library.root, cache_dir=cache_dir, selection=Selection(include_hidden=True))
    assert hidden.on_disk == len(library.rels(PHOTO)) + 1 and hidden.not_indexed == 1
