"""The driver: every block once, results in block order, checkpoints, bounded retries."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from lotteryproofs._validate import InputError
from lotteryproofs.executor.base import BlockFailed, Executor
from lotteryproofs.executor.checkpoint import Checkpoint

#: Extra attempts of a failed block (an exception, or its worker lost) before giving up.
DEFAULT_RETRIES = 2
_MISSING = object()


class _Report:
    """Progress of one call: a tqdm bar on a terminal (blocks done / total, ETA), else one
    line per finished block on stderr; nothing without a label."""

    def __init__(self, label: str | None, total: int, resumed: int):
        self.label, self.total, self.done = label, total, resumed
        self.start = time.perf_counter()
        self.bar = None
        if label is None:
            return
        if sys.stderr.isatty():
            from lotteryproofs.progress import progress

            self.bar = progress(total=total, desc=label, enabled=True)
            self.bar.update(resumed)
        elif resumed:
            print(f"{label}: {resumed}/{total} blocks from the checkpoint", file=sys.stderr,
                  flush=True)

    def block_done(self, key: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.label is not None:
            print(f"{self.label}: block {key} done ({self.done}/{self.total}, "
                  f"{time.perf_counter() - self.start:.1f} s)", file=sys.stderr, flush=True)

    def retry(self, key: str, attempt: int, error: BaseException) -> None:
        if self.label is not None:
            message = f"{self.label}: block {key} failed ({_describe(error)}); retry {attempt}"
            if self.bar is not None:
                self.bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def run_blocks(fn: Callable, tasks: Sequence, *, executor: Executor | None = None,
               keys: Sequence[str] | None = None, checkpoint: Checkpoint | None = None,
               retries: int = DEFAULT_RETRIES, label: str | None = None) -> list:
    """``[fn(task) for task in tasks]``, computed by ``executor`` (default: in this process).

    Blocks already in ``checkpoint`` (by their ``keys``, default ``"00000"``, ``"00001"``, …)
    are read back instead of run; every other block is saved there as soon as it finishes, so
    an interrupted call repeated with the same checkpoint ends with the same list. A block that
    raises (or whose worker is lost) is run again, at most ``retries`` more times, then
    :class:`BlockFailed` is raised naming it. An :class:`InputError` from a block is a user
    mistake that a retry cannot fix: it is raised at once.
    """
    from lotteryproofs.executor.local import in_process

    executor = executor or in_process()
    tasks = list(tasks)
    keys = [f"{i:05d}" for i in range(len(tasks))] if keys is None else list(keys)
    if len(keys) != len(tasks) or len(set(keys)) != len(keys):
        raise ValueError("keys must be distinct, one per task")
    results = [_MISSING] * len(tasks)
    if checkpoint is not None:
        for i, key in enumerate(keys):
            saved = checkpoint.load(key)
            if saved is not None:
                results[i] = saved
    todo = [i for i, r in enumerate(results) if r is _MISSING]
    report = _Report(label, len(tasks), len(tasks) - len(todo))
    failures = {i: 0 for i in todo}
    try:
        while todo:
            failed: list[int] = []
            batch = executor.submit(fn, [tasks[i] for i in todo])
            for position, value, error in executor.collect(batch):
                i = todo[position]
                if error is None:
                    if checkpoint is not None:
                        checkpoint.save(keys[i], value)
                    results[i] = value
                    report.block_done(keys[i])
                    continue
                if isinstance(error, InputError):
                    raise error
                failures[i] += 1
                if failures[i] > retries:
                    where = f"{label}: " if label else ""
                    raise BlockFailed(
                        f"{where}block {keys[i]} failed {failures[i]} times on "
                        f"{executor.name} (last: {_describe(error)})") from error
                report.retry(keys[i], failures[i], error)
                failed.append(i)
            todo = sorted(failed)
    finally:
        report.close()
    return results
