"""Does clustering follow the named concept? NMI/ARI of every method, on both miniworlds or a real dataset.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --world shapes --out benchmarks/results/quality-shapes.md
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --world glyphs --out benchmarks/results/quality-glyphs.md
    .venv/bin/python benchmarks/quality.py --dataset ../shared/datasets/fruit360 \\
        --model ViT-B-32 --pretrained openai --concepts species,color           # real weights

For each concept (a labels.csv column) with k = its true number of values, and for each word list (the
exact values, and an imperfect one: a synonym, a true value missing, distractors — miniworld/candidates.py;
for real datasets the true values minus one plus lexicon distractors; for a concept no caption names,
random vocabulary anchors as proxysort uses for ``--by person``), the rows are: k-means on the image
embeddings; zero-shot argmax; k-means on the zero-shot score vectors (cosines, and CLIP's softmax of
them); every proxy method x its features; and proxysort's default. Every k-means figure is mean ± std
over ``--seeds`` k-means seeds and ``--world-seeds`` photo sets. Wall time per method is for the whole
photo set on this CPU (one torch thread).

The report also gives: zero-shot accuracy with the exact words (which attributes the model knows), how
often the automatic k (no --k) finds the true number, and how often a group was named as doubtful
(``-unsure``) with exact words (false alarms) and with imperfect ones.

Labels are read from labels.csv only, never from folder names. Nothing is written to the photo folder;
the miniworld folder is generated in a temporary directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

MINICLIP_CONFIG = ROOT / "tests" / "fixtures" / "miniclip.json"
MINICLIP_WEIGHTS = ROOT / "tests" / "fixtures" / "miniclip.pt"



def load_labels(folder: Path, concepts: list[str] | None) -> tuple[list[Path], dict[str, list[str]]]:
    """Image paths and label columns from ``folder/labels.csv``; numeric/bookkeeping columns are skipped."""
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [folder / r["path"] for r in rows]
    columns = [c for c in rows[0] if c != "path"]
    if concepts is None:
        concepts = [
            c for c in columns
            if 2 <= len({r[c] for r in rows}) <= 50 and not all(r[c].replace(".", "").isdigit() for r in rows)
            and c not in ("split", "source_class")
        ]
    missing = [c for c in concepts if c not in columns]
    if missing:
        raise SystemExit(f"labels.csv has no column {', '.join(missing)}; columns: {', '.join(columns)}")
    return paths, {c: [r[c] for r in rows] for c in concepts}


def imperfect_words(concept: str, values: list[str]) -> list[str]:
    """For real datasets without ``--words``: the true values minus one, plus two distractors.

    Distractors come from proxysort's offline lexicon for the concept (plausible values that are absent),
    so the list is imperfect the way an LLM's answer is. There is no synonym: that needs a human.
    """
    from proxysort.lexicon import lookup

    entry = lookup(concept)
    pool = [w for w in (entry.words if entry else ()) if w not in values]
    kept = sorted(values)[:-1] if len(values) > 2 else sorted(values)
    return kept + pool[:2]


def encode_images(clip, paths: list[Path], batch: int = 64) -> np.ndarray:
    """Unit-norm image features through the model's own preprocess (what the product's index computes)."""
    import torch
    from PIL import Image

    out = []
    for i in range(0, len(paths), batch):
        ims = []
        for p in paths[i:i + batch]:
            with Image.open(p) as im:
                ims.append(clip.preprocess(im.convert("RGB")))
        out.append(clip.encode_images(torch.stack(ims)))
    return np.concatenate(out)


def encode_world(world, clip, n: int, seed: int) -> tuple[list, np.ndarray]:
    """(samples, image features) of ``world``'s photo set ``seed`` of ``n`` photos: the photos are written to a
    temporary folder, encoded as the index would, and removed."""
    with tempfile.TemporaryDirectory(prefix="proxysort-world-") as tmp:
        samples = world.write_folder(Path(tmp), n, seed)
        x = encode_images(clip, [Path(tmp) / "images" / f"{i:05d}.png" for i in range(len(samples))])
    return samples, x


#: (mode, features) rows after the baselines. Each mode is learned once per concept and list.
ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("subspace", ("prompt", "fused", "weights")),
    ("free", ("prompt",)),
    ("linear", ("prompt",)),
    ("multimap", ("prompt", "concat")),
    ("multisub", ("concat", "scores", "probs", "prompt")),
    ("dproxy", ("fused", "scores", "probs", "scoremix", "prompt")),
)
BASELINES = ("image k-means", "zero-shot argmax", "zero-shot scores k-means", "zero-shot probabilities k-means")


def words_for(concept: str, truth: list[str], kind: str, given: dict[str, list[str]], unnamed: tuple[str, ...]) -> list[str]:
    """The candidate list of one run: exact values, or the imperfect list; anchors for unnamed concepts."""
    from proxysort.lexicon import vocab_anchors

    values = sorted(set(truth))
    if concept in unnamed:
        # No word means any value: proxysort's offline source gives random vocabulary anchors (as for
        # --by person); exact = as many anchors as values, imperfect = the default ten.
        return vocab_anchors(len(values) if kind == "exact" else 10, seed=0)
    if kind == "exact":
        return values
    return list(given.get(concept) or imperfect_words(concept, values))


def evaluate_list(clip, x, truth, concept, words, noun, args, timings) -> tuple[dict[str, list[dict]], dict]:
    """Per row, one score dict per k-means seed; plus auto-k and naming checks for the default."""
    from proxysort.groups import cluster_centres, clustered_feature, kmeans, name_clusters, weak_names
    from proxysort.metrics import score_all
    from proxysort.proxy import DEFAULT_FEATURE, EUCLIDEAN_FEATURES, Concept, ProxyConfig, learn_proxies

    k = len(set(truth))
    seeds = list(range(args.seeds))
    con = Concept(concept, tuple(words), noun=noun, template=args.template)
    rows: dict[str, list[dict]] = {}

    def km_rows(name: str, feats: np.ndarray, spherical: bool) -> None:
        rows[name] = [score_all(truth, kmeans(feats, k, seed=s, spherical=spherical).labels) for s in seeds]

    km_rows("image k-means", x, True)
    zs = learn_proxies(x, [con], clip, ProxyConfig(mode="zeroshot"))[0]
    rows["zero-shot argmax"] = [score_all(truth, zs.zero_shot.argmax(1))] * len(seeds)
    km_rows("zero-shot scores k-means", zs.zero_shot, False)
    km_rows("zero-shot probabilities k-means", zs.features["weights"], False)
    results = {}
    for mode, feats in ROWS:
        if mode not in args.modes:
            continue
        # DProxy's per-photo features (prompt, fused) need every photo learned: these rows learn them all.
        options = {"sample": 0} if mode == "dproxy" else {}
        t0 = time.time()
        res = learn_proxies(x, [con], clip, ProxyConfig(mode=mode, options=options, **_overrides(args)), k=k)[0]
        timings.setdefault(mode, []).append(time.time() - t0)
        results[mode] = res
        for f in feats:
            km_rows(f"{mode} / {f}", res.feature(f), f not in EUCLIDEAN_FEATURES)
    default_mode = ProxyConfig().mode
    default_row = f"{default_mode} / {DEFAULT_FEATURE}"
    t0 = time.time()
    results["default"] = learn_proxies(x, [con], clip, ProxyConfig(**_overrides(args)), k=k)[0]
    timings.setdefault("default", []).append(time.time() - t0)
    km_rows(f"**default** ({default_row})", clustered_feature(results["default"], DEFAULT_FEATURE, slice(None), k),
            DEFAULT_FEATURE not in EUCLIDEAN_FEATURES)
    if "dproxy" in args.modes:  # the default before the sample and the refine engine, for comparison
        previous = learn_proxies(x, [con], clip, ProxyConfig(engine="adam", options={"sample": 0}), k=k)[0]
        km_rows("previous default (dproxy, adam engine, every photo) / scoremix", previous.feature("scoremix"), False)
    default_row = f"**default** ({default_row})"
    # Automatic k (no --k) and doubtful names, for the default and the rows named by --checks.
    checks = {}
    for row in dict.fromkeys([default_row, *args.checks]):
        mode, _, feature = row.partition(" / ")
        if row == default_row:
            mode, feature = "default", DEFAULT_FEATURE
        if mode not in results:
            continue
        res = results[mode]
        feat = clustered_feature(res, feature, slice(None), k)
        spherical = feature not in EUCLIDEAN_FEATURES
        flagged = []
        for s in seeds:
            labels = kmeans(feat, k, seed=s, spherical=spherical).labels
            names = name_clusters(cluster_centres(res.prompts(), labels, k), res.word_features,
                                  list(res.concept.words))
            for w in weak_names(x, labels, names, res.word_features, list(res.concept.words)):
                members = [t for t, lab in zip(truth, labels) if lab == w.cluster]
                flagged.append(max(set(members), key=members.count))
        # (auto_k here comes from a run that knew k, e.g. for pruning; --auto-k measures it without k.)
        auto = product_auto_k(res, feature, len(res.concept.words), anchors=concept in args.unnamed)
        checks[row] = {"auto_k": auto.k, "close_k": list(auto.close),
                       "true_k": k, "flagged": flagged, "runs": len(seeds)}
    return rows, checks


def product_auto_k(res, feature: str, n_words: int, *, anchors: bool, seed: int = 0):
    """The product's automatic k (:func:`proxysort.autok.choose`) for one learned result, as sorting.py
    calls it (``anchors``: the words are random anchors, not values)."""
    from proxysort.autok import choose
    from proxysort.groups import spherical_for
    from proxysort.learn.core import AUTO_K_FEATURE

    feature = AUTO_K_FEATURE.get(feature, feature)
    return choose(res.feature(feature), n_words, seed=seed, spherical=spherical_for(feature),
                  probs=res.features.get("probs"), anchors=anchors)


def _overrides(args) -> dict:
    return {"epochs": args.epochs} if args.epochs else {}


def zero_shot_accuracy(clip, x, truth: list[str], concept: str, noun: str, template: str | None) -> float:
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    values = sorted(set(truth))
    zs = learn_proxies(x, [Concept(concept, tuple(values), noun=noun, template=template)], clip, ProxyConfig(mode="zeroshot"))[0]
    return float(np.mean(np.array(values)[zs.zero_shot.argmax(1)] == np.array(truth)))


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown(report: dict) -> str:
    """The committed results file: one table per word-list kind, then timings, known attributes, auto k, names."""
    concepts = report["concepts"]
    out = [f"# Quality: {report['dataset']}", "",
           f"Model `{report['model']}`; {report['n']} photos per set, photo sets (world seeds) {report['world_seeds']}, "
           f"k-means seeds 0..{report['seeds'] - 1}; k = the true number of values. Command:", "",
           f"    {report['command']}", "",
           "Cells: NMI mean ± std, then ARI mean ± std, over every (photo set, k-means seed). Zero-shot argmax "
           "has no seed: its spread is over photo sets only.", ""]
    for kind in report["kinds"]:
        table = report["results"][kind]
        out += [f"## {kind} words", ""]
        for c in concepts:
            out.append(f"- {c}: {', '.join(report['words'][kind][c])}")
        out.append("")
        head = "| method | " + " | ".join(f"{c} NMI | {c} ARI" for c in concepts) + " |"
        out += [head, "|---|" + "---:|---:|" * len(concepts)]
        methods = list(dict.fromkeys(m for c in concepts for m in table[c]))
        for m in methods:
            cells = []
            for c in concepts:
                r = table[c].get(m)
                cells += [_fmt([s["nmi"] for s in r]), _fmt([s["ari"] for s in r])] if r else ["", ""]
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["## Wall time per method (whole photo set, one torch thread, this CPU)", "",
            "| method | seconds per concept (mean) |", "|---|---:|"]
    out += [f"| {m} | {np.mean(t):.1f} |" for m, t in report["timings"].items()]
    out += ["", "## Zero-shot accuracy with the exact words (the model 'knows' an attribute at >= 0.9)", "",
            "| " + " | ".join(concepts) + " |", "|" + "---:|" * len(concepts),
            "| " + " | ".join(f"{np.mean(report['zero_shot_accuracy'][c]):.2f}" for c in concepts) + " |", ""]
    out += ["## Automatic k (no --k) and doubtful names", "",
            "For the default and the --checks rows: the k the silhouette picks per photo set, and the groups "
            "named -unsure over all k-means seeds with the true k (the majority true value of each such group).", "",
            "| words | concept | clustering | true k | chosen k per photo set | groups flagged -unsure |",
            "|---|---|---|---:|---|---|"]
    for kind in report["kinds"]:
        for c in concepts:
            per_set = report["checks"][kind][c]
            for row in per_set[0]:
                checks = [ch[row] for ch in per_set]
                ks = ", ".join(str(ch["auto_k"]) for ch in checks)
                flags = [f for ch in checks for f in ch["flagged"]]
                runs = sum(ch["runs"] for ch in checks)
                out.append(f"| {kind} | {c} | {row} | {checks[0]['true_k']} | {ks} | {len(flags)} in {runs} runs"
                           + (f" ({', '.join(sorted(set(flags)))})" if flags else "") + " |")
    return "\n".join(out) + "\n"


def publish(report: dict, text: str, out: Path | None) -> dict:
    """Print the markdown report; with ``out``, write it there and the JSON beside it."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    return report


