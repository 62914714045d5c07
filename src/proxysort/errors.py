"""Errors that carry a user-facing message and an exit code, and the exit codes themselves.

The CLI turns any :class:`ProxysortError` into one clear sentence on stderr and its exit code, never a
traceback; library users can catch the specific subclasses. Messages name the library's *parameters* in
backticks (```k` must be at least 1``); the CLI writes each as its flag (``--k must be at least 1``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every way a proxysort command can end.

    The numbers are part of the public interface: shell pipelines test them, so never renumber.
    """

    OK = 0
    #: Unexpected internal error (a bug): Python's traceback is shown.
    ERROR = 1
    #: Bad command-line usage or impossible arguments (e.g. ``--k`` larger than the photo count).
    USAGE = 2
    #: The run finished, but some files were skipped (corrupt, unreadable, ...). Results are usable.
    PARTIAL = 3
    #: The CLIP model or its weights could not be loaded (offline with no cached weights, unknown tag, ...).
    MODEL = 4
    #: The cache could not be written or read (read-only, disk full, locked by another run too long).
    CACHE = 5
    #: The photo folder (or an input list) is missing or unreadable.
    INPUT = 6
    #: The output folder cannot be written safely (inside the photo tree, not ours to overwrite, ...).
    OUTPUT = 7
    #: Interrupted by the user (Ctrl-C); committed index batches are kept, nothing else.
    INTERRUPTED = 130




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
