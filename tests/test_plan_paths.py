"""A tree plan holds its photos' paths as positions and buffers of bytes, not a ``str`` per photo (issue 25):
what it plans from the index's column is what it plans from a list of the same paths in any order, byte for
byte, names that are not UTF-8 (whose bytes sort otherwise than their ``str``) included."""

from __future__ import annotations

import bisect
import json
import os
import random
from pathlib import Path

import pytest

from proxysort.manifest import OUTPUT_MANIFEST
from proxysort.output import Grouped, make_tree, plan_tree
from proxysort.pathcolumn import ContentIds, IdsByPath, PathBuffer, PathColumn, PathRows
from tests.test_sorting import _reachable


def test_a_path_buffer_reads_back_every_path_and_bisects_in_str_order() -> None:
    # "\udc80" is the byte 0x80 of a name that is not UTF-8: as bytes it sorts before "é" (0xc3 0xa9), as str after.
    paths = sorted(["/p/a.jpg", "/p/é.jpg", "/p/\udc80.jpg", "/p/\U0001f600.jpg", "/p/\udcff.jpg", "/p/\uff21.jpg"])
    buffer = PathBuffer()
    for p in paths:
        buffer.append(p)
    assert list(buffer) == paths and [buffer[i] for i in range(len(paths))] == paths and buffer[-1] == paths[-1]
    assert not buffer.plain
    for probe in [*paths, "/p/b.jpg", "/p/\udc90.jpg", "/", "/q", "/p/\U0001f601.jpg"]:
        assert buffer.lower(probe) == bisect.bisect_left(paths, probe), probe
    plain = PathBuffer()
    for p in ["/p/a.jpg", "/p/é.jpg", "/p/\uff21.jpg", "/p/\U0001f600.jpg"]:
        plain.append(p)
    assert plain.plain and plain.lower("/p/b.jpg") == 1 and plain.lower("/p/\udc80.jpg") == 2
    odd = PathBuffer()  # a lone surrogate no file system name decodes to, and what reads the same bytes: kept apart
    for p in ["/p/\ud800", "/p/\udcc3\udca9", "/p/é"]:
        odd.append(p)
    assert list(odd) == ["/p/\ud800", "/p/\udcc3\udca9", "/p/é"]


NOT_UTF8 = [b"\x80", b"\xff"]  # bytes of names that are not UTF-8: as str (escaped) they sort after é, as bytes before


def _photos(root: Path, names: list[bytes]) -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """Photos in folders of ``names`` named ``names``: the same name in several folders (``-2`` goes to the later
    in str order), byte-identical photos, companions."""
    paths, companions, ids = [], {}, {}
    for i, folder in enumerate(names):
        for j, name in enumerate(names):
            p = os.fsencode(root) + b"/" + folder + b"/" + name + b".jpg"
            os.makedirs(os.path.dirname(p), exist_ok=True)
            same = (i + j) % 5 == 0  # byte-identical photos: one content id
            with open(p, "wb") as fh:
                fh.write(b"same" if same else p)
            path = os.fsdecode(p)
            paths.append(path)
            ids[path] = "same" if same else f"{i:02d}{j:02d}"
            if j % 2:
                side = p[:-4] + b".xmp"
                with open(side, "wb") as fh:
                    fh.write(b"side")
                companions[path] = [os.fsdecode(side)]
    return sorted(paths), companions, ids


