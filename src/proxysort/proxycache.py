"""Learned proxies kept between runs, so a re-run (another --format, --dry-run, output mode) re-clusters fast.

Where: tables of its own in the model's SQLite store (``stores/<identity>/index.sqlite``), next to the
vectors they were learned from, not a sibling file. The store is already keyed by model identity, already
in WAL mode with one ``BEGIN IMMEDIATE`` transaction per write (a ``kill -9`` leaves whole batches or
nothing, and readers never see half a batch), and deleting the cache folder clears them. This module owns
those tables and their version (:data:`SCHEMA_VERSION`, in its own ``proxy_meta`` table), apart from the
vector store's schema: changing the cache never bumps the vector store's version. The tables that vector
schemas 2 to 4 made inside the store are adopted as version 1 (:data:`_MIGRATIONS`).

Keys:

* a **setup**: the model identity, the device type, the concept (name, noun, prompt, words), the other
  concepts learned with it when the contrast term couples them, and every proxy setting that changes a
  result (mode, engine, resolved epochs and step size, ...). For learners whose photos do not depend on each
  other (:attr:`proxysort.learn.method.Method.per_photo`) that is all; for the others the setup also holds a
  digest of the whole ordered set of photo vectors, so their cache only serves an identical re-run;
* a **photo**: a digest of its float32 vector, i.e. of exactly what the learner sees.

A row holds the photo's unit prompt feature and its learned parameters (float32), ~2 KB per photo and
setup for ViT-B-32 (Multi-Sub's also its mapped image, ~4 KB). New photos learn only their own proxies
(another --k learns nothing for these modes), in chunks that are committed one by one, so an interrupted
run keeps every finished chunk. The least recently used setups beyond :data:`KEEP_SETUPS` are dropped. A
result is made from its rows in NumPy (:attr:`Rows.rebuild`) with the words' text features, CLIP's logit
scale and, for methods whose proxies are weights over the words (:attr:`Rows.tokens`), the words' token
rows, all kept here too: a run whose every row is stored never loads the model nor imports torch, and
gives the first run's bits (the first run's result is made from the same numbers the same way).

The default ``dproxy`` learns no per-photo rows, only a word choice on a sample of the photos
(``methods/dproxy.py``), and stops once the words are known. Its learning is stored as nodes (table
``word_nodes``): one row per pruning reached, keyed by the route of word lists that led there,
with the sample's parameters and the usage every k reads there. A run with another k walks the stored
nodes and learns a stretch only where its words leave every stored route. Nodes are keyed by the setup without k and the
digest of the sampled photos' vectors, so a new photo whose digest enters the sample learns the choice
again; one that sorts after the sample does not. A run whose every node and word's text feature is stored
is made again in NumPy without the model (:attr:`Method.from_stored`): its setup's device type is the one
asked for, or for ``auto`` the one ``auto`` meant when the model was last loaded for this store
(``proxy_meta``), so torch is not imported to resolve it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from proxysort.learn.core import photo_keys
from proxysort.progress import OneBar, Reporter

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

    import numpy as np

    from proxysort.encoders import ClipModel, ModelSpec
    from proxysort.indexer import LazyModel
    from proxysort.learn.core import Concept, ProxyConfig, ProxyResult
    from proxysort.learn.method import Method, Run, Words
    from proxysort.methods.dproxy import Node, Route
    from proxysort.rows import Matrix
    from proxysort.store import VectorStore

#: The version of the tables below; a store whose cache has another one this proxysort cannot read.
SCHEMA_VERSION = "3"
#: ``proxy_setups``: one row per setup (its description and last use). ``proxies``: rows per photo (unit
#: prompt feature and learned parameters, float32). ``word_nodes``: DProxy's learning on a sample, one row
#: per pruning reached (``methods/dproxy.Node``): ``route`` a JSON list of word-index lists, ``usage`` a JSON
#: object (k-means centres → list of floats), ``history`` a JSON list of floats, ``logits`` float32
#: (photos × words). ``word_features``: the unit text feature of a prompt template filled with one word
#: (float32), per model identity and text path, and ``model_scales`` CLIP's logit scale per model identity:
#: what a method that needs nothing else of the model (:attr:`Method.from_words`) learns from, so a re-run
#: never loads the model (version 2). ``word_tokens``: a word's token row (the mean of its BPE token
#: embeddings, float32) per model identity, which the results of some methods that keep rows per photo are
#: made from (:attr:`Rows.tokens`: subspace's and Multi-Sub's proxies are weights over them) (version 3).
#: None of these depends on the photos or settings, so setups never prune them.
_TABLES = """
CREATE TABLE IF NOT EXISTS proxy_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proxy_setups (setup TEXT PRIMARY KEY, description TEXT NOT NULL, used_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS proxies (
    setup TEXT NOT NULL,
    photo TEXT NOT NULL,
    prompt BLOB NOT NULL,
    learned BLOB NOT NULL,
    PRIMARY KEY (setup, photo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS word_nodes (
    setup TEXT NOT NULL,
    route TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    usage TEXT NOT NULL,
    history TEXT NOT NULL,
    logits BLOB NOT NULL,
    PRIMARY KEY (setup, route)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS word_features (
    model BLOB NOT NULL,
    prompt BLOB NOT NULL,
    path BLOB NOT NULL,
    word BLOB NOT NULL,
    feature BLOB NOT NULL,
    PRIMARY KEY (model, prompt, path, word)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS model_scales (model BLOB PRIMARY KEY, scale REAL NOT NULL);
CREATE TABLE IF NOT EXISTS word_tokens (
    model BLOB NOT NULL,
    word BLOB NOT NULL,
    token BLOB NOT NULL,
    PRIMARY KEY (model, word)
) WITHOUT ROWID;
"""
#: version → (next version, statements that upgrade the cache to it; the tables are then made if missing).
#: None: no ``proxy_meta`` yet, a store made before the cache had its own version (vector schemas 2 to 4
#: kept the same ``proxy_setups``, ``proxies`` and ``word_nodes`` inside the store's schema; their rows keep
#: their meaning) or a new store. DProxy's word choices per k (vector schema 3) followed an older pruning
#: rule and are not convertible: dropped.
#: Version 1 → 2 only adds the word-feature tables and 2 → 3 the word-token table (made after the steps), so
#: their steps have no statement.
_MIGRATIONS: dict[str | None, tuple[str, str]] = {None: ("1", "DROP TABLE IF EXISTS word_choices;"), "1": ("2", ""),
                                                  "2": ("3", "")}
#: Setups (concept × words × settings) kept; older ones are dropped when a new one is written.
KEEP_SETUPS = 16
#: Photos learned and committed together: what an interrupted run can lose at most, per concept set.
CHUNK = 2048
_IN_CHUNK = 500
#: ProxyConfig fields that never change a result (memory and speed only; ``fuse_weight`` is applied on read).
_NEUTRAL = ("batch_size", "gpu_batch_size", "fuse_weight", "device")

def setup_key(
    concept: "Concept", others: Sequence["Concept"], config: "ProxyConfig", identity: str, device: str,
    set_digest: str | None,
) -> tuple[str, str]:
    """(key, description) of one concept's learning setup for the model ``identity`` on the device type
    ``device``; ``config`` must be resolved (no ``None`` defaults)."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NEUTRAL}
    description = {
        "model": identity,
        "device": device,
        "concept": [concept.name, concept.noun, concept.prompt, list(concept.words)],
        "with": [c.name for c in others],
        "settings": settings,
        "set": set_digest,
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32], text


def _key(text: str) -> bytes:
    """A text key as the bytes it stands for: a model path or a concept typed in bytes that are not UTF-8
    reaches Python as lone surrogates (``surrogateescape``), which SQLite's text cannot hold."""
    return text.encode("utf-8", "surrogateescape")


class ProxyCache:
    """Read and write learned rows in one store (opened by the caller, who closes it); its tables are made
    or upgraded on opening (:data:`SCHEMA_VERSION`)."""

    def __init__(self, store: "VectorStore") -> None:
        self.store = store
        with store.reading() as conn:
            current = _version(conn)
        if current != SCHEMA_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Make or upgrade the tables, under the write lock (two runs opening a new store do it once)."""
        from proxysort.errors import CacheError

        with self.store.transaction() as conn:
            version = _version(conn)
            if version != SCHEMA_VERSION and version not in _MIGRATIONS:
                raise CacheError(
                    f"The proxy cache in {self.store.path} has version {version}, which this proxysort (version "
                    f"{SCHEMA_VERSION}) cannot read; upgrade proxysort or choose another `cache_dir`."
                )
            while version != SCHEMA_VERSION:
                version, statements = _MIGRATIONS[version]
                for statement in filter(str.strip, statements.split(";")):
                    conn.execute(statement)
            for statement in filter(str.strip, _TABLES.split(";")):  # not executescript: it would COMMIT
                conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO proxy_meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def lookup(self, setup: str, keys: Sequence[str]) -> Iterator[tuple[str, bytes, bytes]]:
        """(photo, prompt, learned) of those ``keys`` the setup has, streamed (a million rows never sit in a dict)."""
        unique = list(dict.fromkeys(keys))
        with self.store.reading() as conn:
            for i in range(0, len(unique), _IN_CHUNK):
                chunk = unique[i : i + _IN_CHUNK]
                sql = f"SELECT photo, prompt, learned FROM proxies WHERE setup = ? AND photo IN ({','.join('?' * len(chunk))})"
                yield from conn.execute(sql, (setup, *chunk))

    def write(self, rows: Sequence[tuple[str, str, str, bytes, bytes]]) -> None:
        """Commit (setup, description, photo, prompt, learned) rows in one transaction; drop old setups."""
        with self.store.transaction() as conn:
            _remember(conn, {(r[0], r[1]) for r in rows})
            conn.executemany(
                "INSERT OR REPLACE INTO proxies(setup, photo, prompt, learned) VALUES (?, ?, ?, ?)",
                ((s, p, a, b) for s, _, p, a, b in rows),
            )

    def node(self, setup: str, route: "Route") -> "Node | None":
        """DProxy's node stored for ``setup`` at ``route``, or None."""
        import numpy as np

        from proxysort.methods.dproxy import Node

        with self.store.reading() as conn:
            row = conn.execute("SELECT epoch, usage, history, logits FROM word_nodes WHERE setup = ? AND route = ?",
                                          (setup, _route_text(route))).fetchone()
        if row is None:
            return None
        logits = np.frombuffer(row[3], dtype=np.float32).reshape(-1, len(route[0]))
        usage = {int(centres): tuple(values) for centres, values in json.loads(row[1]).items()}
        return Node(route, int(row[0]), usage, logits, tuple(json.loads(row[2])))

    def write_node(self, setup: str, description: str, node: "Node") -> None:
        """Commit one node in its own transaction (an interrupted run keeps every stretch it finished)."""
        import numpy as np

        with self.store.transaction() as conn:
            _remember(conn, [(setup, description)])
            conn.execute(
                "INSERT OR REPLACE INTO word_nodes(setup, route, epoch, usage, history, logits) VALUES (?, ?, ?, ?, ?, ?)",
                (setup, _route_text(node.route), node.epoch, json.dumps({str(c): list(u) for c, u in node.usage.items()}), json.dumps(list(node.history)),
                 np.ascontiguousarray(node.logits, dtype=np.float32).tobytes()),
            )

    def word_features(self, model: str, prompt: str, path: str, words: Sequence[str]) -> "np.ndarray | None":
        """The unit text features (K×D float32) of ``prompt`` filled with each of ``words``, in their order,
        or None unless every word is stored: a method cannot use part of them."""
        return self._per_word("SELECT word, feature FROM word_features WHERE model = ? AND prompt = ? AND path = ?",
                              (model, prompt, path), words)

    def word_tokens(self, model: str, words: Sequence[str]) -> "np.ndarray | None":
        """The token rows (K×d_tok float32) of ``words`` in their order, or None unless every word is stored."""
        return self._per_word("SELECT word, token FROM word_tokens WHERE model = ?", (model,), words)

    def _per_word(self, select: str, keys: tuple[str, ...], words: Sequence[str]) -> "np.ndarray | None":
        """The float32 rows ``select`` (word, row; ``keys`` fill its placeholders) gives for ``words``, stacked
        in their order, or None unless every word has one."""
        import numpy as np

        unique = list(dict.fromkeys(_key(w) for w in words))
        found: dict[bytes, bytes] = {}
        with self.store.reading() as conn:
            for i in range(0, len(unique), _IN_CHUNK):
                chunk = unique[i : i + _IN_CHUNK]
                sql = f"{select} AND word IN ({','.join('?' * len(chunk))})"
                found.update(conn.execute(sql, (*map(_key, keys), *chunk)))
        if len(found) < len(unique):
            return None
        return np.stack([np.frombuffer(found[_key(w)], dtype=np.float32) for w in words])

    def logit_scale(self, model: str) -> float | None:
        """CLIP's logit scale stored for ``model``, or None."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT scale FROM model_scales WHERE model = ?", (_key(model),)).fetchone()
        return float(row[0]) if row else None

    def write_word_features(self, model: str, prompt: str, path: str, words: Sequence[str], features: "np.ndarray",
                            scale: float) -> None:
        """Keep the unit text features of ``prompt`` filled with each word (rows of ``features``) and the
        model's logit scale, in one transaction."""
        import numpy as np

        rows = np.ascontiguousarray(features, dtype=np.float32)
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO word_features(model, prompt, path, word, feature) VALUES (?, ?, ?, ?, ?)",
                ((_key(model), _key(prompt), _key(path), _key(w), rows[i].tobytes()) for i, w in enumerate(words)),
            )
            conn.execute("INSERT OR REPLACE INTO model_scales(model, scale) VALUES (?, ?)", (_key(model), float(scale)))

    def write_word_tokens(self, model: str, words: Sequence[str], tokens: "np.ndarray") -> None:
        """Keep each word's token row (rows of ``tokens``) for ``model``, in one transaction."""
        import numpy as np

        rows = np.ascontiguousarray(tokens, dtype=np.float32)
        with self.store.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO word_tokens(model, word, token) VALUES (?, ?, ?)",
                             ((_key(model), _key(w), rows[i].tobytes()) for i, w in enumerate(words)))

    def auto_device(self) -> str | None:
        """The device type ``auto`` meant when a model was last loaded for this store (None: never recorded):
        what a run served from stored steps keys them by without importing torch to ask."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT value FROM proxy_meta WHERE key = 'auto_device'").fetchone()
        return row[0] if row else None

    def remember_auto_device(self, device: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO proxy_meta(key, value) VALUES ('auto_device', ?)", (device,))

    def touch(self, setups: Sequence[str]) -> None:
        """Mark setups as used now (a run served entirely from the cache), so pruning keeps them."""
        with self.store.transaction() as conn:
            conn.executemany("UPDATE proxy_setups SET used_at = ? WHERE setup = ?", ((time.time(), s) for s in setups))


def _version(conn: "sqlite3.Connection") -> str | None:
    """The cache's version in this store, None when it has none yet (new, or made by vector schemas 2 to 4)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'proxy_meta'").fetchone():
        return None
    row = conn.execute("SELECT value FROM proxy_meta WHERE key = 'schema'").fetchone()
    return row[0] if row else None


def _route_text(route: "Route") -> str:
    return json.dumps([list(words) for words in route], separators=(",", ":"))


def _remember(conn: "sqlite3.Connection", setups: "Iterable[tuple[str, str]]") -> None:
    """Mark ``setups`` (key, description) as used now and drop the least recently used beyond
    :data:`KEEP_SETUPS`, with their rows in every table."""
    now = time.time()
    conn.executemany(
        "INSERT INTO proxy_setups(setup, description, used_at) VALUES (?, ?, ?) "
        "ON CONFLICT(setup) DO UPDATE SET used_at = excluded.used_at",
        ((setup, description, now) for setup, description in setups),
    )
    stale = [r[0] for r in conn.execute("SELECT setup FROM proxy_setups ORDER BY used_at DESC LIMIT -1 OFFSET ?", (KEEP_SETUPS,))]
    for table in ("proxies", "word_nodes", "proxy_setups"):
        conn.executemany(f"DELETE FROM {table} WHERE setup = ?", ((s,) for s in stale))


class _StoredNodes:
    """One concept's DProxy nodes in the cache (:class:`proxysort.methods.dproxy.Nodes`)."""

    def __init__(self, cache: ProxyCache, setup: str, description: str) -> None:
        self.cache, self.setup, self.description = cache, setup, description

    def get(self, route: "Route") -> "Node | None":
        return self.cache.node(self.setup, route)

    def put(self, node: "Node") -> None:
        self.cache.write_node(self.setup, self.description, node)


def learn_cached(
    image_features: "Matrix",
    concepts: Sequence["Concept"],
    clip: "ClipModel | LazyModel",
    config: "ProxyConfig | None",
    reporter: Reporter | None,
    store_file: Path | None,
    learner: "Callable[..., list[ProxyResult]] | None" = None,
    *,
    k: int | None = None,
) -> list["ProxyResult"]:
    """:func:`proxysort.learn.registry.learn_proxies` through the cache in the store at ``store_file`` (None:
    no cache). ``k`` goes to the learner as it is and never into a key of a method that does not use it.

    ``learner`` replaces ``learn_proxies`` (same signature), e.g. the Ray version that learns slices on a cluster.
    ``clip`` may be a :class:`proxysort.indexer.LazyModel`: it is loaded only if something must be embedded or
    learned, and let go (:meth:`~proxysort.indexer.LazyModel.release`) as soon as a method that learns from the
    words alone has them, before any photo is scored. A run that needs nothing of the model but what the store keeps is served in NumPy, without
    loading the model or importing torch (:func:`_without_model`): a method that learns from the words' text
    features alone (:attr:`Method.from_words`), one whose every step is stored (:attr:`Method.from_stored`),
    or one that keeps rows per photo (:attr:`Method.rows`) whose every photo's rows are stored. Otherwise the
    model is loaded, and what such a re-run needs of it (the words' text features, token rows, logit scale)
    is kept for the next run.

    A method that keeps rows per photo learns only the photos the cache lacks for some concept, in committed
    chunks; one that keeps its own steps (:attr:`Method.learn_stored`) gets a store for them; the others learn
    every time. The result equals an uncached run up to float rounding (a served one equals the learned one).
    """
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.learn import engine, textonly
    from proxysort.learn.registry import learn_proxies, run_for
    from proxysort.store import VectorStore

    if store_file is not None:
        served = _without_model(image_features, concepts, clip, config, reporter, Path(store_file), k)
        if served is not None:
            return served
    lazy = None if isinstance(clip, ClipModel) else clip
    model = clip if isinstance(clip, ClipModel) else clip.get()
    prepared: dict = {}
    method, run = run_for(config, model, k=k, reporter=reporter, prepared=prepared)
    reporter = run.reporter
    if store_file is not None and method.learn_stored is not None:
        with VectorStore(Path(store_file)) as store:
            cache = ProxyCache(store)
            used: list[str] = []

            def nodes_for(concept: "Concept", digest: str) -> _StoredNodes:
                setup = setup_key(concept, [], run.config, model.identity, model.device.type, digest)
                used.append(setup[0])
                return _StoredNodes(cache, *setup)

            results = method.learn_stored(image_features, concepts, model, run, nodes_for)
            if results is not None:
                cache.touch(used)
                if method.from_stored is not None:  # what the next run needs to be served without the model
                    _keep_words(cache, model, concepts, [engine.words(c, model, run, tokens=False) for c in concepts],
                                run.config)
                return results
    if method.from_words is not None:
        # A method that learns from the words alone needs nothing else of the model: the words are embedded (and
        # kept for the next run), the model let go, and the photos scored as a re-run scores them, where their
        # rows are (rows.map_blocks: a learner that spreads photos between workers has nothing to add), without
        # the model resident beside the per-photo work (issue 25).
        engine.check_inputs(image_features, concepts, model)
        words = [engine.words(c, model, run, tokens=False) for c in concepts]
        if store_file is not None:
            with VectorStore(Path(store_file)) as store:
                _keep_words(ProxyCache(store), model, concepts, words, run.config)
        del model
        prepared.clear()  # the prompt encoders hold the model's text tower
        if lazy is not None:
            lazy.release()
        return method.from_words(image_features, concepts, [w.features for w in words], words[0].scale, run)
    if store_file is None or method.rows is None:
        return (learner or learn_proxies)(image_features, concepts, model, config, reporter, k=k)
    rows_of = method.rows
    resolved = run.config
    X = np.ascontiguousarray(image_features, dtype=np.float32)
    keys = photo_keys(X)
    per_photo = method.per_photo(resolved)
    setups = _setups(concepts, resolved, per_photo, keys, model.identity, model.device.type)
    n = len(keys)
    with VectorStore(Path(store_file)) as store:
        cache = ProxyCache(store)
        prompts, learned, have = _stored_rows(cache, setups, keys, X.shape[1])
        missing = np.flatnonzero(~have.all(axis=0)).tolist()
        if len(missing) < n:
            reporter.message(f"proxies: {n - len(missing)} of {n} photos from the cache, {len(missing)} to learn")
        history: list[float] = []
        chunk = CHUNK if per_photo else max(len(missing), 1)
        bar = reporter.stage(f"fitting the words to each photo: {len(missing)} photos", total=len(missing) * len(concepts)) \
            if per_photo and missing else contextlib.nullcontext(None)
        with bar as advance:
            inner = OneBar(reporter, advance) if advance is not None else reporter
            for start in range(0, len(missing), chunk):
                rows = np.asarray(missing[start : start + chunk])
                if learner is not None:
                    results = learner(X[rows], concepts, model, config, inner, k=k)
                else:
                    results = learn_proxies(X[rows], concepts, model, config, inner, k=k, prepared=prepared)
                out = []
                for c, res in enumerate(results):
                    unit_prompts, part = rows_of.take(res)
                    prompts[c][rows] = unit_prompts
                    if part is not None:
                        into = learned[c]
                        if into is None:
                            into = learned[c] = np.empty((n, part.shape[1]), np.float32)
                        into[rows] = part
                    empty = np.zeros(0, np.float32)
                    for j, i in enumerate(rows):
                        blob = (part[j] if part is not None else empty).tobytes()
                        out.append((setups[c][0], setups[c][1], keys[i], unit_prompts[j].tobytes(), blob))
                cache.write(out)
                history = results[0].loss_history
        if not missing:
            cache.touch([s for s, _ in setups])
        # The result is made from the numbers the store now keeps, as a re-run without the model makes it.
        words = [engine.words(c, model, run, tokens=rows_of.tokens) for c in concepts]
        _keep_words(cache, model, concepts, words, resolved)
    images = textonly.unit_rows(X)
    return [rows_of.rebuild(c, images, prompts[i], learned[i], words[i], run, history) for i, c in enumerate(concepts)]


def _setups(concepts: Sequence["Concept"], config: "ProxyConfig", per_photo: bool, keys: Sequence[str], identity: str,
            device: str) -> list[tuple[str, str]]:
    """Each concept's setup (key, description) for a method that keeps rows per photo: with the others when
    the contrast term couples them, and with the digest of the whole ordered set unless ``per_photo``."""
    set_digest = None if per_photo else hashlib.sha256("".join(keys).encode()).hexdigest()[:32]
    coupled = len(concepts) > 1 and config.beta > 0
    return [setup_key(c, [o for o in concepts if o is not c] if coupled else [], config, identity, device, set_digest)
            for c in concepts]


def _stored_rows(cache: ProxyCache, setups: Sequence[tuple[str, str]], keys: Sequence[str], dim: int,
                 ) -> tuple[list["np.ndarray"], list["np.ndarray | None"], "np.ndarray"]:
    """(unit prompt features, learned rows, which photos have them) per setup, for the photos ``keys``:
    rows the cache lacks are left unset, learned rows None where the setup has none yet."""
    import numpy as np

    n = len(keys)
    prompts = [np.empty((n, dim), np.float32) for _ in setups]
    learned: list[np.ndarray | None] = [None] * len(setups)
    where: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        where.setdefault(key, []).append(i)
    have = np.zeros((len(setups), n), dtype=bool)
    for c, (setup, _) in enumerate(setups):
        for photo, prompt, row in cache.lookup(setup, keys):
            at = where[photo]
            prompts[c][at] = np.frombuffer(prompt, dtype=np.float32)
            into = learned[c]
            if into is None:
                into = learned[c] = np.empty((n, len(row) // 4), np.float32)
            into[at] = np.frombuffer(row, dtype=np.float32)
            have[c, at] = True
    return prompts, learned, have


def _without_model(
    image_features: "Matrix", concepts: Sequence["Concept"], clip: "ClipModel | LazyModel",
    config: "ProxyConfig | None", reporter: Reporter | None, store_file: Path, k: int | None,
) -> list["ProxyResult"] | None:
    """The results of a method that needs nothing of the model but what the store keeps of it (the words'
    text features, logit scale and, where :attr:`Rows.tokens` says so, token rows): one declared with
    :attr:`Method.from_words`; with :attr:`Method.from_stored` whose every step the store holds; or with
    :attr:`Method.rows` whose every photo's rows it holds. The latter two are keyed by the device type, known
    without torch (:func:`_asked_device`, else what ``auto`` meant when the model was last loaded). None when
    the method has no such path or the store lacks a word, a step, a row or the device (then the model is
    needed). The store is opened only for a method that could use it."""
    from proxysort.encoders import ClipModel
    from proxysort.learn import engine
    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import method_for, run_for
    from proxysort.store import VectorStore

    found = method_for(config or ProxyConfig())
    if (found.from_words is None and found.from_stored is None and found.rows is None) or not store_file.exists():
        return None
    loaded = clip if isinstance(clip, ClipModel) else clip.loaded  # one the index loaded has its fitted precision
    identity = loaded.identity if loaded is not None else clip.spec.identity()
    engine.check_inputs(image_features, concepts, None)
    with VectorStore(store_file) as store:
        cache = ProxyCache(store)
        device = None
        if found.from_words is None:
            device = loaded.device.type if loaded is not None else (_asked_device(config or ProxyConfig(), clip.spec)
                                                                   or cache.auto_device())
            if device is None:
                return None
        method, run = run_for(config, None, k=k, reporter=reporter, device=device)
        tokens = method.from_words is None and method.from_stored is None and method.rows is not None and method.rows.tokens
        words = _stored_words(cache, identity, concepts, run.config.path, image_features.shape[1], tokens)
        if words is None:
            return None
        if method.from_words is None:
            assert device is not None
            if method.from_stored is None:
                return _rows_without_model(cache, method, run, image_features, concepts, words, identity, device)
            used: list[str] = []

            def nodes_for(concept: "Concept", digest: str) -> _StoredNodes:
                assert device is not None
                setup = setup_key(concept, [], run.config, identity, device, digest)
                used.append(setup[0])
                return _StoredNodes(cache, *setup)

            results = method.from_stored(image_features, concepts, [w.features for w in words], words[0].scale, run,
                                         nodes_for)
            if results is not None:
                cache.touch(used)
            return results
    return method.from_words(image_features, concepts, [w.features for w in words], words[0].scale, run)


def _stored_words(cache: ProxyCache, identity: str, concepts: Sequence["Concept"], path: str, width: int,
                  tokens: bool) -> list["Words"] | None:
    """Each concept's :class:`Words` as the store keeps them for the model ``identity`` (with the token rows
    when ``tokens``), or None when it lacks any of them or its features are not ``width`` wide."""
    from proxysort.learn.method import Words

    scale = cache.logit_scale(identity)
    if scale is None:
        return None
    out = []
    for c in concepts:
        features = cache.word_features(identity, c.prompt, path, c.words)
        rows = cache.word_tokens(identity, c.words) if tokens else None
        if features is None or features.shape[1] != width or (tokens and rows is None):
            return None
        out.append(Words(features, scale, rows))
    return out


def _rows_without_model(cache: ProxyCache, method: "Method", run: "Run", image_features: "Matrix",
                        concepts: Sequence["Concept"], words: Sequence["Words"], identity: str, device: str,
                        ) -> list["ProxyResult"] | None:
    """A method that keeps rows per photo, made from the store alone (NumPy, no model) when it holds every
    photo's rows for every concept (None otherwise): what :func:`learn_cached` returns when it learns
    nothing, with the same numbers, so the same bits."""
    import numpy as np

    from proxysort.learn import textonly

    assert method.rows is not None
    X = np.ascontiguousarray(image_features, dtype=np.float32)
    keys = photo_keys(X)
    setups = _setups(concepts, run.config, method.per_photo(run.config), keys, identity, device)
    prompts, learned, have = _stored_rows(cache, setups, keys, X.shape[1])
    if not have.all():
        return None
    n = len(keys)
    run.reporter.message(f"proxies: {n} of {n} photos from the cache, 0 to learn")
    cache.touch([s for s, _ in setups])
    images = textonly.unit_rows(X)
    return [method.rows.rebuild(c, images, prompts[i], learned[i], words[i], run, []) for i, c in enumerate(concepts)]


def _asked_device(config: "ProxyConfig", spec: "ModelSpec") -> str | None:
    """The device type asked for (``device``, else the model's), known without torch; None for ``auto``."""
    for asked in (config.device, spec.device):
        if asked and asked.lower() != "auto":
            return asked.lower().split(":")[0]
    return None


def _keep_words(cache: ProxyCache, clip: "ClipModel", concepts: Sequence["Concept"], words: Sequence["Words"],
                config: "ProxyConfig") -> None:
    """Keep each concept's :class:`Words` (one row per candidate word) and, for ``auto``, the device type it
    meant: all a re-run without the model (:func:`_without_model`) needs of it."""
    for concept, kept in zip(concepts, words):
        cache.write_word_features(clip.identity, concept.prompt, config.path, concept.words, kept.features, kept.scale)
        if kept.tokens is not None:
            cache.write_word_tokens(clip.identity, concept.words, kept.tokens)
    if _asked_device(config, clip.spec) is None:
        cache.remember_auto_device(clip.device.type)
