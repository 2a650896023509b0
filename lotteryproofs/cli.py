"""The command line: ``lotteryproofs COMMAND ...`` (DESIGN.md, "Command line").

Each command lives in ``lotteryproofs/commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``, and may declare its result paths as
``OUTPUTS`` (argparse dest → :class:`~lotteryproofs._validate.OutputFile` or
``OutputFolder``) and the options that name input files as ``INPUTS``: every declared path is
checked here, before the command starts (:func:`lotteryproofs._validate.check_paths`).

A user mistake (:class:`InputError`, a missing file, a bad option) is printed as one line on
stderr with exit status 2; no traceback. The command runs in a worker thread so that Ctrl-C
is answered within a fraction of a second even while compiled code runs: the main thread
discards every result not yet complete (:mod:`lotteryproofs.outputs`) and exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import threading

from lotteryproofs import __version__
from lotteryproofs._validate import InputError, check_paths

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


class _UsageError(SystemExit):
    """A refused option value: :func:`main` returns its status (2), as for an InputError."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is one ``--help`` away).

    A bad option *value* (refused by a ``commands/_types.py`` converter, whose messages read
    "must …") is a user mistake like any :class:`InputError`: it reads ``--eps must be > 0,
    got -1.0`` and :func:`main` returns 2. A malformed command line (an unknown command or
    choice, a missing required option) exits as argparse does (``SystemExit(2)``).
    """

    def error(self, message):
        value_error = re.match(r"^argument (\S+?)(?:/\S+)?: (must .*)$", message, re.S)
        if value_error:
            message = f"{value_error[1]} {value_error[2]}"
        text = f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        if not value_error:
            self.exit(2, text)
        self._print_message(text, sys.stderr)
        raise _UsageError(2)


class _HelpFormatter(argparse.HelpFormatter):
    """Marks required options in the help, next to their help text."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required and action.option_strings and "(required)" not in text:
            text = f"{text} (required)".strip()
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lotteryproofs",
        description="Strong lottery tickets with nonzero biases: construct, bound and check them.",
    )
    parser.add_argument("--version", action="version", version=f"lotteryproofs {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        # help= is %-formatted by argparse, description= is not: one plain HELP text for both
        sub = subparsers.add_parser(name, help=module.HELP.replace("%", "%%"),
                                    description=module.HELP, formatter_class=_HelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _module=module, _parser=sub)
    return parser


def _option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """argparse dest → the name a user typed (``--out``, ``TARGET``)."""
    return {a.dest: (a.option_strings[-1] if a.option_strings else (a.metavar or a.dest))
            for a in parser._actions}


def check_declared_paths(args) -> None:
    """Every ``OUTPUTS`` path of the command valid, and none of them one of its ``INPUTS``."""
    module = args._module
    outputs = getattr(module, "OUTPUTS", {})
    inputs = getattr(module, "INPUTS", ())
    names = _option_names(args._parser)
    values = {names.get(dest, dest): getattr(args, dest, None) for dest in (*outputs, *inputs)}
    check_paths(values, {names.get(d, d): c for d, c in outputs.items()},
                tuple(names.get(d, d) for d in inputs))


def _run_in_worker(args) -> int:
    """``args._run(args)`` in a thread; Ctrl-C in the main thread ends the process at once."""
    from lotteryproofs import outputs

    box: dict = {}

    def work():
        try:
            box["status"] = args._run(args)
        except BaseException as exc:  # re-raised in the main thread, traceback kept
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"lotteryproofs-{args.command}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        complete = outputs.abort()
        note = ("; already complete: " + ", ".join(map(str, complete))) if complete else \
            "; no result written"
        sys.stdout.flush()
        print(f"lotteryproofs {args.command}: interrupted{note}", file=sys.stderr, flush=True)
        outputs.abort(final=True)  # second pass: a folder the worker re-created meanwhile
        # compiled code in the worker cannot be interrupted; nothing of it is kept
        os._exit(130)
    if "error" in box:
        raise box["error"]
    return box.get("status")


def main(argv=None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # answered before the parser imports every command module
        print(f"lotteryproofs {__version__}")
        return 0
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:  # a command's bad option: a status, like every user mistake
        return int(exc.code)
    try:
        check_declared_paths(args)
        return int(_run_in_worker(args) or 0)
    except InputError as exc:
        print(f"lotteryproofs {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of stdout went away (`… | head`): not a user mistake and nothing to say;
        # stdout is pointed at /dev/null so that the flush at exit cannot raise again, and the
        # status is a shell's for a process ended by SIGPIPE (128 + 13), as `yes | head` gives
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        from lotteryproofs.outputs import user_path

        print(f"lotteryproofs {args.command}: error: {exc.strerror or exc}: "
              f"{user_path(exc.filename) if exc.filename else ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lotteryproofs {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
