"""The proxy cache: a re-run learns nothing, new photos learn only their own proxies, interrupted runs keep chunks."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from proxysort.progress import Reporter

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COLOR = ("red", "green", "blue", "yellow")


class Recorder(Reporter):
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.bars: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)

    def progress(self, description: str, total: int | None = None):
        self.bars.append(description)
        return super().progress(description, total)


def _images(clip, n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, clip.embed_dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _run(clip, X, store, words=COLOR, reporter=None, k=None, **config):
    from proxysort.proxy import Concept, ProxyConfig
    from proxysort.proxycache import learn_cached

    config.setdefault("batch_size", 16)
    config.setdefault("mode", "subspace")  # the cache serves the per-photo modes; seed methods learn every run
    (res,) = learn_cached(X, [Concept("color", words, noun="fruit")], clip, ProxyConfig(**config), reporter, store, k=k)
    return res


def _learned(store) -> int:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT COUNT(*) FROM proxies").fetchone()[0]


def _nodes(store) -> int:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT COUNT(*) FROM word_nodes").fetchone()[0]


#: DProxy's word choices per k, as vector schema 3 kept them inside the store.
_OLD_CHOICES = """CREATE TABLE word_choices (setup TEXT PRIMARY KEY, description TEXT NOT NULL, kept TEXT NOT NULL,
history TEXT NOT NULL, photos INTEGER NOT NULL, used_at REAL NOT NULL);"""
#: The proxy tables vector schemas 2 to 4 made inside the store.
_OLD_PROXY_TABLES = """
CREATE TABLE proxy_setups (setup TEXT PRIMARY KEY, description TEXT NOT NULL, used_at REAL NOT NULL);
CREATE TABLE proxies (setup TEXT NOT NULL, photo TEXT NOT NULL, prompt BLOB NOT NULL, learned BLOB NOT NULL,
PRIMARY KEY (setup, photo)) WITHOUT ROWID;"""


@pytest.mark.parametrize("old", ["2", "3"])
def test_a_schema_2_or_3_store_gains_the_word_node_table(tiny_clip, tmp_path, old):
    from proxysort.store import VectorStore

    store = tmp_path / "index.sqlite"
    with VectorStore(store):
        pass
    with sqlite3.connect(store) as conn:  # as proxysort with schema 2 or 3 left it
        conn.executescript(_OLD_PROXY_TABLES)
        if old == "3":
            conn.executescript(_OLD_CHOICES + "INSERT INTO word_choices VALUES ('s', 'd', '[0, 1]', '[]', 5, 0);")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (old,))
    with VectorStore(store) as s:
        assert s.meta("schema") == "4"
    _run(tiny_clip, _images(tiny_clip, 5), store, words=COLOR + ("purple",), mode="dproxy", epochs=2, k=2)
    assert _nodes(store) == 1
    with sqlite3.connect(store) as conn:  # a choice per k used the old pruning rule: it is not kept
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'word_choices'").fetchone()
        # through version 1, then 2 (the word features), then 3 (the word tokens)
        assert conn.execute("SELECT value FROM proxy_meta WHERE key = 'schema'").fetchone() == ("3",)


def test_the_proxy_cache_keeps_its_own_tables_and_version_apart_from_the_vector_store(tiny_clip, tmp_path):
    """The vector store makes no proxy table; the proxy cache makes its own, versioned in its own table, so a
    change to the cache never bumps the vector store's schema. A cache of unknown version is refused."""
    from proxysort import proxycache
    from proxysort.errors import CacheError
    from proxysort.store import SCHEMA_VERSION, VectorStore

    store = tmp_path / "index.sqlite"
    with VectorStore(store):
        pass
    with sqlite3.connect(store) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"meta", "vectors", "files", "failures"}
    _run(tiny_clip, _images(tiny_clip, 5), store)
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT value FROM proxy_meta WHERE key = 'schema'").fetchone() == (proxycache.SCHEMA_VERSION,)
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
        conn.execute("UPDATE proxy_meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(CacheError, match="proxy cache .* has version 99"):
        _run(tiny_clip, _images(tiny_clip, 5), store)
    with VectorStore(store) as s:  # the vector store does not care
        assert s.meta("schema") == SCHEMA_VERSION


def test_proxies_a_schema_4_store_kept_are_still_served(tiny_clip, tmp_path):
    """A store the previous layout wrote (proxy tables inside the store's schema 4, no cache version) keeps
    every learned row: the cache adopts its tables."""
    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 6)
    _run(tiny_clip, X, store)
    with sqlite3.connect(store) as conn:
        conn.execute("DROP TABLE proxy_meta")  # as the schema-4 layout left it
    rec = Recorder()
    _run(tiny_clip, X, store, reporter=rec)
    assert any("6 of 6 photos from the cache, 0 to learn" in m for m in rec.messages)


