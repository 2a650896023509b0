"""The back-substituted bound of the difference (certify/crown.py,
proofs/certificate-differential.md): its backward pass in floats encloses the same pass in exact
rationals (and is within 1e-12 relative of it), its intermediate intervals enclose the exact
pre-activations and differences at sampled inputs, it is ≥ the exact sup (branch and bound) on
hypothesis-generated constructions, and exact on closed-form cases."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import certify as C
from lotteryproofs import construct, targets
from lotteryproofs.certify import crown
from lotteryproofs.certify.bound import rigorous_preactivation_bounds
from lotteryproofs.certify.candidates import ticket_copies
from lotteryproofs.certify.crown import DifferenceCrown, crown_output_error
from lotteryproofs.certify.rounding import abs_ticket, rounding_slack
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import RepresentedLayer

ONE_COPY = ("2l", "ll", "zero-bias")


def _hand_made(seed, widths, eps):
    """A random target and represented layers within eps of it (one copy per neuron)."""
    rng = np.random.default_rng(seed)
    target = targets.random_target(widths, rng, zero_fraction=0.2)
    rep = []
    for w, b in zip(target.weights, target.biases, strict=True):
        p = w + rng.uniform(-eps, eps, w.shape)
        n = -w + rng.uniform(-eps, eps, w.shape)
        bb = b + rng.uniform(-eps, eps, b.shape)
        rep.append(RepresentedLayer(p[None], n[None], bb[None],
                                    np.maximum(np.abs(p), np.abs(n))[None]))
    return target, tuple(rep)


# ------------------------------------------------------------ exact-rational reference
def _F(a):
    return np.vectorize(Fraction, otypes=[object])(np.asarray(a, dtype=np.float64))


def _relax_exact(zlo, zhi, dlo, dhi, variant):
    """The relaxations of crown.py with exact slopes (Fractions, no rounding)."""
    lam, beta, mu, tt, bu, s, bl = ([] for _ in range(7))
    for a, b, c, d in zip(zlo, zhi, dlo, dhi, strict=True):
        a, b, c, d = Fraction(a), Fraction(b), Fraction(c), Fraction(d)
        if a >= 0:
            lam.append(1), beta.append(0), mu.append(1)
        elif b <= 0:
            lam.append(0), beta.append(0), mu.append(0)
        else:
            lam.append(b / (b - a)), beta.append(-a * b / (b - a))
            mu.append(Fraction(variant) if variant is not None else (1 if b >= -a else 0))
        hlo, hhi = a + c, b + d
        if d <= 0 or hhi <= 0:
            tt.append(0), bu.append(0)
        elif c >= 0 or hlo >= 0:
            tt.append(1), bu.append(0)
        else:
            tt.append(d / (d - c)), bu.append(-c * d / (d - c))
        if c >= 0 or b <= 0:
            s.append(0), bl.append(0)
        elif d <= 0 or a >= 0:
            s.append(1), bl.append(0)
        else:
            k = -c / (d - c)
            s.append(k), bl.append(c - k * c)
    return [np.array(v, dtype=object) for v in (lam, beta, mu, tt, bu, s, bl)]


def _upper_exact(crown, target, box, rep, t_top, gz, gd, variant):
    """crown.upper's backward pass in exact rationals on crown's intermediate intervals."""
    gz, gd = _F(gz), _F(gd)
    c = Fraction(0)
    for t in range(t_top, -1, -1):
        w, b, r = _F(target.weights[t]), _F(target.biases[t]), rep[t]
        p, db = _F(r.positive[0]), _F(r.bias[0]) - b
        c = c + gz @ b + gd @ db if gz.size else c
        if t == 0:
            a_pos = gz @ w + gd @ (p - w)
            a_neg = -(gz @ w) + gd @ (_F(r.negative[0]) + w)
            total = c
            for k in range(box.dim):
                lo, hi = Fraction(box.lower[k]), Fraction(box.upper[k])
                pts = [lo, hi] + ([Fraction(0)] if lo < 0 < hi else [])
                total += max(a_pos[0, k] * max(x, 0) + a_neg[0, k] * max(-x, 0) for x in pts)
            return np.asarray(total, dtype=object).ravel()[0]
        ax, ad = gz @ w + gd @ (p - w), gd @ p
        lam, beta, mu, tt, bu, s, bl = _relax_exact(*crown.z[t - 1], *crown.d[t - 1], variant)
        pos = np.vectorize(lambda v: max(v, 0), otypes=[object])
        neg = np.vectorize(lambda v: min(v, 0), otypes=[object])
        c = c + pos(ax) @ beta + pos(ad) @ bu + neg(ad) @ bl
        gz = pos(ax) * lam + neg(ax) * mu
        gd = pos(ad) * tt + neg(ad) * s
    raise AssertionError


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), dim=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       lo=st.floats(-1.5, 0.5), span=st.floats(0.2, 2.0), eps=st.floats(1e-3, 0.3),
       variant=st.sampled_from([None, 0.0, 0.5]))
def test_float_backward_pass_encloses_the_exact_rational_pass(seed, dim, hidden, lo, span, eps,
                                                              variant):
    """For random objective rows, upper(...) in floats ≥ the same substitution in exact
    rationals (exact slopes, exact P − W), and within 1e-12 relative (+ a tiny absolute)."""
    target, rep = _hand_made(seed, (dim, *hidden, 2), eps)
    box = Box(np.full(dim, lo), np.full(dim, lo + span))
    pre = rigorous_preactivation_bounds(target, box)
    crown = DifferenceCrown(target, box, rep, None, pre)
    rng = np.random.default_rng(seed + 1)
    for t in range(target.depth):
        n = target.widths[t + 1]
        gz, gd = rng.normal(size=(1, n)), rng.normal(size=(1, n))
        fast = float(crown.upper(t, gz, gd, variant)[0])
        exact = _upper_exact(crown, target, box, rep, t, gz, gd, variant)
        assert exact <= Fraction(fast)
        assert fast - float(exact) <= 1e-12 * abs(float(exact)) + 1e-12


# ------------------------------------------------------------ intermediate intervals
def _exact_states(target, rep, x):
    """(z_t, Δ_t) per layer at x, in exact rationals (the represented network computed
    directly: ẑ_0 = P σ(x) + N σ(−x) + b̂, x̂ = σ(ẑ), ẑ_t = P x̂ + b̂)."""
    h = [Fraction(v) for v in x]
    hp = [max(v, 0) for v in h]
    hn = [max(-v, 0) for v in h]
    out = []
    h_hat = None
    for t, (w, b, r) in enumerate(zip(target.weights, target.biases, rep, strict=True)):
        z, zh = [], []
        for j in range(w.shape[0]):
            z.append(sum((Fraction(w[j, i]) * h[i] for i in range(w.shape[1])),
                         Fraction(b[j])))
            if t == 0:
                v = sum((Fraction(r.positive[0, j, i]) * hp[i]
                         + Fraction(r.negative[0, j, i]) * hn[i] for i in range(w.shape[1])),
                        Fraction(r.bias[0, j]))
            else:
                v = sum((Fraction(r.positive[0, j, i]) * h_hat[i] for i in range(w.shape[1])),
                        Fraction(r.bias[0, j]))
            zh.append(v)
        out.append((z, [a - c for a, c in zip(zh, z, strict=True)]))
        h = [max(v, 0) for v in z]
        h_hat = [max(v, 0) for v in zh]
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), dim=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       lo=st.floats(-1.5, 0.5), span=st.floats(0.2, 2.0), eps=st.floats(1e-3, 0.3))
def test_intermediate_intervals_enclose_exact_states(seed, dim, hidden, lo, span, eps):
    target, rep = _hand_made(seed, (dim, *hidden, 2), eps)
    box = Box(np.full(dim, lo), np.full(dim, lo + span))
    crown = DifferenceCrown(target, box, rep, None, rigorous_preactivation_bounds(target, box),
                            variants=(0.0,))
    rng = np.random.default_rng(seed)
    corners = np.stack([box.lower, box.upper, np.clip(0.0, box.lower, box.upper)])
    xs = np.concatenate([box.sample(20, rng), corners])
    for x in xs:
        for t, (z, d) in enumerate(_exact_states(target, rep, x)):
            zlo, zhi = crown.z[t]
            dlo, dhi = crown.d[t]
            for j in range(len(z)):
                assert Fraction(zlo[j]) <= z[j] <= Fraction(zhi[j])
                assert Fraction(dlo[j]) <= d[j] <= Fraction(dhi[j])


# ------------------------------------------------------------ sound on constructions
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), method=st.sampled_from(construct.METHODS),
       dim=st.integers(1, 2),
       hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       lo=st.floats(-1.5, 0.5), span=st.floats(0.2, 2.0), eps=st.floats(0.01, 0.2))
def test_back_substitution_is_above_the_exact_sup(seed, method, dim, hidden, lo, span, eps,
                                                  exact_sup_oracle):
    widths = (dim, *hidden, 2)
    target = targets.random_target(widths, np.random.default_rng(seed), zero_fraction=0.2)
    box = Box(np.full(dim, lo), np.full(dim, lo + span))
    ticket = construct.construct(target, method, eps_param=eps, delta=0.1, rng=seed,
                                 rho=24 if method.startswith("l+1") else 16, domain=box)
    rep = construct.represented_layers(ticket)
    slack = rounding_slack(ticket, construct.represented_layers(abs_ticket(ticket)),
                           depth_source=ticket.source.depth)
    copies = ticket_copies(ticket, rep)  # L+1: the per-copy weights read from the masks
    assert (copies is None) == (method in ONE_COPY)
    v, v_slack = (None, None) if copies is None else copies
    value = crown_output_error(target, box, rep, slack, copy_weights=v, copy_slack=v_slack)
    assert value is not None
    enc = exact_sup_oracle(target, ticket.network, ticket.scale, box, value, max_cells=100_000)
    assert enc.lower <= value  # an exact corner value above the bound: unsound
    assert enc.upper <= value * (1 + (1e-8 if enc.converged else 1e-2))


# ------------------------------------------------------------ closed forms, scope
def _pair(w1, b1, w2, b2, p1, bb1, p2, bb2):
    target = Network((np.array(w1), np.array(w2)), (np.array(b1), np.array(b2)))
    rep = (RepresentedLayer(np.array(p1)[None], -np.array(p1)[None], np.array(bb1)[None],
                            np.abs(np.array(p1))[None]),
           RepresentedLayer(np.array(p2)[None], -np.array(p2)[None], np.array(bb2)[None],
                            np.abs(np.array(p2))[None]))
    return target, rep


def test_stably_active_layer_is_certified_exactly():
    """Every hidden neuron stably active in both networks: the difference is affine in x, and
    the back-substituted bound is its exact maximum, by hand: target 2x + 5 on [−1, 1], ticket
    0.75·(1.25x + 2) + (x + 3) = 1.9375x + 4.5, difference −0.0625x − 0.5, sup |·| = 0.5625
    at x = 1. The interval method pays for the lost correlation of (P − W)·x and P·δ."""
    target, rep = _pair([[1.0], [1.0]], [2.0, 3.0], [[1.0, 1.0]], [0.0],
                        [[1.25], [1.0]], [2.0, 3.0], [[0.75, 1.0]], [0.0])
    box = Box(np.array([-1.0]), np.array([1.0]))
    value = crown_output_error(target, box, rep)
    assert 0.5625 <= value <= 0.5625 * (1 + 1e-14)
    assert C.differential_output_error(target, box, rep) >= 0.9375  # by hand: intervals


def test_several_copies_per_neuron_are_out_of_scope():
    target, rep = _hand_made(0, (2, 3, 2), 0.01)
    doubled = (RepresentedLayer(*(np.concatenate([a, a]) for a in (
        rep[0].positive, rep[0].negative, rep[0].bias, rep[0].gain))), rep[1])
    assert crown_output_error(target, Box.cube(-1.0, 1.0, 2), doubled) is None


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), dim=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_copy_weights_reproduce_the_ticket(seed, dim, hidden):
    """The copy-level network read back (layer 1 per copy from the represented layer, later
    layers x̂ ↦ V x̂ + b̂ with V from copies.copy_weights) computes the ticket's Λ⁻¹ f_S,
    and V sums to the represented P and G over the copies of each input neuron."""
    widths = (dim, *hidden, 2)
    target = targets.random_target(widths, np.random.default_rng(seed), zero_fraction=0.2)
    box = Box.cube(-1.0, 1.0, dim)
    ticket = construct.construct(target, "l+1", eps_param=0.05, delta=0.1, rng=seed, rho=6,
                                 domain=box)
    rep = construct.represented_layers(ticket)
    v, _ = ticket_copies(ticket, rep)
    x = box.sample(50, np.random.default_rng(seed))
    r0 = rep[0]
    k0, n1, _ = r0.positive.shape
    h = (np.maximum(x, 0) @ r0.positive.reshape(k0 * n1, dim).T
         + np.maximum(-x, 0) @ r0.negative.reshape(k0 * n1, dim).T + r0.bias.reshape(-1))
    for t in range(1, len(rep)):
        k_prev, n_in = rep[t - 1].copies, rep[t - 1].positive.shape[1]
        per_neuron = v[t].reshape(v[t].shape[0], k_prev, n_in)
        assert np.allclose(per_neuron.sum(axis=1), rep[t].positive.reshape(-1, n_in),
                           rtol=1e-12, atol=1e-12)
        assert np.allclose(np.abs(per_neuron).sum(axis=1), rep[t].gain.reshape(-1, n_in),
                           rtol=1e-12, atol=1e-12)
        h = np.maximum(h, 0) @ v[t].T + rep[t].bias.reshape(-1)
    expected = ticket.network.forward(x) / ticket.scale
    assert np.allclose(h, expected, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(expected).max()))


# ------------------------------------------------------------ the registered check can fail
def _chord_constant_dropped(zlo, zhi, dlo, dhi):
    tt, _, s, beta_l = _relax_difference_linear(zlo, zhi, dlo, dhi)
    return tt, np.zeros_like(tt), s, beta_l


def _no_weight_error(self_layer, *args, **kwargs):
    _Layer_init(self_layer, *args, **kwargs)
    self_layer.m = np.zeros_like(self_layer.m)  # forgets (P − W)·x


_relax_difference_linear = crown._relu_difference_linear
_Layer_init = crown._Layer.__init__


def test_differential_check_fails_under_mutants(monkeypatch):
    """certificate-differential passes, and fails under each plausible bug of the
    back-substitution: the chord's constant of δ ≤ t(Δ − Δ⁻) dropped, or the (P − W)·x term
    of the difference forgotten."""
    from lotteryproofs.checks.bounds import check_differential
    from lotteryproofs.theorems import CheckContext

    assert check_differential(CheckContext(np.random.default_rng(0))).passed
    for target, mutant in ((crown, "_relu_difference_linear"), (crown._Layer, "__init__")):
        with monkeypatch.context() as m:
            m.setattr(target, mutant, _chord_constant_dropped if mutant.startswith("_relu")
                      else _no_weight_error)
            result = check_differential(CheckContext(np.random.default_rng(0)))
        assert not result.passed, mutant
