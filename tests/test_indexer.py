"""The incremental index: what each run embeds, reuses, sweeps and reports, and how it survives crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from proxysort.errors import InputError, StrictModeError, UsageError
from proxysort.indexer import index, sources
from proxysort.progress import Reporter
from proxysort.store import VectorStore
from tests.support.photos import TINY_CONFIG, make_photo


class Recorder(Reporter):
    def __init__(self) -> None:
        self.skips: list[tuple[Path, str]] = []
        self.messages: list[str] = []

    def skipped(self, path, reason) -> None:
        self.skips.append((Path(path), reason))

    def message(self, text: str) -> None:
        self.messages.append(text)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def counts(result) -> dict[str, int]:
    s = result.summary
    return dict(new=s.new, updated=s.updated, unchanged=s.unchanged, renamed=s.renamed, removed=s.removed,
                failed=s.failed, embedded=s.embedded)


def test_first_run_embeds_everything_and_returns_sorted_unit_vectors(photo_folder, tiny_clip, cache_dir) -> None:
    before = snapshot(photo_folder)
    result = index(photo_folder, model=tiny_clip, cache_dir=cache_dir, batch_size=5, workers=2)
    assert counts(result) == dict(new=12, updated=0, unchanged=0, renamed=0, removed=0, failed=0, embedded=12)
    assert result.paths == sorted(result.paths, key=str) and len(result.paths) == 12
    assert all(p.is_absolute() for p in result.paths)
    assert result.vectors.shape == (12, tiny_clip.embed_dim) and result.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert result.identity == tiny_clip.identity
    assert result.store == cache_dir / "stores" / tiny_clip.identity / "index.sqlite"
    assert snapshot(photo_folder) == before  # nothing written under the photo folder

    # Rows follow paths: each row is what the model gives for that one file.
    from proxysort.imageio import load_image

    one = result.paths[7]
    direct = tiny_clip.encode_images(tiny_clip.preprocess(load_image(one, tiny_clip.image_size))[None])[0]
    assert np.allclose(result.vectors[7], direct, atol=2e-3)


def test_incremental_runs(photo_folder, tiny_spec, tiny_clip, cache_dir) -> None:
    first = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    vec = dict(zip(first.paths, first.vectors))

    again = index(photo_folder, model=tiny_spec, cache_dir=cache_dir)
    assert counts(again)["embedded"] == 0 and again.summary.unchanged == 12
    assert again.clip is None  # nothing to embed: the model was never loaded
    assert np.array_equal(again.vectors, first.vectors)

    touched = photo_folder / "a" / "img00.jpg"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    after_touch = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    assert counts(after_touch) == dict(new=0, updated=1, unchanged=11, renamed=0, removed=0, failed=0, embedded=1)

    (photo_folder / "a" / "img01.png").unlink()
    after_delete = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    assert counts(after_delete) == dict(new=0, updated=0, unchanged=11, renamed=0, removed=1, failed=0, embedded=0)
    assert len(after_delete.paths) == 11

    old = photo_folder / "b" / "c" / "img07.png"
    new = photo_folder / "moved" / "renamed.png"
    new.parent.mkdir()
    old.rename(new)
    after_rename = index(photo_folder, model=tiny_spec, cache_dir=cache_dir)
    assert counts(after_rename) == dict(new=0, updated=0, unchanged=10, renamed=1, removed=0, failed=0, embedded=0)
    assert after_rename.clip is None
    assert np.array_equal(dict(zip(after_rename.paths, after_rename.vectors))[new.resolve()], vec[old.resolve()])

    with VectorStore(after_rename.store) as store:
        assert store.stats().files == 11 and store.stats().vectors == 11  # the stale vector was collected


def test_duplicate_reuses_the_vector_and_counts_as_new(photo_folder, tiny_clip, cache_dir) -> None:
    index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    src = photo_folder / "a" / "img02.webp"
    (photo_folder / "copy.webp").write_bytes(src.read_bytes())
    result = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    assert counts(result) == dict(new=1, updated=0, unchanged=12, renamed=0, removed=0, failed=0, embedded=0)
    rows = dict(zip(result.paths, result.vectors))
    assert np.array_equal(rows[(photo_folder / "copy.webp").resolve()], rows[src.resolve()])


def _scene(size=(96, 64)) -> Image.Image:
    img = Image.new("RGB", size, (200, 40, 40))
    draw = ImageDraw.Draw(img)
    draw.rectangle([10, 10, 40, 30], fill=(20, 20, 220))
    draw.ellipse([50, 20, 90, 60], fill=(30, 200, 30))
    return img


def test_rotated_exif_jpeg_gives_the_upright_vector(tmp_path, tiny_clip, cache_dir) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    upright = _scene()
    # Quality 100 without chroma subsampling so the only difference left is the orientation.
    upright.save(root / "upright.jpg", quality=100, subsampling=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": store the pixels turned the other way
    upright.transpose(Image.Transpose.ROTATE_90).save(root / "rotated.jpg", quality=100, subsampling=0, exif=exif)
    upright.transpose(Image.Transpose.ROTATE_90).save(root / "sideways.jpg", quality=100, subsampling=0)
    result = index(root, model=tiny_clip, cache_dir=cache_dir)
    v = {p.name: row for p, row in zip(result.paths, result.vectors)}
    gap = np.linalg.norm(v["upright.jpg"] - v["rotated.jpg"])
    assert gap < 1e-3
    assert np.linalg.norm(v["upright.jpg"] - v["sideways.jpg"]) > 10 * gap  # the model does see orientation


def test_bad_files_are_skipped_with_a_reason_and_remembered(tmp_path, tiny_clip, cache_dir) -> None:
    root = tmp_path / "photos"
    make_photo(root / "good.jpg")
    make_photo(root / "png-named.jpg", format="PNG")  # wrong extension, valid image: indexed
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.png").write_text("hello")
    full = make_photo(tmp_path / "full.jpg", size=(300, 200), quality=95).read_bytes()
    (root / "truncated.jpg").write_bytes(full[: len(full) // 2])
    rec = Recorder()
    result = index(root, model=tiny_clip, cache_dir=cache_dir, reporter=rec)
    assert [p.name for p in result.paths] == ["good.jpg", "png-named.jpg"]
    reasons = {p.name: r for p, r in rec.skips}
    assert set(reasons) == {"empty.jpg", "text.png", "truncated.jpg"}
    assert "empty" in reasons["empty.jpg"] and "truncated" in reasons["truncated.jpg"]
    assert result.summary.failed == 3 and {p.name for p, _ in result.failures} == set(reasons)
    assert any("5 photos found: 2 embedded, 0 reused, 3 skipped" in m for m in rec.messages)

    rec2 = Recorder()
    again = index(root, model=tiny_clip, cache_dir=cache_dir, reporter=rec2)
    assert again.summary.failed == 3 and again.summary.embedded == 0  # not re-decoded
    # known already: counted in one line, not reported one by one, and no new problem
    assert rec2.skips == [] and {p.name: r for p, r in again.repeated} == reasons and again.new_failures == []
    assert any("3 file(s) still skipped, as in an earlier run" in m for m in rec2.messages)

    make_photo(root / "empty.jpg")  # fixed: picked up again
    fixed = index(root, model=tiny_clip, cache_dir=cache_dir)
    assert fixed.summary.new == 1 and fixed.summary.failed == 2


def test_strict_raises_after_committing_the_good_files(tmp_path, tiny_clip, cache_dir) -> None:
    root = tmp_path / "photos"
    make_photo(root / "good.jpg")
    (root / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(StrictModeError):
        index(root, model=tiny_clip, cache_dir=cache_dir, strict=True)
    assert index(root, model=tiny_clip, cache_dir=cache_dir).summary.unchanged == 1


def test_interrupted_run_is_completed_by_the_next(photo_folder, tiny_clip, cache_dir, monkeypatch) -> None:
    real = VectorStore.write_batch
    calls = []

    def crash_after_first_commit(self, *args, **kwargs):
        if calls:
            raise RuntimeError("injected crash")
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(VectorStore, "write_batch", crash_after_first_commit)
    with pytest.raises(RuntimeError, match="injected"):
        index(photo_folder, model=tiny_clip, cache_dir=cache_dir, batch_size=4, commit_every=4)
    monkeypatch.setattr(VectorStore, "write_batch", real)
    resumed = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    assert counts(resumed) == dict(new=8, updated=0, unchanged=4, renamed=0, removed=0, failed=0, embedded=8)


_KILLER = """
import os, signal, sys
from pathlib import Path
from proxysort.encoders import ModelSpec
from proxysort.indexer import index
from proxysort.store import VectorStore
real, calls = VectorStore.write_batch, []
def write_then_die(self, *a, **k):
    real(self, *a, **k)
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
VectorStore.write_batch = write_then_die
index(Path(sys.argv[1]), model=ModelSpec(sys.argv[2], "none", "cpu"), cache_dir=Path(sys.argv[3]),
      batch_size=3, commit_every=3)
