"""Snapshot a folder tree so a test can prove proxysort left a photo folder byte-identical.

Records, for every entry (without following symlinks): its type, permission bits, size, mtime in
nanoseconds, and a SHA-256 of a regular file's contents or a symlink's target. Directory mtimes are
included, so creating and then deleting a temporary file inside the tree is caught too.

Walks with directory file descriptors (``os.fwalk``), so paths longer than PATH_MAX and names that are not
UTF-8 are snapshotted like any other; FIFOs and sockets are recorded but never opened (opening a FIFO
blocks).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Node:
    kind: str  # "dir" | "file" | "link" | "fifo" | "socket" | "other"
    mode: int
    size: int
    mtime_ns: int
    digest: str  # file contents or link target; "" for the rest


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "dir"),
        (stat.S_ISREG, "file"),
        (stat.S_ISLNK, "link"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "other"


def _hash_at(name: str, dir_fd: int) -> str:
    h = hashlib.sha256()
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


def _node(name: str, dir_fd: int) -> Node:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    kind = _kind(st.st_mode)
    digest = ""
    if kind == "file":
        digest = _hash_at(name, dir_fd)
    elif kind == "link":
        digest = os.readlink(name, dir_fd=dir_fd)
    return Node(kind, stat.S_IMODE(st.st_mode), st.st_size if kind != "dir" else 0, st.st_mtime_ns, digest)


def snapshot(root: Path) -> dict[str, Node]:
    """Map each path relative to ``root`` (``"."`` for root itself) to its :class:`Node`."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out: dict[str, Node] = {}
        st = os.stat(root_fd)
        out["."] = Node("dir", stat.S_IMODE(st.st_mode), 0, st.st_mtime_ns, "")
        for dirpath, dirnames, filenames, dfd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
            for name in dirnames + filenames:
                rel = os.path.normpath(os.path.join(dirpath, name))
                out[rel] = _node(name, dfd)
        return out
    finally:
        os.close(root_fd)


def diff(before: dict[str, Node], after: dict[str, Node]) -> list[str]:
    """Human-readable differences; empty when the trees are identical."""
    lines = []
    for rel in sorted(before.keys() - after.keys()):
        lines.append(f"removed: {rel!r}")
    for rel in sorted(after.keys() - before.keys()):
        lines.append(f"added: {rel!r}")
    for rel in sorted(before.keys() & after.keys()):
        a, b = before[rel], after[rel]
        if a != b:
            changed = [f for f in ("kind", "mode", "size", "mtime_ns", "digest") if getattr(a, f) != getattr(b, f)]
            lines.append(f"changed {','.join(changed)}: {rel!r}")
    return lines


def assert_unchanged(before: dict[str, Node], root: Path) -> None:
    """Fail with the list of differences if ``root`` no longer matches ``before``."""
    changes = diff(before, snapshot(root))
    assert not changes, "photo tree changed:\n" + "\n".join(changes[:50])
