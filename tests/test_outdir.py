"""The output folder's own file operations (most of `outdir` is exercised through `output`'s tests)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from proxysort.outdir import OutDir


def test_write_atomic_syncs_the_bytes_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut must leave the old manifest or the new one, never an empty file under the new name: the
    temporary file is synced before it takes the name, and the folder after, so the rename is on disk too."""
    events: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def rename(*args: object, **kwargs: object) -> None:
        events.append("rename")
        real_rename(*args, **kwargs)  # type: ignore[arg-type]

    with OutDir.open(tmp_path / "out", create=True) as od:
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)
        od.write_atomic("manifest.json", iter(["{", "}"]))
    assert events == ["fsync-file", "rename", "fsync-dir"]
    assert (tmp_path / "out" / "manifest.json").read_text() == "{}"
    assert os.listdir(tmp_path / "out") == ["manifest.json"]  # no temporary file left


def test_write_atomic_goes_on_where_the_file_system_cannot_sync_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network and FUSE file systems refuse fsync on a folder (EINVAL): the manifest is written anyway;
    a real error on the file itself (EIO) still stops the run rather than pass for a safe write."""
    real_fsync = os.fsync

    def fsync(fd: int, fail: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode) or fail == errno.EIO:
            raise OSError(fail, os.strerror(fail))
        real_fsync(fd)

    with OutDir.open(tmp_path / "out", create=True) as od:
        monkeypatch.setattr(os, "fsync", lambda fd: fsync(fd, errno.EINVAL))
        od.write_atomic("manifest.json", "{}")
        assert (tmp_path / "out" / "manifest.json").read_text() == "{}"
        monkeypatch.setattr(os, "fsync", lambda fd: fsync(fd, errno.EIO))
        with pytest.raises(OSError):
            od.write_atomic("manifest.json", "{\"new\": 1}")
    assert (tmp_path / "out" / "manifest.json").read_text() == "{}"  # the old record, untouched
    assert os.listdir(tmp_path / "out") == ["manifest.json"]
