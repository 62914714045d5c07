"""The library facade behind ``proxysort cluster`` and ``proxysort eval``: words → index → proxies → groups.

    >>> from proxysort import By, sort, write_folders
    >>> result = sort("~/photos", [By("color", words=["red", "green", "yellow", "brown"], k=4)])
    >>> result.concepts[0].names, result.concepts[0].labels[:5]
    >>> write_folders(result, "~/photos-sorted")

Choices made here, in one place:

* **Features.** k-means runs on ``ProxyResult.feature(feature)`` (default: the method's own, :attr:`proxysort.learn.method.Method.default_feature`),
  spherically except for the ``weights`` feature (:func:`proxysort.groups.spherical_for`).
* **Names.** Each group is named in the prompt space: the mean of its images' learned prompt embeddings
  against the filled-in prompts of the candidate words (``ProxyResult.word_features``), whatever feature
  was clustered, so that names mean the same thing in every mode. When the words are random anchors
  (identity-like or unknown concepts) they are not values, so groups are numbered ``person-1 … person-k``
  by size instead and no anchor reaches a folder name.
* **Automatic k** (``By.k`` is None): :func:`proxysort.autok.choose` (the best silhouette, checked against how
  many words the photos use; close k are said).
* **Scores.** Each image's ``score`` is the cosine similarity of its clustered feature to its centroid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from proxysort.encoders import ClipModel, ModelSpec
from proxysort.env import Environment
from proxysort.errors import InputError, UsageError
from proxysort.groups import check_k
from proxysort.pathcolumn import ContentIds, IdsByPath, PathColumn, texts_of
from proxysort.progress import Reporter
from proxysort.words import WordList

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.corrections import Gesture
    from proxysort.indexer import IndexedFolder, Source
    from proxysort.learn.core import ProxyConfig, ProxyResult
    from proxysort.manifest import ConceptRun, Manifest, Memory
    from proxysort.output import Grouped, TreePlan, WriteSummary
    from proxysort.page.data import PageRun
    from proxysort.page.publish import PageJob
    from proxysort.rows import Features
    from proxysort.stable import Placement


@dataclass(frozen=True)
class By:
    """One concept to sort by, and where its candidate words come from.

    ``words`` is the list itself, or a :class:`WordList` already resolved (e.g. confirmed at a prompt);
    without it, ``words_file``, then an LLM, then the offline lexicon are asked (:func:`proxysort.words.get_words`).
    ``k`` is the number of groups (None: chosen automatically).
    """

    concept: str
    words: Sequence[str] | WordList | None = None
    words_file: Path | str | None = None
    noun: str | None = None
    k: int | None = None


@dataclass
class ConceptResult:
    """The grouping of every image along one concept."""

    concept: str
    noun: str
    words: list[str]
    word_source: str
    word_detail: str
    feature: str
    k: int
    labels: "np.ndarray"  # N, group index per image
    names: list[str]  # k, one distinct name per group
    scores: "np.ndarray"  # N, cosine similarity to the own centroid
    proxy: "ProxyResult" = field(repr=False)
    #: What the tree keeps for the next run: centres, members, the user's pins and names (stable.py).
    memory: "Memory | None" = field(default=None, repr=False)
    #: How a re-run kept the earlier groups (None: the groups were made afresh).
    placement: "Placement | None" = field(default=None, repr=False)
    #: Photos whose link the user deleted: labelled (nearest group) but not linked into the tree.
    left_out: frozenset[str] = frozenset()
    #: The candidate words as given (user, file, LLM, lexicon); ``words`` are those the method kept. Both are
    #: recorded, so a tree can be made again from its record.
    candidates: list[str] = field(default_factory=list)
    #: N, photos on their group's edge, shown in its ``-unsure`` folder (:func:`proxysort.groups.unsure_photos`);
    #: None: none.
    unsure: "np.ndarray | None" = field(default=None, repr=False)

    def image_names(self) -> list[str]:
        """The folder of every image, in image order: its group's name, or the group's ``-unsure`` folder."""
        from proxysort.groups import unsure_folder

        if self.unsure is None:
            return [self.names[int(i)] for i in self.labels]
        return [unsure_folder(self.names[int(i)]) if u else self.names[int(i)] for i, u in zip(self.labels, self.unsure)]


@dataclass
class SortResult:
    """Everything one :func:`sort` call produced; ``concepts`` follow the order of ``by``.

    ``model`` (the model as given) and ``mode`` (the proxy mode) are carried so that what is written
    from the result (the manifest's run records, the review page) names the settings that made it.
    """

    paths: Sequence[Path]  # the index's: a PathColumn from sort() (a Path made when read)
    concepts: list[ConceptResult]
    index: "IndexedFolder" = field(repr=False)
    seed: int = 0
    model: ModelSpec = field(kw_only=True)
    mode: str = field(kw_only=True)
    #: The user's gestures in the output folder that the groups were made with (``tree`` given to sort).
    gestures: "list[Gesture]" = field(default_factory=list, kw_only=True)

    @property
    def failures(self) -> list[tuple[Path, str]]:
        return self.index.failures

    @property
    def roots(self) -> list[Path]:
        """The photo folders (from the index): output must stay out of them."""
        return self.index.roots


def as_by(by: str | By | Sequence[str | By]) -> list[By]:
    """``by`` as a list of :class:`By`, concepts normalised (whitespace) and checked: at least one, all
    different, every given ``k`` at least 1."""
    items = [by] if isinstance(by, (str, By)) else list(by)
    out = [b if isinstance(b, By) else By(b) for b in items]
    out = [dataclasses.replace(b, concept=" ".join(b.concept.split())) for b in out]
    if not out or not all(b.concept for b in out):
        raise UsageError("Name at least one concept to sort by, e.g. `by` color.")
    if len({b.concept.casefold() for b in out}) != len(out):
        raise UsageError(f"Each `by` concept must be different (got {', '.join(b.concept for b in out)}).")
    for b in out:
        if b.k is not None:
            check_k(b.k)
    return out


def resolve_words(
    by: str | By | Sequence[str | By],
    *,
    llm_model: str | None = None,
    env: Environment | None = None,
    reporter: Reporter | None = None,
    cache_dir: Path | None = None,
    announce: bool = True,
) -> list[By]:
    """``by`` with every ``words`` resolved to a :class:`WordList` (user, file, LLM, lexicon; see
    :func:`proxysort.words.get_words`), each announced on the reporter unless ``announce`` is False (the
    CLI shows them itself, once, when it asks a person to confirm them)."""
    from proxysort.words import default_noun, get_words

    env = env or Environment()
    reporter = reporter or Reporter()
    out = []
    for b in as_by(by):
        if isinstance(b.words, WordList):
            out.append(b)
            continue
        wordlist = get_words(
            b.concept,
            noun=b.noun or default_noun(b.concept),
            words=list(b.words) if b.words is not None else None,
            words_file=Path(b.words_file) if b.words_file is not None else None,
            llm_model=llm_model,
            k=b.k,
            env=env,
            reporter=reporter,
            cache_dir=cache_dir,
        )
        if announce:
            reporter.message(f"{wordlist.describe()}: {', '.join(wordlist.words)}")
        out.append(dataclasses.replace(b, words=wordlist))
    return out


def at_k(res: "ProxyResult", feature: str, rows: "np.ndarray", k: int, seed: int) -> tuple["Features", "Features"]:
    """(every photo's, the kept ``rows``') ``feature`` as k-means at ``k`` groups of the kept photos sees it
    (:func:`proxysort.groups.image_factor`): centres, edges, scores and the left-out photos' nearest group
    are all measured in it. Made afresh from ``res`` on each call; with every photo kept (the usual case) both
    are one array, weighed in place where ``res`` makes the feature on access (:meth:`ProxyResult.owned_feature`),
    so the weighing costs no second N-row copy. An archive's ``imagemix`` is float16 rows
    (:class:`proxysort.rows.HalfRows`) that every step below reads a block at a time."""
    from proxysort.groups import image_factor, weigh_image
    from proxysort.rows import HalfRows

    factor = image_factor(res, feature, rows, k, seed)
    every = bool(rows.all())
    if factor == 1.0:
        x = res.feature(feature)
        return x, (x if every else x.subset(rows) if isinstance(x, HalfRows) else x[rows])
    width = res.feature("scoremix").shape[1]  # made and let go before the feature: not held beside it
    # weighed in place on an array of the caller's own: no second N-row copy at the peak (issue 25)
    x = weigh_image(res.owned_feature(feature), width, factor)
    # the kept rows of an array are a copy (never res's own); of float16 rows, float16 rows
    return x, (x if every else x.subset(rows) if isinstance(x, HalfRows) else x[rows])


def sort(
    source: "Source",
    by: str | By | Sequence[str | By],
    *,
    model: ModelSpec | ClipModel | None = None,
    training: "ProxyConfig | None" = None,
    feature: str | None = None,
    llm_model: str | None = None,
    cache_dir: Path | None = None,
    exclude: Sequence[Path] = (),
    include_hidden: bool = False,
    strict: bool = False,
    env: Environment | None = None,
    reporter: Reporter | None = None,
    ray: str | None = None,
    proxy_cache: bool = True,
    tree: Path | str | None = None,
    recluster: bool = False,
) -> SortResult:
    """Sort the photos of ``source`` (a folder, or a list of files) along each concept in ``by``.

    New or changed photos are indexed first (incrementally, with the same loaded model). Several concepts
    are learned together, so the concept-contrast term keeps their proxies apart. ``model`` is a loaded
    :class:`ClipModel` or a :class:`ModelSpec` (default: from ``env``); ``training`` holds every proxy
    learning setting, its ``seed`` also seeds k-means. Writes nothing but the caches (learned proxies are
    kept in the model's store and reused; ``proxy_cache=False`` learns afresh and keeps nothing); see
    :func:`write_folders` for the folder tree. ``ray`` (a Ray address, ``auto`` or ``local``) indexes and
    learns the proxies on that cluster (:mod:`proxysort.distributed`); k-means and naming stay here, so the
    result is the local one; the default method's scores of every photo are computed there too.

    ``tree`` is the output folder a re-run writes to: its groups are kept (:mod:`proxysort.stable`) when the
    setup is the same, unless ``recluster``; the user's corrections there (:mod:`proxysort.corrections`)
    are read first and learned from either way.
    """
    import functools

    import numpy as np

    from proxysort.autok import choose
    from proxysort.encoders import check_weights
    from proxysort.groups import (
        centroid_scores,
        constrained_kmeans,
        distances,
        find_unsure,
        kmeans,
        name_groups,
        spherical_for,
        unsure_folder,
    )
    from proxysort.indexer import LazyModel, index
    from proxysort.learn.core import AUTO_K_FEATURE, Concept, ProxyConfig
    from proxysort.learn.registry import method_for, settled
    from proxysort.proxycache import learn_cached
    from proxysort.rows import paths_where, subset
    from proxysort.stable import (
        changed_settings,
        pin_clusters,
        pinned_rows,
        place,
        remember,
        setup_of,
        usable,
        user_names,
    )

    env = env or Environment()
    reporter = reporter or Reporter()
    spec = None if isinstance(model, ClipModel) else (model or ModelSpec.from_env(env.vars))
    if spec is not None:
        check_weights(spec, env.vars, reporter)  # before words, scan and learning: fail or download first
    # Settings, options and feature checked before asking an LLM for words or indexing anything.
    config, feature = settled(training or ProxyConfig(), feature)
    concepts = resolve_words(by, llm_model=llm_model, env=env, reporter=reporter, cache_dir=cache_dir)
    # Made here, before the scan: a list of fewer than two different words is refused before any photo is read.
    wordlists = [b.words for b in concepts if isinstance(b.words, WordList)]
    proxy_concepts = [Concept(w.concept, tuple(w.words), noun=w.noun) for w in wordlists]
    seed = config.seed

    learner = None
    if ray is not None:
        from proxysort import distributed

        index = functools.partial(distributed.index, ray=ray)
        learner = functools.partial(distributed.learn_proxies, ray=ray)

    def check_found(found: int) -> None:  # before any photo is embedded; no photo at all is said below
        for b in concepts:
            if b.k is not None and found:
                check_k(b.k, found)

    # The index loads the model only if some photo needs embedding; learning needs it in any case.
    # The vectors stay in the store: the default method scores them a block at a time (issue 25: a sort's
    # memory does not grow by N×d floats); a method that learns every photo at once reads them all below.
    indexed = index(source, model=model if isinstance(model, ClipModel) else spec, cache_dir=cache_dir,
                    exclude=exclude, include_hidden=include_hidden, strict=strict, reporter=reporter, env=env,
                    check_found=check_found, load_vectors=False)
    # The model as far as it is loaded: the learning loads it only if something must be embedded or learned
    # (a re-run whose words' text features are cached never imports torch).
    clip = model if isinstance(model, ClipModel) else indexed.clip
    wanted = model.spec if isinstance(model, ClipModel) else (spec or ModelSpec.from_env(env.vars))
    # The lazy model is the only holder of the model here (a caller's own model aside): the learning lets it go
    # as soon as the words are embedded, before the photos are scored (issue 25: ~0.6 GB for ViT-B-32).
    lazy = LazyModel(wanted, clip, env.vars, reporter)
    del clip
    indexed.clip = None
    n = len(indexed.paths)
    if n == 0:
        raise InputError("No usable photos were found, so there is nothing to sort.")
    for b in concepts:
        if b.k is not None:
            check_k(b.k, n)

    ks = {b.k for b in concepts}
    one_k = ks.pop() if len(ks) == 1 else None  # one k for every concept: methods that prune words stop at k
    store = indexed.store if proxy_cache else None
    vectors = indexed.vectors if method_for(config).from_words is not None else np.asarray(indexed.vectors)
    if ray is not None and not isinstance(vectors, np.ndarray):  # scored on the workers, each reading the store
        vectors = distributed.on_workers(vectors, ray, reporter)
    results = learn_cached(vectors, proxy_concepts, lazy, config, reporter, store, learner=learner, k=one_k)
    # A method that learns every photo let it go only now: before the work that grows with the photos (k-means,
    # names, the tree).
    lazy.release()
    used = lazy.used or wanted
    del lazy

    previous: Manifest | None = None
    gestures: list[Gesture] = []
    if tree is not None:
        from proxysort.corrections import changes, read_corrections

        previous, gestures = read_corrections(Path(tree).expanduser())
        for line in changes(gestures):
            reporter.message(line)
    memories = {t.name.casefold(): t.memory for t in (previous.concepts if previous else []) if t.memory is not None}
    # The index's column read as str, and its content ids: views, nothing made per photo (issue 25).
    paths = texts_of(indexed.paths)
    content_ids: Sequence[str] = indexed.content_ids if len(indexed.content_ids) == n else [""] * n
    out: list[ConceptResult] = []
    for b, wl, res in zip(concepts, wordlists, results):
        spherical = spherical_for(feature)
        memory = memories.get(wl.concept.casefold())
        setup = setup_of(identity=indexed.identity, mode=config.mode, feature=feature, words=wl.words, k=b.k, seed=seed)
        changed = changed_settings(memory, setup) if memory is not None and memory.setup else []
        left_out = frozenset(memory.left_out) if memory is not None and not recluster else frozenset()
        rows = np.array([p not in left_out for p in paths], dtype=bool) if left_out else np.ones(n, dtype=bool)
        kept_paths = paths_where(paths, rows) if left_out else paths
        kept_ids = _where(content_ids, rows) if left_out else content_ids
        if len(kept_paths) == 0:
            raise InputError(f"Every photo's link was deleted from the '{wl.concept}' tree, so there is nothing to sort; "
                             "`recluster` brings them back.")
        # Every photo's feature (x) and the kept photos' (xk) are made by at_k at the k clustered, once: an
        # N-row copy made here too would be held beside them (issue 25).
        placement = None
        if memory is not None and usable(memory) and not recluster and not changed:
            x, xk = at_k(res, feature, rows, len(memory.groups), seed)
            placement = place(xk, kept_paths, kept_ids, memory, spherical=spherical)
            if placement is None:
                del x, xk  # made again below at the k chosen then; not held beside the new ones
        if memory is not None and placement is not None:
            k, names, centres = len(placement.names), placement.names, placement.centres
            by_user = [g.by_user for g in memory.groups]
            kept_labels, kept_unsure, unsure_margin = placement.labels, placement.unsure, memory.unsure_margin
        else:
            if changed:
                reporter.message(f"{wl.concept}: the setup changed ({', '.join(changed)}), so its tree is made again")
            elif recluster and memory is not None:
                reporter.message(f"{wl.concept}: grouped again from scratch"
                                 + (f", following the {len(memory.pins)} photo(s) you placed" if memory.pins else ""))
            elif memory is not None and usable(memory):
                reporter.message(f"{wl.concept}: no photo of its groups is left to place new ones by, so its tree "
                                 "is made again")
            # Automatic k considers up to the number of words asked for, not those that survived pruning:
            # photos of a value missing from the list may use no word of their own (measured: counting
            # survivors lost the true k on three of five imperfect lists, benchmarks/results/quality.md).
            if b.k is not None:
                k = b.k
            else:
                probs = res.features.get("probs")
                k_feature = AUTO_K_FEATURE.get(feature, feature)  # imagemix: its words' half
                auto = choose(res.feature(k_feature)[rows], len(wl.words), seed=seed, spherical=spherical_for(k_feature),
                              probs=None if probs is None else probs[rows], anchors=wl.source == "anchors")
                k = auto.k
                if auto.close:
                    reporter.warning(
                        f"{wl.concept}: unsure how many groups: {k} chosen, but {auto.alternatives()} fit almost as well "
                        f"({auto.evidence()}); give `k` if you know how many values there are."
                    )
            x, xk = at_k(res, feature, rows, k, seed)
            km = kmeans(xk, k, seed=seed, spherical=spherical)
            # Anchors are random words, not values: never a folder name (person-1 … person-k); nor are words
            # that fit the photos poorly as a whole (groups.name_groups).
            every = bool(rows.all())
            naming = name_groups(wl.concept, vectors if every else subset(vectors, rows), km.labels, k,
                                 res.prompts() if every else subset(res.prompts(), rows), res.word_features,
                                 list(res.concept.words), anchors=wl.source == "anchors")
            names, weak = list(naming.names), naming.weak
            if naming.mismatch:
                reporter.warning(
                    f"{wl.concept}: the candidate words fit these photos poorly as a whole, so the groups are "
                    f"numbered ({min(names)} …) rather than named after a word that may be wrong. Give `words` "
                    "(or `words_file`) with the values you expect."
                )
            pins = pinned_rows(memory, kept_paths)
            of_id: dict[int, int] = {}
            if memory is not None and pins:  # the user's placements are labelled examples
                of_id = pin_clusters(memory, pins, km.labels, names)
                start = np.asarray(km.centroids)
                for c in range(k, max(of_id.values()) + 1):  # a group of the user's no cluster matches: one more
                    gid = next(g for g, cc in of_id.items() if cc == c)
                    start = np.vstack([start, xk[[r for r, g in pins.items() if g == gid]].mean(axis=0)])
                    names.append(memory.groups[gid].name)
                km = constrained_kmeans(xk, start, {r: of_id[g] for r, g in pins.items()}, spherical=spherical)
                k = len(names)
            kept_labels, centres = km.labels, km.centroids
            names, by_user = user_names(memory, of_id, names, km.labels, kept_paths)
            # Photos on a group's edge go to its -unsure folder; neutral names never lie, so they need none.
            kept_unsure, unsure_margin = find_unsure(xk, kept_labels, np.asarray(centres), names, spherical=spherical,
                                                     neutral=naming.neutral)
            placed_unsure = set(memory.unsure) if memory is not None else set()
            for r in pins:  # where the user put them: the group's folder, or its -unsure folder
                kept_unsure[r] = kept_paths[r] in placed_unsure
            doubtful = [names[w.cluster] for w in weak if not by_user[w.cluster]]  # the user named the others
            if doubtful:
                reporter.warning(
                    f"{wl.concept}: the names of {', '.join(doubtful)} are guesses: their words do not single out "
                    "their photos (a value may be missing from the word list, or the model confuses two of its words)."
                )
        labels = np.zeros(n, dtype=np.int64)
        labels[rows] = kept_labels
        unsure = np.zeros(n, dtype=bool)
        unsure[rows] = kept_unsure
        if not rows.all():  # photos left out are labelled with their nearest group, for the listing only
            labels[~rows] = np.argmin(distances(x[~rows], np.asarray(centres), spherical), axis=1)
        scores = centroid_scores(x, labels, np.asarray(centres))
        kept_memory = remember(xk, kept_labels, names, kept_paths, kept_ids,
                               setup=setup, spherical=spherical, previous=memory, recluster=recluster, by_user=by_user,
                               centres=np.asarray(centres), unsure=kept_unsure, unsure_margin=unsure_margin)
        out.append(
            ConceptResult(wl.concept, wl.noun, list(res.concept.words), wl.source, wl.detail, feature, k,
                          labels, names, scores, res, memory=kept_memory, placement=placement, left_out=left_out,
                          candidates=list(wl.words), unsure=unsure)
        )
        if placement is not None:
            reporter.message(placement.summary(wl.concept))
        sizes = np.bincount(labels[rows], minlength=k)
        edge = np.bincount(labels[rows & unsure], minlength=k)
        summary = ", ".join(f"{names[i]} ({sizes[i]}" + (f", {edge[i]} in {unsure_folder(names[i])})" if edge[i] else ")")
                            for i in np.argsort(-sizes))
        reporter.message(f"{wl.concept}: {len(kept_paths)} photos in {k} groups: {summary}"
                         + (f"; {n - len(kept_paths)} left out (their links were deleted)" if len(kept_paths) < n else ""))
    # The index's own paths (a column: a Path is made when one is read).
    return SortResult(indexed.paths, out, indexed, seed, model=used,
                      mode=config.mode,
                      gestures=gestures)


def _where(ids: Sequence[str], rows: "np.ndarray") -> Sequence[str]:
    """The content ids where ``rows`` is true: a column's own kind, else a list."""
    return ids.take(rows) if isinstance(ids, ContentIds) else [c for c, r in zip(ids, rows) if r]


def write_folders(
    result: SortResult,
    out: Path | str,
    *,
    link: str = "symlink",
    dry_run: bool = False,
    keep_duplicates: bool = False,
    keep_folders: bool = False,
    reporter: Reporter | None = None,
    page: "PageJob | None" = None,
) -> tuple["TreePlan", "WriteSummary | None"]:
    """Write (or with ``dry_run`` only plan) ``OUT/<concept>/<group>/<photo>`` for ``result``.

    The tree must stay out of the photo folders (``result.roots``). Companions the index found (sidecars,
    Live Photo clips, RAW twins) are linked beside their photo; byte-identical photos appear once per group
    unless ``keep_duplicates``; ``keep_folders`` puts each photo under its album
    (``OUT/color/red/2019/Summer holiday/IMG_1.jpg``). Other concepts' trees from earlier runs in ``out`` are kept. The manifest
    records with each concept's tree the run that made it (:func:`run_records`). The returned plan is the
    one carried out (planned again under the output folder's lock). ``page`` (a :class:`PageJob` for
    :func:`page_run` of ``result``) makes the thumbnails first, then writes the review page in the same
    locked section as the tree.
    """
    import os

    from proxysort.output import check_output_folder, make_tree, plan_tree

    # The index's column read as str (a view: a str made when read, none held per photo; the plan holds
    # paths as positions and buffers of bytes, issue 25); a list of str for any other sequence.
    texts = texts_of(result.paths)
    groups = {c.concept: _grouped(c, texts) for c in result.concepts}
    memories = {c.concept: c.memory for c in result.concepts if c.memory is not None}
    index = result.index
    companions = {str(k): [str(c) for c in v] for k, v in index.companions.items()}
    ids = index.content_ids
    content_ids: Mapping[str, str] = {}
    if len(ids) == len(result.paths):  # photo -> content id: read from the columns, no dict of N entries (issue 25)
        content_ids = (IdsByPath(result.paths, ids) if isinstance(result.paths, PathColumn)
                       else dict(zip(texts, ids)))
    where = Path(os.path.abspath(Path(out).expanduser()))
    options: dict[str, Any] = dict(link=link, photo_roots=result.roots, companions=companions, content_ids=content_ids,
                   keep_duplicates=keep_duplicates, runs=run_records(result), keep_folders=keep_folders,
                   memories=memories, basis=result.gestures)
    if dry_run:
        return plan_tree(where, groups, **options), None
    if page is not None:
        check_output_folder(where, result.roots)  # refused before the thumbnails are made, not after
        page.prepare(where)
    # Planned once, under the folder's lock (a plan made here first would be made again there: twice the rows).
    summary = make_tree(where, groups, reporter=reporter, after=page, **options)
    assert summary.plan is not None  # make_tree always plans
    return summary.plan, summary


def _grouped(c: ConceptResult, paths: Sequence[str]) -> "Grouped":
    """The concept's (photo, folder) pairs for the tree, as :meth:`ConceptResult.image_names` names the folders and
    without the photos left out, made when read (:class:`proxysort.output.Grouped`): no pair per photo held."""
    import numpy as np

    from proxysort.groups import unsure_folder
    from proxysort.output import Grouped

    names, groups = list(c.names), np.asarray(c.labels, dtype=np.int64)
    if c.unsure is not None:  # group i's -unsure folder is name k + i
        names += [unsure_folder(n) for n in c.names]
        groups = groups + len(c.names) * np.asarray(c.unsure, dtype=np.int64)
    rows = None if not c.left_out else [i for i, p in enumerate(paths) if p not in c.left_out]
    return Grouped(paths, groups, names, rows)


def page_run(result: SortResult) -> "PageRun":
    """What the review page needs of ``result`` (its own input type): photos, roots, and per concept the
    groups, scores, the clustered feature and how near each group is to each word; the model named as the
    user gave it (a file by its name)."""
    import numpy as np

    from proxysort.groups import cluster_centres
    from proxysort.page.data import PageRun, RunConcept

    concepts = []
    for c in result.concepts:
        centres = cluster_centres(c.proxy.prompts(), np.asarray(c.labels), c.k)
        wf = np.asarray(c.proxy.word_features, dtype=np.float64)
        wf = wf / np.maximum(np.linalg.norm(wf, axis=1, keepdims=True), 1e-12)
        word_scores = centres @ wf.T if len(wf) else np.zeros((c.k, 0))
        concepts.append(RunConcept(c.concept, list(c.words), c.word_source, list(c.names), result.mode, c.feature,
                                   c.k, np.asarray(c.labels), np.asarray(c.scores),
                                   np.asarray(c.proxy.feature(c.feature)), word_scores,
                                   np.zeros(len(c.labels), dtype=bool) if c.unsure is None else np.asarray(c.unsure)))
    spec = result.model
    label = " \u00b7 ".join(Path(v).name if ("/" in v or v.endswith((".json", ".pt", ".bin", ".safetensors"))) else v
                           for v in (spec.model, spec.pretrained or "none"))
    return PageRun(texts_of(result.paths), [str(r) for r in result.roots],
                   [(str(p), str(reason)) for p, reason in result.failures], label, result.seed, concepts)


def run_records(result: SortResult) -> dict[str, "ConceptRun"]:
    """concept -> how its grouping was made, for the manifest: every fact as ``result`` carries it (none is
    worked out again), and the time, now, in UTC (ISO 8601, to the second)."""
    from datetime import datetime, timezone

    from proxysort import __version__
    from proxysort.manifest import ConceptRun

    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        c.concept: ConceptRun(
            words=tuple(c.words), candidates=tuple(c.candidates or c.words), word_source=c.word_source, model=result.model.model,
            pretrained=result.model.pretrained, identity=result.index.identity, mode=result.mode, feature=c.feature,
            k=c.k, seed=result.seed, proxysort_version=__version__, written=when,
        )
        for c in result.concepts
    }
