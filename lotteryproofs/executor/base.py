"""The executor protocol: a pair of functions, in the manner of optax's (init, update)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: What ``collect`` yields per finished block: its position in the submitted tasks, its result
#: (None on failure) and the exception it raised (None on success; a lost worker shows up as
#: the engine's own exception, e.g. ``BrokenProcessPool`` or Dask's ``KilledWorker``).
Outcome = tuple[int, Any, BaseException | None]


@dataclass(frozen=True)
class Executor:
    """Where blocks run.

    ``submit(fn, tasks) -> batch`` starts ``fn(task)`` for every task (``fn`` a module-level
    function and the tasks picklable when the executor uses other processes);
    ``collect(batch)`` yields one :data:`Outcome` per task, in completion order, and cancels
    what is still pending when it is closed early. Order, checkpoints and retries are the
    driver's (:func:`lotteryproofs.executor.run_blocks`), so every executor stays this small.
    """

    name: str
    workers: int
    submit: Callable[[Callable, Sequence], Any]
    collect: Callable[[Any], Iterator[Outcome]]


class BlockFailed(RuntimeError):
    """A block still failed after the allowed retries (the last error is the ``__cause__``)."""
