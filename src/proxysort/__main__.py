"""``python -m proxysort``: the same entry point as the console script."""

from proxysort.cli import main

main()
