"""The binary64 error model: unit roundoff, directed rounding and the constants γ_n.

Every rigorous evaluation in the package (outward-rounded interval propagation, certificates)
and every rounding tolerance of a check uses the standard model of floating-point arithmetic
(Higham, *Accuracy and Stability of Numerical Algorithms*, §2.2): fl(a ∘ b) = (a ∘ b)(1 + δ),
|δ| ≤ u = 2⁻⁵³, plus an absolute error ≤ η = 2⁻¹⁰²² for an operation that underflows. This
module defines those constants once and the few primitives built on them
(proofs/certificate-soundness.md, Lemmas 1–2). It imports nothing from the package, so the
lowest layers (rss/, network) can use it.
"""

from __future__ import annotations

import contextlib
from functools import cache

import mpmath
import numpy as np

#: Unit roundoff of binary64 (round to nearest).
UNIT_ROUNDOFF = 2.0**-53
#: A bound on the absolute error of one operation that underflows (2⁻¹⁰²², the smallest
#: normal number: also covers flush-to-zero hardware).
UNDERFLOW = 2.0**-1022


@contextlib.contextmanager
def iv53():
    """mpmath.iv at 53 bits (binary64 endpoints), restoring the caller's precision."""
    iv = mpmath.iv
    old = iv.prec
    iv.prec = 53
    try:
        yield iv
    finally:
        iv.prec = old


def up(x):
    """The next float above a round-to-nearest result: ≥ the exact value of that operation."""
    return np.nextafter(x, np.inf)


def down(x):
    """The next float below a round-to-nearest result: ≤ the exact value of that operation."""
    return np.nextafter(x, -np.inf)


@cache
def gamma_upper(n: int) -> tuple[float, float]:
    """(γ_n, 1/(1 − γ_n)) rounded up, γ_n = n·u/(1 − n·u) (Higham, Lemma 3.1), computed in
    ``mpmath.iv`` at 53 bits with outward rounding."""
    n = int(n)
    with iv53() as iv:
        u = iv.mpf(2) ** -53
        nu = iv.mpf(n) * u
        if nu.b >= 1:
            raise OverflowError(f"γ_{n} is undefined: n·u ≥ 1")
        gamma = nu / (1 - nu)
        inverse = 1 / (1 - gamma)
        return float(gamma.b), float(inverse.b)


def sum_upper(terms: np.ndarray, axis: int) -> np.ndarray:
    """Upper bound of the exact sum of non-negative floats along ``axis``.

    Additions never underflow, so fl(Σ) ≥ (1 − γ_{n−1})·Σ for any summation order, hence
    Σ ≤ fl(Σ)/(1 − γ_n).
    """
    n = terms.shape[axis]
    _, inv = gamma_upper(max(n, 1))
    return up(np.sum(terms, axis=axis) * inv)


def dot_error(abs_fl: np.ndarray, n_terms: int) -> np.ndarray:
    """|fl(Σ a_i x_i) − Σ a_i x_i| ≤ γ_N·Σ|a_i x_i| + 2Nη, given fl(Σ|a_i||x_i|) (rounded)."""
    gamma, inv = gamma_upper(n_terms)
    slack = up(2.0 * n_terms * UNDERFLOW)
    exact_abs = up(up(abs_fl + slack) * inv)
    return up(up(gamma * exact_abs) + slack)