def test_dproxy_reruns_with_another_k_take_the_word_choice_from_the_cache(tiny_clip, tmp_path, monkeypatch):
    """The default learns only a word choice on its sample, kept as nodes: a re-run with the same k, or with a
    k decided at a stored node, learns nothing; a smaller k learns only the stretches its route adds."""
    from proxysort.methods import dproxy

    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 40)
    words = COLOR + ("purple", "orange")

    def run(k, reporter=None, sample=16, store=store):
        return _run(tiny_clip, X, store, words=words, reporter=reporter, mode="dproxy", epochs=8,
                    k=k, options={"sample": sample})

    first = run(3)  # 6 words → 3 at the first pruning: one stretch, one node
    assert _nodes(store) == 1 and _learned(store) == 0
    fresh = {k: run(k, store=None).concept.words for k in (2, 3, 4, 5)}
    assert first.concept.words == fresh[3] and len(first.concept.words) == 3

    stretches = []
    stretch = dproxy._Learner.stretch
    monkeypatch.setattr(dproxy._Learner, "stretch", lambda *a, **kw: stretches.append(a[4]) or stretch(*a, **kw))
    rec = Recorder()
    second = run(3, reporter=rec)
    assert stretches == [] and any("1 of 1 concepts from the cache" in m for m in rec.messages)
    assert not any(b.startswith("learning") for b in rec.bars)  # nothing learned, no learning bar
    assert second.concept.words == first.concept.words and set(second.features) == set(first.features)
    for name in first.features:
        np.testing.assert_array_equal(first.features[name], second.features[name])
    # k=4 and 5 are decided at the first node too: their usage is read from its parameters, nothing learned.
    for k in (4, 5):
        assert run(k).concept.words == fresh[k] and stretches == []
    # k=2 halves on (6 → 3 → 2): only its second stretch is learned, from the first node.
    rec = Recorder()
    two = run(2, reporter=rec)
    assert stretches == [2]  # the stretch from epoch 2 (prunings after epochs 2, 4 and 6)
    assert any("word choice for 'color': continued from an earlier run" in m for m in rec.messages)
    assert rec.bars.count("learning which words fit: 16 photos") == 1
    assert _nodes(store) == 2 and two.concept.words == fresh[2]
    stretches.clear()
    assert [run(k).concept.words for k in (2, 3)] == [two.concept.words, first.concept.words]
    assert stretches == []
    # New photos that stay out of the sample (their digests sort later) keep the cached nodes.
    from proxysort.proxy import photo_keys

    cut = sorted(photo_keys(X))[15]
    extra = _images(tiny_clip, 200, seed=7)
    later = extra[[k > cut for k in photo_keys(extra)]][:10]
    grown = _run(tiny_clip, np.concatenate([X, later]), store, words=words, mode="dproxy", epochs=8,
                 k=3, options={"sample": 16})
    assert grown.concept.words == first.concept.words and grown.features["scoremix"].shape[0] == 50
    assert stretches == []
    # Other words or another sample size is another setup: learned again.
    run(3, sample=20)
    assert stretches and _nodes(store) == 3


def test_an_interrupted_word_choice_keeps_its_finished_stretches(tiny_clip, tmp_path, monkeypatch):
    from proxysort.methods import dproxy

    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 24)
    words = COLOR + ("purple", "orange", "pink", "brown")
    settings = dict(words=words, mode="dproxy", epochs=8, k=2, options={"sample": 16})
    stretch = dproxy._Learner.stretch

    def second_fails(self, c, start, active, first, stop, bar):
        if first > 0:
            raise KeyboardInterrupt
        return stretch(self, c, start, active, first, stop, bar)

    monkeypatch.setattr(dproxy._Learner, "stretch", second_fails)
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_clip, X, store, **settings)
    assert _nodes(store) == 1  # the first stretch was committed the moment it was learned
    monkeypatch.undo()
    learned = []
    monkeypatch.setattr(dproxy._Learner, "stretch", lambda *a, **kw: learned.append(a[4]) or stretch(*a, **kw))
    resumed = _run(tiny_clip, X, store, **settings)
    assert learned == [2] and _nodes(store) == 2  # 8 → 4 → 2 words: it went on from the first node at epoch 2
    assert resumed.concept.words == _run(tiny_clip, X, None, **settings).concept.words


