"""Open a file the user named (or a photo) for reading only if it is a regular file, without ever blocking.

The scan checks file types, but a photo can be replaced between the scan and the read. A FIFO opened for
reading blocks until a writer appears, which would hang an index run forever; a device could stream
without end. Opening with ``O_NONBLOCK`` and checking the type of what was actually opened (``fstat`` on
the descriptor, not a second ``stat`` of the name) closes that window.

Files the user names directly (a words file, a labels file, a store for ``status``) get the same opening
plus a size limit checked *before* anything is read (:func:`read_limited`): ``--words-file /dev/zero`` or
a disk image passed by mistake is one sentence, not a read until the kernel's OOM killer steps in.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegularFileError(OSError):
    """The path names a folder, pipe, socket or device, not a file."""


class TooLargeError(OSError):
    """The file is larger than the caller's limit for what it can be (read nothing of it)."""


def open_regular(path: str | Path, *, follow: bool = True) -> BinaryIO:
    """``open(path, "rb")`` that refuses anything but a regular file, and never blocks doing so.

    ``follow=False`` also refuses a symlink as the last part of ``path`` (for a path already resolved, so
    a link swapped in after resolving it is not followed).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(0, "not a regular file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path) -> os.stat_result:
    """The ``fstat`` of ``path`` opened as :func:`open_regular` opens it: for a file another library
    opens by name (SQLite), so a FIFO or device is refused before that library blocks on it."""
    with open_regular(path) as fh:
        return os.fstat(fh.fileno())


def read_limited(path: str | Path, limit: int) -> bytes:
    """All of regular file ``path``, refused (:class:`TooLargeError`) when larger than ``limit`` bytes.

    The size is checked on the opened descriptor before reading, and the read stops one byte past
    ``limit`` anyway, so a file that grows meanwhile (or a ``/proc`` file reporting size 0) cannot make it
    read without end.
    """
    with open_regular(path) as fh:
        if os.fstat(fh.fileno()).st_size > limit:
            raise TooLargeError(0, f"larger than {_size(limit)}", str(path))
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(0, f"larger than {_size(limit)}", str(path))
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB" if n >= 1 << 10 else f"{n} bytes"
