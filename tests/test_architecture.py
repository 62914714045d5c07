"""docs/ARCHITECTURE.md tells the truth about the code: one table row per module, no module missing or named twice.

A row names modules in backticks, relative to ``src/proxysort``; a glob (``cli/*_cmd.py``) or a package
folder (``learn/``) stands for every module it matches. Package ``__init__``/``__main__`` files are the
package's front door, described with the package.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "proxysort"


def _modules() -> set[str]:
    return {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name not in {"__init__.py", "__main__.py"}
    }


def _rows() -> list[list[str]]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    table = text.split("| module | job |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        first_cell = line.split("|")[1]
        rows.append(re.findall(r"`([^`]+)`", first_cell))
    return rows


def _matches(pattern: str, module: str) -> bool:
    if pattern.endswith("/"):
        return module.startswith(pattern)
    return fnmatch(module, pattern)


def test_every_module_has_exactly_one_row() -> None:
    modules = _modules()
    rows = _rows()
    counts = {m: sum(any(_matches(p, m) for p in row) for row in rows) for m in modules}
    missing = sorted(m for m, n in counts.items() if n == 0)
    twice = sorted(m for m, n in counts.items() if n > 1)
    assert not missing, f"modules without a row in docs/ARCHITECTURE.md: {missing}"
    assert not twice, f"modules with several rows in docs/ARCHITECTURE.md: {twice}"


def test_every_row_names_a_module_that_exists() -> None:
    modules = _modules()
    stale = [p for row in _rows() for p in row if not any(_matches(p, m) for m in modules)]
    assert not stale, f"docs/ARCHITECTURE.md names modules that do not exist: {stale}"
