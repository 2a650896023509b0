"""The differential bounds (proofs/certificate-differential.md): the ReLU difference case
analysis encloses σ(z + Δ) − σ(z), the float bound ≥ its pure mpmath.iv evaluation and within
1e-12 relative, both differential bounds are ≥ the exact sup on hypothesis-generated targets,
boxes and tickets (1-D and 2-D inputs; a dense grid refined at the kinks, exact values at its
best points, and branch and bound proving sup ≤ bound), and the closed-form cases."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import certify as C
from lotteryproofs import construct, targets
from lotteryproofs.certify.differential import relu_difference
from lotteryproofs.certify.rounding import abs_ticket, rounding_slack
from lotteryproofs.network import Box, Network
from lotteryproofs.propagation import FLOAT64
from lotteryproofs.ticket import RepresentedLayer


def _ticket_case(seed, method, widths, lo, span, eps_param=0.05):
    target = targets.random_target(widths, np.random.default_rng(seed), zero_fraction=0.2)
    box = Box(np.full(widths[0], lo), np.full(widths[0], lo + span))
    ticket = construct.construct(target, method, eps_param=eps_param, delta=0.1, rng=seed,
                                 rho=24 if method == "l+1" else 16, domain=box)
    rep = construct.represented_layers(ticket)
    slack = rounding_slack(ticket, construct.represented_layers(abs_ticket(ticket)),
                           depth_source=ticket.source.depth)
    return target, box, ticket, rep, slack


def _grid_refined_at_kinks(target, ticket_network, box, n=400):
    """A dense grid of a 1-D or 2-D box plus, in 1-D, every kink of either network located by
    bisection between grid points where a hidden neuron changes sign (both sides kept)."""
    d = box.dim
    axes = [np.linspace(box.lower[k], box.upper[k], n if d == 1 else 60) for k in range(d)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    if d != 1:
        return pts

    def pattern(x):
        out = []
        for net in (target, ticket_network):
            pre = []
            net.propagate(x, FLOAT64, pre=pre)
            out.extend(p > 0 for p in pre[:-1])
        return np.concatenate(out, axis=1)

    pat = pattern(pts)
    extra = []
    for k in np.flatnonzero(np.any(pat[1:] != pat[:-1], axis=1)):
        a, b = pts[k, 0], pts[k + 1, 0]
        pa = pattern(np.array([[a]]))[0]
        for _ in range(60):
            m = (a + b) / 2
            if np.array_equal(pattern(np.array([[m]]))[0], pa):
                a = m
            else:
                b = m
        extra += [a, b]
    return np.concatenate([pts, np.array(extra).reshape(-1, 1)])


# ------------------------------------------------------------ the ReLU difference cases
@settings(max_examples=300, deadline=None)
@given(z=st.tuples(st.floats(-3, 3), st.floats(0, 4)), d=st.tuples(st.floats(-3, 3),
                                                                    st.floats(0, 4)),
       s=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_relu_difference_encloses_every_point(z, d, s):
    """σ(z + Δ) − σ(z) ∈ relu_difference(...) for z, Δ in their intervals (exact rationals)."""
    zlo, zhi = z[0], z[0] + z[1]
    dlo, dhi = d[0], d[0] + d[1]
    lo, hi = relu_difference(np.array([zlo]), np.array([zhi]), np.array([dlo]),
                             np.array([dhi]))
    assert lo[0] <= hi[0]
    for fz in (0.0, 1.0, s[0]):
        for fd in (0.0, 1.0, s[1]):
            zz = Fraction(zlo) + Fraction(fz) * (Fraction(zhi) - Fraction(zlo))
            dd = Fraction(dlo) + Fraction(fd) * (Fraction(dhi) - Fraction(dlo))
            value = max(zz + dd, 0) - max(zz, 0)
            assert Fraction(lo[0]) <= value <= Fraction(hi[0])


def test_relu_difference_stable_cases_are_exact():
    """Both stably active: Δ' = Δ; both stably inactive: 0 (no loss at a stable neuron)."""
    lo, hi = relu_difference(np.array([2.0]), np.array([3.0]), np.array([-0.5]),
                             np.array([0.25]))
    assert lo[0] <= -0.5 and hi[0] >= 0.25 and hi[0] - lo[0] <= 0.75 * (1 + 1e-15)
    lo, hi = relu_difference(np.array([-3.0]), np.array([-2.0]), np.array([-0.5]),
                             np.array([0.25]))
    assert -1e-300 <= lo[0] <= 0.0 <= hi[0] <= 1e-300  # one subnormal ulp of rounding


# ------------------------------------------------------------ float vs pure mpmath.iv
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), method=st.sampled_from(construct.METHODS),
       dim=st.integers(1, 2), lo=st.floats(-1.5, 0.5), span=st.floats(0.2, 2.0))
def test_differential_float_bound_agrees_with_pure_mpmath_iv(seed, method, dim, lo, span):
    target, box, _, rep, slack = _ticket_case(seed, method, (dim, 3, 3, 2), lo, span)
    fast = C.differential_output_error(target, box, rep, slack)
    reference = C.differential_output_error_iv(target, box, rep, slack)
    assert reference <= fast <= reference * (1 + 1e-12) + 1e-300


# ------------------------------------------------------------ sound: exact sup ≤ bound
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), method=st.sampled_from(construct.METHODS),
       dim=st.integers(1, 2), hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       lo=st.floats(-1.5, 0.5), span=st.floats(0.2, 2.0), eps=st.floats(0.01, 0.2))
