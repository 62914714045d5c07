"""A re-run into an OUT that holds a tree keeps the old files as rows of the manifest's columns (issue 25): the
tree, the manifest announced before the change and the final manifest are byte for byte those of the code
before (``fixtures/rerun_golden.json``, made by ``python -m tests.test_rerun_rows`` with ``PYTHONPATH`` at the
source tree of 5a9d97c), and a re-run's memory per old file is bounded (tracemalloc).
"""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

import proxysort.output as output
from proxysort.manifest import OUTPUT_MANIFEST, Entry
from proxysort.output import Grouped, make_tree, plan_tree
from tests.test_plannedfiles import _library

GOLDEN = Path(__file__).parent / "fixtures" / "rerun_golden.json"


def _tree(out: Path) -> dict[str, str]:
    tree = {}
    for dirpath, dirnames, filenames in os.walk(out):
        for n in sorted(dirnames + filenames):
            p = Path(dirpath) / n
            rel = os.fsencode(p.relative_to(out)).decode("utf-8", "backslashreplace")
            if p.is_symlink():
                tree[rel] = "-> " + os.fsencode(os.readlink(p)).decode("utf-8", "backslashreplace")
            elif p.is_dir():
                tree[rel] = "dir"
            elif n != OUTPUT_MANIFEST:
                tree[rel] = p.read_bytes().decode("utf-8", "backslashreplace")
    return dict(sorted(tree.items()))


def _snapshot(base: Path, link: str) -> dict[str, object]:
    """A first run of two concepts, then a re-run of one of them (the other carried) after the library changed:
    photos moved to other groups, one deleted, one new, a sidecar gone, a link the user removed, a file the user
    put in a group folder, and an old link replaced by the user's file. What the re-run announced, then wrote."""
    root, groups, companions, ids = _library(base / link)
    out = root.parent / "out"
    make_tree(out, groups, link=link, photo_roots=[root], companions=companions, content_ids=ids)
    photos = [p for p, _ in groups["color"]]
    os.unlink(photos[5])
    new = root / "2020" / "new.jpg"
    new.write_bytes(b"a new photo")
    os.utime(new, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    gone_side = next(c for cs in companions.values() for c in cs if c.endswith(".xmp"))
    os.unlink(gone_side)
    names = ["red", "green", "blue"]
    color = [(p, names[(i + (i % 4 == 0)) % 3]) for i, p in enumerate(photos) if i != 5] + [(str(new), "blue")]
    listed = json.loads((out / OUTPUT_MANIFEST).read_text())["files"]
    links = [e["path"] for e in listed if e["path"].startswith("color/") and "companion_of" not in e]
    os.unlink(out / links[1])  # a link the user deleted: made again
    (out / links[2]).unlink()
    (out / links[2]).write_bytes(b"the user's own file")  # someone else's now: left alone
    (out / "color" / "red" / "mine.txt").write_bytes(b"the user's note")
    saved: list[str] = []
    real = output._save

    def save(od, manifest):  # type: ignore[no-untyped-def]
        saved.append("".join(manifest.json_parts()))
        return real(od, manifest)

    output._save = save
    try:
        summary = make_tree(out, {"color": color}, link=link, photo_roots=[root], companions=companions,
                            content_ids={**ids, str(new): "new"})
    finally:
        output._save = real
    base_text = json.dumps(str(root.parent))[1:-1]

    def placeholders(text: str) -> str:
        for e in json.loads(text)["files"]:
            if e["kind"] == "hardlink":
                text = text.replace(f'"dev": {e["dev"]},', '"dev": "DEV",').replace(f'"ino": {e["ino"]}', '"ino": "INO"')
        return text.replace(base_text, "BASE")

    return {"announced": [placeholders(t) for t in saved], "tree": _tree(out),
            "summary": [summary.created, summary.kept, summary.removed, summary.left_alone, summary.orphans,
                        [v.replace(str(root.parent), "BASE") for v in summary.vanished], summary.duplicates]}


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_a_mixed_rerun_writes_the_tree_and_manifests_of_before(tmp_path: Path, link: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[link]
    assert _snapshot(tmp_path, link) == golden


def _make_golden() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = {link: _snapshot(Path(tmp), link) for link in ("symlink", "hardlink", "copy")}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _make_golden()


def _rerun_peak(base: Path, n: int) -> int:
    """tracemalloc's peak while ``make_tree`` re-runs a tree of ``n`` photos with a tenth of them moved, from the
    moment the old manifest is read (its reading is bounded and measured apart: ``benchmarks/manifest_read.py``)."""
    photos = base / "photos"
    paths = []
    for i in range(n):
        p = photos / f"d{i // 500}" / f"img_{i:05d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
        paths.append(str(p))
    labels = [i % 4 for i in range(n)]
    names = ["red", "green", "blue", "yellow"]
    make_tree(base / "out", {"color": Grouped(paths, labels, names)}, photo_roots=[photos])
    moved = [(label + (i % 10 == 0)) % 4 for i, label in enumerate(labels)]
    again = {"color": Grouped(paths, moved, names)}
    plan_tree(base / "out", again, photo_roots=[photos])  # imports and caches warmed, outside the measure
    read = output.read_manifest_at

    def read_then_reset(*args: object) -> object:  # the read's buffer (up to 1 MiB of text) is not the re-run's
        manifest = read(*args)  # type: ignore[arg-type]
        tracemalloc.reset_peak()
        return manifest

    tracemalloc.start()
    output.read_manifest_at = read_then_reset  # type: ignore[assignment]
    try:
        summary = make_tree(base / "out", again, photo_roots=[photos])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        output.read_manifest_at = read
        tracemalloc.stop()
    assert summary.removed == summary.created == n // 10 and summary.kept == n - n // 10
    shutil.rmtree(base)
    return peak


@pytest.mark.slow
def test_a_reruns_memory_per_old_file_is_bounded(tmp_path: Path) -> None:
    # Before, the old tree's files were Entry objects, sets and dicts of their paths, twice: ~1 KB an old file
    # at the peak (~870 B measured here). Now rows, flags and hash indexes beside the plan's own columns: ~160 B,
    # the new plan included.
    small, large = _rerun_peak(tmp_path / "small", 1500), _rerun_peak(tmp_path / "large", 4500)
    assert (large - small) / 3000 < 400


def test_old_rows_read_as_the_entries_they_stand_for(tmp_path: Path) -> None:
    from array import array

    from proxysort.manifest import FileColumns

    entries = [Entry("c/b/x.jpg", "/p/x.jpg", "symlink", target="../../p/x.jpg"),
               Entry("c/a/y.jpg", "/p/y.jpg", "copy", size=3, mtime_ns=4, sha256="a" * 64),
               Entry("c/a/x.jpg", "/q/x.jpg", "symlink", target="../../q/x.jpg"),
               Entry("c/a/y.jpg", "/p/y.jpg", "copy", size=3, mtime_ns=4)]
    columns = FileColumns()
    for e in entries:
        columns.add(e)
    assert [columns.path(row) for row in range(4)] == [e.path for e in entries]
    rows = output._OldRows(columns, array("I", [0, 1, 2, 3]))
    assert rows == entries and rows[1:3] == entries[1:3] and list(rows) == entries
    # path order, a path's entries in the order listed (a stable sort)
    assert list(rows.in_path_order()) == sorted(entries, key=lambda e: e.path)
    index = output._ByKey(array("I", [0, 1, 2, 3]), columns.path)
    assert index.find("c/a/y.jpg") == [1, 3] and index.find("c/b/x.jpg") == [0] and index.find("c/z") == []
