"""``--help`` and shell completion must stay instant: they may not import torch, open_clip or faiss."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "open_clip", "faiss", "sklearn", "openai", "ray")


def _imported_modules(args: list[str], extra_env: dict[str, str] | None = None) -> set[str]:
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "proxysort", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, proc.stderr[-2000:]
    return names


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["cluster", "--help"], ["words", "--help"]])
def test_help_does_not_import_heavy_modules(args: list[str]) -> None:
    assert _heavy(_imported_modules(args)) == []


def test_completion_does_not_import_heavy_modules() -> None:
    names = _imported_modules(
        [],
        {"_PROXYSORT_COMPLETE": "complete_bash", "COMP_WORDS": "proxysort clu", "COMP_CWORD": "1"},
    )
    assert _heavy(names) == []


# -- the import graph of the package itself --------------------------------------------------------------


def _import_graph() -> dict[str, set[str]]:
    """module -> package modules it imports (top level, inside functions and under TYPE_CHECKING alike), read
    from the source with ``ast``: a circle anywhere is a circle, however lazily it is taken."""
    import ast
    from pathlib import Path

    import proxysort

    root = Path(proxysort.__file__).parent
    modules = {
        ".".join(("proxysort", *f.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): f
        for f in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            edges |= {t for t in targets if t in modules and t not in (name, "proxysort")}
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if not state.get(nxt) and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if not state.get(node) and (found := visit(node)):
            return found
    return []


def test_the_package_import_graph_has_no_circle() -> None:
    graph = _import_graph()
    assert len(graph) > 20  # the graph really was read
    assert _cycle(graph) == []


def test_the_cycle_finder_can_fail() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_imports_flow_one_way_library_to_cli() -> None:
    """The library never imports the CLI; commands import only cli.options/common/inputs/formats (and
    the library), never cli.app, which imports them to register them."""
    graph = _import_graph()
    for module, edges in graph.items():
        if not module.startswith("proxysort.cli") and module != "proxysort.__main__":
            assert not {e for e in edges if e.startswith("proxysort.cli")}, module
        if module.endswith("_cmd"):
            assert "proxysort.cli.app" not in edges and not {e for e in edges if e.endswith("_cmd")}, module


def test_every_public_name_resolves_to_what_it_names() -> None:
    import proxysort

    for name in proxysort.__all__:
        assert getattr(proxysort, name) is not None, name
    import proxysort.groups  # a submodule import must not shadow the public function of the same name

    assert callable(proxysort.kmeans) and proxysort.kmeans is proxysort.groups.kmeans
    assert proxysort.sort.__module__ == "proxysort.sorting" and proxysort.ExitCode.CACHE == 5
