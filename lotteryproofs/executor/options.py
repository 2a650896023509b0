"""The executor's command-line options, shared by ``constants`` and ``popup-grid``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from lotteryproofs.executor.base import BlockFailed, Executor
from lotteryproofs.executor.factory import SCHEDULERS, open_executor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``, ``--address`` and ``--checkpoint`` (the command keeps its ``--workers``)."""
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="local",
                        help="where blocks run: local (--workers 1: in this process, N: local "
                             "processes) or dask (a loopback LocalCluster of --workers "
                             "processes, or the cluster at --address; extra 'cluster'); "
                             "results do not depend on it (docs/cluster.md; default: "
                             "%(default)s)")
    parser.add_argument("--address", metavar="tcp://HOST:PORT", default=None,
                        help="with --scheduler dask: an existing Dask scheduler (its workers "
                             "replace --workers)")
    parser.add_argument("--checkpoint", metavar="DIR", default=None,
                        help="keep every finished block in DIR; the same command run again "
                             "resumes from it and gives the same bytes")


@contextlib.contextmanager
def executor_from_args(args) -> Iterator[Executor]:
    """The executor the options ask for (``--workers`` default: every core), closed at the end.

    A block that keeps failing after its retries is reported in one line on stderr and ends
    the command with exit status 1 (not the user's mistake, so not the status 2 of bad input).
    """
    workers = _cores() if args.workers is None else args.workers
    with open_executor(workers, args.scheduler, args.address) as executor:
        try:
            yield executor
        except BlockFailed as exc:
            print(f"lotteryproofs {getattr(args, 'command', '')}: error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None


def _cores() -> int:
    import os

    return os.cpu_count() or 1