def study_main(script: str, description: str, measure: Callable[[list[str], list[int], int], dict],
              markdown: Callable[[dict], str], argv: list[str] | None) -> dict:
    """The command line the grid studies share (``benchmarks/no_learning.py``, ``restarts.py``): worlds,
    photo-set seeds and size in, one measurement, its report printed and with ``--out`` written as a pair."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--worlds", default="shapes,glyphs,halfknown")
    p.add_argument("--seeds", default="0,1,2,3,4,5", help="photo-set seeds (k-means is seeded the same)")
    p.add_argument("--n", type=int, default=800)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    report = measure(args.worlds.split(","), [int(s) for s in args.seeds.split(",")], args.n)
    report["command"] = f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    return publish(report, markdown(report), args.out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", choices=("shapes", "glyphs", "halfknown"), default="shapes",
                   help="which miniworld (without --dataset)")
    p.add_argument("--model", default=None, help="default: the world's miniclip config")
    p.add_argument("--pretrained", default=None, help="default: the world's miniclip weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dataset", type=Path, help="a folder with images/ and labels.csv (default: a generated miniworld)")
    p.add_argument("--n", type=int, default=600, help="miniworld images per photo set")
    p.add_argument("--world-seeds", default="1", help="comma-separated photo-set seeds")
    p.add_argument("--concepts", help="comma-separated labels.csv columns (default: every label column)")
    p.add_argument("--words", action="append", default=[], metavar="CONCEPT=w1,w2,...",
                   help="imperfect candidate words for a concept (default: the miniworld's lists)")
    p.add_argument("--kinds", default="exact,imperfect")
    p.add_argument("--noun", help="template noun (default: the world's, else proxysort's per-concept default)")
    p.add_argument("--template", default=None, help="prompt template (default: proxysort's)")
    p.add_argument("--seeds", type=int, default=5, help="k-means seeds")
    p.add_argument("--epochs", type=int, default=None, help="proxy epochs (default: each method's)")
    p.add_argument("--modes", default=",".join(m for m, _ in ROWS))
    p.add_argument("--checks", default="subspace / prompt,dproxy / scores",
                   help="rows (besides the default) to measure automatic k and doubtful names for")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared CPU)")
    p.add_argument("--out", type=Path, help="write the markdown report here (and JSON beside it)")
    args = p.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    import torch

    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.words import default_noun

    torch.set_num_threads(args.threads)
    world = None
    if args.dataset is None:
        from miniworld.worlds import get_world

        world = get_world(args.world)
    model = args.model or str(world.config if world else MINICLIP_CONFIG)
    pretrained = args.pretrained or str(world.ready() if world else MINICLIP_WEIGHTS)
    clip = load_clip(ModelSpec(model, pretrained, args.device))
    given = {c: w.split(",") for c, w in (item.split("=", 1) for item in args.words)}
    if world:
        given = {**{c: list(w) for c, w in world.candidates.items()}, **given}
    unnamed = world.unnamed if world else ()
    args.unnamed = unnamed  # evaluate_list's automatic k: anchors are not values, their use says nothing
    concepts = args.concepts.split(",") if args.concepts else None
    world_seeds = [int(s) for s in args.world_seeds.split(",")] if world else [0]

    results: dict = {kind: {} for kind in args.kinds}
    checks: dict = {kind: {} for kind in args.kinds}
    used: dict = {kind: {} for kind in args.kinds}
    accuracy: dict[str, list[float]] = {}
    timings: dict[str, list[float]] = {}
    for ws in world_seeds:
        with tempfile.TemporaryDirectory(prefix="proxysort-quality-") as tmp:
            folder = args.dataset
            if world:
                folder = Path(tmp) / "world"
                world.write_folder(folder, args.n, ws)
            paths, labels = load_labels(folder, concepts)
            t0 = time.time()
            x = encode_images(clip, paths)
        print(f"photo set {ws}: {len(paths)} images encoded in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        for concept, truth in labels.items():
            noun = args.noun or (world.noun if world else default_noun(concept))
            if concept not in unnamed:
                accuracy.setdefault(concept, []).append(zero_shot_accuracy(clip, x, truth, concept, noun, args.template))
            for kind in args.kinds:
                words = words_for(concept, truth, kind, given, unnamed)
                used[kind][concept] = words
                t0 = time.time()
                rows, check = evaluate_list(clip, x, truth, concept, words, noun, args, timings)
                for name, scores in rows.items():
                    results[kind].setdefault(concept, {}).setdefault(name, []).extend(scores)
                checks[kind].setdefault(concept, []).append(check)
                print(f"  {concept} / {kind}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    for c in labels:
        accuracy.setdefault(c, [float("nan")])
    report = {
        "dataset": str(args.dataset or f"miniworld '{args.world}'"), "model": f"{model} / {pretrained}",
        "n": len(paths), "world_seeds": world_seeds, "seeds": args.seeds, "kinds": args.kinds,
        "concepts": list(labels), "words": used, "results": results, "checks": checks,
        "zero_shot_accuracy": accuracy, "timings": timings,
        "command": "python benchmarks/quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    return publish(report, markdown(report), args.out)




def auto_k(world_name: str, n: int, world_seeds: list[int]) -> str:
    """How often the automatic k (no --k: methods learn without knowing k) finds the true number of values.

    For the default and the previous default (subspace / prompt), with exact and imperfect words.
    """
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.proxy import DEFAULT_FEATURE, DEFAULT_MODE, Concept, ProxyConfig, learn_proxies

    world = get_world(world_name)
    clip = load_clip(ModelSpec(str(world.config), str(world.ready()), "cpu"))
    rows = [f"| words | concept | true k | {DEFAULT_MODE} / {DEFAULT_FEATURE} | subspace / prompt |", "|---|---|---:|---|---|"]
    for ws in world_seeds:
        samples, x = encode_world(world, clip, n, ws)
        for concept in world.attributes:
            truth = [s.attrs()[concept] for s in samples]
            for kind in ("exact", "imperfect"):
                words = words_for(concept, truth, kind, {c: list(w) for c, w in world.candidates.items()}, world.unnamed)
                con = Concept(concept, tuple(words), noun=world.noun)
                found = []
                for mode, feature in ((DEFAULT_MODE, DEFAULT_FEATURE), ("subspace", "prompt")):
                    res = learn_proxies(x, [con], clip, ProxyConfig(mode=mode))[0]
                    found.append(product_auto_k(res, feature, len(words), anchors=concept in world.unnamed).k)
                rows.append(f"| {kind} | {concept} | {len(set(truth))} | {found[0]} | {found[1]} |")
                print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows) + "\n"


def summary(paths: list[Path], released: list[Path] = ()) -> str:
    """How every row fares against the targets, over the reports of both worlds (what chose the default).

    Known attribute: zero-shot accuracy with the exact words >= 0.9. For each row, over every (world, word
    list, known attribute): the margin to the better of zero-shot argmax and zero-shot scores k-means (the
    target: each margin >= -0.01 and the mean > 0), and on attributes that do not dominate the image
    embedding (image k-means NMI < 0.5) the margin to image k-means (target >= +0.3).
    """
    margins: dict[str, list[tuple[str, float]]] = {}
    image: dict[str, list[float]] = {}
    for path in paths:
        report = json.loads(Path(path).read_text())
        world = report["dataset"]
        for kind, table in report["results"].items():
            for concept, rows in table.items():
                if not np.mean(report["zero_shot_accuracy"][concept]) >= 0.9:  # nan: no words at all
                    continue
                nmi = {m: float(np.mean([s["nmi"] for s in r])) for m, r in rows.items()}
                best = max(nmi["zero-shot argmax"], nmi["zero-shot scores k-means"])
                for m, v in nmi.items():
                    if m in BASELINES[:1]:
                        continue
                    margins.setdefault(m, []).append((f"{world} {kind} {concept}", v - best))
                    if nmi["image k-means"] < 0.5:
                        image.setdefault(m, []).append(v - nmi["image k-means"])
    lines = ["| method | mean margin to best zero-shot | worst margin (where) | attributes below −0.01 "
             "| worst margin to image k-means (non-dominant) |", "|---|---:|---|---:|---:|"]
    for m, items in sorted(margins.items(), key=lambda kv: -np.mean([v for _, v in kv[1]])):
        worst = min(items, key=lambda t: t[1])
        below = sum(v < -0.01 for _, v in items)
        img = f"{min(image[m]):+.3f}" if image.get(m) else ""
        lines.append(f"| {m} | {np.mean([v for _, v in items]):+.3f} | {worst[1]:+.3f} ({worst[0]}) | {below} of {len(items)} | {img} |")
    return "\n".join(lines) + "\n\n" + against_earlier_defaults(paths, released)


#: Defaults the current one must not fall behind (issue 15: by more than 0.01 NMI on any attribute).
EARLIER_DEFAULTS = ("subspace / prompt", "previous default (dproxy, adam engine, every photo) / scoremix")


def _default_nmi(paths: list[Path]) -> dict[str, float]:
    """The default row's mean NMI per "world kind attribute" of some reports."""
    out = {}
    for path in paths:
        report = json.loads(Path(path).read_text())
        for kind, table in report["results"].items():
            for concept, rows in table.items():
                for m, r in rows.items():
                    if m.startswith("**default**"):
                        out[f"{report['dataset']} {kind} {concept}"] = float(np.mean([s["nmi"] for s in r]))
    return out


