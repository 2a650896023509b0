"""Figure ``constants``: P(cover [-1, 1]) against n, the fitted Lueker constant C, the counting
limit."""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.constants import counting_limit, estimate_constants
from lotteryproofs.executor import open_executor

_DELTA = 0.05
_LAW_LABELS = {"uniform": "U[-1, 1]", "product": "product U·U'", "normal": "N(0, 1)"}


def fitted_constant(n_required, x) -> float:
    """Least-squares C of n ≈ C·x through the origin: C = Σ n x / Σ x²."""
    n_required, x = np.asarray(n_required, float), np.asarray(x, float)
    return float(np.dot(n_required, x) / np.dot(x, x))


def _band(ax, estimate, colour, label):
    n = np.array([r.n for r in estimate.rows])
    p = np.array([r.p_cover for r in estimate.rows])
    ci = np.array([r.p_cover_ci for r in estimate.rows])
    ax.fill_between(n, ci[:, 0], ci[:, 1], color=colour, alpha=0.2, linewidth=0)
    ax.plot(n, p, "o-", color=colour, markersize=3, label=label)


def figure_constants(*, rng, quick: bool) -> Figure:
    """Random-subset-sum constants measured by Monte Carlo (THEORY.md §3, proofs/lueker.md).

    (a) P(every z ∈ [-1, 1] is within ε' of a subset sum of n i.i.d. U[-1, 1] values) against
    n for several ε', with 95 % Clopper–Pearson bands and the counting limit log₂(1/ε')
    (dotted: below it coverage is impossible). (b) The same at the smallest ε' for several
    laws. (c) n_required — the smallest n whose lower confidence limit of P(cover) reaches
    1 − δ (δ = 0.05) — against ln(1/min(ε', δ)), the least-squares fit n = C·ln(1/min(ε', δ))
    per law (through the origin), and the counting limit log₂(1/ε').

    Data: :func:`lotteryproofs.constants.estimate_constants` (exact coverage certificates of
    lotteryproofs.rss), laws uniform, product, normal, ε' ∈ {1e-2, 1e-3, 1e-4}, δ = 0.05,
    1 000 trials per (law, ε') (quick: uniform and product, ε' ∈ {1e-1, 1e-2}, 100 trials);
    the scan over n stops at n_required. Each (law, ε') gets its own integer seed drawn from
    the figure's generator.
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only constants``.
    """
    if quick:
        laws, eps_values, trials = ("uniform", "product"), (1e-1, 1e-2), 100
    else:
        laws, eps_values, trials = ("uniform", "product", "normal"), (1e-2, 1e-3, 1e-4), 1000
    estimates = {}
    # every core, one pool for the whole figure; the estimates do not depend on it
    with open_executor(os.cpu_count() or 1) as executor:
        for law in laws:
            for eps in eps_values:
                seed = int(rng.integers(2**63))
                estimates[law, eps] = estimate_constants(law, eps, _DELTA, trials=trials,
                                                         seed=seed, executor=executor)

    fig = Figure(figsize=(10.0, 3.9))
    ax_eps, ax_law, ax_fit = fig.subplots(1, 3)
    for i, eps in enumerate(eps_values):
        _band(ax_eps, estimates["uniform", eps], f"C{i}", f"ε' = {eps:g}")
        ax_eps.axvline(counting_limit(eps), color=f"C{i}", linestyle=":", linewidth=1.2)
    ax_eps.plot([], [], ":", color="0.3", label="counting limit log₂(1/ε')")
    ax_eps.set(xlabel="pool size n (values)", ylabel="P(cover [-1, 1])", ylim=(-0.03, 1.03),
               title="(a) U[-1, 1], several ε'")
    ax_eps.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)

    eps_min = min(eps_values)
    for i, law in enumerate(laws):
        _band(ax_law, estimates[law, eps_min], f"C{i + 3}", _LAW_LABELS[law])
    ax_law.axvline(counting_limit(eps_min), color="0.3", linestyle=":", linewidth=1.2,
                   label="counting limit")
    ax_law.set(xlabel="pool size n (values)", ylabel="P(cover [-1, 1])", ylim=(-0.03, 1.03),
               title=f"(b) several laws, ε' = {eps_min:g}")
    ax_law.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)

    x_all = np.array([math.log(1 / min(eps, _DELTA)) for eps in eps_values])
    grid = np.linspace(0, x_all.max() * 1.08, 50)
    for i, law in enumerate(laws):
        found = [(math.log(1 / min(eps, _DELTA)), estimates[law, eps].n_required)
                 for eps in eps_values if estimates[law, eps].n_required is not None]
        if not found:
            continue
        x, n_req = np.array(found).T
        c = fitted_constant(n_req, x)
        ax_fit.plot(x, n_req, "o", color=f"C{i + 3}", label=f"{_LAW_LABELS[law]}: C = {c:.2f}")
        ax_fit.plot(grid, c * grid, "-", color=f"C{i + 3}", linewidth=1.0)
    ax_fit.plot(grid, grid / math.log(2), ":", color="0.3",
                label="counting limit log₂(1/ε')")
    ax_fit.set(xlabel="ln(1/min(ε', δ))", ylabel=f"n required (P(cover) ≥ {1 - _DELTA:g})",
               xlim=(0, grid[-1]), ylim=(0, None), title="(c) fit n = C·ln(1/min(ε', δ))")
    ax_fit.legend(loc="upper left")
    fig.suptitle(f"{trials} trials per (law, ε'); bands and n required use 95 % "
                 "Clopper–Pearson limits", fontsize=9)
    return fig
