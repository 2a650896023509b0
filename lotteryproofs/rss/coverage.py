"""Exact covering certificates: is every z ∈ [a, b] within tol of a subset sum? (THEORY.md §3)

The certificate is deterministic, not Monte Carlo. With Σ = {Σ_S v : S ⊆ {1 … n}} it decides
whether [a, b] ⊆ ⋃_{s ∈ Σ} [s − tol, s + tol], lists the maximal gaps, and computes the
covering radius r* = sup_{z ∈ [a, b]} min_{s ∈ Σ} |z − s| (rounded up to a float).

Algorithm (interval lists, "S ∪ (S + v)"). Sums are kept as *blocks*: runs of sums whose
consecutive members are at most 2τ apart, stored by their two extreme sums. Adding a value v
maps the block list L to merge(L, L + v): the two sorted lists are merged and overlapping or
touching blocks (gap ≤ 2τ) fused, so the list always describes ⋃_S [s − τ, s + τ] exactly.
Blocks none of whose descendants can end within R of [a, b] — block max + (sum of the positive
values still to come) < a − R, or block min + (negative ones to come) > b + R — are dropped:
they can change neither the cover of [a, b] nor any distance ≤ R. Cost O(n·K) with K ≤
min(2ⁿ, (b − a + 2R + Σ|v|)/(2τ) + 1) blocks.

Soundness in floating point. A block stores, for each extreme sum, a float approximation
*and* the subset (bit mask) that produces it; approximations are off by at most δ =
(n + 2)·2⁻⁵³·Σ|v|. Every decision whose float margin is below 8(n + 4)·2⁻⁵³·(Σ|v| + |a| + |b| +
2τ) (≥ 2δ plus the rounding of the comparison itself) — fuse or not, which extreme is larger,
whether a gap reaches a or b — is re-decided exactly from the masks (_exact.py, Shewchuk
summation, whose sign is exact). Pruning uses the same margin in the safe direction (a block is
dropped only if certainly irrelevant). Hence ``covered`` is the exact verdict.

Radius. If [a, b] is not covered at τ, r* > τ and r* is the largest gap half-width (or the
distance from a or b to the outermost sum), evaluated exactly from the masks and rounded up;
R starts at τ and is doubled past the found radius if a distance exceeded R (sums dropped
beyond R could then be nearer). If it is covered, r* ≤ τ and the search is repeated at τ/4,
τ/16, … until a gap appears; that run determines r* the same way.
``gaps`` are the gaps at the requested tol, their endpoints rounded outward by one ulp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit

from lotteryproofs import _validate
from lotteryproofs._limits import MAX_MASK_VALUES
from lotteryproofs._validate import InputError
from lotteryproofs.rounding import UNIT_ROUNDOFF as _U
from lotteryproofs.rss import _exact
from lotteryproofs.rss._exact import EMPTY, ONE, TWO

MAX_COVERAGE_VALUES = MAX_MASK_VALUES


@dataclass(frozen=True)
class CoverageCertificate:
    """``covered``: every z ∈ [a, b] is within tol of a subset sum (exact verdict);
    ``gaps``: (k, 2) maximal sub-intervals of [a, b] farther than tol from every subset sum
    (endpoints rounded outward); ``radius``: sup_{z ∈ [a, b]} min_S |z − Σ_S| exactly,
    rounded up to a float. The radius of a covered interval costs ~100× the verdict (it
    resolves the sums at the scale of r*), so it is computed on first access and cached."""

    covered: bool
    gaps: np.ndarray
    tol: float
    interval: tuple[float, float]
    values: np.ndarray = field(repr=False, compare=False)

    @cached_property
    def radius(self) -> float:
        return _covering_radius(self.values, self.tol, *self.interval, self.covered)


@njit(cache=True)
def _sign(values, plus, minus, c, terms, partials):
    """Exact sign of Σ_plus − Σ_minus + c."""
    consts = np.empty(1)
    consts[0] = c
    return _exact.sign_of_sums(values, plus, EMPTY, minus, EMPTY, consts, ONE, 1.0, terms, partials)


@njit(cache=True)
def _less(values, s1, m1, s2, m2, margin, terms, partials):
    """Exactly: Σ_m1 < Σ_m2 (s1, s2 their approximations)."""
    if s2 - s1 > margin:
        return True
    if s1 - s2 > margin:
        return False
    return _sign(values, m2, m1, 0.0, terms, partials) > 0


@njit(cache=True)
def _blocks(values, order, tau, a, b, reach, margin):
    """The block list after all values (see module docstring): lo_s, lo_m, hi_s, hi_m, count."""
    n = values.shape[0]
    terms, partials = _exact.scratch(n)
    pos_rest = np.zeros(n + 1)
    neg_rest = np.zeros(n + 1)
    for step in range(n - 1, -1, -1):
        v = values[order[step]]
        pos_rest[step] = pos_rest[step + 1] + max(v, 0.0)
        neg_rest[step] = neg_rest[step + 1] + min(v, 0.0)
    lo_s = np.zeros(1)
    lo_m = np.zeros(1, np.int64)
    hi_s = np.zeros(1)
    hi_m = np.zeros(1, np.int64)
    count = 1
    two_tau = 2.0 * tau
    for step in range(n):
        j = order[step]
        v = values[j]
        bit = np.int64(1) << j
        left = a - reach - pos_rest[step + 1] - margin
        right = b + reach - neg_rest[step + 1] + margin
        n_lo_s = np.empty(2 * count)
        n_lo_m = np.empty(2 * count, np.int64)
        n_hi_s = np.empty(2 * count)
        n_hi_m = np.empty(2 * count, np.int64)
        out = 0
        ia = 0
        ib = 0
        while ia < count or ib < count:
            if ib >= count or (ia < count and lo_s[ia] <= lo_s[ib] + v):
                sl, ml, sh, mh = lo_s[ia], lo_m[ia], hi_s[ia], hi_m[ia]
                ia += 1
            else:
                sl, ml, sh, mh = lo_s[ib] + v, lo_m[ib] | bit, hi_s[ib] + v, hi_m[ib] | bit
                ib += 1
            if sh < left or sl > right:
                continue
            if out > 0:
                g = sl - n_hi_s[out - 1] - two_tau
                fuse = g <= -margin
                if not fuse and g < margin:
                    fuse = _sign(values, ml, n_hi_m[out - 1], -two_tau, terms, partials) <= 0
                if fuse:
                    if _less(values, sl, ml, n_lo_s[out - 1], n_lo_m[out - 1], margin, terms,
                             partials):
                        n_lo_s[out - 1] = sl
                        n_lo_m[out - 1] = ml
                    if _less(values, n_hi_s[out - 1], n_hi_m[out - 1], sh, mh, margin, terms,
                             partials):
                        n_hi_s[out - 1] = sh
                        n_hi_m[out - 1] = mh
                    continue
            n_lo_s[out] = sl
            n_lo_m[out] = ml
            n_hi_s[out] = sh
            n_hi_m[out] = mh
            out += 1
        lo_s, lo_m, hi_s, hi_m, count = n_lo_s, n_lo_m, n_hi_s, n_hi_m, out
        if count == 0:
            break
    return lo_s[:count], lo_m[:count], hi_s[:count], hi_m[:count], count


@njit(cache=True)
def _covered(values, lo_s, lo_m, hi_s, hi_m, count, tau, a, b, margin):
    """Exactly: one block's τ-neighbourhood contains [a, b] (blocks are > 2τ apart)."""
    terms, partials = _exact.scratch(values.shape[0])
    for i in range(count):
        # Σ_lo − τ ≤ a  and  Σ_hi + τ ≥ b
        if lo_s[i] - tau - a > margin:
            return False
        if lo_s[i] - tau - a > -margin and _sign(values, lo_m[i], EMPTY, -tau - a, terms,
                                                 partials) > 0:
            continue
        if b - hi_s[i] - tau < -margin:
            return True
        if b - hi_s[i] - tau < margin and _sign(values, hi_m[i], EMPTY, tau - b, terms,
                                                partials) >= 0:
            return True
    return False


