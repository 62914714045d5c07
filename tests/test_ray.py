"""``index`` and ``cluster`` on Ray give what the local path gives (issue 16).

One local Ray cluster for the whole module, on loopback only (2 CPUs, no dashboard); never any other
address. Select these tests with ``-m ray``, leave them out with ``-m 'not ray'``.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.support.photos import TINY_CONFIG, make_photo

# Before Ray is imported: every Ray service of the test cluster binds to 127.0.0.1, not the machine's IP.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import ray  # noqa: E402

from proxysort import distributed  # noqa: E402
from proxysort.indexer import index as local_index  # noqa: E402
from proxysort.progress import Reporter  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("one_torch_thread")]

COLORS = [(220, 20, 20), (20, 200, 20), (20, 20, 220), (230, 230, 30)]


@pytest.fixture(scope="module")
def ray_cluster():
    # address="local": always a new cluster of this process, whatever RAY_ADDRESS says.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    yield distributed.connect("auto")  # joins the running test cluster, never another one
    ray.shutdown()


class Recorder(Reporter):
    """Keeps every skip report, in order; ``on_row`` runs after each photo the driver receives."""

    def __init__(self, on_row=None) -> None:
        self.skips: list[tuple[str, str]] = []
        self.rows = 0
        self.on_row = on_row

    def skipped(self, path, reason) -> None:
        self.skips.append((str(path), reason))

    def progress(self, description, total=None):
        import contextlib

        @contextlib.contextmanager
        def bar():
            def advance(n=1, **fields):
                if description == "indexing":
                    self.rows += n
                    if self.on_row is not None:
                        self.on_row(self)

            yield advance

        return bar()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """24 photos in four colours over two folders, plus the bad files the local index skips."""
    root = tmp_path_factory.mktemp("ray") / "photos"
    for i in range(24):
        make_photo(root / f"d{i % 2}" / f"img{i:02d}.{['jpg', 'png', 'webp'][i % 3]}", COLORS[i % 4], size=(60 + i, 44 + i % 5))
    (root / "bad").mkdir()
    (root / "bad" / "empty.jpg").write_bytes(b"")
    (root / "bad" / "notes.png").write_text("not a picture")
    whole = (root / "d0" / "img00.jpg").read_bytes()
    (root / "bad" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory, tiny_spec):
    """The local index of ``photos``: what every Ray run must reproduce."""
    rec = Recorder()
    result = local_index(photos, model=tiny_spec, cache_dir=tmp_path_factory.mktemp("local-cache"), reporter=rec)
    return result, rec.skips


def _same_index(got, want) -> None:
    import numpy as np

    assert [str(p) for p in got.paths] == [str(p) for p in want.paths]
    assert float(np.abs(got.vectors - want.vectors).max()) <= 1e-6
    assert sorted(map(str, got.failures)) == sorted(map(str, want.failures))


def test_index_on_ray_equals_local_and_skips_the_same_files(ray_cluster, photos, reference, tiny_spec, tmp_path):
    want, want_skips = reference
    rec = Recorder()
    got = distributed.index(photos, ray="auto", model=tiny_spec, cache_dir=tmp_path / "cache", reporter=rec, batch_size=4)
    _same_index(got, want)
    assert rec.skips == want_skips and len(want_skips) == 3  # same lines, same reasons, same order
    assert (got.summary.new, got.summary.failed, got.summary.embedded) == (24, 3, 24)
    again = distributed.index(photos, ray="auto", model=tiny_spec, cache_dir=tmp_path / "cache", reporter=Recorder())
    assert (again.summary.unchanged, again.summary.embedded, again.summary.failed) == (24, 0, 3)


def test_killed_driver_resumes_without_re_embedding(ray_cluster, photos, reference, tiny_spec, tmp_path):
    class DriverKilled(Exception):
        pass

    def die(rec: Recorder) -> None:
        if rec.rows == 10:
            raise DriverKilled

    with pytest.raises(DriverKilled):
        distributed.index(
            photos, ray="auto", model=tiny_spec, cache_dir=tmp_path / "cache", reporter=Recorder(die),
            batch_size=4, commit_every=4,
        )
    resumed = distributed.index(photos, ray="auto", model=tiny_spec, cache_dir=tmp_path / "cache", reporter=Recorder())
    _same_index(resumed, reference[0])
    done = resumed.summary.unchanged
    assert done >= 4  # at least one committed batch survived the dead driver ...
    assert resumed.summary.embedded == 24 - done  # ... and none of it was embedded again


def _embedder_pids() -> set[int]:
    """Processes of the embedding actors (Ray names a process after its actor)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::") and b"Embedder" in cmd:
                pids.add(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's actor processes through /proc")
def test_a_worker_killed_mid_run_is_replaced_and_the_index_completes(ray_cluster, photos, reference, tiny_spec, tmp_path):
    """kill -9 the embedding actor as soon as it exists: every embedding is still pending then (the driver
    has received nothing), so the run can only complete through a replacement actor."""
    import threading
    import time

    killed: list[tuple[int, int]] = []  # (pid, photos the driver had received by then)
    replacements: set[int] = set()
    stop = threading.Event()
    rec = Recorder()

    def assassin() -> None:
        while not stop.is_set():
            pids = _embedder_pids()
            if not killed and pids:
                pid = min(pids)
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, rec.rows))
            elif killed:
                replacements.update(pids - {killed[0][0]})
            time.sleep(0.02)

    thread = threading.Thread(target=assassin, daemon=True)
    thread.start()
    try:
        got = distributed.index(photos, ray="auto", model=tiny_spec, cache_dir=tmp_path / "cache", reporter=rec, batch_size=4)
    finally:
        stop.set()
        thread.join()
    assert killed and killed[0][1] == 0, "the embedding actor was not killed before it delivered anything"
    assert replacements, "no replacement embedding actor was seen"
    _same_index(got, reference[0])
    assert got.summary.embedded == 24


