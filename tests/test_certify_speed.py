"""The certificate's faster paths change no guarantee (certify/rounding.py, certify/symbolic.py,
certify/exact.py, certify/observed.py; proofs/certificate-differential.md, Lemma 5):

* the folded coefficient-error bound is ≥ the exact Σ_k v_k·|fl(a_k) − a_k|, computed in exact
  rationals, on hypothesis-drawn products (including subnormal-sized ones);
* the range of an affine function over the image of the box is ≥ (upper) / ≤ (lower) the exact
  rational extremes at the kinks {lo, hi, 0}, and within 1e-12 relative of them;
* the exact error read through each layer's nonzero entries equals the FRACTION arithmetic's
  (layer by layer with Fractions, an independent path);
* the represented network computes Λ⁻¹ f_S (to read-back rounding), and a certificate whose
  search runs on it still reports the ticket's exact error at its worst input.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import certify as C
from lotteryproofs import construct, targets
from lotteryproofs.certify.exact import exact_output_errors
from lotteryproofs.certify.observed import represented_network
from lotteryproofs.certify.rounding import folded_matmul_error, vector_sum_up
from lotteryproofs.certify.symbolic import _Features
from lotteryproofs.network import Box
from lotteryproofs.propagation import FRACTION

ONE_COPY = ("2l", "ll", "zero-bias")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), scale=st.sampled_from([1.0, 1e-3, 1e300, 2.0**-1060]),
       inner=st.integers(1, 12), cols=st.integers(1, 6))
def test_folded_matmul_error_bounds_the_exact_rounding(seed, scale, inner, cols):
    rng = np.random.default_rng(seed)
    g1 = rng.normal(size=(3, inner)) * scale
    m1 = rng.normal(size=(inner, cols))
    g2 = rng.normal(size=(3, 2))
    m2 = rng.normal(size=(2, cols)) * scale
    v = rng.uniform(0, 3, cols)
    bound = folded_matmul_error([(g1, m1, v), (g2, m2, v)], inner + 2 + 1, vector_sum_up(v))
    fl = g1 @ m1 + g2 @ m2
    for r in range(3):
        exact = 0
        for k in range(cols):
            a = sum(Fraction(g1[r, j]) * Fraction(m1[j, k]) for j in range(inner))
            a += sum(Fraction(g2[r, j]) * Fraction(m2[j, k]) for j in range(2))
            exact += Fraction(v[k]) * abs(Fraction(fl[r, k]) - a)
        assert Fraction(bound[r]) >= exact


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), dim=st.integers(1, 6), lo=st.floats(-3, 1),
       span=st.floats(0.01, 4), scale=st.sampled_from([1.0, 1e-7, 1e5]))
def test_box_range_encloses_the_exact_extremes(seed, dim, lo, span, scale):
    rng = np.random.default_rng(seed)
    box = Box(np.full(dim, lo), np.full(dim, lo + span))
    feat = _Features(box)
    a = rng.normal(size=(4, 2 * dim)) * scale
    c = rng.normal(size=4)
    hi, low = feat.upper(a, c), feat.lower(a, c)
    for r in range(4):
        ex_hi = ex_lo = Fraction(c[r])
        for i in range(dim):
            vals = []
            for x in (box.lower[i], box.upper[i], min(max(0.0, box.lower[i]), box.upper[i])):
                vals.append(Fraction(a[r, i]) * Fraction(max(x, 0.0))
                            + Fraction(a[r, dim + i]) * Fraction(max(-x, 0.0)))
            ex_hi += max(vals)
            ex_lo += min(vals)
        assert Fraction(hi[r]) >= ex_hi and Fraction(low[r]) <= ex_lo
        room = 1e-12 * (abs(float(ex_hi)) + np.abs(a[r]).sum() * max(abs(lo), abs(lo + span))
                        + abs(c[r])) + 1e-300
        assert float(Fraction(hi[r]) - ex_hi) <= room
        assert float(ex_lo - Fraction(low[r])) <= room


@pytest.mark.parametrize("method", [*ONE_COPY, "l+1"])
def test_exact_errors_by_nonzero_entries_equal_the_fraction_arithmetic(method):
    rng = np.random.default_rng(5)
    target = targets.random_target((3, 5, 2), rng, zero_fraction=0.3)
    ticket = construct.construct(target, method, eps_param=0.05, delta=0.1, rng=5,
                                 rho=24 if method == "l+1" else 16)
    net = ticket.network
    points = rng.uniform(-1, 1, (3, 3))
    got = exact_output_errors(target, net, ticket.scale, points)
    for x, value in zip(points, got, strict=True):
        xs = [Fraction(v) for v in x]
        ft = target.propagate(xs, FRACTION)
        fs = net.propagate(xs, FRACTION)
        lam = Fraction(float(ticket.scale))
        assert value == max(abs(a - s / lam) for a, s in zip(ft, fs, strict=True))


@pytest.mark.parametrize("method", ONE_COPY)
def test_represented_network_is_the_ticket_and_the_search_reports_exact_values(
        method, monkeypatch):
    rng = np.random.default_rng(11)
    target = targets.random_target((3, 6, 4, 2), rng, zero_fraction=0.2)
    box = Box(np.full(3, -1.0), np.full(3, 1.5))
    ticket = construct.construct(target, method, eps_param=0.05, delta=0.1, rng=11, rho=16,
                                 domain=box)
    rep = construct.represented_layers(ticket)
    surrogate = represented_network(rep)
    x = box.sample(200, rng)
    want = ticket.approximation(x)  # Λ⁻¹ f_S, by the ticket's own forward pass
    np.testing.assert_allclose(surrogate.forward(x), want, rtol=1e-9,
                               atol=1e-9 * np.abs(want).max())
    # a "large" ticket: every ticket searches on the represented network
    monkeypatch.setattr(C.certificate, "CHEAP_SEARCH_PARAMS", 0)
    cert = C.certify(ticket, target, box, rng=0, n_samples=300)
    search = cert.to_json()["errors"]["observed_search"]
    assert search["searched_on"] == "represented layers"
    xs = [Fraction(v) for v in cert.worst_input]
    ft, fs = target.propagate(xs, FRACTION), ticket.network.propagate(xs, FRACTION)
    lam = Fraction(float(ticket.scale))
    exact = max(abs(a - s / lam) for a, s in zip(ft, fs, strict=True))
    assert Fraction(cert.observed_output_error) <= exact  # rounded down
    assert cert.observed_output_error == C.exact.float_down(exact)
    assert cert.observed_output_error <= cert.certified_output_error


def test_several_copies_have_no_represented_network():
    rng = np.random.default_rng(2)
    target = targets.random_target((2, 4, 2), rng)
    ticket = construct.construct(target, "l+1", eps_param=0.05, delta=0.1, rng=2, rho=24)
    assert represented_network(construct.represented_layers(ticket)) is None