"""


def test_kill_9_keeps_committed_work_and_the_store_stays_sound(photo_folder, tiny_clip, cache_dir) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLER), str(photo_folder), str(TINY_CONFIG), str(cache_dir)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    assert counts(resumed) == dict(new=6, updated=0, unchanged=6, renamed=0, removed=0, failed=0, embedded=6)
    conn = sqlite3.connect(resumed.store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 12
    assert conn.execute("SELECT COUNT(*) FROM files f LEFT JOIN vectors v ON v.hash = f.hash WHERE v.hash IS NULL").fetchone()[0] == 0


def test_two_concurrent_runs_embed_each_photo_once(photo_folder, tiny_clip, cache_dir) -> None:
    results, errors = [], []

    def run() -> None:
        try:
            results.append(index(photo_folder, model=tiny_clip, cache_dir=cache_dir, batch_size=2))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.summary.embedded for r in results) == [0, 12]
    assert all(len(r.paths) == 12 for r in results)


def test_file_list_is_indexed_without_sweeping(photo_folder, tiny_clip, cache_dir) -> None:
    index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    picks = [photo_folder / "a" / "img03.jpg", photo_folder / "b" / "c" / "img10.png", photo_folder / "nope.jpg"]
    rec = Recorder()
    result = index(picks, model=tiny_clip, cache_dir=cache_dir, reporter=rec)
    assert [p.name for p in result.paths] == ["img03.jpg", "img10.png"]
    assert result.summary.unchanged == 2 and result.summary.removed == 0 and result.summary.failed == 1
    assert rec.skips == [(picks[2].resolve(), "file not found")]
    assert index(photo_folder, model=tiny_clip, cache_dir=cache_dir).summary.unchanged == 12  # nothing was swept


def test_missing_root_raises_and_sweeps_nothing(photo_folder, tiny_clip, cache_dir, tmp_path) -> None:
    index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    moved = tmp_path / "elsewhere"
    photo_folder.rename(moved)
    with pytest.raises(InputError):
        index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    moved.rename(photo_folder)
    assert index(photo_folder, model=tiny_clip, cache_dir=cache_dir).summary.unchanged == 12


def test_cache_inside_the_photo_folder_is_refused(photo_folder, tiny_clip) -> None:
    with pytest.raises(UsageError, match="never writes there"):
        index(photo_folder, model=tiny_clip, cache_dir=photo_folder / ".cache")
    assert not (photo_folder / ".cache").exists()


def test_sources_split_folders_and_files_and_name_their_roots(photo_folder) -> None:
    files = [photo_folder / "a" / "img00.jpg", photo_folder / "b" / "c" / "img06.jpg"]
    assert sources(photo_folder).roots == [photo_folder.resolve()]
    found = sources(files)
    assert (found.folders, found.files) == ([], [f.resolve() for f in files])
    assert found.roots == [photo_folder.resolve() / "a", photo_folder.resolve() / "b" / "c"]


def test_index_carries_its_roots(photo_folder, tiny_clip, cache_dir) -> None:
    assert index(photo_folder, model=tiny_clip, cache_dir=cache_dir).roots == [photo_folder.resolve()]


def test_unknown_model_fails_once_with_a_model_error(photo_folder, cache_dir) -> None:
    from proxysort.encoders import ModelSpec
    from proxysort.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="Unknown model"):
        index(photo_folder, model=ModelSpec("no-such-model", "none", "cpu"), cache_dir=cache_dir, workers=4)


def test_excluded_folder_is_left_out_but_not_forgotten(photo_folder, tiny_clip, cache_dir) -> None:
    index(photo_folder, model=tiny_clip, cache_dir=cache_dir)
    part = index(photo_folder, model=tiny_clip, cache_dir=cache_dir, exclude=[photo_folder / "b"])
    assert len(part.paths) == 6 and part.summary.removed == 0
    assert index(photo_folder, model=tiny_clip, cache_dir=cache_dir).summary.unchanged == 12


def test_empty_folder_gives_an_empty_index_without_loading_a_model(tmp_path, tiny_spec, cache_dir) -> None:
    (tmp_path / "empty").mkdir()
    result = index(tmp_path / "empty", model=tiny_spec, cache_dir=cache_dir)
    assert result.paths == [] and result.vectors.shape[0] == 0 and result.clip is None


def test_scans_differing_only_outside_the_sampled_regions_get_their_own_vectors(tmp_path: Path, tiny_spec) -> None:
    """F16 (C10): a retouched uncompressed scan was sorted with its original's vector."""
    import numpy as np
    from PIL import Image

    from proxysort.indexer import index

    photos = tmp_path / "photos"
    photos.mkdir()
    pixels = np.zeros((400, 600, 3), np.uint8)
    pixels[..., 0] = 220
    Image.fromarray(pixels).save(photos / "red.bmp")
    pixels[50:120, :, :] = (20, 20, 230)  # a blue band, in rows no 64 KiB sample covers
    Image.fromarray(pixels).save(photos / "redblue.bmp")
    a, b = (photos / "red.bmp").read_bytes(), (photos / "redblue.bmp").read_bytes()
    chunk, mid = 64 * 1024, len(a) // 2
    assert len(a) == len(b) and a != b
    assert a[:chunk] == b[:chunk] and a[mid:mid + chunk] == b[mid:mid + chunk] and a[-chunk:] == b[-chunk:]
    result = index(photos, model=tiny_spec, cache_dir=tmp_path / "cache")
    assert len(set(result.content_ids)) == 2
    assert not np.allclose(result.vectors[0], result.vectors[1])