def test_photos_missing_on_a_node_give_one_clear_error(ray_cluster, tmp_path):
    from proxysort.distributed.session import NotShared, check_shared

    there = make_photo(tmp_path / "p" / "a.jpg")
    check_shared(ray_cluster, [there.parent], [(str(there), there.stat().st_size)])
    with pytest.raises(NotShared) as missing:
        check_shared(ray_cluster, [tmp_path / "not-mounted"], [])
    assert re.fullmatch(r"The photos are not visible on Ray node \S+ \(\S+ is missing\); every node must see "
                        r"them at the same path, through a shared mount such as NFS\.", str(missing.value))
    with pytest.raises(NotShared, match=r"\(\S+ has \d+ bytes there but 1 on the driver\)"):
        check_shared(ray_cluster, [there.parent], [(str(there), 1)])


def test_cluster_on_ray_gives_the_local_tree(ray_cluster, photos, tiny_clip, tmp_path):
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, sort, write_folders

    # Batches of 8 photos, so the 24 photos are learned in slices on two workers.
    by = By("color", words=["red", "green", "blue", "yellow"], k=3)
    training = ProxyConfig(mode="subspace", batch_size=8, epochs=4, seed=3)
    local = sort(photos, by, model=tiny_clip, training=training, cache_dir=tmp_path / "c-local")
    remote = sort(photos, by, model=tiny_clip, training=training, cache_dir=tmp_path / "c-ray", ray="auto")
    assert remote.paths == local.paths
    (lc,), (rc,) = local.concepts, remote.concepts
    assert rc.labels.tolist() == lc.labels.tolist() and rc.names == lc.names
    write_folders(local, tmp_path / "out-local")
    write_folders(remote, tmp_path / "out-ray")
    assert _tree(tmp_path / "out-ray") == _tree(tmp_path / "out-local")


def _tree(out: Path) -> list[tuple[str, str]]:
    return sorted(
        (str(p.relative_to(out)), os.readlink(p) if p.is_symlink() else "")
        for p in out.rglob("*") if p.name != ".proxysort.json"
    )


