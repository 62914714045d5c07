"""Open a photo for reading only if it is a regular file, without ever blocking.

The scan checks file types, but a photo can be replaced between the scan and the read. A FIFO opened for
reading blocks until a writer appears, which would hang an index run forever; a device could stream
without end. Opening with ``O_NONBLOCK`` and checking the type of what was actually opened (``fstat`` on
the descriptor, not a second ``stat`` of the name) closes that window.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegularFileError(OSError):
    """The path names a folder, pipe, socket or device, not a file."""


def open_regular(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` that refuses anything but a regular file, and never blocks doing so."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(0, "not a regular file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
