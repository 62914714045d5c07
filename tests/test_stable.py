"""Keeping groups across runs (stable.py) and k-means constrained by the user's placements
(groups.constrained_kmeans, stable.pin_clusters), on synthetic features whose answer is known."""

from __future__ import annotations

import numpy as np

from proxysort.groups import constrained_kmeans, kmeans
from proxysort.manifest import GroupRecord, Memory
from proxysort.stable import changed_settings, pin_clusters, place, remember, setup_of, user_names

SETUP = setup_of(identity="m", mode="dproxy", feature="scoremix", words=["a", "b"], k=2, seed=0)


def _blobs(rng: np.random.Generator, centres: list[list[float]], n: int, scale: float = 0.05) -> np.ndarray:
    return np.concatenate([np.asarray(c) + rng.normal(0, scale, (n, len(c))) for c in centres]).astype(np.float32)


def _memory(x: np.ndarray, labels: np.ndarray, paths: list[str]) -> Memory:
    return remember(x, labels, ["a", "b"], paths, ["id"] * len(paths), setup=SETUP, spherical=False)


def test_old_photos_keep_their_group_and_new_ones_join_the_nearest() -> None:
    rng = np.random.default_rng(0)
    x = _blobs(rng, [[0, 0], [1, 1]], 10)
    labels = np.repeat([0, 1], 10)
    paths = [f"p{i}" for i in range(20)]
    memory = _memory(x, labels, paths)
    # Old photos keep their group even where their features now say otherwise (nothing reshuffles).
    x2 = np.concatenate([x, _blobs(rng, [[0, 0], [1, 1]], 2)])
    x2[[0, 10]] = x2[[10, 0]]
    placed = place(x2, [*paths, "n0", "n1", "n2", "n3"], ["id"] * 24, memory, spherical=False)
    assert placed is not None
    assert placed.labels[:20].tolist() == labels.tolist()
    assert placed.labels[20:].tolist() == [0, 0, 1, 1]
    assert (placed.new, placed.unchanged, placed.moved) == (4, 20, 0) and placed.misfits <= 1 and placed.fits


def test_changed_photo_is_placed_again_and_counted_as_moved() -> None:
    rng = np.random.default_rng(1)
    x = _blobs(rng, [[0, 0], [1, 1]], 5)
    paths = [f"p{i}" for i in range(10)]
    memory = _memory(x, np.repeat([0, 1], 5), paths)
    x2 = x.copy()
    x2[0] = [1, 1]  # photo p0 was edited into one like group b's
    ids = ["other", *["id"] * 9]
    placed = place(x2, paths, ids, memory, spherical=False)
    assert placed is not None and placed.labels[0] == 1 and (placed.new, placed.unchanged, placed.moved) == (0, 9, 1)


def test_new_photos_that_fit_no_group_are_counted() -> None:
    rng = np.random.default_rng(2)
    x = _blobs(rng, [[0, 0], [1, 1]], 10)
    paths = [f"p{i}" for i in range(20)]
    memory = _memory(x, np.repeat([0, 1], 10), paths)
    far = _blobs(rng, [[3, -2]], 6)  # a value the groups were never made for
    placed = place(np.concatenate([x, far]), [*paths, *(f"n{i}" for i in range(6))], ["id"] * 26, memory,
                   spherical=False)
    assert placed is not None and placed.misfits == 6 and not placed.fits
    near = _blobs(rng, [[0, 0]], 6)
    placed = place(np.concatenate([x, near]), [*paths, *(f"n{i}" for i in range(6))], ["id"] * 26, memory,
                   spherical=False)
    assert placed is not None and placed.misfits <= 1 and placed.fits


def test_pins_hold_and_pull_the_centre() -> None:
    rng = np.random.default_rng(3)
    x = _blobs(rng, [[0, 0], [1, 1]], 10)
    paths = [f"p{i}" for i in range(20)]
    memory = _memory(x, np.repeat([0, 1], 10), paths)
    # The user placed three photos of the middle ground in group b: a new one like them follows.
    middle = _blobs(rng, [[0.45, 0.45]], 4, scale=0.01)
    xs = np.concatenate([x, middle])
    pinned = Memory(memory.setup, memory.groups, memory.members, (("m0", 1), ("m1", 1), ("m2", 1)))
    without = place(xs, [*paths, "m0", "m1", "m2", "m3"], ["id"] * 24, memory, spherical=False)
    placed = place(xs, [*paths, "m0", "m1", "m2", "m3"], ["id"] * 24, pinned, spherical=False)
    assert without is not None and without.labels[20:].tolist() == [0, 0, 0, 0]
    assert placed is not None and placed.labels[20:].tolist() == [1, 1, 1, 1]


