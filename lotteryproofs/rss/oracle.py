"""Exhaustive enumeration: the independent oracle the tests compare the solvers with."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lotteryproofs import _validate
from lotteryproofs._validate import InputError

#: 2^20 subsets × 20 flags is the largest table the oracle builds (≈ 20 MiB of masks).
ORACLE_MAX_VALUES = 20


def subset_sums_brute_force(values):
    """Every subset sum and its membership mask, by plain enumeration (n ≤ 20).

    Returns ``(sums, masks)``: ``masks`` is bool (2ⁿ, n) with row c the binary digits of c
    (bit i ↔ values[i]); ``sums[c]`` is Σ values[masks[c]] accumulated in index order in
    float64, so within n·2⁻⁵³·Σ|v| of the exact sum — callers decide near-ties exactly.
    """
    values = _validate.finite_array("values", values, ndim=1)
    n = values.shape[0]
    if n > ORACLE_MAX_VALUES:
        raise InputError(
            f"brute force enumerates 2^n subsets; n = {n} exceeds {ORACLE_MAX_VALUES}"
        )
    codes = np.arange(2**n, dtype=np.int64)
    masks = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    sums = np.zeros(2**n)
    for i in range(n):
        sums = sums + np.where(masks[:, i], values[i], 0.0)
    return sums, masks


def exact_subset_error(values, indices, target) -> Fraction:
    """|target − Σ values[indices]| in exact rational arithmetic (floats are exact rationals)."""
    values = np.asarray(values, dtype=np.float64)
    total = sum((Fraction(float(v)) for v in values[np.asarray(indices, dtype=np.int64)]),
                Fraction(0))
    return abs(Fraction(float(target)) - total)


def _near_optimal(values, target, sums):
    """Enumeration rows whose float error is within the float sums' rounding of the minimum."""
    slack = 4 * (values.size + 4) * 2.0**-53 * (np.abs(values).sum() + abs(target))
    approx = np.abs(target - sums)
    return approx, slack


def brute_force_min_error(values, target, allowed=None) -> Fraction | None:
    """min over subsets S of |target − Σ_S values| (exact), or None if no subset is allowed.

    ``allowed(masks) -> bool array`` restricts the subsets (e.g. by size). Enumeration gives
    float sums; every subset within their rounding of the minimum is re-decided exactly.
    """
    values = _validate.finite_array("values", values, ndim=1)
    target = _validate.finite_scalar("target", target)
    sums, masks = subset_sums_brute_force(values)
    if allowed is not None:
        keep = np.asarray(allowed(masks), dtype=bool)
        sums, masks = sums[keep], masks[keep]
    if sums.size == 0:
        return None
    approx, slack = _near_optimal(values, target, sums)
    near = np.flatnonzero(approx <= approx.min() + 2 * slack)
    return min(exact_subset_error(values, np.flatnonzero(masks[c]), target) for c in near)


def brute_force_min_size(values, target, tol) -> int | None:
    """The smallest |S| with exact |target − Σ_S values| ≤ tol, or None if there is none."""
    values = _validate.finite_array("values", values, ndim=1)
    target = _validate.finite_scalar("target", target)
    tol = _validate.positive("tol", tol)
    sums, masks = subset_sums_brute_force(values)
    approx, slack = _near_optimal(values, target, sums)
    sizes = masks.sum(axis=1)
    near = np.flatnonzero(approx <= tol + slack)
    ok = [c for c in near
          if exact_subset_error(values, np.flatnonzero(masks[c]), target) <= Fraction(tol)]
    return int(sizes[ok].min()) if ok else None
