"""What ``proxysort cluster`` prints on stdout: one record per (image, concept), in four formats.

- ``table`` (default on a terminal): one row per cluster with its size and a few example files, because a
  row per photo is unreadable for thousands of photos.
- ``tsv`` (default when stdout is a pipe or file): ``path, concept, cluster, name, score, dest`` without a
  header, so ``cut``/``awk``/``sort`` work directly. Backslash, tab, CR and newline inside fields are
  written as ``\\\\ \\t \\r \\n``.
- ``json``: JSON Lines, one object per record with the same keys.
- ``paths``: only the image paths, grouped by concept then cluster.

A record of a line format must stay one line for *every* reader, including those that split on universal
newlines (Python's ``str.splitlines``, which also breaks at ``\\v \\f \\x1c-\\x1e \\x85 \\u2028 \\u2029``):
in ``tsv`` and ``paths`` those characters are written as ``\\xNN``/``\\uNNNN`` escapes, and ``json`` writes them
as JSON ``\\u`` escapes.

``--print0`` ends every record with NUL instead of a newline (for ``xargs -0``); then ``paths`` records are
written raw, with no escaping at all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Mapping, Sequence

from proxysort.pathcolumn import texts_of

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.evaluation import EvalResult
    from proxysort.sorting import SortResult

FORMATS = ("table", "tsv", "json", "paths")


@dataclass(frozen=True)
class ResultRow:
    """One image's place in one concept's clustering.

    ``score`` is the cosine similarity of the image's clustered feature to its cluster centre (1 = most
    typical); ``dest`` is the path of its link in the output tree, or ``None`` when no tree is written.
    """

    path: str
    concept: str
    cluster: int
    name: str
    score: float
    dest: str | None = None


def result_rows(
    result: "SortResult", dest: Mapping[tuple[str, str], str] | None = None, out: Path | None = None
) -> list[ResultRow]:
    """One :class:`ResultRow` per (image, concept); ``dest``/``out`` come from a :class:`~proxysort.output.TreePlan`."""
    rows = []
    for c in result.concepts:
        for path, label, score, name in zip(texts_of(result.paths), c.labels, c.scores, c.image_names()):
            rel = dest.get((c.concept, str(path))) if dest else None
            where = str(out / rel) if (rel is not None and out is not None) else None
            rows.append(ResultRow(str(path), c.concept, int(label), name, float(score), where))
    return rows


def only_group(rows: Sequence[ResultRow], group: str) -> list[ResultRow]:
    """The rows of one group, named as its folder: ``red``, or ``color/red`` to pick the concept too.

    Raises :class:`~proxysort.errors.UsageError` naming the groups there are when none matches.
    """
    from proxysort.errors import UsageError

    concept, _, name = group.rpartition("/")
    picked = [r for r in rows if r.name == name and (not concept or r.concept == concept)]
    if not picked:
        several = len({r.concept for r in rows}) > 1
        names = sorted({f"{r.concept}/{r.name}" if several else r.name for r in rows})
        raise UsageError(f"No group is named {group!r}; the groups are: {', '.join(names)}.")
    return picked


def choose_format(fmt: str | None, *, json_flag: bool, stdout_isatty: bool, print0: bool = False) -> str:
    """``--json`` wins; otherwise the explicit ``--format``; otherwise a table for people, TSV for pipes
    (and for ``--print0``, which asks for machine-readable records even on a terminal). A table has no
    records to end with NUL: ``--print0 --format table`` is refused rather than silently ignored."""
    from proxysort.errors import UsageError

    if json_flag:
        return "json"
    if fmt == "table" and print0:
        raise UsageError("--print0 ends records with NUL, and --format table has no records; use --format tsv, json or paths.")
    if fmt:
        return fmt
    return "table" if stdout_isatty and not print0 else "tsv"


#: Every character ``str.splitlines`` breaks a line at, and how a line format writes it (with ``\\`` itself).
_LINE_ESCAPES = {
    ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
    **{c: f"\\x{c:02x}" for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85)},
    0x2028: "\\u2028", 0x2029: "\\u2029",
}
_TSV_ESCAPES = {**_LINE_ESCAPES, ord("\t"): "\\t"}


def _line_field(value: object, table: Mapping[int, str] = _LINE_ESCAPES) -> str:
    """``value`` as text that no line-splitting reader can break in two (see the module docstring)."""
    return ("" if value is None else str(value)).translate(table)


def _tsv_field(value: object) -> str:
    return _line_field(value, _TSV_ESCAPES)


def _json_line(record: object) -> str:
    """One JSON Lines record; JSON leaves U+0085/U+2028/U+2029 raw, which line readers would split at."""
    text = json.dumps(record, ensure_ascii=False)
    return text.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _sorted(rows: Sequence[ResultRow]) -> list[ResultRow]:
    return sorted(rows, key=lambda r: (r.concept, r.name, r.path))


def write_rows(
    rows: Sequence[ResultRow],
    fmt: str,
    stream: IO[str],
    *,
    print0: bool = False,
    is_tty: bool = False,
) -> None:
    """Write ``rows`` to ``stream`` (the invocation's stdout) in ``fmt``."""
    end = "\0" if print0 else "\n"
    if fmt == "table":
        _write_table(rows, stream, is_tty=is_tty)
    elif fmt == "json":
        for r in _sorted(rows):
            stream.write(_json_line(asdict(r) | {"score": round(r.score, 6)}) + end)
    elif fmt == "tsv":
        for r in _sorted(rows):
            fields = (r.path, r.concept, r.cluster, r.name, f"{r.score:.4f}", r.dest or "")
            stream.write("\t".join(_tsv_field(f) for f in fields) + end)
    elif fmt == "paths":
        for r in _sorted(rows):
            stream.write((r.path if print0 else _line_field(r.path)) + end)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    stream.flush()


def _write_table(rows: Sequence[ResultRow], stream: IO[str], *, is_tty: bool) -> None:
    import os

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for r in _sorted(rows):
        groups.setdefault((r.concept, r.name), []).append(r)
    table = Table(show_edge=False, header_style="bold")
    for column in ("concept", "cluster", "photos", "examples", "folder"):
        table.add_column(column, justify="right" if column == "photos" else "left", overflow="fold")
    for (concept, name), members in groups.items():
        examples = ", ".join(os.path.basename(m.path) for m in members[:3]) + (", …" if len(members) > 3 else "")
        folder = os.path.dirname(members[0].dest) if members[0].dest else ""
        # Text(), not str: file names may contain [brackets] that rich would read as markup.
        table.add_row(*(Text(c) for c in (concept, name, str(len(members)), examples, folder)))
    console = Console(file=stream, force_terminal=is_tty, highlight=False, soft_wrap=False)
    console.print(table)


def write_eval(results: Sequence["EvalResult"], fmt: str, stream: IO[str], *, is_tty: bool = False) -> None:
    """Write :class:`proxysort.evaluation.EvalResult` scores: mean ± std over the k-means seeds.

    ``tsv`` is long-form (``concept, column, k, n, metric, mean, std``) so one ``grep nmi`` picks a metric;
    ``json`` is one object per concept; ``table`` is one row per concept with ``mean ± std`` cells.
    """
    from proxysort.metrics import METRICS

    if fmt == "json":
        for r in results:
            record = {
                "concept": r.concept, "column": r.column, "k": r.k, "n": r.n, "seeds": len(r.scores.per_seed),
                "unlabelled": r.unlabelled, "mean": r.scores.mean, "std": r.scores.std,
            }
            stream.write(_json_line(record) + "\n")
    elif fmt in ("tsv", "paths"):
        for r in results:
            for m in METRICS:
                fields = (r.concept, r.column, r.k, r.n, m, f"{r.scores.mean[m]:.4f}", f"{r.scores.std[m]:.4f}")
                stream.write("\t".join(_tsv_field(f) for f in fields) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(show_edge=False, header_style="bold")
        for column in ("concept", "labels", "k", "photos", *(m.upper() for m in METRICS)):
            table.add_column(column, justify="left" if column in ("concept", "labels") else "right")
        for r in results:
            cells = [r.concept, r.column, str(r.k), str(r.n)]
            cells += [f"{r.scores.mean[m]:.3f} ± {r.scores.std[m]:.3f}" for m in METRICS]
            table.add_row(*(Text(c) for c in cells))
        console = Console(file=stream, force_terminal=is_tty, highlight=False, soft_wrap=False)
        console.print(table)
        seeds = len(results[0].scores.per_seed) if results else 0
        if seeds == 1:
            console.print(Text("scores of the clustering written (proxysort eval re-runs k-means with 10 seeds, "
                               "the papers' protocol); ACC = Hungarian accuracy"))
        else:
            console.print(Text(f"mean ± std over {seeds} k-means seeds (the papers' protocol); ACC = Hungarian accuracy"))
    stream.flush()
