"""The differential bound: intervals of the *difference* ticket − target, neuron by neuron
(THEORY.md §11; ReluDiff, Paulsen, Wang and Wang, ICSE 2020; proofs/certificate-differential.md).

For copy c of target neuron j of layer l, with the represented layers of the ticket
(``construct.represented_layers``) and δ_i = x̂_i − x_i the difference of the post-activations
of layer l − 1 (one interval [δ⁻_i, δ⁺_i] for all copies of neuron i),

    layer 1:  ẑ − z = Σ_i (P − w)·σ(x_i) + (N + w)·σ(−x_i) + (b̂ − b)        (x in the box)
    layer ≥2: ẑ − z = Σ_i (P − w)·x_i + Σ_{r} V_r δ_i^{(r)} + (b̂ − b),
              Σ_r V_r δ^{(r)} ∈ [a·δ⁻ − n·δ⁺, a·δ⁺ − n·δ⁻],  a = (G + P)/2, n = (G − P)/2,

with x_i ∈ [σ(z⁻_i), σ(z⁺_i)] the target's rigorous bounds and G ≥ Σ_r|V_r| (|P| for one
copy). Every sum is an interval; the difference after a ReLU, Δ' = σ(z + Δ) − σ(z), is
bounded from both networks' pre-activation intervals (z ∈ [z⁻, z⁺], ẑ = z + Δ ∈ [z⁻ + Δ⁻,
z⁺ + Δ⁺]) by the intersection of

    always           [min(0, Δ⁻), max(0, Δ⁺)]  ∩  [σ(ẑ⁻) − σ(z⁺), σ(ẑ⁺) − σ(z⁻)]
    z ≥ 0 (stable)   Δ' = max(Δ, −z)  ∈ [max(Δ⁻, −z⁺), max(Δ⁺, −z⁻)]
    ẑ ≥ 0 (stable)   Δ' = min(Δ, ẑ)   ∈ [min(Δ⁻, ẑ⁻), min(Δ⁺, ẑ⁺)]

(both stably active: Δ' = Δ; both inactive: 0). The output bound is max |Δ| of the last
layer, plus Λ's rounding (``bound.with_scale_slack``). Rounding: every elementwise operation
is rounded outward (``rounding.up``/``down``), every sum of n signed terms widened by
γ_n·Σ|t| (Higham, Lemma 3.1), the read-back's rounding ``RoundingSlack`` added to P, N, G
and b̂. :func:`differential_output_error_iv` is the same method in pure ``mpmath.iv``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import mpmath
import numpy as np

from lotteryproofs.network import Box, Network
from lotteryproofs.propagation import MPMATH_IV
from lotteryproofs.rounding import down, gamma_upper, sum_upper, up
from lotteryproofs.ticket import RepresentedLayer

from .bound import (
    check_represented,
    rigorous_preactivation_bounds,
    with_scale_slack,
)
from .rounding import RoundingSlack


# ===================================================================== float, outward
def _mul(alo, ahi, blo, bhi):
    """[lo, hi] ⊇ {a·b : a ∈ [alo, ahi], b ∈ [blo, bhi]} (each product rounded outward)."""
    p = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
    return down(np.minimum.reduce(p)), up(np.maximum.reduce(p))


def _sum(tlo, thi, axis):
    """[lo, hi] ∋ the exact sums of the terms' exact values along ``axis``: any summation
    order errs by at most γ_n·Σ|t| (additions never underflow)."""
    gamma, _ = gamma_upper(max(tlo.shape[axis], 1))
    err_lo = up(gamma * sum_upper(np.abs(tlo), axis))
    err_hi = up(gamma * sum_upper(np.abs(thi), axis))
    return down(np.sum(tlo, axis=axis) - err_lo), up(np.sum(thi, axis=axis) + err_hi)


def _diff(a, b, s):
    """[lo, hi] ∋ a* − b for every exact a* with |a* − a| ≤ s (a, b floats)."""
    return down(down(a - b) - s), up(up(a - b) + s)


def relu_difference(zlo, zhi, dlo, dhi, *, lower=down, upper=up):
    """Bounds of σ(z + Δ) − σ(z) for z ∈ [zlo, zhi], Δ ∈ [dlo, dhi] (σ = ReLU): the
    intersection of the module docstring's cases. ``lower``/``upper`` round the sums
    (float: one ulp outward; identity for exact or interval endpoints)."""
    hlo, hhi = lower(zlo + dlo), upper(zhi + dhi)
    lo = np.maximum(np.minimum(0.0, dlo), lower(np.maximum(hlo, 0.0) - np.maximum(zhi, 0.0)))
    hi = np.minimum(np.maximum(0.0, dhi), upper(np.maximum(hhi, 0.0) - np.maximum(zlo, 0.0)))
    active = zlo >= 0
    lo = np.where(active, np.maximum(lo, np.maximum(dlo, -zhi)), lo)
    hi = np.where(active, np.minimum(hi, np.maximum(dhi, -zlo)), hi)
    active_hat = hlo >= 0
    lo = np.where(active_hat, np.maximum(lo, np.minimum(dlo, hlo)), lo)
    hi = np.where(active_hat, np.minimum(hi, np.minimum(dhi, hhi)), hi)
    return lo, hi


def _first_layer_terms(box, w, rep, sw):
    """Per (c, j, i): (P − w)·σ(x_i) + (N + w)·σ(−x_i) over x_i ∈ [lo_i, hi_i]."""
    lo, hi = box.lower, box.upper
    has_pos, has_neg = hi > 0, lo < 0
    plo, phi = _diff(rep.positive, w, sw)
    p_lo, p_hi = _mul(plo, phi, np.maximum(lo, 0.0), np.maximum(hi, 0.0))
    nlo, nhi = _diff(rep.negative, -w, sw)
    n_lo, n_hi = _mul(nlo, nhi, np.maximum(-hi, 0.0), np.maximum(-lo, 0.0))
    inf = np.inf
    tlo = np.minimum(np.where(has_pos, p_lo, inf), np.where(has_neg, n_lo, inf))
    thi = np.maximum(np.where(has_pos, p_hi, -inf), np.where(has_neg, n_hi, -inf))
    neither = ~(has_pos | has_neg)
    return np.where(neither, 0.0, tlo), np.where(neither, 0.0, thi)


def _gain(rep: RepresentedLayer, previous_copies: int) -> np.ndarray:
    """G ≥ Σ_r |V_r|: |P| when the previous layer has one copy per neuron (the entry is
    P·x̂), else the represented gain (Σ_{r∈S}|v_r| for L+1), never below |P|."""
    if previous_copies == 1:
        return np.abs(rep.positive)
    return np.maximum(rep.gain, np.abs(rep.positive))


def _later_layer_terms(w, rep, sw, xlo, xhi, dlo, dhi, previous_copies):
    """Per (c, j, i): (P − w)·x_i + Σ_r V_r δ_i^{(r)} (module docstring), outward."""
    plo, phi = _diff(rep.positive, w, sw)
    a_lo, a_hi = _mul(plo, phi, xlo, xhi)
    g = up(_gain(rep, previous_copies) + sw)
    p_lo, p_hi = down(rep.positive - sw), up(rep.positive + sw)
    # a = (G + P)/2 ≥ 0 and n = (G − P)/2 ≥ 0 for every P* in [p_lo, p_hi] (G ≥ |P*|);
    # a·δ⁺ − n·δ⁻ is increasing in G, so the largest G is the bound, P* its interval.
    s_lo, s_hi = _mul(down(down(g + p_lo) * 0.5), up(up(g + p_hi) * 0.5), dlo, dhi)
    m_lo, m_hi = _mul(down(down(g - p_hi) * 0.5), up(up(g - p_lo) * 0.5), dlo, dhi)
    # Σ V δ ∈ [min a·δ − max n·δ, max a·δ − min n·δ] (a, n ≥ 0 scale the interval of δ)
    return down(down(a_lo + s_lo) - m_hi), up(up(a_hi + s_hi) - m_lo)


def layer_difference(target, box, represented, slack, pre, t, dlo, dhi):
    """(lo, hi) of shape (copies, out) ∋ ẑ − z at layer t (0-based), given [dlo, dhi] ∋ every
    copy's δ of layer t − 1 (unused at t = 0) and the target's bounds ``pre``."""
    w, b, rep = target.weights[t], target.biases[t], represented[t]
    sw = 0.0 if slack is None else slack.weights[t]
    sb = 0.0 if slack is None else slack.bias[t]
    if t == 0:
        tlo, thi = _first_layer_terms(box, w, rep, sw)
    else:
        zlo, zhi = pre[t - 1]
        tlo, thi = _later_layer_terms(
            w, rep, sw, np.maximum(zlo, 0.0), np.maximum(zhi, 0.0), dlo, dhi,
            represented[t - 1].copies,
        )
    slo, shi = _sum(tlo, thi, axis=2)
    blo, bhi = _diff(rep.bias, b, sb)
    return down(slo + blo), up(shi + bhi)


def differential_intervals(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
    *,
    pre=None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer, (lo, hi) of shape (copies, out) ∋ ẑ_cj − z_j for every x in the box."""
    check_represented(target, represented)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    out = []
    dlo = dhi = None
    for t in range(target.depth):
        d_lo, d_hi = layer_difference(target, box, represented, slack, pre, t, dlo, dhi)
        out.append((d_lo, d_hi))
        if t < target.depth - 1:
            zlo, zhi = pre[t]
            r_lo, r_hi = relu_difference(zlo, zhi, d_lo, d_hi)
            dlo, dhi = np.min(r_lo, axis=0), np.max(r_hi, axis=0)
    return out