def against_earlier_defaults(paths: list[Path], released: list[Path] = ()) -> str:
    """The default's NMI minus each earlier default's, on every (world, word list, attribute), known or not;
    ``released``: reports an earlier version wrote with the same photo sets and seeds, whose default row is
    compared too (a rule that changed cannot be re-run from this code)."""
    diffs: dict[str, list[tuple[str, float]]] = {}
    if released:
        new, old = _default_nmi(paths), _default_nmi(released)
        label = f"the default in {', '.join(Path(p).name for p in released)}"
        diffs[label] = [(where, v - old[where]) for where, v in new.items() if where in old]
    for path in paths:
        report = json.loads(Path(path).read_text())
        for kind, table in report["results"].items():
            for concept, rows in table.items():
                nmi = {m: float(np.mean([s["nmi"] for s in r])) for m, r in rows.items()}
                default = next((v for m, v in nmi.items() if m.startswith("**default**")), None)
                for m in EARLIER_DEFAULTS:
                    if default is not None and m in nmi:
                        diffs.setdefault(m, []).append((f"{report['dataset']} {kind} {concept}", default - nmi[m]))
    lines = ["| default minus | mean | worst (where) | attributes below −0.01 |", "|---|---:|---|---:|"]
    for m, items in diffs.items():
        worst = min(items, key=lambda t: t[1])
        lines.append(f"| {m} | {np.mean([v for _, v in items]):+.3f} | {worst[1]:+.3f} ({worst[0]}) | "
                     f"{sum(v < -0.01 for _, v in items)} of {len(items)} |")
    return "\n".join(lines) + "\n"