def test_proxies_learned_in_slices_equal_one_run(ray_cluster, reference, tiny_clip):
    """The property sliced learning relies on: each photo's proxy does not depend on the other photos."""
    import numpy as np

    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    vectors = reference[0].vectors
    concepts = [Concept("color", ("red", "green", "blue", "yellow"))]
    config = ProxyConfig(mode="subspace", batch_size=8, epochs=4)
    whole = learn_proxies(vectors, concepts, tiny_clip, config)[0]
    sliced = distributed.learn_proxies(vectors, concepts, tiny_clip, config, ray="auto", shards=3)[0]
    for name, value in whole.features.items():
        # scoremix and imagemix are centred and scaled over the whole set (made again after the join):
        # dividing by scoremix's small total variance magnifies the scores' float rounding (~1e-7) tenfold.
        tolerance = 1e-5 if name in ("scoremix", "imagemix") else 1e-6
        assert np.abs(sliced.features[name] - value).max() <= tolerance, name
    assert np.abs(sliced.zero_shot - whole.zero_shot).max() <= 1e-6


def test_slices_learned_through_the_proxy_cache_are_kept_and_equal_the_local_result(ray_cluster, reference, tiny_clip,
                                                                                   tmp_path):
    """A method kept as rows per photo: the driver makes the joined result from the slices' rows as a local
    run makes it, so the cache can keep them (a result joined feature by feature gave no rows back) and a
    re-run is served from them; the result is the local cached one."""
    import functools

    import numpy as np

    from proxysort.proxy import Concept, ProxyConfig
    from proxysort.proxycache import learn_cached

    vectors = reference[0].vectors
    concepts = [Concept("color", ("red", "green", "blue", "yellow"))]
    config = ProxyConfig(mode="subspace", batch_size=8, epochs=4)  # the refine engine: per photo, so sliced
    sliced = functools.partial(distributed.learn_proxies, ray="auto", shards=3)
    local = learn_cached(vectors, concepts, tiny_clip, config, None, tmp_path / "local.sqlite")[0]
    first = learn_cached(vectors, concepts, tiny_clip, config, None, tmp_path / "ray.sqlite", learner=sliced)[0]
    again = learn_cached(vectors, concepts, tiny_clip, config, None, tmp_path / "ray.sqlite", learner=sliced)[0]
    assert set(first.features) == set(local.features) == set(again.features)
    for name in local.features:
        tolerance = 1e-5 if name in ("scoremix", "imagemix") else 1e-6  # as for slices without the cache
        assert np.abs(first.feature(name) - local.feature(name)).max() <= tolerance, name
        assert np.array_equal(again.feature(name), first.feature(name)), name


def test_methods_that_couple_photos_are_not_sliced(ray_cluster, reference, tiny_clip):
    """DProxy prunes words by k-means usage over all photos: slices would change it, so it runs in one piece."""
    import numpy as np

    from proxysort.learn.registry import method
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    vectors = reference[0].vectors
    concepts = [Concept("color", ("red", "green", "blue", "yellow", "pink", "brown"))]
    config = ProxyConfig(mode="dproxy", batch_size=8, epochs=4)
    assert not method("dproxy").per_photo(config)
    whole = learn_proxies(vectors, concepts, tiny_clip, config, k=3)[0]
    remote = distributed.learn_proxies(vectors, concepts, tiny_clip, config, k=3, ray="auto", shards=3)[0]
    assert remote.concept.words == whole.concept.words
    for name, value in whole.features.items():
        assert np.abs(remote.features[name] - value).max() <= 1e-6, name


