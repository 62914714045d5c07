"""The command-line interface: a thin layer over the library API.

Nothing here imports torch, open_clip or faiss at module level, so ``--help`` and shell completion stay
instant; commands import the heavy library modules inside their bodies.
"""

from proxysort.cli.app import app, main

__all__ = ["app", "main"]
