"""The command line: ``lotteryproofs COMMAND ...`` (DESIGN.md, "Command line").

Each command lives in ``lotteryproofs/commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A user mistake (:class:`InputError`, a
missing file) is printed as one line on stderr with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lotteryproofs import __version__
from lotteryproofs._validate import InputError

#: command name → module; the order is the order of ``lotteryproofs --help``.
COMMANDS = {
    "check": "lotteryproofs.commands.check",
    "verify": "lotteryproofs.commands.verify",
    "bounds": "lotteryproofs.commands.bounds",
    "constants": "lotteryproofs.commands.constants",
    "construct": "lotteryproofs.commands.construct",
    "export": "lotteryproofs.commands.export",
    "train-target": "lotteryproofs.commands.train_target",
    "figures": "lotteryproofs.commands.figures",
    "popup": "lotteryproofs.commands.popup",
    "popup-grid": "lotteryproofs.commands.popup_grid",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lotteryproofs",
        description="Strong lottery tickets with nonzero biases: construct, bound and check them.",
    )
    parser.add_argument("--version", action="version", version=f"lotteryproofs {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        print(f"lotteryproofs {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lotteryproofs {args.command}: error: {exc.strerror or exc}: "
              f"{exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lotteryproofs {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
