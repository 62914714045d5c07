"""Modules meet through public names: no module imports another module's private (``_``) names, so the
Ray indexer uses the indexer's runner interface and the proxy cache the store's public methods."""

from __future__ import annotations

import ast
from pathlib import Path


def _private_imports(source: str, module: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxysort") and node.module != module:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name != "__version__"]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    import proxysort

    root = Path(proxysort.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        module = ".".join(("proxysort", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        found += [f"{module}: {name}" for name in _private_imports(path.read_text(), module)]
    assert found == []


def test_the_private_import_finder_can_fail() -> None:
    source = "from proxysort.indexer import _Writer, index\nfrom proxysort.store import _guard"
    assert _private_imports(source, "proxysort.distributed.indexing") == ["proxysort.indexer._Writer", "proxysort.store._guard"]


def test_one_commit_loop_serves_every_runner() -> None:
    """The Ray runner hands every photo to the indexer's Commit; it writes no store rows itself."""
    from proxysort.distributed import indexing

    text = Path(indexing.__file__).read_text()
    assert "commit.failed(" in text and "commit.reused(" in text and "commit.embedded(" in text
    assert "write_batch" not in text and "summary." not in text
