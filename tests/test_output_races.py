"""Races against the output tree: folders swapped for symlinks into the photos while proxysort writes and
removes, and several runs writing one output folder at the same instant."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxysort.output import LINK_MODES
from tests.support.outrace import concurrent_writers, swap_race


@pytest.mark.parametrize("link", LINK_MODES)
def test_folders_swapped_for_symlinks_mid_write_never_reach_the_photos(tmp_path: Path, link: str) -> None:
    # How many swaps land depends on thread scheduling: run rounds until the race was exercised enough.
    swaps = runs = 0
    for round_ in range(6):
        result = swap_race(tmp_path / f"round{round_}", link, iterations=40, n_photos=30,
                           seed=10 * round_ + LINK_MODES.index(link))
        assert not result.photo_changes, "proxysort wrote or removed through a swapped folder:\n" + "\n".join(result.photo_changes[:20])
        assert not result.outside, result.outside
        swaps, runs = swaps + result.swaps, runs + result.iterations - result.refused
        if swaps >= 20 and runs >= 1:
            break
    assert swaps >= 20, f"the attacker only managed {swaps} swaps: the race was not exercised"
    assert runs >= 1, "every run was refused: writing was not exercised"


@pytest.mark.parametrize(
    "concepts",
    [["color", "color"], ["color", "species", "mood"], ["color", "color", "species"]],
    ids=["same-concept-twice", "three-concepts", "mixed"],
)
def test_runs_into_one_folder_at_once_leave_it_equal_to_its_manifest(tmp_path: Path, concepts: list[str]) -> None:
    result = concurrent_writers(tmp_path, concepts, n_photos=150)
    assert result.codes == [0] * len(concepts), result.errors
    assert result.problems == [], result.problems[:20]
    assert result.trees == sorted(set(concepts)), "a run removed another concept's tree"


@pytest.fixture(scope="module")
def forker():
    from tests.support.crashloop import Forker

    return Forker()


def test_three_cluster_commands_into_one_folder_at_once(tmp_path: Path, forker) -> None:
    """The real command: two runs by color and one by species start together; all finish, OUT equals its
    manifest, and both concepts' trees are there."""
    from tests.support.outrace import concurrent_cluster_runs

    result = concurrent_cluster_runs(tmp_path, ["color", "species", "color"], forker)
    assert result.codes == [0, 0, 0], result.errors
    assert result.problems == [], result.problems[:20]
    assert result.trees == ["color", "species"]


def test_a_run_waits_for_the_lock_then_gives_up_with_one_sentence(tmp_path: Path) -> None:
    from proxysort.errors import OutputError
    from proxysort.outdir import OutDir
    from proxysort.output import plan_tree, write_tree
    from proxysort.progress import Reporter

    class Said(Reporter):
        lines: list[str] = []

        def warning(self, text: str) -> None:
            self.lines.append(text)

    photo = tmp_path / "photos" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"x" * 10)
    out = tmp_path / "out"
    out.mkdir()
    with OutDir.open(out) as other, other.lock():  # another run is writing
        with pytest.raises(OutputError, match="locked for more than") as err:
            write_tree(plan_tree(out, {"c": [(str(photo), "a")]}, photo_roots=[photo.parent]), Said(), lock_timeout=0.3)
    assert "\n" not in str(err.value)
    assert any("waiting" in line for line in Said.lines)
    write_tree(plan_tree(out, {"c": [(str(photo), "a")]}, photo_roots=[photo.parent]), lock_timeout=0.3)  # free again
    assert (out / "c" / "a" / "a.jpg").is_symlink()
