"""Checks of an output folder against its manifest, shared by the output-tree tests and the reliability report.

``problems(out)`` lists every way the folder differs from ``OUT/.proxysort.json``: a file or link on disk
that no entry lists, a listed file that is missing or no longer matches its fingerprint, a folder that
is not listed. ``foreign`` names (relative paths) are user files the caller put there on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Iterable

MANIFEST = ".proxysort.json"
PAGE_FILES = {"index.html", ".proxysort-page.json"}  # the review page at OUT's top: proxysort's, not a tree entry
PAGE_THUMBS = ".proxysort-thumbs"  # the page's thumbnails, also proxysort's bookkeeping


def walk(out: Path) -> tuple[set[str], set[str]]:
    """(files and links, folders) under ``out``, relative, without following links."""
    files, dirs = set(), set()
    for dirpath, dirnames, filenames in os.walk(out):
        rel = os.path.relpath(dirpath, out)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != PAGE_THUMBS]
        for name in dirnames:
            p = os.path.normpath(os.path.join(rel, name))
            (files if os.path.islink(os.path.join(dirpath, name)) else dirs).add(p)
        for name in filenames:
            files.add(os.path.normpath(os.path.join(rel, name)))
    return files - {MANIFEST, *PAGE_FILES}, dirs


def _matches(out: Path, entry: dict) -> bool:
    """An entry's fingerprint against the disk, checked independently of proxysort's own code."""
    p = out / entry["path"]
    if any(os.path.islink(out.joinpath(*Path(entry["path"]).parts[:i])) for i in range(1, len(Path(entry["path"]).parts))):
        return False
    try:
        st = os.lstat(p)
    except OSError:
        return False
    if entry["kind"] == "symlink":
        return stat.S_ISLNK(st.st_mode) and os.readlink(p) == entry.get("target")
    if not stat.S_ISREG(st.st_mode):
        return False
    if entry["kind"] == "hardlink":
        return (st.st_dev, st.st_ino) == (entry.get("dev"), entry.get("ino"))
    return (st.st_size, st.st_mtime_ns) == (entry.get("size"), entry.get("mtime_ns"))


def problems(out: Path, foreign: Iterable[str] = ()) -> list[str]:
    """Differences between ``out`` and its manifest; empty when they agree exactly."""
    foreign = set(foreign)
    if not out.exists():
        return []
    files, dirs = walk(out)
    if not (out / MANIFEST).exists():
        return [f"no manifest, but {sorted(files | dirs)[:5]}"] if files | dirs else []
    manifest = manifest_json(out)
    listed = {e["path"]: e for e in manifest["files"]}
    found = []
    for path, entry in listed.items():
        if not _matches(out, entry):
            found.append(f"listed but {'changed' if path in files else 'missing'}: {path}")
    def theirs(path: str) -> bool:  # a user's path, or inside one of their folders
        return any(path == f or path.startswith(f + "/") for f in foreign)

    for path in sorted(files - set(listed)):
        if not theirs(path):
            found.append(f"unlisted file: {path}")
    for d in sorted(dirs - set(manifest["dirs"])):
        if not theirs(d) and not any(f.startswith(d + "/") for f in foreign):
            found.append(f"unlisted folder: {d}")
    for d in sorted(set(manifest["dirs"]) - dirs):
        found.append(f"listed folder missing: {d}")
    return found


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def contents_under(folder: Path) -> dict[str, int]:
    """SHA-256 of every regular file under ``folder`` (links not followed) -> how many files hold it."""
    counts: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != PAGE_THUMBS]
        for name in filenames:
            p = Path(dirpath) / name
            if name == MANIFEST or name in PAGE_FILES or name.startswith(".proxysort-partial-"):
                continue  # bookkeeping, not a photo
            if p.is_file() and not p.is_symlink():
                counts[digest(p)] = counts.get(digest(p), 0) + 1
    return counts


def manifest_json(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text())
