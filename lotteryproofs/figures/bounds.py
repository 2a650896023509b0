"""Figure ``bounds``: observed, certified and a-priori output error against ε'."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.certify import certify
from lotteryproofs.figures._constructions import biased_constructions, sufficient_ticket
from lotteryproofs.targets import random_target


def figure_bounds(*, rng, quick: bool) -> Figure:
    """Error bounds of every construction on one fixed random target (THEORY.md §5).

    For each construction and each ε', the ticket built with the smallest block multiplicity
    ρ (bisection over even ρ ≤ 128, quick: ≤ 64) whose construction had no failed RSS
    instance, and three output errors over the box [-1, 1]^{n_0}: observed (a lower bound of
    the sup: samples plus sign-gradient ascent, recomputed exactly), certified (rigorous
    a-posteriori bound) and a-priori (the §5 closed form for that ε'). Log–log; observed ≤
    certified ≤ a-priori must hold at every point.

    Data: target :func:`lotteryproofs.targets.random_target` of widths 4-8-8-2 (quick: 2-4-1)
    drawn from the figure's generator; :func:`lotteryproofs.construct.construct` (methods 2l,
    ll, l+1, default schemes) and :func:`lotteryproofs.certify.certify` (2 000 samples;
    quick: 300), ε' ∈ {1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4} (quick: {1e-1, 1e-2}); one
    construction seed per (method, ε').
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only bounds``.
    """
    if quick:
        widths, eps_values, samples, rho_max = (2, 4, 1), (1e-1, 1e-2), 300, 64
    else:
        widths, eps_values = (4, 8, 8, 2), (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
        samples, rho_max = 2000, 128
    target = random_target(widths, rng)
    fig = Figure(figsize=(9.0, 3.2))
    constructions = biased_constructions()
    axes = fig.subplots(1, len(constructions), sharey=True)
    for ax, construction in zip(axes, constructions, strict=True):
        rows = []
        for eps in eps_values:
            found = sufficient_ticket(target, construction, eps, seed=int(rng.integers(2**63)),
                                      hi=rho_max)
            if found.ticket is None:
                continue
            cert = certify(found.ticket, target, (-1.0, 1.0), rng=int(rng.integers(2**63)),
                           n_samples=samples)
            rows.append((eps, cert.observed_output_error, cert.certified_output_error,
                         cert.a_priori_output_error, found.rho))
        eps, observed, certified, a_priori, rho = (np.array(c) for c in zip(*rows, strict=True))
        ax.plot(eps, a_priori, "s--", color="C1", label="a-priori bound (§5)")
        ax.plot(eps, certified, "o-", color="C0", label="certified (a posteriori)")
        ax.plot(eps, observed, "v:", color="C2", label="observed (lower bound of sup)")
        ax.set(xscale="log", yscale="log", xlabel="per-parameter accuracy ε'",
               title=f"{construction.label} (ρ {int(rho.min())}–{int(rho.max())})")
        ax.invert_xaxis()
    axes[0].set_ylabel("sup-norm output error over $[-1, 1]^{n_0}$")
    axes[0].legend(loc="upper right")
    fig.suptitle(f"random target {'-'.join(map(str, widths))}; smallest failure-free ρ "
                 "per point", fontsize=9)
    return fig