def test_differential_bounds_are_above_the_exact_sup(seed, method, dim, hidden, lo, span, eps,
                                                    exact_sup_oracle):
    target, box, ticket, rep, slack = _ticket_case(seed, method, (dim, *hidden, 2), lo, span,
                                                   eps)
    net = ticket.network
    bounds = {
        "differential": C.differential_output_error(target, box, rep, slack),
        "linear-differential": C.linear_differential_output_error(target, box, rep, slack),
    }
    pts = _grid_refined_at_kinks(target, net, box)
    err = np.max(np.abs(target.forward(pts) - net.forward(pts) / ticket.scale), axis=1)
    best = pts[np.argsort(-err)[:3]]
    exact = max(C.exact_output_error(target, net, ticket.scale, x) for x in best)
    for name, value in bounds.items():
        assert exact <= Fraction(value), name
        enc = exact_sup_oracle(target, net, ticket.scale, box, value)
        assert enc.lower <= value, name  # an exact corner value above the bound: unsound
        # proved to the oracle's resolution, unless the bound is so close to the sup that the
        # oracle runs out of cells first (then its upper enclosure is within 1e-2 of it)
        assert enc.upper <= value * (1 + (1e-8 if enc.converged else 1e-2)), name


# ------------------------------------------------------------ closed forms
def _one_layer_pair(w1, b1, w2, b2, p1, bb1, p2, bb2):
    target = Network((np.array(w1), np.array(w2)), (np.array(b1), np.array(b2)))
    rep = (RepresentedLayer(np.array(p1)[None], -np.array(p1)[None], np.array(bb1)[None],
                            np.abs(np.array(p1))[None]),
           RepresentedLayer(np.array(p2)[None], -np.array(p2)[None], np.array(bb2)[None],
                            np.abs(np.array(p2))[None]))
    return target, rep


def test_an_output_bias_error_is_certified_exactly():
    """Only the output bias moves by ε: the error is ε everywhere; both differential bounds
    give ε (to rounding), as the recursion does."""
    eps = 0.125
    target, rep = _one_layer_pair([[1.0], [-2.0]], [0.5, 0.25], [[1.0, 1.0]], [0.0],
                                  [[1.0], [-2.0]], [0.5, 0.25], [[1.0, 1.0]], [eps])
    box = Box(np.array([-1.0]), np.array([1.0]))
    for f in (C.differential_output_error, C.linear_differential_output_error):
        assert eps <= f(target, box, rep) <= eps * (1 + 1e-14)


def test_a_stably_inactive_neuron_contributes_nothing():
    """A hidden neuron that is off on the whole box in both networks hides any error of its
    outgoing weight (the recursion charges |P − w|·B = 0 there but the gain term still
    carries the layer-1 error); the differential bounds are exact: the sup is the output
    weight's error times the active neuron's largest value."""
    # neuron 1: x + 2 (active on [-1, 1]); neuron 2: x − 3 (inactive); perturbed layer 1
    target, rep = _one_layer_pair([[1.0], [1.0]], [2.0, -3.0], [[1.0, 5.0]], [0.0],
                                  [[1.0], [1.0]], [2.0, -2.5], [[1.25, 5.0]], [0.0])
    box = Box(np.array([-1.0]), np.array([1.0]))
    exact = 0.25 * 3.0  # (1.25 − 1)·max(x + 2)
    recursion = C.certified_output_error(target, box, rep)
    for f in (C.differential_output_error, C.linear_differential_output_error):
        value = f(target, box, rep)
        assert exact <= value <= exact * (1 + 1e-14)
    assert recursion > exact * 1.5  # the recursion pays 5·0.5 for the inactive neuron


@pytest.mark.parametrize("method", construct.METHODS)
def test_certificate_names_the_winning_bound(method):
    target, box, ticket, rep, slack = _ticket_case(3, method, (2, 4, 3, 2), -1.0, 2.0)
    cert = C.certify(ticket, target, box, rng=0, n_samples=200)
    table = cert.certified_bounds
    # a 2-D box: the fixed split is a candidate
    assert set(table) == {"recursion", "differential", "linear-differential",
                          "back-substitution", "split", "a-priori"}
    finite = {k: v for k, v in table.items() if v is not None}
    # every construction: L+1's per-copy weights are read from the masks
    assert table["back-substitution"] is not None
    assert cert.certified_output_error == min(finite.values())
    assert table[cert.certified_method] == cert.certified_output_error
    assert table["differential"] == C.differential_output_error(target, box, rep, slack)
    assert cert.observed_output_error <= cert.certified_output_error
    search = cert.to_json()["errors"]["observed_search"]
    # a small ticket: the restarted search by default, its inputs and restarts reported
    assert search["restarts"] == C.certificate.OBSERVED_RESTARTS
    assert search["samples"] > 202 and search["split_cells"] >= 1
    base = C.certify(ticket, target, box, rng=0, n_samples=200, observed_restarts=0)
    assert base.to_json()["errors"]["observed_search"]["samples"] == 202
    assert base.observed_output_error <= cert.observed_output_error  # only adds candidates
    wide = Box(np.full(3, -1.0), np.full(3, 1.0))  # dimension 3: no split candidate
    t3, _, k3, _, _ = _ticket_case(3, method, (3, 4, 2), -1.0, 2.0)
    assert "split" not in C.certify(k3, t3, wide, rng=0, n_samples=50).certified_bounds
