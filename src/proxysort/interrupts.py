"""Ctrl-C that always lands, even when Python swallows it.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives. Inside a
destructor (``__del__``: the ``regex`` module's, while CLIP's tokenizer runs) the exception cannot
propagate: Python prints "Exception ignored in ..." and carries on, so a run the user stopped went on to
write its tree and exit 0 (round-3 finding F19). While a command runs (:func:`catching`), SIGINT also sets
a flag, and :func:`check` raises the interrupt again at the points where work changes phase (after the
prompt is tokenised, before the folder tree is written). A library caller that installs nothing sees
``check`` do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

_pending = threading.Event()


def _on_sigint(signum: int, frame: Any) -> None:
    _pending.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def catching() -> Iterator[None]:
    """Remember every SIGINT for the duration of a command (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending.clear()


def check() -> None:
    """Raise the interrupt the user asked for if it was swallowed on its way (see the module docstring)."""
    if _pending.is_set():
        raise KeyboardInterrupt
