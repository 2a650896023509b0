"""Bounded-gain sparsest RSS mode and the bounded-gain L+1 construction.

The engine's bounded-gain mode (Σ_S|v| ≤ |t| + c·tol) is compared with an independent
enumeration decided in rational arithmetic (``rss.oracle.bounded_gain_sparsest_brute_force``),
including instances built so that the constraint excludes the unconstrained optimum.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import draw_pool as pool

from lotteryproofs._validate import InputError
from lotteryproofs.rss import (
    bounded_gain_sparsest_brute_force,
    sparsest_subset_sum,
    sparsest_subset_sum_batch,
)

SLACKS = (0.0, 0.5, 1.0, 3.0)




def exact_gain(values, idx) -> Fraction:
    return sum((abs(Fraction(float(values[i]))) for i in idx), Fraction(0))


def assert_matches_oracle(values, target, tol, c):
    got = sparsest_subset_sum(values, target, tol, gain_slack=c)
    want = bounded_gain_sparsest_brute_force(values, target, tol, c)
    if want is None:
        assert not got.feasible and got.size == 0
    else:
        assert got.feasible
        np.testing.assert_array_equal(got.indices, want)
        cap = abs(Fraction(target)) + Fraction(c) * Fraction(tol)
        assert exact_gain(values, got.indices) <= cap
    return got, want


@settings(max_examples=60, deadline=None)
@given(law=st.sampled_from(("uniform", "normal", "product", "grid")),
       n=st.integers(1, 18), seed=st.integers(0, 2**32 - 1),
       target=st.floats(-1, 1), tol=st.sampled_from((1e-3, 1e-2, 0.05, 0.2)),
       c=st.sampled_from(SLACKS))
def test_bounded_gain_sparsest_equals_oracle(law, n, seed, target, tol, c):
    assert_matches_oracle(pool(law, n, seed), target, tol, c)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_extra=st.integers(0, 10), c=st.sampled_from(SLACKS))
def test_constraint_excludes_the_unconstrained_optimum(seed, n_extra, c):
    """A cancelling pair (p, w − p) reaches w with 2 values but gain 2p − w > |w| + c·tol;
    three same-sign values just below w/3 reach it within the cap. Both solvers agree with
    their oracles and, whenever the unconstrained optimum breaks the cap, the constrained
    answer differs from it; without extra values that is always so (sizes 2 and 3)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.05, 0.3)
    p = rng.uniform(0.6, 1.0)
    thirds = w / 3 - rng.uniform(1e-6, 1e-5, 3)
    extra = rng.uniform(-1, 1, n_extra)
    values = rng.permutation(np.concatenate(([p, w - p], thirds, extra)))
    tol = 1e-3
    cap = Fraction(w) + Fraction(c) * Fraction(tol)
    free = sparsest_subset_sum(values, w, tol)
    got, want = assert_matches_oracle(values, w, tol, c)
    assert want is not None  # the thirds always qualify
    if exact_gain(values, free.indices) > cap:
        assert not np.array_equal(got.indices, free.indices)
    if n_extra == 0:
        assert free.size == 2 and exact_gain(values, free.indices) > cap
        assert got.size == 3


def test_constraint_changes_the_optimum_on_random_pools():
    """On random uniform pools the constraint does exclude the unconstrained optimum (the
    test would be vacuous otherwise): count such instances, each checked against the oracle."""
    rng = np.random.default_rng(7)
    changed = 0
    for _ in range(60):
        values = rng.uniform(-1, 1, 14)
        w = rng.uniform(-1, 1)
        free = sparsest_subset_sum(values, w, 1e-2)
        got, want = assert_matches_oracle(values, w, 1e-2, 0.5)
        gain_free = exact_gain(values, free.indices)
        if free.feasible and gain_free > abs(Fraction(w)) + Fraction(0.5) * Fraction(1e-2):
            changed += 1
            assert want is None or not np.array_equal(want, free.indices)
    assert changed >= 10


def test_handmade_instance_from_theory():
    """THEORY.md §4.3's example: v = (0.9, −0.85) reaches w = 0.05 with gain 1.75."""
    values = np.array([0.9, -0.85, 0.02, 0.02, 0.01])
    free = sparsest_subset_sum(values, 0.05, 1e-3)
    np.testing.assert_array_equal(free.indices, [0, 1])
    got = sparsest_subset_sum(values, 0.05, 1e-3, gain_slack=1.0)
    np.testing.assert_array_equal(got.indices, [2, 3, 4])
    none = sparsest_subset_sum(values, 0.5, 1e-3, gain_slack=1.0)
    assert not none.feasible and none.size == 0 and none.error == 0.5


def test_gain_cap_is_decided_exactly_at_the_boundary():
    """Σ|v| exactly equal to the cap is accepted, one ulp above is refused."""
    values = np.array([0.25, 0.5, -0.125])
    # subset {0, 1}: sum 0.75, gain 0.75; target 0.75 + tol/2 with c = 0: cap = |t| ≥ 0.75
    tol = 2.0**-10
    got = sparsest_subset_sum(values, 0.75, tol, gain_slack=0.0)
    np.testing.assert_array_equal(got.indices, [0, 1])
    # {0, 1, 2} = 0.625 with gain 0.875: cap |t| + c·tol = 0.625 + c·2^-10 needs c = 256
    exact = sparsest_subset_sum(np.array([0.25, 0.5, -0.125]), 0.625, tol, gain_slack=256.0)
    np.testing.assert_array_equal(exact.indices, [0, 1, 2])
    below = sparsest_subset_sum(np.array([0.25, 0.5, -0.125]), 0.625, tol,
                                gain_slack=float(np.nextafter(256.0, 0)))
    assert not below.feasible
    assert bounded_gain_sparsest_brute_force(values, 0.625, tol, np.nextafter(256.0, 0)) is None


