"""``lotteryproofs popup-grid``: the edge-popup experiment grid of issue 9 (THEORY.md §7)."""

from __future__ import annotations

import argparse

HELP = ("edge-popup over initialisations × densities × options × seeds on digits, "
        "breast-cancer and wine: mean test accuracy with 95 %% intervals")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="the CI-sized grid (< 60 s on 2 cores)")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: every core)")
    parser.add_argument("--json", metavar="OUT.json", help="write every run and cell here")
    parser.add_argument("--table", metavar="OUT.md", help="write the Markdown table here")
    from lotteryproofs.executor.options import add_arguments as add_executor_arguments

    add_executor_arguments(parser)


def run(args) -> int:
    from lotteryproofs import __version__
    from lotteryproofs._validate import InputError, positive_int
    from lotteryproofs.executor.options import executor_from_args
    from lotteryproofs.experiments import default_grid, grid_table, quick_grid, run_grid
    from lotteryproofs.io import write_bytes_atomic, write_json_atomic

    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    workers = None if args.workers is None else positive_int("--workers", args.workers)
    spec = quick_grid(args.seed) if args.quick else default_grid(args.seed)
    with executor_from_args(args) as executor:
        results = run_grid(spec, workers=workers, executor=executor,
                           checkpoint=args.checkpoint, show_progress=True)
    table = grid_table(results)
    print(table)
    print(f"\n{spec.n_runs} runs in {results.wall_seconds:.1f} s with {results.workers} workers "
          f"({results.extra['cpu_seconds']:.1f} CPU s in the runs)")
    if args.json:
        write_json_atomic(args.json, {**results.to_json(), "version": __version__,
                                      "command": "lotteryproofs popup-grid"
                                      + (" --quick" if args.quick else "")
                                      + f" --seed {args.seed}"})
    if args.table:
        write_bytes_atomic(args.table, (table + "\n").encode())
    return 0
