"""The executor layer on one constants cell: 1 worker vs 2 local processes vs a 2-worker
LocalCluster, in one run.

For each block size, the same cell (``estimate_constants``; default: law product, ε' = 1e-2,
δ = 0.05, 10⁵ trials, seed 0) runs on each executor after a warm-up that starts the pool or
cluster and loads the compiled code in every worker (startup is reported on its own). The
results must be identical (checked). Reported per executor: wall time, CPU time of this
process and its children (the workers; read after the pool or cluster is closed), speed-up
over one worker, and two per-block overheads:

- *round trip*: wall time per no-op block (submit, run, collect), ``--noop`` blocks;
- *in the cell*: (workers × wall − wall on 1 worker) / (block, n) steps — the worker time per
  step not spent solving, barriers between rounds of n included.

Each block's CPU time in its worker (``time.thread_time``) is recorded too: it does not depend
on the load, so the sum shows whether the work itself stayed the same across executors.

The *hardware ceiling* is measured beside them, with no executor at all: the same fixed steps
run in one spawned process alone, then in ``workers`` spawned processes at once (each the same
steps). ``workers × wall alone / wall together`` is the most any executor can reach on this
machine for this work; the CPU time per process shows how much slower the work itself gets
when the cores are busy together (shared caches, memory bandwidth, a host's sibling threads).

    python benchmarks/bench_executor.py                  # 10⁵ trials, blocks of 250 and 2500
    python benchmarks/bench_executor.py --quick          # 10⁴ trials, blocks of 250: a check
    python benchmarks/bench_executor.py --block-trials 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _noop(task):
    return {"task": task}


def _timed_call(fn, task):
    """``fn(task)`` and the CPU seconds it took in the worker (load-independent block cost)."""
    start = time.thread_time()
    value = fn(task)
    return value, time.thread_time() - start


def _instrumented(executor, block_cpu: list):
    """The same executor, recording every block's CPU time in its worker (the protocol is a
    pair of functions, so wrapping them is all it takes)."""
    from functools import partial

    from lotteryproofs.executor import Executor

    def submit(fn, tasks):
        return executor.submit(partial(_timed_call, fn), tasks)

    def collect(batch):
        for position, value, error in executor.collect(batch):
            if error is None:
                value, cpu = value
                block_cpu.append(cpu)
            yield position, value, error

    return Executor(executor.name, executor.workers, submit, collect)


def _ceiling_steps(args, block_trials: int, count: int) -> float:
    """Thread CPU seconds of ``count`` blocks × every n of the cell's scan, in this process."""
    import math

    import numpy as np

    from lotteryproofs import constants
    from lotteryproofs.laws import get_law

    law = get_law(args.law)
    n_min = max(1, math.ceil(constants.counting_limit(args.eps, (-1.0, 1.0))
                             / float(law.usable_per_candidate)))
    entropy, start = constants._entropy(args.seed), time.thread_time()
    for block in range(count):
        for n in range(n_min, n_min + 15):
            constants._solve_block((law.name, args.eps, (-1.0, 1.0), entropy, block, block_trials,
                                    n, np.ones(block_trials, bool), np.ones(block_trials, bool)))
    return time.thread_time() - start


def _ceiling_worker(args, block_trials, count, ready, go, results):
    _ceiling_steps(args, block_trials, 1)  # compiled code loaded before the clock starts
    ready.put(None)
    go.wait()
    start = time.perf_counter()
    cpu = _ceiling_steps(args, block_trials, count)
    results.put((cpu, time.perf_counter() - start))


