"""``lotteryproofs check``: verify every registered theorem on built-in defaults (the main job)."""

from __future__ import annotations

import argparse

from lotteryproofs._validate import FOLDER

HELP = "verify every registered theorem numerically; exit 1 if any check fails"
#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"out": FOLDER}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="lotteryproofs-report",
                        help="folder for report.md and report.json (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    parser.add_argument("--thorough", action="store_true", help="the long version of every check")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="run only these theorem keys")


def run(args) -> int:
    from lotteryproofs._validate import InputError
    from lotteryproofs.report import run_checks, table, write_report
    from lotteryproofs.theorems import registry

    if args.only:
        known = {t.key for t in registry()}
        unknown = sorted(set(args.only) - known)
        if unknown:
            raise InputError(f"unknown theorem keys {unknown}; known: {', '.join(sorted(known))}")
    rows = run_checks(seed=args.seed, thorough=args.thorough, only=args.only)
    if not rows:
        raise InputError("no theorems are registered")
    print(table(rows))
    write_report(rows, args.out, seed=args.seed, thorough=args.thorough)
    failed = [r.theorem.key for r in rows if not r.result.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} checks passed; report in {args.out}/")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0
