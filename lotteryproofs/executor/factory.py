"""Choosing an executor: the command line's ``--workers``, ``--scheduler``, ``--address``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lotteryproofs import _validate
from lotteryproofs.executor.base import Executor

#: ``local``: this machine (1 worker in-process, N > 1 local processes); ``dask``: Dask.
SCHEDULERS = ("local", "dask")


@contextlib.contextmanager
def open_executor(workers: int = 1, scheduler: str = "local", address: str | None = None
                  ) -> Iterator[Executor]:
    """The executor for ``workers`` and ``scheduler``, closed (pool or cluster shut down) at
    the end of the ``with`` block. Pools and local clusters start at the first submit, so a
    run that fails its input checks starts nothing."""
    workers = _validate.positive_int("workers", workers)
    if scheduler not in SCHEDULERS:
        raise _validate.InputError(
            f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
    if address is not None and scheduler != "dask":
        raise _validate.InputError("--address needs --scheduler dask")
    if scheduler == "dask":
        from lotteryproofs.executor.cluster import dask_executor

        with dask_executor(workers, address) as executor:
            yield executor
    elif workers == 1:
        from lotteryproofs.executor.local import in_process

        yield in_process()
    else:
        from lotteryproofs.executor.local import local_processes

        with local_processes(workers) as executor:
            yield executor


def executor_or_default(executor: Executor | None, workers: int):
    """A context yielding ``executor`` as it is (its owner closes it), or a new local one."""
    if executor is not None:
        return contextlib.nullcontext(executor)
    return open_executor(workers)
