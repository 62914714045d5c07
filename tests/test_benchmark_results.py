"""Benchmark results that agree (issue 22): a report in ``benchmarks/results`` and the JSON beside it come from
the same run. ``benchmarks/scale.py`` writes both from one run (``--out``) and can remake the report from a
saved JSON (``--render``), which is how these tests check the saved pair; no benchmark is run."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.scale import STAGES, load, report, write_both

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _in_order(lines: list[str], text: str) -> list[str]:
    """The lines of ``lines`` that do not appear in ``text`` in this order (empty: all of them do)."""
    missing, at = [], 0
    for line in filter(None, lines):
        found = text.find(line, at)
        if found < 0:
            missing.append(line)
        else:
            at = found + len(line)
    return missing


def test_the_saved_scale_json_is_the_run_its_report_shows() -> None:
    rendered = report(*load(RESULTS / "scale-before-k-stop.json")).splitlines()
    assert not _in_order(rendered, (RESULTS / "scale-before-k-stop.md").read_text())


def test_scale_md_is_the_run_of_scale_json() -> None:
    # Both written by one `python -m benchmarks.scale --out benchmarks/results/scale` run (issue 25).
    assert not _in_order(report(*load(RESULTS / "scale.json")).splitlines(), (RESULTS / "scale.md").read_text())


def _fake(engine: str, n: int, learn: float) -> dict:
    stage = {"wall_s": 0.5, "cpu_s": 0.75, "peak_rss_mb": 100.0 + n / 100}
    return {"engine": engine, "n": n, "threads": 2, "rss_before_mb": 90.0, "model_load_s": 1.0,
            **{s: dict(stage) for s in STAGES}, "learn": {**stage, "wall_s": learn, "cpu_s": 2 * learn}}


def test_one_run_writes_both_files_and_they_agree(tmp_path: Path) -> None:
    results = [_fake("dproxy-all", 1000, 90.0), _fake("default", 1000, 15.0), _fake("default", 10000, 16.0)]
    meta = {"device": "cpu", "threads": 2, "omp_wait_policy": "PASSIVE", "old": ["dproxy-all"],
            "command": "python -m benchmarks.scale --out x"}
    text = report(results, meta)
    write_both(tmp_path / "scale", results, meta, text)
    saved = json.loads((tmp_path / "scale.json").read_text())
    assert saved == {"meta": meta, "results": results}
    md = (tmp_path / "scale.md").read_text()
    assert md.endswith(text) and "| dproxy-all | 1000 |" in md and "learn 6.0x" in md
    assert report(*load(tmp_path / "scale.json")) == text


# -- every other pair: the markdown shows the numbers of the JSON written by the same run ----------------------


def _mean_std(values: list[float]) -> set[str]:
    """``mean ± std`` as the reports print it (population std, or the sample's where a report used that)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    return {f"{v.mean():.3f} ± {v.std():.3f}", f"{v.mean():.3f} ± {(v.std(ddof=1) if len(v) > 1 else 0.0):.3f}"}


def test_quality_reports_show_their_json_nmi_cells() -> None:
    pairs = sorted(RESULTS.glob("quality-*.json"))
    assert pairs
    for path in pairs:
        md = path.with_suffix(".md").read_text()
        cells = [
            [run["nmi"] for run in runs]
            for concepts in json.loads(path.read_text())["results"].values()
            for methods in concepts.values()
            for runs in methods.values()
            if isinstance(runs, list) and runs and "nmi" in runs[0]
        ]
        assert cells, path.name
        missing = [c for c in cells if not any(s in md for s in _mean_std(c))]
        assert not missing, f"{path.name}: {len(missing)} NMI cells not in the report"


def test_correction_reports_show_their_json_rows() -> None:
    data = json.loads((RESULTS / "corrections.json").read_text())
    md = (RESULTS / "corrections.md").read_text()
    for r in data["rows"]:
        cells = [f"{r[s][m]:.3f}" for m in ("nmi", "right") for s in ("before", "stable", "centre", "recluster")]
        assert " | ".join(cells) in md, (r["world"], r["seed"], r["attribute"])
    fit = json.loads((RESULTS / "corrections-fit.json").read_text())
    md = (RESULTS / "corrections-fit.md").read_text()
    for r in fit["fit"]:
        assert (f"| {r['world']} | {r['attribute']} | {r['held out']} | {r['same values new']} | {r['same values']:.2f} | "
                f"{r['a value held out new']} | {r['a value held out']:.2f} |") in md


def test_fidelity_report_shows_its_json_default_cells() -> None:
    data = json.loads((RESULTS / "fidelity.json").read_text())
    md = (RESULTS / "fidelity.md").read_text()
    cells = [[s["default"] for s in sets] for world in data["worlds"].values() for regimes in world["cells"].values()
             for sets in regimes.values() if isinstance(sets, list) and sets and "default" in sets[0]]
    assert cells and all(any(s in md for s in _mean_std(c)) for c in cells)


def test_precision_report_shows_both_runs_json() -> None:
    md = (RESULTS / "index-precision.md").read_text()
    for name in ("index-precision.json", "index-precision-passive.json"):
        assert name in md
        for p, row in json.loads((RESULTS / name).read_text())["precisions"].items():
            assert f"{row['index_cpu_ms_per_photo']}" in md and f"{row['ceiling_cpu_ms_per_photo']}" in md, (name, p)


def test_index_before_after_report_shows_its_json() -> None:
    from benchmarks.index_before_after import report

    rendered = report(json.loads((RESULTS / "index-before-after.json").read_text())).splitlines()
    assert not _in_order(rendered, (RESULTS / "index-before-after.md").read_text())


def test_names_report_is_its_json_rendered() -> None:
    """benchmarks/results/names.md (the grid after NAME_PRECISION, remade with photos on a group's edge in its
    ``-unsure`` folder) is exactly what its JSON renders to, name error and unsure columns included."""
    from benchmarks.quality import grid_markdown

    data = json.loads((RESULTS / "names.json").read_text())
    md = (RESULTS / "names.md").read_text()
    assert grid_markdown(data) == md
    assert "| name error | without edge | unsure | on edge |" in md
    assert all({"unsure share", "edge share", "group name truth error"} <= set(cell) for world in data["worlds"].values()
               for regimes in world["cells"].values() for sets in regimes.values() for cell in sets)


def test_the_no_learning_report_shows_its_json() -> None:
    from benchmarks.no_learning import markdown

    data = json.loads((RESULTS / "no-learning.json").read_text())
    assert (RESULTS / "no-learning.md").read_text() == markdown(data)


def test_the_cached_rerun_methods_report_is_its_json_rendered() -> None:
    """cached-rerun-methods.md shows the table ``python -m benchmarks.cached_rerun --method all --write``
    rendered from the JSON it wrote in the same run, with every registered method in it."""
    from benchmarks.cached_rerun import report
    from proxysort.learn.registry import METHODS

    data = json.loads((RESULTS / "cached-rerun-methods.json").read_text())
    assert set(data["methods"]) == set(METHODS)
    assert (RESULTS / "cached-rerun-methods.md").read_text().endswith(report(data))


def test_the_restarts_report_shows_its_json() -> None:
    from benchmarks.restarts import markdown

    data = json.loads((RESULTS / "restarts.json").read_text())
    assert (RESULTS / "restarts.md").read_text() == markdown(data)


def test_the_auto_k_study_report_shows_its_json() -> None:
    from benchmarks.autok_study import markdown

    data = json.loads((RESULTS / "auto-k-study.json").read_text())
    assert (RESULTS / "auto-k-study.md").read_text() == markdown(data)


def test_the_manifest_read_report_is_its_json_rendered() -> None:
    """manifest-read.md is what ``python -m benchmarks.manifest_read --out ...`` rendered from the JSON it wrote
    in the same run (issue 25: the manifest read a value at a time, before/after at 1M and 2M photos)."""
    from benchmarks.manifest_read import markdown

    data = json.loads((RESULTS / "manifest-read.json").read_text())
    assert {r["n"] for r in data["rows"]} >= {1_000_000, 2_000_000} and {r["way"] for r in data["rows"]} == {"before", "after"}
    assert (RESULTS / "manifest-read.md").read_text().endswith(markdown(data))  # after any notes above it


def test_the_half_feature_report_is_its_json_rendered() -> None:
    from benchmarks.half_feature import markdown

    data = json.loads((RESULTS / "half-feature.json").read_text())
    assert (RESULTS / "half-feature.md").read_text() == markdown(data)


def test_the_rerun_memory_report_is_its_json_rendered() -> None:
    """rerun-memory.md is what ``python -m benchmarks.rerun_memory --out ...`` rendered from the JSON it wrote in the
    same run (issue 25: a re-run into an OUT of N photos, before and after the old files were held as rows)."""
    from benchmarks.rerun_memory import markdown

    data = json.loads((RESULTS / "rerun-memory.json").read_text())
    assert {r["way"] for r in data["rows"]} == {"before", "after"}
    assert (RESULTS / "rerun-memory.md").read_text().endswith(markdown(data))  # after any notes above it


def test_the_sort_memory_report_is_its_json_rendered() -> None:
    """sort-memory.md ends with what ``python -m benchmarks.sort_memory --out ...`` rendered from the JSON it wrote
    in the same run (issue 25 item 5: the real index, sort and tree, before/after, at two N at least)."""
    from benchmarks.sort_memory import report

    data = json.loads((RESULTS / "sort-memory.json").read_text())
    assert {r["code"] for r in data["results"]} == {"before", "after"} and len({r["n"] for r in data["results"]}) >= 2
    assert (RESULTS / "sort-memory.md").read_text().endswith(report(data["results"], data["meta"]))


def test_the_plan_memory_report_is_its_json_rendered() -> None:
    """plan-memory.md is what ``python -m benchmarks.plan_memory --out ...`` rendered from the JSON it wrote in the
    same run (issue 25 item 5: write_folders' plan and write from the index's column, before/after at two N), and
    both codes wrote the same tree and manifest."""
    from benchmarks.plan_memory import markdown

    data = json.loads((RESULTS / "plan-memory.json").read_text())
    assert {r["way"] for r in data["rows"]} == {"before", "after"} and len({r["n"] for r in data["rows"]}) >= 2
    for n in {r["n"] for r in data["rows"]}:
        pair = [r for r in data["rows"] if r["n"] == n]
        assert len({(r["tree_sha256"], r["manifest_sha256"]) for r in pair}) == 1, n
    assert (RESULTS / "plan-memory.md").read_text().endswith(markdown(data))  # after any notes above it