def test_a_store_keeps_the_precision_it_started_with(photo_folder, tiny_spec, cache_dir) -> None:
    from dataclasses import replace

    bf16 = replace(tiny_spec, precision="bf16")
    first = index(photo_folder, model=bf16, cache_dir=cache_dir)
    assert first.precision == "bf16" and first.clip is not None and first.clip.precision == "bf16"

    make_photo(photo_folder / "new.png", (90, 90, 10))
    auto = index(photo_folder, model=replace(tiny_spec, precision="auto"), cache_dir=cache_dir)
    assert auto.summary.embedded == 1 and auto.clip is not None and auto.clip.precision == "bf16"  # followed

    make_photo(photo_folder / "newer.png", (10, 90, 90))
    messages: list[str] = []

    class Recording(Reporter):
        def message(self, text: str) -> None:
            messages.append(text)

    with pytest.raises(UsageError) as err:
        index(photo_folder, model=replace(tiny_spec, precision="fp32"), cache_dir=cache_dir, reporter=Recording())
    assert "`precision` fp32" in str(err.value) and "bf16" in str(err.value)
    assert not any(m.startswith("indexed") for m in messages)
    with VectorStore(first.store) as store:
        assert store.precision() == "bf16" and store.stats().vectors == 13


def test_a_loaded_model_on_auto_follows_the_store(photo_folder, tiny_spec, cache_dir) -> None:
    from dataclasses import replace

    from proxysort.encoders import load_clip

    index(photo_folder, model=replace(tiny_spec, precision="fp16"), cache_dir=cache_dir)
    clip = load_clip(replace(tiny_spec, precision="auto"))
    make_photo(photo_folder / "new.png", (90, 90, 10))
    result = index(photo_folder, model=clip, cache_dir=cache_dir)
    assert result.summary.embedded == 1 and clip.precision == "fp16" and result.precision == "fp16"