# ---------------------------------------------------------------------------------------------------------
# Regimes (issue 21): every world × attribute × word-list regime, over photo-set seeds, with name truth.
# ---------------------------------------------------------------------------------------------------------

#: exact: the true values; imperfect: a synonym, a value missing, distractors (miniworld/candidates.py);
#: long: every true value plus eight same-kind distractors; lexicon: proxysort's own offline list (no
#: --words); auto-k: the imperfect words without k (the default chooses k).
REGIMES = ("exact", "imperfect", "long", "lexicon", "auto-k")
#: Regimes the seed methods are measured in (with --methods; on a world's half-known attributes only, where
#: it has them): each method learns every photo, minutes per cell on two cores.
METHOD_REGIMES = ("exact", "imperfect")
#: Issue 21, item 3: at most this share of photos under a folder name that is neither their value (or a
#: synonym) nor `-unsure` nor neutral, in every cell.
NAME_ERROR_TARGET = 0.05
#: No-learning features `--method zeroshot` can cluster (k-means is Euclidean on all of them, so centred
#: cosines cluster exactly as the cosines do: Euclidean k-means does not see a shift of every row).
NO_LEARNING = ("scores", "probs", "scoremix")


def regime_words(world, concept: str, truth: list[str], regime: str) -> tuple[list[str], str] | None:
    """(candidate words, their source) for one regime, as the product would get them; None: not applicable."""
    from proxysort.lexicon import vocab_anchors
    from proxysort.progress import Reporter
    from proxysort.words import _offline

    values = sorted(set(truth))
    if regime == "lexicon":
        wl = _offline(concept, world.noun, None, Reporter())
        return list(wl.words), wl.source
    if concept in world.unnamed:
        if regime == "long":
            return None
        return vocab_anchors(len(values) if regime == "exact" else 10, seed=0), "anchors"
    if regime == "exact":
        return values, "user"
    if regime == "long":
        return list(world.long[concept]), "user"
    return list(world.candidates[concept]), "user"


