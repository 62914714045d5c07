"""Issue 24, for photographers: arguments checked before any work, counts that add up, plain help, known
bad files that no longer fail scripts, and the album path kept under each group. Through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.photos import TINY_CONFIG

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu", "--epochs", "2"]
WORDS = ["--by", "color", "--words", "red,green,blue"]
TWO = ["--by", "color", "--words", "red,green,blue", "--by", "shape", "--words", "round,square"]


# -- arguments checked before any work ------------------------------------------------------------------


def test_one_k_per_concept_or_one_for_all(run_cli, photo_folder: Path) -> None:
    each = run_cli(["cluster", str(photo_folder), *TWO, "--k", "3", "--k", "2", "--no-folders", "--json", *MODEL])
    assert each.exit_code == 0, each.stderr
    assert "color: 12 photos in 3 groups" in each.stderr and "shape: 12 photos in 2 groups" in each.stderr
    same = run_cli(["cluster", str(photo_folder), *TWO, "--k", "2", "--no-folders", "--json", *MODEL])
    assert same.exit_code == 0, same.stderr
    assert "color: 12 photos in 2 groups" in same.stderr and "shape: 12 photos in 2 groups" in same.stderr


def test_too_many_k_is_a_usage_error_before_anything_is_read(run_cli, photo_folder: Path) -> None:
    three = run_cli(["cluster", str(photo_folder), *TWO, "--k", "3", "--k", "2", "--k", "4", *MODEL])
    assert three.exit_code == 2
    assert "give --k once (for all of them) or 2 times" in three.stderr
    assert "scanning" not in three.stderr
    one = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--k", "2", *MODEL])
    assert one.exit_code == 2 and "--k" in one.stderr and "scanning" not in one.stderr


def test_k_larger_than_the_photos_fails_before_any_photo_is_embedded(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "500", *MODEL])
    assert result.exit_code == 2
    assert "--k 500 asks for more clusters than there are photos (12)" in result.stderr
    assert "indexed:" not in result.stderr and "indexing" not in result.stderr
    status = run_cli(["status", str(photo_folder)])
    assert "not indexed yet" in status.stdout or "0 indexed" in status.stdout, status.stdout


def test_one_word_is_refused_before_any_photo_is_read(run_cli, photo_folder: Path) -> None:
    for words in ("red", "red,red, red"):
        result = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", words, "--k", "2", *MODEL])
        assert result.exit_code == 2, result.stderr
        assert "needs at least two different candidate words, got 1" in result.stderr
        assert "scanning" not in result.stderr and "indexed:" not in result.stderr
    status = run_cli(["status", str(photo_folder)])
    assert "not indexed yet" in status.stdout or "0 indexed" in status.stdout, status.stdout


def test_a_photo_given_as_the_folder_is_told_about_the_folder_argument(run_cli, photo_folder: Path) -> None:
    photo = sorted(photo_folder.rglob("img*.jpg"))[0]
    result = run_cli(["cluster", str(photo), *WORDS, "--k", "2", *MODEL])
    assert result.exit_code == 2
    assert "the photo folder argument (DIR) must be a folder" in result.stderr and str(photo.parent) in result.stderr
    assert "--out" not in result.stderr and "scanning" not in result.stderr
    assert sorted(os.listdir(photo.parent.parent)) == ["a", "b"]  # nothing written beside the photos


def test_an_unknown_concept_says_at_the_end_that_its_groups_are_only_numbered(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), "--by", "zorblaxity", "--k", "2", "--llm", "off", *MODEL])
    assert result.exit_code == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("warning: zorblaxity: proxysort knows no words for 'zorblaxity'"), result.stderr
    assert "(zorblaxity-1 … zorblaxity-2)" in last and "give --words" in last
    person = run_cli(["cluster", str(photo_folder), "--by", "person", "--k", "2", "--llm", "off", "--no-folders", *MODEL])
    assert person.exit_code == 0 and "knows no words" not in person.stderr  # numbered by design, said up front


# -- where a photo came from ------------------------------------------------------------------------------


def _library(root: Path) -> None:
    """Albums as a photographer keeps them, with a Takeout copy and its sidecar, and a hostile album name."""
    from tests.support.photos import make_photo

    make_photo(root / "2019" / "Summer holiday" / "IMG_1.jpg", (220, 20, 20), size=(64, 48))
    make_photo(root / "2019" / "Summer holiday" / "IMG_2.jpg", (20, 200, 20), size=(65, 48))
    make_photo(root / "Takeout" / "IMG_2001.JPG", (220, 20, 20), size=(66, 48))
    make_photo(root / "Takeout" / "IMG_2001(1).JPG", (220, 30, 20), size=(67, 48))
    (root / "Takeout" / "IMG_2001.JPG.json").write_text("{}")
    (root / "Takeout" / "IMG_2001.JPG(1).json").write_text("{}")
    make_photo(root / "IMG_2001(1).JPG", (220, 25, 20), size=(68, 48))  # same name as the Takeout copy
    (root / "IMG_2001.JPG(1).json").write_text("{}")
    make_photo(root / " .. " / "IMG_3.jpg", (20, 20, 220), size=(69, 48))


def test_keep_folders_keeps_each_album_under_its_group(run_cli, tmp_path: Path) -> None:
    from tests.support.treesnap import assert_unchanged, snapshot

    photos = tmp_path / "photos"
    _library(photos)
    before = snapshot(photos)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photos), "--by", "color", "--words", "red,green,blue", "--k", "1",
                      "--keep-folders", "--out", str(out), "-q", *MODEL])
    assert result.exit_code == 0, result.stderr
    group = out / "color" / next(p.name for p in (out / "color").iterdir())
    made = sorted(str(p.relative_to(group)) for p in group.rglob("*") if not p.is_dir())
    assert made == sorted([
        "2019/Summer holiday/IMG_1.jpg", "2019/Summer holiday/IMG_2.jpg",
        "Takeout/IMG_2001.JPG", "Takeout/IMG_2001.JPG.json",
        "Takeout/IMG_2001(1).JPG", "Takeout/IMG_2001.JPG(1).json",  # Takeout's own pairing, kept
        "IMG_2001(1).JPG", "IMG_2001.JPG(1).json",
        "folder/IMG_3.jpg",  # ' .. ' is no folder name to write: sanitised
    ]), made
    assert (group / "2019" / "Summer holiday" / "IMG_1.jpg").resolve() == (photos / "2019" / "Summer holiday" / "IMG_1.jpg")
    assert_unchanged(before, photos)
    clean = run_cli(["clean", str(out)])
    assert clean.exit_code == 0, clean.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_a_renamed_takeout_copy_keeps_takeouts_sidecar_pattern(run_cli, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _library(photos)
    out = tmp_path / "sorted"
    result = run_cli(["cluster", str(photos), "--by", "color", "--words", "red,green,blue", "--k", "1",
                      "--out", str(out), "-q", *MODEL])
    assert result.exit_code == 0, result.stderr
    group = out / "color" / next(p.name for p in (out / "color").iterdir())
    names = {p.name for p in group.iterdir()}
    # two photos named IMG_2001(1).JPG: the second moves to -2 before the "(1)", its sidecar with it
    assert {"IMG_2001(1).JPG", "IMG_2001.JPG(1).json", "IMG_2001-2(1).JPG", "IMG_2001-2.JPG(1).json"} <= names, names
    assert "IMG_2001(1).json" not in names and "IMG_2001-2(1).json" not in names


# -- progress in a photographer's units --------------------------------------------------------------------


def test_progress_counts_photos_never_epochs_and_says_when_the_model_loads(run_cli, photo_folder: Path) -> None:
    args = ["cluster", str(photo_folder), "--by", "color", "--words", "red,green,blue,yellow,purple,white", "--k", "3",
            "--method", "dproxy", "--no-folders", *MODEL]  # a method that learns (the default does not)
    plain = run_cli(args)
    assert plain.exit_code == 0, plain.stderr
    lines = plain.stderr.splitlines()
    assert any(line.startswith("learning which words fit: 12 photos: done (") for line in lines), plain.stderr
    loading = next(i for i, line in enumerate(lines) if line.startswith("loading model "))
    assert loading < next(i for i, line in enumerate(lines) if line.startswith("indexed:"))
    assert "epoch" not in plain.stderr and "proxies (" not in plain.stderr
    fresh = photo_folder.parent / "another-cache"  # nothing learned yet: a live bar at a terminal
    again = run_cli([*args, "--cache-dir", str(fresh)], stderr_isatty=True)
    assert again.exit_code == 0, again.stderr
    assert "epoch" not in again.stderr and "%" in again.stderr  # the bar shows a share, not a count


# -- known bad files stop failing scripts ---------------------------------------------------------------


def test_a_file_skipped_by_an_earlier_run_is_one_line_and_exit_0(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    bad = photo_folder / "a" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    args = ["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(tmp_path / "sorted"), *MODEL]
    first = run_cli(args)
    assert first.exit_code == 3 and f"skipped: {bad}:" in first.stderr
    for again in (run_cli(args), run_cli([*args, "--format", "paths", "-0", "-q"]),
                  run_cli(["index", str(photo_folder), "--model", str(TINY_CONFIG), "--pretrained", "none"])):
        assert again.exit_code == 0, again.stderr
        assert "skipped: " not in again.stderr
    still = run_cli(args)
    assert "1 file(s) still skipped, as in an earlier run; proxysort status lists them" in still.stderr
    status = run_cli(["status", str(photo_folder)])
    assert f"skipped: {bad}: " in status.stdout
    labels = tmp_path / "labels.csv"
    labels.write_text("path,color\n" + "".join(f"{p.relative_to(tmp_path)},x\n" for p in sorted(photo_folder.rglob("img*"))))
    scored = run_cli(["eval", str(photo_folder), *WORDS, "--labels", str(labels), "--seeds", "1", *MODEL])
    assert scored.exit_code == 0, scored.stderr  # eval agrees with cluster and index
    strict = run_cli([*args, "--strict"])
    assert strict.exit_code == 3 and "--strict" in strict.stderr
    # a new bad file is a new problem: exit 3, and only it is listed
    worse = photo_folder / "b" / "worse.png"
    worse.write_bytes(b"\x89PNG broken")
    new = run_cli(args)
    assert new.exit_code == 3 and f"skipped: {worse}:" in new.stderr and f"skipped: {bad}:" not in new.stderr
    scored = run_cli(["eval", str(photo_folder), *WORDS, "--labels", str(labels), "--seeds", "1", *MODEL])
    assert scored.exit_code == 0, scored.stderr  # by now both were seen before
    # a changed file is looked at again
    bad.write_bytes(b"\xff\xd8\xff still not a jpeg, and longer")
    changed = run_cli(args)
    assert changed.exit_code == 3 and f"skipped: {bad}:" in changed.stderr


# -- numbers that add up -----------------------------------------------------------------------------------


def test_summaries_count_in_one_vocabulary_that_adds_up(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    import re
    import shutil

    shutil.copy(photo_folder / "a" / "img00.jpg", photo_folder / "b" / "copy-of-img00.jpg")  # a duplicate
    (photo_folder / "a" / "img01.xmp").write_text("<x/>")  # a companion
    out = tmp_path / "sorted"
    args = ["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), *MODEL]
    plan = run_cli([*args, "--dry-run"])
    assert plan.exit_code == 0, plan.stderr
    found = re.search(r"indexed: (\d+) photos found: (\d+) embedded, (\d+) reused, (\d+) skipped", plan.stderr)
    assert found, plan.stderr
    total, embedded, reused, skipped = map(int, found.groups())
    assert total == 13 and embedded + reused + skipped == total
    assert "duplicates: 1 of these photos are byte-identical copies of others" in plan.stderr
    groups = dict(re.findall(r"([\w-]+) \((\d+)\)", plan.stderr.split("color: 13 photos in 2 groups: ")[1].splitlines()[0]))
    planned = dict(re.findall(r"dry run:   color/(\S+)/  (\d+) photos?:", plan.stderr))
    assert planned == groups, plan.stderr  # the plan counts photos, as the group summary does
    created = re.search(r"would create (\d+) files \((\d+) for photos, (\d+) companions\)", plan.stderr)
    assert created and tuple(map(int, created.groups())) == (13, 12, 1), plan.stderr  # the copy is shown once
    wrote = run_cli(args)
    assert "13 files created" in wrote.stderr and "1 byte-identical copies shown once" in wrote.stderr
    assert "indexed: 13 photos found: 0 embedded, 13 reused, 0 skipped" in wrote.stderr


def test_clean_dry_run_lists_trees_and_clean_leaves_no_empty_manifest(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    args = ["cluster", str(photo_folder), *TWO, "--k", "2", "--out", str(out), "-q", *MODEL]
    assert run_cli(args).exit_code == 0
    (out / "my notes.txt").write_text("mine")  # the user's own file in OUT
    plan = run_cli(["clean", str(out), "--dry-run"])
    assert plan.exit_code == 0, plan.stderr
    assert "dry run: color/  12 file(s)" in plan.stderr and "dry run: shape/  12 file(s)" in plan.stderr
    assert "would remove 24 file(s) in 2 tree(s)" in plan.stderr and "would remove /" not in plan.stderr
    listed = run_cli(["clean", str(out), "--dry-run", "--verbose"])
    assert listed.stderr.count("dry run: would remove ") == 24
    done = run_cli(["clean", str(out)])
    assert done.exit_code == 0, done.stderr
    assert sorted(os.listdir(out)) == ["my notes.txt"]  # no .proxysort.json of nothing beside it


def test_a_group_naming_no_group_fails_before_any_write_also_on_a_dry_run(run_cli, photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    for extra in ([], ["--dry-run"]):
        result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "2", "--out", str(out), "--group", "nosuch",
                          *extra, *MODEL])
        assert result.exit_code == 2 and "No group is named 'nosuch'" in result.stderr
        assert "dry run:" not in result.stderr and "wrote" not in result.stderr and result.stdout == ""
        assert not out.exists()


# -- plain help ------------------------------------------------------------------------------------------


def test_help_shows_the_everyday_options_first_and_the_method_in_its_own_panel() -> None:
    env = dict(os.environ, COLUMNS="120")
    proc = subprocess.run([sys.executable, "-m", "proxysort", "cluster", "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    titles = ["Options:", "Words and which photos:", "More about the output:", "Model and cache:", "Method (advanced):",
              "Performance:"]
    where = [text.index(f"\n{t}\n") for t in titles]
    assert where == sorted(where), text
    everyday = text[where[0]:where[1]]
    for flag in ("--by", "--k", "--words", "--out", "--link", "--keep-folders", "--group", "--format", "--open"):
        assert f"  {flag} " in everyday, flag
    for term in ("--method", "--feature", "--epochs", "epoch", "k-means", "silhouette", "--threads"):
        assert term not in text[:where[1]], term  # the first screen speaks a photographer's words
    assert not re.search(r"\bprox(y|ies)\b", text[:where[1]])
    method = text[where[4]:where[5]]
    assert "--method" in method and "--feature" in method and "--epochs" in method
    assert "--threads" in text[where[5]:] and "--ray" in text[where[5]:]


def test_a_folder_of_one_photo_is_sorted_not_a_traceback(run_cli, tmp_path: Path) -> None:
    from tests.support.photos import make_photo

    make_photo(tmp_path / "photos" / "only.jpg", (220, 20, 20))
    result = run_cli(["cluster", str(tmp_path / "photos"), *WORDS, "--k", "1", *MODEL])
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "color: 1 photos in 1 groups" in result.stderr
    assert (tmp_path / "photos-sorted" / "index.html").is_file()
