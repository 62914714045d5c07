"""Attacks on the streaming manifest reader (issue 25's JSONStream, the manifest's columns, the re-run plan,
``status`` and ``clean`` reading it), as the old whole-text reader (``json.loads`` of at most 256 MB) is the
reference: the same values from any text cut anywhere, the same refusals, nothing outside what proxysort
wrote ever removed, and an OUT that stays usable when runs overlap or one is killed mid-read.

The generators are seeded (reproducible failures); the quick loop runs a few thousand documents, the slow
tests many more.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import pytest

from proxysort import manifest as manifest_module
from proxysort.errors import OutputError
from proxysort.jsonstream import JSONStream, JSONSyntaxError, TooDeep, TooLarge
from proxysort.manifest import (
    MAX_VALUE_CHARS,
    ConceptTree,
    Entry,
    GroupRecord,
    Manifest,
    ManifestError,
    Memory,
    parse_manifest,
    read_manifest,
)
from proxysort.out_status import out_status
from proxysort.output import OUTPUT_MANIFEST, clean_tree, plan_tree, write_tree
from tests.support.outcheck import problems
from tests.support.outrace import _src, concurrent_writers, make_library
from tests.support.treesnap import assert_unchanged, snapshot

# ------------------------------------------------------------------------------- JSON text, any pieces

_WS = ["", "", "", " ", "\t", "\n", "\r", " \r\n\t "]
_STRING_PARTS = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u00E9", "\\ud83d\\ude00",
                 "\\ud800", "\\udc80", "\\uDBFF\\uDFFF", "\\ud83d", "\\u0000", "é", "😀", "\x7f", "a", " ", "/"]
_NUMBERS = ["0", "-0", "1", "-1", "1.5", "-0.0", "0.1e1", "1E+2", "1e-2", "1e400", "-1e400", "1.0e-400", "2e308",
            "123456789012345678901234567890", "9" * 300, "NaN", "Infinity", "-Infinity"]
_BROKEN = ["12 34", "1.", "1e", "1e+", "-", "-Inf", "01", "1.e5", ".5", "+1", "tru", "nul", "[1,]", '{"a":1,}',
           '"\\u12"', '"\\ud83d\\u"', '"\\x"', '"\x01"', "", " ", "\ufeff{}", "[-]", "{'a': 1}", "nan", "[1]]"]


def _ws(rng: random.Random) -> str:
    return rng.choice(_WS)


def _string(rng: random.Random) -> str:
    return '"' + "".join(rng.choice(_STRING_PARTS) for _ in range(rng.randint(0, 6))) + '"'


def _value(rng: random.Random, depth: int = 0) -> str:
    """JSON text as a person or a forger may write it: any spacing, escapes, numbers json reads, repeated keys."""
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        leaf = rng.random()
        if leaf < 0.4:
            return rng.choice(_NUMBERS)
        return _string(rng) if leaf < 0.7 else rng.choice(["true", "false", "null"])
    if roll < 0.7:
        return "[" + _ws(rng) + ("," + _ws(rng)).join(_value(rng, depth + 1) + _ws(rng)
                                                      for _ in range(rng.randint(0, 4))) + "]"
    keys = [_string(rng) for _ in range(rng.randint(0, 4))]
    if keys and rng.random() < 0.3:
        keys.insert(rng.randrange(len(keys) + 1), rng.choice(keys))  # a repeated key: json keeps the last
    return "{" + _ws(rng) + ("," + _ws(rng)).join(
        k + _ws(rng) + ":" + _ws(rng) + _value(rng, depth + 1) + _ws(rng) for k in keys) + "}"


def _document(rng: random.Random) -> str:
    """A document, then sometimes broken: cut, a character inserted or lost, a BOM, trailing text."""
    text = _ws(rng) + _value(rng) + _ws(rng)
    roll = rng.random()
    if roll < 0.5:
        return text
    if roll < 0.6:
        return text[:rng.randint(0, len(text))]
    if roll < 0.7:
        at = rng.randint(0, len(text))
        return text[:at] + rng.choice([*',:[]{}"\\ 1e.-x', *_BROKEN]) + text[at:]
    if roll < 0.8 and text:
        at = rng.randrange(len(text))
        return text[:at] + text[at + 1:]
    if roll < 0.85:
        return "\ufeff" + text
    if roll < 0.9:
        return text + rng.choice([" 1", "x", "]", "1.", "1e", " 12 34", ","])
    return rng.choice(_BROKEN)


def _pieces(rng: random.Random, text: str) -> list[str]:
    """``text`` cut anywhere: at random places, or after every character; empty pieces included."""
    if rng.random() < 0.3:
        cuts = list(range(len(text) + 1))
    else:
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, len(text) + 1)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _walk(stream: JSONStream, depth: int) -> object:
    """The document read through the cursor: containers entered down to ``depth``, the rest decoded whole."""
    char = stream.peek()
    if depth > 0 and char == "{":
        return {key: _walk(stream, depth - 1) for key in stream.keys()}
    if depth > 0 and char == "[":
        return [_walk(stream, depth - 1) for _ in stream.items()]
    return stream.value()


def _outcome(read: Callable[[], object]) -> tuple[str, str]:
    """("ok", repr) or ("error", message): repr tells NaN, -0.0 and 1e400 apart as ``==`` would not."""
    try:
        return "ok", repr(read())
    except (json.JSONDecodeError, JSONSyntaxError) as exc:
        return "error", str(exc)
    except (ValueError, TooDeep, RecursionError):  # json: too many digits for an int; both: nested too deeply
        return "error", ""


def _stream_outcome(pieces: list[str], depth: int) -> tuple[str, str]:
    def read() -> object:
        stream = JSONStream(iter(pieces), value_limit=1 << 20)
        value = _walk(stream, depth)
        stream.end()
        return value

    return _outcome(read)


def _differential(seed: int, documents: int) -> list[str]:
    rng = random.Random(seed)
    wrong = []
    for _ in range(documents):
        text = _document(rng)
        pieces, depth = _pieces(rng, text), rng.randint(0, 5)
        expected, got = _outcome(partial(json.loads, text)), _stream_outcome(pieces, depth)
        # An int json will not convert is a ValueError without a position: only that both refuse is compared.
        same = got == expected or (expected == ("error", "") and got[0] == "error")
        if not same:
            wrong.append(f"{text!r} in {pieces!r}, entered {depth} deep: json {expected}, stream {got}")
    return wrong


def test_random_json_text_cut_anywhere_reads_as_json_loads_reads_it() -> None:
    wrong = _differential(20261207, 3000)
    assert not wrong, f"{len(wrong)} of 3000 differ, e.g.\n" + "\n".join(wrong[:5])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_many_more_random_json_texts_read_as_json_loads_reads_them(seed: int) -> None:
    wrong = _differential(seed, 15000)
    assert not wrong, f"{len(wrong)} of 15000 differ, e.g.\n" + "\n".join(wrong[:5])


def test_a_value_up_to_the_limit_is_read_wherever_the_pieces_are_cut() -> None:
    # A value that ends within the lookahead of the text read so far may go on ("1" of "1e5"): reading on to
    # see must not count the text after it against the value (it did: 33 characters "too large" for 37).
    rng = random.Random(7)
    for _ in range(3000):
        limit = rng.randint(20, 60)
        length = limit + rng.randint(-18, 2)
        value = '"' + "x" * (length - 2) + '"' if rng.random() < 0.5 else "1" * length
        doc = "[" + " " * rng.randint(0, 40) + value + " " * rng.randint(0, 40) + ', "y"]'
        size = rng.randint(1, 80)
        stream = JSONStream(iter([doc[i:i + size] for i in range(0, len(doc), size)]), value_limit=limit)
        if length <= limit:
            assert [stream.value() for _ in stream.items()] == [json.loads(value), "y"], (doc, size, limit)
        else:
            with pytest.raises(TooLarge):
                [stream.value() for _ in stream.items()]


# ----------------------------------------------------------------------------------- manifests on disk


def _library(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    files = make_library(root, n)
    return root, files


def _written(tmp_path: Path, n: int = 6, link: str = "symlink") -> tuple[Path, Path, list[str]]:
    """An OUT written by proxysort (one concept ``c``, two groups, a memory) and its photos."""
    root, files = _library(tmp_path, n)
    out = tmp_path / "out"
    memory = Memory(groups=(GroupRecord("g0", (0.1, 0.2), 0.3), GroupRecord("g1", (0.0, 1.0), 0.1)),
                    members=tuple((f, i % 2, f"id{i}") for i, f in enumerate(files)))
    write_tree(plan_tree(out, {"c": [(f, f"g{i % 2}") for i, f in enumerate(files)]}, link=link,
                         photo_roots=[root], memories={"c": memory}))
    return root, out, files


def _readers(out: Path) -> list[Callable[[], object]]:
    return [lambda: read_manifest(out), lambda: out_status(out), lambda: clean_tree(out, dry_run=True)]


@pytest.mark.parametrize("offset", [0, 1, 100, -17, -16, -15, -9, -8, -2, -1])
@pytest.mark.parametrize("extra", [0, 1])
def test_a_value_of_exactly_the_limit_is_read_and_one_more_character_refused_at_any_read_boundary(
    tmp_path: Path, offset: int, extra: int
) -> None:
    # The string starts `offset` characters from the first 1 MiB read's end (negative: before it); the old
    # reader had no per-value limit, the new one must draw it at the same place wherever the reads fall.
    out = tmp_path / "out"
    out.mkdir()
    head = '{"tool": "proxysort", "version": 2, "dirs": ['
    start = (manifest_module._READ_BYTES + offset) if offset < 0 else offset + len(head)
    text = head + " " * (start - len(head)) + '"' + "x" * (MAX_VALUE_CHARS + extra - 2) + '"], "files": []}'
    (out / OUTPUT_MANIFEST).write_text(text)
    if extra:
        for call in _readers(out):
            with pytest.raises(OutputError, match="longer than 1 MiB"):
                call()
    else:
        assert read_manifest(out) == Manifest()  # the folder names no concept: nothing of it is kept


def _mutations(rng: random.Random, data: object) -> object:
    """``data`` with 1-3 values replaced, removed or repeated by ones a forger may write."""
    values: list[object] = [None, True, False, 0, -1, 2**64, 1.5, float("nan"), float("inf"), "", "x", [], {},
                            [1, 2], "\x00", "a" * 64, "symlink", "copy", "../x", "/etc/passwd", "c/../../x",
                            "c//x", "c/./x", "c/g0/\x00x", "c/g0/\udce9", "c/g0/\ud800", "c/g0/\udcc3\udca9",
                            "c", OUTPUT_MANIFEST, "c/g0/a\\..\\b"]
    data = json.loads(json.dumps(data))
    for _ in range(rng.randint(1, 3)):
        places: list[tuple[object, object]] = []
        stack = [data]
        while stack:
            node = stack.pop()
            keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
            for key in keys:
                places.append((node, key))
                stack.append(node[key])  # type: ignore[index]
        if not places:
            break
        node, key = rng.choice(places)
        roll = rng.random()
        if roll < 0.6:
            node[key] = rng.choice(values)  # type: ignore[index]
        elif roll < 0.8:
            del node[key]  # type: ignore[attr-defined]
        elif isinstance(node, list):
            node.insert(key, json.loads(json.dumps(node[key])))  # an entry repeated
    return data


def _text_with_repeated_keys(rng: random.Random, data: object) -> str:
    """JSON of ``data`` where some keys come twice, a forger's value first (the whole reader keeps the last)."""
    if isinstance(data, dict):
        items = []
        for key, value in data.items():
            if rng.random() < 0.15:
                items.append(f'{json.dumps(key)}:{rng.choice(["null", "[]", "{}", "5", json.dumps("../x")])}')
            items.append(f"{json.dumps(key)}:{_text_with_repeated_keys(rng, value)}")
        return "{" + ",".join(items) + "}"
    if isinstance(data, list):
        return "[" + ",".join(_text_with_repeated_keys(rng, v) for v in data) + "]"
    return json.dumps(data)