def differential_output_error(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
    *,
    pre=None,
) -> float:
    """Rigorous upper bound of sup_{x∈box} ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ by the differential
    intervals (proofs/certificate-differential.md), rounded up."""
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    d_lo, d_hi = differential_intervals(target, box, represented, slack, pre=pre)[-1]
    e_out = float(np.max(np.maximum(-d_lo, d_hi)))
    return with_scale_slack(e_out, slack, pre)


# ===================================================================== pure mpmath.iv
def differential_output_error_iv(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
    *,
    prec: int = 113,
) -> float:
    """:func:`differential_output_error` evaluated entirely in ``mpmath.iv`` (slow; small
    nets): the same formulas, each sum an interval sum, each endpoint outward-rounded, the
    target's interval bounds included. At the default 113 bits this encloses the method's
    exact real value to ~1e-33 relative, so the float bound (an upper bound of that value)
    must be ≥ it; at 53 bits every operation's outward ulp can exceed the float path's
    γ_n-term and the comparison would not be one of soundness."""
    check_represented(target, represented)
    with _iv_precision(prec) as iv:
        def I(lo, hi=None):  # noqa: E743 (an interval constructor)
            return iv.mpf([lo, lo if hi is None else hi])

        def mul(a, b):
            return a * b

        xs = [iv.mpf([float(a), float(c)]) for a, c in zip(box.lower, box.upper, strict=True)]
        zs: list = []
        target.propagate(xs, MPMATH_IV, pre=zs)
        pre = [([z.a for z in layer], [z.b for z in layer]) for layer in zs]
        prev = None
        for t, (w, b, rep) in enumerate(
            zip(target.weights, target.biases, represented, strict=True)
        ):
            n_out, n_in = w.shape
            layer = [[None] * n_out for _ in range(rep.copies)]
            for c in range(rep.copies):
                for j in range(n_out):
                    total = I(0)
                    for i in range(n_in):
                        sw = 0.0 if slack is None else float(slack.weights[t][c, j, i])
                        s = I(-sw, sw)
                        dp = I(float(rep.positive[c, j, i])) - I(float(w[j, i])) + s
                        if t == 0:
                            lo, hi = float(box.lower[i]), float(box.upper[i])
                            parts = []
                            if hi > 0:
                                parts.append(mul(dp, I(max(lo, 0.0), hi)))
                            if lo < 0:
                                dn = I(float(rep.negative[c, j, i])) + I(float(w[j, i])) + s
                                parts.append(mul(dn, I(max(-hi, 0.0), -lo)))
                            term = (I(min(p.a for p in parts), max(p.b for p in parts))
                                    if parts else I(0))
                        else:
                            zlo, zhi = pre[t - 1][0][i], pre[t - 1][1][i]
                            x = I(max(zlo, 0), max(zhi, 0))
                            p = float(rep.positive[c, j, i])
                            if represented[t - 1].copies == 1:
                                g = abs(p)
                            else:
                                g = max(float(rep.gain[c, j, i]), abs(p))
                            g = I(g) + I(sw)
                            p_int = I(p) + s
                            a = (g + p_int) / 2
                            n = (g - p_int) / 2
                            d = prev[i]
                            sa, sn = mul(a, d), mul(n, d)
                            term = mul(dp, x) + (sa - sn)
                        total = total + term
                    sb = 0.0 if slack is None else float(slack.bias[t][c, j])
                    total = total + I(float(rep.bias[c, j])) - I(float(b[j])) + I(-sb, sb)
                    layer[c][j] = total
            if t < target.depth - 1:
                prev = []
                for j in range(n_out):
                    zlo, zhi = pre[t][0][j], pre[t][1][j]
                    lo_j = hi_j = None
                    for c in range(rep.copies):
                        d = layer[c][j]
                        lo, hi = _relu_difference_iv(iv, zlo, zhi, d.a, d.b)
                        lo_j = lo if lo_j is None else min(lo_j, lo)
                        hi_j = hi if hi_j is None else max(hi_j, hi)
                    prev.append(I(lo_j, hi_j))
            else:
                e = max(max(-d.a, d.b) for row in layer for d in row)
        e_out = I(e)
        if slack is not None and slack.scale > 0:
            lo, hi = pre[-1]
            f_max = max(max(abs(v) for v in lo), max(abs(v) for v in hi))
            e_out = e_out + I(float(slack.scale)) * (I(f_max) + e_out)
        return float(e_out.b)


@contextlib.contextmanager
def _iv_precision(prec: int):
    """mpmath.iv at ``prec`` bits, restoring the caller's precision."""
    iv = mpmath.iv
    old = iv.prec
    iv.prec = int(prec)
    try:
        yield iv
    finally:
        iv.prec = old


def _relu_difference_iv(iv, zlo, zhi, dlo, dhi):
    """:func:`relu_difference` for one neuron with mpmath endpoints (sums outward)."""
    hlo = (iv.mpf(zlo) + iv.mpf(dlo)).a
    hhi = (iv.mpf(zhi) + iv.mpf(dhi)).b
    lo = max(min(0, dlo), (iv.mpf(max(hlo, 0)) - iv.mpf(max(zhi, 0))).a)
    hi = min(max(0, dhi), (iv.mpf(max(hhi, 0)) - iv.mpf(max(zlo, 0))).b)
    if zlo >= 0:
        lo, hi = max(lo, max(dlo, -zhi)), min(hi, max(dhi, -zlo))
    if hlo >= 0:
        lo, hi = max(lo, min(dlo, hlo)), min(hi, min(dhi, hhi))
    return lo, hi
