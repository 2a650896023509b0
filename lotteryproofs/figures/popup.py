"""Figure: edge-popup test accuracy by initialisation, density and option (THEORY.md §7).

:func:`popup_grid_results` computes the data (the experiment grid of experiments.py, the
``quick`` grid when asked); :func:`plot_popup_grid` draws any :class:`GridResults` — one panel
per (option, dataset), test accuracy against density, one line per source (and β), 95 % intervals as
error bars; :func:`figure_popup_grid` is the figure function of the figures driver.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.experiments import (
    GridResults,
    default_grid,
    quick_grid,
    run_grid,
    source_label,
    source_rows,
    zero_bias,
)


def popup_grid_results(*, quick: bool, root_seed: int = 0, workers: int | None = None
                       ) -> GridResults:
    """The edge-popup grid's results (default grid, or the CI-sized one when ``quick``)."""
    spec = quick_grid(root_seed) if quick else default_grid(root_seed)
    return run_grid(spec, workers=workers)


def plot_popup_grid(results: GridResults) -> Figure:
    """Mean test accuracy with 95 % intervals vs density; rows options, columns datasets."""
    spec = results.spec
    cells = {(c["dataset"], c["source"], c.get("beta"), c["density"], c["option"]):
             c["test_accuracy"] for c in results.cells}
    lines = source_rows(spec, results.cells)
    rows, cols = len(spec.options), len(spec.datasets)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows + 0.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, sharex=True, squeeze=False))
    densities = np.array(sorted(spec.densities))
    offsets = np.linspace(-0.06, 0.06, len(lines))  # dodge overlapping error bars
    for r, option in enumerate(spec.options):
        for c, dataset in enumerate(spec.datasets):
            ax = axes[r, c]
            for (source, beta), offset in zip(lines, offsets, strict=True):
                found = [cells.get((dataset, source, beta, d, option)) for d in densities]
                keep = [i for i, cell in enumerate(found) if cell is not None]
                if not keep:
                    continue
                mean = np.array([found[i]["mean"] for i in keep])
                lower = np.array([found[i]["ci95"][0] for i in keep])
                upper = np.array([found[i]["ci95"][1] for i in keep])
                x = densities[keep] * np.exp(offset)
                ax.errorbar(x, 100 * mean, yerr=100 * np.vstack([mean - lower, upper - mean]),
                            marker="o", markersize=3, capsize=2, linewidth=1,
                            linestyle="--" if zero_bias(source) else "-",
                            label=source_label(source, None if spec.betas is None else beta))
            # a t-interval can pass 100 % with few seeds; the axis stops at the possible range
            ax.set_ylim(top=100.5)
            ax.set_xscale("log")
            ax.set_xticks(densities, [f"{d:g}" for d in densities])
            ax.minorticks_off()
            if r == 0:
                ax.set_title(dataset)
            if r == rows - 1:
                ax.set_xlabel("density (kept fraction)")
            if c == 0:
                ax.set_ylabel(f"{option}\ntest accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)),
               fontsize="small")
    fig.suptitle(f"edge-popup, hidden {list(spec.hidden)}, {spec.epochs} epochs, "
                 f"{spec.seeds} seeds (mean, 95 % t-interval)", fontsize="medium")
    return fig


def figure_popup_grid(*, rng, quick: bool) -> Figure:
    """The figures driver's entry: the grid seeded from ``rng``, then :func:`plot_popup_grid`."""
    root_seed = int(np.random.default_rng(rng).integers(2**31))
    return plot_popup_grid(popup_grid_results(quick=quick, root_seed=root_seed))
