"""What the commands that read a target say about it before they work on it."""

from __future__ import annotations

import sys


def add_activation_argument(parser) -> None:
    """``--activation NAME``: σ between the linear layers of a target file that declares none
    (then recorded as an assumption instead of "assuming ReLU"; refused if the file declares
    another)."""
    parser.add_argument(
        "--activation", metavar="NAME", default=None,
        help="activation of a target file that declares none (relu, tanh, sigmoid, gelu, …; "
             "default: ReLU, said in a note)")


def announce(command: str, info) -> None:
    """The assumptions as ``note:`` lines on stderr, then the input box line on stdout.

    ``info`` is the target's :class:`lotteryproofs.target_info.TargetInfo`; the notes go to
    stderr so that stdout stays the command's result.
    """
    for line in info.notes:
        print(f"lotteryproofs {command}: note: {line}", file=sys.stderr)
    print(info.box_line(), flush=True)
