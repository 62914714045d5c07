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

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CONFIG = FIXTURES / "tiny-clip.json"


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


def make_photo(path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48), **save_kw) -> Path:
    """Write a small solid-colour image with a little texture so encoders see distinct inputs."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.rectangle([size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=tuple(255 - c for c in color))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **save_kw)
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


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(cache_dir: Path) -> Callable[..., CliResult]:
    """Run the real CLI in-process with captured streams and chosen TTY flags.

    ``run_cli(["index", str(folder)], stdin="...", stdout_isatty=False)``.
    """
    from proxysort.cli import main
    from proxysort.env import Environment

    def run(
        argv: Sequence[str],
        *,
        stdin: str = "",
        stdin_isatty: bool = False,
        stdout_isatty: bool = False,
        stderr_isatty: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        variables = dict(os.environ)
        variables.update(extra_env or {})
        env = Environment(
            stdin=io.StringIO(stdin),
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