def name_truth_error(world: str, truth: list[str], folders: list[str], neutral: bool) -> float:
    """Share of photos whose folder name (``folders``, per photo) is neither a true name of their value nor
    flagged doubtful.

    Neutral names (``color-1``) and ``-unsure`` folders (a doubtful group, or a group's photos on its edge)
    never lie; a distractor's name on a photo does.
    """
    from miniworld.candidates import true_names
    from proxysort.groups import WEAK_MARK

    if neutral:
        return 0.0
    wrong = 0
    for value, name in zip(truth, folders):
        if name.endswith(WEAK_MARK):
            continue
        base = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
        wrong += base not in true_names(world, value)
    return wrong / len(truth)


def unsure_share(folders: list[str]) -> float:
    """Share of photos in a folder flagged ``-unsure`` (``folders``: per photo): what honesty costs the user
    (such photos are sorted, but their folder's word is only a guess), measured beside the name error so that
    flagging everything cannot pass for truth."""
    from proxysort.groups import WEAK_MARK

    return float(np.mean([name.endswith(WEAK_MARK) for name in folders])) if folders else 0.0


def grid_cell(world, clip, x: np.ndarray, truth: list[str], concept: str, regime: str, seed: int,
              methods: list[tuple[str, str]]) -> dict | None:
    """NMI of the default, the no-learning baselines, image k-means and ``methods`` on one cell; the
    default's k, names and name truth."""
    from proxysort.groups import (
        clustered_feature,
        find_unsure,
        kmeans,
        name_groups,
        spherical_for,
        unsure_folder,
        word_fit,
        word_precision,
        word_share,
    )
    from proxysort.metrics import score_all
    from proxysort.proxy import DEFAULT_FEATURE, Concept, ProxyConfig, learn_proxies

    got = regime_words(world, concept, truth, regime)
    if got is None:
        return None
    words, source = got
    k = len(set(truth))
    con = Concept(concept, tuple(words), noun=world.noun)

    def nmi(labels) -> float:
        return float(score_all(truth, labels)["nmi"])

    def km(feats: np.ndarray, spherical: bool, kk: int = k) -> np.ndarray:
        return kmeans(feats, kk, seed=seed, spherical=spherical).labels

    cell: dict = {"words": words, "source": source, "true_k": k}
    zs = learn_proxies(x, [con], clip, ProxyConfig(mode="zeroshot"))[0]
    partitions = {"zero-shot argmax": zs.zero_shot.argmax(1)}
    for f in NO_LEARNING:
        partitions[f"zero-shot {f} k-means"] = km(zs.feature(f), False)
    base = {name: nmi(labels) for name, labels in partitions.items()}
    cell["baselines"] = base
    cell["best no-learning"] = max(base.values())
    # A label-free choice among them: the partition that agrees best with the others (their medoid).
    agree = {a: np.mean([score_all(pa, pb)["nmi"] for b, pb in partitions.items() if b != a])
             for a, pa in partitions.items()}
    cell["consensus"] = base[max(agree, key=agree.get)]
    cell["image k-means"] = nmi(km(x, True))
    t0 = time.time()
    res = learn_proxies(x, [con], clip, ProxyConfig(seed=seed), k=None if regime == "auto-k" else k)[0]
    cell["default seconds"] = time.time() - t0
    spherical = spherical_for(DEFAULT_FEATURE)
    chosen = k
    if regime == "auto-k":
        auto = product_auto_k(res, DEFAULT_FEATURE, len(words), anchors=source == "anchors", seed=seed)
        chosen = auto.k
        cell["close k"] = list(auto.close)
        cell["silhouettes"] = auto.silhouettes
        cell["words used"] = auto.words
    feat = clustered_feature(res, DEFAULT_FEATURE, slice(None), chosen, seed)  # what the sort clusters at that k
    clustering = kmeans(feat, chosen, seed=seed, spherical=spherical)
    labels = clustering.labels
    cell["k"] = chosen
    cell["default"] = nmi(labels)
    cell["kept words"] = list(res.concept.words)
    cell["missing values kept"] = sorted(set(truth) - set(res.concept.words)) if source == "user" else None
    naming = name_groups(concept, x, labels, chosen, res.prompts(), res.word_features, list(res.concept.words),
                         anchors=source == "anchors")
    cell["names"] = naming.names
    cell["nearest"] = naming.nearest
    # The product's folders: photos on a group's edge in the group's -unsure folder (sorting.sort).
    unsure, _ = find_unsure(feat, labels, clustering.centroids, naming.names, spherical=spherical,
                            neutral=naming.neutral)
    folders = [unsure_folder(naming.names[g]) if u else naming.names[g] for g, u in zip(labels, unsure)]
    cell["name truth error"] = (name_truth_error(world.name, truth, folders, naming.neutral)
                                if concept not in world.unnamed else None)
    cell["group name truth error"] = (name_truth_error(world.name, truth, [naming.names[g] for g in labels],
                                                       naming.neutral) if concept not in world.unnamed else None)
    cell["edge share"] = float(np.mean(unsure))
    cell["unsure share"] = unsure_share(folders)
    cell["mismatch"] = naming.mismatch
    # A tie goes to the first value by name, not to the set's hash order (the JSON differed between runs).
    cell["groups"] = [{"name": n, "majority": max(sorted(set(m)), key=m.count) if m else None, "size": len(m)}
                      for c, n in enumerate(naming.names) for m in [[t for t, g in zip(truth, labels) if g == c]]]
    cell["fit"] = naming.fit
    cell["word fit"] = word_fit(x, labels, naming.nearest, res.word_features, list(res.concept.words)) if naming.nearest else []
    cell["word precision"] = (word_precision(x, labels, naming.nearest, res.word_features, list(res.concept.words))
                              if naming.nearest else [])
    cell["word share"] = word_share(x, labels, naming.nearest, res.word_features, list(res.concept.words)) if naming.nearest else []
    cell["weak effects"] = {w.cluster: w.effect for w in naming.weak}
    cell["methods"] = {}
    for mode, feature in methods:
        # DProxy's per-photo features need every photo learned; its zero-shot views use the product's sample.
        options = {"sample": 0} if mode == "dproxy" and feature not in NO_LEARNING else {}
        r = learn_proxies(x, [con], clip, ProxyConfig(mode=mode, options=options, seed=seed), k=k)[0]
        cell["methods"][f"{mode} / {feature}"] = nmi(km(r.feature(feature), spherical_for(feature)))
    return cell