@njit(cache=True)
def _gap_value(values, p_m, q_m, has_p, has_q, a, b, terms, partials):
    """Exact sup over z ∈ [a, b] ∩ [p, q] of the distance to {p, q} (p = Σ_{p_m} is the sum
    below, q = Σ_{q_m} the sum above; a missing side is ±∞), correctly rounded, and a flag
    whether it was rounded down (so that rounding up needs one ulp). -inf if irrelevant."""
    consts = np.empty(2)
    if has_q and _sign(values, q_m, EMPTY, -a, terms, partials) <= 0:
        return -np.inf, False  # q ≤ a: the gap ends before [a, b]
    if has_p and _sign(values, p_m, EMPTY, -b, terms, partials) >= 0:
        return -np.inf, False  # p ≥ b
    if not has_p:  # z = a is farthest from q
        plus, minus, scale, c = q_m, np.int64(0), 1.0, -a
    elif not has_q:
        plus, minus, scale, c = np.int64(0), p_m, 1.0, b
    else:
        consts[0] = -2.0 * a
        if _exact.sign_of_sums(values, p_m, q_m, EMPTY, EMPTY, consts, ONE, 1.0, terms,
                               partials) < 0:
            plus, minus, scale, c = q_m, np.int64(0), 1.0, -a  # midpoint below a
        else:
            consts[0] = -2.0 * b
            if _exact.sign_of_sums(values, p_m, q_m, EMPTY, EMPTY, consts, ONE, 1.0, terms,
                                   partials) > 0:
                plus, minus, scale, c = np.int64(0), p_m, 1.0, b
            else:
                plus, minus, scale, c = q_m, p_m, 0.5, 0.0
    consts[0] = c
    r = _exact.combination(values, plus, minus, consts, ONE, scale, terms, partials)
    consts[1] = -r
    below = _exact.sign_of_sums(values, plus, EMPTY, minus, EMPTY, consts, TWO, scale, terms,
                                partials)
    return r, below > 0


