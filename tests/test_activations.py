"""Activations and the one propagation routine, against independent oracles.

Networks with LeakyReLU and Identity activations are built through the public API
(``Network(weights, biases, activation=...)``) and compared with a neuron-by-neuron
``Fraction`` oracle written here; every interval arithmetic must enclose the exact value of
every sampled point (box corners, exact zeros, random points, boxes touching 0); the
activations' declared properties are verified by exact sampling.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import InputError, Network
from lotteryproofs.activations import (
    Identity,
    LeakyReLU,
    ReLU,
    get_activation,
)
from lotteryproofs.certify import (
    exact_forward,
    rigorous_preactivation_bounds,
    rigorous_preactivation_bounds_iv,
)
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, network_sha256
from lotteryproofs.propagation import (
    DYADIC,
    FLOAT_INTERVAL,
    FRACTION,
    MPMATH_IV,
    OUTWARD,
    from_dyadic,
    propagate,
    to_dyadic,
)
from lotteryproofs.rounding import iv53

ALPHAS = st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0, 3.0])


def _mpf(x) -> Fraction:
    """An mpmath number exactly (mantissa · 2^exponent)."""
    sign, man, exp, _ = mpmath.mpf(x)._mpf_
    return (-1) ** sign * Fraction(man) * Fraction(2) ** exp


def _oracle_sigma(kind: str, alpha: float):
    """σ written independently of the package (exact)."""
    a = Fraction(alpha)
    if kind == "identity":
        return lambda v: v
    return lambda v: v if v > 0 else a * v


def _oracle_forward(weights, biases, sigma, x) -> list[Fraction]:
    """THEORY.md §0 neuron by neuron in exact rational arithmetic."""
    h = [Fraction(float(v)) for v in x]
    for t, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = []
        for j in range(w.shape[0]):
            total = Fraction(float(b[j]))
            for i in range(w.shape[1]):
                total += Fraction(float(w[j, i])) * h[i]
            z.append(total)
        h = [sigma(v) for v in z] if t < len(weights) - 1 else z
    return h


@st.composite
def networks(draw):
    """(kind, alpha, weights, biases): small dense parameters, some exact zeros."""
    kind = draw(st.sampled_from(["leaky_relu", "identity"]))
    alpha = draw(ALPHAS) if kind == "leaky_relu" else 0.0
    widths = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, n_out in itertools.pairwise(widths):
        w = rng.uniform(-2, 2, (n_out, n_in))
        w[rng.random(w.shape) < 0.2] = 0.0
        b = rng.uniform(-1, 1, n_out)
        b[rng.random(n_out) < 0.2] = 0.0
        weights.append(w)
        biases.append(b)
    return kind, alpha, weights, biases


def _build(kind, alpha, weights, biases) -> Network:
    spec = f"leaky_relu:{alpha!r}" if kind == "leaky_relu" else "identity"
    return Network(weights, biases, activation=spec)


@st.composite
def boxes(draw, dim: int):
    """Boxes in [-2, 2]^dim, some coordinates with an endpoint exactly 0."""
    lo, hi = [], []
    for _ in range(dim):
        shape = draw(st.sampled_from(["free", "lo0", "hi0"]))
        a = draw(st.floats(-2, 2, allow_nan=False))
        width = draw(st.floats(1e-3, 2, allow_nan=False))
        if shape == "lo0":
            a = 0.0
        elif shape == "hi0":
            a = -width
        lo.append(a)
        hi.append(0.0 if shape == "hi0" else a + width)
    return Box(np.array(lo), np.array(hi))


def _points(box: Box, rng) -> np.ndarray:
    """Every corner, the point nearest 0 (exact zeros where the box contains 0), samples."""
    corners = np.array(list(itertools.product(*zip(box.lower, box.upper, strict=True))))
    nearest_zero = np.clip(0.0, box.lower, box.upper)[None]
    return np.concatenate([corners, nearest_zero, box.sample(20, rng)])


@settings(max_examples=60)
@given(networks(), st.integers(0, 2**32 - 1))
def test_forward_and_exact_match_the_neuron_by_neuron_oracle(net_params, seed):
    kind, alpha, weights, biases = net_params
    net = _build(kind, alpha, weights, biases)
    sigma = _oracle_sigma(kind, alpha)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (6, net.widths[0]))
    x[0] = 0.0  # exact zeros everywhere
    batched = net.forward(x)
    for row, out in zip(x, batched, strict=True):
        oracle = _oracle_forward(weights, biases, sigma, row)
        # exact arithmetics: equal, not close
        assert exact_forward(net, row) == oracle
        assert net.propagate([Fraction(float(v)) for v in row], FRACTION) == oracle
        assert from_dyadic(net.propagate(to_dyadic(row), DYADIC)) == oracle
        # float64: within rounding of the exact value (terms ≤ 8·4^depth in size)
        np.testing.assert_allclose(out, [float(v) for v in oracle], rtol=1e-12, atol=1e-12)


@settings(max_examples=60)
@given(st.data())
def test_every_interval_arithmetic_encloses_the_exact_values(data):
    kind, alpha, weights, biases = data.draw(networks())
    net = _build(kind, alpha, weights, biases)
    box = data.draw(boxes(net.widths[0]))
    sigma = _oracle_sigma(kind, alpha)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    points = _points(box, rng)

    outward = rigorous_preactivation_bounds(net, box)
    iv_bounds = rigorous_preactivation_bounds_iv(net, box)
    nearest = net.preactivation_bounds(box)
    for x in points:
        # pre-activations of every layer, exactly
        h = [Fraction(float(v)) for v in x]
        for t, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = [Fraction(float(b[j])) + sum(Fraction(float(w[j, i])) * h[i]
                                             for i in range(w.shape[1]))
                 for j in range(w.shape[0])]
            lo, hi = outward[t]
            ilo, ihi = iv_bounds[t]
            flo, fhi = nearest[t]
            scale = 1 + max(abs(float(v)) for v in z)
            for j, v in enumerate(z):
                assert Fraction(float(lo[j])) <= v <= Fraction(float(hi[j]))
                assert _mpf(ilo[j]) <= v <= _mpf(ihi[j])
                # round-to-nearest IBP: an enclosure up to its own rounding
                assert float(flo[j]) - 1e-12 * scale <= float(v) <= float(fhi[j]) + 1e-12 * scale
            h = [sigma(v) for v in z]


@settings(max_examples=100)
@given(ALPHAS, st.floats(-4, 4, allow_nan=False), st.floats(0, 4, allow_nan=False),
       st.sampled_from(["relu", "identity", "leaky_relu"]))
def test_activation_images_enclose_sigma_of_every_point(alpha, lo, width, name):
    act = get_activation({"name": name, "alpha": alpha} if name == "leaky_relu" else name)
    sigma = _oracle_sigma("identity", 0.0) if name == "identity" else _oracle_sigma(
        "leaky", 0.0 if name == "relu" else alpha)
    hi = lo + width
    lo_a, hi_a = np.array([lo, 0.0, lo]), np.array([hi, 0.0, max(hi, 0.0)])
    out_lo, out_hi = act.interval_outward(lo_a, hi_a)
    f_lo, f_hi = act.interval(lo_a, hi_a)
    with iv53() as iv:
        images = [act.interval_iv(iv.mpf([float(a), float(b)])) for a, b in zip(lo_a, hi_a,
                                                                                   strict=True)]
    for k in range(3):
        for s in np.linspace(0, 1, 7):
            v = Fraction(float(lo_a[k])) + Fraction(s) * (Fraction(float(hi_a[k]))
                                                          - Fraction(float(lo_a[k])))
            exact = sigma(v)
            assert act.exact(v) == exact
            assert Fraction(float(out_lo[k])) <= exact <= Fraction(float(out_hi[k]))
            assert _mpf(images[k].a) <= exact <= _mpf(images[k].b)
        # the float image is σ at the endpoints, rounded to nearest
        assert f_lo[k] == float(sigma(Fraction(float(lo_a[k]))))
        assert f_hi[k] == float(sigma(Fraction(float(hi_a[k]))))


@settings(max_examples=100)
@given(ALPHAS, st.sampled_from(["relu", "identity", "leaky_relu"]),
       st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=2),
       st.fractions(min_value=Fraction(1, 1000), max_value=1000))
def test_declared_properties_hold_exactly(alpha, name, pair, lam):
    act = get_activation(f"leaky_relu:{alpha!r}" if name == "leaky_relu" else name)
    a, b = (Fraction(v) for v in pair)
    if act.positively_homogeneous:
        assert act.exact(lam * a) == lam * act.exact(a)
    assert abs(act.exact(a) - act.exact(b)) <= Fraction(act.lipschitz) * abs(a - b)
    c = act.odd_coefficient
    assert c is not None and act.exact(a) - act.exact(-a) == Fraction(c) * a
    assert act.odd_identity == (c == 1)
    # the dyadic fast path is the same function
    ints, e = to_dyadic(np.array(pair))
    got = from_dyadic(act.exact_scaled(ints, e))
    assert got == [act.exact(a), act.exact(b)]
    # the float map is σ rounded to nearest, and the derivative the slope of each piece
    x = np.array(pair)
    np.testing.assert_array_equal(act.forward(x), [float(act.exact(a)), float(act.exact(b))])
    for v, d in zip(pair, act.derivative(x), strict=True):
        step = Fraction(1, 2**20)
        if abs(v) > 1e-3 or name == "identity":
            slope = (act.exact(Fraction(v) + step) - act.exact(Fraction(v))) / step
            assert Fraction(float(d)) == slope


def test_known_property_values():
    assert ReLU().odd_identity and ReLU().lipschitz == 1.0 and ReLU().kinks == (0.0,)
    assert Identity().odd_coefficient == 2.0 and Identity().kinks == ()
    leaky = LeakyReLU(0.25)
    assert leaky.odd_coefficient == 1.25 and not leaky.odd_identity
    assert LeakyReLU(3.0).lipschitz == 3.0 and leaky.lipschitz == 1.0


def test_registry_names_specs_and_errors():
    assert get_activation("relu") == ReLU()
    assert get_activation("ReLU") == ReLU()
    assert get_activation("identity") == Identity()
    assert get_activation("leaky_relu") == LeakyReLU(0.01)
    assert get_activation("leaky_relu:0.2") == LeakyReLU(0.2)
    assert get_activation({"name": "leaky_relu", "alpha": 0.3}) == LeakyReLU(0.3)
    for act in (ReLU(), Identity(), LeakyReLU(0.1), LeakyReLU(1 / 3)):
        assert get_activation(act.spec) == act
    for bad in ("tanh", "relu:0.1", "leaky_relu:x", {"name": "relu", "alpha": 1}, 3,
                "leaky_relu:-0.1", "leaky_relu:nan"):
        with pytest.raises(InputError):
            get_activation(bad)


def test_network_api_keeps_the_activation():
    rng = np.random.default_rng(5)
    w = [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))]
    b = [rng.normal(size=3), rng.normal(size=2)]
    relu = Network(w, b)
    assert relu.activations == (ReLU(),) and relu.is_relu
    assert network_sha256(relu) == network_sha256(Network(w, b, activation="relu"))
    leaky = Network(w, b, activation="leaky_relu:0.1")
    other = Network(w, b, activations=[LeakyReLU(0.2)])
    ident = Network(w, b, activation=Identity())
    digests = {network_sha256(n) for n in (relu, leaky, other, ident)}
    assert len(digests) == 4
    masked = leaky.masked([np.ones((3, 2)), np.zeros((2, 3))], [np.ones(3), np.ones(2)])
    assert masked.activations == leaky.activations
    built = Network.from_layers([Dense(w[0], b[0]), Dense(w[1], b[1])], "leaky_relu:0.1")
    x = rng.normal(size=(4, 2))
    np.testing.assert_array_equal(built.forward(x), leaky.forward(x))
    with pytest.raises(InputError):
        Network(w, b, activations=["relu", "relu"])
    with pytest.raises(InputError):
        Network(w, b, activation="relu", activations=["relu"])
    with pytest.raises(InputError):
        Network.from_layers([Dense(w[0], b[0]), Dense(w[0], b[0])])
    with pytest.raises(InputError):
        Dense(np.ones((2, 3)), np.ones(3))


def test_propagate_needs_one_activation_between_layers():
    layer = Dense(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError):
        propagate([layer, layer], [], np.zeros(2), FLOAT_INTERVAL)
    # the arithmetics are independent of the network object: a single layer, no activation
    assert propagate([layer], [], [Fraction(1), Fraction(-2)], FRACTION) == [1, -2]
    with iv53() as iv:
        (a, b) = propagate([layer], [], [iv.mpf([0, 1]), iv.mpf([-1, 0])], MPMATH_IV)
        assert (a.a, a.b, b.a, b.b) == (0, 1, -1, 0)
    lo, hi = propagate([layer], [], (np.array([0.0, -1.0]), np.array([1.0, 0.0])), OUTWARD)
    assert np.all(lo <= [0.0, -1.0]) and np.all(hi >= [1.0, 0.0])


def test_iv_precision_is_restored():
    old = mpmath.iv.prec
    mpmath.iv.prec = 80
    try:
        net = Network([np.eye(2)], [np.zeros(2)])
        rigorous_preactivation_bounds_iv(net, Box.cube(-1, 1, 2))
        assert mpmath.iv.prec == 80
    finally:
        mpmath.iv.prec = old
