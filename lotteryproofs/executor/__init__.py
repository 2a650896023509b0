"""Where Monte Carlo and grid work runs: independent blocks on one machine or a Dask cluster,
with checkpoints and resume (DESIGN.md, "constants.py, stats.py").

A computation is a list of **blocks**: ``fn(task)`` for each task, every task carrying its own
``SeedSequence`` child, so that a block's result does not depend on where, when or in which
order it runs. :func:`run_blocks` returns the results in block order, whatever the executor,
the number of workers and the completion order, so the caller's output is byte-identical.

- :class:`Executor` — the protocol, a pair of functions: ``submit(fn, tasks)`` starts the
  blocks, ``collect(batch)`` yields ``(position, result, error)`` as blocks finish.
- :func:`open_executor` — in-process (1 worker), local processes (N workers, the default) or
  Dask (``scheduler="dask"``: a loopback ``LocalCluster``, or an existing cluster's address).
- :func:`open_checkpoint` — a folder with a manifest (parameters, versions, a hash) and one
  atomically written ``.npz`` / ``.json`` file per finished block; never pickle.
- :func:`run_blocks` — the driver: skips checkpointed blocks, retries failed ones a bounded
  number of times (a lost worker included), then raises :class:`BlockFailed`.

See docs/cluster.md for running on a real cluster.
"""

from __future__ import annotations

from lotteryproofs.executor.base import BlockFailed, Executor
from lotteryproofs.executor.checkpoint import Checkpoint, open_checkpoint
from lotteryproofs.executor.driver import DEFAULT_RETRIES, run_blocks
from lotteryproofs.executor.factory import SCHEDULERS, executor_or_default, open_executor

__all__ = [
    "DEFAULT_RETRIES",
    "SCHEDULERS",
    "BlockFailed",
    "Checkpoint",
    "Executor",
    "executor_or_default",
    "open_checkpoint",
    "open_executor",
    "run_blocks",
]