def grid(worlds: list[str], seeds: list[int], n: int, regimes: list[str], methods: list[tuple[str, str]],
         method_worlds: list[str], everywhere: list[tuple[str, str]] = ()) -> dict:
    """Every cell of the regime × world table; per cell, one entry per photo-set seed. ``everywhere``:
    method rows measured in every cell; ``methods``: only in :data:`METHOD_REGIMES` on ``method_worlds``."""
    everywhere = list(everywhere)
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies

    out: dict = {"n": n, "seeds": seeds, "regimes": regimes, "worlds": {}}
    for name in worlds:
        world = get_world(name)
        clip = load_clip(ModelSpec(str(world.config), str(world.ready()), "cpu"))
        table: dict = {}
        accuracy: dict = {}
        for seed in seeds:
            samples, x = encode_world(world, clip, n, seed)
            for concept in world.attributes:
                truth = [s.attrs()[concept] for s in samples]
                if concept not in world.unnamed:
                    values = sorted(set(truth))
                    zs = learn_proxies(x, [Concept(concept, tuple(values), noun=world.noun)], clip, ProxyConfig(mode="zeroshot"))[0]
                    accuracy.setdefault(concept, []).append(float(np.mean(np.array(values)[zs.zero_shot.argmax(1)] == np.array(truth))))
                for regime in regimes:
                    t0 = time.time()
                    learned = name in method_worlds and regime in METHOD_REGIMES and (
                        concept in world.half_known or not world.half_known)
                    cell = grid_cell(world, clip, x, truth, concept, regime, seed,
                                     everywhere + (methods if learned else []))
                    if cell is not None:
                        table.setdefault(concept, {}).setdefault(regime, []).append(cell)
                        print(f"{name} seed {seed} {concept} {regime}: default {cell['default']:.3f} best no-learning "
                              f"{cell['best no-learning']:.3f} k {cell['k']}/{cell['true_k']} name error "
                              f"{cell['name truth error']} {cell['names']} ({time.time() - t0:.0f}s)",
                              file=sys.stderr, flush=True)
            gx = x
            out["worlds"][name] = {"cells": table, "zero_shot_accuracy": accuracy, "half_known": list(world.half_known),
                                   "image_kmeans_dim": int(gx.shape[1])}
    return out


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def grid_markdown(report: dict) -> str:
    """The regime × world tables, the rule's check and the automatic k, from :func:`grid`'s report."""
    out = ["# Concept fidelity: regimes × worlds (issue 21)", "",
           f"{report['n']} photos per set, photo-set seeds {report['seeds']} (k-means seeded the same). Command:", "",
           f"    {report['command']}", "",
           "Cells: NMI mean ± std over the photo sets. *best no-learning*: per set, the best of zero-shot argmax "
           "and k-means on the zero-shot scores, centred scores, probabilities and scoremix (what `--method "
           "zeroshot` can do). *name error*: share of photos whose folder name is neither their true value (or a "
           "synonym) nor flagged `-unsure` nor neutral (mean over sets); *without edge*: the same if the photos on a "
           "group's edge stayed in the group's folder (groups flagged as a whole only). *unsure*: share of photos in "
           "`-unsure` folders (what the flags cost; mean over sets); *on edge*: of them, the share in a group's "
           "`-unsure` folder because they lie almost as near another group (`groups.find_unsure`). *k*: the "
           "default's k per set (auto-k: chosen without k).", ""]
    rule_fail, half, names_over = [], [], []
    for world, data in report["worlds"].items():
        acc = data["zero_shot_accuracy"]
        out += [f"## {world}", "", "Zero-shot accuracy with the exact words: "
                + ", ".join(f"{c} {np.mean(v):.2f}" for c, v in acc.items()) + ".", ""]
        methods = sorted({m for regs in data["cells"].values() for cells in regs.values() for c in cells for m in c["methods"]})
        out += ["| attribute | regime | default | best no-learning | no-learning consensus | image k-means | "
                + "".join(f"{m} | " for m in methods) + "name error | without edge | unsure | on edge | k (true) | words |",
                "|---|---|---:|---:|---:|---:|" + "---:|" * len(methods) + "---:|---:|---:|---:|---|---|"]
        for concept, regs in data["cells"].items():
            for regime, cells in regs.items():
                d = [c["default"] for c in cells]
                b = [c["best no-learning"] for c in cells]
                margin = np.mean(d) - np.mean(b)
                if margin < -0.01:
                    rule_fail.append(f"{world} {concept} {regime}: {margin:+.3f}")
                if concept in data["half_known"] and regime != "lexicon":
                    half.append((world, concept, regime, [x - y for x, y in zip(d, b)],
                                 [x - c["image k-means"] for x, c in zip(d, cells)]))
                errs = [c["name truth error"] for c in cells if c["name truth error"] is not None]
                if errs and np.mean(errs) > NAME_ERROR_TARGET:
                    names_over.append(f"{world} {concept} {regime}: {np.mean(errs):.3f}")
                group_errs = [c["group name truth error"] for c in cells if c["group name truth error"] is not None]
                unsure = [c["unsure share"] for c in cells]
                edge = [c["edge share"] for c in cells]
                cons = [c["consensus"] for c in cells]
                ms = [f"{_ms([c['methods'][m] for c in cells])} | " if all(m in c["methods"] for c in cells) else " | "
                      for m in methods]
                out.append(f"| {concept} | {regime} | {_ms(d)} | {_ms(b)} | {_ms(cons)} | {_ms([c['image k-means'] for c in cells])} | "
                           + "".join(ms) + (f"{np.mean(errs):.3f} | " if errs else "– | ")
                           + (f"{np.mean(group_errs):.3f} | " if group_errs else "– | ")
                           + f"{np.mean(unsure):.3f} | {np.mean(edge):.3f} | "
                           + f"{', '.join(str(c['k']) for c in cells)} ({cells[0]['true_k']}) | {len(cells[0]['words'])}"
                           + (" (mismatch)" if any(c["mismatch"] for c in cells) else "") + " |")
        out.append("")
    cells_k = [(w, c, cl) for w, d in report["worlds"].items() for c, regs in d["cells"].items()
               for cl in regs.get("auto-k", [])]
    edges = [float(np.mean([c["edge share"] for c in cells])) for d in report["worlds"].values()
             for regs in d["cells"].values() for cells in regs.values()]
    right = sum(cl["k"] == cl["true_k"] for _, _, cl in cells_k)
    out += ["## The rule", "",
            "- Default ≥ best no-learning − 0.01 (mean over sets) in every cell: "
            + ("**yes**" if not rule_fail else f"**no**, {len(rule_fail)} cells: " + "; ".join(rule_fail)) + ".",
            f"- Name error ≤ {NAME_ERROR_TARGET:.0%} (mean over sets) in every cell: "
            + ("**yes**" if not names_over else f"**no**, {len(names_over)} cells: " + "; ".join(names_over))
            + f"; photos on a group's edge, in its `-unsure` folder: {np.mean(edges):.1%} of all photos on average "
            f"over the cells, at most {max(edges):.1%}.",
            ]
    if half:
        vs_base = [np.mean(m) for *_, m, _ in half]
        vs_img = [np.mean(m) for *_, _, m in half]
        stds = [np.std(m) for *_, m, _ in half]
        out.append(f"- Half-known attributes ({len(half)} cells): default − best no-learning {np.mean(vs_base):+.3f} "
                   f"on average (worst {min(vs_base):+.3f}), default − image k-means {np.mean(vs_img):+.3f}; "
                   f"largest seed std of the margin {max(stds):.3f}.")
    flagged = sum(cl["k"] != cl["true_k"] and cl["true_k"] in cl.get("close k", []) for _, _, cl in cells_k)
    learned: dict[str, list[tuple[float, float, float]]] = {}
    for data in report["worlds"].values():
        for concept in data["half_known"]:
            for cells in data["cells"].get(concept, {}).values():
                for m in cells[0]["methods"]:
                    if all(m in c["methods"] for c in cells):
                        d = [c["methods"][m] - c["best no-learning"] for c in cells]
                        i = [c["methods"][m] - c["image k-means"] for c in cells]
                        learned.setdefault(m, []).append((float(np.mean(d)), float(np.mean(i)), float(np.std(d))))
    for m, items in learned.items():
        out.append(f"- {m} on half-known attributes ({len(items)} cells): − best no-learning "
                   f"{np.mean([a for a, _, _ in items]):+.3f} on average (worst {min(a for a, _, _ in items):+.3f}), "
                   f"− image k-means {np.mean([b for _, b, _ in items]):+.3f}; largest seed std {max(c for *_, c in items):.3f}.")
    out.append(f"- Automatic k right in {right} of {len(cells_k)} auto-k cells (sets × attributes); of the "
               f"{len(cells_k) - right} wrong, {flagged} named the true k among the close ones (warning).")
    if cells_k:
        out += ["", "## Automatic k per cell", "",
                "Per photo set: the k chosen, [the k named as close], and how many words the photos use (– where "
                "word use says nothing: anchors, or a flat softmax). *right / named / wrong*: the true k chosen, "
                "named among the close k (the CLI warns), neither.", "",
                "| world | attribute | true k | chosen [close] per set | words used | right / named / wrong |",
                "|---|---|---:|---|---|---|"]
        for world, data in report["worlds"].items():
            for concept, regs in data["cells"].items():
                cells = regs.get("auto-k", [])
                if not cells:
                    continue
                named = sum(c["k"] != c["true_k"] and c["true_k"] in c["close k"] for c in cells)
                hits = sum(c["k"] == c["true_k"] for c in cells)
                out.append(f"| {world} | {concept} | {cells[0]['true_k']} | "
                           + ", ".join(f"{c['k']} {c['close k']}" for c in cells) + " | "
                           + ", ".join("–" if c.get("words used") is None else str(c["words used"]) for c in cells)
                           + f" | {hits} / {named} / {len(cells) - hits - named} |")
    return "\n".join(out) + "\n"


