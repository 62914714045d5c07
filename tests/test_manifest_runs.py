"""Each concept's tree in ``OUT/.proxysort.json`` records the run that made it (``concepts[].run``).

Through the real CLI: the words, model, method, feature, k and seed of each concept, kept for one concept
when another is sorted, untouched by ``--dry-run``. At library level (milliseconds): a repeated run
rewrites nothing, other settings over an unchanged tree update the record, forged records are refused,
and manifests without records (older runs) still work.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import proxysort
from proxysort.encoders import ModelSpec
from proxysort.errors import OutputError
from proxysort.manifest import ConceptRun
from proxysort.output import OUTPUT_MANIFEST, check_output_folder, clean_tree, plan_tree, read_manifest, write_tree
from proxysort.page import PAGE_DATA_NAME
from tests.support.outcheck import manifest_json, problems
from tests.support.photos import TINY_CONFIG
from tests.support.treesnap import assert_unchanged, snapshot

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]


def _runs(out: Path) -> dict[str, dict]:
    return {c["name"]: c.get("run") for c in manifest_json(out)["concepts"]}


def test_the_cli_records_words_model_method_and_k_per_concept(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    start = datetime.now(timezone.utc).replace(microsecond=0)
    first = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue", "--k", "3",
                     "--out", str(out), *MODEL])
    assert first.exit_code == 0, first.stderr
    color = _runs(out)["color"]
    page = {c["concept"]: c for c in json.loads((out / PAGE_DATA_NAME).read_text())["concepts"]}["color"]
    assert color["words"] == page["words"] and set(color["words"]) <= {"red", "green", "blue"}
    assert (color["word_source"], color["mode"], color["feature"], color["k"]) == ("user", page["mode"], page["feature"], 3)
    assert color["mode"] == "zeroshot"  # the default method
    assert (color["model"], color["pretrained"], color["seed"]) == (str(TINY_CONFIG), "none", 0)
    assert color["identity"] == ModelSpec(str(TINY_CONFIG), "none").identity()
    assert color["proxysort_version"] == proxysort.__version__
    written = datetime.fromisoformat(color["written"])
    assert written.utcoffset() == timedelta(0) and start <= written <= datetime.now(timezone.utc)

    # A second concept, other settings: its own record; the first concept's record is kept as it was.
    second = run_cli(["cluster", str(photo_folder), "--by", "shape", "--words", "round,square", "--k", "2",
                      "--method", "zeroshot", "--seed", "5", "--out", str(out), *MODEL])
    assert second.exit_code == 0, second.stderr
    runs = _runs(out)
    assert runs["color"] == color
    assert (runs["shape"]["words"], runs["shape"]["mode"], runs["shape"]["k"], runs["shape"]["seed"]) == (
        ["round", "square"], "zeroshot", 2, 5)

    # --dry-run with other settings writes nothing, not even the record.
    before = snapshot(out)
    dry = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", "red,green", "--k", "2",
                   "--method", "zeroshot", "--out", str(out), "--dry-run", *MODEL])
    assert dry.exit_code == 0, dry.stderr
    assert_unchanged(before, out)


# ------------------------------------------------------------------------------------------ library


def _library(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "photos"
    root.mkdir()
    files = []
    for i in range(4):
        (root / f"IMG_{i}.jpg").write_bytes(f"photo {i} ".encode() * (20 + i))
        files.append(str(root / f"IMG_{i}.jpg"))
    return root, files


RUN = ConceptRun(words=("red", "green"), candidates=("red", "green", "blue"), word_source="user", model="ViT-B-32", pretrained="openai",
                 identity="ViT-B-32@openai", mode="dproxy", feature="scoremix", k=2, seed=0,
                 proxysort_version=proxysort.__version__, written="2026-01-01T10:00:00+00:00")


def _write(out: Path, root: Path, groups: dict, runs: dict[str, ConceptRun] | None) -> None:
    write_tree(plan_tree(out, groups, link="symlink", photo_roots=[root], runs=runs))


def test_a_repeated_run_keeps_its_time_and_other_settings_update_the_record(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    groups = {"color": [(f, "red" if i % 2 else "green") for i, f in enumerate(files)]}
    _write(out, root, groups, {"color": RUN})
    assert read_manifest(out).concepts[0].run == RUN
    manifest = (out / OUTPUT_MANIFEST).read_bytes()

    later = replace(RUN, written="2026-01-02T10:00:00+00:00")
    _write(out, root, groups, {"color": later})  # same settings, same tree: nothing is rewritten
    assert (out / OUTPUT_MANIFEST).read_bytes() == manifest

    moved = {"color": [(f, "red") for f in files]}
    _write(out, root, moved, {"color": later})  # same settings, tree changed: written again now
    assert read_manifest(out).concepts[0].run == later

    other = replace(later, seed=3, mode="zeroshot", written="2026-01-03T10:00:00+00:00")
    _write(out, root, moved, {"color": other})  # tree unchanged, other settings: the record says so
    assert read_manifest(out).concepts[0].run == other
    assert problems(out) == []


def test_the_record_keeps_the_words_given_beside_the_words_kept(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    """Six words for two groups: dproxy keeps fewer, and the record still holds all six, so the same
    tree can be made again from it (issue 22)."""
    out = tmp_path / "sorted"
    given = ["red", "green", "blue", "yellow", "purple", "orange"]
    done = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", ",".join(given), "--k", "2",
                    "--method", "dproxy", "--out", str(out), *MODEL])
    assert done.exit_code == 0, done.stderr
    color = _runs(out)["color"]
    assert color["candidates"] == given
    assert set(color["words"]) < set(given)


def test_a_record_from_before_candidates_reads_its_words_as_the_candidates(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, root, {"color": [(f, "red") for f in files]}, {"color": RUN})
    data = manifest_json(out)
    del data["concepts"][0]["run"]["candidates"]
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    assert read_manifest(out).concepts[0].run.candidates == RUN.words


def test_an_old_manifest_without_records_still_works(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, root, {"species": [(f, "cat") for f in files]}, None)  # as an older proxysort wrote it
    assert "run" not in manifest_json(out)["concepts"][0]
    _write(out, root, {"color": [(f, "red") for f in files]}, {"color": RUN})
    trees = {t.name: t for t in read_manifest(out).concepts}
    assert trees["species"].run is None and trees["color"].run == RUN
    check_output_folder(out, [root])
    clean_tree(out, concepts=["species"])  # clean keeps the other concept's record
    assert [(t.name, t.run) for t in read_manifest(out).concepts] == [("color", RUN)]
    _write(out, root, {"color": [(f, "blue") for f in files]}, None)  # remade without a record: none is left
    assert "run" not in manifest_json(out)["concepts"][0]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.update(k="2"), id="k-text"),
        pytest.param(lambda r: r.update(k=0), id="k-zero"),
        pytest.param(lambda r: r.update(seed=True), id="seed-bool"),
        pytest.param(lambda r: r.update(words="red"), id="words-text"),
        pytest.param(lambda r: r.update(words=["red", 2]), id="word-number"),
        pytest.param(lambda r: r.update(candidates="red"), id="candidates-text"),
        pytest.param(lambda r: r.update(candidates=[None]), id="candidate-null"),
        pytest.param(lambda r: r.update(pretrained=1), id="pretrained-number"),
        pytest.param(lambda r: r.pop("mode"), id="mode-missing"),
        pytest.param(lambda r: r.update(model="a\x00b"), id="nul-in-model"),
        pytest.param(lambda r: r.update(written="yesterday"), id="written-not-iso"),
        pytest.param(lambda r: r.clear() or r.update(bad=[]), id="run-empty"),
    ],
)
def test_a_forged_record_makes_the_folder_not_ours(tmp_path: Path, mutate) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, root, {"color": [(f, "red") for f in files]}, {"color": RUN})
    data = manifest_json(out)
    mutate(data["concepts"][0]["run"])
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    before = snapshot(out)
    with pytest.raises(OutputError, match="not proxysort's: concepts\\[\\]\\.run") as err:
        check_output_folder(out, [root])
    assert "\n" not in str(err.value)
    with pytest.raises(OutputError):
        _write(out, root, {"color": [(f, "blue") for f in files]}, {"color": RUN})
    assert_unchanged(before, out)


def test_a_record_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    root, files = _library(tmp_path)
    out = tmp_path / "out"
    _write(out, root, {"color": [(f, "red") for f in files]}, {"color": RUN})
    data = manifest_json(out)
    data["concepts"][0]["run"] = ["dproxy"]
    (out / OUTPUT_MANIFEST).write_text(json.dumps(data))
    with pytest.raises(OutputError, match="'run' is not an object"):
        check_output_folder(out, [root])
