"""Edge-popup where biases must matter: paired comparisons of nonzero- and zero-bias sources.

The tasks (datasets.BIAS_TASKS) are centred at the origin or shifted off it and never
standardised: concentric circles, concentric spheres in d = 2, 8, 32 (matched directions), shifted
moons, radial regression (matched directions). A zero-bias ReLU network is positively homogeneous,
so on the spheres its accuracy is exactly 1/2 and on the radial task its mean squared error is at
least :func:`lotteryproofs.datasets.homogeneous_mse_floor`
(proofs/popup-zero-bias-sphere-limit.md); the experiment measures whether nonzero-bias sources
(He-uniform, bias scale β) and their tickets get past those limits.

**Pairing.** For seed s and task t, every source sees the same split (the task drawn from seed
s; all runs of a (task, seed) trained together by popup_batch, each byte-identical to its
training alone), the same source stream (keyed by (t, "source"), not by the source: uniform and
uniform-zero-bias then share their weights exactly, only the biases differ) and, per density, the
same training stream (scores and minibatch order). The paired difference
metric(nonzero) − metric(zero-bias) per seed gets a two-sided 95 % Student-t interval over the
seeds (experiments.t_interval). Metric: test accuracy, or test mean squared error (with the
fitted λ) on the regression task, where a negative difference is an improvement.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.experiments import OPTIONS, _key, beta_options, draw_named_source, t_interval
from lotteryproofs.popup import PopupConfig, accuracy, check_density, mean_squared_error
from lotteryproofs.popup_batch import train_popup_batch

#: The zero-bias control every nonzero-bias source is compared with (same weights, see above).
CONTROL = "uniform-zero-bias"


def is_regression(task: str) -> bool:
    return task.startswith("radial")


@dataclass(frozen=True)
class BiasSpec:
    """Tasks × sources ((name, β), β None for a zero-bias source) × densities × seeds."""

    tasks: tuple[str, ...]
    sources: tuple[tuple[str, float | None], ...]
    densities: tuple[float, ...]
    seeds: int
    hidden: tuple[int, ...] = (128, 128)
    epochs: int = 30
    option: str = "scaled"
    root_seed: int = 0

    def __post_init__(self):
        from lotteryproofs.datasets import BIAS_TASKS

        for task in self.tasks:
            if task not in BIAS_TASKS:
                raise _validate.InputError(f"unknown task {task!r}; known: "
                                           f"{', '.join(BIAS_TASKS)}")
        for name, beta in self.sources:
            beta_options(name, beta)
        for d in self.densities:
            check_density(d)
        if self.seeds < 2:
            raise _validate.InputError(f"a 95 % interval needs at least 2 seeds, got {self.seeds}")
        if (CONTROL, None) not in self.sources:
            raise _validate.InputError(f"the sources must include the control {CONTROL!r}")

    @property
    def n_runs(self) -> int:
        return len(self.tasks) * len(self.sources) * len(self.densities) * self.seeds

    def to_json(self) -> dict:
        return {"tasks": list(self.tasks), "sources": [list(s) for s in self.sources],
                "densities": list(self.densities), "seeds": self.seeds,
                "hidden": list(self.hidden), "epochs": self.epochs, "option": self.option,
                "root_seed": self.root_seed}


def default_bias_spec(root_seed: int = 0) -> BiasSpec:
    """The benchmark: 6 tasks × {zero-bias, β = 0.05 (the authors'), β = 1 (He product rule)} ×
    {0.5, 0.2, 0.1, 0.05} × 16 seeds, hidden 128-128, scaled edge-popup, 30 epochs."""
    return BiasSpec(
        tasks=("circles", "spheres-2", "spheres-8", "spheres-32", "moons-shifted", "radial-2"),
        sources=((CONTROL, None), ("uniform", 0.05), ("uniform", 1.0)),
        densities=(0.5, 0.2, 0.1, 0.05), seeds=16, root_seed=root_seed)


def quick_bias_spec(root_seed: int = 0) -> BiasSpec:
    """A CI-sized version (≈ 1–2 s): two tasks, two densities, 3 seeds, 16-16, 5 epochs."""
    return BiasSpec(tasks=("spheres-2", "radial-2"), sources=((CONTROL, None), ("uniform", 1.0)),
                    densities=(0.5, 0.1), seeds=3, hidden=(16, 16), epochs=5,
                    root_seed=root_seed)


@dataclass(frozen=True)
class _Block:
    """All sources and densities of one (task, seed): the task is drawn once."""

    spec: BiasSpec
    task: str
    seed: int


def _run_block(block: _Block) -> list[dict]:
    from lotteryproofs.datasets import BIAS_TASKS, homogeneous_mse_floor

    spec, task = block.spec, block.task
    data = BIAS_TASKS[task](block.seed)
    regression = is_regression(task)
    seed_seq = np.random.SeedSequence(spec.root_seed).spawn(spec.seeds)[block.seed]
    child = lambda *names: np.random.SeedSequence(  # noqa: E731
        seed_seq.entropy, spawn_key=seed_seq.spawn_key + _key(*names))
    widths = (data.n_features, *spec.hidden, 1 if regression else data.n_classes)
    floor = ({"train": homogeneous_mse_floor(data.x_train, data.y_train),
              "test": homogeneous_mse_floor(data.x_test, data.y_test)} if regression else None)
    members = [(name, beta, density) for name, beta in spec.sources for density in spec.densities]
    sources, configs, rngs = [], [], []
    for name, beta, density in members:
        sources.append(draw_named_source(name, widths, rng=child("source", task),
                                         **beta_options(name, beta)))
        configs.append(PopupConfig(density=density, epochs=spec.epochs,
                                   loss="squared-error" if regression else "cross-entropy",
                                   **OPTIONS[spec.option]))
        rngs.append(child("train", task, repr(density)))
    cpu = time.process_time()
    results = train_popup_batch(sources, [data.x_train] * len(members),
                                [data.y_train] * len(members), configs, rngs=rngs)
    cpu = (time.process_time() - cpu) / len(members)
    rows = []
    for (name, beta, density), source, result in zip(members, sources, results, strict=True):
        sub = result.subnetwork(source)
        if regression:
            metric = {part: mean_squared_error(sub, x, y, result.output_scale) for part, x, y
                      in (("train", data.x_train, data.y_train),
                          ("test", data.x_test, data.y_test))}
        else:
            metric = {"train": accuracy(sub, data.x_train, data.y_train),
                      "test": accuracy(sub, data.x_test, data.y_test)}
        rows.append({"task": task, "source": name, "beta": 0.0 if beta is None else beta,
                     "density": density, "seed": block.seed,
                     "metric": "mse" if regression else "accuracy",
                     "train": metric["train"], "test": metric["test"],
                     "zero_bias_floor": floor, "output_scale": result.output_scale,
                     "cpu_seconds": cpu})
    return rows


@dataclass(frozen=True, eq=False)
class BiasResults:
    spec: BiasSpec
    runs: tuple[Mapping, ...]
    cells: tuple[Mapping, ...]
    comparisons: tuple[Mapping, ...]
    limits: tuple[Mapping, ...]
    wall_seconds: float
    extra: Mapping = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"spec": self.spec.to_json(), "wall_seconds": self.wall_seconds,
                "cells": list(self.cells), "comparisons": list(self.comparisons),
                "limits": list(self.limits), "runs": list(self.runs), **self.extra}


def summarise(runs: Sequence[Mapping]) -> tuple[list[dict], list[dict], list[dict]]:
    """Cells (mean test metric, 95 % t-interval per task × source × β × density), paired
    comparisons with the control, and the zero-bias limit checks."""
    by = {(r["task"], r["source"], r["beta"], r["density"], r["seed"]): r for r in runs}
    groups: dict[tuple, list[Mapping]] = {}
    for r in runs:
        groups.setdefault((r["task"], r["source"], r["beta"], r["density"]), []).append(r)
    cells, comparisons = [], []
    for (task, source, beta, density), members in groups.items():
        members = sorted(members, key=lambda r: r["seed"])
        cells.append({"task": task, "source": source, "beta": beta, "density": density,
                      "metric": members[0]["metric"],
                      "test": t_interval([r["test"] for r in members]).to_json(),
                      "train": t_interval([r["train"] for r in members]).to_json()})
        if source == CONTROL:
            continue
        diffs = [r["test"] - by[(task, CONTROL, 0.0, density, r["seed"])]["test"]
                 for r in members]
        comparisons.append({"task": task, "source": source, "beta": beta, "density": density,
                            "metric": members[0]["metric"], "minus": CONTROL,
                            "difference": t_interval(diffs).to_json()})
    limits = []
    for task in sorted({r["task"] for r in runs}):
        zero = [r for r in runs if r["task"] == task and r["source"] == CONTROL]
        if task.startswith("spheres"):
            worst = max(max(r["train"], r["test"]) for r in zero)
            limits.append({"task": task, "limit": "accuracy <= 1/2 (exact)",
                           "zero_bias_max_accuracy": worst, "holds": worst <= 0.5,
                           "runs": len(zero)})
        elif is_regression(task):
            # the floor is exact; 1e-9 relative allows for the rounding of the two sums
            gap = min(min(r["train"] - r["zero_bias_floor"]["train"],
                          r["test"] - r["zero_bias_floor"]["test"]) for r in zero)
            limits.append({"task": task, "limit": "mse >= homogeneous floor (exact)",
                           "zero_bias_min_mse_minus_floor": gap, "holds": gap >= -1e-9,
                           "runs": len(zero)})
    return cells, comparisons, limits


def run_bias_experiment(spec: BiasSpec, *, workers: int | None = None, executor=None,
                        show_progress: bool = False) -> BiasResults:
    """Every (task, seed) block of ``spec`` on ``executor`` (default: ``workers`` local
    processes); the result does not depend on the executor or the number of workers."""
    from lotteryproofs.executor import DEFAULT_RETRIES, executor_or_default, run_blocks

    workers = _validate.positive_int("workers", workers or os.cpu_count() or 1)
    blocks = [_Block(spec, task, seed) for task in spec.tasks for seed in range(spec.seeds)]
    start = time.perf_counter()
    with executor_or_default(executor, workers) as executor:
        out = run_blocks(_run_block, blocks, executor=executor, retries=DEFAULT_RETRIES,
                         label="bias tasks" if show_progress else None)
    wall = time.perf_counter() - start
    runs = [row for rows in out for row in rows]
    cells, comparisons, limits = summarise(runs)
    return BiasResults(spec, tuple(runs), tuple(cells), tuple(comparisons), tuple(limits), wall,
                       extra={"cpu_seconds": math.fsum(r["cpu_seconds"] for r in runs),
                              "workers": executor.workers})


def comparison_table(results: BiasResults) -> str:
    """Markdown: per task and density, zero-bias mean, each nonzero-bias mean, and the paired
    difference [95 % CI] (accuracy in %, points; mse as is)."""
    cells = {(c["task"], c["source"], c["beta"], c["density"]): c for c in results.cells}
    lines = ["| task | density | zero-bias | source β | mean | paired difference [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for c in results.comparisons:
        scale = 100.0 if c["metric"] == "accuracy" else 1.0
        fmt = "{:.1f}" if scale == 100.0 else "{:.4f}"
        zero = cells[(c["task"], CONTROL, 0.0, c["density"])]["test"]["mean"]
        mean = cells[(c["task"], c["source"], c["beta"], c["density"])]["test"]["mean"]
        d = c["difference"]
        diff = ("{:+.1f} [{:+.1f}, {:+.1f}]" if scale == 100.0 else "{:+.4f} [{:+.4f}, {:+.4f}]"
                ).format(scale * d["mean"], scale * d["ci95"][0], scale * d["ci95"][1])
        lines.append(f"| {c['task']} ({c['metric']}) | {c['density']} | "
                     f"{fmt.format(scale * zero)} | {c['source']} β={c['beta']:g} | "
                     f"{fmt.format(scale * mean)} | {diff} |")
    return "\n".join(lines)
