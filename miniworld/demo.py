"""``python -m miniworld.demo DIR [--n N] [--seed S]``: a sample photo folder for the README's offline demo.

Writes N synthetic photos (coloured shapes on patterned backgrounds) to ``DIR/images`` and their true
attributes to ``DIR/labels.csv``; the shipped small model ``tests/fixtures/miniclip.*`` was trained on
this world, so proxysort can sort them offline in seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from miniworld.generate import write_folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("dir", type=Path, help="where to write images/ and labels.csv")
    p.add_argument("--n", type=int, default=60, help="how many photos (default: 60)")
    p.add_argument("--seed", type=int, default=1, help="seed (default: 1)")
    args = p.parse_args(argv)
    write_folder(args.dir, args.n, args.seed)
    print(f"wrote {args.n} photos to {args.dir / 'images'} and their labels to {args.dir / 'labels.csv'}")


if __name__ == "__main__":
    main()
