"""The Dask executor: a loopback ``LocalCluster`` of worker processes, or an existing cluster.

Dask (``dask.distributed``) is an optional dependency, the extra ``cluster``. A worker lost
mid-block is Dask's to handle first: its nanny restarts the process and the scheduler reruns
the block elsewhere (up to ``distributed.scheduler.allowed-failures`` times, then the block
fails with ``KilledWorker`` and the driver's own retries take over).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

from lotteryproofs._validate import InputError
from lotteryproofs._worker_env import WORKER_ENVIRONMENT
from lotteryproofs.executor.base import Executor

INSTALL_HINT = "pip install 'lotteryproofs[cluster]'"
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):\d{1,5}$")
#: Seconds to wait for an existing scheduler before giving up with a one-line error.
CONNECT_TIMEOUT = 15


def require_distributed():
    """The ``distributed`` module, or a one-line :class:`InputError` naming the extra."""
    try:
        import distributed
    except ImportError:
        raise InputError(f"--scheduler dask needs Dask's distributed scheduler, the extra "
                         f"'cluster': {INSTALL_HINT}") from None
    return distributed


def check_address(address: str) -> str:
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise InputError(f"--address must look like tcp://HOST:PORT, got {address!r}")
    return address


def _versions() -> tuple[str, str]:
    """(lotteryproofs, numpy) versions where this runs: a worker's must equal ours, else the
    same seed could give other bytes."""
    import numpy

    from lotteryproofs._version import __version__

    return __version__, numpy.__version__


def _connect(distributed, address: str):
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        seen = client.run(_versions)
    except Exception as exc:
        client.close()
        raise InputError(f"the Dask workers at {address} cannot run lotteryproofs "
                         f"({type(exc).__name__}: {exc}); install it there") from None
    ours = _versions()
    other = {w: v for w, v in seen.items() if tuple(v) != ours}
    if other:
        client.close()
        worker, (lp, np_) = next(iter(other.items()))
        raise InputError(f"Dask worker {worker} runs lotteryproofs {lp} / numpy {np_}, this "
                         f"process {ours[0]} / {ours[1]}: the same seed could give other bytes")
    if not seen:
        client.close()
        raise InputError(f"the Dask scheduler at {address} has no workers")
    return client


def _local_cluster(distributed, workers: int):
    """Loopback only, one thread per worker process, no dashboard, no log lines (a failing
    or lost block is reported by the driver, in one line).

    ``dashboard_address=None`` would still bind the scheduler's HTTP server (health and
    metrics routes) to the fixed port 8787, which clashes with any other cluster on the
    machine; a free loopback port with the dashboard switched off does not.
    """
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
        env=dict(WORKER_ENVIRONMENT), silence_logs=logging.CRITICAL)


@contextlib.contextmanager
def dask_executor(workers: int, address: str | None = None) -> Iterator[Executor]:
    """Blocks on Dask workers: a ``LocalCluster`` of ``workers`` processes started at the first
    submit (closed at the end), or the existing cluster at ``address`` (connected now, so a
    wrong address fails before any work; its own worker count)."""
    distributed = require_distributed()
    state: dict = {}
    if address is not None:
        state["client"] = _connect(distributed, check_address(address))
        workers = len(state["client"].scheduler_info(n_workers=-1)["workers"])

    def client():
        if "client" not in state:
            state["cluster"] = _local_cluster(distributed, workers)
            state["client"] = distributed.Client(state["cluster"], set_as_default=False)
        return state["client"]

    def submit(fn, tasks):
        return client().map(fn, list(tasks), pure=False)

    def collect(futures) -> Iterator:
        position = {future.key: i for i, future in enumerate(futures)}
        # with_results: the event loop fetches results as blocks finish, not one synchronous
        # round trip per block from this thread
        finished = distributed.as_completed(futures, loop=client().loop, with_results=True,
                                            raise_errors=False)
        try:
            for future, value in finished:
                if future.status == "finished":
                    yield position[future.key], value, None
                else:  # the block raised (its own exception, or KilledWorker), or cancelled
                    try:
                        error = future.exception()
                    except Exception as exc:  # CancelledError and the like
                        error = exc
                    if not isinstance(error, BaseException):
                        error = RuntimeError(f"block {future.status}")
                    yield position[future.key], None, error
                future.release()
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                client().cancel(pending)

    where = address or f"a LocalCluster of {workers} workers"
    try:
        yield Executor(f"Dask ({where})", workers, submit, collect)
    finally:
        if "client" in state:
            state["client"].close()
        if "cluster" in state:
            state["cluster"].close()