def _listing(out: Path) -> dict[str, str]:
    """Every file in ``out`` (its link text, or its bytes' length) and the manifest, less when it was written."""
    tree = {}
    for folder, _, files in os.walk(os.fsencode(out)):
        for name in files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, os.fsencode(out)).decode("utf-8", "backslashreplace")
            tree[rel] = (os.readlink(p).decode("utf-8", "backslashreplace") if os.path.islink(p)
                         else str(os.path.getsize(p)))
    manifest = json.loads((out / OUTPUT_MANIFEST).read_text("utf-8", "surrogateescape"))
    for c in manifest.get("concepts", []):
        (c.get("run") or {}).pop("written", None)
    tree[OUTPUT_MANIFEST] = json.dumps(manifest, sort_keys=True)
    return tree


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
@pytest.mark.parametrize("keep_folders", [False, True])
@pytest.mark.parametrize("utf8", [False, True])
def test_a_plan_from_the_column_is_the_plan_from_a_list_in_any_order(tmp_path: Path, link: str,
                                                                     keep_folders: bool, utf8: bool) -> None:
    root = tmp_path / "photos"
    names_ = [b"a", b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xef\xbc\xa1"]  # a, é, 😀, Ａ
    paths, companions, ids = _photos(root, names_ if utf8 else names_ + NOT_UTF8)
    column = PathColumn.of(paths)  # in str order, as the index gives them: in order as bytes only where all UTF-8
    assert column.in_order == utf8
    labels = [i % 3 for i in range(len(paths))]
    names = ["red", "green", "blue"]
    shuffled = list(zip(paths, [names[g] for g in labels]))
    random.Random(0).shuffle(shuffled)
    ways = {
        "column": ({"color": Grouped(column.text, labels, names), "all": Grouped(column.text, [0] * len(paths), ["x"])},
                   IdsByPath(column, ContentIds.of(ids[p] for p in paths))),
        "list": ({"color": shuffled, "all": [(p, "x") for p in reversed(paths)]}, ids),
    }
    trees = {}
    for way, (groups, content_ids) in ways.items():
        out = tmp_path / way / "out"
        options = dict(link=link, photo_roots=[root], companions=companions, content_ids=content_ids,
                       keep_folders=keep_folders)
        plan = plan_tree(out, groups, **options)  # type: ignore[arg-type]
        # the column's own rows where its paths are UTF-8 (its bytes' order is then str order); else bytes
        assert isinstance(plan.dest._photos._paths, PathRows) == (utf8 and way == "column")  # type: ignore[attr-defined]
        summary = make_tree(out, groups, **options)  # type: ignore[arg-type]
        assert summary.duplicates == len(plan.duplicates) > 0 and summary.created == plan.count_create()
        trees[way] = _listing(out)
        # a re-run with photos gone and moved: kept, removed, reported in the same order either way
        gone = [paths[1], paths[7], paths[-3]]
        for p in gone:
            os.rename(p, p + ".away")
        moved = {k: ([(p, "blue") for p, _ in m] if k == "color" else m) for k, m in groups.items()}
        again = make_tree(out, moved, **options)  # type: ignore[arg-type]
        for p in gone:
            os.rename(p + ".away", p)
        trees[way + " again"] = {**_listing(out), "vanished": "\n".join(again.vanished),
                                 "counts": f"{again.created} {again.kept} {again.removed} {again.duplicates}"}
        assert again.vanished == sorted(gone)
    assert trees["column"] == trees["list"] and trees["column again"] == trees["list again"]
    # the first of a name in one folder, in str order, keeps it: "é" (U+00E9) before the byte 0x80 (U+DC80)
    if not keep_folders and link == "symlink":
        links = {k: v for k, v in trees["column"].items() if k.startswith("all/x/a")}
        assert links["all/x/a.jpg"].endswith("/a/a.jpg") and links["all/x/a-2.jpg"].endswith("/é/a.jpg")


def test_planning_a_tree_from_the_index_column_holds_no_str_per_photo(tmp_path: Path) -> None:
    # Issue 25: the plan held every photo's path as a str (its stats, its files' sources, each group's members):
    # ~120 bytes a photo, 1.2 GB at 10M. Counted over everything the plan holds, while it is alive.
    root = tmp_path / "photos"
    paths = []
    for i in range(2000):
        p = root / f"d{i // 500}" / f"img_{i:05d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"%d" % i)
        paths.append(str(p))
    column = PathColumn.of(paths)
    groups = {"color": Grouped(column.text, [i % 4 for i in range(len(paths))], ["red", "green", "blue", "yellow"])}
    ids = IdsByPath(column, ContentIds.of(f"{i:032x}" for i in range(len(paths))))
    for link in ("symlink", "copy"):
        plan = plan_tree(tmp_path / "out", groups, link=link, photo_roots=[root], content_ids=ids)
        assert plan.count_create() == len(paths)
        held = _reachable(plan)
        photos = set(paths)
        assert sum(isinstance(o, str) and o in photos for o in held) < len(paths) / 10
        assert sum(isinstance(o, str) for o in held) < len(paths) / 10, link
        summary = make_tree(tmp_path / "out", groups, link=link, photo_roots=[root], content_ids=ids)
        assert summary.plan is not None and summary.created == len(paths)
        assert sum(isinstance(o, str) for o in _reachable(summary)) < len(paths) / 10, link
        os.rename(tmp_path / "out", tmp_path / f"out-{link}")
