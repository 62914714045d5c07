"""Does the sorter learn from the user's corrections? NMI and the share of photos under a right name, before
and after correcting the least typical photos by hand, on the miniworlds with imperfect words.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/corrections.py --world-seeds 0,1 --fit \\
        --out benchmarks/results/corrections.md

For each world (shapes, glyphs) and each attribute a caption names (glyphs' symbol has only anchors, so no
name can be right), proxysort sorts a generated folder with the world's imperfect candidate words
(miniworld/candidates.py: a synonym, a value missing, distractors) and k = the true number of values, and
writes the tree. Then a simulated user opens the review page, looks at the 2 % (then 5 %) least typical
photos (lowest score, what the page shows last in each group), and for each one under a wrong name moves
its link, as in a file manager, to the group folder whose name is its true value, or to a new folder named
after its true value when no group has that name. Then:

* ``stable``: the same command again: the tree stays, the moved photos are pinned (only they change);
* ``centre``: the groups' centres moved to their members' mean with the pins, and every other photo placed
  again at its nearest centre (moving a group's centre, applied to the whole library);
* ``recluster``: ``--recluster``: k-means again, then Lloyd iterations with the pins held in their groups
  (stable.pin_clusters, groups.constrained_kmeans), the user's folder names kept.

``before`` is the first sort (which is also what ``--recluster`` gives without corrections: same setup and
seed). "Right name" counts a photo whose group's name, without ``-unsure``/``-2`` marks and with the
world's caption synonyms (gold = yellow), is its true value. ``others`` columns count only the photos the
user did not touch: whether similar photos followed the correction. Nothing is timed.

``--fit`` also measures the rule that says new photos do not fit the groups (see :func:`fit`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def canonical(name: str, synonyms: dict[str, str]) -> str:
    """A group name as a value: marks dropped, synonyms mapped to the value they stand for."""
    from proxysort.groups import WEAK_MARK

    base = name[: -len(WEAK_MARK)] if name.endswith(WEAK_MARK) else name
    stem, dash, digits = base.rpartition("-")
    if dash and digits.isdigit():
        base = stem
    return synonyms.get(base, base)


def measure(truth: list[str], names: list[str], synonyms: dict[str, str], rows: np.ndarray) -> dict[str, float]:
    from proxysort.metrics import score_all

    t = [truth[i] for i in rows]
    n = [names[i] for i in rows]
    right = float(np.mean([canonical(a, synonyms) == b for a, b in zip(n, t)])) if len(rows) else float("nan")
    return {"nmi": score_all(t, n)["nmi"], "right": right}


def correct(out: Path, concept: str, result, plan, truth: list[str], share: float, synonyms: dict[str, str]) -> list[int]:
    """Move the links of the least typical photos under a wrong name, as a user would; returns their rows."""
    c = result.concepts[0]
    names = c.image_names()
    paths = [str(p) for p in result.paths]
    dests = [plan.dest.get((concept, p)) for p in paths]
    shared = {d for d in dests if d is not None and dests.count(d) > 1}
    flagged = np.argsort(c.scores, kind="stable")[: int(round(share * len(paths)))]
    cdir = out / Path(dests[0]).parts[0]
    moved = []
    for i in flagged:
        if canonical(names[i], synonyms) == truth[i] or dests[i] is None or dests[i] in shared:
            continue
        folders = sorted(p.name for p in cdir.iterdir() if p.is_dir())
        target = next((f for f in folders if canonical(f, synonyms) == truth[i]), truth[i])
        (cdir / target).mkdir(exist_ok=True)
        src = out / dests[i]
        dst = cdir / target / src.name
        if dst.exists() or dst.is_symlink():
            dst = cdir / target / f"moved-{src.name}"
        os.rename(src, dst)
        moved.append(int(i))
    return moved


def centre_move(result) -> list[str]:
    """Every photo the user did not place, at the nearest of the centres the stable run moved with the pins."""
    from proxysort.groups import spherical_for
    from proxysort.stable import distances

    c = result.concepts[0]
    x = c.proxy.feature(c.feature)
    labels = c.labels.copy()
    pinned = {p for p, _ in (c.memory.pins if c.memory else ())}
    rows = np.array([str(p) not in pinned for p in result.paths])
    centres = c.placement.centres
    labels[rows] = np.argmin(distances(x[rows], centres, spherical_for(c.feature)), axis=1)
    return [c.names[int(i)] for i in labels]


def run(args) -> dict:
    import torch

    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.progress import Reporter
    from proxysort.sorting import By, sort, write_folders

    torch.set_num_threads(args.threads)
    rows_out = []
    for world_name in args.worlds:
        world = get_world(world_name)
        if world.name == "shapes":
            from miniworld.captions import SYNONYMS
        else:
            from miniworld.glyph_captions import SYNONYMS
        synonyms = {v: k for k, v in SYNONYMS.items()}
        clip = load_clip(ModelSpec(str(world.config), str(world.weights), "cpu"))
        for ws in args.world_seeds:
            with tempfile.TemporaryDirectory(prefix="proxysort-corrections-") as tmp:
                folder = Path(tmp) / "world"
                world.write_folder(folder, args.n, ws)
                import csv

                with (folder / "labels.csv").open(newline="") as f:
                    labels = list(csv.DictReader(f))
                truth_of = {str((folder / r["path"]).resolve()): r for r in labels}
                for concept in world.attributes:
                    if concept in world.unnamed:
                        continue
                    words = list(world.candidates[concept])
                    k = len(world.attributes[concept])
                    by = [By(concept, words=words, k=k)]
                    common = dict(model=clip, cache_dir=Path(tmp) / "cache", reporter=Reporter())
                    out = Path(tmp) / f"out-{concept}"
                    first = sort(folder / "images", by, tree=out, **common)
                    plan, _ = write_folders(first, out)
                    truth = [truth_of[str(p.resolve())][concept] for p in first.paths]
                    everyone = np.arange(len(truth))
                    before = measure(truth, first.concepts[0].image_names(), synonyms, everyone)
                    for share in args.shares:
                        trial = Path(tmp) / f"out-{concept}-{share}"
                        shutil.copytree(out, trial, symlinks=True)
                        moved = correct(trial, concept, first, plan, truth, share, synonyms)
                        others = np.array([i for i in everyone if i not in set(moved)], dtype=np.int64)
                        copy = Path(tmp) / f"out-{concept}-{share}-recluster"
                        shutil.copytree(trial, copy, symlinks=True)
                        stable = sort(folder / "images", by, tree=trial, **common)
                        write_folders(stable, trial)
                        again = sort(folder / "images", by, tree=copy, recluster=True, **common)
                        write_folders(again, copy)
                        variants = {"stable": stable.concepts[0].image_names(), "centre": centre_move(stable),
                                    "recluster": again.concepts[0].image_names()}
                        row = {"world": world.name, "seed": ws, "attribute": concept, "k": k, "n": len(truth),
                               "share": share, "corrected": len(moved),
                               "before": before, "before_others": measure(truth, first.concepts[0].image_names(),
                                                                          synonyms, others)}
                        for name, names in variants.items():
                            row[name] = measure(truth, names, synonyms, everyone)
                            row[f"{name}_others"] = measure(truth, names, synonyms, others)
                        rows_out.append(row)
                        print(f"{world.name}/{ws} {concept} {share:.0%}: corrected {len(moved)}; "
                              f"nmi {before['nmi']:.3f} -> stable {row['stable']['nmi']:.3f}, centre "
                              f"{row['centre']['nmi']:.3f}, recluster {row['recluster']['nmi']:.3f}",
                              file=sys.stderr, flush=True)
    return {"rows": rows_out, "n": args.n, "world_seeds": args.world_seeds,
            "command": "python benchmarks/corrections.py " + shlex.join(sys.argv[1:])}


def fit(args) -> list[dict]:
    """Is "the new photos do not fit" (stable.MISFIT_SHARE) measured right? Per attribute, photos of every
    value but one are sorted (k = the values left); then either more photos of the same values are added, or
    photos of the value held out; the share of new photos beyond their nearest group's spread is recorded."""
    import csv

    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.progress import Reporter
    from proxysort.sorting import By, sort, write_folders

    rows = []
    for world_name in args.worlds:
        world = get_world(world_name)
        clip = load_clip(ModelSpec(str(world.config), str(world.weights), "cpu"))
        with tempfile.TemporaryDirectory(prefix="proxysort-fit-") as tmp:
            source = Path(tmp) / "world"
            world.write_folder(source, args.n, 0)
            with (source / "labels.csv").open(newline="") as f:
                labels = list(csv.DictReader(f))
            for concept, values in world.attributes.items():
                if concept in world.unnamed:
                    continue
                held = values[0]
                kept = [r["path"] for r in labels if r[concept] != held]
                other = [r["path"] for r in labels if r[concept] == held]
                half = len(kept) // 2
                batches = {"same values": kept[half:half + len(other)], "a value held out": other}
                row = {"world": world.name, "attribute": concept, "held out": held}
                for what, batch in batches.items():
                    photos = Path(tmp) / f"photos-{concept}-{what.split()[0]}"
                    out = Path(tmp) / f"out-{concept}-{what.split()[0]}"
                    photos.mkdir()
                    for rel in kept[:half]:
                        shutil.copy(source / rel, photos / Path(rel).name)
                    by = [By(concept, words=list(world.candidates[concept]), k=len(values) - 1)]
                    common = dict(model=clip, cache_dir=Path(tmp) / "cache", reporter=Reporter(), tree=out)
                    write_folders(sort(photos, by, **common), out)
                    for rel in batch:
                        shutil.copy(source / rel, photos / f"new-{Path(rel).name}")
                    placed = sort(photos, by, **common).concepts[0].placement
                    assert placed is not None
                    row[what] = placed.misfits / max(placed.new, 1)
                    row[f"{what} new"] = placed.new
                rows.append(row)
                print(f"fit {world.name} {concept}: same {row['same values']:.2f}, held out "
                      f"{row['a value held out']:.2f}", file=sys.stderr, flush=True)
    return rows


