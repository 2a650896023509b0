"""``lotteryproofs check``: verify every registered theorem on built-in defaults (the main job).

Exit status: 0 every check passed, 1 a theorem failed, 2 a user mistake (nothing run or
written), 3 every check that ran passed but a plugin of the ``lotteryproofs.theorems``
entry-point group did not load (reported as a PLUGIN ERROR row, not as a failed theorem).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lotteryproofs._validate import FOLDER, OutputFile
from lotteryproofs.commands import _types

HELP = "verify every registered theorem numerically; exit 1 if any check fails"
#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"out": FOLDER, "junit": OutputFile((".xml",), "a JUnit XML file")}

#: Exit status when the checks passed but a theorem plugin did not load.
EXIT_PLUGIN_ERROR = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="lotteryproofs-report",
                        help="folder for report.md and report.json (default: %(default)s)")
    # parsed in run(), so that a bad value is the one-line user error of every other mistake
    parser.add_argument("--seed", default="0",
                        help="root seed, an integer >= 0 (default: %(default)s)")
    parser.add_argument("--thorough", action="store_true", help="the long version of every check")
    parser.add_argument("--only", nargs="+", metavar="KEY",
                        help="run only these theorem keys (see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list every registered theorem with its package and exit")
    parser.add_argument("--junit", metavar="FILE",
                        help="also write JUnit XML (one test case per theorem) to FILE")
    parser.add_argument("--workers", type=_types.positive_int, default=None,
                        help="processes that run checks at once, an integer >= 1 (default: "
                             "every core; 1: in this process); the results do not depend on it")


def _check_outputs(out, junit) -> None:
    """Refuse unusable output paths before any check runs (nothing is written on refusal)."""
    from lotteryproofs._validate import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if junit is not None:
        junit = Path(junit)
        if junit.is_dir():
            raise InputError(f"--junit {junit} is a folder, not a file")
        if not junit.parent.is_dir():
            raise InputError(f"--junit {junit}: folder {junit.parent} does not exist")


def _say(text: str) -> None:
    # rows go out as their checks end, also into a pipe or a CI log (not one block at the end);
    # tqdm.write keeps a terminal's progress bar intact
    from tqdm.auto import tqdm

    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()


def run(args) -> int:
    from lotteryproofs import report
    from lotteryproofs._validate import InputError
    from lotteryproofs.checks import registry
    from lotteryproofs.executor import open_executor
    from lotteryproofs.progress import progress
    from lotteryproofs.theorems import check_seed

    try:
        seed = int(str(args.seed).strip())
    except ValueError:
        raise InputError(f"--seed must be an integer >= 0, got {args.seed!r}") from None
    seed = check_seed(seed, "--seed")
    workers = args.workers or os.cpu_count() or 1
    found = registry()
    if args.list:
        print(report.listing(found.theorems, found.errors))
        return EXIT_PLUGIN_ERROR if found.errors else 0
    theorems = list(found.theorems)
    if args.only:
        known = set(found.keys())
        unknown = sorted(set(args.only) - known)
        if unknown:
            broken = "".join(f"; plugin {e.package} did not load ({e.error})" for e in found.errors)
            raise InputError(f"unknown theorem keys {unknown} (see check --list){broken}")
        theorems = [t for t in theorems if t.key in args.only]
    if not theorems:
        raise InputError("no theorems are registered")
    _check_outputs(args.out, args.junit)

    kw = report.key_width([t.key for t in theorems] + [e.key for e in found.errors])
    _say(report.table_header(kw))
    for error in found.errors:
        _say(report.plugin_error_row(error, kw))
    rows = []
    bar = progress(total=len(theorems), desc="check")
    with bar, open_executor(min(workers, len(theorems))) as executor:
        for row in report.iter_checks(theorems, seed=seed, thorough=args.thorough,
                                      executor=executor):
            rows.append(row)
            _say(report.table_row(row, kw))
            bar.update()
    report.write_report(rows, args.out, seed=seed, thorough=args.thorough, errors=found.errors)
    if args.junit is not None:
        report.write_junit(rows, args.junit, seed=seed, errors=found.errors)
    failed = [r.theorem.key for r in rows if not r.result.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} checks passed; report in {args.out}/")
    if found.errors:
        print(f"PLUGIN ERROR: {len(found.errors)} theorem plugin(s) did not load: "
              f"{', '.join(e.package for e in found.errors)} (their theorems were not run)")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return EXIT_PLUGIN_ERROR if found.errors else 0
