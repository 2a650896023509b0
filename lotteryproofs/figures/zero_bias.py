"""Figure ``zero_bias``: why nonzero biases — the ‖f_T(0)‖∞ floor of zero-bias sources."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.certify import certify
from lotteryproofs.construct import construct, two_layer, zero_bias
from lotteryproofs.figures._constructions import DELTA, sufficient_ticket
from lotteryproofs.network import Network
from lotteryproofs.targets import random_target


def zero_floor(target: Network) -> float:
    """‖f_T(0)‖∞: no subnetwork of a zero-bias source gets closer over a box containing 0."""
    return float(np.max(np.abs(target.forward(np.zeros(target.widths[0])))))


def _pair(target, eps, rng, *, samples, rho_max):
    """2L ticket at the smallest failure-free ρ, and the zero-bias ticket at the same ρ and
    seed; their certificates over [-1, 1]^{n_0}. None if 2L found no failure-free ρ."""
    seed = int(rng.integers(2**63))
    found = sufficient_ticket(target, two_layer.CONSTRUCTION, eps, seed=seed, hi=rho_max)
    if found.ticket is None:
        return None
    zero = construct(target, zero_bias.CONSTRUCTION, eps_param=eps, delta=DELTA, rho=found.rho,
                     rng=seed)
    cert_seed = int(rng.integers(2**63))
    return (certify(found.ticket, target, (-1.0, 1.0), rng=cert_seed, n_samples=samples),
            certify(zero, target, (-1.0, 1.0), rng=cert_seed, n_samples=samples))


def figure_zero_bias(*, rng, quick: bool) -> Figure:
    """Zero-bias against nonzero-bias sources on targets with biases (THEORY.md §4.4,
    proofs/zero-bias-floor.md).

    (a) One random target: observed and certified output error over [-1, 1]^{n_0} against ε'
    for the 2L construction on a source with nonzero (product-rule) biases and for the same
    construction on a zero-bias source (target biases dropped, as in Pensia et al. 2020), at
    the same ρ and seed; the dotted line is ‖f_T(0)‖∞, below which no subnetwork of a
    zero-bias source can go (every such subnetwork is positively homogeneous, so f_S(0) = 0).
    (b) Several random targets with biases scaled by s ∈ {0.1, 0.3, 1}: observed error at
    ε' = 0.01 against each target's floor ‖f_T(0)‖∞; zero-bias tickets must lie on or above
    the diagonal, nonzero-bias tickets need not.

    Data: :func:`lotteryproofs.targets.random_target` 3-8-2 (weights U[-1, 1]/√fan-in,
    biases U[-1, 1], scaled by s in (b)); :func:`lotteryproofs.construct.construct` methods
    2l (ρ: smallest even ρ ≤ 128 without RSS failure, bisection) and zero-bias (same ρ, same
    seed); :func:`lotteryproofs.certify.certify` (2 000 samples; quick: 300). ε' ∈ {1e-1,
    3e-2, 1e-2, 3e-3, 1e-3} (quick: {1e-1, 1e-2}); (b) 4 targets per s (quick: 1).
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only zero_bias``.
    """
    widths = (3, 8, 2)
    if quick:
        eps_values, samples, per_scale, rho_max = (1e-1, 1e-2), 300, 1, 64
    else:
        eps_values, samples, per_scale, rho_max = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3), 2000, 4, 128
    fig = Figure(figsize=(8.0, 3.4))
    ax_eps, ax_floor = fig.subplots(1, 2)

    target = random_target(widths, rng)
    floor = zero_floor(target)
    rows = []
    for eps in eps_values:
        pair = _pair(target, eps, rng, samples=samples, rho_max=rho_max)
        if pair is not None:
            rows.append((eps, *(c.observed_output_error for c in pair),
                         *(c.certified_output_error for c in pair)))
    eps, obs_2l, obs_zero, cert_2l, cert_zero = (np.array(c) for c in zip(*rows, strict=True))
    ax_eps.plot(eps, cert_2l, "o-", color="C0", label="nonzero biases (2L): certified")
    ax_eps.plot(eps, obs_2l, "v:", color="C0", label="nonzero biases (2L): observed")
    ax_eps.plot(eps, cert_zero, "s-", color="C1", label="zero biases: certified")
    ax_eps.plot(eps, obs_zero, "^:", color="C1", label="zero biases: observed")
    ax_eps.axhline(floor, color="0.2", linestyle="--", linewidth=1.0,
                   label=f"floor ‖f_T(0)‖∞ = {floor:.3f}")
    ax_eps.set(xscale="log", yscale="log", xlabel="per-parameter accuracy ε'",
               ylabel="sup-norm output error over $[-1, 1]^{n_0}$",
               title=f"(a) one target {'-'.join(map(str, widths))}")
    ax_eps.invert_xaxis()
    ax_eps.legend(loc="lower left", fontsize=6.5)

    biased, unbiased = [], []
    for scale in (0.1, 0.3, 1.0):
        for _ in range(per_scale):
            base = random_target(widths, rng)
            scaled = Network(base.weights, tuple(scale * b for b in base.biases))
            pair = _pair(scaled, 1e-2, rng, samples=samples, rho_max=rho_max)
            if pair is None:
                continue
            biased.append((zero_floor(scaled), pair[0].observed_output_error))
            unbiased.append((zero_floor(scaled), pair[1].observed_output_error))
    for colour, marker, points, label in (
            ("C0", "o", biased, f"nonzero biases ({two_layer.CONSTRUCTION.label})"),
            ("C1", "s", unbiased, zero_bias.CONSTRUCTION.label)):
        x, y = np.array(points).T
        ax_floor.plot(x, y, marker, color=colour, linestyle="none", label=label)
    every = np.array(biased + unbiased)
    lo, hi = every.min() * 0.5, every.max() * 2.0
    ax_floor.plot([lo, hi], [lo, hi], "--", color="0.2", linewidth=1.0, label="error = floor")
    ax_floor.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
                 xlabel="floor ‖f_T(0)‖∞ of the target", ylabel="observed output error",
                 title="(b) many targets, ε' = 0.01")
    ax_floor.legend(loc="upper left", fontsize=7)
    return fig
