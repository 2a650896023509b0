"""Statistics helpers: Clopper–Pearson limits, incomplete beta, chi-square, mean intervals.

Expected values are independent: exact binomial tail sums (mpmath with integer binomials),
mpmath's own betainc on small parameters, closed forms of the χ² law for 1 and 2 degrees of
freedom, and the exact coverage probability of the interval procedure.
"""

import math
from statistics import NormalDist

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.stats import (
    best_lower_limit,
    chi_square_critical,
    chi_square_test,
    clopper_pearson,
    mean_interval,
    regularized_beta,
    trials_to_certify,
)


def _tail_at_least(k, n, p):
    """P(Binomial(n, p) >= k), summed exactly term by term in mpmath."""
    with mpmath.workdps(50):
        p = mpmath.mpf(p)
        return mpmath.fsum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


@settings(max_examples=25)
@given(n=st.integers(1, 100), data=st.data())
def test_clopper_pearson_limits_solve_the_binomial_tail_equations(n, data):
    """L: P(Bin(n, L) >= k) = α/2;  U: P(Bin(n, U) <= k) = α/2 (α = 0.05)."""
    k = data.draw(st.integers(0, n))
    lower, upper = clopper_pearson(k, n)
    assert 0 <= lower <= k / n <= upper <= 1
    if k > 0:
        assert abs(_tail_at_least(k, n, lower) - mpmath.mpf("0.025")) < 1e-12
    else:
        assert lower == 0
    if k < n:
        assert abs(1 - _tail_at_least(k + 1, n, upper) - mpmath.mpf("0.025")) < 1e-12
    else:
        assert upper == 1


@pytest.mark.parametrize("n", [10, 23])
def test_clopper_pearson_covers_at_least_the_confidence(n):
    """Exact coverage Σ_k P(k) 1[p ∈ CI(k)] >= 0.95 for p on a grid (the CP guarantee)."""
    intervals = [clopper_pearson(k, n) for k in range(n + 1)]
    for i in range(1, 30):
        p = i / 30
        with mpmath.workdps(30):
            pm = mpmath.mpf(p)
            cover = mpmath.fsum(math.comb(n, k) * pm**k * (1 - pm) ** (n - k)
                                for k in range(n + 1) if intervals[k][0] <= p <= intervals[k][1])
        assert cover >= 0.95 - 1e-12


def test_clopper_pearson_large_counts_against_the_tail_sum():
    lower, upper = clopper_pearson(400, 100_000)
    with mpmath.workdps(30):
        # 1 − P(Bin >= 401) = P(Bin <= 400) at U must be α/2; the sum over j <= 400 is short
        u = mpmath.mpf(upper)
        below = mpmath.fsum(mpmath.binomial(100_000, j) * u**j * (1 - u) ** (100_000 - j)
                            for j in range(401))
        assert abs(below - mpmath.mpf("0.025")) < 1e-9
        low = mpmath.mpf(lower)
        below_l = mpmath.fsum(mpmath.binomial(100_000, j) * low**j * (1 - low) ** (100_000 - j)
                              for j in range(400))
        assert abs(1 - below_l - mpmath.mpf("0.025")) < 1e-9


@settings(max_examples=40)
@given(x=st.floats(0.001, 0.999), a=st.floats(0.5, 30), b=st.floats(0.5, 30))
def test_regularized_beta_matches_mpmath_on_small_parameters(x, a, b):
    with mpmath.workdps(30):
        expected = mpmath.betainc(a, b, 0, x, regularized=True)
        assert abs(regularized_beta(x, a, b) - expected) < 1e-20


def test_all_successes_limit_and_trials_to_certify():
    with mpmath.workdps(30):
        assert abs(best_lower_limit(500) - mpmath.mpf("0.025") ** (mpmath.mpf(1) / 500)) < 1e-15
    for level in (0.9, 0.99, 0.999):
        n = trials_to_certify(level)
        assert best_lower_limit(n) >= level > best_lower_limit(n - 1)


def test_chi_square_critical_closed_forms():
    for alpha in (0.05, 1e-3, 1e-6):
        assert math.isclose(chi_square_critical(2, alpha), -2 * math.log(alpha), rel_tol=1e-12)
        with mpmath.workdps(30):
            z = mpmath.sqrt(2) * mpmath.erfinv(1 - mpmath.mpf(alpha))
        assert math.isclose(chi_square_critical(1, alpha), float(z**2), rel_tol=1e-12)


def test_chi_square_test_accepts_and_rejects():
    assert chi_square_test([100, 100, 100, 100], [0.25] * 4).passed
    assert not chi_square_test([160, 80, 80, 80], [0.25] * 4, alpha=1e-3).passed
    with pytest.raises(InputError, match="expects"):
        chi_square_test([1, 1], [0.5, 0.5])
    with pytest.raises(InputError, match="sum to"):
        chi_square_test([10, 10], [0.5, 0.6])


def test_mean_interval_normal_quantile():
    values = [0.0, 1.0] * 50
    mean, lo, hi = mean_interval(values)
    sd = math.sqrt(sum((v - 0.5) ** 2 for v in values) / 99)
    assert mean == 0.5
    assert math.isclose(hi - mean, NormalDist().inv_cdf(0.975) * sd / 10, rel_tol=1e-12)
    assert math.isclose(mean - lo, hi - mean)


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="exceed"):
        clopper_pearson(5, 4)
    with pytest.raises(InputError, match="confidence"):
        clopper_pearson(1, 4, confidence=1.0)
    with pytest.raises(InputError, match="trials"):
        clopper_pearson(0, 0)
    with pytest.raises(InputError, match="level"):
        trials_to_certify(1.0)
    with pytest.raises(InputError, match="at least 2"):
        mean_interval([1.0])
