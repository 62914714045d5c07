"""The output-tree promises through the real ``proxysort cluster`` command (in-process): a last copy kept
on a re-run, a photo deleted mid-run skipped with exit 3, a cache inside OUT refused before any work, a
malformed manifest or an impossible ``--out`` as one sentence and exit 7, two concepts' trees side by side."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from tests.support.outcheck import contents_under, digest, problems
from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]


def _cluster(run_cli, photos: Path, out: Path, *extra: str, by: str = "color", words: str = "red,green,blue"):
    return run_cli(["cluster", str(photos), "--by", by, "--words", words, "--k", "2", "--out", str(out),
                    "--format", "tsv", *MODEL, *extra])


def _one_sentence(stderr: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("proxysort:") or "rror" in line]
    assert len(errors) == 1, stderr[-1500:]


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_rerun_after_deleting_an_original_keeps_the_last_copy(run_cli, photo_folder: Path, tmp_path: Path, link: str) -> None:
    out = tmp_path / "sorted"
    first = _cluster(run_cli, photo_folder, out, "--link", link)
    assert first.exit_code == 0, first.stderr[-1500:]
    victim = photo_folder / "a" / "img00.jpg"
    lost = digest(victim)
    victim.unlink()
    again = _cluster(run_cli, photo_folder, out, "--link", link)
    assert again.exit_code == 0, again.stderr[-1500:]
    assert lost in contents_under(out), "the re-run deleted the last copy of a photo"
    assert "last copy" in again.stderr
    assert problems(out) == []


def test_a_photo_deleted_while_learning_is_skipped_with_exit_3(photo_folder: Path, tmp_path: Path, cache_dir: Path) -> None:
    """The photo goes after clustering and before the tree is written (the moment the group summary is
    printed): it is reported like any vanished file, and the rest of the tree is written."""
    from proxysort.cli import main
    from proxysort.env import Environment

    victim = photo_folder / "a" / "img03.jpg"

    class DeletesOnSummary(io.StringIO):
        def write(self, text: str) -> int:
            if " groups: " in text and victim.exists():
                victim.unlink()
            return super().write(text)

    out, err = io.StringIO(), DeletesOnSummary()
    env = Environment(stdin=io.StringIO(""), stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False,
                      stderr_isatty=False, vars=dict(os.environ))
    for link in ("hardlink", "copy"):
        if not victim.exists():
            victim.write_bytes((photo_folder / "a" / "img00.jpg").read_bytes())
        target = tmp_path / f"sorted-{link}"
        with pytest.raises(SystemExit) as exc:
            main(["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue", "--k", "2", "--out",
                  str(target), "--link", link, "--format", "tsv", *MODEL], env=env)
        assert exc.value.code == 3, err.getvalue()[-1500:]
        assert f"skipped: {victim}" in err.getvalue()
        linked = [p for p in target.rglob("*") if p.is_file() and ".proxysort-thumbs" not in p.parts]
        assert len(linked) == 11 + 1 + 2  # 11 photos, the manifest, the review page and its data
        assert len(list((target / ".proxysort-thumbs").rglob("*.jpg"))) == 11  # and the page's thumbnails
        assert problems(target) == []


def test_a_cache_inside_the_new_output_folder_is_refused_before_any_work(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    result = _cluster(run_cli, photo_folder, out, "--cache-dir", str(out / "cache"))
    assert result.exit_code == 7, result.stderr[-1500:]
    _one_sentence(result.stderr)
    assert "cache folder" in result.stderr
    assert not out.exists(), "work was done (the cache was created) before the refusal"


@pytest.mark.parametrize("bad", ['{"tool": "proxysort", "files": {"x": 1}}', '{"tool": "proxysort", "dirs": [1]}',
                                 '{"tool": "proxysort", "files": [{"path": "c/a\\u0000", "source": "x", "kind": "copy"}]}',
                                 '{"tool": "proxysort", "files": ' + "[" * 50_000 + "]" * 50_000 + "}"],
                         ids=["files-object", "dirs-numbers", "nul", "deep"])
def test_a_malformed_manifest_is_exit_7_in_one_sentence(run_cli, photo_folder: Path, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "sorted"
    out.mkdir()
    (out / ".proxysort.json").write_text(bad)
    before = snapshot(out)
    result = _cluster(run_cli, photo_folder, out)
    assert result.exit_code == 7, result.stderr[-1500:]
    _one_sentence(result.stderr)
    assert_unchanged(before, out)


def test_an_out_longer_than_path_max_is_exit_7(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    result = _cluster(run_cli, photo_folder, tmp_path / (("d" * 250 + "/") * 20))
    assert result.exit_code == 7, result.stderr[-1500:]
    _one_sentence(result.stderr)


def test_two_concepts_in_two_runs_keep_both_trees(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    assert _cluster(run_cli, photo_folder, out, by="species", words="cat,dog").exit_code == 0
    species = snapshot(out / "species")
    assert _cluster(run_cli, photo_folder, out).exit_code == 0
    assert snapshot(out / "species") == species
    assert sorted(os.listdir(out)) == [".proxysort-page.json", ".proxysort-thumbs", ".proxysort.json", "color", "index.html",
                                       "species"]
    assert {c["name"] for c in json.loads((out / ".proxysort.json").read_text())["concepts"]} == {"color", "species"}
    assert problems(out) == []


def test_clean_command_removes_only_proxysorts_files(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    assert _cluster(run_cli, photo_folder, out, "--link", "copy").exit_code == 0
    (out / "notes.txt").write_text("mine")
    dry = run_cli(["clean", str(out), "--dry-run"])
    assert dry.exit_code == 0 and "would remove 12 file(s)" in dry.stderr, dry.stderr
    result = run_cli(["clean", str(out)])
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(out)) == ["notes.txt"]  # no manifest of nothing left beside the user's file
    again = run_cli(["clean", str(out)])  # the folder is the user's now: proxysort made nothing there
    assert again.exit_code == 7 and "created nothing there" in again.stderr
    (out / "notes.txt").unlink()
    refused = run_cli(["clean", str(photo_folder)])
    assert refused.exit_code == 7 and "created nothing there" in refused.stderr
    _one_sentence(refused.stderr)


def test_write_folders_links_companions_and_dedupes_from_the_index(tmp_path: Path) -> None:
    """An index with companions and content ids filled (as the scan will fill them): the tree follows."""
    import numpy as np

    from proxysort.encoders import ModelSpec
    from proxysort.indexer import IndexedFolder, IndexSummary
    from proxysort.sorting import ConceptResult, SortResult, write_folders

    root = tmp_path / "photos"
    root.mkdir()
    for name, data in {"IMG_1.jpg": b"one" * 9, "IMG_1.xmp": b"<x/>", "copy/IMG_1.jpg": b"one" * 9, "IMG_2.jpg": b"two" * 9}.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(data)
    paths = [root / "IMG_1.jpg", root / "copy" / "IMG_1.jpg", root / "IMG_2.jpg"]
    summary = IndexSummary()
    index = IndexedFolder(paths, np.zeros((3, 4), np.float32), summary, [], "test", roots=[root],
                          companions={paths[0]: [root / "IMG_1.xmp"]}, content_ids=["a", "a", "b"])
    concept = ConceptResult("color", "photo", ["red"], "user", "", "prompt", 1, np.zeros(3, np.int64), ["red"],
                            np.ones(3), proxy=None)  # type: ignore[arg-type]
    run = SortResult(paths, [concept], index, model=ModelSpec("tiny", "none"), mode="zeroshot")
    out = tmp_path / "sorted"
    plan, written = write_folders(run, out, link="copy")
    assert sorted(os.listdir(out / "color" / "red")) == ["IMG_1.jpg", "IMG_1.xmp", "IMG_2.jpg"]
    assert written.duplicates == 1 and plan.dest[("color", str(paths[1]))] == "color/red/IMG_1.jpg"
    _, again = write_folders(run, out, link="copy", keep_duplicates=True)
    assert sorted(os.listdir(out / "color" / "red")) == ["IMG_1-2.jpg", "IMG_1.jpg", "IMG_1.xmp", "IMG_2.jpg"]
    assert problems(out) == []


@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_the_realistic_library_tree_keeps_companions_together_and_duplicates_once(run_cli, tmp_path: Path, link: str) -> None:
    """The generated library (RAW+JPEG pairs, Live Photos, sidecars, a Takeout tree with duplicates) through
    `cluster`: every companion lies beside its photo under the photo's name stem, every byte-identical copy
    is linked once per group, the photo folder stays byte-identical and OUT equals its manifest."""
    from tests.support.photolibrary import make_library

    library = make_library(tmp_path / "library")
    before = snapshot(library.root)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(library.root), "--by", "color", "--words", "red,green,blue", "--k", "2",
                      "--epochs", "1", "--out", str(out), "--link", link, "--format", "tsv",
                      "--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"])
    assert result.exit_code in (0, 3), result.stderr[-1500:]
    data = json.loads((out / ".proxysort.json").read_text())
    by_path = {e["path"]: e for e in data["files"]}
    root = library.root.resolve()
    dup_sources = {str(Path(d["source"]).resolve().relative_to(root)) for d in data["duplicates"]}
    groups: dict[str, set[str]] = {}
    for i in library.items:
        if i.duplicate_of:
            groups.setdefault(i.duplicate_of, {i.duplicate_of}).add(i.rel)
    assert dup_sources == {r for g in groups.values() for r in g} - {min(g) for g in groups.values()}  # one each
    # a duplicate's own companions (e.g. its Takeout .json) are not linked: its photo is not
    expected_companions = {(p, c) for p, cs in library.companions().items() for c in cs if p not in dup_sources}
    linked = set()
    for e in by_path.values():
        if e.get("companion_of"):
            photo = by_path[e["companion_of"]]
            linked.add((str(Path(photo["source"]).resolve().relative_to(root)), str(Path(e["source"]).resolve().relative_to(root))))
            assert Path(e["path"]).parent == Path(e["companion_of"]).parent  # beside the photo
            # IMG_1.jpg.xmp, IMG_1.xmp; and Takeout's copy IMG_1(1).jpg keeps its IMG_1.jpg(1).json
            stem = re.sub(r"\(\d+\)$", "", Path(e["companion_of"]).name.split(".")[0])
            assert Path(e["path"]).name.startswith(stem), (e["path"], e["companion_of"])
    assert linked == expected_companions
    assert problems(out) == []
    assert_unchanged(before, library.root)
