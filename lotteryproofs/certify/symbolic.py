"""The linear differential bound: symbolic (linear) bounds of the target and of the difference
(THEORY.md §11; symbolic intervals as in ReluVal/Neurify, the difference's linear relaxation as
in NeuroDiff, Paulsen, Wang, Wang and Wang, ASE 2020; proofs/certificate-differential.md).

Inputs are lifted to the features u = (σ(x), σ(−x)) ∈ U = [σ(lo), σ(hi)] × [σ(−hi), σ(−lo)]
(a box containing the image of D), in which the target's first layer W x + b = W σ(x) − W σ(−x)
+ b and the difference's first layer Σ (P − w) σ(x_i) + (N + w) σ(−x_i) + (b̂ − b) are both
*linear*. Every neuron then carries a lower and an upper affine function of u:

* target, ReLU x = σ(z), z ∈ [z⁻, z⁺]: stably active x = z, stably inactive 0, otherwise
  x ≤ λ(z − z⁻) with λ ≥ z⁺/(z⁺ − z⁻) and x ≥ μz with μ ∈ {0, 1};
* difference Δ' = σ(z + Δ) − σ(z), Δ ∈ [Δ⁻, Δ⁺]: Δ' ≤ 0 if Δ⁺ ≤ 0 or ẑ⁺ ≤ 0; Δ' ≤ Δ if Δ⁻ ≥ 0
  or ẑ⁻ ≥ 0; else Δ' ≤ t(Δ − Δ⁻), t ≥ Δ⁺/(Δ⁺ − Δ⁻) (the chord of max(0, ·)); Δ' ≥ 0 if Δ⁻ ≥ 0
  or z⁺ ≤ 0; Δ' ≥ Δ if Δ⁺ ≤ 0 or z⁻ ≥ 0; else Δ' ≥ Δ⁻ + s(Δ − Δ⁻), s ≤ −Δ⁻/(Δ⁺ − Δ⁻) (the
  chord of min(0, ·));
* next layer: ẑ − z = Σ (P − w)·x_i + P·δ_i + (b̂ − b) (one copy per neuron), or with the
  interval form Σ_r V_r δ^{(r)} ∈ [a·δ⁻ − n·δ⁺, a·δ⁺ − n·δ⁻] of :mod:`certify.differential`
  where the previous layer has copies (L+1).

Every constant interval [z⁻, z⁺], [Δ⁻, Δ⁺] used in a relaxation is the intersection of the
affine bounds' range over U and the interval method's (both rigorous). Floating point: the
coefficients of each affine bound are computed by BLAS and their error (Higham, Lemma 3.1:
γ_n·|M||A|, plus the rounding of the difference and of λ) is folded into its constant as
Σ_k err_k·max|u_k|; constants are rounded outward. The result is rigorous.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lotteryproofs.network import Box, Network
from lotteryproofs.rounding import UNDERFLOW, UNIT_ROUNDOFF, dot_error, down, gamma_upper, up
from lotteryproofs.ticket import RepresentedLayer

from .bound import check_represented, rigorous_preactivation_bounds, with_scale_slack
from .differential import _later_layer_terms, _sum, layer_difference, relu_difference
from .rounding import RoundingSlack, folded_matmul_error, vector_sum_up


def _sum_up(t, axis=-1):
    gamma, _ = gamma_upper(max(t.shape[axis], 1))
    from lotteryproofs.rounding import sum_upper

    return up(np.sum(t, axis=axis) + up(gamma * sum_upper(np.abs(t), axis)))


def _sum_down(t, axis=-1):
    return -_sum_up(-t, axis)


class _Features:
    """The lifted input box U, max |u| per feature, and exact ranges over the image of D."""

    def __init__(self, box: Box):
        lo, hi = box.lower, box.upper
        self.n = box.dim
        self.lo = np.concatenate([np.maximum(lo, 0.0), np.maximum(-hi, 0.0)])
        self.hi = np.concatenate([np.maximum(hi, 0.0), np.maximum(-lo, 0.0)])
        self.umax = self.hi  # every feature is ≥ 0
        # a·σ(x) + a'·σ(−x) is piecewise linear in x with its kink at 0, so its extremes over
        # [lo, hi] are at lo, hi or 0: the range of an affine bound over the image of D (not
        # only over U, where σ(x) and σ(−x) would vary independently) is exact per coordinate
        points = np.stack([lo, hi, np.clip(0.0, lo, hi)])
        self.pos, self.neg = np.maximum(points, 0.0), np.maximum(-points, 0.0)

    def _values(self, a, rounding):
        n = self.n
        return np.stack([rounding(rounding(a[:, :n] * p) + rounding(a[:, n:] * q))
                         for p, q in zip(self.pos, self.neg, strict=True)])

    def _extremes(self, a, pick):
        """Per row, Σ_i pick_k fl(a_i p_ki + a'_i q_ki) over the points k, and a bound on
        the rounding of every one of those terms at once: each is two products and a sum,
        off by ≤ γ₂(|a_i| p_ki + |a'_i| q_ki) + 4η ≤ γ₂(|a|·umax)_i + 4η, and Σ_i of that
        is ≤ dot_error(fl(|a|·umax), 2n) (Higham, Lemma 3.1): the extreme of the exact
        terms is within that of the extreme of the float ones."""
        t = pick(self._values(a, lambda v: v), axis=0)
        err = dot_error(np.abs(a) @ self.umax, 2 * self.n)
        return t, err

    def upper(self, a, c):
        """max over x ∈ D of a·u(x) + c (rows of a), rounded up."""
        t, err = self._extremes(a, np.max)
        return up(up(_sum_up(t) + err) + c)

    def lower(self, a, c):
        t, err = self._extremes(a, np.min)
        return down(down(_sum_down(t) - err) + c)

    def fold(self, err):
        """Σ_k err_k·max|u_k| rounded up: what a coefficient error of err can change."""
        return _sum_up(up(err * self.umax))


def _combine(m, s_a, s_c, bias_lo, bias_hi, feat, upper: bool):
    """An affine bound of m·(s_a u + s_c) + bias (exact m, s_a, s_c: floats), rigorous:
    the coefficients fl(m s_a) and a constant that absorbs every rounding."""
    n = m.shape[1]
    a = m @ s_a
    # Σ_k max|u_k|·|fl(m s_a)_k − (m s_a)_k|, by matrix-vector products (Higham, Lemma 3.1)
    a_err = folded_matmul_error([(m, s_a, feat.umax)], n, vector_sum_up(feat.umax))
    const = m @ s_c + (bias_hi if upper else bias_lo)
    bias_abs = np.maximum(np.abs(bias_lo), np.abs(bias_hi))
    c_err = up(dot_error(np.abs(m) @ np.abs(s_c) + bias_abs, n + 1) + a_err)
    return a, (up(const + c_err) if upper else down(const - c_err))


def _pos_neg(m):
    return np.maximum(m, 0.0), np.minimum(m, 0.0)


def _scaled(a, c, lam, feat, upper: bool):
    """lam·(a u + c) for lam ≥ 0 per row, with the rounding of lam·a folded into c."""
    la = lam[:, None] * a
    err = up(up(np.abs(la) * (2 * UNIT_ROUNDOFF)) + UNDERFLOW)
    lc = lam * c
    fold = feat.fold(err)
    return la, (up(up(lc) + fold) if upper else down(down(lc) - fold))


def _relax_target(zlo, zhi, lo_bound, hi_bound, feat):
    """Affine bounds of x = σ(z) from those of z (module docstring)."""
    (alo, clo), (ahi, chi) = lo_bound, hi_bound
    active, inactive = zlo >= 0, zhi <= 0
    unstable = ~(active | inactive)
    lam = np.where(unstable, up(zhi / np.where(unstable, down(zhi - zlo), 1.0)), 1.0)
    shifted = np.where(unstable, up(chi - zlo), chi)
    uahi, uchi = _scaled(ahi, shifted, lam, feat, upper=True)
    mu = (active | (unstable & (zhi >= -zlo))).astype(float)
    uahi = np.where(unstable[:, None], uahi, ahi)
    uchi = np.where(unstable, uchi, chi)
    x_hi = (np.where(inactive[:, None], 0.0, uahi), np.where(inactive, 0.0, uchi))
    x_lo = (alo * mu[:, None], clo * mu)
    return x_lo, x_hi


def _difference_cases(zlo, zhi, dlo, dhi):
    """The cases of the relaxation of δ = σ(z + Δ) − σ(z) over z ∈ [zlo, zhi], Δ ∈ [dlo, dhi]
    (module docstring): upper bound 0, = Δ or the chord; lower bound 0, = Δ or the chord;
    and the chord's width dhi − dlo rounded down and up (1 where no chord is used).
    Returns (up_same, up_chord, lo_same, lo_chord, width_dn, width_up)."""
    hlo, hhi = down(zlo + dlo), up(zhi + dhi)
    up_zero = (dhi <= 0) | (hhi <= 0)
    up_same = ~up_zero & ((dlo >= 0) | (hlo >= 0))
    up_chord = ~(up_zero | up_same)
    lo_zero = (dlo >= 0) | (zhi <= 0)
    lo_same = ~lo_zero & ((dhi <= 0) | (zlo >= 0))
    lo_chord = ~(lo_zero | lo_same)
    width_dn = np.where(up_chord | lo_chord, down(dhi - dlo), 1.0)
    width_up = np.where(up_chord | lo_chord, up(dhi - dlo), 1.0)
    return up_same, up_chord, lo_same, lo_chord, width_dn, width_up


def _relax_difference(zlo, zhi, dlo, dhi, lo_bound, hi_bound, feat):
    """Affine bounds of Δ' = σ(z + Δ) − σ(z) from those of Δ (module docstring)."""
    (alo, clo), (ahi, chi) = lo_bound, hi_bound
    up_same, up_chord, lo_same, lo_chord, width_dn, width_up = _difference_cases(
        zlo, zhi, dlo, dhi)
    t = np.where(up_chord, up(dhi / width_dn), 0.0)
    ta, tc = _scaled(ahi, np.where(up_chord, up(chi - dlo), 0.0), t, feat, upper=True)
    s = np.where(lo_chord, np.maximum(down(-dlo / width_up), 0.0), 0.0)
    sa, sc = _scaled(alo, np.where(lo_chord, down(clo - dlo), 0.0), s, feat, upper=False)
    sc = down(sc + np.where(lo_chord, dlo, 0.0))
    new_hi = (np.where(up_same[:, None], ahi, np.where(up_chord[:, None], ta, 0.0)),
              np.where(up_same, chi, np.where(up_chord, tc, 0.0)))
    new_lo = (np.where(lo_same[:, None], alo, np.where(lo_chord[:, None], sa, 0.0)),
              np.where(lo_same, clo, np.where(lo_chord, sc, 0.0)))
    return new_lo, new_hi


def linear_differential_output_error(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
    *,
    pre=None,
) -> float:
    """Rigorous upper bound of sup_{x∈box} ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ by affine bounds of the
    target and of the difference over the lifted box (module docstring), rounded up."""
    check_represented(target, represented)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    feat = _Features(box)
    n0 = box.dim
    depth = target.depth
    z_bounds = []  # per layer: the tightened (zlo, zhi)
    x_bounds = []  # per hidden layer: affine bounds (lower, upper) of the post-activation
    for t, (w, b) in enumerate(zip(target.weights, target.biases, strict=True)):
        if t == 0:
            a = np.concatenate([w, -w], axis=1)  # W x = W σ(x) − W σ(−x), exact
            lo_b, hi_b = (a, b.copy()), (a, b.copy())
        else:
            x_lo, x_hi = x_bounds[-1]
            wp, wn = _pos_neg(w)
            m = np.concatenate([wp, wn], axis=1)
            hi_b = _combine(m, np.concatenate([x_hi[0], x_lo[0]]),
                            np.concatenate([x_hi[1], x_lo[1]]), b, b, feat, upper=True)
            lo_b = _combine(m, np.concatenate([x_lo[0], x_hi[0]]),
                            np.concatenate([x_lo[1], x_hi[1]]), b, b, feat, upper=False)
        zlo = np.maximum(feat.lower(*lo_b), pre[t][0])
        zhi = np.minimum(feat.upper(*hi_b), pre[t][1])
        z_bounds.append((zlo, zhi))
        if t < depth - 1:
            x_bounds.append(_relax_target(zlo, zhi, lo_b, hi_b, feat))
    # ---- the difference
    d_lo = d_hi = None  # affine bounds of δ (one copy) or None (copies: intervals below)
    delta_lo = delta_hi = None  # concrete δ intervals per previous neuron
    for t, (w, b, rep) in enumerate(zip(target.weights, target.biases, represented, strict=True)):
        copies, n_out, n_in = rep.positive.shape
        sw = np.zeros(rep.positive.shape) if slack is None else np.broadcast_to(
            slack.weights[t], rep.positive.shape)
        sb = np.zeros(rep.bias.shape) if slack is None else np.broadcast_to(
            slack.bias[t], rep.bias.shape)
        rows = copies * n_out
        db = rep.bias - b
        db_err = up(up(np.abs(db) * 2 * UNIT_ROUNDOFF) + sb).reshape(rows)
        db = db.reshape(rows)
        if t == 0:
            mp = (rep.positive - w).reshape(rows, n_in)
            mn = (rep.negative + w).reshape(rows, n_in)
            a = np.concatenate([mp, mn], axis=1)
            err = up(up(np.abs(a) * 2 * UNIT_ROUNDOFF)
                     + np.concatenate([sw, sw], axis=2).reshape(rows, 2 * n0))
            c_err = up(feat.fold(err) + db_err)
            lo_b, hi_b = (a, down(db - c_err)), (a, up(db + c_err))
        else:
            m1 = (rep.positive - w).reshape(rows, n_in)
            e1 = up(up(np.abs(m1) * 2 * UNIT_ROUNDOFF) + sw.reshape(rows, n_in))
            xmax = np.maximum(z_bounds[t - 1][1], 0.0)
            extra = _sum_up(up(e1 * xmax))  # |(P* − w) − fl(P − w)|·max x
            xl, xh = x_bounds[t - 1]
            m1p, m1n = _pos_neg(m1)
            if represented[t - 1].copies == 1:
                p = rep.positive.reshape(rows, n_in)
                pp, pn = _pos_neg(p)
                dmax = np.maximum(np.abs(delta_lo), np.abs(delta_hi))
                extra = up(extra + _sum_up(up(sw.reshape(rows, n_in) * dmax)))  # |P* − P|·|δ|
                m = np.concatenate([m1p, m1n, pp, pn], axis=1)
                s_hi = (np.concatenate([xh[0], xl[0], d_hi[0], d_lo[0]]),
                        np.concatenate([xh[1], xl[1], d_hi[1], d_lo[1]]))
                s_lo = (np.concatenate([xl[0], xh[0], d_lo[0], d_hi[0]]),
                        np.concatenate([xl[1], xh[1], d_lo[1], d_hi[1]]))
                const_lo = const_hi = np.zeros(rows)
            else:
                m = np.concatenate([m1p, m1n], axis=1)
                s_hi = (np.concatenate([xh[0], xl[0]]), np.concatenate([xh[1], xl[1]]))
                s_lo = (np.concatenate([xl[0], xh[0]]), np.concatenate([xl[1], xh[1]]))
                # Σ_r V_r δ^{(r)} as intervals (the (P − w)·x part is affine here): the
                # interval method's terms for x = 0 are exactly that sum
                zero = np.zeros(n_in)
                tlo, thi = _later_layer_terms(w, rep, slack.weights[t] if slack else 0.0,
                                              zero, zero, delta_lo, delta_hi,
                                              represented[t - 1].copies)
                clo, chi = _sum(tlo, thi, axis=2)
                const_lo, const_hi = clo.reshape(rows), chi.reshape(rows)
            blo = down(down(db - db_err) - extra) + const_lo
            bhi = up(up(db + db_err) + extra) + const_hi
            blo, bhi = down(blo), up(bhi)
            hi_b = _combine(m, *s_hi, blo, bhi, feat, upper=True)
            lo_b = _combine(m, *s_lo, blo, bhi, feat, upper=False)
        # the interval method's step on the tightened target bounds and on the δ intervals
        # this method has already intersected
        ilo, ihi = (v.reshape(rows) for v in layer_difference(
            target, box, represented, slack, z_bounds, t, delta_lo, delta_hi))
        dlo = np.maximum(feat.lower(*lo_b), ilo)
        dhi = np.minimum(feat.upper(*hi_b), ihi)
        if t == depth - 1:
            e_out = float(np.max(np.maximum(-dlo, dhi)))
            return with_scale_slack(e_out, slack, z_bounds)
        zlo = np.tile(z_bounds[t][0], copies)
        zhi = np.tile(z_bounds[t][1], copies)
        new_lo, new_hi = _relax_difference(zlo, zhi, dlo, dhi, lo_b, hi_b, feat)
        # concrete δ per copy: the affine bounds' range ∩ the case analysis of the intervals
        r_lo, r_hi = relu_difference(zlo, zhi, dlo, dhi)
        c_lo = np.maximum(feat.lower(*new_lo), r_lo).reshape(copies, n_out)
        c_hi = np.minimum(feat.upper(*new_hi), r_hi).reshape(copies, n_out)
        delta_lo, delta_hi = np.min(c_lo, axis=0), np.max(c_hi, axis=0)
        d_lo, d_hi = (new_lo, new_hi) if copies == 1 else (None, None)
    raise AssertionError("unreachable")
