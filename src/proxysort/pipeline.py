"""The library API behind ``proxysort cluster`` and ``proxysort eval``: words → index → proxies → clusters.

    >>> run = proxysort.sort("~/photos", by="color", k=4, words=["red", "green", "yellow", "brown"])
    >>> run.concepts[0].names, run.concepts[0].labels[:5]
    >>> proxysort.write_folders(run, "~/photos-sorted")

Choices made here, in one place:

* **Features.** k-means runs on ``ProxyResult.feature(feature)`` (default :data:`proxysort.proxy.DEFAULT_FEATURE`),
  spherically except for the ``weights`` feature, whose rows are probability vectors compared by position.
* **Names.** Each cluster is named in the prompt space: the mean of its images' learned prompt embeddings
  against the filled-in prompts of the candidate words (``ProxyResult.word_features``), whatever feature
  was clustered, so that names mean the same thing in every mode.
* **Automatic k** (``k=None``): the k between 2 and ``min(words, 12, distinct photos)`` with the best
  cosine silhouette of k-means on the clustering feature (silhouette on at most 2,000 sampled rows).
* **Scores.** Each image's ``score`` is the cosine similarity of its clustered feature to its centroid.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from proxysort.encoders import DEFAULT_MODEL, DEFAULT_PRETRAINED, ModelSpec
from proxysort.env import Environment
from proxysort.errors import InputError, UsageError
from proxysort.formats import ResultRow
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.encoders import ClipModel
    from proxysort.indexer import IndexedFolder
    from proxysort.metrics import SeedScores
    from proxysort.output import TreePlan, WriteSummary
    from proxysort.proxy import ProxyConfig, ProxyResult
    from proxysort.words import WordList

#: Largest k the automatic choice considers: beyond this, folders stop being browsable anyway.
AUTO_K_MAX = 12
_SILHOUETTE_SAMPLE = 2000

WordsArg = Sequence[str] | Mapping[str, Sequence[str]] | None
WordsFileArg = Path | str | Mapping[str, Path | str] | None


@dataclass
class ConceptResult:
    """The clustering of every image along one concept."""

    concept: str
    noun: str
    words: list[str]
    word_source: str
    word_detail: str
    feature: str
    k: int
    labels: "np.ndarray"  # N, cluster index per image
    names: list[str]  # k, one distinct name per cluster
    scores: "np.ndarray"  # N, cosine similarity to the own centroid
    proxy: "ProxyResult" = field(repr=False)

    def image_names(self) -> list[str]:
        """The cluster name of every image, in image order."""
        return [self.names[int(i)] for i in self.labels]


@dataclass
class ClusterRun:
    """Everything one ``cluster()`` call produced; ``concepts`` follow the ``by`` order."""

    paths: list[Path]
    concepts: list[ConceptResult]
    index: "IndexedFolder" = field(repr=False)
    roots: list[Path] = field(default_factory=list)  # the photo folders; output must stay out of them
    seed: int = 0

    @property
    def failures(self) -> list[tuple[Path, str]]:
        return self.index.failures

    def rows(self, dest: Mapping[tuple[str, str], str] | None = None, out: Path | None = None) -> list[ResultRow]:
        """One :class:`ResultRow` per (image, concept); ``dest``/``out`` come from a :class:`TreePlan`."""
        rows = []
        for c in self.concepts:
            for path, label, score in zip(self.paths, c.labels, c.scores):
                rel = dest.get((c.concept, str(path))) if dest else None
                where = str(out / rel) if (rel is not None and out is not None) else None
                rows.append(ResultRow(str(path), c.concept, int(label), c.names[int(label)], float(score), where))
        return rows


def _as_list(by: Sequence[str] | str) -> list[str]:
    concepts = [by] if isinstance(by, str) else list(by)
    concepts = [" ".join(c.split()) for c in concepts]
    if not concepts or not all(concepts):
        raise UsageError("Name at least one concept to sort by, e.g. --by color.")
    if len({c.casefold() for c in concepts}) != len(concepts):
        raise UsageError(f"Each --by concept must be different (got {', '.join(concepts)}).")
    return concepts


def _per_concept(value: object, concepts: list[str], what: str) -> list[object]:
    """Spread a words/words-file argument over concepts: one value for one concept, or a concept mapping."""
    if value is None:
        return [None] * len(concepts)
    if isinstance(value, Mapping):
        unknown = set(value) - set(concepts)
        if unknown:
            raise UsageError(f"{what} names concepts that are not being sorted by: {', '.join(sorted(map(str, unknown)))}.")
        return [value.get(c) for c in concepts]
    if len(concepts) > 1:
        raise UsageError(f"With several concepts, give {what} per concept (a mapping), not one list for all.")
    return [value]


def _per_concept_k(k: int | Mapping[str, int] | None, concepts: list[str]) -> list[int | None]:
    """One k for every concept, or a mapping concept -> k (concepts it leaves out get the automatic k)."""
    ks = [k.get(c) for c in concepts] if isinstance(k, Mapping) else [k] * len(concepts)
    for value in ks:
        if value is not None and value < 1:
            raise UsageError(f"--k must be at least 1 (got {value}).")
    return ks


def resolve_words(
    by: Sequence[str] | str,
    *,
    words: WordsArg = None,
    words_file: WordsFileArg = None,
    llm_model: str | None = None,
    noun: str | None = None,
    k: int | Mapping[str, int] | None = None,
    env: Environment | None = None,
    reporter: Reporter | None = None,
    cache_dir: Path | None = None,
) -> list["WordList"]:
    """Candidate words for each concept, from :func:`proxysort.words.get_words` (user, file, LLM, lexicon)."""
    from proxysort.words import default_noun, get_words

    concepts = _as_list(by)
    env = env or Environment()
    reporter = reporter or Reporter()
    lists = []
    ks = _per_concept_k(k, concepts)
    spread = zip(concepts, _per_concept(words, concepts, "words"), _per_concept(words_file, concepts, "words files"), ks)
    for concept, w, wf, k_c in spread:
        wordlist = get_words(
            concept,
            noun=noun or default_noun(concept),
            words=w,  # type: ignore[arg-type]
            words_file=Path(wf) if wf is not None else None,  # type: ignore[arg-type]
            llm_model=llm_model,
            k=k_c,
            env=env,
            reporter=reporter,
            cache_dir=cache_dir,
        )
        reporter.message(f"{wordlist.describe()}: {', '.join(wordlist.words)}")
        lists.append(wordlist)
    return lists


def choose_k(features: "np.ndarray", n_words: int, *, seed: int = 0, spherical: bool = True) -> int:
    """Automatic k: best cosine silhouette for k in 2..min(words, AUTO_K_MAX, distinct rows)."""
    import numpy as np
    from sklearn.metrics import silhouette_score

    from proxysort.cluster import count_distinct, kmeans

    top = min(max(n_words, 2), AUTO_K_MAX, count_distinct(features), len(features) - 1)
    if top < 2:
        return 1
    best_k, best = 2, -np.inf
    sample = min(len(features), _SILHOUETTE_SAMPLE)
    for k in range(2, top + 1):
        # Two starts per candidate k are enough to rank them; the final clustering uses the full count.
        labels = kmeans(features, k, seed=seed, n_init=2, spherical=spherical).labels
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(features, labels, metric="cosine", sample_size=sample, random_state=seed)
        if score > best + 1e-9:
            best_k, best = k, float(score)
    return best_k


def _spherical(feature: str) -> bool:
    return feature != "weights"


def cluster(
    source: Path | str | Sequence[Path | str],
    by: Sequence[str] | str,
    *,
    k: int | Mapping[str, int] | None = None,
    words: WordsArg = None,
    words_file: WordsFileArg = None,
    llm_model: str | None = None,
    noun: str | None = None,
    wordlists: Sequence["WordList"] | None = None,
    mode: str = "subspace",
    feature: str | None = None,
    epochs: int | None = None,
    proxy_config: "ProxyConfig | None" = None,
    model: str = DEFAULT_MODEL,
    pretrained: str = DEFAULT_PRETRAINED,
    device: str = "auto",
    spec: ModelSpec | None = None,
    clip: "ClipModel | None" = None,
    cache_dir: Path | None = None,
    exclude: Sequence[Path] = (),
    strict: bool = False,
    seed: int = 0,
    env: Environment | None = None,
    reporter: Reporter | None = None,
) -> ClusterRun:
    """Sort the photos of ``source`` (a folder, or a list of files) along each concept in ``by``.

    New or changed photos are indexed first (incrementally, with the same loaded model). Several concepts
    are learned together, so the concept-contrast term keeps their proxies apart. ``wordlists`` (from
    :func:`resolve_words`, possibly edited by the user) replace the ``words``/``words_file``/``llm_model``
    sources. Writes nothing but the vector cache; see :func:`write_folders` for the folder tree.
    """
    import dataclasses

    import numpy as np

    from proxysort.cluster import centroid_scores, cluster_centres, kmeans, name_clusters
    from proxysort.encoders import load_clip
    from proxysort.indexer import index
    from proxysort.proxy import DEFAULT_FEATURE, Concept, ProxyConfig, learn_proxies

    concepts = _as_list(by)
    env = env or Environment()
    reporter = reporter or Reporter()
    ks = _per_concept_k(k, concepts)
    if wordlists is None:
        wordlists = resolve_words(
            concepts, words=words, words_file=words_file, llm_model=llm_model, noun=noun, k=k,
            env=env, reporter=reporter, cache_dir=cache_dir,
        )
    if [w.concept for w in wordlists] != concepts:
        raise UsageError("The word lists must follow the --by concepts, one list per concept, in order.")
    # An explicit ProxyConfig wins over mode/seed; epochs, when given, override either.
    config = dataclasses.replace(proxy_config) if proxy_config is not None else ProxyConfig(mode=mode, seed=seed)
    if epochs is not None:
        config.epochs = epochs
    config.validate()
    feature = feature or DEFAULT_FEATURE

    if clip is None:
        spec = spec or ModelSpec(model=model, pretrained=pretrained, device=device)
        clip = load_clip(spec, env=env.vars)
    indexed = index(source, clip=clip, cache_dir=cache_dir, exclude=exclude, strict=strict, reporter=reporter, env=env)
    n = len(indexed.paths)
    if n == 0:
        raise InputError("No usable photos were found, so there is nothing to sort.")
    for k_c in ks:
        if k_c is not None and k_c > n:
            raise UsageError(f"--k {k_c} asks for more clusters than there are photos ({n}); use --k {n} or fewer.")

    proxy_concepts = [Concept(w.concept, tuple(w.words), noun=w.noun) for w in wordlists]
    results = learn_proxies(indexed.vectors, proxy_concepts, clip, config, reporter)

    out: list[ConceptResult] = []
    for wl, res, k_c in zip(wordlists, results, ks):
        x = res.feature(feature)
        spherical = _spherical(feature)
        k_c = k_c if k_c is not None else choose_k(x, len(wl.words), seed=seed, spherical=spherical)
        km = kmeans(x, k_c, seed=seed, spherical=spherical)
        naming = res.features.get("prompt", indexed.vectors)
        names = name_clusters(cluster_centres(naming, km.labels, k_c), res.word_features, list(res.concept.words))
        scores = centroid_scores(x, km.labels, km.centroids)
        out.append(
            ConceptResult(wl.concept, wl.noun, list(res.concept.words), wl.source, wl.detail, feature, k_c,
                          km.labels, names, scores, res)
        )
        sizes = np.bincount(km.labels, minlength=k_c)
        summary = ", ".join(f"{names[i]} ({sizes[i]})" for i in np.argsort(-sizes))
        reporter.message(f"{wl.concept}: {n} photos in {k_c} groups: {summary}")
    return ClusterRun([Path(p) for p in indexed.paths], out, indexed, photo_roots(source), seed)


#: The package-level name (``proxysort.sort``): ``proxysort.cluster`` is the k-means submodule, and importing
#: a submodule rebinds the package attribute of the same name, so the function cannot be exported as that.
sort = cluster


def photo_roots(source: Path | str | Sequence[Path | str]) -> list[Path]:
    """The folders the photos live in: the folder itself, or the parent folders of listed files.

    The output tree may not overlap any of them.
    """
    items = [source] if isinstance(source, (str, Path)) else list(source)
    roots: dict[str, Path] = {}
    for item in items:
        p = Path(os.path.abspath(Path(item).expanduser()))
        root = p if p.is_dir() else p.parent
        roots.setdefault(str(root), root)
    return list(roots.values())


def write_folders(
    run: ClusterRun,
    out: Path | str,
    *,
    link: str = "symlink",
    dry_run: bool = False,
    roots: Sequence[Path] = (),
    reporter: Reporter | None = None,
) -> tuple["TreePlan", "WriteSummary | None"]:
    """Write (or with ``dry_run`` only plan) ``OUT/<concept>/<cluster>/<photo>`` for ``run``.

    The tree must stay out of the photo folders: the run's source folders, the photos' own parent
    folders, and any extra ``roots``.
    """
    from proxysort.output import plan_tree, write_tree

    groups = {c.concept: list(zip(map(str, run.paths), c.image_names())) for c in run.concepts}
    all_roots = {str(r): Path(r) for r in [*run.roots, *roots]}
    for p in run.paths:
        all_roots.setdefault(str(p.parent), p.parent)
    plan = plan_tree(Path(out).expanduser(), groups, link=link, photo_roots=list(all_roots.values()))
    if dry_run:
        return plan, None
    return plan, write_tree(plan, reporter)


def paths_from_text(text: str, cwd: Path | None = None) -> list[Path]:
    """Parse a path list from stdin: NUL-separated if it contains a NUL, else one path per line.

    Relative paths are taken from ``cwd``; empty entries are ignored, duplicates kept once.
    """
    cwd = cwd or Path.cwd()
    parts = text.split("\0") if "\0" in text else text.splitlines()
    seen: dict[str, Path] = {}
    for part in parts:
        if not part.strip():
            continue
        path = Path(part).expanduser()
        path = path if path.is_absolute() else cwd / path
        seen.setdefault(str(path), path)
    if not seen:
        raise InputError("No paths were given on stdin; pipe a list of image files (one per line, or NUL-separated).")
    return list(seen.values())


# ------------------------------------------------------------------------------------------- evaluation


def read_labels(labels_csv: Path | str, column: str) -> dict[str, str]:
    """``labels.csv`` → {resolved absolute image path: label}; ``path`` is relative to the CSV's folder."""
    path = Path(labels_csv).expanduser()
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if "path" not in fields:
                raise InputError(f"{path} has no 'path' column; the first column must be 'path'.")
            if column not in fields:
                others = ", ".join(f for f in fields if f != "path")
                raise UsageError(f"{path} has no column {column!r}; its label columns are: {others}.")
            base = path.parent
            labels = {}
            for row in reader:
                if row.get("path") and row.get(column) not in (None, ""):
                    labels[str((base / row["path"]).resolve())] = str(row[column])
    except OSError as exc:
        raise InputError(f"Cannot read the labels file {path}: {exc.strerror or exc}.") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}.") from exc
    if not labels:
        raise InputError(f"{path} has no labelled rows in column {column!r}.")
    return labels


