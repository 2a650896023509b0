"""``lotteryproofs constants``: Monte Carlo estimates of RSS constants (THEORY.md §3, DESIGN.md).

One law, ε' and δ give one estimate; several of each give the table of every combination
(proofs/constants-table.md is generated this way). ``--authors`` replicates the seed paper's
own statistics instead (proofs/authors-statistics.md).
"""

from __future__ import annotations

import argparse
import os

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = "estimate random-subset-sum constants (p(n), q(n), n_required, C) by Monte Carlo"


#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"json": _validate.JSON_FILE, "markdown": _validate.MARKDOWN_FILE}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lotteryproofs.laws import LAWS

    parser.add_argument("--law", nargs="+", choices=sorted(LAWS), metavar="LAW",
                        help=f"RSS law(s): {', '.join(LAWS)} (required unless --authors)")
    parser.add_argument("--eps", nargs="+", type=_types.positive_float, metavar="E",
                        help="per-parameter accuracy ε' > 0, one or more (required unless "
                             "--authors)")
    parser.add_argument("--delta", nargs="+", type=_types.unit_open, metavar="D",
                        help="failure probability δ in (0, 1), one or more (required unless "
                             "--authors)")
    parser.add_argument("--trials", type=_types.positive_int, default=None,
                        help="Monte Carlo trials per n (default: enough to certify 1 − δ, "
                             "≥ 1000; see constants.default_trials)")
    parser.add_argument("--seed", type=_types.seed, default=None,
                        help="root seed (default: fresh entropy, recorded in the JSON)")
    parser.add_argument("--interval", nargs=2, type=_types.finite_float, default=(-1.0, 1.0),
                        metavar=("LO", "HI"),
                        help="targets z ∈ [LO, HI], LO < HI (default: -1 1)")
    parser.add_argument("--n-min", type=_types.positive_int, default=None,
                        help="first pool size (default: the counting limit in candidates)")
    parser.add_argument("--n-max", type=_types.positive_int, default=None,
                        help="last pool size (default: n-min + 60, at most 62 values "
                             "per pool)")
    parser.add_argument("--workers", type=_types.positive_int, default=os.cpu_count() or 1,
                        help="processes (default: all cores; results do not depend on it)")
    parser.add_argument("--json", metavar="OUT.json",
                        help="write the result(s) as JSON (default: not written)")
    parser.add_argument("--markdown", metavar="OUT.md",
                        help="write the summary table as Markdown (default: not written)")
    parser.add_argument("--authors", action="store_true",
                        help="replicate the authors' statistics (n=15, ε'=0.01, subsets ≤ 14) "
                             "for uniform and product; --trials defaults to 100000")
    parser.add_argument("--block-trials", type=int, default=None, metavar="N",
                        help="trials per block, each block with its own random stream "
                             "(default: 250); part of the result, unlike --workers: larger "
                             "blocks cost less scheduling on a cluster (docs/cluster.md)")
    from lotteryproofs.executor.options import add_arguments as add_executor_arguments

    add_executor_arguments(parser)


