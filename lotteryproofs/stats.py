"""Small statistics helpers in mpmath: Clopper–Pearson intervals, chi-square tests, means.

Used by the Monte Carlo estimates of proof constants (constants.py, proofs/constants-table.md)
and by any test that compares samples with a density. Every quantile is the root of a
regularised incomplete beta/gamma function solved by bisection in mpmath, so the limits hold to
float64 accuracy whatever the counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from lotteryproofs import _validate
from lotteryproofs._limits import MPMATH_DPS

#: Decimal digits of the mpmath computations.
DPS = MPMATH_DPS
#: Bisection stops when the bracket is this narrow relative to its ends (below float64's 2^-53).
_RELATIVE_WIDTH = mpmath.mpf(2) ** -60


def _bracket_increasing(fn, target, lo, hi) -> tuple[mpmath.mpf, mpmath.mpf]:
    """[lo, hi] containing the x with fn(x) = target for an increasing fn (bisection)."""
    lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
    for _ in range(400):  # 2^-60 relative from [0, 1] takes < 400 halvings at any magnitude
        if hi - lo <= _RELATIVE_WIDTH * hi:
            break
        mid = (lo + hi) / 2
        if fn(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _beta_continued_fraction(x, a, b, log, log1p, loggamma, exp, eps, tiny):
    """I_x(a, b) for x < (a+1)/(a+b+2) by the continued fraction DLMF 8.17.22 (modified
    Lentz), in whatever arithmetic the given functions use (float or mpmath)."""
    log_front = a * log(x) + b * log1p(-x) - (loggamma(a) + loggamma(b) - loggamma(a + b))
    c, d = 1 + 0 * x, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            delta = c * d
            h *= delta
        if abs(delta - 1) < eps:
            return exp(log_front) * h / a
    raise RuntimeError(f"incomplete beta continued fraction did not converge ({a}, {b})")


def regularized_beta(x, a, b) -> mpmath.mpf:
    """I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1.

    mpmath.betainc's hypergeometric series stalls for b ~ 10^5 (binomial counts of a Monte
    Carlo run), so this evaluates the continued fraction (DLMF 8.17.22) by the modified Lentz
    method, on the side x < (a+1)/(a+b+2) where it converges fast, using
    I_x(a, b) = 1 − I_{1−x}(b, a) otherwise.
    """
    with mpmath.workdps(DPS):
        x, a, b = mpmath.mpf(x), mpmath.mpf(a), mpmath.mpf(b)
        if x <= 0:
            return mpmath.mpf(0)
        if x >= 1:
            return mpmath.mpf(1)
        if x > (a + 1) / (a + b + 2):
            return 1 - regularized_beta(1 - x, b, a)
        return _beta_continued_fraction(x, a, b, mpmath.log, mpmath.log1p, mpmath.loggamma,
                                        mpmath.exp, mpmath.eps, mpmath.mpf(10) ** (-3 * DPS))


def _regularized_beta_float(x: float, a: float, b: float) -> float:
    """The same in float64: only used to find a bracket that mpmath then certifies."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1 - _regularized_beta_float(1 - x, b, a)
    return _beta_continued_fraction(x, a, b, math.log, math.log1p, math.lgamma, math.exp,
                                    1e-16, 1e-300)


def beta_quantile(q, a, b) -> tuple[mpmath.mpf, mpmath.mpf]:
    """A certified bracket [lo, hi] around the q-quantile of Beta(a, b), the x with
    I_x(a, b) = q: float64 bisection finds it to ~1e-15, then mpmath checks
    I_lo(a, b) < q <= I_hi(a, b) at 30 digits (widening until true), so the root lies in it."""
    lo, hi = 0.0, 1.0
    for _ in range(2000):
        if hi - lo <= 1e-15 * hi:
            break
        mid = (lo + hi) / 2
        if _regularized_beta_float(mid, float(a), float(b)) < float(q):
            lo = mid
        else:
            hi = mid
    with mpmath.workdps(DPS):
        q, a, b = mpmath.mpf(q), mpmath.mpf(a), mpmath.mpf(b)
        width = 4 * (hi - lo) + 1e-15 * hi + 1e-300
        lo_m, hi_m = mpmath.mpf(lo), mpmath.mpf(hi)
        while lo_m > 0 and regularized_beta(lo_m, a, b) >= q:
            lo_m, width = max(lo_m - width, mpmath.mpf(0)), 2 * width
        width = 4 * (hi - lo) + 1e-15 * hi + 1e-300
        while hi_m < 1 and regularized_beta(hi_m, a, b) < q:
            hi_m, width = min(hi_m + width, mpmath.mpf(1)), 2 * width
        return lo_m, hi_m


def _confidence(confidence) -> float:
    confidence = _validate.finite_scalar("confidence", confidence)
    if not 0 < confidence < 1:
        raise _validate.InputError(f"confidence must lie in (0, 1), got {confidence}")
    return confidence


