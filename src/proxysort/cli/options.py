"""Options shared by several commands, declared once (model selection, cache, output streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from proxysort.encoders import DEFAULT_MODEL, DEFAULT_PRETRAINED

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        envvar="PROXYSORT_MODEL",
        help="open_clip model name, or a path to an open_clip model-config JSON.",
        show_default=True,
    ),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        envvar="PROXYSORT_PRETRAINED",
        help="open_clip weights tag (downloaded once), a local weights file, or 'none' for random weights.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", envvar="PROXYSORT_DEVICE", help="auto (CUDA when present), cpu or cuda."),
]
CacheDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--cache-dir",
        envvar="PROXYSORT_CACHE_DIR",
        help="Where vectors are cached (default: the platform's user cache folder).",
        file_okay=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]

DEFAULTS = {"model": DEFAULT_MODEL, "pretrained": DEFAULT_PRETRAINED, "device": "auto"}
