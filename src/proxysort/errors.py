"""Errors that carry a user-facing message and an exit code.

The CLI turns any :class:`ProxysortError` into one clear sentence on stderr and its exit code, never a
traceback; library users can catch the specific subclasses.
"""

from __future__ import annotations

from proxysort.exitcodes import ExitCode


class ProxysortError(Exception):
    """Base class: ``str(err)`` is a complete sentence a user can act on."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(ProxysortError):
    """Arguments that cannot work together or cannot be satisfied."""

    exit_code = ExitCode.USAGE


class ModelLoadError(ProxysortError):
    """The CLIP model, its config or its weights are unavailable."""

    exit_code = ExitCode.MODEL


class CacheError(ProxysortError):
    """The vector cache cannot be opened, written, or is locked."""

    exit_code = ExitCode.CACHE


class InputError(ProxysortError):
    """The photo folder or input list is missing or unreadable."""

    exit_code = ExitCode.INPUT


class OutputError(ProxysortError):
    """The output location is unsafe or cannot be written."""

    exit_code = ExitCode.OUTPUT


class StrictModeError(ProxysortError):
    """``--strict`` was given and at least one file had to be skipped."""

    exit_code = ExitCode.PARTIAL
