"""Fixtures shared by every test module: offline mode, a tiny CLIP, generated photos, an in-process CLI.

Tests never touch the network: HF_HUB_OFFLINE is forced before anything imports huggingface_hub.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")

from tests.support.photos import TINY_CONFIG, make_photo


@pytest.fixture(scope="session")
def tiny_spec():
    """A tiny open_clip config with seeded random weights: the real loading path, in ~3 s, offline."""
    from proxysort.encoders import ModelSpec

    return ModelSpec(model=str(TINY_CONFIG), pretrained="none", device="cpu")


@pytest.fixture(scope="session")
def tiny_clip(tiny_spec):
    from proxysort.encoders import load_clip

    return load_clip(tiny_spec)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy shared runner thread barriers dominate their time.

    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated cache; also exported so code that reads the variable never touches ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PROXYSORT_CACHE_DIR", str(path))
    return path


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Twelve small photos in three colours, in nested folders, in several formats."""
    root = tmp_path / "photos"
    colors = [(220, 20, 20), (20, 200, 20), (20, 20, 220)]
    for i in range(12):
        ext = ["jpg", "png", "webp"][i % 3]
        sub = root / ("a" if i < 6 else "b/c")
        make_photo(sub / f"img{i:02d}.{ext}", colors[i % 3], size=(64 + i, 48))
    return root


#: The words of the three colours :func:`photo_folder` and :func:`sorted_colors` are made of.
COLORS = ["red", "green", "blue"]


@pytest.fixture(scope="session")
def sorted_colors(tmp_path_factory: pytest.TempPathFactory, tiny_clip):
    """One folder of 12 photos and one sort by colour (k=3), shared by the read-only tests of the sorting
    facade and of evaluation (each run costs seconds on a busy CPU): ``(folder, result)``."""
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, sort

    base = tmp_path_factory.mktemp("shared")
    folder = base / "photos"
    for i in range(12):
        make_photo(folder / ("a" if i < 6 else "b/c") / f"img{i:02d}.{['jpg', 'png', 'webp'][i % 3]}",
                   [(220, 20, 20), (20, 200, 20), (20, 20, 220)][i % 3], size=(64 + i, 48))
    result = sort(folder, [By("color", words=COLORS, k=3)], model=tiny_clip, cache_dir=base / "cache",
                  training=ProxyConfig(epochs=2))
    return folder, result


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(cache_dir: Path) -> Callable[..., CliResult]:
    """Run the real CLI in-process with captured streams and chosen TTY flags.

    ``run_cli(["index", str(folder)], stdin="...", stdout_isatty=False)``; ``stdin=b"..."`` gives the command a
    stdin with a byte buffer under it, as a real process has.
    """
    from proxysort.cli import main
    from proxysort.env import Environment

    def run(
        argv: Sequence[str],
        *,
        stdin: str | bytes = "",
        stdin_isatty: bool = False,
        stdout_isatty: bool = False,
        stderr_isatty: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        variables = dict(os.environ)
        variables.update(extra_env or {})
        env = Environment(
            # bytes: a real process's stdin (text over a byte buffer), for lists that are not UTF-8
            stdin=io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8") if isinstance(stdin, bytes) else io.StringIO(stdin),
            stdout=out,
            stderr=err,
            stdin_isatty=stdin_isatty,
            stdout_isatty=stdout_isatty,
            stderr_isatty=stderr_isatty,
            vars=variables,
        )
        code = 0
        try:
            main(list(argv), env=env)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


#: Whole modules of the slow tier: a local Ray cluster, kill loops, concurrent processes racing, a real
#: browser, and the quality worlds. ``pytest -m "not slow"`` is the quick loop; CI runs everything.
#: Single long tests elsewhere carry ``@pytest.mark.slow`` themselves, or are named in SLOW_TESTS (full-size
#: models, kill loops and real downloads in modules that are otherwise quick).
SLOW_MODULES = frozenset(
    {
        "test_ray",
        "test_crash_recovery",
        "test_concurrency",
        "test_output_races",
        "test_page_browser",
        "test_quality",
        "test_e2e",
    }
)

SLOW_TESTS = frozenset(
    {
        "test_paths_are_exact_on_full_size_vit_b_32",
        "test_missing_weights_are_downloaded_before_the_scan_announced_once",
        "test_ctrl_c_while_learning_says_what_is_kept",
        "test_kill_9_keeps_committed_work_and_the_store_stays_sound",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in SLOW_MODULES or getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
