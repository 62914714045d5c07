"""``status``: what the cache knows about a folder, read-only and without loading a model."""

from __future__ import annotations

from proxysort.folder_status import status
from proxysort.indexer import index
from tests.support.photos import make_photo


def test_status_reports_without_loading_a_model(photo_folder, tiny_clip, cache_dir) -> None:
    assert status(photo_folder, cache_dir=cache_dir).stores == []
    index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    (photo_folder / "a" / "img00.jpg").unlink()
    make_photo(photo_folder / "new.jpg")
    report = status(photo_folder, cache_dir=cache_dir)
    assert report.on_disk == 12 and report.not_indexed == 1
    [s] = report.stores
    assert (s.identity, s.indexed, s.up_to_date, s.vanished, s.vectors_total, s.dim) == (
        tiny_clip.identity, 12, 11, 1, 12, tiny_clip.embed_dim)
    assert s.bytes_on_disk > 0 and report.cache_bytes >= s.bytes_on_disk
