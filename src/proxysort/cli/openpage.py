"""Opening the review page in the user's browser (``cluster --open``, ``show``).

Python's ``webbrowser``, honouring ``$BROWSER`` from the invocation's :class:`Environment` (not the
process's), so tests choose a command that records the URL instead of starting a real browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.env import Environment
    from proxysort.progress import Reporter


def open_in_browser(page: Path, env: "Environment", reporter: "Reporter") -> bool:
    """Open ``page`` in the user's browser (``$BROWSER`` first, like ``webbrowser``); warn if none can."""
    import os
    import webbrowser

    url = page.as_uri()
    choice = env.get("BROWSER")
    try:
        opener = webbrowser.get(choice.split(os.pathsep)[0]) if choice else webbrowser.get()
        opened = bool(opener.open(url))
    except webbrowser.Error:
        opened = False
    if not opened:
        reporter.warning(f"no browser could be started; open {url} yourself")
    return opened