@pytest.mark.parametrize("cpus, expected", [(1, 2), (2, 2), (16, 16), (64, 64)])
def test_decoding_threads_follow_the_cpus_this_process_may_use(monkeypatch, cpus: int, expected: int) -> None:
    """No cap of 8: on a 16-core GPU machine every core decodes while the GPU encodes (issue 25)."""
    from proxysort import indexer

    monkeypatch.setattr(indexer.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert indexer._default_workers() == expected


def test_the_index_makes_the_pages_thumbnails_from_its_own_decodes(tmp_path, tiny_clip, cache_dir) -> None:
    """Issue 25: photos decoded at least thumbnail-size get their thumbnail during index, so the page
    reuses every one of them; ``thumbnails=False`` makes none."""
    from proxysort.thumbs import ThumbCache, make_thumbnails

    root = tmp_path / "photos"
    big = [make_photo(root / f"big{i}.png", (40 * i, 90, 200), size=(400, 300)) for i in range(3)]
    small = make_photo(root / "small.png", (200, 40, 40), size=(64, 48))
    result = index(root, model=tiny_clip, cache_dir=cache_dir)
    assert result.summary.embedded == 4
    with ThumbCache(cache_dir, [root]) as tc:
        _, stats = make_thumbnails([*big, small], tc)
    assert (stats.made, stats.reused) == (1, 3)  # only the small photo, whose decode was too small

    other = tmp_path / "other-cache"
    index(root, model=tiny_clip, cache_dir=other, thumbnails=False)
    assert not (other / "thumbs").exists()
