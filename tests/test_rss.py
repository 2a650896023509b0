"""The RSS engine against exhaustive enumeration, decided in exact arithmetic (issue 2).

The oracle (lotteryproofs.rss.oracle) is independent of the engine: every subset is enumerated
(``subset_sums_brute_force``), near-optimal candidates are re-checked with ``math.fsum`` and
``fractions.Fraction`` (not the engine's compiled summation), and "equal" means the exactly
recomputed errors are equal.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import draw_pool as draw_values

from lotteryproofs import _validate
from lotteryproofs._validate import InputError
from lotteryproofs.rss import (
    _exact,
    brute_force_min_error,
    brute_force_min_size,
    closest_subset_sum,
    closest_subset_sum_batch,
    coverage_certificate,
    exact_subset_error,
    fixed_size_subset_sum,
    fixed_size_subset_sum_batch,
    sparsest_subset_sum,
    sparsest_subset_sum_batch,
    subset_sums_brute_force,
)
from lotteryproofs.rss._search import prefix_start

LAWS = ("uniform", "normal", "product", "grid")




# ------------------------------------------------------------------ the oracle
# exhaustive enumeration re-decided in Fraction (lotteryproofs.rss.oracle), engine-independent
exact_error = exact_subset_error
oracle_min_error = brute_force_min_error
oracle_min_size = brute_force_min_size


def rounded(x: Fraction) -> float:
    return float(x)  # Fraction → float rounds to nearest


def check_result(values, target, result):
    """The reported value/error are the exact ones, correctly rounded."""
    idx = result.indices
    assert np.all(np.diff(idx) > 0) and result.n_used <= values.size
    assert result.value == math.fsum(values[idx])
    assert result.error == rounded(exact_error(values, idx, target))


instances = st.tuples(
    st.sampled_from(LAWS),
    st.integers(1, 14),
    st.integers(0, 2**32 - 1),
    st.floats(-3, 3, allow_nan=False),
    st.booleans(),
)


def make(instance):
    law, n, seed, target, exact_target = instance
    values = draw_values(law, n, seed)
    if exact_target:  # a target that some subset hits exactly (and often several)
        target = float(values[:: 2].sum())
    return values, target


# ------------------------------------------------------------------ exact summation
@given(st.lists(st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False), max_size=40))
def test_compiled_fsum_is_math_fsum(xs):
    terms = np.array(xs, dtype=float)
    try:
        expected = math.fsum(xs)
    except OverflowError:
        return  # intermediate overflow: CPython raises; the engine never sums such magnitudes
    assert _exact.fsum(terms, terms.size, np.empty(terms.size + 2)) == expected


# ------------------------------------------------------------------ solvers vs oracle
@settings(max_examples=60)
@given(instances)
def test_closest_error_equals_oracle(instance):
    values, target = make(instance)
    result = closest_subset_sum(values, target)
    check_result(values, target, result)
    assert result.feasible and result.n_used == values.size
    assert result.error == rounded(oracle_min_error(values, target))
    assert exact_error(values, result.indices, target) == oracle_min_error(values, target)


@settings(max_examples=6)
@given(st.sampled_from(LAWS[:3]), st.integers(15, 18), st.integers(0, 2**32 - 1),
       st.floats(-2, 2))
def test_closest_error_equals_oracle_up_to_18_values(law, n, seed, target):
    values = draw_values(law, n, seed)
    result = closest_subset_sum(values, target)
    check_result(values, target, result)
    assert exact_error(values, result.indices, target) == oracle_min_error(values, target)


@settings(max_examples=60)
@given(instances, st.floats(1e-4, 0.5))
def test_sparsest_has_oracle_minimal_cardinality(instance, tol):
    values, target = make(instance)
    result = sparsest_subset_sum(values, target, tol)
    check_result(values, target, result)
    k = oracle_min_size(values, target, tol)
    if k is None:
        assert not result.feasible
        assert exact_error(values, result.indices, target) == oracle_min_error(values, target)
    else:
        assert result.feasible and result.indices.size == k
        assert exact_error(values, result.indices, target) <= Fraction(tol)
        # ties in cardinality are broken by the smaller error
        best_k = oracle_min_error(values, target, lambda m: m.sum(axis=1) == k)
        assert exact_error(values, result.indices, target) == best_k


@settings(max_examples=30)
@given(instances, st.floats(1e-6, 0.5), st.integers(0, 4))
def test_sparsest_respects_max_size(instance, tol, max_size):
    values, target = make(instance)
    max_size = min(max_size, values.size)
    result = sparsest_subset_sum(values, target, tol, max_size=max_size)
    assert result.indices.size <= max_size
    small = oracle_min_error(values, target, lambda m: m.sum(axis=1) <= max_size)
    k = oracle_min_size(values, target, tol)
    if k is not None and k <= max_size:
        assert result.feasible and result.indices.size == k
    else:  # infeasible: says so, with the closest subset among the allowed sizes
        assert not result.feasible
        assert exact_error(values, result.indices, target) == small


@settings(max_examples=50)
@given(instances, st.integers(0, 14))
def test_fixed_size_equals_oracle(instance, size):
    values, target = make(instance)
    size = size % (values.size + 1)
    result = fixed_size_subset_sum(values, target, size)
    check_result(values, target, result)
    assert result.indices.size == size
    best = oracle_min_error(values, target, lambda m: m.sum(axis=1) == size)
    assert exact_error(values, result.indices, target) == best


def test_feasibility_is_decided_exactly_at_the_boundary():
    values = np.array([0.1, 0.2, 0.7])
    target = 0.3
    error = exact_error(values, np.array([0, 1]), target)  # 0.1 + 0.2 is not 0.3 exactly
    assert error > 0
    tol_below = float(error)
    if Fraction(tol_below) >= error:
        tol_below = float(np.nextafter(tol_below, 0))
    tol_above = float(np.nextafter(float(error), 1)) if Fraction(float(error)) < error else float(
        error
    )
    assert sparsest_subset_sum(values, target, tol_above).feasible
    below = sparsest_subset_sum(values, target, tol_below)
    assert not below.feasible or exact_error(values, below.indices, target) <= Fraction(tol_below)


# ------------------------------------------------------------------ prefix strategy
@settings(max_examples=30)
@given(st.sampled_from(LAWS[:3]), st.integers(0, 2**32 - 1), st.floats(-1, 1),
       st.floats(1e-3, 0.1))
def test_prefix_strategy_uses_the_first_sufficient_prefix(law, seed, target, tol):
    values = draw_values(law, 18, seed)
    for solve in (sparsest_subset_sum, lambda v, t, e, prefix: closest_subset_sum(
            v, t, tol=e, prefix=prefix)):
        result = solve(values, target, tol, prefix=True)
        m = result.n_used
        assert m >= prefix_start(tol, values.size) or m == values.size
        assert result.indices.size == 0 or result.indices.max() < m
        assert result.feasible == (oracle_min_size(values[:m], target, tol) is not None)
        if m > prefix_start(tol, values.size):  # the previous prefix had no subset within tol
            assert oracle_min_size(values[: m - 2], target, tol) is None
    sparse = sparsest_subset_sum(values, target, tol, prefix=True)
    if sparse.feasible:
        assert sparse.indices.size == oracle_min_size(values[: sparse.n_used], target, tol)


def test_max_values_limits_the_search():
    values = draw_values("uniform", 16, 3)
    result = closest_subset_sum(values, 0.123, max_values=9)
    assert result.n_used == 9 and (result.indices.size == 0 or result.indices.max() < 9)
    assert exact_error(values, result.indices, 0.123) == oracle_min_error(values[:9], 0.123)


# ------------------------------------------------------------------ batches
@settings(max_examples=15)
@given(st.sampled_from(LAWS), st.integers(0, 2**32 - 1), st.floats(1e-4, 0.2))
def test_batched_equals_one_by_one(law, seed, tol):
    rng = np.random.default_rng(seed)
    b, n = 7, 13
    values = draw_values(law, b * n, seed).reshape(b, n)
    lengths = rng.integers(1, n + 1, b)
    lengths[0] = n
    values[np.arange(n)[None, :] >= lengths[:, None]] = 0.0  # padding is ignored
    targets = rng.uniform(-2, 2, b)
    batches = {
        "closest": closest_subset_sum_batch(values, targets, lengths=lengths),
        "sparsest": sparsest_subset_sum_batch(values, targets, tol, lengths=lengths, max_size=5),
        "fixed": fixed_size_subset_sum_batch(values, targets, 1, lengths=lengths),
    }
    for i in range(b):
        row = values[i, : lengths[i]]
        singles = {
            "closest": closest_subset_sum(row, targets[i]),
            "sparsest": sparsest_subset_sum(row, targets[i], tol, max_size=5),
            "fixed": fixed_size_subset_sum(row, targets[i], 1),
        }
        for mode, single in singles.items():
            batch = batches[mode]
            assert not batch.chosen[i, lengths[i]:].any()
            np.testing.assert_array_equal(np.flatnonzero(batch.chosen[i]), single.indices)
            assert batch.value[i] == single.value and batch.error[i] == single.error
            assert batch.feasible[i] == single.feasible
            assert batch.size[i] == single.indices.size
            assert batch.n_used[i] == single.n_used


def test_batch_tolerance_per_row():
    values = np.tile(draw_values("uniform", 12, 5), (2, 1))
    result = sparsest_subset_sum_batch(values, np.array([0.3, 0.3]), np.array([1e-1, 1e-4]))
    assert result.size[0] <= result.size[1]


# ------------------------------------------------------------------ coverage certificates
def oracle_coverage(values, tol, a, b):
    """Exact covering radius and gaps from all 2ⁿ sums in Fractions."""
    fv = [Fraction(float(v)) for v in values]
    den = max(f.denominator for f in fv)  # powers of two: every sum is an integer / den
    ints = [0]
    for f in fv:
        ints = ints + [s + f.numerator * (den // f.denominator) for s in ints]
    sums = [Fraction(s, den) for s in sorted(set(ints))]
    fa, fb, ft = Fraction(a), Fraction(b), Fraction(tol)
    radius = Fraction(0)
    pieces = [(None, sums[0])] + list(zip(sums[:-1], sums[1:], strict=True)) + [(sums[-1], None)]
    for p, q in pieces:
        lo = fa if p is None else max(fa, p)
        hi = fb if q is None else min(fb, q)
        if lo > hi:
            continue
        if p is None:
            z = lo
        elif q is None:
            z = hi
        else:
            z = min(max((p + q) / 2, lo), hi)
        d = min(z - p if p is not None else q - z, q - z if q is not None else z - p)
        radius = max(radius, d)
    gaps, left = [], fa
    for s in sums:
        if s - ft > left and left < fb:
            gaps.append((left, min(s - ft, fb)))
        left = max(left, s + ft)
    if left < fb:
        gaps.append((left, fb))
    return radius, gaps


@settings(max_examples=60)
@given(st.sampled_from(LAWS), st.integers(1, 11), st.integers(0, 2**32 - 1),
       st.floats(1e-3, 0.5), st.floats(-2, 1.5), st.floats(0.01, 3))
def test_coverage_agrees_with_enumeration(law, n, seed, tol, a, width):
    values = draw_values(law, n, seed)
    b = a + width
    cert = coverage_certificate(values, tol, (a, b))
    radius, gaps = oracle_coverage(values, tol, a, b)
    assert cert.covered == (radius <= Fraction(tol)) == (not gaps)
    # the radius is the exact one rounded up to a float
    assert Fraction(cert.radius) >= radius
    assert Fraction(float(np.nextafter(cert.radius, -np.inf))) < radius
    assert cert.gaps.shape == (len(gaps), 2)
    for (lo, hi), (elo, ehi) in zip(cert.gaps, gaps, strict=True):
        assert Fraction(lo) <= elo and Fraction(float(np.nextafter(lo, np.inf))) > elo
        assert Fraction(hi) >= ehi and Fraction(float(np.nextafter(hi, -np.inf))) < ehi


@pytest.mark.parametrize("n", [16])
def test_coverage_agrees_with_enumeration_16_values(n):
    values = draw_values("product", n, 11)
    for tol in (1e-3, 1e-2):
        cert = coverage_certificate(values, tol)
        radius, gaps = oracle_coverage(values, tol, -1.0, 1.0)
        assert cert.covered == (radius <= Fraction(tol))
        assert Fraction(cert.radius) >= radius > Fraction(float(np.nextafter(cert.radius, 0)))
        assert cert.gaps.shape[0] == len(gaps)


def test_coverage_with_touching_intervals_is_exact():
    # sums 0, 0.25, 0.5, 0.75 with tol 0.125 touch exactly: covered on [0, 0.75]
    values = np.array([0.25, 0.5])
    assert coverage_certificate(values, 0.125, (0.0, 0.75)).covered
    assert coverage_certificate(values, 0.125, (0.0, 0.75)).radius == 0.125
    tight = coverage_certificate(values, float(np.nextafter(0.125, 0)), (0.0, 0.75))
    assert not tight.covered and tight.gaps.shape[0] == 3


# ------------------------------------------------------------------ input validation
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: closest_subset_sum([0.1, np.nan], 0.0), "non-finite"),
        (lambda: closest_subset_sum([0.1, np.inf], 0.0), "non-finite"),
        (lambda: closest_subset_sum([], 0.0), "empty"),
        (lambda: closest_subset_sum([0.1], np.nan), "finite"),
        (lambda: closest_subset_sum([0.1], 0.0, prefix=True), "needs tol"),
        (lambda: sparsest_subset_sum([0.1], 0.0, 0.0), "> 0"),
        (lambda: sparsest_subset_sum([0.1], 0.0, -1e-3), "> 0"),
        (lambda: sparsest_subset_sum([0.1], 0.0, 1e-2, max_size=-1), ">= 0"),
        (lambda: fixed_size_subset_sum([0.1, 0.2], 0.0, 3), r"\[0, 2\]"),
        (lambda: fixed_size_subset_sum([0.1, 0.2], 0.0, -1), r"\[0, 2\]"),
        (lambda: fixed_size_subset_sum([0.1, 0.2], 0.0, 1.0), "integer"),
        (lambda: closest_subset_sum(np.zeros(70), 0.0), "at most 62"),
        (lambda: closest_subset_sum_batch(np.zeros((2, 3)), np.zeros(3)), "rows"),
        (lambda: closest_subset_sum_batch(np.zeros((2, 3)), np.zeros(2), lengths=[1, 4]),
         r"\[1, 3\]"),
        (lambda: closest_subset_sum_batch(np.zeros((2, 3)), np.zeros(2), lengths=[1.0, 2.0]),
         "integers"),
        (lambda: sparsest_subset_sum_batch(np.zeros((2, 3)), np.zeros(2), [1e-2, 0.0]), "> 0"),
        (lambda: coverage_certificate([0.5], 1e-2, (1.0, -1.0)), "a < b"),
        (lambda: coverage_certificate([0.5], 1e-2, (0.0, 0.0)), "a < b"),
        (lambda: coverage_certificate([0.5], 0.0), "> 0"),
        (lambda: coverage_certificate([0.5], 1e-2, (0.0,)), "pair"),
        (lambda: subset_sums_brute_force(np.zeros(21)), "exceeds 20"),
        (lambda: closest_subset_sum([1e308, 1e308], 0.0), "overflow"),
        (lambda: coverage_certificate([1e308, 1e308], 1e-2), "overflow"),
    ],
)
def test_bad_input_is_refused_with_a_specific_message(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_searches_beyond_memory_are_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(_validate, "DEFAULT_MEMORY_LIMIT_BYTES", 2**20)
    with pytest.raises(InputError, match="GiB"):
        closest_subset_sum(np.linspace(-1, 1, 40), 0.1)
    with pytest.raises(InputError, match="GiB"):
        coverage_certificate(np.linspace(-1, 1, 30), 1e-9)
    # a small search still runs under the small limit
    assert closest_subset_sum(np.linspace(-1, 1, 10), 0.1).feasible


# ------------------------------------------------------------------ counting lower bound (§3)
@settings(max_examples=25)
@given(st.sampled_from(LAWS), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_counting_lower_bound_on_random_pools(law, n, seed):
    from lotteryproofs.checks.rss import counting_limit_n, counting_limit_radius

    values = draw_values(law, n, seed)
    limit = counting_limit_radius(n)
    assert limit == 2.0**-n
    exact_radius, _ = oracle_coverage(values, limit, -1.0, 1.0)
    assert exact_radius >= Fraction(limit)  # the theorem, on the independent oracle
    assert coverage_certificate(values, limit).radius >= limit
    assert not coverage_certificate(values, float(np.nextafter(limit, 0))).covered
    eps = float(np.random.default_rng(seed).uniform(1e-4, 0.5))
    k = counting_limit_n(eps)
    assert 2.0**k * 2 * eps >= 2 > 2.0 ** (k - 1) * 2 * eps


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_dyadic_pool_attains_the_counting_bound(n):
    from lotteryproofs.checks.rss import counting_limit_radius, dyadic_extremal_pool

    values, interval = dyadic_extremal_pool(n)
    a, b = interval
    assert b - a == 2.0
    exact_radius, _ = oracle_coverage(values, 1.0, a, b)
    assert exact_radius == Fraction(counting_limit_radius(n, interval))
    cert = coverage_certificate(values, counting_limit_radius(n, interval), interval)
    assert cert.covered and cert.radius == counting_limit_radius(n, interval)


def test_counting_check_runs_and_passes():
    from lotteryproofs.checks.rss import check_counting_lower_bound
    from lotteryproofs.theorems import CheckContext

    result = check_counting_lower_bound(CheckContext(rng=np.random.default_rng(0)))
    assert result.passed, result.measured
    assert result.details["violations"] == 0


def test_parallel_batches_equal_one_by_one():
    from lotteryproofs.rss.solvers import PARALLEL_MIN_ROWS

    rng = np.random.default_rng(7)
    b = PARALLEL_MIN_ROWS + 36
    values = rng.uniform(-1, 1, (b, 14)) * rng.uniform(-1, 1, (b, 14))
    targets = rng.uniform(-1, 1, b)
    lengths = rng.integers(1, 15, b)
    batch = sparsest_subset_sum_batch(values, targets, 1e-3, lengths=lengths)
    closest = closest_subset_sum_batch(values, targets, lengths=lengths, tol=1e-3, prefix=True)
    for i in range(b):
        single = sparsest_subset_sum(values[i, : lengths[i]], targets[i], 1e-3)
        np.testing.assert_array_equal(np.flatnonzero(batch.chosen[i]), single.indices)
        assert batch.error[i] == single.error and batch.feasible[i] == single.feasible
        one = closest_subset_sum(values[i, : lengths[i]], targets[i], tol=1e-3, prefix=True)
        np.testing.assert_array_equal(np.flatnonzero(closest.chosen[i]), one.indices)
        assert closest.n_used[i] == one.n_used


def test_prefix_stops_at_the_largest_search_that_fits(monkeypatch):
    from lotteryproofs.rss._search import search_bytes

    values = draw_values("uniform", 200, 9)  # more values than any exact search may take
    result = closest_subset_sum(values, 0.3, tol=1e-6, prefix=True)
    assert result.feasible and result.n_used < 62
    monkeypatch.setattr(_validate, "DEFAULT_MEMORY_LIMIT_BYTES", search_bytes(16))
    capped = sparsest_subset_sum(values, 0.3, 1e-12, prefix=True)
    assert capped.n_used <= 16 and not capped.feasible  # said so, never silently accepted
    with pytest.raises(InputError, match="at most 62"):
        closest_subset_sum(values, 0.3)
