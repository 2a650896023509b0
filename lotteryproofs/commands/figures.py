"""``lotteryproofs figures``: the paper's figures as PDF + PNG (same seed, same bytes)."""

from __future__ import annotations

import argparse

HELP = "regenerate the paper's figures (PDF + PNG, same seed gives the same bytes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="figures",
                        help="folder for the figures, created if missing (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small versions of every figure (the whole set in under a minute)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="build only these figures (see --list)")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")


def run(args) -> int:
    from lotteryproofs import figures
    from lotteryproofs.figures.driver import build

    if args.list:
        for name in figures.figure_names():
            print(name)
        return 0
    built = build(args.out, only=args.only, quick=args.quick, seed=args.seed)
    for item in built:
        files = ", ".join(str(p) for p in item.paths)
        print(f"{item.name:<14} {item.seconds:6.1f} s  {files}")
    return 0
