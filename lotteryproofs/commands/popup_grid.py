"""``lotteryproofs popup-grid``: the edge-popup experiment grid of issue 9 (THEORY.md §7)."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

# plain text: argparse %-formats help strings, not descriptions (cli.py shows both)
HELP = ("edge-popup over initialisations × densities × options × seeds on digits, "
        "breast-cancer and wine: mean test accuracy with 95\u00a0% intervals")
#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"json": _validate.JSON_FILE, "table": _validate.MARKDOWN_FILE}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="the CI-sized grid (< 60 s on 2 cores; default: the full grid)")
    parser.add_argument("--seed", type=_types.seed, default=0,
                        help="root seed, an integer >= 0 (default: %(default)s)")
    parser.add_argument("--beta", type=_types.non_negative_float, nargs="+", default=None,
                        metavar="B",
                        help="bias scales β >= 0 as a grid axis, e.g. --beta 0 0.05 0.2 1: every "
                             "nonzero-bias source runs at each (0: every bias 0), every "
                             "zero-bias source once (default: each source's own, 1)")
    parser.add_argument("--workers", type=_types.positive_int, default=None,
                        help="worker processes (default: every core)")
    parser.add_argument("--json", metavar="OUT.json",
                        help="write every run and cell here (default: not written)")
    parser.add_argument("--table", metavar="OUT.md",
                        help="write the Markdown table here (default: not written)")
    from lotteryproofs.executor.options import add_arguments as add_executor_arguments

    add_executor_arguments(parser)


def run(args) -> int:
    import dataclasses

    from lotteryproofs import __version__, outputs
    from lotteryproofs._validate import positive_int
    from lotteryproofs.executor.options import executor_from_args
    from lotteryproofs.experiments import default_grid, grid_table, quick_grid, run_grid
    from lotteryproofs.io import write_bytes_atomic, write_json_atomic

    workers = None if args.workers is None else positive_int("--workers", args.workers)
    spec = quick_grid(args.seed) if args.quick else default_grid(args.seed)
    if args.beta is not None:
        spec = dataclasses.replace(spec, betas=tuple(args.beta))
    with executor_from_args(args) as executor:
        results = run_grid(spec, workers=workers, executor=executor,
                           checkpoint=args.checkpoint, show_progress=True)
    table = grid_table(results)
    print(table)
    print(f"\n{spec.n_runs} runs in {results.wall_seconds:.1f} s with {results.workers} workers "
          f"({results.extra['cpu_seconds']:.1f} CPU s in the runs)")
    finals = [p for p in (args.json, args.table) if p]
    with outputs.staged(*finals) as staging:  # both files or neither
        paths = dict(zip(finals, staging, strict=True))
        if args.json:
            write_json_atomic(paths[args.json], {
                **results.to_json(), "version": __version__,
                "command": "lotteryproofs popup-grid" + (" --quick" if args.quick else "")
                + f" --seed {args.seed}"
                + ("" if args.beta is None else " --beta " + " ".join(map(repr, args.beta)))})
        if args.table:
            write_bytes_atomic(paths[args.table], (table + "\n").encode())
    return 0