def test_cli_index_and_cluster_with_ray_print_what_local_runs_print(ray_cluster, photos, run_cli, tmp_path):
    model = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]
    runs = {}
    for name, extra in (("local", []), ("ray", ["--ray", "auto"])):
        cache = ["--cache-dir", str(tmp_path / f"cache-{name}")]
        index = run_cli(["index", str(photos), *model, *cache, *extra])
        out = tmp_path / f"out-{name}"
        sort = run_cli(["cluster", str(photos), "--by", "color", "--words", "red,green,blue,yellow", "--k", "3",
                        "--epochs", "2", "--out", str(out), *model, *cache, *extra])
        runs[name] = (index, sort, out)
    (li, ls, lout), (ri, rs, rout) = runs["local"], runs["ray"]
    assert ri.exit_code == li.exit_code == 3  # three photos skipped, the rest indexed
    skips = [line for line in li.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(skips) == 3 and [line for line in ri.stderr.splitlines() if line.startswith("skipped: ")] == skips
    # The same three files again in `cluster`: skipped for the same reason in an earlier run, so one summary
    # line and exit 0 (issue 24: known bad files stop failing scripts), on Ray as locally.
    assert rs.exit_code == ls.exit_code == 0
    still = [line for line in ls.stderr.splitlines() if "still skipped" in line]
    assert len(still) == 1 and [line for line in rs.stderr.splitlines() if "still skipped" in line] == still
    assert rs.stdout.replace(str(rout), "OUT") == ls.stdout.replace(str(lout), "OUT")
    assert _tree(rout) == _tree(lout)


def test_an_unreachable_head_is_one_sentence_in_seconds():
    from proxysort.distributed.session import _reachable
    from proxysort.errors import UsageError

    with pytest.raises(UsageError, match=r"^No Ray cluster answers at 127\.0\.0\.1:1 \(connection refused\); start one"):
        _reachable("127.0.0.1:1")
    with pytest.raises(UsageError, match="`ray` must be auto, local or HOST:PORT"):
        _reachable("nonsense")


def test_the_default_sort_scores_every_photo_on_the_workers(ray_cluster, photos, tiny_clip, tmp_path, monkeypatch):
    """With `ray`, the default method's per-photo passes (each photo's cosines with the words, imagemix's
    moments and image columns, naming's cosines) run in Ray tasks that read the store themselves: the driver
    never reads a vector (reading one fails the test), and the result is the local one: same groups and
    names, features equal up to the float rounding of summing the moments in other blocks."""
    import numpy as np

    from proxysort.rows import StoredRows
    from proxysort.sorting import By, sort

    by = By("color", words=["red", "green", "blue", "yellow"], k=3)
    cache = tmp_path / "cache"
    local = sort(photos, by, model=tiny_clip, cache_dir=cache)  # also keeps the words' features: the Ray run
    # below is served from the store, as a re-run is
    names = ("imagemix", "scoremix", "scores", "probs")
    want = {name: local.concepts[0].proxy.feature(name) for name in names}  # made before the driver may not read
    real = distributed.on_workers
    tasks: list[int] = []

    def spread(rows, ray, reporter):
        out = real(rows, ray, reporter, rows_per_task=5)  # 24 photos: five tasks per pass
        assert isinstance(out, distributed.scoring.RayRows)
        tasks.append(len(rows))
        return out

    def driver_read(self, size=0):
        raise AssertionError("the driver read the photos' vectors")

    monkeypatch.setattr(distributed, "on_workers", spread)
    monkeypatch.setattr(StoredRows, "blocks", driver_read)
    remote = sort(photos, by, model=tiny_clip, cache_dir=cache, ray="auto")
    assert tasks == [24]
    (lc,), (rc,) = local.concepts, remote.concepts
    assert rc.feature == lc.feature == "imagemix"
    assert rc.labels.tolist() == lc.labels.tolist() and rc.names == lc.names
    for name in names:
        np.testing.assert_allclose(rc.proxy.feature(name), want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert np.array_equal(rc.proxy.zero_shot.argmax(1), lc.proxy.zero_shot.argmax(1))
    np.testing.assert_allclose(rc.scores, lc.scores, rtol=1e-5, atol=1e-5)


def test_a_store_no_worker_sees_is_scored_on_the_driver(ray_cluster, photos, tiny_clip, tmp_path, monkeypatch):
    """A cache folder that is not shared: one line says so, and the driver reads the rows as without Ray."""
    from proxysort.distributed import scoring
    from proxysort.rows import StoredRows

    lines: list[str] = []

    class Said(Reporter):
        def message(self, text: str) -> None:
            lines.append(text)

    indexed = local_index(photos, model=tiny_clip, cache_dir=tmp_path / "cache", load_vectors=False)
    assert isinstance(indexed.vectors, StoredRows)
    assert scoring._unseen(ray_cluster, indexed.vectors.store_file) is None  # this cluster's one node sees it
    monkeypatch.setattr(scoring, "_unseen", lambda session, store: f"elsewhere ({store} is missing)")
    rows = distributed.on_workers(indexed.vectors, "auto", Said())
    assert type(rows) is StoredRows and rows is indexed.vectors
    assert len(lines) == 1 and "the cache is not visible on Ray node" in lines[0] and "is missing" in lines[0]
