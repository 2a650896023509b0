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


def _sparse_row_target(seed):
    """(3, 4, 4, 2) with one weight 0.03 per row in layers 2 and 3: a + 2k = 2.03 there, while
    the sparsest subsets of 30 copies within 1e-4 of 0.03 have gains around 3 when unbounded."""
    from lotteryproofs.network import Network
    from lotteryproofs.targets import random_target

    base = random_target((3, 4, 4, 2), np.random.default_rng(seed))
    weights = [np.array(w) for w in base.weights]
    for t in (1, 2):
        weights[t] = np.zeros_like(weights[t])
        weights[t][np.arange(weights[t].shape[0]), np.arange(weights[t].shape[0])
                    % weights[t].shape[1]] = 0.03
    return Network(weights, [np.array(b) for b in base.biases])


def _direct_gains_hold(target, represented, budget):
    """max_{c,j} Σ_i gain[c,j,i] ≤ a_l + γ k_l for l ≥ 2, by a direct loop in rationals."""
    for t in range(1, len(represented)):
        w = target.weights[t]
        a = max(sum(Fraction(abs(float(x))) for x in row) for row in w)
        k = int(np.count_nonzero(w, axis=1).max())
        g = np.maximum(np.asarray(represented[t].gain), np.abs(represented[t].positive))
        for c in range(g.shape[0]):
            for j in range(g.shape[1]):
                if sum(Fraction(float(x)) for x in g[c, j]) > a + Fraction(budget) * k:
                    return False
    return True


def test_a_ticket_beyond_the_registered_budget_gets_no_a_priori_bound():
    """A ticket built with γ_l = 50 > γ carries the method name l+1-bounded, whose registered
    bound assumes γ = 2: the certificate must not use that bound (its hypothesis is checked on
    the masks, not believed from the name), while the same target built at γ_l = γ keeps it.
    Which of the two holds is decided by an independent loop over the read-back gains."""
    import dataclasses

    from lotteryproofs.certify import certify
    from lotteryproofs.construct import construct, represented_layers
    from lotteryproofs.network import Box

    target = _sparse_row_target(0)
    eps_params = (0.9, 1e-4, 1e-4)  # ε' = 0.9 at layer 1: every parameter within max ε'_l
    seen = {}
    for budget in (bounded_gain.GAIN_BUDGET, 50.0):
        record = dataclasses.replace(bounded_gain.CONSTRUCTION, build=bounded_gain.allocated_build(
            eps_params, (0.0, budget, budget)))
        ticket = construct(target, record, eps_param=max(eps_params), delta=0.1, rng=10,
                           domain=Box.cube(-1.0, 1.0, 3), rho=30, rho_in=30)
        assert ticket.metadata["method"] == "l+1-bounded"
        cert = certify(ticket, target, (-1.0, 1.0))
        assert cert.max_param_error <= cert.eps_param  # the ε' hypothesis alone would admit it
        holds = _direct_gains_hold(target, represented_layers(ticket), bounded_gain.GAIN_BUDGET)
        assert (cert.certified_bounds["a-priori"] is not None) == holds == cert.a_priori_holds
        seen[budget] = holds
    assert seen == {bounded_gain.GAIN_BUDGET: True, 50.0: False}


@st.composite
def represented_case(draw):
    from lotteryproofs.ticket import RepresentedLayer

    copies, n_out, n_in = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    vals = st.floats(0, 3, allow_nan=False)

    def arr(shape):
        return np.array([draw(vals) for _ in range(int(np.prod(shape)))]).reshape(shape)

    layers = [RepresentedLayer(arr((1, n_in, 2)), np.zeros((1, n_in, 2)), np.zeros((1, n_in)),
                               arr((1, n_in, 2)))]
    layers.append(RepresentedLayer(arr((copies, n_out, n_in)), np.zeros((copies, n_out, n_in)),
                                   np.zeros((copies, n_out)), arr((copies, n_out, n_in))))
    a1, k1 = draw(st.floats(0, 3)), draw(st.integers(0, 3))
    return layers, a1, k1


@settings(max_examples=60, deadline=None)
@given(case=represented_case())
def test_gain_check_is_the_direct_comparison(case):
    """certify's gain hypothesis against max_{c,j} Σ_i max(gain, |positive|) ≤ a_2 + γ k_2 in
    exact rationals (no slack: hand-made layers): it never admits more, and refuses only
    within one rounding of the limit."""
    from lotteryproofs.certify.certificate import gains_within_budget

    layers, a1, k1 = case
    norms = bounds.TargetNorms(widths=(2, 2, 2), a=(1.0, a1), k=(1, k1), B=(1, 1), bbar=(1, 1),
                               w_max=1, b_max=1, input_has_negative=True)
    spec = bounded_gain.CONSTRUCTION.bound
    g = np.maximum(layers[1].gain, np.abs(layers[1].positive))
    limit = Fraction(a1) + Fraction(spec.gain_budget) * k1
    largest = max(sum(Fraction(float(x)) for x in g[c, j])
                  for c in range(g.shape[0]) for j in range(g.shape[1]))
    got = gains_within_budget(spec, norms, layers, None)
    if got:  # sound: never admits a gain above the limit
        assert largest <= limit
    if largest <= limit * (1 - Fraction(1, 10**12)) - Fraction(1, 10**300):
        assert got  # and refuses only within a rounding of the limit (it rounds up)
    assert gains_within_budget(bounds.BoundSpec("2l"), norms, layers, None)