def _summary_table(estimates) -> str:
    lines = [
        "| law | ε' | δ | trials | n_required | C | counting limit (values / candidates) "
        "| p(n_req) [95 % CI] | q(n_req) [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in estimates:
        row = e.rows[-1]
        n_req = "—" if e.n_required is None else str(e.n_required)
        c = "—" if e.C is None else f"{e.C:.3f}"
        lines.append(
            f"| {e.law} | {e.eps:g} | {e.delta:g} | {e.trials} | {n_req} | {c} | "
            f"{e.counting_limit:.2f} / {e.counting_limit_candidates:.2f} | "
            f"{row.p_cover:.4f} [{row.p_cover_ci[0]:.4f}, {row.p_cover_ci[1]:.4f}] | "
            f"{row.q_single:.4f} [{row.q_single_ci[0]:.4f}, {row.q_single_ci[1]:.4f}] |"
        )
    return "\n".join(lines)


def _print_line(estimate) -> None:
    n_req = "—" if estimate.n_required is None else estimate.n_required
    c = "—" if estimate.C is None else format(estimate.C, ".3f")
    print(f"{estimate.law:15s} eps={estimate.eps:<8g} delta={estimate.delta:<6g} "
          f"trials={estimate.trials:<6d} n_required={n_req:<4} C={c:<6} "
          f"counting limit={estimate.counting_limit:.2f} seed={estimate.seed}"
          + (f"  ({estimate.note})" if estimate.note else ""), flush=True)


def _cell_checkpoint(args, name: str):
    """The checkpoint folder of one estimate: DIR/NAME (each has its own manifest)."""
    if args.checkpoint is None:
        return None
    from pathlib import Path

    return Path(args.checkpoint) / name


def _blocks(args) -> dict:
    return {} if args.block_trials is None else {"block_trials": args.block_trials}


def _run_authors(args, executor) -> int:
    from lotteryproofs.constants import AUTHORS_STATISTICS, replicate_authors
    from lotteryproofs.io import write_json_atomic

    trials = 100_000 if args.trials is None else args.trials
    results = [replicate_authors(law, trials=trials, seed=args.seed, executor=executor,
                                 checkpoint=_cell_checkpoint(args, f"authors-{law}"),
                                 progress=f"authors {law}")
               for law in AUTHORS_STATISTICS]
    for r in results:
        print(r.summary())
    if args.json:
        from lotteryproofs import outputs

        with outputs.staged(args.json) as (staging,):
            write_json_atomic(staging, [r.to_json() for r in results])
    return 0


def run(args) -> int:
    from lotteryproofs._validate import InputError
    from lotteryproofs.executor.options import executor_from_args

    _validate.interval("--interval", *args.interval)
    if args.n_min is not None and args.n_max is not None and args.n_max < args.n_min:
        raise InputError(f"--n-max {args.n_max} is below --n-min {args.n_min}")
    if args.checkpoint is not None and args.seed is None:
        raise InputError("--checkpoint needs --seed: a resumed run must redraw the same trials")
    missing = [o for o, v in (("--law", args.law), ("--eps", args.eps), ("--delta", args.delta))
               if not v]
    if missing and not args.authors:
        raise InputError(f"give {', '.join(missing)} (required unless --authors)")
    with executor_from_args(args) as executor:
        return (_run_authors if args.authors else _run_estimates)(args, executor)


def _run_estimates(args, executor) -> int:
    from lotteryproofs.constants import estimate_constants
    from lotteryproofs.io import write_bytes_atomic, write_json_atomic

    estimates = []
    # one scan per (law, ε') at the smallest δ: a larger δ's run with the same trials and seed
    # stops earlier on identical rows, so it is derived exactly (ConstantsEstimate.for_delta)
    deltas = sorted(set(args.delta), reverse=True)
    for law in args.law:
        for eps in args.eps:
            full = estimate_constants(
                law, eps, deltas[-1], trials=args.trials, seed=args.seed,
                interval=args.interval, n_min=args.n_min, n_max=args.n_max,
                executor=executor, progress=f"{law} eps={eps:g}", **_blocks(args),
                checkpoint=_cell_checkpoint(args, f"{law}-eps{eps!r}-delta{deltas[-1]!r}"),
            )
            for delta in deltas:
                estimate = full.for_delta(delta) if args.trials is not None else None
                if estimate is None:  # default trials depend on δ: run it separately
                    estimate = full if delta == deltas[-1] else estimate_constants(
                        law, eps, delta, seed=args.seed, interval=args.interval,
                        n_min=args.n_min, n_max=args.n_max, executor=executor,
                        progress=f"{law} eps={eps:g} delta={delta:g}", **_blocks(args),
                        checkpoint=_cell_checkpoint(args, f"{law}-eps{eps!r}-delta{delta!r}"))
                estimates.append(estimate)
                _print_line(estimate)
    table = _summary_table(estimates)
    print()
    print(table)
    from lotteryproofs import outputs

    finals = [p for p in (args.json, args.markdown) if p]
    with outputs.staged(*finals) as staging:  # both files or neither
        paths = dict(zip(finals, staging, strict=True))
        if args.json:
            data = [e.to_json() for e in estimates]
            write_json_atomic(paths[args.json], data[0] if len(data) == 1 else data)
        if args.markdown:
            write_bytes_atomic(paths[args.markdown], (table + "\n").encode())
    return 0