@njit(cache=True)
def _radius(values, lo_s, lo_m, hi_s, hi_m, count, a, b, slack):
    """Covering radius from a block list in which [a, b] is not covered; rounded up."""
    terms, partials = _exact.scratch(values.shape[0])
    approx = np.empty(count + 1)
    for g in range(count + 1):
        p = hi_s[g - 1] if g > 0 else -np.inf
        q = lo_s[g] if g < count else np.inf
        lo_z = max(a, p)
        hi_z = min(b, q)
        if lo_z > hi_z + slack:
            approx[g] = -np.inf
            continue
        mid = 0.5 * (p + q) if g > 0 and g < count else (a if g == 0 else b)
        z = min(max(mid, lo_z), hi_z)
        approx[g] = min(z - p, q - z)
    top = approx.max()
    best = -np.inf
    bump = False
    for g in range(count + 1):
        if approx[g] < top - 4.0 * slack:
            continue
        p_m = hi_m[g - 1] if g > 0 else np.int64(0)
        q_m = lo_m[g] if g < count else np.int64(0)
        r, below = _gap_value(values, p_m, q_m, g > 0, g < count, a, b, terms, partials)
        if r > best:
            best, bump = r, below
        elif r == best:
            bump = bump or below
    return np.nextafter(best, np.inf) if bump else best


def _check(values, tol, interval):
    values = _validate.finite_array("values", values, ndim=1)
    tol = _validate.positive("tol", tol)
    try:
        a, b = interval
    except (TypeError, ValueError):
        raise InputError(f"interval must be a pair (a, b), got {interval!r}") from None
    a = _validate.finite_scalar("interval[0]", a)
    b = _validate.finite_scalar("interval[1]", b)
    if not a < b:
        raise InputError(f"interval must satisfy a < b, got ({a}, {b})")
    if not np.isfinite(float(np.abs(values).sum()) + abs(a) + abs(b)):
        raise InputError("values and interval are too large: their sums overflow float64")
    if values.shape[0] > MAX_COVERAGE_VALUES:
        raise InputError(
            f"coverage certificates take at most {MAX_COVERAGE_VALUES} values, got "
            f"{values.shape[0]}"
        )
    return values, tol, a, b


def _run(values, order, tau, a, b, reach, margin):
    n = values.shape[0]
    width = b - a + 2 * reach + 2 * float(np.abs(values).sum())
    blocks = min(2.0**n, width / (2 * tau) + 2)
    _validate.fits_in_memory(
        blocks * 32 * 3, f"coverage certificate at tol {tau:g} over {n} values"
    )
    return _blocks(values, order, tau, a, b, reach, margin)


