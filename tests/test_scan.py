"""The folder walk: what is found, what is pruned, and that it cannot loop or fail on a bad sub-folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxysort.errors import InputError
from proxysort.progress import Reporter
from proxysort.scan import OUTPUT_MANIFEST, ScanEntry, scan


class Recorder(Reporter):
    def __init__(self) -> None:
        self.skips: list[tuple[str, str]] = []

    def skipped(self, path, reason) -> None:
        self.skips.append((str(path), reason))


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(root: Path, **kw) -> list[str]:
    return [str(e.path.relative_to(root.resolve())) for e in scan(root, **kw)]


def test_finds_images_recursively_in_order_and_skips_junk(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    for rel in ["b.JPG", "a.png", "sub/c.webp", "sub/deeper/d.heic", "z.gif", "e.avif", "f.tiff", "raw.CR2"]:
        touch(root / rel)
    for rel in [
        ".hidden.jpg", ".thumbs/x.jpg", "@eaDir/y.jpg", ".git/z.png", "node_modules/n.png",
        "__pycache__/p.png", "notes.txt", "sub/movie.mp4",
    ]:
        touch(root / rel)
    touch(root / "sorted-out" / OUTPUT_MANIFEST, b"{}")
    touch(root / "sorted-out" / "red" / "link.jpg")
    assert names(root) == ["a.png", "b.JPG", "e.avif", "f.tiff", "raw.CR2", "z.gif", "sub/c.webp", "sub/deeper/d.heic"]


def test_entries_carry_absolute_path_size_and_mtime(tmp_path: Path) -> None:
    photo = touch(tmp_path / "p" / "a.jpg", b"12345")
    os.utime(photo, ns=(1_000_000_000, 1_234_567_890_123))
    [entry] = list(scan(tmp_path / "p"))
    assert entry == ScanEntry(str(photo.resolve()), 5, 1_234_567_890_123)
    assert entry.path.is_absolute()


def test_exclude_prunes_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    touch(root / "keep" / "a.jpg")
    touch(root / "out" / "b.jpg")
    assert names(root, exclude=[root / "out"]) == ["keep/a.jpg"]


def test_symlink_loops_terminate_and_linked_folders_are_walked_once(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    touch(root / "sub" / "a.jpg")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / "sub", target_is_directory=True)
    found = names(root)
    assert found.count("again/a.jpg") + found.count("sub/a.jpg") == 1


def test_broken_symlink_is_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    touch(root / "a.jpg")
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    rec = Recorder()
    assert names(root, reporter=rec) == ["a.jpg"]
    assert [Path(p).name for p, _ in rec.skips] == ["gone.jpg"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_subfolder_is_reported_and_walk_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    touch(root / "ok" / "a.jpg")
    locked = root / "locked"
    touch(locked / "b.jpg")
    locked.chmod(0)
    try:
        rec, blind = Recorder(), []
        assert names(root, reporter=rec, unreadable=blind) == ["ok/a.jpg"]
        assert blind == [locked.resolve()]
        assert "cannot be read" in rec.skips[0][1]
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_root_raises_input_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_bytes(b"")
    with pytest.raises(InputError):
        list(scan(target))
