"""Process exit codes, documented in the README so scripts can branch on them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every way a proxysort command can end.

    The numbers are part of the public interface: shell pipelines test them, so never renumber.
    """

    OK = 0
    #: Unexpected internal error (a bug): the message says where to report it.
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
    #: Interrupted by the user (Ctrl-C); work finished so far is kept.
    INTERRUPTED = 130
