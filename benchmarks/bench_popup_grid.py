"""The edge-popup grid before and after batching, in one process, with the identity of results.

Before: every run trained alone by the reference loop as it was on main before batching
(``git show d957fce:lotteryproofs/popup.py``, loaded as its own module — its top-k by
argpartition, its numpy Adam). After: the runs of each (dataset, seed) in blocks of
experiments.BLOCK_MEMBERS through popup_batch (experiments._run_tasks). Both on the same part
of ``experiments.default_grid`` (default: all of it — every dataset, source, density, option
and seed), each run's masks hashed: identical results = the same test and train accuracy,
final loss, λ and mask bytes run by run.

Run: ``python benchmarks/bench_popup_grid.py [--sources ...] [--seeds 0 1 ...] [--datasets
digits] [--part I/N] [--json OUT.json]`` (one process, one BLAS thread; the two paths
alternate block by block; a line per block with the running totals; prints wall and CPU time
of both, the ratio and the identity). ``--part I/N`` (I counted from 0, 0 ≤ I < N) takes
every N-th block from the I-th, so N processes (one per core) with I = 0 … N−1 cover the
grid between them; ``--combine A.json B.json ... --json OUT.json`` adds their times and
identities and refuses parts that do not cover the grid exactly once. ``--flops``: the
grid's matrix-product count from its shapes and one BLAS thread's rate on those shapes (the
floor of the grid's time).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
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


def product_flops(widths, rows: int, epochs: int) -> int:
    """Matrix-product flops of one edge-popup run: per sample and epoch, the forward product
    of every layer and, backward, the weight gradient of every layer and the input gradient of
    every layer but the first, each 2·n_in·n_out."""
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    per_sample = 2 * (2 * sum(a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:]))
    return per_sample * rows * epochs


def gemm_rate(widths, members: int, batch: int, repeats: int) -> float:
    """FLOP/s of one BLAS thread on the trainer's three product shapes for these widths
    (popup_batch: (S, B, n_in) @ (S, n_in, n_out), its transpose for the weight gradient, and
    the input gradient), float64, measured together as the trainer calls them. CPU time of
    this thread (time.thread_time), so other jobs' time slices on a shared machine are not
    counted (their cache and memory traffic still are)."""
    rng = np.random.default_rng(0)
    flops, seconds = 0, 0.0
    with single_blas_thread():
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            h = rng.standard_normal((members, batch, a))
            w = rng.standard_normal((members, a, b))
            g = rng.standard_normal((members, batch, b))
            for _ in range(2):  # warm caches
                np.matmul(h, w)
            start = time.thread_time()
            for _ in range(repeats):
                np.matmul(h, w)  # forward
                np.matmul(g.transpose(0, 2, 1), h)  # weight gradient
                np.matmul(g, w.transpose(0, 2, 1))  # input gradient
            seconds += time.thread_time() - start
            flops += 3 * repeats * members * 2 * batch * a * b
    return flops / seconds


def flops_report() -> dict:
    spec = default_grid(0)
    runs = spec.n_runs // len(spec.datasets)
    total, rates = 0, {}
    for name in spec.datasets:
        dataset = load_dataset(name, split_seed=0)
        widths = (dataset.n_features, *spec.hidden, dataset.n_classes)
        flops = product_flops(widths, dataset.x_train.shape[0], spec.epochs)
        total += runs * flops
        rates[name] = {"widths": list(widths), "train_rows": dataset.x_train.shape[0],
                       "gflop_per_run": flops / 1e9, "runs": runs,
                       "gflops_one_thread": gemm_rate(widths, BLOCK_MEMBERS, 64, 200) / 1e9}
    big = np.random.default_rng(1).standard_normal((1024, 1024))
    with single_blas_thread():
        np.matmul(big, big)
        start = time.thread_time()
        for _ in range(5):
            np.matmul(big, big)
        peak = 5 * 2 * 1024**3 / (time.thread_time() - start)
    cpu_s = sum(r["runs"] * r["gflop_per_run"] / r["gflops_one_thread"] for r in rates.values())
    return {"datasets": rates, "grid_gflop": total / 1e9, "product_cpu_seconds": cpu_s,
            "floor_wall_seconds_two_cores": cpu_s / 2,
            "gflops_one_thread_1024_gemm": peak / 1e9,
            "load_average": os.getloadavg()[0]}


def combine(paths) -> dict:
    parts = [json.loads(Path(p).read_text()) for p in paths]
    names = sorted(p["part"] for p in parts)
    counts = {int(name.split("/")[1]) for name in names}
    if len(counts) != 1 or names != sorted(f"{i}/{len(names)}" for i in range(len(names))):
        raise SystemExit(f"--combine: the parts {names} do not cover the grid exactly once "
                         "(want 0/N … N−1/N)")
    if sum(p["runs"] for p in parts) != parts[0]["grid_runs"]:
        raise SystemExit(f"--combine: {sum(p['runs'] for p in parts)} runs in the parts, "
                         f"{parts[0]['grid_runs']} in the grid")
    out = {"parts": [p["part"] for p in parts], "runs": sum(p["runs"] for p in parts),
           "identical": sum(p["identical"] for p in parts),
           "differs": [d for p in parts for d in p["differs"]]}
    for path in ("before", "after"):
        out[path] = {k: sum(p[path][k] for p in parts) for k in ("wall", "cpu")}
        # the parts ran side by side, one per core: the grid's wall is the longest part's
        out[path]["wall_longest_part"] = max(p[path]["wall"] for p in parts)
    out["cpu_ratio"] = out["before"]["cpu"] / out["after"]["cpu"]
    out["wall_ratio"] = out["before"]["wall"] / out["after"]["wall"]
    return out


def parse_part(text: str) -> tuple[int, int]:
    """``I/N`` → (I, N) with 0 ≤ I < N (a 1-based "2/2" would silently skip block 0)."""
    try:
        part, parts = map(int, text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--part wants I/N with integers, got {text!r}") from None
    if not 0 <= part < parts:
        raise argparse.ArgumentTypeError(
            f"--part {text}: I counts from 0 and must satisfy 0 <= I < N (e.g. 0/2 and 1/2)")
    return part, parts


def main() -> None:
    spec = default_grid(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", nargs="+", default=list(spec.sources))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(spec.seeds)))
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--part", default="0/1", type=parse_part,
                        help="I/N, 0 <= I < N: every N-th block from the I-th")
    parser.add_argument("--json", default=None)
    parser.add_argument("--combine", nargs="+", default=None)
    parser.add_argument("--flops", action="store_true")
    args = parser.parse_args()
    if args.flops or args.combine:
        out = flops_report() if args.flops else combine(args.combine)
        print(json.dumps(out, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        return
    part, parts = args.part
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
    blocks = grid_blocks(tasks, BLOCK_MEMBERS)[part::parts]
    mine = [i for block in blocks for i in block]
    for j, block in enumerate(blocks):
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
        print(f"block {j + 1}/{len(blocks)} ({tasks[block[0]].dataset}, seed "
              f"{tasks[block[0]].seed}): before {times['before'][0]:.1f} s / "
              f"{times['before'][1]:.1f} CPU-s, after {times['after'][0]:.1f} s / "
              f"{times['after'][1]:.1f} CPU-s, identical so far "
              f"{sum(before[i] == after[i] for b in blocks[:j + 1] for i in b)}", flush=True)
    before, after = [before[i] for i in mine], [after[i] for i in mine]
    all_tasks, tasks = tasks, [tasks[i] for i in mine]
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
    differs = []
    for task, b, a in zip(tasks, before, after, strict=True):
        if a != b:
            print("DIFFERS", task.dataset, task.source, task.density, task.option, b, a)
            differs.append([task.dataset, task.source, task.density, task.option, task.seed])
    if args.json:
        Path(args.json).write_text(json.dumps({
            "part": f"{part}/{parts}", "blocks": len(grid_blocks(all_tasks, BLOCK_MEMBERS)),
            "grid_runs": len(all_tasks), "runs": len(tasks), "identical": sum(same),
            "differs": differs,
            "before": {"wall": before_wall, "cpu": before_cpu, "code": BASELINE_COMMIT},
            "after": {"wall": after_wall, "cpu": after_cpu, "block_members": BLOCK_MEMBERS},
            "load_average_at_end": os.getloadavg()[0], "python": sys.version.split()[0],
            "numpy": np.__version__}, indent=1) + "\n")


if __name__ == "__main__":
    main()