def _manifest_outcome(text: str) -> tuple[str, str]:
    try:
        m = parse_manifest(text)
    except ManifestError as exc:
        return "refused", str(exc)
    return "ok", repr((list(m.files), m.dirs, m.link, [(c.name, c.dir, c.link, c.run, c.memory and (
        c.memory.setup, c.memory.groups, list(c.memory.members), c.memory.pins, c.memory.left_out,
        c.memory.unsure, c.memory.unsure_margin)) for c in m.concepts], m.duplicates, m.complete, m.page))


def _forgeries(seed: int, count: int) -> list[str]:
    """Manifests mutated from one proxysort wrote: read as written, and as ``json.loads`` reads them (repeated
    keys dropped, spacing normalised), they must give the same manifest or the same refusal: what the old
    whole-text reader saw is exactly ``json.loads``'s value."""
    files = [Entry(f"c/g{i % 2}/p{i}.jpg", f"/photos/p{i}.jpg", "symlink", target=f"/photos/p{i}.jpg") for i in range(3)]
    files += [Entry("c/g0/p9.jpg", "/photos/p9.jpg", "copy", size=3, mtime_ns=5, sha256="a" * 64),
              Entry("c/g1/h.jpg", "/photos/h.jpg", "hardlink", dev=1, ino=2, companion_of="c/g1/p1.jpg", orphan=True)]
    memory = Memory(groups=(GroupRecord("g0", (0.1, 0.2), 0.3), GroupRecord("g1", (0.0, 1.0), 0.1)),
                    members=tuple((f"/photos/p{i}.jpg", i % 2, f"id{i}") for i in range(3)),
                    pins=(("/photos/p1.jpg", 1),), left_out=("/photos/x.jpg",))
    base = json.loads(Manifest(files=files, dirs=["c", "c/g0", "c/g1"], link="symlink",
                               concepts=[ConceptTree("colour", "c", "symlink", None, memory)]).to_json())
    rng = random.Random(seed)
    wrong = []
    for _ in range(count):
        data = _mutations(rng, base)
        text = _text_with_repeated_keys(rng, data) if rng.random() < 0.5 else json.dumps(data, indent=1)
        got, whole = _manifest_outcome(text), _manifest_outcome(json.dumps(json.loads(text)))
        if got != whole:
            wrong.append(f"{text}\n  as written: {got}\n  as json.loads reads it: {whole}")
    return wrong