def _counts(successes, trials) -> tuple[int, int]:
    trials = _validate.positive_int("trials", trials)
    successes = _validate.positive_int("successes", successes, minimum=0)
    if successes > trials:
        raise _validate.InputError(f"successes ({successes}) exceed trials ({trials})")
    return successes, trials


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """The two-sided Clopper–Pearson interval [L, U] for a binomial proportion.

    L = B⁻¹(α/2; k, n−k+1) (0 if k = 0), U = B⁻¹(1−α/2; k+1, n−k) (1 if k = n), α = 1 − conf.
    Each limit alone is a one-sided (1 − α/2) confidence bound. Returned as floats rounded
    outward from a bracket certified in mpmath (:func:`beta_quantile`), so the float interval
    contains the exact one (wider by ~1e-10 relative at most: float lgamma of 10^5 is the limit).
    """
    k, n = _counts(successes, trials)
    alpha = 1 - _confidence(confidence)
    with mpmath.workdps(DPS):
        lower = mpmath.mpf(0) if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)[0]
        upper = mpmath.mpf(1) if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k)[1]
        return _round_down(lower), _round_up(upper)


def _round_down(x) -> float:
    value = float(x)
    return math.nextafter(value, -math.inf) if mpmath.mpf(value) > x else value


def _round_up(x) -> float:
    value = float(x)
    return math.nextafter(value, math.inf) if mpmath.mpf(value) < x else value


def best_lower_limit(trials: int, confidence: float = 0.95) -> float:
    """The largest Clopper–Pearson lower limit ``trials`` can give: all successes,
    L = (α/2)^{1/n}. A level above it cannot be certified with this many trials."""
    return clopper_pearson(trials, trials, confidence)[0]


def trials_to_certify(level: float, confidence: float = 0.95) -> int:
    """The fewest trials whose all-success Clopper–Pearson lower limit reaches ``level``:
    the least n with (α/2)^{1/n} >= level, i.e. n = ⌈ln(α/2)/ln(level)⌉ (checked exactly)."""
    level = _validate.open_unit("level", level)
    alpha = 1 - _confidence(confidence)
    with mpmath.workdps(DPS):
        n = max(1, int(mpmath.ceil(mpmath.log(alpha / 2) / mpmath.log(level))))
    while best_lower_limit(n, confidence) < level:
        n += 1
    while n > 1 and best_lower_limit(n - 1, confidence) >= level:
        n -= 1
    return n


# ---------------------------------------------------------------------- chi-square
def chi_square_critical(dof: int, alpha: float) -> float:
    """x with P(χ²_dof > x) = alpha (upper quantile of the chi-square law, mpmath)."""
    dof = _validate.positive_int("dof", dof)
    alpha = _validate.open_unit("alpha", alpha)
    with mpmath.workdps(DPS):
        k = mpmath.mpf(dof) / 2

        def cdf(x):
            return mpmath.gammainc(k, 0, x / 2, regularized=True)

        hi = mpmath.mpf(dof) + 20 * mpmath.sqrt(2 * dof) + 200
        lo, hi = _bracket_increasing(cdf, 1 - mpmath.mpf(alpha), 0, hi)
        return float((lo + hi) / 2)


def _to_mpf(value) -> mpmath.mpf:
    """An exact Fraction, an int, a float or an mpf as an mpf at the working precision."""
    with mpmath.workdps(DPS):
        if isinstance(value, Fraction):
            return mpmath.mpf(value.numerator) / value.denominator
        return mpmath.mpf(value)


@dataclass(frozen=True)
class ChiSquare:
    """A chi-square goodness-of-fit test: statistic, critical value, degrees of freedom."""

    statistic: float
    critical: float
    dof: int
    alpha: float

    @property
    def passed(self) -> bool:
        return self.statistic <= self.critical


def chi_square_test(counts, probabilities, alpha: float = 1e-6) -> ChiSquare:
    """Pearson's test of observed bin ``counts`` against bin ``probabilities`` (summing to 1).

    Bins with expected count below 5 make the χ² approximation poor; they are refused. The
    tolerance is the (1 − alpha) quantile of χ²_{bins−1}, so it scales with the sample size.
    """
    counts = [int(c) for c in counts]
    probabilities = [_to_mpf(p) for p in probabilities]
    if len(counts) != len(probabilities) or len(counts) < 2:
        raise _validate.InputError("counts and probabilities need the same length >= 2")
    total = sum(counts)
    with mpmath.workdps(DPS):
        mass = mpmath.fsum(probabilities)
        if abs(mass - 1) > mpmath.mpf(10) ** -9:
            raise _validate.InputError(f"bin probabilities sum to {float(mass)}, not 1")
        expected = [total * p for p in probabilities]
        if min(expected) < 5:
            raise _validate.InputError(
                f"a bin expects {float(min(expected)):.2f} < 5 samples; merge bins or sample more"
            )
        statistic = mpmath.fsum((c - e) ** 2 / e for c, e in zip(counts, expected, strict=True))
    dof = len(counts) - 1
    return ChiSquare(float(statistic), chi_square_critical(dof, alpha), dof, alpha)


# ---------------------------------------------------------------------- means
def mean_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): the normal-approximation interval mean ± z·s/√n (large n).

    z is the (1 + conf)/2 standard normal quantile, computed with mpmath.
    """
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        raise _validate.InputError(f"need at least 2 values for a mean interval, got {n}")
    conf = _confidence(confidence)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    with mpmath.workdps(DPS):
        zq = float(mpmath.sqrt(2) * mpmath.erfinv(conf))
    half = zq * math.sqrt(var / n)
    return mean, mean - half, mean + half
