"""The manifest read a value at a time into columns (issue 25): a manifest far larger than what is ever held
reads back exactly for a re-run, ``clean`` and ``status``; the columns give back every entry as written; and
what a forged or runaway manifest can be (a FIFO, a link to /proc, a link swapped in mid-read, a cut file, an
entry of megabytes, a 50 GB file, one that grows, deep nesting) is one sentence, never a traceback or a hang.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxysort import manifest as manifest_module
from proxysort.errors import OutputError
from proxysort.jsonstream import JSONStream
from proxysort.manifest import (
    MAX_VALUE_CHARS,
    ConceptTree,
    Entry,
    FileColumns,
    GroupRecord,
    Manifest,
    MemberColumns,
    Memory,
    parse_manifest,
    read_manifest,
)
from proxysort.out_status import out_status
from proxysort.output import OUTPUT_MANIFEST, check_output_folder, clean_tree, plan_tree, write_tree
from tests.support.outcheck import manifest_json, problems
from tests.support.treesnap import assert_unchanged, snapshot


def _library(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    files = []
    for i in range(n):
        p = root / f"album{i % 3}" / f"IMG_{i:04d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"photo {i} ".encode() * 10)
        files.append(str(p))
        if i % 4 == 0:
            p.with_suffix(".xmp").write_bytes(b"<xmp/>")
    return root, files


def _write(out: Path, root: Path, files: list[str], link: str, groups: int):
    companions = {f: [str(Path(f).with_suffix(".xmp"))] for f in files if Path(f).with_suffix(".xmp").exists()}
    tree = {"color": [(f, f"g{i % groups}") for i, f in enumerate(files)],
            "shape": [(f, f"s{i % 2}") for i, f in enumerate(files)]}
    memory = Memory(groups=tuple(GroupRecord(f"g{k}", (0.1 * k, 0.5), 0.2) for k in range(groups)),
                    members=tuple((f, i % groups, f"id{i}") for i, f in enumerate(files)))
    return write_tree(plan_tree(out, tree, link=link, photo_roots=[root], companions=companions,
                                memories={"color": memory}))


@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_rerun_clean_and_status_read_a_manifest_far_larger_than_anything_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link: str) -> None:
    """With reads of 64 bytes and no value above 2 KiB, the reader never holds more than a few KiB of a manifest
    of ~100 KiB (what the old whole-file read refused above 256 MB, scaled down): every read gives the same
    manifest, status, re-run and clean as reading it whole does."""
    root, files = _library(tmp_path, 120)
    out = tmp_path / "out"
    _write(out, root, files, link, groups=3)
    whole = read_manifest(out)
    status = out_status(out)
    size = (out / OUTPUT_MANIFEST).stat().st_size

    held: list[int] = []
    more = JSONStream._more

    def recording(self: JSONStream) -> bool:
        grew = more(self)
        held.append(len(self._buf))
        return grew

    monkeypatch.setattr(JSONStream, "_more", recording)
    monkeypatch.setattr(manifest_module, "_READ_BYTES", 64)
    monkeypatch.setattr(manifest_module, "MAX_VALUE_CHARS", 2048)
    photos_before = snapshot(root)

    again = read_manifest(out)
    assert again == whole and again is not None and len(again.files) == len(whole.files) > 200
    assert isinstance(again.files, FileColumns)
    assert all(isinstance(t.memory.members, MemberColumns) for t in again.concepts if t.memory is not None)
    assert out_status(out) == status
    assert size > 40 * max(held), (size, max(held))  # the text held at once is a few values, never the file

    summary = _write(out, root, files, link, groups=3)  # the same run again: everything kept
    assert summary.created == 0 and summary.removed == 0 and summary.kept == len(whole.files)
    summary = _write(out, root, files[:100], link, groups=4)  # regrouped, 20 photos gone from the run
    assert summary.created > 0 and summary.removed > 0
    assert problems(out) == []
    assert len(manifest_json(out)["files"]) == len(read_manifest(out).files)  # type: ignore[union-attr]
    cleaned = clean_tree(out)
    assert cleaned.removed > 0 and not out.exists()  # every file, folder and the manifest were proxysort's
    assert_unchanged(photos_before, root)
    assert max(held) <= 2048 + 2 * 64 + 16


def test_the_limit_refuses_a_manifest_above_it_and_reads_one_at_it(tmp_path: Path) -> None:
    from proxysort.manifest import read_manifest_at
    from proxysort.outdir import OutDir

    root, files = _library(tmp_path, 20)
    out = tmp_path / "out"
    _write(out, root, files, "symlink", groups=2)
    size = (out / OUTPUT_MANIFEST).stat().st_size
    with OutDir.open(out) as od:
        assert read_manifest_at(od, limit=size) == read_manifest(out)
        with pytest.raises(OutputError, match="too large to be a proxysort manifest"):
            read_manifest_at(od, limit=size - 1)


# ------------------------------------------------------------------------------------------ the columns

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12) | st.sampled_from(
    ["IMG_1.jpg", "a/b", "", "/", "x\udce9.jpg", "é/ü.jpg", "dir/", "a//b"])
numbers = st.none() | st.integers(min_value=-(2**70), max_value=2**70)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    name = draw(names.filter(lambda n: "/" not in n and n))
    same = draw(st.booleans())

    def text() -> str:
        return draw(names) + "/" + (name if same else draw(names))

    return Entry(path=f"{draw(names.filter(lambda n: n != ''))}/{name}", source=text(),
                 kind=draw(st.sampled_from(["symlink", "hardlink", "copy"])),
                 target=draw(st.none() | st.just(text())), dev=draw(numbers), ino=draw(numbers), size=draw(numbers),
                 mtime_ns=draw(numbers), companion_of=draw(st.none() | st.just(text())), orphan=draw(st.booleans()),
                 sha256=draw(st.none() | st.just("ab" * 32)))


@settings(max_examples=150, deadline=None)
@given(st.lists(entries(), max_size=8))
def test_file_columns_give_back_every_entry_as_added(items: list[Entry]) -> None:
    columns = FileColumns()
    for e in items:
        columns.add(e)
    assert list(columns) == items and len(columns) == len(items) and columns == items
    assert [columns[i] for i in range(-len(items), len(items))] == items + items
    assert columns[1:3] == items[1:3]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, st.integers(min_value=0, max_value=2**32 - 1), names), max_size=8))
def test_member_columns_give_back_every_member_and_compare_as_a_tuple(items: list[tuple[str, int, str]]) -> None:
    members = MemberColumns.of([list(m) for m in items])
    members.check(2**32)
    assert tuple(members) == tuple(items) and members == tuple(items) and tuple(items) == members
    assert hash(members) == hash(tuple(items))


def test_a_manifest_written_and_read_back_is_the_same_in_every_field(tmp_path: Path) -> None:
    files = [Entry("c/g/a.jpg", "/p/a.jpg", "symlink", target="../../../p/a.jpg"),
             Entry("c/g/a.xmp", "/p/a.xmp", "symlink", target="../../../p/a.xmp", companion_of="c/g/a.jpg"),
             Entry("c/g/b.jpg", "/p/q/B.jpg", "copy", size=12, mtime_ns=2**62, sha256="0f" * 32, orphan=True),
             Entry("c/h/\udce9.jpg", "/p/\udce9.jpg", "hardlink", dev=1, ino=2**63 + 5)]
    memory = Memory(groups=(GroupRecord("g", (0.5, -0.25), 0.1), GroupRecord("h", (), 0.0, by_user=True)),
                    members=(("/p/a.jpg", 0, "id1"), ("/p/\udce9.jpg", 1, "id2")), pins=(("/p/a.jpg", 0),),
                    left_out=("/p/gone.jpg",), unsure=("/p/a.jpg",), unsure_margin=0.05)
    m = Manifest(files=files, dirs=["c", "c/g", "c/h"], link="symlink", concepts=[ConceptTree("c", "c", "symlink",
                 memory=memory)])
    back = parse_manifest(m.to_json())
    assert back == m and list(back.files) == files and back.concepts[0].memory == memory


def test_a_repeated_key_counts_once_as_json_reads_it() -> None:
    doc = {"tool": "proxysort", "version": 2, "concepts": [{"name": "c", "dir": "c", "link": "symlink"}], "dirs": ["c"]}
    first = '{"path": "c/g/a.jpg", "source": "/a.jpg", "kind": "symlink", "target": "/a.jpg"}'
    second = '{"path": "c/g/b.jpg", "source": "/b.jpg", "kind": "symlink", "target": "/b.jpg"}'
    text = json.dumps(doc)[:-1] + f', "files": [{first}], "files": [{second}]}}'
    assert [e.path for e in parse_manifest(text).files] == [e["path"] for e in json.loads(text)["files"]]


# ---------------------------------------------------------------------------------------------- attacks


def _tree(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    root, files = _library(tmp_path, 8)
    out = tmp_path / "out"
    _write(out, root, files, "symlink", groups=2)
    return root, out, files


def _refused(out: Path, root: Path, match: str, *, unchanged: bool = True) -> None:
    """Every reader of the manifest refuses the folder in one sentence, and nothing in it changes (hashed:
    ``unchanged=False`` for a 50 GB file, which is then only checked by its size)."""
    before = snapshot(out) if unchanged else None
    size = os.lstat(out / OUTPUT_MANIFEST).st_size
    for call in (lambda: check_output_folder(out, [root]), lambda: read_manifest(out), lambda: out_status(out),
                 lambda: clean_tree(out)):
        with pytest.raises(OutputError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    if before is not None:
        assert_unchanged(before, out)
    assert os.lstat(out / OUTPUT_MANIFEST).st_size == size


def test_a_fifo_in_place_of_the_manifest_is_refused_without_waiting(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    (out / OUTPUT_MANIFEST).unlink()
    os.mkfifo(out / OUTPUT_MANIFEST)
    # A writer that would unblock a blocking open, so a hang shows as a failed assertion, not a stuck run.
    writer = threading.Timer(20, lambda: open(out / OUTPUT_MANIFEST, "wb").close())
    writer.start()
    try:
        _refused(out, root, "not a readable proxysort manifest")
    finally:
        writer.cancel()


@pytest.mark.parametrize("target", ["/proc/self/status", "/dev/zero", "elsewhere"])
def test_a_link_in_place_of_the_manifest_is_never_followed(tmp_path: Path, target: str) -> None:
    root, out, _ = _tree(tmp_path)
    if target == "elsewhere":  # a valid manifest, of another folder: still not read through a link
        target = str(tmp_path / "copied.json")
        (out / OUTPUT_MANIFEST).rename(target)
    else:
        (out / OUTPUT_MANIFEST).unlink()
    os.symlink(target, out / OUTPUT_MANIFEST)
    _refused(out, root, "not a readable proxysort manifest")


def test_a_manifest_swapped_for_a_link_while_it_is_read_is_read_as_opened(tmp_path: Path, monkeypatch) -> None:
    root, out, files = _tree(tmp_path)
    whole = read_manifest(out)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"tool": "proxysort", "version": 2, "files": []}))
    pieces = manifest_module._pieces

    def swapping(fd: int, limit: int):
        for i, piece in enumerate(pieces(fd, limit)):
            if i == 1:  # mid-read: the name now a link to another file
                os.replace(out / OUTPUT_MANIFEST, tmp_path / "moved.json")
                os.symlink(forged, out / OUTPUT_MANIFEST)
            yield piece

    monkeypatch.setattr(manifest_module, "_READ_BYTES", 256)
    monkeypatch.setattr(manifest_module, "_pieces", swapping)
    assert read_manifest(out) == whole  # the file opened, to its end
    monkeypatch.undo()
    _refused(out, root, "not a readable proxysort manifest")  # and the link is never read


def test_every_cut_of_a_manifest_is_one_sentence(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    text = (out / OUTPUT_MANIFEST).read_bytes()
    for cut in [*range(0, 200), *range(200, len(text), 37), len(text) - 1]:
        (out / OUTPUT_MANIFEST).write_bytes(text[:cut])
        with pytest.raises(OutputError, match="is not proxysort's: it (is not JSON|was not written)") as err:
            read_manifest(out)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("where", ["source", "unknown-key", "top", "dirs", "member"])
def test_a_value_of_megabytes_is_refused_in_one_sentence(tmp_path: Path, where: str) -> None:
    root, out, _ = _tree(tmp_path)
    data = manifest_json(out)
    huge = "x" * (MAX_VALUE_CHARS + 10)
    if where == "source":
        data["files"][0]["source"] = huge
    elif where == "unknown-key":
        data["future"] = huge
    elif where == "dirs":
        data["dirs"].append(huge)
    elif where == "member":
        data["concepts"][0]["memory"] = {"groups": [{"name": "g0", "centre": [], "spread": 0}], "members": [[huge, 0, "i"]]}
    (out / OUTPUT_MANIFEST).write_text(json.dumps(huge) if where == "top" else json.dumps(data, indent=1))
    _refused(out, root, "is not proxysort's: one of its values is longer than 1 MiB of text")


def test_objects_nested_without_end_are_refused_in_one_sentence(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    (out / OUTPUT_MANIFEST).write_text('{"tool": "proxysort", "x": ' + '{"x": ' * 100_000 + "1" + "}" * 100_001)
    _refused(out, root, "nested too deeply")


def test_a_50_gb_manifest_is_refused_before_it_is_read(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    with open(out / OUTPUT_MANIFEST, "r+b") as fh:
        fh.truncate(50 << 30)  # sparse: no disk used, and reading it whole would take minutes
    _refused(out, root, "too large to be a proxysort manifest", unchanged=False)


def test_text_that_grows_past_the_limit_while_read_is_cut_off() -> None:
    """A file whose size says nothing (a /proc file, one that grows): the read stops at the limit."""
    r, w = os.pipe()
    try:
        os.write(w, b"[" + b"1," * 4000)
        os.close(w)
        with pytest.raises(manifest_module._TooLargeFile):
            list(manifest_module._pieces(r, 4096))
    finally:
        os.close(r)


def test_bytes_that_are_not_utf8_deep_in_the_file_are_one_sentence(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    text = (out / OUTPUT_MANIFEST).read_bytes()
    (out / OUTPUT_MANIFEST).write_bytes(text[:-200] + b"\xff" + text[-199:])
    _refused(out, root, "not UTF-8 text")


def test_characters_cut_between_reads_are_joined(tmp_path: Path, monkeypatch) -> None:
    photos = tmp_path / "fotos"
    photos.mkdir()
    files = []
    for name in ("été.jpg", "日本.jpg", "😀.jpg"):
        (photos / name).write_bytes(name.encode())
        files.append(str(photos / name))
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"färg": [(f, "röd") for f in files]}, photo_roots=[photos]))
    whole = read_manifest(out)
    monkeypatch.setattr(manifest_module, "_READ_BYTES", 1)
    assert read_manifest(out) == whole
    assert sorted(Path(e.source).name for e in whole.files) == sorted(Path(f).name for f in files)  # type: ignore[union-attr]


def test_a_wrong_entry_after_many_good_ones_makes_the_folder_not_ours(tmp_path: Path) -> None:
    root, out, _ = _tree(tmp_path)
    data = manifest_json(out)
    data["files"][-1]["size"] = "12"
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data, indent=1))
    _refused(out, root, "not proxysort's: files\\[\\]\\.size is not a whole number")


# --------------------------------------------------------------------------- above the old 256 MB refusal


@pytest.mark.slow
def test_a_manifest_above_the_old_limit_serves_status_rerun_and_clean(tmp_path: Path) -> None:
    """850k photos' files and members (~275 MB, which the whole-text read refused above 256 MB), written by
    the real writer as a crash leaves it (``complete: false``: the links need not exist, so none is made
    here): status counts every photo, a re-run of the concept replaces the tree with what is on disk, and
    ``clean`` of the same manifest leaves an empty folder; the photo folder is never touched."""
    from benchmarks.manifest_read import GROUPS, _photo, generate

    n = 850_000
    out = tmp_path / "out"
    out.mkdir()
    assert generate(out / OUTPUT_MANIFEST, n, complete=False) > 256 << 20
    os.link(out / OUTPUT_MANIFEST, tmp_path / "saved.json")  # the same manifest again, for clean

    read = read_manifest(out)
    assert read is not None and len(read.files) == n and not read.complete
    assert read.files[n - 1].source == _photo(max(range(GROUPS - 1, n, GROUPS)))[0]
    memory = read.concepts[0].memory
    assert memory is not None and len(memory.members) == n and memory.members[7] == (_photo(7)[0], 7, f"{7:016x}")
    status = out_status(out)
    assert [(t.folder, t.photos) for t in status.trees] == [("color", n)] and len(status.trees[0].groups) == GROUPS
    assert status.pending == []  # an incomplete manifest's missing links are not the user's deletions

    root, files = _library(tmp_path, 12)
    before = snapshot(root)
    summary = write_tree(plan_tree(out, {"color": [(f, "red") for f in files]}, photo_roots=[root]))
    assert summary.created == 12 and problems(out) == []
    assert sorted(e["source"] for e in manifest_json(out)["files"] if "companion_of" not in e) == sorted(files)

    other = tmp_path / "other"
    other.mkdir()
    os.replace(tmp_path / "saved.json", other / OUTPUT_MANIFEST)
    cleaned = clean_tree(other)
    assert cleaned.removed == 0 and not other.exists()
    assert_unchanged(before, root)


# ------------------------------------------------------------------- the same decisions as the whole-text read

BEFORE = "2fa9fd9"  # manifest.py before the streaming reader: json.loads of the whole text, checked as a whole


def _before_module():
    """``manifest.py`` at BEFORE, loaded from the repository's history (skipped where there is none)."""
    import importlib.util
    import subprocess
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(["git", "show", f"{BEFORE}:src/proxysort/manifest.py"], cwd=root, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"no git history with {BEFORE} here")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("manifest_before", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["manifest_before"] = module
        spec.loader.exec_module(module)
    return module


def _outcome(module, text: str) -> str:
    """What a reader makes of ``text``, as text (the two modules' classes differ, their reprs do not)."""
    try:
        m = module.parse_manifest(text)
    except module.ManifestError as exc:
        return f"refused: {exc}"
    memories = [None if c.memory is None else (c.memory.setup, c.memory.groups, [tuple(x) for x in c.memory.members],
                                               c.memory.pins, c.memory.left_out, c.memory.unsure, c.memory.unsure_margin)
                for c in m.concepts]
    return repr(([e for e in m.files], m.dirs, m.link, [(c.name, c.dir, c.link, c.run) for c in m.concepts], memories,
                 m.duplicates, m.complete, m.page))


def test_the_streaming_reader_accepts_refuses_and_says_exactly_what_the_whole_text_reader_did() -> None:
    """Random forgeries of a rich manifest (a value replaced by one of every kind, a key deleted, keys in
    reversed order so that members come before their groups, with and without indentation): the same manifest
    read, or the same sentence, as the reader before (same message, and the first error in the same order)."""
    import copy
    import random

    from proxysort.manifest import ConceptRun, Duplicate, PageRecord

    before = _before_module()
    run = ConceptRun(("red", "blue"), ("red", "blue", "green"), "user", "ViT-B-32", None, "id", "zeroshot", "imagemix",
                     2, 0, "0.1.0", "2026-12-07T08:00:00+00:00")
    memory = Memory(setup=(("k", "2"),), groups=(GroupRecord("g", (0.5, -0.25), 0.1), GroupRecord("h", (), 0.0, True)),
                    members=(("/p/a.jpg", 0, "id1"), ("/p/b.jpg", 1, "id2")), pins=(("/p/a.jpg", 0),),
                    left_out=("/p/gone.jpg",), unsure=("/p/a.jpg",), unsure_margin=0.05)
    files = [Entry("c/g/a.jpg", "/p/a.jpg", "symlink", target="../../../p/a.jpg"),
             Entry("c/g/a.xmp", "/p/a.xmp", "symlink", target="../../../p/a.xmp", companion_of="c/g/a.jpg"),
             Entry("c/h/b.jpg", "/p/q/B.jpg", "copy", size=12, mtime_ns=5, sha256="0f" * 32, orphan=True),
             Entry("d/g/x.jpg", "/p/x.jpg", "hardlink", dev=1, ino=2)]
    base = json.loads(Manifest(files=files, dirs=["c", "c/g", "c/h", "d", "d/g"], link="symlink",
                               concepts=[ConceptTree("c", "c", "symlink", run, memory), ConceptTree("d", "d", "hardlink")],
                               duplicates=[Duplicate("c", "/p/a2.jpg", "c/g/a.jpg")],
                               page=PageRecord("ab" * 32, None, ("cd" * 32,))).to_json())
    values = [1, -1, 0, "x", "", None, [], {}, True, False, 1.5, "a\x00b", "\udc80", "\ud800", "c/g/z.jpg", "../x",
              "/abs", 2**70, [1, 2], {"a": 1}, "ab" * 32, float("nan"), 5, ["/p/c.jpg", 7, "i"]]

    def places(value: object, at: tuple = ()) -> list[tuple]:
        inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        return [at, *(p for k, v in inner for p in places(v, (*at, k)))]

    def reversed_keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: reversed_keys(v) for k, v in reversed(value.items())}
        return [reversed_keys(v) for v in value] if isinstance(value, list) else value

    rng = random.Random(25)
    spots = [p for p in places(base) if p]
    spots += [p for p in spots if "memory" in p] * 4  # where errors depend most on order: members and groups
    differ = []
    for _ in range(3000):
        data = copy.deepcopy(base)
        for _ in range(rng.randint(1, 2)):
            *path, key = rng.choice(spots)
            parent = data
            try:
                for k in path:
                    parent = parent[k]
                if rng.random() < 0.2 and isinstance(parent, dict):
                    del parent[key]
                else:
                    parent[key] = copy.deepcopy(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                continue  # the place went away with an earlier change
        if rng.random() < 0.3:
            data = reversed_keys(data)
        text = json.dumps(data, indent=rng.choice([None, 1]))
        if _outcome(before, text) != _outcome(manifest_module, text):
            differ.append(text)
    assert not differ, differ[:3]
