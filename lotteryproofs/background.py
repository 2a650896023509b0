"""Independent work in a thread beside the caller's: one :class:`Background` per piece of work.

A piece of work whose inputs are fixed when it starts and whose result the caller needs only
later (a source's sha256 while the construction solves its subset sums, the observed-error
search while the rigorous bounds are computed, the sampled error beside the certificate)
runs in a daemon thread; :meth:`Background.result` joins it and returns its value, or
re-raises in the caller the exception it raised (traceback kept), so an error is never lost
or silently turned into a missing value.

The overlap is real where the work spends its time outside the GIL: numpy's ufuncs, BLAS,
hashlib on large buffers and the ``nogil`` numba kernels release it. Nothing else is shared:
each piece of work must read only values no other thread writes, and draw its randomness
from its own generator, so that its result is the sequential one, bit for bit
(tests/test_overlap.py). One process-wide setting does leak between threads:
``threadpoolctl.threadpool_limits`` (the observed search's single BLAS thread) applies to
the whole process while it is active, so the caller's BLAS calls then run on one thread too:
a different split of the cores, and values that must not depend on it (the tests compare the
certificate and the files, byte for byte, with the sequential path and with the BLAS and numba
thread counts changed).

``sequential()`` (a context), or ``LOTTERYPROOFS_SEQUENTIAL=1`` in the environment, makes
every :class:`Background` started meanwhile, in any thread of the process, run at once in the
thread that starts it: the reference path the tests compare with, and a switch for
debugging.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

#: How many ``sequential()`` contexts are open (process-wide: the CLI runs its command in a
#: worker thread, which must see the switch too).
_SEQUENTIAL = [0]
_LOCK = threading.Lock()


def _sequential() -> bool:
    return _SEQUENTIAL[0] > 0 or os.environ.get("LOTTERYPROOFS_SEQUENTIAL") == "1"


@contextlib.contextmanager
def sequential():
    """Inside: every :class:`Background` started (by any thread) runs at once, in its
    starter's thread."""
    with _LOCK:
        _SEQUENTIAL[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _SEQUENTIAL[0] -= 1


class Background:
    """``fn(*args, **kwargs)`` started in a daemon thread at construction; :meth:`result` waits
    for it and returns its value or re-raises its exception (every call)."""

    def __init__(self, fn: Callable[..., Any], *args, name: str | None = None, **kwargs):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if _sequential():
            self._run(fn, args, kwargs)
            return
        name = name or f"background-{getattr(fn, '__name__', 'work')}"
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def done(self) -> bool:
        """Whether the work has finished (result() would not wait)."""
        return self._thread is None or not self._thread.is_alive()

    def result(self) -> Any:
        """The work's value, once it has finished; its exception re-raised here if it raised."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
