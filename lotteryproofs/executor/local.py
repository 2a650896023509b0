"""Executors on this machine: in the calling process, or in a pool of local processes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lotteryproofs._worker_env import init_worker
from lotteryproofs.executor.base import Executor


def in_process() -> Executor:
    """Blocks run one after the other in the calling process, when collected."""

    def submit(fn, tasks):
        return fn, list(tasks)

    def collect(batch) -> Iterator:
        fn, tasks = batch
        for position, task in enumerate(tasks):
            try:
                value = fn(task)
            except Exception as exc:  # the driver decides: retry, re-raise or report
                yield position, None, exc
            else:
                yield position, value, None

    return Executor("in-process", 1, submit, collect)


@contextlib.contextmanager
def local_processes(workers: int) -> Iterator[Executor]:
    """A pool of ``workers`` spawned processes, started at the first submit.

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` for good: every
    pending block then fails with ``BrokenProcessPool``, which the driver retries, and the next
    submit starts a fresh pool. Spawned, not forked: the parent may hold numba's and BLAS's
    threads, which a fork would copy in an undefined state.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    state: dict = {"pool": None}

    def pool() -> ProcessPoolExecutor:
        if state["pool"] is None:
            state["pool"] = ProcessPoolExecutor(
                max_workers=workers, initializer=init_worker,
                mp_context=multiprocessing.get_context("spawn"))
        return state["pool"]

    def discard() -> None:
        broken, state["pool"] = state["pool"], None
        if broken is not None:
            broken.shutdown(wait=True, cancel_futures=True)

    def submit(fn, tasks):
        try:
            return [pool().submit(fn, task) for task in tasks]
        except BrokenProcessPool:  # broken by a worker lost in the previous batch
            discard()
            return [pool().submit(fn, task) for task in tasks]

    def collect(futures) -> Iterator:
        position = {future: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                try:
                    value = future.result()
                except Exception as exc:
                    yield position[future], None, exc
                else:
                    yield position[future], value, None
        finally:
            for future in futures:
                future.cancel()

    try:
        yield Executor(f"{workers} local processes", workers, submit, collect)
    finally:
        discard()