@dataclass
class EvalResult:
    """Scores of one concept against one label column: mean ± std over the k-means seeds."""

    concept: str
    column: str
    k: int
    n: int
    scores: "SeedScores"
    unlabelled: int  # clustered images the labels file does not mention (left out of the scores)


def evaluate(
    run: ClusterRun,
    labels_csv: Path | str,
    columns: Sequence[str] | None = None,
    *,
    k: int | None = None,
    seeds: Sequence[int] | None = None,
) -> list[EvalResult]:
    """Score each concept of ``run`` against ground truth, as the papers do.

    k-means is re-run on the same features with ten seeds (0..9) and ``k`` = the true number of classes
    (unless ``k`` is given); NMI, AMI, ARI, RI and Hungarian accuracy are averaged over the seeds. Only
    images present in the labels file are scored. ``columns`` default to the concept names.
    """
    import numpy as np

    from proxysort.cluster import kmeans
    from proxysort.metrics import DEFAULT_SEEDS, score_over_seeds

    columns = list(columns) if columns else [c.concept for c in run.concepts]
    if len(columns) != len(run.concepts):
        raise UsageError(f"Give one --label-column per --by concept ({len(run.concepts)}), not {len(columns)}.")
    results = []
    for concept, column in zip(run.concepts, columns):
        labels = read_labels(labels_csv, column)
        keys = [str(p.resolve()) for p in run.paths]
        rows = np.array([i for i, key in enumerate(keys) if key in labels], dtype=np.int64)
        if len(rows) == 0:
            raise InputError(f"None of the clustered photos appear in {labels_csv}; check its 'path' column.")
        truth = [labels[keys[i]] for i in rows]
        k_eval = k if k is not None else len(set(truth))
        x = concept.proxy.feature(concept.feature)[rows]
        spherical = _spherical(concept.feature)
        scores = score_over_seeds(
            truth, lambda s: kmeans(x, k_eval, seed=s, spherical=spherical).labels, seeds or DEFAULT_SEEDS
        )
        results.append(EvalResult(concept.concept, column, k_eval, len(rows), scores, len(keys) - len(rows)))
    return results