def test_constrained_kmeans_keeps_pins_and_pulls_their_group() -> None:
    rng = np.random.default_rng(4)
    x = _blobs(rng, [[0, 0], [1, 0]], 20)
    middle = _blobs(rng, [[0.5, 0.0]], 6, scale=0.01)  # halfway: plain k-means splits or takes them either way
    xs = np.concatenate([x, middle])
    start = np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    plain = constrained_kmeans(xs, start, {}, spherical=False)
    pinned = constrained_kmeans(xs, start, {40: 1, 41: 1, 42: 1}, spherical=False)
    assert pinned.labels[[40, 41, 42]].tolist() == [1, 1, 1]
    assert (pinned.labels[43:] == 1).sum() > (plain.labels[43:] == 1).sum()  # the unplaced ones followed
    against = constrained_kmeans(xs, start, {0: 1}, spherical=False)  # a pin against the data holds
    assert against.labels[0] == 1 and (against.labels[1:20] == 0).all()


def test_pins_find_their_cluster_by_name_else_by_majority_else_a_new_one() -> None:
    rng = np.random.default_rng(6)
    x = _blobs(rng, [[0, 0], [1, 0], [0, 1]], 10)
    km = kmeans(x, 3, spherical=False)
    names = ["a", "b", "c"]
    named = {n: int(km.labels[i * 10]) for i, n in enumerate(["p", "q", "r"])}  # blob -> its cluster
    groups = (GroupRecord(names[named["q"]], (), 0.0),  # a word-named group: follows the name, not the pins
              GroupRecord("mine", (), 0.0, by_user=True),  # the user's: the cluster holding most of its pins
              GroupRecord("other", (), 0.0))  # not the user's, no such name: a cluster of its own
    memory = Memory(groups=groups)
    pins = {0: 0, 20: 1, 21: 1, 11: 1, 5: 2}
    of_id = pin_clusters(memory, pins, km.labels, names)
    assert of_id == {0: named["q"], 1: named["r"], 2: 3}


def test_user_names_survive_a_fresh_clustering() -> None:
    rng = np.random.default_rng(5)
    x = _blobs(rng, [[0, 0], [1, 1]], 5)
    paths = [f"p{i}" for i in range(10)]
    memory = _memory(x, np.repeat([0, 1], 5), paths)
    groups = (memory.groups[0], memory.groups[1].__class__("crimson", memory.groups[1].centre, 0.1, by_user=True))
    memory = Memory(memory.setup, groups, memory.members)
    labels = np.repeat([1, 0], 5)  # the new clustering numbers the groups the other way round
    names, by_user = user_names(memory, {}, ["b", "a"], labels, paths)
    assert names == ["crimson", "a"] and by_user == [True, False]


def test_setup_changes_are_named() -> None:
    memory = Memory(setup=SETUP)
    assert changed_settings(memory, SETUP) == []
    other = setup_of(identity="m", mode="dproxy", feature="scoremix", words=["a", "c"], k=3, seed=0)
    assert changed_settings(memory, other) == ["k", "words"]


def test_centres_are_measured_in_the_features_of_this_run() -> None:
    rng = np.random.default_rng(7)
    x = _blobs(rng, [[0, 0], [1, 1]], 10)
    paths = [f"p{i}" for i in range(20)]
    memory = _memory(x, np.repeat([0, 1], 10), paths)
    # The features moved as a whole (the proxies of this run differ): stored centres would misplace the new
    # photo; centres measured on the kept photos place it with the photos it is like.
    shifted = np.concatenate([x + [3, -3], [[4, -2]]]).astype(np.float32)
    placed = place(shifted, [*paths, "n0"], ["id"] * 21, memory, spherical=False)
    assert placed is not None and placed.labels[20] == 1 and placed.misfits == 0
    lost = Memory(memory.setup, memory.groups, ())  # no photo left and no stored centre of this size
    lost = Memory(lost.setup, tuple(GroupRecord(g.name, (0.0,), 0.1) for g in lost.groups))
    assert place(shifted[20:], ["n0"], ["id"], lost, spherical=False) is None
