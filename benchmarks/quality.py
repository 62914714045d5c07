"""Does clustering follow the named concept? NMI/ARI of every method, for every labelled concept.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py                    # miniworld + miniclip
    .venv/bin/python benchmarks/quality.py --dataset ../shared/datasets/fruit360 \\
        --model ViT-B-32 --pretrained openai --concepts species,color           # real weights

For each concept (a labels.csv column) with k = its true number of values, the methods are: k-means on the
image embeddings; zero-shot with the candidate words (argmax over the filled-in prompts, and k-means on
the zero-shot scores); proxysort's default; and each proxy mode x feature choice. Every k-means figure is
the mean over ``--seeds`` seeds (the papers' protocol). Candidate words are deliberately imperfect, as an
LLM's answer is: a synonym instead of a true value, one true value missing, distractors
(miniworld/candidates.py; for real datasets: the true values minus one, plus lexicon distractors).

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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

MINICLIP_CONFIG = ROOT / "tests" / "fixtures" / "miniclip.json"
MINICLIP_WEIGHTS = ROOT / "tests" / "fixtures" / "miniclip.pt"

#: Proxy modes x the features k-means runs on; the first row is proxysort's default.
FEATURES = ("prompt", "proxy", "weights", "concat", "fused")
MODES = ("subspace", "free", "linear")


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


def _row(scores) -> dict[str, float]:
    m = scores.mean if hasattr(scores, "mean") else scores
    return {"nmi": m["nmi"], "ari": m["ari"]}


def evaluate_concept(clip, x: np.ndarray, truth: list[str], concept: str, words: list[str], args) -> dict[str, dict]:
    """Every method's mean NMI/ARI for one concept."""
    from proxysort.groups import kmeans
    from proxysort.metrics import kmeans_scores, score_all, score_over_seeds
    from proxysort.proxy import DEFAULT_FEATURE, Concept, ProxyConfig, learn_proxies
    from proxysort.words import default_noun

    k = len(set(truth))
    seeds = range(args.seeds)
    noun = args.noun or default_noun(concept)
    results: dict[str, dict] = {}
    results["image k-means"] = _row(kmeans_scores(x, truth, k, seeds=seeds))

    concept_obj = Concept(name=concept, words=tuple(words), noun=noun, template=args.template)
    t0 = time.time()
    zs = learn_proxies(x, [concept_obj], clip, ProxyConfig(mode="zeroshot", seed=0))[0]
    results["zero-shot argmax"] = _row(score_all(truth, zs.zero_shot.argmax(1)))
    results["zero-shot scores k-means"] = _row(
        score_over_seeds(truth, lambda s: kmeans(zs.zero_shot, k, seed=s, spherical=False).labels, seeds)
    )
    if args.true_words:
        true_concept = Concept(name=concept, words=tuple(sorted(set(truth))), noun=noun, template=args.template)
        zt = learn_proxies(x, [true_concept], clip, ProxyConfig(mode="zeroshot", seed=0))[0]
        results["zero-shot argmax, true words (reference)"] = _row(score_all(truth, zt.zero_shot.argmax(1)))

    default_config = ProxyConfig(seed=0, **_overrides(args))
    default = learn_proxies(x, [concept_obj], clip, default_config)[0]
    results[f"proxysort default ({default_config.mode} / {DEFAULT_FEATURE})"] = _row(
        kmeans_scores(default.feature(), truth, k, seeds=seeds)
    )
    for mode in args.modes:
        res = learn_proxies(x, [concept_obj], clip, ProxyConfig(mode=mode, seed=0, **_overrides(args)))[0]
        for feat in args.features:
            if feat not in res.features:
                continue
            results[f"proxysort {mode} / {feat}"] = _row(kmeans_scores(res.feature(feat), truth, k, seeds=seeds))
    print(f"  {concept}: k={k}, {len(words)} words, {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    return results


def _overrides(args) -> dict:
    return {"epochs": args.epochs} if args.epochs else {}


def markdown(table: dict[str, dict[str, dict]], concepts: list[str]) -> str:
    methods = list(dict.fromkeys(m for c in concepts for m in table[c]))
    head = "| method | " + " | ".join(f"{c} NMI | {c} ARI" for c in concepts) + " |"
    sep = "|---|" + "---:|---:|" * len(concepts)
    lines = [head, sep]
    for m in methods:
        cells = []
        for c in concepts:
            r = table[c].get(m)
            cells += [f"{r['nmi']:.3f}", f"{r['ari']:.3f}"] if r else ["", ""]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(MINICLIP_CONFIG))
    p.add_argument("--pretrained", default=str(MINICLIP_WEIGHTS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--dataset", type=Path, help="a folder with images/ and labels.csv (default: a generated miniworld)")
    p.add_argument("--n", type=int, default=600, help="miniworld images to generate")
    p.add_argument("--world-seed", type=int, default=1)
    p.add_argument("--concepts", help="comma-separated labels.csv columns (default: every label column)")
    p.add_argument("--words", action="append", default=[], metavar="CONCEPT=w1,w2,...",
                   help="candidate words for a concept (default: the miniworld's imperfect lists)")
    p.add_argument("--noun", help="template noun (default: proxysort's per-concept default)")
    p.add_argument("--template", default=None, help="prompt template (default: proxysort's)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=None, help="proxy epochs (default: proxysort's)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--features", default=",".join(FEATURES))
    p.add_argument("--true-words", action="store_true", help="also report zero-shot with the exact true values")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared CPU)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = p.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    args.features = [f for f in args.features.split(",") if f]
    return args


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    import torch

    from proxysort.encoders import ModelSpec, load_clip

    torch.set_num_threads(args.threads)
    given = {c: w.split(",") for c, w in (item.split("=", 1) for item in args.words)}
    concepts = args.concepts.split(",") if args.concepts else None
    with tempfile.TemporaryDirectory(prefix="proxysort-quality-") as tmp:
        if args.dataset is None:
            from miniworld.candidates import CANDIDATES
            from miniworld.generate import write_folder

            folder = Path(tmp) / "miniworld"
            write_folder(folder, args.n, args.world_seed)
            given = {**{c: list(w) for c, w in CANDIDATES.items()}, **given}
        else:
            folder = args.dataset
        paths, labels = load_labels(folder, concepts)
        clip = load_clip(ModelSpec(args.model, args.pretrained, args.device))
        t0 = time.time()
        x = encode_images(clip, paths)
        print(f"{len(paths)} images encoded in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    table, used = {}, {}
    for concept, truth in labels.items():
        used[concept] = given.get(concept) or imperfect_words(concept, sorted(set(truth)))
        table[concept] = evaluate_concept(clip, x, truth, concept, used[concept], args)
    report = {"model": args.model, "pretrained": args.pretrained, "dataset": str(args.dataset or f"miniworld n={args.n} seed={args.world_seed}"),
              "seeds": args.seeds, "words": used, "results": table}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['dataset']}; model {args.model} / {args.pretrained}; mean of {args.seeds} k-means seeds\n")
        print(markdown(table, list(labels)))
    return report


if __name__ == "__main__":
    main()
