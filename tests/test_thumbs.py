"""The thumbnail cache, treated like the store: no link followed, no cache in the photos, errors per photo."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.photos import make_photo
from tests.support.treesnap import assert_unchanged, snapshot


def test_thumbnails_are_made_once_upright_small_and_outside_the_photos(tmp_path: Path) -> None:
    from PIL import Image

    from proxysort.thumbs import THUMB_KIND, THUMB_SIZE, ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    big = make_photo(photos / "big.jpg", (30, 120, 200), size=(1600, 1200), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90° clockwise, so it is portrait upright
    sideways = make_photo(photos / "sideways.jpg", (200, 40, 40), size=(800, 400), exif=exif)
    bad = photos / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    before = snapshot(photos)
    cache = tmp_path / "cache"

    with ThumbCache(cache, [photos]) as tc:
        thumbs, stats = make_thumbnails([big, sideways, bad], tc, workers=2)
    assert (stats.made, stats.reused, stats.failed) == (2, 0, 1)
    assert not thumbs[2].ok and "not an image" in (thumbs[2].error or "")
    files = {t.digest: cache / "thumbs" / THUMB_KIND / t.digest[:2] / f"{t.digest}.jpg" for t in thumbs[:2]}
    assert all(p.is_file() for p in files.values())
    with Image.open(files[thumbs[0].digest]) as im:
        assert im.size == (THUMB_SIZE * 4 // 3, THUMB_SIZE)  # shorter side THUMB_SIZE, aspect kept
    with Image.open(files[thumbs[1].digest]) as im:
        assert im.width < im.height  # EXIF orientation applied
    mtimes = [p.stat().st_mtime_ns for p in files.values()]

    with ThumbCache(cache, [photos]) as tc:
        again, stats2 = make_thumbnails([sideways, big], tc)
    assert (stats2.made, stats2.reused) == (0, 2)
    assert [t.digest for t in again] == [thumbs[1].digest, thumbs[0].digest]
    assert [p.stat().st_mtime_ns for p in files.values()] == mtimes  # not regenerated
    assert_unchanged(before, photos)


def test_a_link_in_the_cache_never_sends_thumbnails_elsewhere(tmp_path: Path) -> None:
    """F4 (T01, T02): ``<cache>/thumbs`` or one fan-out folder as a symlink into the photos."""
    from proxysort.thumbs import THUMB_KIND, ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    pics = [make_photo(photos / f"p{i}.png", (40 * i, 90, 200)) for i in range(4)]
    before = snapshot(photos)

    whole = tmp_path / "cache1"
    whole.mkdir()
    (whole / "thumbs").symlink_to(photos)
    with ThumbCache(whole, [photos]) as tc:
        assert tc.problem and "cannot be used" in tc.problem
        thumbs, stats = make_thumbnails(pics, tc)
    assert stats.made == 4 and all(t.data for t in thumbs)  # made in memory: the page still gets them

    fan = tmp_path / "cache2"
    with ThumbCache(fan, [photos]) as tc:
        made, _ = make_thumbnails(pics, tc)
    folder = fan / "thumbs" / THUMB_KIND / made[0].digest[:2]
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.symlink_to(photos)  # T01: one fan-out folder is a link into the photos
    with ThumbCache(fan, [photos]) as tc:
        thumbs, stats = make_thumbnails(pics, tc)
    assert stats.failed == 0 and thumbs[0].data is not None  # not cached, carried in memory instead
    assert_unchanged(before, photos)


def test_a_cache_inside_the_photo_folder_is_refused(tmp_path: Path) -> None:
    from proxysort.thumbs import ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    pic = make_photo(photos / "p.png", (200, 20, 20))
    before = snapshot(photos)
    with ThumbCache(photos / ".cache", [photos]) as tc:
        assert tc.problem and "inside the photo folder" in tc.problem
        thumbs, stats = make_thumbnails([pic], tc)
    assert stats.made == 1 and thumbs[0].data
    assert_unchanged(before, photos)
    assert not (photos / ".cache").exists()  # not even the folder was made


def test_a_cache_that_cannot_hold_folders_is_one_reason_per_photo_not_a_traceback(tmp_path: Path) -> None:
    """F12 (T07, T08): a file where the thumbnail folder should be; a folder that cannot be written."""
    from proxysort.thumbs import THUMB_KIND, ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    pics = [make_photo(photos / f"p{i}.png", (40 * i, 90, 200)) for i in range(3)]
    blocked = tmp_path / "cache"
    blocked.mkdir()
    (blocked / "thumbs").write_text("x")
    with ThumbCache(blocked, [photos]) as tc:
        assert tc.problem
        thumbs, stats = make_thumbnails(pics, tc)
    assert stats.failed == 0 and all(t.data for t in thumbs)

    readonly = tmp_path / "cache-ro"
    (readonly / "thumbs" / THUMB_KIND).mkdir(parents=True)
    os.chmod(readonly / "thumbs" / THUMB_KIND, 0o500)
    try:
        with ThumbCache(readonly, [photos]) as tc:
            thumbs, stats = make_thumbnails(pics, tc)
    finally:
        os.chmod(readonly / "thumbs" / THUMB_KIND, 0o700)
    assert stats.failed == 0 and all(t.ok for t in thumbs)


def test_a_damaged_cached_thumbnail_is_made_again(tmp_path: Path) -> None:
    """F18: an empty or cut thumbnail in the cache is never served."""
    from proxysort.thumbs import THUMB_KIND, ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    pics = [make_photo(photos / f"p{i}.jpg", (40 * i, 90, 200), size=(400, 300)) for i in range(2)]
    cache = tmp_path / "cache"
    with ThumbCache(cache, []) as tc:
        thumbs, _ = make_thumbnails(pics, tc)
    files = [cache / "thumbs" / THUMB_KIND / t.digest[:2] / f"{t.digest}.jpg" for t in thumbs]
    files[0].write_bytes(b"")
    files[1].write_bytes(files[1].read_bytes()[:200])
    with ThumbCache(cache, []) as tc:
        _, stats = make_thumbnails(pics, tc)
    assert (stats.made, stats.reused) == (2, 0)
    assert all(f.stat().st_size > 200 and f.read_bytes().endswith(b"\xff\xd9") for f in files)


def test_thumbnails_are_addressed_by_the_full_content(tmp_path: Path) -> None:
    """F16 (C10): two files of one size that agree in the index's sampled regions get two thumbnails."""
    from proxysort.thumbs import ThumbCache, make_thumbnails

    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    width, height = 2000, 300  # ~1.8 MB as BMP: the samples (start, middle, end) miss the band
    plain = Image.new("RGB", (width, height), (200, 30, 30))
    plain.save(photos / "red.bmp")
    band = plain.copy()
    band.paste((30, 30, 200), (0, 40, 80, 80))  # rows 40-80: between the sampled regions
    band.save(photos / "redblue.bmp")
    a, b = photos / "red.bmp", photos / "redblue.bmp"
    assert a.stat().st_size == b.stat().st_size and a.read_bytes() != b.read_bytes()
    with ThumbCache(tmp_path / "cache", []) as tc:
        thumbs, stats = make_thumbnails([a, b], tc)
    assert thumbs[0].digest != thumbs[1].digest and stats.made == 2