def test_forged_manifests_read_as_the_whole_text_reader_read_them() -> None:
    wrong = _forgeries(20261207, 400)
    assert not wrong, f"{len(wrong)} of 400 differ, e.g.\n" + "\n".join(wrong[:3])


@pytest.mark.slow
def test_many_more_forged_manifests_read_as_the_whole_text_reader_read_them() -> None:
    wrong = _forgeries(5, 8000)
    assert not wrong, f"{len(wrong)} of 8000 differ, e.g.\n" + "\n".join(wrong[:3])


def _edit(out: Path, change: Callable[[dict], None]) -> None:
    data = json.loads((out / OUTPUT_MANIFEST).read_text())
    change(data)
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data, indent=1))


def _victim(tmp_path: Path) -> tuple[Path, dict]:
    """A file beside OUT that a forged entry names, with the numbers that make a copy entry match it."""
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"the user's only copy")
    st = os.lstat(victim)
    return victim, {"source": str(victim), "kind": "copy", "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@pytest.mark.parametrize("path", ["../victim.jpg", "c/../../victim.jpg", "c/g0/../../../victim.jpg", "VICTIM"])
@pytest.mark.parametrize("repeated", ["entry", "key first", "key last"])
def test_a_forged_entry_that_leaves_out_is_never_removed_by_clean_or_a_rerun(
    tmp_path: Path, path: str, repeated: str
) -> None:
    root, out, files = _written(tmp_path)
    victim, numbers = _victim(tmp_path)
    path = str(victim) if path == "VICTIM" else path  # absolute
    entry = json.dumps({"path": path, **numbers})
    if repeated == "entry":  # the forged entry twice, and a real one twice
        text = (out / OUTPUT_MANIFEST).read_text().replace('"files": [', f'"files": [{entry}, {entry},', 1)
        real = json.dumps(json.loads(text)["files"][2])
        text = text.replace('"files": [', f'"files": [{real},', 1)
    else:  # the path twice in one entry: the whole reader kept the last, a path inside OUT or the forged one
        inside = json.loads((out / OUTPUT_MANIFEST).read_text())["files"][0]["path"]
        first, last = (path, "c/g0/new.jpg") if repeated == "key first" else (inside, path)
        forged = f'{{"path": {json.dumps(first)}, {entry[1:-1]}, "path": {json.dumps(last)}}}'
        text = (out / OUTPUT_MANIFEST).read_text().replace('"files": [', f'"files": [{forged},', 1)
    (out / OUTPUT_MANIFEST).write_text(text)
    photos = snapshot(root)
    read = read_manifest(out)
    assert read is not None and not any(".." in e.path.split("/") or e.path.startswith("/") for e in read.files)
    assert out_status(out).trees
    write_tree(plan_tree(out, {"c": [(f, f"g{(i + 1) % 2}") for i, f in enumerate(files)]}, link="symlink",
                         photo_roots=[root]))  # a re-run that moves every photo: old entries are removed
    assert victim.read_bytes() == b"the user's only copy"
    assert not problems(out)
    clean_tree(out)
    assert victim.read_bytes() == b"the user's only copy"
    assert_unchanged(photos, root)
    assert not (out / "c").exists()


def test_a_forged_entry_naming_a_users_file_in_out_leaves_it_alone(tmp_path: Path) -> None:
    root, out, files = _written(tmp_path)
    mine = out / "c" / "g0" / "mine.jpg"
    mine.write_bytes(b"the user's own file")
    _edit(out, lambda d: d["files"].extend([
        {"path": "c/g0/mine.jpg", "source": str(mine), "kind": "copy", "size": 1, "mtime_ns": 1},
        {"path": "c/g0/mine.jpg", "source": str(mine), "kind": "symlink", "target": str(mine)},
    ]))
    clean_tree(out)
    assert mine.read_bytes() == b"the user's own file"


@pytest.mark.parametrize("bad", [
    pytest.param(b'"c/g0/\\u0000x.jpg"', id="NUL escaped"),
    pytest.param(b'"c/g0/\\ud800.jpg"', id="lone high surrogate"),
    pytest.param(b'"c/g0/\\udcc3\\udca9.jpg"', id="escaped bytes that are UTF-8"),
    pytest.param(b'"c/g0/\xff.jpg"', id="not UTF-8"),
    pytest.param(b'"c/g0/\xed\xa0\x80.jpg"', id="UTF-8 of a surrogate"),
    pytest.param(b'"c/g0/\xc3"', id="a cut UTF-8 character"),
    pytest.param(b'"c/g0/x.jpg", "path": 5', id="repeated key of the wrong type"),
    pytest.param(b'"c/g0/x.jpg"}, {"path": "c/g0/x.jpg", "kind": "link"', id="a second entry of a wrong kind"),
])
def test_a_wrong_path_in_a_files_entry_is_one_sentence_and_changes_nothing(tmp_path: Path, bad: bytes) -> None:
    root, out, _ = _written(tmp_path)
    raw = (out / OUTPUT_MANIFEST).read_bytes()
    at = raw.index(b'"path": ') + len(b'"path": ')
    end = raw.index(b",", at)
    (out / OUTPUT_MANIFEST).write_bytes(raw[:at] + bad + raw[end:])
    with pytest.raises(ValueError):  # the whole-text reader refused it too
        data = json.loads(raw[:at] + bad + raw[end:])
        manifest_module.Entry.from_json(data["files"][0])
        manifest_module.Entry.from_json(data["files"][1])
    before = snapshot(out)
    for call in [*_readers(out), lambda: clean_tree(out), lambda: write_tree(plan_tree(out, {"c": []}))]:
        with pytest.raises(OutputError, match="is not proxysort's") as err:
            call()
        assert "\n" not in str(err.value)
    assert_unchanged(before, out)


@pytest.mark.parametrize("target", ["/proc/self/mem", "/proc/self/fd/0", "/dev/urandom"])
def test_a_link_to_a_special_file_in_place_of_the_manifest_is_not_read(tmp_path: Path, target: str) -> None:
    root, out, _ = _written(tmp_path)
    (out / OUTPUT_MANIFEST).unlink()
    os.symlink(target, out / OUTPUT_MANIFEST)
    before = snapshot(out)
    for call in [*_readers(out), lambda: clean_tree(out)]:
        with pytest.raises(OutputError, match="not a readable proxysort manifest"):
            call()
    assert_unchanged(before, out)


@pytest.mark.parametrize("where", ["after the head", "inside a string"])
def test_a_sparse_file_of_gigabytes_under_the_limit_is_refused_at_its_first_zero_byte(tmp_path: Path, where: str) -> None:
    # 4 GB of hole after a valid start: refused where the zeros begin, never read to the end.
    out = tmp_path / "out"
    out.mkdir()
    head = b'{"tool": "proxysort", "version": 2, "files": [' + (b'{"path": "' if where == "inside a string" else b"")
    with open(out / OUTPUT_MANIFEST, "wb") as f:
        f.write(head)
        f.truncate(4 << 30)
    start = time.process_time()
    for call in _readers(out):
        with pytest.raises(OutputError, match="is not proxysort's: it is not JSON"):
            call()
    assert time.process_time() - start < 30  # a bound on hanging, not a speed claim: the whole file is 4 GB


# ------------------------------------------------------------------------- runs that overlap or are killed

_RERUN = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from proxysort import manifest
from proxysort.output import plan_tree, write_tree
with open(sys.argv[2]) as f:
    args = json.load(f)
manifest._READ_BYTES = args["read_bytes"]  # the large manifest in many reads, each a little slow:
pieces = manifest._pieces  # a kill lands while the plan or the locked re-plan reads it, or while it is written


def slow(fd, limit):
    for piece in pieces(fd, limit):
        time.sleep(0.002)
        yield piece


manifest._pieces = slow
groups = {"c": [(f, name) for f, name in args["pairs"]]}
print("reading", flush=True)
write_tree(plan_tree(args["out"], groups, link=args["link"], photo_roots=[args["photos"]]))
"""


def _large(tmp_path: Path, n: int, link: str) -> tuple[Path, Path, list[str]]:
    root, files = _library(tmp_path, n)
    out = tmp_path / "out"
    write_tree(plan_tree(out, {"c": [(f, f"g{i % 5}") for i, f in enumerate(files)]}, link=link, photo_roots=[root]))
    return root, out, files


@pytest.mark.slow
@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_a_rerun_killed_while_it_reads_or_writes_a_large_manifest_leaves_out_usable(tmp_path: Path, link: str) -> None:
    rng = random.Random(20261207)
    root, out, files = _large(tmp_path, 1500, link)
    photos = snapshot(root)
    kills = 0
    for round_ in range(12):
        pairs = [(f, f"g{rng.randrange(5)}") for f in files]
        args = tmp_path / "args.json"
        args.write_text(json.dumps({"out": str(out), "photos": str(root), "pairs": pairs, "link": link,
                                    "read_bytes": rng.choice([256, 512, 1024])}))
        proc = subprocess.Popen([sys.executable, "-c", _RERUN, _src(), str(args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "reading\n", proc.communicate()
        time.sleep(rng.uniform(0, 3.0))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err
        kills += proc.returncode == -signal.SIGKILL
        # Whatever the moment, the folder is still proxysort's: every reader takes it, no traceback.
        assert read_manifest(out) is not None
        assert out_status(out).trees
        if round_ % 3 == 2:  # a run to the end makes the folder equal its manifest again
            write_tree(plan_tree(out, {"c": pairs}, link=link, photo_roots=[root]))
            assert not problems(out)
    assert kills >= 6, f"only {kills} of 12 runs were killed before they ended: the kill did not land mid-run"
    clean_tree(out)
    assert_unchanged(photos, root)
    assert not (out / "c").exists()


@pytest.mark.slow
def test_runs_at_once_on_a_folder_with_a_large_manifest_leave_it_equal_to_it(tmp_path: Path) -> None:
    first = concurrent_writers(tmp_path, ["color"], n_photos=1200, seed=1)
    assert first.ok, first
    again = concurrent_writers(tmp_path, ["color", "color", "shape", "shape"], n_photos=1200, seed=2)
    assert again.ok, (again.codes, again.problems[:5], again.errors)
    assert again.trees == ["color", "shape"]
    assert (tmp_path / "out" / OUTPUT_MANIFEST).stat().st_size > 300_000  # large enough to take many reads


def test_a_manifest_saved_with_a_byte_order_mark_is_refused_in_the_whole_readers_words(tmp_path: Path) -> None:
    root, out, _ = _written(tmp_path)
    text = (out / OUTPUT_MANIFEST).read_text()
    with pytest.raises(json.JSONDecodeError) as whole:
        json.loads("\ufeff" + text)
    (out / OUTPUT_MANIFEST).write_text("\ufeff" + text)
    for call in _readers(out):
        with pytest.raises(OutputError) as err:
            call()
        assert f"it is not JSON ({whole.value})" in str(err.value)  # "Unexpected UTF-8 BOM ...", as before


@pytest.mark.parametrize("filler", ["[]", "{}", '"a"', "0"])
@pytest.mark.parametrize("key", ["dirs", "unknown"])
def test_what_is_held_besides_files_and_members_is_refused_past_its_budget_as_it_is_read(key: str, filler: str) -> None:
    # A forged `[[],[],…]` costs ~20 bytes of memory per byte of text: without a budget a 32 GiB manifest
    # exhausts the machine before any check sees it. The reader must stop soon after the budget, not read on.
    read = 0

    def pieces() -> Iterator[str]:
        nonlocal read
        yield f'{{"tool": "proxysort", "version": 2, "{key}": ['
        for _ in range(1_000_000):
            read += 1
            yield filler + ","
        yield filler + "]}"

    budget = 1 << 20
    with pytest.raises(ManifestError, match="besides its files and members"):
        manifest_module._parse(pieces(), held_limit=budget)
    assert read < budget // 16  # each element held costs at least 16 bytes: refused at the budget, not the end


def test_an_honest_manifest_is_well_within_what_may_be_held() -> None:
    # What proxysort writes per photo outside the columns: the page's thumbnail digest, and the photo's path
    # if it is unsure or left out (one or the other: left-out photos are not members). Even with every photo
    # of a 10M archive in that list, under a realistic path, it must fit.
    per_photo = manifest_module._Held(1 << 62)
    for value in ("f" * 64, "/home/someone/Pictures/2024/2024-06-01 Lisbon trip/IMG_0001.jpg"):
        per_photo.take(value)
    assert per_photo.bytes * 10_000_000 < manifest_module.MAX_HELD_BYTES
