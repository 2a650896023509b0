"""The edge-popup grid before and after batching, in one process, with the identity of results.

Before: every run trained alone by the reference loop as it was on main before batching
(``git show d957fce:lotteryproofs/popup.py``, loaded as its own module — its top-k by
argpartition, its numpy Adam). After: the runs of each (dataset, seed) in blocks of
experiments.BLOCK_MEMBERS through popup_batch (experiments._run_tasks). Both on the same slice
of ``experiments.default_grid`` (every dataset, density and option; the sources and seeds given),
each run's masks hashed: identical results = the same test and train accuracy, final loss, λ
and mask bytes run by run.

Run: ``python benchmarks/bench_popup_grid.py [--sources uniform looks-linear-dependent]
[--seeds 0] [--datasets digits]`` (one process, one BLAS thread; the two paths alternate block
by block; prints wall and CPU time of both, the ratio and the identity).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lotteryproofs.datasets import load_dataset
from lotteryproofs.experiments import (
    BLOCK_MEMBERS,
    OPTIONS,
    _Task,
    _task_streams,
    beta_options,
    default_grid,
    draw_named_source,
    grid_blocks,
)
from lotteryproofs.popup import PopupConfig, accuracy, single_blas_thread
from lotteryproofs.popup_batch import train_popup_batch

BASELINE_COMMIT = "d957fce"
ROOT = Path(__file__).resolve().parents[1]


def baseline_popup():
    """main's popup.py before batching, as a module of its own."""
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:lotteryproofs/popup.py"],
        check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "popup_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("popup_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["popup_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def digest(result) -> str:
    h = hashlib.sha256()
    for m in result.weight_masks + result.bias_masks:
        h.update(np.ascontiguousarray(m).tobytes())
    return h.hexdigest()[:16]


def row(task, source, result, dataset) -> tuple:
    sub = result.subnetwork(source)
    return (accuracy(sub, dataset.x_test, dataset.y_test),
            accuracy(sub, dataset.x_train, dataset.y_train), result.epoch_losses[-1],
            result.output_scale, digest(result))


def prepare(task):
    dataset = load_dataset(task.dataset, split_seed=task.seed)
    widths = (dataset.n_features, *task.spec.hidden, dataset.n_classes)
    source_seq, train_seq = _task_streams(task)
    source = draw_named_source(task.source, widths, rng=source_seq,
                               **beta_options(task.source, task.beta))
    config = PopupConfig(density=task.density, epochs=task.spec.epochs, **OPTIONS[task.option])
    return dataset, source, config, train_seq


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", nargs="+", default=["uniform", "looks-linear-dependent"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--datasets", nargs="+", default=None)
    args = parser.parse_args()
    spec = default_grid(0)
    tasks = [_Task(spec, d, s, density, option, seed) for d in args.datasets or spec.datasets
             for s in args.sources for density in spec.densities for option in spec.options
             for seed in args.seeds]
    old = baseline_popup()
    # warm-up: compile (or load) the numba kernels outside the timing
    dataset, source, config, seq = prepare(tasks[-1])
    train_popup_batch([source], [dataset.x_train[:8]], [dataset.y_train[:8]],
                      [PopupConfig(density=0.5, epochs=1)], rngs=[0])

    # before and after alternate block by block, so a change of load on the shared machine
    # falls on both paths alike
    before, after = [None] * len(tasks), [None] * len(tasks)
    times = {"before": [0.0, 0.0], "after": [0.0, 0.0]}
    for block in grid_blocks(tasks, BLOCK_MEMBERS):
        wall, cpu = time.perf_counter(), time.process_time()
        with single_blas_thread():
            for i in block:
                dataset, source, config, seq = prepare(tasks[i])
                before[i] = row(tasks[i], source, old._train_popup(
                    source, dataset.x_train, dataset.y_train, config, rng=seq), dataset)
        times["before"][0] += time.perf_counter() - wall
        times["before"][1] += time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        prepared = [prepare(tasks[i]) for i in block]
        results = train_popup_batch([p[1] for p in prepared], [p[0].x_train for p in prepared],
                                    [p[0].y_train for p in prepared], [p[2] for p in prepared],
                                    rngs=[p[3] for p in prepared])
        for i, p, result in zip(block, prepared, results, strict=True):
            after[i] = row(tasks[i], p[1], result, p[0])
        times["after"][0] += time.perf_counter() - wall
        times["after"][1] += time.process_time() - cpu
    (before_wall, before_cpu), (after_wall, after_cpu) = times["before"], times["after"]

    same = [a == b for a, b in zip(before, after, strict=True)]
    print(f"| path | runs | wall (s) | CPU (s) |\n|---|---|---|---|\n"
          f"| before ({BASELINE_COMMIT}, one run at a time) | {len(tasks)} | {before_wall:.1f} | "
          f"{before_cpu:.1f} |\n| after (blocks of ≤ {BLOCK_MEMBERS}) | {len(tasks)} | "
          f"{after_wall:.1f} | {after_cpu:.1f} |")
    print(f"CPU ratio {before_cpu / after_cpu:.2f}x, wall ratio {before_wall / after_wall:.2f}x; "
          f"identical runs (accuracies, loss, λ, mask bytes): {sum(same)}/{len(same)}; "
          f"load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}, "
          f"numpy {np.__version__}")
    for task, b, a in zip(tasks, before, after, strict=True):
        if a != b:
            print("DIFFERS", task.dataset, task.source, task.density, task.option, b, a)


if __name__ == "__main__":
    main()
