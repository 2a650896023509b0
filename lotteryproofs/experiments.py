"""Edge-popup experiments on embedded benchmark data (THEORY.md §7).

One **run** (:func:`run_on_dataset`): draw a source network of widths (n_features, hidden…,
n_classes) from a named source (:data:`SOURCES`), learn its scores with edge-popup
(popup.py), report train and test accuracy of the found subnetwork.

The **grid** (:func:`run_grid`): datasets × sources [× bias scales β] × densities × options ×
seeds, each cell the mean test accuracy over the seeds with a 95 % Student-t interval, and paired
comparisons of every source with the zero-bias controls (the same seed shares the data split,
so differences are paired). Every run is one block of lotteryproofs.executor (local processes
with one BLAS thread each by default, or Dask); every run's randomness is a child of the root
``SeedSequence`` keyed by the seed index and by names (not list positions), so adding a source
or an option leaves the other runs' bytes unchanged, and the result does not depend on the
executor or its number of workers. The runs of one (dataset, seed) are trained together
(:func:`grid_blocks`, popup_batch.py), each byte-identical to its training alone.

**Bias scale β** (``bias_factor`` of init.py: b̃_l ~ β·D_b, β = 0 a zero-bias source) is
one option of the nonzero-bias sources (:func:`beta_options`); a grid with ``betas`` runs every
nonzero-bias source at each β and every zero-bias source once (its β is 0). The source draw
does not depend on β (β scales the same unit bias draw), so comparisons across β are paired.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.popup import (
    PopupConfig,
    PopupResult,
    accuracy,
    check_density,
    train_popup,
)

#: Named sources: name → (init.py scheme, options). The bias factor is the scheme default
#: (β = 1, product rule) unless :func:`beta_options` sets it.
SOURCES: Mapping[str, tuple[str, Mapping]] = MappingProxyType({
    "uniform-zero-bias": ("uniform-zero-bias", {}),
    "uniform": ("uniform", {}),
    "normal-zero-bias": ("normal-zero-bias", {}),
    "normal": ("normal", {}),
    "looks-linear-zero-bias": ("looks-linear", {"biases": "zero"}),
    "looks-linear": ("looks-linear", {"biases": "independent"}),
    "looks-linear-dependent": ("looks-linear", {"biases": "dependent"}),
    "looks-linear-orthogonal": ("looks-linear", {"weights": "orthogonal", "biases": "independent"}),
    "looks-linear-orthogonal-dependent": (
        "looks-linear", {"weights": "orthogonal", "biases": "dependent"}),
})

#: The zero-bias control of each source (what "nonzero biases help" is measured against).
CONTROLS: Mapping[str, str] = MappingProxyType({
    "uniform": "uniform-zero-bias",
    "normal": "normal-zero-bias",
    "looks-linear": "looks-linear-zero-bias",
    "looks-linear-dependent": "looks-linear-zero-bias",
    "looks-linear-orthogonal": "looks-linear-zero-bias",
    "looks-linear-orthogonal-dependent": "looks-linear-zero-bias",
})

#: Named training options: name → PopupConfig fields (besides density).
OPTIONS: Mapping[str, Mapping] = MappingProxyType({
    "plain": {},
    "anneal": {"anneal": True},
    "scaled": {"scaled": True},
    "joint": {"bias_ranking": "joint"},
    "scaled-anneal": {"scaled": True, "anneal": True},
})


def check_source(name) -> str:
    if name not in SOURCES:
        raise _validate.InputError(
            f"unknown initialisation {name!r}; known: {', '.join(sorted(SOURCES))}"
        )
    return name


def check_option(name) -> str:
    if name not in OPTIONS:
        raise _validate.InputError(
            f"unknown edge-popup option {name!r}; known: {', '.join(OPTIONS)}"
        )
    return name


def zero_bias(source: str) -> bool:
    """Whether a named source draws every bias 0 (a control): by its scheme, not its name."""
    from lotteryproofs.init import SCHEMES

    scheme, options = SOURCES[check_source(source)]
    return SCHEMES[scheme].fixed.get("bias_rule") == "zero" or options.get("biases") == "zero"


def beta_options(source: str, beta) -> dict:
    """The init.py options that give ``source`` the bias scale β ({} when β is None: the
    scheme default). β must be a finite number >= 0; a zero-bias source has no β to set."""
    if beta is None:
        return {}
    beta = _validate.non_negative("β (--beta)", beta)
    if zero_bias(source):
        raise _validate.InputError(
            f"source {source!r} has no biases to scale: β applies to a nonzero-bias source "
            "(β = 0 makes one zero-bias)")
    return {"bias_factor": beta}


def source_beta(source: str, options: Mapping | None = None) -> float:
    """The bias scale β a named source is drawn with under ``options`` (0 for zero-bias)."""
    from lotteryproofs.init import SCHEMES

    if zero_bias(source):
        return 0.0
    scheme, fixed = SOURCES[source]
    return float({**SCHEMES[scheme].defaults, **fixed, **dict(options or {})}["bias_factor"])


def check_hidden(hidden) -> tuple[int, ...]:
    """Hidden widths: positive integers (a string '256,256' or a sequence)."""
    if isinstance(hidden, str):
        return _validate.parse_widths("hidden sizes", hidden, minimum_layers=1)
    return _validate.widths("hidden sizes", hidden, minimum_layers=1)


def draw_named_source(name: str, widths: Sequence[int], *, rng, **extra_options):
    """The source network of a named source (:data:`SOURCES`), He-scaled (init.py)."""
    from lotteryproofs.init import draw_network

    scheme, options = SOURCES[check_source(name)]
    return draw_network(scheme, widths, rng=rng, **{**options, **extra_options})


# ---------------------------------------------------------------------------------- one run
@dataclass(frozen=True, eq=False)
class PopupRun:
    """One edge-popup run on a dataset: the source, what edge-popup found, its accuracies."""

    dataset: str
    source_name: str
    source: object  # Network
    result: PopupResult
    train_accuracy: float
    test_accuracy: float
    seconds: float


def run_on_dataset(dataset, hidden: Sequence[int], source_name: str, config: PopupConfig, *,
                   source_rng, train_rng, source_options: Mapping | None = None) -> PopupRun:
    """Draw the source (first, independent of the data), run edge-popup, measure accuracy."""
    start = time.perf_counter()
    widths = (dataset.n_features, *check_hidden(hidden), dataset.n_classes)
    source = draw_named_source(source_name, widths, rng=source_rng, **dict(source_options or {}))
    result = train_popup(source, dataset.x_train, dataset.y_train, config, rng=train_rng)
    subnetwork = result.subnetwork(source)
    return PopupRun(
        dataset=dataset.name,
        source_name=source_name,
        source=source,
        result=result,
        train_accuracy=accuracy(subnetwork, dataset.x_train, dataset.y_train),
        test_accuracy=accuracy(subnetwork, dataset.x_test, dataset.y_test),
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class GridSpec:
    """What the grid runs: every combination, ``seeds`` times, with this training budget."""

    datasets: tuple[str, ...]
    sources: tuple[str, ...]
    densities: tuple[float, ...]
    options: tuple[str, ...]
    seeds: int
    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 30
    root_seed: int = 0
    #: bias scales β of the nonzero-bias sources (None: each source's default, one run)
    betas: tuple[float, ...] | None = None

    def __post_init__(self):
        from lotteryproofs.datasets import check_name

        for name in self.datasets:
            check_name(name)
        for name in self.sources:
            check_source(name)
        for name in self.options:
            check_option(name)
        for d in self.densities:
            check_density(d)
        if self.seeds < 2:
            raise _validate.InputError(f"a 95 % interval needs at least 2 seeds, got {self.seeds}")
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        if self.betas is not None:
            betas = tuple(_validate.non_negative("β (--beta)", b) for b in self.betas)
            if not betas or len(set(betas)) != len(betas):
                raise _validate.InputError(f"β values must be distinct and at least one, got "
                                           f"{list(betas)}")
            object.__setattr__(self, "betas", betas)

    def source_betas(self, source: str) -> tuple[float | None, ...]:
        """The β values the grid runs ``source`` at (None: the source's default)."""
        return (None,) if self.betas is None or zero_bias(source) else self.betas

    @property
    def n_runs(self) -> int:
        return (len(self.datasets) * sum(len(self.source_betas(s)) for s in self.sources)
                * len(self.densities) * len(self.options) * self.seeds)

    def to_json(self) -> dict:
        return {
            "datasets": list(self.datasets), "sources": list(self.sources),
            "densities": list(self.densities), "options": list(self.options),
            "seeds": self.seeds, "hidden": list(self.hidden), "epochs": self.epochs,
            "root_seed": self.root_seed,
            "betas": None if self.betas is None else list(self.betas),
        }


def default_grid(root_seed: int = 0) -> GridSpec:
    """The issue's grid: 3 datasets × 6 sources × {0.5, 0.2, 0.1, 0.05} × 4 options × 5 seeds."""
    return GridSpec(
        datasets=("digits", "breast-cancer", "wine"),
        sources=("uniform-zero-bias", "uniform", "looks-linear-zero-bias", "looks-linear",
                 "looks-linear-dependent", "looks-linear-orthogonal-dependent"),
        densities=(0.5, 0.2, 0.1, 0.05),
        options=("plain", "anneal", "scaled", "joint"),
        seeds=5,
        root_seed=root_seed,
    )


def quick_grid(root_seed: int = 0) -> GridSpec:
    """A CI-sized grid (< 60 s on 2 cores): every dataset, the two He sources and one LL."""
    return GridSpec(
        datasets=("digits", "breast-cancer", "wine"),
        sources=("uniform-zero-bias", "uniform", "looks-linear"),
        densities=(0.5, 0.1),
        options=("plain", "scaled"),
        seeds=3,
        hidden=(64, 64),
        epochs=10,
        root_seed=root_seed,
    )


def _key(*names: str) -> tuple[int, ...]:
    return tuple(zlib.crc32(n.encode()) for n in names)


@dataclass(frozen=True)
class _Task:
    spec: GridSpec
    dataset: str
    source: str
    density: float
    option: str
    seed: int
    beta: float | None = None


def _task_streams(task: _Task) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(source stream, training stream) of one grid run: children of the seed index's child of
    the root sequence, keyed by (dataset, source) for the source draw — shared by every β,
    density and option, so those comparisons are paired — and by (dataset, source, density,
    option[, β]) for training (β only when the grid sets it, so a grid without β keeps its
    bytes)."""
    spec = task.spec
    seed_seq = np.random.SeedSequence(spec.root_seed).spawn(spec.seeds)[task.seed]
    source_seq = np.random.SeedSequence(
        seed_seq.entropy, spawn_key=seed_seq.spawn_key + _key("source", task.dataset, task.source))
    beta_key = () if task.beta is None else (repr(task.beta),)
    train_seq = np.random.SeedSequence(
        seed_seq.entropy, spawn_key=seed_seq.spawn_key
        + _key("train", task.dataset, task.source, repr(task.density), task.option, *beta_key))
    return source_seq, train_seq


def _run_tasks(tasks: Sequence[_Task]) -> list[dict]:
    """Grid runs of one (dataset, seed) (in a worker), trained together by
    popup_batch.train_popup_batch — each run byte-identical to training it alone
    (tests/test_popup_batch.py); per-run times are the block's divided evenly."""
    from lotteryproofs.datasets import load_dataset
    from lotteryproofs.popup_batch import train_popup_batch

    cpu_start, start = time.process_time(), time.perf_counter()
    spec = tasks[0].spec
    if len({(t.dataset, t.seed) for t in tasks}) != 1:
        raise ValueError("a block of grid runs shares its dataset and seed")
    dataset = load_dataset(tasks[0].dataset, split_seed=tasks[0].seed)
    widths = (dataset.n_features, *spec.hidden, dataset.n_classes)
    sources, configs, rngs, options = [], [], [], []
    for task in tasks:
        source_seq, train_seq = _task_streams(task)
        options.append(beta_options(task.source, task.beta))
        sources.append(draw_named_source(task.source, widths, rng=source_seq, **options[-1]))
        configs.append(PopupConfig(density=task.density, epochs=spec.epochs,
                                   **OPTIONS[task.option]))
        rngs.append(train_seq)
    results = train_popup_batch(sources, [dataset.x_train] * len(tasks),
                                [dataset.y_train] * len(tasks), configs, rngs=rngs)
    rows = []
    for task, source, result, opts in zip(tasks, sources, results, options, strict=True):
        sub = result.subnetwork(source)
        rows.append({
            "dataset": task.dataset, "source": task.source,
            "beta": source_beta(task.source, opts), "density": task.density,
            "option": task.option, "seed": task.seed,
            "train_accuracy": accuracy(sub, dataset.x_train, dataset.y_train),
            "test_accuracy": accuracy(sub, dataset.x_test, dataset.y_test),
            "output_scale": result.output_scale, "final_loss": result.epoch_losses[-1],
            "kept_fraction": result.kept_fraction()})
    seconds = (time.perf_counter() - start) / len(tasks)
    cpu = (time.process_time() - cpu_start) / len(tasks)
    return [{**row, "seconds": seconds, "cpu_seconds": cpu} for row in rows]


def _run_grid_block(tasks: Sequence[_Task]) -> dict:
    """One block of the grid as the executor's checkpoints store it: ``{"runs": rows}``."""
    return {"runs": _run_tasks(tasks)}


def _run_task(task: _Task) -> dict:
    """One grid run alone (a block of one)."""
    return _run_tasks([task])[0]


def grid_blocks(tasks: Sequence[_Task], members: int) -> list[list[int]]:
    """Indices of ``tasks`` grouped into blocks of at most ``members`` runs of one
    (dataset, seed) — one shape and one training set, what popup_batch trains together."""
    groups: dict[tuple, list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault((task.dataset, task.seed), []).append(i)
    return [group[j:j + members] for group in groups.values()
            for j in range(0, len(group), members)]


#: Runs per block of the grid: enough to spread the per-step overhead (benchmarks/README.md).
BLOCK_MEMBERS = 16


@dataclass(frozen=True)
class Interval:
    """Mean of n values with a two-sided 95 % Student-t interval [lower, upper]."""

    mean: float
    lower: float
    upper: float
    n: int

    def to_json(self) -> dict:
        return {"mean": self.mean, "ci95": [self.lower, self.upper], "n": self.n}


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """mean ± t_{(1+level)/2, n−1}·s/√n (s the sample standard deviation)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n < 2:
        raise _validate.InputError(f"an interval needs at least 2 values, got {n}")
    mean = math.fsum(values) / n
    half = float(t.ppf((1 + level) / 2, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True, eq=False)
class GridResults:
    """Every run of a grid, the per-cell intervals and the paired comparisons with controls."""

    spec: GridSpec
    runs: tuple[Mapping, ...]
    cells: tuple[Mapping, ...]
    comparisons: tuple[Mapping, ...]
    wall_seconds: float
    workers: int
    extra: Mapping = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "spec": self.spec.to_json(), "workers": self.workers,
            "wall_seconds": self.wall_seconds, "cells": list(self.cells),
            "comparisons": list(self.comparisons), "runs": list(self.runs), **self.extra,
        }


def summarise_cells(runs: Sequence[Mapping]) -> list[dict]:
    """Per (dataset, source, β, density, option): test/train accuracy means with 95 %
    intervals."""
    groups: dict[tuple, list[Mapping]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["source"], run.get("beta"), run["density"],
                           run["option"]), []).append(run)
    cells = []
    for (dataset, source, beta, density, option), members in groups.items():
        members = sorted(members, key=lambda r: r["seed"])
        cells.append({
            "dataset": dataset, "source": source, "beta": beta, "density": density,
            "option": option,
            "test_accuracy": t_interval([r["test_accuracy"] for r in members]).to_json(),
            "train_accuracy": t_interval([r["train_accuracy"] for r in members]).to_json(),
        })
    return cells


def paired_comparisons(runs: Sequence[Mapping]) -> list[dict]:
    """Each source (at each β it ran) minus its zero-bias control (CONTROLS) and minus
    ``uniform-zero-bias``, per dataset: the per-seed difference of test accuracy averaged over
    every (density, option) cell both ran, then a 95 % t interval over the seeds. A control
    is zero-bias, so it ran once whatever the β axis: it is looked up without β."""
    by_key = {(r["dataset"], r["source"], r.get("beta"), r["density"], r["option"], r["seed"]): r
              for r in runs}
    controls = {(d, s, density, option, seed): r
                for (d, s, _, density, option, seed), r in by_key.items()}
    sources = sorted({r["source"] for r in runs})
    out = []
    for dataset in sorted({r["dataset"] for r in runs}):
        for source in sources:
            betas = sorted({r.get("beta") for r in runs if r["source"] == source},
                           key=lambda b: (b is not None, b))
            for beta in betas:
                for control in sorted({CONTROLS.get(source), "uniform-zero-bias"}
                                      - {None, source}):
                    if control not in sources:
                        continue
                    per_seed: dict[int, list[float]] = {}
                    for (d, s, b, density, option, seed), run in by_key.items():
                        if d != dataset or s != source or b != beta:
                            continue
                        other = controls.get((dataset, control, density, option, seed))
                        if other is not None:
                            per_seed.setdefault(seed, []).append(
                                run["test_accuracy"] - other["test_accuracy"])
                    if len(per_seed) >= 2:
                        diffs = [math.fsum(v) / len(v) for _, v in sorted(per_seed.items())]
                        out.append({"dataset": dataset, "source": source, "beta": beta,
                                    "control": control,
                                    "difference": t_interval(diffs).to_json(),
                                    "cells_per_seed": len(next(iter(per_seed.values())))})
    return out


def run_grid(spec: GridSpec, *, workers: int | None = None, show_progress: bool | None = None,
             executor=None, checkpoint=None, retries: int | None = None) -> GridResults:
    """Run every task of ``spec``, one block each, on ``executor`` (lotteryproofs.executor;
    default: ``workers`` local processes, every core when None). ``checkpoint`` (a folder)
    keeps every finished run, so the same call repeated after a crash resumes. Progress: a
    bar on a terminal when ``show_progress`` is None, always reported when True (a line per
    run off a terminal), never when False."""
    import sys

    from lotteryproofs.executor import (
        DEFAULT_RETRIES,
        executor_or_default,
        open_checkpoint,
        run_blocks,
    )

    workers = _validate.positive_int("workers", workers or os.cpu_count() or 1)
    tasks = [_Task(spec, dataset, source, density, option, seed, beta)
             for dataset in spec.datasets for source in spec.sources
             for beta in spec.source_betas(source)
             for density in spec.densities for option in spec.options
             for seed in range(spec.seeds)]
    store = None if checkpoint is None else open_checkpoint(checkpoint, "popup-grid",
                                                            spec.to_json())
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    start = time.perf_counter()
    blocks = grid_blocks(tasks, BLOCK_MEMBERS)
    with executor_or_default(executor, workers) as executor:
        out = run_blocks(_run_grid_block, [[tasks[i] for i in block] for block in blocks],
                         executor=executor, checkpoint=store,
                         keys=[f"block{j:05d}" for j in range(len(blocks))],
                         retries=DEFAULT_RETRIES if retries is None else retries,
                         label="popup grid" if show_progress else None)
    wall = time.perf_counter() - start
    runs = [None] * len(tasks)  # back in task order, whatever the blocks
    for block, result in zip(blocks, out, strict=True):
        for i, row in zip(block, result["runs"], strict=True):
            runs[i] = row
    # on a shared machine the wall time depends on the load; the CPU time does not
    cpu = math.fsum(r["cpu_seconds"] for r in runs)
    return GridResults(spec, tuple(runs), tuple(summarise_cells(runs)),
                       tuple(paired_comparisons(runs)), wall, executor.workers,
                       extra={"cpu_seconds": cpu, "load_average_at_end": os.getloadavg()[0]})


def source_label(source: str, beta) -> str:
    """A source's name with its β when the grid set one (``uniform β=0.05``)."""
    return source if beta is None else f"{source} β={beta:g}"


def grid_table(results: GridResults) -> str:
    """Markdown: mean test accuracy [95 % interval] in %, one row per (dataset, source[, β],
    option), one column per density; then the paired differences with the controls."""
    spec = results.spec
    cells = {(c["dataset"], c["source"], c.get("beta"), c["density"], c["option"]):
             c["test_accuracy"] for c in results.cells}
    header = "| dataset | source | option | " + " | ".join(
        f"density {d}" for d in spec.densities) + " |"
    lines = [header, "|" + "---|" * (3 + len(spec.densities))]
    for dataset in spec.datasets:
        for source, beta in source_rows(spec, results.cells):
            label = source_label(source, beta if spec.betas is not None else None)
            for option in spec.options:
                entries = []
                for density in spec.densities:
                    cell = cells.get((dataset, source, beta, density, option))
                    entries.append("—" if cell is None else "{:.1f} [{:.1f}, {:.1f}]".format(
                        100 * cell["mean"], 100 * cell["ci95"][0], 100 * cell["ci95"][1]))
                lines.append(f"| {dataset} | {label} | {option} | " + " | ".join(entries) + " |")
    if results.comparisons:
        lines += ["", "| dataset | source | minus control | mean difference [95 % CI] "
                  "(percentage points) | cells per seed |", "|---|---|---|---|---|"]
        for c in results.comparisons:
            diff = c["difference"]
            beta = c.get("beta") if spec.betas is not None else None
            lines.append("| {} | {} | {} | {:+.2f} [{:+.2f}, {:+.2f}] | {} |".format(
                c["dataset"], source_label(c["source"], beta), c["control"], 100 * diff["mean"],
                100 * diff["ci95"][0], 100 * diff["ci95"][1], c["cells_per_seed"]))
    return "\n".join(lines)


def source_rows(spec: GridSpec, cells: Sequence[Mapping]) -> list[tuple[str, float | None]]:
    """(source, β) of every line of the table and figure: spec order, then β ascending."""
    present = {(c["source"], c.get("beta")) for c in cells}
    return [(source, beta) for source in spec.sources
            for beta in sorted({b for s, b in present if s == source},
                               key=lambda b: (b is not None, b))]
