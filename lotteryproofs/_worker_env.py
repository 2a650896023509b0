"""The environment of a worker process (only the standard library here, so that it runs early).

The parallelism is the processes': the compiled (numba) and BLAS layers get one thread each,
which avoids oversubscribing the cores. Both read these variables when first loaded; a spawned
worker, though, re-imports the parent's ``__main__`` before the pool's initializer runs, which
may already have loaded numpy (and its BLAS) or numba, so those are limited at run time too.
"""

import os
import sys

WORKER_ENVIRONMENT = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _exit_with_parent() -> None:
    """End this worker when the process that started it dies (SIGKILL, a crash): a pool's
    worker would otherwise wait for tasks forever, holding its memory."""
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch():
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def init_worker() -> None:
    """Process-pool initializer: one thread per layer unless the user's environment says
    otherwise; the worker ends with its parent."""
    _exit_with_parent()
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if "numpy" in sys.modules and os.environ["OPENBLAS_NUM_THREADS"] == "1":
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional (extra 'train'); then BLAS keeps its own count
            pass
        else:
            threadpool_limits(1, user_api="blas")
    if "numba" in sys.modules and os.environ["NUMBA_NUM_THREADS"] == "1":
        sys.modules["numba"].set_num_threads(1)