def markdown(report: dict) -> str:
    lines = [
        "# Learning from corrections (benchmarks/corrections.py)",
        "",
        f"`{report['command']}`; {report['n']} photos per world, world seeds {report['world_seeds']}; imperfect "
        "words, k = true number of values.",
    ]
    if report["rows"]:
        lines += [
            "NMI and share of photos under a right name, for all photos and for the others (photos the user "
            "did not move).",
            "",
            "| world | attribute | corrected | NMI before | stable | centre | recluster | right before | stable "
            "| centre | recluster | others right before | centre | recluster |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in report["rows"]:
        lines.append(
            f"| {r['world']}/{r['seed']} | {r['attribute']} | {r['share']:.0%}: {r['corrected']} "
            f"| {r['before']['nmi']:.3f} | {r['stable']['nmi']:.3f} | {r['centre']['nmi']:.3f} "
            f"| {r['recluster']['nmi']:.3f} | {r['before']['right']:.3f} | {r['stable']['right']:.3f} "
            f"| {r['centre']['right']:.3f} | {r['recluster']['right']:.3f} | {r['before_others']['right']:.3f} "
            f"| {r['centre_others']['right']:.3f} | {r['recluster_others']['right']:.3f} |"
        )
    for share in sorted({r["share"] for r in report["rows"]}):
        rows = [r for r in report["rows"] if r["share"] == share]
        mean = {v: float(np.mean([r[v]["nmi"] for r in rows])) for v in ("before", "stable", "centre", "recluster")}
        right = {v: float(np.mean([r[v]["right"] for r in rows])) for v in ("before", "stable", "centre", "recluster")}
        lines += ["", f"Mean over {len(rows)} attributes, {share:.0%} corrected: NMI "
                  + ", ".join(f"{v} {m:.3f}" for v, m in mean.items()) + "; right name "
                  + ", ".join(f"{v} {m:.3f}" for v, m in right.items()) + "."]
    if report.get("fit"):
        from proxysort.stable import MISFIT_SHARE, SPREAD_QUANTILE

        lines += ["", "## Do new photos fit the groups?", "",
                  f"Share of new photos farther from their nearest group's centre than {SPREAD_QUANTILE:.0%} of "
                  f"that group's own photos; a run says they do not fit above {MISFIT_SHARE:.0%}. The groups are "
                  "made from half the photos of every value but one; then as many new photos are added, of the "
                  "same values or of the value held out.", "",
                  "| world | attribute | held out | new photos, same values | beyond | new photos, held-out value | beyond |",
                  "|---|---|---|---|---|---|---|"]
        for r in report["fit"]:
            lines.append(f"| {r['world']} | {r['attribute']} | {r['held out']} | {r['same values new']} "
                         f"| {r['same values']:.2f} | {r['a value held out new']} | {r['a value held out']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", default="shapes,glyphs", type=lambda s: s.split(","))
    p.add_argument("--n", type=int, default=600, help="photos per world")
    p.add_argument("--world-seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--shares", default="0.02,0.05", type=lambda s: [float(v) for v in s.split(",") if v])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fit", action="store_true", help="also measure whether new photos fit (see fit())")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    report = run(args) if args.shares else {"rows": [], "n": args.n, "world_seeds": args.world_seeds,
                                             "command": "python benchmarks/corrections.py " + shlex.join(sys.argv[1:])}
    if args.fit:
        report["fit"] = fit(args)
    text = markdown(report)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    return report


if __name__ == "__main__":
    main()
