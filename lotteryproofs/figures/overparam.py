"""Figure ``overparam``: ticket size and source width against ε', with the log(1/ε') law."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.construct import a_priori_rho
from lotteryproofs.figures._constructions import DELTA, biased_constructions, sufficient_ticket
from lotteryproofs.targets import random_target


def log_fit(eps, values) -> tuple[float, float]:
    """Least squares values ≈ a + b·ln(1/ε'): (a, b)."""
    x = np.log(1.0 / np.asarray(eps, float))
    b, a = np.polyfit(x, np.asarray(values, float), 1)
    return float(a), float(b)


def figure_overparam(*, rng, quick: bool) -> Figure:
    """Overparameterisation of each construction on one fixed random target (THEORY.md §4, §6).

    (a) Nonzero parameters of the ticket against ε', with the least-squares fit
    a + b·ln(1/ε') per construction (the theory: every RSS subset has O(log(1/ε')) elements,
    so the ticket grows linearly in ln(1/ε')). (b) The block multiplicity ρ (source width:
    ρ(n_{l−1}+1) neurons per block layer) that sufficed — the smallest even ρ ≤ 128 (quick:
    64) found by bisection whose construction had no failed RSS instance — beside the
    a-priori ρ of the theorem's sizing rule (union bound, Lueker constant C = 4.3, δ = 0.1).

    Data: target :func:`lotteryproofs.targets.random_target` 4-8-8-2 (quick: 2-4-1) from the
    figure's generator; :func:`lotteryproofs.construct.construct` methods 2l, ll, l+1 (default
    schemes), ε' ∈ {1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4} (quick: {1e-1, 1e-2});
    :func:`lotteryproofs.construct.a_priori_rho` (bounds.py's width theorem). One seed per
    (method, ε').
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only overparam``.
    """
    if quick:
        widths, eps_values, rho_max = (2, 4, 1), (1e-1, 1e-2), 64
    else:
        widths, eps_values = (4, 8, 8, 2), (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
        rho_max = 128
    target = random_target(widths, rng)
    fig = Figure(figsize=(8.0, 4.2))
    ax_size, ax_rho = fig.subplots(1, 2)
    grid = np.geomspace(max(eps_values), min(eps_values), 50)
    for i, construction in enumerate(biased_constructions()):
        label = construction.label
        found = [sufficient_ticket(target, construction, eps, seed=int(rng.integers(2**63)),
                                   hi=rho_max)
                 for eps in eps_values]
        ok = [f for f in found if f.ticket is not None]
        eps = np.array([f.eps_param for f in ok])
        nonzeros = np.array([f.ticket.count_nonzero() for f in ok])
        rho = np.array([f.rho for f in ok])
        colour = f"C{i}"
        ax_size.plot(eps, nonzeros, "o", color=colour, label=label)
        if len(ok) >= 2:
            a, b = log_fit(eps, nonzeros)
            ax_size.plot(grid, a + b * np.log(1 / grid), "--", color=colour, linewidth=1.0,
                         label=f"fit {a:.0f} + {b:.0f}·ln(1/ε')")
        ax_rho.plot(eps, rho, "o-", color=colour, label=f"{label}: ρ that sufficed")
        theory = [a_priori_rho(construction, target, e, DELTA) for e in eps_values]
        ax_rho.plot(eps_values, theory, "--", color=colour, linewidth=1.0,
                    label=f"{label}: a-priori ρ")
    ax_size.axhline(target.count_nonzero(), color="0.3", linestyle=":", linewidth=1.0,
                    label=f"target ({target.count_nonzero()} nonzeros)")
    ax_size.set(xscale="log", yscale="log", xlabel="per-parameter accuracy ε'",
                ylabel="ticket nonzero parameters", title="(a) ticket size")
    ax_rho.set(xscale="log", yscale="log", xlabel="per-parameter accuracy ε'",
               ylabel="block multiplicity ρ", title="(b) source width")
    for ax in (ax_size, ax_rho):
        ax.invert_xaxis()
    for ax in (ax_size, ax_rho):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=7)
    fig.suptitle(f"random target {'-'.join(map(str, widths))} "
                 f"(ε' from {max(eps_values):g} to {min(eps_values):g}; "
                 f"{math.log(max(eps_values) / min(eps_values)):.1f} e-folds)", fontsize=9)
    return fig
