"""Library messages name parameters, never flags: the CLI maps `` `out` `` to ``--out`` (cli/common.py).

A Python user who called ``write_tree(out=...)`` has no ``--out`` to change; only the CLI knows its flags.
Every string literal under ``src/proxysort`` outside ``cli/`` is scanned (docstrings excepted: they may
describe the command that calls a function).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "proxysort"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w:-])")  # --k too; not CSS properties (--c:)
#: Text that is not a message to a user: CSS custom properties in page templates are not in .py files any more,
#: and shell commands of *other* programs (``ray start --head``) are quoted for the user to type.
OTHER_PROGRAMS = ("ray start --head",)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def _flag_literals() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                text = node.value
                for other in OTHER_PROGRAMS:
                    text = text.replace(other, "")
                if FLAG.search(text):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:80]!r}")
    return found


def test_library_messages_name_parameters_not_flags() -> None:
    assert _flag_literals() == []


def test_the_scan_sees_a_flag() -> None:
    """The scan itself can fail: a literal naming a flag is found."""
    assert FLAG.search("choose another --out.")
    assert FLAG.search("give --k if you know")  # one-letter flags too
    assert not FLAG.search("#c0 .c1{--c:#123456}")  # a CSS custom property is no flag
    assert not FLAG.search("choose another `out`.")