def test_an_image_decoded_by_the_index_gives_the_pages_thumbnail(tmp_path: Path) -> None:
    """Issue 25: the index keeps the thumbnail of the image it decoded; the page then reuses it. A decode
    smaller than the thumbnail is left to the page (it would be blurrier), and nothing ever raises."""
    from PIL import Image

    from proxysort.imageio import load_image
    from proxysort.thumbs import THUMB_SIZE, ThumbCache, keep_decoded, make_thumbnails, render_thumbnail

    photos = tmp_path / "photos"
    big = make_photo(photos / "big.jpg", (30, 120, 200), size=(1600, 1200), quality=95)
    small = make_photo(photos / "small.png", (200, 40, 40), size=(320, 200))
    cache = tmp_path / "cache"
    with ThumbCache(cache, [photos]) as tc:
        assert keep_decoded(str(big), load_image(big, 224), tc)
        assert not keep_decoded(str(big), load_image(big, 224), tc)  # already there
        assert not keep_decoded(str(small), load_image(small, 224), tc)  # 200 px < THUMB_SIZE
        assert not keep_decoded(str(photos / "gone.jpg"), Image.new("RGB", (400, 300)), tc)  # unreadable: no raise
        thumbs, stats = make_thumbnails([big, small], tc)
    assert (stats.made, stats.reused) == (1, 1)
    with Image.open(cache / "thumbs" / next(p.name for p in (cache / "thumbs").iterdir()) / thumbs[0].digest[:2]
                    / f"{thumbs[0].digest}.jpg") as im:
        assert min(im.size) == THUMB_SIZE
    assert len(render_thumbnail(str(big))) > 100