@pytest.mark.parametrize("rows", [5, 80])
def test_batched_bounded_gain_equals_one_by_one(rows):
    """Both kernels (serial below PARALLEL_MIN_ROWS, parallel above), ragged lengths."""
    rng = np.random.default_rng(rows)
    values = rng.uniform(-1, 1, (rows, 16))
    lengths = rng.integers(4, 17, rows)
    targets = rng.uniform(-1, 1, rows)
    batch = sparsest_subset_sum_batch(values, targets, 1e-2, lengths=lengths, gain_slack=1.0)
    for b in range(rows):
        one = sparsest_subset_sum(values[b, : lengths[b]], targets[b], 1e-2, gain_slack=1.0)
        row = batch.row(b)
        np.testing.assert_array_equal(row.indices, one.indices)
        assert row.feasible == one.feasible and row.error == one.error


def test_errors_are_recomputed_exactly():
    rng = np.random.default_rng(3)
    values = rng.uniform(-1, 1, 18)
    got = sparsest_subset_sum(values, 0.3, 1e-3, gain_slack=1.0)
    want = abs(Fraction(0.3) - sum((Fraction(float(values[i])) for i in got.indices), Fraction(0)))
    assert got.error == float(want)


@pytest.mark.parametrize("c", [-1.0, float("nan"), 1e13, "1"])
def test_bad_gain_slack_is_refused(c):
    with pytest.raises(InputError, match="gain_slack"):
        sparsest_subset_sum(np.array([0.5, 0.25]), 0.5, 1e-3, gain_slack=c)


# --------------------------------------------------------------- the construction and bound
def test_check_fails_when_the_constraint_is_dropped():
    """The registered check passes; the same construction with plain L+1 subsets (the gain
    constraint dropped, everything else equal) fails it on the measured gains."""
    import dataclasses

    from lotteryproofs.checks import bounded_gain as check
    from lotteryproofs.construct import bounded_gain, l_plus_one
    from lotteryproofs.theorems import CheckContext

    good = check.check_bounded_gain(CheckContext(np.random.default_rng(3)))
    assert good.passed, good.measured
    mutant = dataclasses.replace(bounded_gain.CONSTRUCTION, build=l_plus_one.CONSTRUCTION.build)
    bad = check.check_construction(mutant, CheckContext(np.random.default_rng(3)))
    assert not bad.passed
    assert sum(r["per_weight"] for r in bad.details["tickets"]) > 0


def test_a_priori_bound_is_the_recursion_with_gain_a_plus_gamma_k():
    """bounds.py's expression equals e_l = g_l e_{l−1} + c_l unrolled with g_l = a_l + γ k_l
    (l ≥ 2), and its root ε' is the closed form ε / Σ_l (k_l B_{l−1} + 1) Π_{m>l} g_m."""
    import sympy

    from lotteryproofs import bounds
    from lotteryproofs.construct import bounded_gain

    spec = bounded_gain.CONSTRUCTION.bound
    gamma = sympy.nsimplify(bounded_gain.GAIN_BUDGET)
    for depth in (1, 2, 3, 4):
        s = bounds.layer_symbols(depth)
        e = bounds.EPS_PARAM
        gains = [s.a[0] + s.k[0] * e] + [s.a[m] + gamma * s.k[m] for m in range(1, depth)]
        injected = [e * (s.k[m] * s.B[m] + 1) for m in range(depth)]
        want = bounds.unrolled_recursion(gains, injected)
        got = bounds.a_priori_output_error_expr(spec, depth)
        assert sympy.simplify(got - want) == 0
    norms = bounds.TargetNorms(widths=(3, 5, 4, 2), a=(1.5, 2.0, 1.2), k=(3, 5, 4),
                               B=(1.0, 2.5, 3.0), bbar=(1, 1, 1), w_max=0.9, b_max=1.0,
                               input_has_negative=True)
    root = bounds.solve_eps_param(spec, norms, 0.1)
    g2, g3 = 2.0 + 2 * 5, 1.2 + 2 * 4
    closed = 0.1 / ((3 * 1.0 + 1) * g2 * g3 + (5 * 2.5 + 1) * g3 + (4 * 3.0 + 1))
    assert float(root) == pytest.approx(closed, rel=1e-12)
    suff = bounds.sufficient_eps_param_expr(spec, 3)
    assert float(bounds.evaluate_mpmath(suff, {**norms.values(), bounds.EPS: 0.1})) == \
        pytest.approx(closed, rel=1e-12)


def test_engine_gain_slack_never_exceeds_the_budget():
    from lotteryproofs.construct import bounded_gain, common

    for eps in (0.1, 3e-3, 1.234e-5, 7e-9):
        c = bounded_gain.engine_gain_slack(eps)
        tol = eps * (1 - common.SOLVER_MARGIN)
        assert Fraction(c) * Fraction(tol) <= Fraction(bounded_gain.GAIN_BUDGET)
        assert Fraction(float(np.nextafter(c, np.inf))) * Fraction(tol) > \
            Fraction(bounded_gain.GAIN_BUDGET) * (1 - Fraction(1, 10**12))
