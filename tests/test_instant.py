"""Instant re-runs (issue 25, item 3): a `cluster` whose vectors and words' text features are cached never
loads the model nor imports torch, and gives what the torch path gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from proxysort.learn.registry import METHODS
from tests.support.photos import TINY_CONFIG

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ["red", "green", "blue", "yellow"]
HEAVY = ("torch", "open_clip", "torchvision", "scipy", "sklearn")
CLI_MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]


def _sort(folder: Path, spec, cache: Path, **kwargs):
    from proxysort.sorting import By, sort

    return sort(folder, [By("color", words=WORDS, k=3)], model=spec, cache_dir=cache, **kwargs)


def _same(a, b) -> None:
    (ca,), (cb,) = a.concepts, b.concepts
    assert ca.names == cb.names and ca.words == cb.words and ca.feature == cb.feature == "imagemix"
    assert np.array_equal(ca.labels, cb.labels)
    np.testing.assert_allclose(ca.scores, cb.scores, rtol=1e-5, atol=1e-5)
    for name in ("imagemix", "scoremix", "scores", "probs", "prompt", "weights", "fused", "concat"):
        np.testing.assert_allclose(ca.proxy.feature(name), cb.proxy.feature(name), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ca.proxy.word_features, cb.proxy.word_features, atol=1e-6)
    np.testing.assert_allclose(ca.proxy.zero_shot, cb.proxy.zero_shot, atol=1e-6)


def test_a_cached_rerun_gives_the_torch_paths_result_without_loading_the_model(photo_folder, tiny_spec, cache_dir,
                                                                                 monkeypatch) -> None:
    """First run: torch (and the words' text features kept). Re-run: NumPy from the store, the model never
    loaded (loading it fails the test). Same labels, names and scores as the first run and as a run with no
    cache at all."""
    from proxysort import encoders

    first = _sort(photo_folder, tiny_spec, cache_dir)
    uncached = _sort(photo_folder, tiny_spec, cache_dir, proxy_cache=False)

    def refuse(*_a, **_k):
        raise AssertionError("a cached re-run loaded the model")

    monkeypatch.setattr(encoders, "load_clip", refuse)
    again = _sort(photo_folder, tiny_spec, cache_dir)
    _same(first, again)
    _same(uncached, again)
    assert again.model == tiny_spec


def test_a_new_word_loads_the_model_once_and_is_kept(photo_folder, tiny_spec, cache_dir, monkeypatch) -> None:
    """A word the store lacks needs the text encoder: the model is loaded (once); the run after is served."""
    from proxysort import encoders
    from proxysort.sorting import By, sort

    _sort(photo_folder, tiny_spec, cache_dir)
    loads = []
    real = encoders.load_clip
    monkeypatch.setattr(encoders, "load_clip", lambda *a, **k: loads.append(1) or real(*a, **k))
    by = [By("color", words=[*WORDS, "purple"], k=3)]
    first = sort(photo_folder, by, model=tiny_spec, cache_dir=cache_dir)
    assert loads == [1]
    again = sort(photo_folder, by, model=tiny_spec, cache_dir=cache_dir)
    assert loads == [1]
    _same(first, again)


def test_word_features_are_kept_per_model_template_and_path(tiny_clip, tmp_path) -> None:
    """All or nothing: a missing word, another template or another text path gives None."""
    from proxysort.proxycache import ProxyCache
    from proxysort.store import VectorStore

    feats = np.random.default_rng(0).standard_normal((2, tiny_clip.embed_dim)).astype(np.float32)
    with VectorStore(tmp_path / "index.sqlite") as store:
        cache = ProxyCache(store)
        assert cache.logit_scale("m") is None
        cache.write_word_features("m", "a * photo", "prefix", ["red", "blue"], feats, 42.0)
        assert np.array_equal(cache.word_features("m", "a * photo", "prefix", ["blue", "red"]), feats[::-1])
        assert cache.word_features("m", "a * photo", "prefix", ["red", "green"]) is None
        assert cache.word_features("m", "a * thing", "prefix", ["red"]) is None
        assert cache.word_features("m", "a * photo", "full", ["red"]) is None
        assert cache.word_features("other", "a * photo", "prefix", ["red"]) is None
        assert cache.logit_scale("m") == 42.0


def _cluster_in_a_fresh_interpreter(folder: Path, cache: Path, k: list[str],
                                    model: list[str] = CLI_MODEL) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = dict(os.environ, PROXYSORT_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "proxysort", "cluster", str(folder), "--by", "color",
         "--words", ",".join(WORDS), *k, *model, "--no-folders", "--format", "paths"],
        capture_output=True, text=True, env=env,
    )
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return proc, names


@pytest.mark.parametrize("k", [["--k", "3"], []], ids=["k", "automatic-k"])
def test_a_cached_cluster_run_imports_no_torch(run_cli, photo_folder, cache_dir, k) -> None:
    """The CLI in a fresh interpreter (``-X importtime`` lists every import): once the first run has cached
    the vectors and the words' text features, the re-run imports none of torch, open_clip, torchvision
    (nor scipy or scikit-learn, for names and the automatic k), and prints what the first run printed."""
    first = run_cli(["cluster", str(photo_folder), "--by", "color", "--words", ",".join(WORDS), *k,
                     *CLI_MODEL, "--no-folders", "--format", "paths"])
    assert first.exit_code == 0, first.stderr
    proc, names = _cluster_in_a_fresh_interpreter(photo_folder, cache_dir, k)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert names, proc.stderr[-2000:]
    assert "proxysort.sorting" in names
    assert sorted(n for n in names if n.split(".")[0] in HEAVY) == []
    assert proc.stdout == first.stdout


DPROXY_WORDS = [*WORDS, "purple", "brown"]  # more words than k: the word choice prunes, nodes are stored


def _dproxy(folder: Path, spec, cache: Path, k: int | None = 3, **kwargs):
    from proxysort.learn.core import ProxyConfig
    from proxysort.sorting import By, sort

    return sort(folder, [By("color", words=DPROXY_WORDS, k=k)], model=spec, cache_dir=cache,
                training=ProxyConfig(mode="dproxy", epochs=8), **kwargs)


@pytest.mark.parametrize("k", [3, None], ids=["k", "automatic-k"])
def test_a_cached_dproxy_rerun_gives_the_torch_paths_result_without_loading_the_model(
        photo_folder, tiny_spec, cache_dir, monkeypatch, k) -> None:
    """DProxy's word choice is stored as nodes: once they and every word's text feature are, the re-run walks
    the nodes and scores the photos in NumPy (the model never loaded), with the first run's words, labels
    and features, bit for bit (the first run scores in NumPy too, from the numbers it keeps); a run with
    another k learns at most where its route leaves the stored one (loading the model once), then is served."""
    from proxysort import encoders

    first = _dproxy(photo_folder, tiny_spec, cache_dir, k)
    uncached = _dproxy(photo_folder, tiny_spec, cache_dir, k, proxy_cache=False)
    real = encoders.load_clip

    def refuse(*_a, **_k):
        raise AssertionError("a cached re-run loaded the model")

    monkeypatch.setattr(encoders, "load_clip", refuse)
    again = _dproxy(photo_folder, tiny_spec, cache_dir, k)
    for want in (first, uncached):
        (cw,), (cg,) = want.concepts, again.concepts
        assert cg.words == cw.words and len(cw.words) < len(DPROXY_WORDS)  # the pruned list, the same
        assert cg.names == cw.names and cg.k == cw.k and np.array_equal(cg.labels, cw.labels)
        for name in ("scoremix", "scores", "probs"):  # both paths score in NumPy from the same words: same bits
            assert np.array_equal(cg.proxy.feature(name), cw.proxy.feature(name)), name
        assert np.array_equal(cg.proxy.word_features, cw.proxy.word_features)
        assert np.array_equal(cg.proxy.zero_shot, cw.proxy.zero_shot) and np.array_equal(cg.scores, cw.scores)
    loads = []
    monkeypatch.setattr(encoders, "load_clip", lambda *a, **kw: loads.append(1) or real(*a, **kw))
    _dproxy(photo_folder, tiny_spec, cache_dir, 2)  # another k: a node it needs may be missing, then learned
    learned = len(loads)
    _dproxy(photo_folder, tiny_spec, cache_dir, 2)
    assert learned <= 1 and len(loads) == learned


def test_a_dproxy_run_on_auto_is_served_by_the_device_auto_meant_last(photo_folder, tiny_spec, cache_dir,
                                                                       monkeypatch) -> None:
    """``--device auto`` needs torch to resolve; the store remembers what auto meant when the model was last
    loaded, so the re-run is keyed by it without torch. A store that never recorded it loads the model."""
    import dataclasses

    from proxysort import encoders
    from proxysort.proxycache import ProxyCache
    from proxysort.store import VectorStore

    auto = dataclasses.replace(tiny_spec, device="auto")
    first = _dproxy(photo_folder, auto, cache_dir)
    (db,) = cache_dir.glob("stores/*/index.sqlite")
    with VectorStore(db) as store:
        assert ProxyCache(store).auto_device() == encoders.resolve_device("auto").type
    monkeypatch.setattr(encoders, "load_clip", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    again = _dproxy(photo_folder, auto, cache_dir)
    assert again.concepts[0].words == first.concepts[0].words
    assert np.array_equal(again.concepts[0].labels, first.concepts[0].labels)
    with VectorStore(db) as store, store.transaction() as conn:
        conn.execute("DELETE FROM proxy_meta WHERE key = 'auto_device'")
    with pytest.raises(AssertionError, match="loaded"):
        _dproxy(photo_folder, auto, cache_dir)


@pytest.mark.parametrize("k", [["--k", "3"], []], ids=["k", "automatic-k"])
def test_a_cached_dproxy_cluster_run_imports_no_torch(run_cli, photo_folder, cache_dir, k) -> None:
    """``--method dproxy`` re-run in a fresh interpreter: the stored word choice and words' text features
    serve it; none of torch, open_clip, torchvision, scipy or scikit-learn is imported, same output."""
    model = [*CLI_MODEL, "--method", "dproxy", "--epochs", "8"]
    args = ["cluster", str(photo_folder), "--by", "color", "--words", ",".join(WORDS), *k, *model, "--no-folders",
            "--format", "paths"]
    first = run_cli(args)
    assert first.exit_code == 0, first.stderr
    proc, names = _cluster_in_a_fresh_interpreter(photo_folder, cache_dir, k, model)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "proxysort.sorting" in names
    assert sorted(n for n in names if n.split(".")[0] in HEAVY) == []
    assert proc.stdout == first.stdout


#: Every method whose learning the store keeps as rows per photo (declared: ``Method.rows``).
ROW_METHODS = [m.name for m in METHODS.values() if m.rows]


@pytest.mark.parametrize("method", ROW_METHODS)
def test_a_method_kept_as_rows_is_rebuilt_from_the_store_without_the_model_bit_for_bit(
        photo_folder, tiny_spec, cache_dir, monkeypatch, method) -> None:
    """Once a method's rows per photo, the words' text features and (where it reads them) token rows are
    stored, the re-run makes the result in NumPy without loading the model, from the numbers the first run
    made it from: every feature, the scores, names and labels are the first run's bits. A run without the
    cache learns the same result (the same rows, made the same way)."""
    from proxysort import encoders
    from proxysort.learn.core import ProxyConfig
    from proxysort.sorting import By, sort

    def run(**kwargs):
        return sort(photo_folder, [By("color", words=WORDS, k=3)], model=tiny_spec, cache_dir=cache_dir,
                    training=ProxyConfig(mode=method, epochs=2), **kwargs)

    first = run()
    uncached = run(proxy_cache=False)
    monkeypatch.setattr(encoders, "load_clip", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    again = run()
    (cf,), (cu,), (ca,) = first.concepts, uncached.concepts, again.concepts
    assert ca.names == cf.names and np.array_equal(ca.labels, cf.labels) and np.array_equal(ca.scores, cf.scores)
    assert set(ca.proxy.features) == set(cf.proxy.features) == set(METHODS[method].features)
    for name in cf.proxy.features:
        assert np.array_equal(ca.proxy.feature(name), cf.proxy.feature(name)), name
        np.testing.assert_allclose(cu.proxy.feature(name), cf.proxy.feature(name), rtol=1e-5, atol=1e-6, err_msg=name)
    assert np.array_equal(ca.proxy.word_features, cf.proxy.word_features)
    assert np.array_equal(ca.proxy.zero_shot, cf.proxy.zero_shot)
    assert cu.names == cf.names and np.array_equal(cu.labels, cf.labels)


@pytest.mark.slow
@pytest.mark.parametrize("method", ROW_METHODS)
def test_a_cached_cluster_run_of_a_method_kept_as_rows_imports_no_torch(run_cli, photo_folder, cache_dir,
                                                                        method) -> None:
    """Every method kept as rows per photo, re-run in a fresh interpreter once the first run has stored its
    rows, the words' text features and token rows: none of torch, open_clip, torchvision, scipy or
    scikit-learn is imported, and the output is the first run's, byte for byte."""
    model = [*CLI_MODEL, "--method", method, "--epochs", "2"]
    args = ["cluster", str(photo_folder), "--by", "color", "--words", ",".join(WORDS), "--k", "3", *model,
            "--no-folders", "--format", "paths"]
    first = run_cli(args)
    assert first.exit_code == 0, first.stderr
    proc, names = _cluster_in_a_fresh_interpreter(photo_folder, cache_dir, ["--k", "3"], model)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "proxysort.sorting" in names
    assert sorted(n for n in names if n.split(".")[0] in HEAVY) == []
    assert proc.stdout == first.stdout


def test_the_tokenizer_is_built_once(tiny_clip) -> None:
    """Importing open_clip builds its default tokenizer; a model that needs no other reuses it."""
    import open_clip

    assert tiny_clip.tokenizer is open_clip.tokenizer._tokenizer
    ids = tiny_clip.tokenizer(["a photo of a red thing"])
    assert ids.shape == (1, 77) and bool((ids == open_clip.get_tokenizer("ViT-B-32")(["a photo of a red thing"])).all())


@pytest.mark.parametrize("old", ["1", "2"])
def test_an_older_proxy_cache_gains_the_word_tables_and_keeps_its_rows(tmp_path, old) -> None:
    """Proxy cache 1 → 2 adds the word-feature tables, 2 → 3 the word-token table: one step each, nothing else
    changes."""
    import sqlite3

    from proxysort.proxycache import SCHEMA_VERSION, ProxyCache
    from proxysort.store import VectorStore

    db = tmp_path / "index.sqlite"
    with VectorStore(db) as store:
        ProxyCache(store).write([("s", "{}", "photo", b"\0" * 8, b"")])
    with sqlite3.connect(db) as conn:  # as that version left it
        conn.execute("DROP TABLE word_tokens")
        if old == "1":
            conn.execute("DROP TABLE word_features")
            conn.execute("DROP TABLE model_scales")
        conn.execute("UPDATE proxy_meta SET value = ? WHERE key = 'schema'", (old,))
    tokens = np.arange(6, dtype=np.float32).reshape(2, 3)
    with VectorStore(db) as store:
        cache = ProxyCache(store)
        assert [row[0] for row in cache.lookup("s", ["photo"])] == ["photo"]
        assert cache.word_features("m", "a *", "prefix", ["red"]) is None
        assert cache.word_tokens("m", ["red"]) is None
        cache.write_word_tokens("m", ["red", "blue"], tokens)
        assert np.array_equal(cache.word_tokens("m", ["blue", "red"]), tokens[::-1])
        assert cache.word_tokens("m", ["red", "green"]) is None and cache.word_tokens("other", ["red"]) is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM proxy_meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,) == ("3",)
