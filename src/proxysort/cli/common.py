"""Small helpers every command uses to turn parsed options into library arguments."""

from __future__ import annotations

from pathlib import Path

from proxysort.encoders import ModelSpec
from proxysort.env import Environment
from proxysort.progress import ConsoleReporter


def reporter_for(env: Environment, quiet: bool = False) -> ConsoleReporter:
    """Progress on stderr: live bars on a terminal, sparse plain lines otherwise."""
    return ConsoleReporter(env.stderr, is_tty=bool(env.stderr_isatty), quiet=quiet)


def model_spec(model: str, pretrained: str, device: str) -> ModelSpec:
    """Typer already applied the PROXYSORT_* variables; this only packs the values."""
    return ModelSpec(model=model, pretrained=pretrained, device=device)


def cache_dir_for(env: Environment, cache_dir: Path | None) -> Path:
    return cache_dir.expanduser() if cache_dir is not None else env.cache_dir