def ceiling(args, block_trials: int, count: int = 20) -> dict:
    """The same steps in 1 process alone, then in ``args.workers`` processes at once."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    out = {}
    for processes in (1, args.workers):
        ready, results, go = context.Queue(), context.Queue(), context.Event()
        workers = [context.Process(target=_ceiling_worker,
                                   args=(args, block_trials, count, ready, go, results))
                   for _ in range(processes)]
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get()
        start = time.perf_counter()
        go.set()
        runs = [results.get() for _ in workers]
        wall = time.perf_counter() - start
        for worker in workers:
            worker.join()
        out[processes] = {"wall_s": wall, "cpu_s_per_process": [r[0] for r in runs]}
    alone, together = out[1], out[args.workers]
    row = {"block_trials": block_trials, "steps_per_process": count * 15,
           "alone_wall_s": alone["wall_s"], "alone_cpu_s": alone["cpu_s_per_process"][0],
           "together_wall_s": together["wall_s"],
           "together_cpu_s_per_process": together["cpu_s_per_process"],
           "cpu_inflation": (sum(together["cpu_s_per_process"]) / args.workers)
           / alone["cpu_s_per_process"][0],
           "ceiling": args.workers * alone["wall_s"] / together["wall_s"]}
    print(f"  hardware ceiling ({count * 15} steps per process, no executor): alone "
          f"{row['alone_wall_s']:.1f} s, {args.workers} at once {row['together_wall_s']:.1f} s; "
          f"CPU per process ×{row['cpu_inflation']:.2f}; ceiling {row['ceiling']:.2f}×",
          flush=True)
    return row


def _executors(workers: int):
    return [("1 worker (in-process)", {"workers": 1}),
            (f"{workers} local processes", {"workers": workers}),
            (f"{workers}-worker LocalCluster", {"workers": workers, "scheduler": "dask"})]


def measure(args, block_trials: int) -> list[dict]:
    from lotteryproofs.constants import estimate_constants
    from lotteryproofs.executor import open_executor, run_blocks

    cell = {"law": args.law, "eps": args.eps, "delta": args.delta, "trials": args.trials,
            "seed": args.seed, "block_trials": block_trials}
    rows, reference = [], None
    for name, options in _executors(args.workers):
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        block_cpu: list[float] = []
        with open_executor(**options) as executor:
            # start the pool / cluster and load the compiled code in every worker
            estimate_constants(args.law, args.eps, args.delta, trials=2 * args.workers * 50,
                               seed=1, executor=executor, block_trials=50)
            startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            run_blocks(_noop, list(range(args.noop)), executor=executor)
            noop = (time.perf_counter() - t1) / args.noop
            t2 = time.perf_counter()
            estimate = estimate_constants(
                args.law, args.eps, args.delta, trials=args.trials, seed=args.seed,
                executor=_instrumented(executor, block_cpu), block_trials=block_trials)
            wall = time.perf_counter() - t2
        cpu = _cpu_seconds() - cpu0
        if reference is None:
            reference = estimate
        rows.append({**cell, "executor": name, "workers": executor.workers,
                     "startup_s": startup, "noop_block_ms": 1e3 * noop, "wall_s": wall,
                     "cpu_s_incl_startup": cpu, "n_required": estimate.n_required,
                     "rows": len(estimate.rows), "steps": len(block_cpu),
                     "block_cpu_s": sum(block_cpu),
                     "identical_to_1_worker": estimate == reference})
        print(f"  {name}: {wall:.1f} s wall, {sum(block_cpu):.1f} s CPU in {len(block_cpu)} "
              f"blocks (startup {startup:.1f} s, no-op block {1e3 * noop:.2f} ms)", flush=True)
    base = rows[0]["wall_s"]
    for row in rows:
        row["speed_up"] = base / row["wall_s"]
        row["overhead_per_step_ms"] = (1e3 * (row["workers"] * row["wall_s"] - base)
                                       / row["steps"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10⁴ trials, blocks of 250")
    parser.add_argument("--law", default="product")
    parser.add_argument("--eps", type=float, default=1e-2)
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--block-trials", type=int, nargs="+", default=None)
    parser.add_argument("--noop", type=int, default=None, help="no-op blocks timed")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    args.trials = args.trials or (10_000 if args.quick else 100_000)
    args.noop = args.noop or (100 if args.quick else 500)
    sizes = args.block_trials or ([250] if args.quick else [250, 2500])

    import dask
    import numpy

    load = os.getloadavg()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, numpy {numpy.__version__}, dask {dask.__version__}; "
          f"load average {load[0]:.2f} at start")
    rows, ceilings = [], []
    for size in sizes:
        print(f"block size {size} trials:", flush=True)
        ceilings.append(ceiling(args, size, count=4 if args.quick else 20))
        rows += measure(args, size)
    end_load = os.getloadavg()[0]
    print(f"\n{args.law}, eps={args.eps:g}, delta={args.delta:g}, {args.trials} trials, seed "
          f"{args.seed}; load average {load[0]:.2f} at start, {end_load:.2f} at end\n")
    print("| block size | executor | steps | wall s | CPU s in blocks | CPU s all processes "
          "(incl. startup) | startup s | speed-up | no-op block ms | overhead per step ms | "
          "identical |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['block_trials']} | {r['executor']} | {r['steps']} | {r['wall_s']:.1f} | "
              f"{r['block_cpu_s']:.1f} | {r['cpu_s_incl_startup']:.1f} | {r['startup_s']:.1f} | "
              f"{r['speed_up']:.2f}× | {r['noop_block_ms']:.2f} | "
              f"{r['overhead_per_step_ms']:.2f} | {r['identical_to_1_worker']} |")
    print("\n| block size | steps per process | alone s | together s | CPU per process "
          "together / alone | hardware ceiling |")
    print("|---|---|---|---|---|---|")
    for c in ceilings:
        print(f"| {c['block_trials']} | {c['steps_per_process']} | {c['alone_wall_s']:.1f} | "
              f"{c['together_wall_s']:.1f} | ×{c['cpu_inflation']:.2f} | {c['ceiling']:.2f}× |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"load_start": load[0], "load_end": end_load, "rows": rows,
                       "ceilings": ceilings}, handle, indent=2)


if __name__ == "__main__":
    main()
