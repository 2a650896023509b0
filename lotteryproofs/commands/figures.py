"""``lotteryproofs figures``: the paper's figures as PDF + PNG (same seed, same bytes)."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = "regenerate the paper's figures (PDF + PNG, same seed gives the same bytes)"
#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"out": _validate.FOLDER}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="figures",
                        help="folder for the figures, created if missing (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small versions of every figure (the whole set in under a minute; "
                             "default: the full versions)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="build only these figures (see --list; default: all)")
    parser.add_argument("--seed", type=_types.seed, default=0,
                        help="root seed, an integer >= 0 (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")


def run(args) -> int:
    from pathlib import Path

    from lotteryproofs import figures, outputs
    from lotteryproofs.figures.driver import FORMATS, build, prepare_output_folder, select

    if args.list:
        for name in figures.figure_names():
            print(name)
        return 0
    names = select(args.only, dict.fromkeys(figures.figure_names()))
    out = prepare_output_folder(args.out)
    for name in names:
        # each figure's PDF and PNG appear together or not at all (Ctrl-C, a failure)
        finals = [Path(out) / f"{name}.{fmt}" for fmt in FORMATS]
        with outputs.staged(*finals) as staging:
            (item,) = build(staging[0].parent, only=[name], quick=args.quick, seed=args.seed)
        print(f"{item.name:<14} {item.seconds:6.1f} s  {', '.join(map(str, finals))}",
              flush=True)
    return 0