@njit(cache=True)
def _endpoint(values, mask, c, up, terms, partials):
    """Σ_mask + c rounded up (``up``) or down, exactly."""
    consts = np.empty(2)
    consts[0] = c
    r = _exact.combination(values, mask, EMPTY, consts, ONE, 1.0, terms, partials)
    consts[1] = -r
    s = _exact.sign_of_sums(values, mask, EMPTY, EMPTY, EMPTY, consts, TWO, 1.0, terms, partials)
    if up and s > 0:
        return np.nextafter(r, np.inf)
    if not up and s < 0:
        return np.nextafter(r, -np.inf)
    return r


@njit(cache=True)
def _gaps(values, lo_s, lo_m, hi_s, hi_m, count, tau, a, b):
    """Maximal sub-intervals of [a, b] farther than τ from every sum; endpoints rounded outward.

    Gap g lies between block g − 1 (its Σ_hi + τ) and block g (its Σ_lo − τ); blocks are
    more than 2τ apart, so every inner gap is nonempty; the clipping to [a, b] is exact."""
    terms, partials = _exact.scratch(values.shape[0])
    out = np.empty((count + 1, 2))
    k = 0
    for g in range(count + 1):
        if g < count and _sign(values, lo_m[g], EMPTY, -tau - a, terms, partials) <= 0:
            continue  # block g reaches down to a: no uncovered point of [a, b] below it
        if g > 0 and _sign(values, hi_m[g - 1], EMPTY, tau - b, terms, partials) >= 0:
            break  # block g - 1 reaches up to b
        left = a
        if g > 0 and _sign(values, hi_m[g - 1], EMPTY, tau - a, terms, partials) > 0:
            left = _endpoint(values, hi_m[g - 1], tau, False, terms, partials)
        right = b
        if g < count and _sign(values, lo_m[g], EMPTY, -tau - b, terms, partials) < 0:
            right = _endpoint(values, lo_m[g], -tau, True, terms, partials)
        out[k, 0] = left
        out[k, 1] = right
        k += 1
    return out[:k].copy()


def _setup(values, tol, a, b):
    n = values.shape[0]
    order = np.argsort(-np.abs(values), kind="stable").astype(np.int64)
    scale = float(np.abs(values).sum()) + abs(a) + abs(b)
    margin = 8.0 * (n + 4) * _U * (scale + 2 * tol)
    return order, margin


def _covering_radius(values, tol, a, b, covered) -> float:
    """r* (rounded up): a run at a τ where [a, b] is not covered determines it exactly."""
    order, margin = _setup(values, tol, a, b)
    tau, reach = tol, tol
    blocks = _run(values, order, tau, a, b, reach, margin)
    while covered:  # then r* ≤ tol = reach: refine τ until a gap appears
        tau = tau / 4.0
        blocks = _run(values, order, tau, a, b, reach, margin)
        covered = _covered(values, *blocks, tau, a, b, margin)
    while True:
        if blocks[4] == 0:  # every sum dropped: none within reach of [a, b]; drop nothing
            reach = max(abs(a), abs(b)) + float(np.abs(values).sum()) + tol
        else:
            r_star = float(_radius(values, *blocks, a, b, margin))
            if r_star <= reach:
                return r_star
            reach = 2.0 * r_star  # sums dropped beyond reach might be nearer: widen
        blocks = _run(values, order, tau, a, b, reach, margin)


def coverage_certificate(values, tol, interval=(-1.0, 1.0)) -> CoverageCertificate:
    """Exact certificate that every z ∈ interval is within tol of a subset sum of values.

    See the module docstring for the algorithm, its cost and why the verdict is exact in
    floating point; the radius is computed when first read. n ≤ 62 values; memory is checked
    before allocating.
    """
    values, tol, a, b = _check(values, tol, interval)
    order, margin = _setup(values, tol, a, b)
    blocks = _run(values, order, tol, a, b, tol, margin)
    covered = bool(_covered(values, *blocks, tol, a, b, margin))
    gaps = np.empty((0, 2)) if covered else _gaps(values, *blocks, tol, a, b)
    values = values.copy()
    values.setflags(write=False)
    return CoverageCertificate(covered, gaps, tol, (a, b), values)