def grid_main(argv: list[str]) -> dict:
    """``--grid``: the regime × world report (issue 21), markdown to ``--out`` and JSON beside it."""
    p = argparse.ArgumentParser(prog="quality.py --grid", description=grid.__doc__)
    p.add_argument("--worlds", default="shapes,glyphs,halfknown")
    p.add_argument("--seeds", default="0,1,2", help="photo-set seeds (k-means is seeded the same)")
    p.add_argument("--n", type=int, default=800)
    p.add_argument("--regimes", default=",".join(REGIMES))
    p.add_argument("--methods", default="", help="MODE/FEATURE,... learned too (e.g. multisub/fused)")
    p.add_argument("--method-worlds", default="halfknown", help="worlds the --methods rows run on")
    p.add_argument("--everywhere", default="", help="MODE/FEATURE,... measured in every cell (e.g. dproxy/scoremix)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    methods = [tuple(m.split("/", 1)) for m in args.methods.split(",") if m]
    everywhere = [tuple(m.split("/", 1)) for m in args.everywhere.split(",") if m]
    report = grid(args.worlds.split(","), [int(s) for s in args.seeds.split(",")], args.n, args.regimes.split(","),
                  methods, args.method_worlds.split(","), everywhere)
    report["command"] = "python benchmarks/quality.py --grid " + " ".join(argv)
    return publish(report, grid_markdown(report), args.out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--grid"]:
        grid_main(sys.argv[2:])
    elif sys.argv[1:2] == ["--summary"]:  # --summary REPORT.json ... [--against RELEASED.json ...]
        given = sys.argv[2:]
        cut = given.index("--against") if "--against" in given else len(given)
        print(summary([Path(p) for p in given[:cut]], [Path(p) for p in given[cut + 1 :]]))
    elif sys.argv[1:2] == ["--auto-k"]:  # --auto-k WORLD [N]
        print(auto_k(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 600, [1]))
    else:
        main()
