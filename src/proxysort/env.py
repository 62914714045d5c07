"""An injectable view of the process environment (streams, TTY state, variables).

Modelled on httpie's ``Environment``: commands never touch ``sys.stdout`` or ``os.environ`` directly, so
tests can run the real CLI with pipes, fake terminals and chosen variables, and check where every byte went.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Mapping

APP_NAME = "proxysort"


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    """Streams and settings for one invocation.

    ``stdout`` carries results only (plain, JSON, TSV or paths, ready for pipes); everything meant for a
    person — progress, warnings, skipped-file reports — goes to ``stderr``.
    """

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    vars: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)

    @property
    def interactive(self) -> bool:
        """True when a person can answer a prompt: stdin and stderr are both terminals."""
        return bool(self.stdin_isatty and self.stderr_isatty)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.vars.get(name)
        return value if value not in (None, "") else default

    @property
    def cache_dir(self) -> Path:
        """Root of proxysort's caches: ``PROXYSORT_CACHE_DIR`` or the platform's user cache folder."""
        override = self.get("PROXYSORT_CACHE_DIR")
        if override:
            return Path(override).expanduser()
        import platformdirs

        return Path(platformdirs.user_cache_dir(APP_NAME))
