"""Per-layer allocation of the bounded-gain L+1 bound (proofs/bounded-gain-l+1.md).

ε'_l and γ_l per target layer: e_L ≤ Σ_l ε'_l c_l, c_l = (k_l B_{l−1} + 1) Π_{m>l}(a_m + γ_m k_m).
Compared with the recursion unrolled in exact rationals (sympy), with the uniform closed form
when the shares are proportional to c_l, and on built tickets with the per-layer tolerance and
budget read back from the masks.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import bounds
from lotteryproofs._validate import InputError
from lotteryproofs.construct import bounded_gain

finite = st.floats(0.1, 20, allow_nan=False)


@st.composite
def norms_and_allocation(draw):
    depth = draw(st.integers(1, 4))
    a = tuple(draw(finite) for _ in range(depth))
    k = tuple(draw(st.integers(1, 40)) for _ in range(depth))
    B = tuple(draw(finite) for _ in range(depth))
    norms = bounds.TargetNorms(widths=(2,) * (depth + 1), a=a, k=k, B=B, bbar=(1,) * depth,
                               w_max=1.0, b_max=1.0, input_has_negative=True)
    budgets = (0.0,) + tuple(draw(st.floats(0.01, 2)) for _ in range(depth - 1))
    shares = tuple(draw(st.floats(0.01, 1)) for _ in range(depth))
    total = math.fsum(shares)
    shares = tuple(s / total * (1 - 1e-12) for s in shares) if total > 1 else shares
    return norms, budgets, shares


@settings(max_examples=40, deadline=None)
@given(case=norms_and_allocation(), eps=st.floats(1e-3, 1.0))
def test_allocation_is_the_unrolled_recursion_and_stays_below_eps(case, eps):
    """Σ ε'_l c_l equals e_L of e_l = g_l e_{l−1} + ε'_l(k_l B_{l−1} + 1) iterated in exact
    rationals (g_1 = a_1 + k_1 ε'_1, g_l = a_l + γ_l k_l), and is ≤ ε for the allocated ε'_l."""
    norms, budgets, shares = case
    eps_params = bounds.allocate_eps_params(norms, eps, budgets, shares)
    q = sympy.Rational

    def r(x):
        return q(Fraction(float(x)))

    gains = [r(norms.a[0]) + norms.k[0] * r(eps_params[0])]
    gains += [r(norms.a[m]) + r(budgets[m]) * norms.k[m] for m in range(1, norms.depth)]
    injected = [r(e) * (norms.k[m] * r(norms.B[m]) + 1) for m, e in enumerate(eps_params)]
    exact = bounds.unrolled_recursion(gains, injected)
    assert exact <= r(eps)
    got = bounds.allocated_a_priori_error(norms, eps_params, budgets)
    assert float(got) == pytest.approx(float(exact), rel=1e-12)


def test_shares_proportional_to_c_give_the_uniform_closed_form():
    """Shares s_l = c_l / Σ c give ε'_l = ε / Σ c for every layer: the registered closed form
    (sufficient_eps_param_expr with γ = 2) and solve_eps_param's root."""
    norms = bounds.TargetNorms(widths=(3, 5, 4, 2), a=(1.5, 2.0, 1.2), k=(3, 5, 4),
                               B=(1.0, 2.5, 3.0), bbar=(1, 1, 1), w_max=0.9, b_max=1.0,
                               input_has_negative=True)
    budgets = (0.0, 2.0, 2.0)
    c = [float(x) for x in bounds.bounded_gain_contributions(norms, budgets)]
    g2, g3 = 2.0 + 2 * 5, 1.2 + 2 * 4  # by hand: a_m + γ k_m
    assert c == pytest.approx([(3 * 1.0 + 1) * g2 * g3, (5 * 2.5 + 1) * g3, 4 * 3.0 + 1])
    shares = tuple(x / sum(c) * (1 - 1e-12) for x in c)
    eps_params = bounds.allocate_eps_params(norms, 0.1, budgets, shares)
    root = float(bounds.solve_eps_param(bounded_gain.CONSTRUCTION.bound, norms, 0.1))
    assert eps_params == pytest.approx((root,) * 3, rel=1e-9)


def test_allocation_gives_a_larger_eps_to_layers_with_a_small_downstream_gain():
    """The point of the allocation: the last layer's c_L has no downstream product, so with
    equal shares its ε'_L exceeds the uniform ε' by Σ c / (L c_L)."""
    norms = bounds.TargetNorms(widths=(3, 5, 4, 2), a=(1.5, 2.0, 1.2), k=(3, 5, 4),
                               B=(1.0, 2.5, 3.0), bbar=(1, 1, 1), w_max=0.9, b_max=1.0,
                               input_has_negative=True)
    budgets = (0.0, 2.0, 2.0)
    c = [float(x) for x in bounds.bounded_gain_contributions(norms, budgets)]
    e = bounds.allocate_eps_params(norms, 0.1, budgets, (1 / 3 - 1e-12,) * 3)
    uniform = 0.1 / sum(c)
    assert e[2] / uniform == pytest.approx(sum(c) / (3 * c[2]), rel=1e-9)
    assert e[0] < uniform < e[2]


@pytest.mark.parametrize("shares", [(0.5, 0.6), (0.0, 0.5), (-0.1, 0.5), (0.5,)])
def test_bad_shares_are_refused(shares):
    norms = bounds.TargetNorms(widths=(2, 2, 2), a=(1, 1), k=(1, 1), B=(1, 1), bbar=(1, 1),
                               w_max=1, b_max=1, input_has_negative=True)
    with pytest.raises(InputError):
        bounds.allocate_eps_params(norms, 0.1, (0.0, 1.0), shares)


@pytest.mark.parametrize("eps_params,budgets", [((1e-3, 1e-3), (0.0, 2.5)),
                                                ((1e-3, 1e-3), (0.0,)),
                                                ((1e-3, -1.0), (0.0, 1.0)),
                                                ((1e-3, 1e-3), (0.0, 0.0))])
def test_bad_allocations_are_refused(eps_params, budgets):
    with pytest.raises(InputError):
        bounded_gain.allocated(eps_params, budgets)


def _ticket(construction, eps_param, seed=0):
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Box
    from lotteryproofs.targets import random_target

    target = random_target((3, 6, 5, 2), np.random.default_rng(seed))
    box = Box.cube(-1.0, 1.0, 3)
    return target, construct(target, construction, eps_param=eps_param, delta=0.1, rng=10 + seed,
                             domain=box, rho=24, rho_in=24)


def test_uniform_allocation_builds_the_registered_ticket():
    """ε'_l = ε' and γ_l = γ everywhere is the registered l+1-bounded construction: the same
    masks (a per-layer index bug would change a layer's tolerance or budget)."""
    eps = 1e-2
    _, want = _ticket(bounded_gain.CONSTRUCTION, eps)
    _, got = _ticket(bounded_gain.allocated((eps,) * 3, (0.0, 2.0, 2.0)), eps)
    assert got.count_nonzero() == want.count_nonzero() > 0
    for a, b in zip(got.weight_masks + got.bias_masks, want.weight_masks + want.bias_masks,
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_per_layer_tolerance_and_budget_hold_on_the_ticket():
    """Per-layer ε'_l and γ_l, read back from the ticket's masks: every layer-l instance is
    flagged failed iff its exact error exceeds ε'_l, every represented copy weight has gain
    ≤ |w| + γ_l (0 where |w| ≤ ε'_l), and a tighter later layer really is tighter (its largest
    error among solved instances is ≤ its own ε'_l, below the other layers' ε')."""
    from lotteryproofs.construct import represented_layers

    eps_params, budgets = (2e-2, 1e-3, 5e-2), (0.0, 0.5, 1.0)
    target, ticket = _ticket(bounded_gain.allocated(eps_params, budgets), max(eps_params))
    log = ticket.rss_log
    layer = np.asarray(log.layer)
    err = np.asarray(log.error)
    np.testing.assert_array_equal(np.asarray(log.failed), err > np.asarray(eps_params)[layer])
    ok = (layer == 1) & ~np.asarray(log.failed)
    assert ok.any() and err[ok].max() <= eps_params[1]
    rep = represented_layers(ticket)
    for t in (1, 2):
        w = target.weights[t]
        allowed = np.where(np.abs(w) > eps_params[t], np.abs(w) + budgets[t], 0.0)
        gain = np.asarray(rep[t].gain)
        assert np.all(gain <= allowed[None] * (1 + 1e-12))
    with pytest.raises(InputError):
        _ticket(bounded_gain.allocated(eps_params, budgets), 1e-2)