def test_a_rerun_comes_from_the_cache_and_equals_the_first(tiny_clip, tmp_path):
    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 40)
    first = _run(tiny_clip, X, store)
    assert _learned(store) == 40
    rec = Recorder()
    second = _run(tiny_clip, X, store, reporter=rec)
    assert any("40 of 40 photos from the cache, 0 to learn" in m for m in rec.messages)
    for name in first.features:
        np.testing.assert_array_equal(first.features[name], second.features[name])
    np.testing.assert_array_equal(first.zero_shot, second.zero_shot)


def test_new_photos_learn_only_their_own_and_match_a_fresh_run(tiny_clip, tmp_path):
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 50)
    _run(tiny_clip, X[:30], store)
    rec = Recorder()
    grown = _run(tiny_clip, X, store, reporter=rec)
    assert any("30 of 50 photos from the cache, 20 to learn" in m for m in rec.messages)
    (fresh,) = learn_proxies(X, [Concept("color", COLOR, noun="fruit")], tiny_clip, ProxyConfig(batch_size=16, mode="subspace"))
    for name in ("prompt", "weights", "proxy"):
        np.testing.assert_allclose(grown.features[name], fresh.features[name], atol=1e-5)


def test_other_words_or_settings_are_another_setup(tiny_clip, tmp_path):
    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 20)
    _run(tiny_clip, X, store)
    rec = Recorder()
    _run(tiny_clip, X, store, words=("red", "green", "purple"), reporter=rec)
    _run(tiny_clip, X, store, epochs=2, reporter=rec)
    assert not any("from the cache" in m for m in rec.messages)
    assert _learned(store) == 60
    # the batch size changes nothing in a result, so it is not part of the key
    _run(tiny_clip, X, store, batch_size=3, reporter=rec)
    assert any("20 of 20 photos from the cache" in m for m in rec.messages)


def test_set_dependent_learners_only_reuse_an_identical_set(tiny_clip, tmp_path):
    """The Adam engine stops all photos at one epoch chosen from the whole set: no mixing of sets."""
    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 24)
    _run(tiny_clip, X, store, engine="adam", epochs=3)
    rec = Recorder()
    _run(tiny_clip, X[:20], store, engine="adam", epochs=3, reporter=rec)
    assert not any("from the cache" in m for m in rec.messages)
    _run(tiny_clip, X, store, engine="adam", epochs=3, reporter=rec)
    assert any("24 of 24 photos from the cache" in m for m in rec.messages)


def test_an_interrupted_run_keeps_its_finished_chunks(tiny_clip, tmp_path, monkeypatch):
    from proxysort import proxycache

    monkeypatch.setattr(proxycache, "CHUNK", 10)
    store = tmp_path / "index.sqlite"
    X = _images(tiny_clip, 35)

    class StopInSecondChunk(Recorder):
        def progress(self, description, total=None):
            import contextlib

            done = [0]

            def advance(n=1, **_):
                done[0] += n
                if done[0] > 15:
                    raise KeyboardInterrupt

            return contextlib.nullcontext(advance)

    with pytest.raises(KeyboardInterrupt):
        _run(tiny_clip, X, store, reporter=StopInSecondChunk())
    assert _learned(store) == 10
    rec = Recorder()
    _run(tiny_clip, X, store, reporter=rec)
    assert any("10 of 35 photos from the cache, 25 to learn" in m for m in rec.messages)
    assert _learned(store) == 35


def test_a_schema_1_store_is_migrated_in_place(tiny_clip, tmp_path):
    from proxysort.store import SCHEMA_VERSION, VectorStore

    store = tmp_path / "index.sqlite"
    with sqlite3.connect(store) as conn:  # a store as proxysort 0.x (schema 1) left it, with one vector
        conn.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID;"
            "INSERT INTO meta VALUES ('schema', '1');"
            "INSERT INTO vectors VALUES ('h', x'0000');"
        )
    with VectorStore(store, readonly=True) as s:  # read-only: read as it is, never written
        assert s.meta("schema") == "1"
    with VectorStore(store) as s:
        assert s.meta("schema") == SCHEMA_VERSION == "4"
    _run(tiny_clip, _images(tiny_clip, 5), store)
    assert _learned(store) == 5
    _run(tiny_clip, _images(tiny_clip, 5), store, words=COLOR + ("purple",), mode="dproxy", epochs=2, k=2)
    assert _nodes(store) == 1
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 1
