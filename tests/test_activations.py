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
    # odd: σ(−z) = −σ(z), checked exactly
    for act in (ReLU(), Identity(), leaky, LeakyReLU(1.0)):
        zs = [Fraction(1, 3), Fraction(-5, 2), Fraction(7)]
        assert act.is_odd == all(act.exact(-z) == -act.exact(z) for z in zs)


def test_registry_names_specs_and_errors():
    assert get_activation("relu") == ReLU()
    assert get_activation("ReLU") == ReLU()
    assert get_activation("identity") == Identity()
    assert get_activation("leaky_relu") == LeakyReLU(0.01)
    assert get_activation("leaky_relu:0.2") == LeakyReLU(0.2)
    assert get_activation({"name": "leaky_relu", "alpha": 0.3}) == LeakyReLU(0.3)
    for act in (ReLU(), Identity(), LeakyReLU(0.1), LeakyReLU(1 / 3)):
        assert get_activation(act.spec) == act
    for bad in ("mish", "relu:0.1", "leaky_relu:x", {"name": "relu", "alpha": 1}, 3,
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


# ====================================================================== smooth activations
# The oracle: each σ written here with mpmath's own functions at 50 digits (mp.ncdf, mp.tanh,
# mp.exp, mp.log), independent of the package's iv_functions series.
SMOOTH = ("tanh", "sigmoid", "softplus", "elu", "elu:0.5", "elu:2.5", "gelu", "silu")


def _mp_sigma(spec: str):
    mp = mpmath.mp
    name, _, arg = spec.partition(":")
    alpha = mp.mpf(arg) if arg else mp.mpf(1)
    return {
        "tanh": mp.tanh,
        "sigmoid": lambda z: 1 / (1 + mp.exp(-z)),
        "softplus": lambda z: mp.log(1 + mp.exp(z)),
        "elu": lambda z: z if z > 0 else alpha * mp.expm1(z),
        "gelu": lambda z: z * mp.ncdf(z),
        "silu": lambda z: z / (1 + mp.exp(-z)),
    }[name]


def _mp_image(spec: str, lo: float, hi: float, n: int = 200):
    """(min, max) of σ over [lo, hi] at 50 digits: a dense grid, the endpoints and, for
    GELU/SiLU, the interior critical point found here with mp.diff and findroot."""
    mp = mpmath.mp
    sigma = _mp_sigma(spec)
    points = [mp.mpf(lo) + (mp.mpf(hi) - mp.mpf(lo)) * k / n for k in range(n + 1)]
    crit = _mp_critical(spec)
    if crit is not None and lo <= crit <= hi:
        points.append(crit)
    values = [sigma(p) for p in points]
    return min(values), max(values), values


_CRITICAL: dict = {}


def _mp_critical(spec: str):
    """z* with σ'(z*) = 0 (numerical derivative of the oracle, Newton from a coarse grid)."""
    if spec not in ("gelu", "silu"):
        return None
    if spec not in _CRITICAL:
        mp = mpmath.mp
        with mpmath.workdps(50):
            sigma = _mp_sigma(spec)
            grid = [mp.mpf(k) / 100 for k in range(-300, 1)]
            start = min(grid, key=sigma)
            _CRITICAL[spec] = mp.findroot(lambda z: mp.diff(sigma, z), start)
    return _CRITICAL[spec]


def _mp_sup_slope(spec: str):
    """sup |σ'| at 50 digits: a grid on [−12, 12] refined by Newton on σ''."""
    mp = mpmath.mp
    with mpmath.workdps(50):
        sigma = _mp_sigma(spec)
        if spec.startswith("elu"):  # σ' = α e^z on z < 0, 1 on z > 0: the sup is max(1, α)
            alpha = mp.mpf(spec.partition(":")[2] or 1)
            return max(mp.mpf(1), alpha)
        if spec == "softplus":  # σ' = sigmoid < 1, → 1 as z → ∞
            return mp.mpf(1)
        grid = [mp.mpf(k) / 20 for k in range(-240, 241)]
        best = max(grid, key=lambda z: abs(mp.diff(sigma, z)))
        if abs(mp.diff(sigma, best, 2)) > mp.mpf(10) ** -40:
            best = mp.findroot(lambda z: mp.diff(sigma, z, 2), best)
        return abs(mp.diff(sigma, best))


def _as_mpf(x) -> mpmath.mpf:
    return mpmath.mpf(x)


@pytest.mark.parametrize("spec", SMOOTH)
def test_smooth_forward_matches_mpmath_at_50_digits(spec):
    act = get_activation(spec)
    x = np.concatenate([np.linspace(-30, 30, 601), [-700.0, -40.0, -1e-300, 0.0, 1e-300,
                                                     1e-8, 40.0, 700.0]])
    got = act.forward(x)
    with mpmath.workdps(50):
        sigma = _mp_sigma(spec)
        for xi, gi in zip(x, got, strict=True):
            z = mpmath.mpf(float(xi))
            want = sigma(z)
            # libm-quality float evaluation: a few ulps times the condition number
            # |z σ'(z)/σ(z)| (the rounding of z/√2, −z, … is amplified by it), and subnormals
            cond = abs(z * mpmath.diff(sigma, z) / want) if want else 0
            tol = 8 * 2.0**-53 * (1 + cond) * abs(want) + 1e-300
            assert abs(gi - want) <= tol, (spec, xi, gi, want)
    # in place: the same values, written into the argument
    y = x.copy()
    np.testing.assert_array_equal(act.forward(y, inplace=True), got)
    np.testing.assert_array_equal(y, got)


def _check_image(spec, lo, hi):
    act = get_activation(spec)
    lo_a, hi_a = np.array([lo]), np.array([hi])
    out_lo, out_hi = act.interval_outward(lo_a, hi_a)
    f_lo, f_hi = act.interval(lo_a, hi_a)
    with iv53() as iv:
        image = act.interval_iv(iv.mpf([lo, hi]))
    with mpmath.workdps(50):
        true_min, true_max, values = _mp_image(spec, lo, hi)
        i_lo, i_hi = _as_mpf(image.a), _as_mpf(image.b)
        # rigorous: every value inside (and the true extremes, so the whole image)
        assert _as_mpf(out_lo[0]) <= true_min and true_max <= _as_mpf(out_hi[0]), spec
        assert i_lo <= true_min and true_max <= i_hi, spec
        # and tight: within a few ulps of the true image (outward rounding, not a loose bound)
        slack = 1e-14 * (1 + abs(true_min) + abs(true_max)) + 1e-300
        assert true_min - _as_mpf(out_lo[0]) <= slack and _as_mpf(out_hi[0]) - true_max <= slack
        assert true_min - i_lo <= slack and i_hi - true_max <= slack
        # round to nearest: close to the true image
        assert abs(f_lo[0] - true_min) <= slack and abs(f_hi[0] - true_max) <= slack


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SMOOTH), st.floats(-12, 12, allow_nan=False),
       st.floats(0, 6, allow_nan=False))
def test_smooth_images_enclose_and_are_tight(spec, lo, width):
    _check_image(spec, lo, lo + width)


@pytest.mark.parametrize("spec", ("gelu", "silu"))
def test_images_of_intervals_around_the_interior_minimum(spec):
    z = float(_mp_critical(spec))
    for lo, hi in ((z - 1e-12, z + 1e-12), (z, z), (z - 1e-3, z), (z, z + 1e-3),
                   (-1.0, 0.0), (-3.0, 2.0), (-40.0, -0.5), (-0.1, 5.0), (z - 2, z + 0.1)):
        _check_image(spec, lo, hi)


@pytest.mark.parametrize("spec", ("gelu", "silu"))
def test_interior_minimum_constants(spec):
    act = get_activation(spec)
    c = act.critical
    with mpmath.workdps(50):
        z = _mp_critical(spec)
        m = _mp_sigma(spec)(z)
        assert _as_mpf(c.z_lower) < z < _as_mpf(c.z_upper)
        assert abs(c.z_star - z) <= 1e-15 and abs(c.minimum - m) <= 1e-16
        assert _as_mpf(c.minimum_lower) <= m <= _as_mpf(c.minimum_lower) + 1e-15
    # the documented values
    assert (round(c.z_star, 4), round(c.minimum, 4)) == {"gelu": (-0.7518, -0.17),
                                                         "silu": (-1.2785, -0.2785)}[spec]


@pytest.mark.parametrize("spec", SMOOTH)
def test_lipschitz_constants_against_mpmath(spec):
    act = get_activation(spec)
    with mpmath.workdps(50):
        sup = _mp_sup_slope(spec)
        # an upper bound, and the least one up to a float step
        assert sup <= _as_mpf(act.lipschitz) <= sup * (1 + 1e-15)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SMOOTH), st.floats(-20, 20, allow_nan=False),
       st.floats(-20, 20, allow_nan=False))
def test_lipschitz_and_derivative_by_sampling(spec, a, b):
    act = get_activation(spec)
    with mpmath.workdps(50):
        sigma = _mp_sigma(spec)
        fa, fb = sigma(mpmath.mpf(a)), sigma(mpmath.mpf(b))
        # (the 50-digit oracle's own rounding: 1e-45 relative to σ's values)
        bound = _as_mpf(act.lipschitz) * abs(mpmath.mpf(a) - mpmath.mpf(b))
        assert abs(fa - fb) <= bound + mpmath.mpf(10) ** -45 * (1 + abs(fa))
        if abs(a) > 1e-6 or not act.kinks:
            d = mpmath.diff(sigma, mpmath.mpf(a))
            assert abs(float(act.derivative(np.array([a]))[0]) - d) <= 1e-12 * (1 + abs(d))


@pytest.mark.parametrize("spec", SMOOTH)
def test_smooth_properties_against_mpmath(spec):
    act = get_activation(spec)
    with mpmath.workdps(50):
        sigma = _mp_sigma(spec)
        zs = [mpmath.mpf(v) for v in (0.3, -0.3, 1.7, -5.0, 11.0)]
        assert not act.positively_homogeneous and not act.piecewise_linear
        assert act.positively_homogeneous == all(
            abs(sigma(2 * z) - 2 * sigma(z)) < 1e-40 for z in zs)
        assert act.is_odd == all(abs(sigma(-z) + sigma(z)) < 1e-40 for z in zs)
        c = act.odd_coefficient
        linear = all(abs(sigma(z) - sigma(-z) - z) < 1e-40 for z in zs)
        assert (c == 1) == linear and (c is None) == (not linear)
        assert abs(act.value_at_zero - sigma(mpmath.mpf(0))) <= 1e-16
        assert act.monotone == (spec not in ("gelu", "silu"))
    with pytest.raises(InputError, match="no exact"):
        act.exact(Fraction(1, 3))
    with pytest.raises(InputError, match="no exact"):
        act.exact_scaled([1], 2)


def test_documented_smooth_values():
    # the values the theorems and the reference-code defects are about (THEORY.md, issue text)
    assert get_activation("sigmoid").value_at_zero == 0.5
    assert get_activation("tanh").is_odd and get_activation("tanh").value_at_zero == 0.0
    assert get_activation("elu:2.5").lipschitz == 2.5 and get_activation("elu").lipschitz == 1
    assert get_activation("elu").kinks == () and get_activation("elu:0.5").kinks == (0.0,)
    assert round(get_activation("gelu").lipschitz, 4) == 1.1289
    assert round(get_activation("silu").lipschitz, 4) == 1.0998


def test_smooth_registry_names_and_aliases():
    from lotteryproofs.activations import ELU, GELU, Sigmoid, SiLU, Softplus, Tanh

    assert get_activation("Tanh") == Tanh() and get_activation("logistic") == Sigmoid()
    assert get_activation("Swish") == SiLU() and get_activation("GELU") == GELU()
    assert get_activation("softplus") == Softplus() and get_activation("ELU") == ELU(1.0)
    assert get_activation("elu:0.5") == ELU(0.5) == get_activation({"name": "elu",
                                                                     "alpha": 0.5})
    assert get_activation("LeakyReLU:0.2") == LeakyReLU(0.2)
    for act in (Tanh(), Sigmoid(), Softplus(), ELU(0.5), GELU(), SiLU()):
        assert get_activation(act.spec) == act
    for bad in ("tanh:1", "elu:-1", "elu:x", "mish", {"name": "gelu", "approximate": "tanh"}):
        with pytest.raises(InputError):
            get_activation(bad)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(SMOOTH), st.integers(0, 2**32 - 1))
def test_smooth_networks_forward_and_rigorous_bounds(spec, seed):
    """Networks with each activation: forward equals a direct numpy/mpmath computation, and
    the rigorous pre-activation bounds (outward and mpmath.iv) enclose the 50-digit values."""
    rng = np.random.default_rng(seed)
    widths = [2, 4, 3, 2]
    w = [rng.uniform(-2, 2, (b, a)) for a, b in itertools.pairwise(widths)]
    b = [rng.uniform(-1, 1, n) for n in widths[1:]]
    net = Network(w, b, activation=spec)
    box = Box(np.array([-1.0, 0.0]), np.array([0.5, 2.0]))
    x = np.concatenate([box.sample(10, rng), [[-1.0, 0.0], [0.5, 2.0]]])
    outward = rigorous_preactivation_bounds(net, box)
    iv_bounds = rigorous_preactivation_bounds_iv(net, box)
    got = net.forward(x)
    with mpmath.workdps(50):
        sigma = _mp_sigma(spec)
        for row, out in zip(x, got, strict=True):
            h = [mpmath.mpf(float(v)) for v in row]
            for t in range(len(w)):
                z = [mpmath.mpf(float(b[t][j])) + mpmath.fsum(
                    mpmath.mpf(float(w[t][j, i])) * h[i] for i in range(len(h)))
                    for j in range(w[t].shape[0])]
                lo, hi = outward[t]
                ilo, ihi = iv_bounds[t]
                for j, v in enumerate(z):
                    assert _as_mpf(lo[j]) <= v <= _as_mpf(hi[j])
                    assert _as_mpf(ilo[j]) <= v <= _as_mpf(ihi[j])
                h = [sigma(v) for v in z] if t < len(w) - 1 else z
            np.testing.assert_allclose(out, [float(v) for v in h], rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.floats(-40, 40, allow_nan=False), st.floats(0, 1e-3, allow_nan=False),
       st.sampled_from([53, 80]))
def test_iv_functions_enclose_mpmath_at_any_context_precision(x, width, prec):
    """The rigorous primitives at the caller's iv precision, with the mp context at its
    default 53 bits (endpoints must be read exactly, not rounded by mpmath.mpf)."""
    from lotteryproofs import iv_functions as F

    iv = mpmath.iv
    old = iv.prec
    iv.prec = prec
    try:
        z = iv.mpf([x, x + width])
        cases = [(F.ncdf(z), mpmath.ncdf), (F.expm1(z / 100), lambda v: mpmath.expm1(v / 100)),
                 (F.log1p(abs(z) / 100), lambda v: mpmath.log1p(abs(v) / 100)),
                 (F.erfc(abs(z)), lambda v: mpmath.erfc(abs(v)))]
        for got, oracle in cases:
            with mpmath.workdps(50):
                for v in (F.lower(z), F.upper(z)):
                    assert F.lower(got) <= oracle(v) <= F.upper(got)
                    assert F.to_float_down(got) <= oracle(v) <= F.to_float_up(got)
    finally:
        iv.prec = old


# ====================================================================== declared activations
def _sequential_export(path, metadata):
    """nn.Sequential(Linear(3, 5), Tanh(), Linear(5, 4), Tanh(), Linear(4, 2)) as
    safetensors, its metadata in the header's "metadata" JSON (as the io layer writes it)."""
    import json

    from safetensors.numpy import save_file

    rng = np.random.default_rng(11)
    w = [rng.normal(size=(5, 3)), rng.normal(size=(4, 5)), rng.normal(size=(2, 4))]
    b = [rng.normal(size=5), rng.normal(size=4), rng.normal(size=2)]
    tensors = {}
    for module, (wi, bi) in zip((0, 2, 4), zip(w, b, strict=True), strict=True):
        tensors[f"{module}.weight"], tensors[f"{module}.bias"] = wi, bi
    save_file(tensors, path, {"metadata": json.dumps(metadata)} if metadata is not None else None)
    return w, b


def test_declared_tanh_export_loads_as_a_tanh_network(tmp_path):
    from lotteryproofs import io

    w, b = _sequential_export(tmp_path / "tanh.safetensors", {"activation": "tanh"})
    net, _, info = io.read_target_info(tmp_path / "tanh.safetensors")
    assert [a.name for a in net.activations] == ["tanh", "tanh"]
    assert info.activation == "tanh" and info.activation_declared and info.notes == ()
    x = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    direct = np.tanh(np.tanh(x @ w[0].T + b[0]) @ w[1].T + b[1]) @ w[2].T + b[2]
    np.testing.assert_allclose(net.forward(x), direct, rtol=1e-13, atol=1e-13)
    assert not np.allclose(direct, Network(w, b).forward(x))  # ReLU would differ
    # a list of one per hidden layer, in PyTorch and scikit-learn spellings
    _sequential_export(tmp_path / "mixed.safetensors", {"activation": ["Tanh", "logistic"]})
    mixed = io.load_target(tmp_path / "mixed.safetensors")
    assert [a.spec for a in mixed.activations] == ["tanh", "sigmoid"]
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(mixed.forward(x), s(np.tanh(x @ w[0].T + b[0]) @ w[1].T + b[1])
                               @ w[2].T + b[2], rtol=1e-13, atol=1e-13)


def test_undeclared_activation_is_a_stated_assumption_or_the_option(tmp_path):
    from lotteryproofs import io

    w, b = _sequential_export(tmp_path / "plain.safetensors", None)
    net, _, info = io.read_target_info(tmp_path / "plain.safetensors")
    assert net.is_relu and not info.activation_declared
    assert any("declares no activation; assuming ReLU" in n for n in info.notes)
    assert any(a.startswith("activation:") and "assumed ReLU" in a for a in info.assumptions)
    net, _, info = io.read_target_info(tmp_path / "plain.safetensors", activation="tanh")
    assert [a.name for a in net.activations] == ["tanh", "tanh"]
    assert info.activation_source == "--activation" and not info.activation_declared
    assert any("using tanh (from --activation)" in n for n in info.notes)
    assert any("tanh (from --activation)" in a for a in info.assumptions)
    # a file that declares one keeps it; the option may repeat it but not contradict it
    _sequential_export(tmp_path / "tanh.safetensors", {"activation": "tanh"})
    assert io.read_target_info(tmp_path / "tanh.safetensors", activation="Tanh")[2].notes == ()
    with pytest.raises(InputError, match="contradicts"):
        io.read_target_info(tmp_path / "tanh.safetensors", activation="relu")


def test_supported_pairs_come_from_the_constructions():
    from lotteryproofs.construct.registry import (
        CONSTRUCTIONS,
        check_supported,
        supported_activations,
    )

    declared = {a for c in CONSTRUCTIONS.values() for a in c.supports.activations}
    assert set(supported_activations()) == declared
    tanh = Network([np.ones((2, 2)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)],
                   activation="tanh")
    for name, construction in CONSTRUCTIONS.items():
        expected = (f"the {name} construction does not support activation tanh (supported: "
                    f"{', '.join(construction.supports.activations)})")
        if "tanh" in construction.supports.activations:
            check_supported(name, tanh)
        else:
            with pytest.raises(InputError) as info:
                check_supported(name, tanh)
            assert str(info.value) == expected


@pytest.mark.parametrize("activation", ["tanh", "logistic", "identity"])
def test_train_target_activation_is_declared_and_read_back(tmp_path, activation):
    """train-target --activation: the network computes what scikit-learn's model computes
    (its predict_proba is the oracle), the file declares the activation and loads with it."""
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier

    from lotteryproofs import datasets, io, train

    data = datasets.load_dataset("wine", split_seed=0)
    trained = train.train_target(data, (6,), seed=0, activation=activation)
    expected = {"tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}[activation]
    assert trained.metadata["activation"] == expected
    assert trained.network.activations[0].name == expected
    # the same fit, directly: softmax of our logits = scikit-learn's probabilities
    model = MLPClassifier(hidden_layer_sizes=(6,), activation=activation, solver="adam",
                          alpha=train.ALPHA, learning_rate_init=train.LEARNING_RATE_INIT,
                          max_iter=train.MAX_ITER, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data.x_train, data.y_train)
    logits = trained.network.forward(data.x_test)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, model.predict_proba(data.x_test), rtol=1e-9, atol=1e-12)
    io.save_target(trained.network, tmp_path / "t.npz", trained.metadata)
    net, _, info = io.read_target_info(tmp_path / "t.npz")
    assert info.activation_declared and net.activations == trained.network.activations
    with pytest.raises(InputError, match="must be one of MLPClassifier"):
        train.train_target(data, (6,), seed=0, activation="sigmoid")


def test_saved_networks_read_back_with_their_activations(tmp_path):
    from lotteryproofs import io

    rng = np.random.default_rng(3)
    w = [rng.normal(size=(4, 2)), rng.normal(size=(3, 4)), rng.normal(size=(1, 3))]
    b = [rng.normal(size=4), rng.normal(size=3), rng.normal(size=1)]
    for acts in (["gelu", "gelu"], ["elu:0.5", "silu"], ["softplus", "relu"]):
        net = Network(w, b, activations=acts)
        io.save_target(net, tmp_path / "n.npz", {"note": "x"})
        back = io.load_target(tmp_path / "n.npz")
        assert back.activations == net.activations and network_sha256(back) == network_sha256(net)
    with pytest.raises(InputError, match="contradicts"):
        io.save_target(Network(w, b, activation="tanh"), tmp_path / "m.npz",
                       {"activation": "relu"})
    assert not (tmp_path / "m.npz").exists()


# ====================================================================== signal propagation
def test_second_moment_against_mpmath_quadrature():
    from lotteryproofs.signal import second_moment

    assert second_moment("relu", 3.0) == 1.5
    with mpmath.workdps(30):
        for spec in ("tanh", "sigmoid", "gelu", "silu"):
            sigma = _mp_sigma(spec)
            for q in (0.1, 1.0, 4.0):
                def integrand(g, sigma=sigma, q=q):
                    return sigma(mpmath.sqrt(q) * g) ** 2 * mpmath.npdf(g)

                want = mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])
                assert abs(second_moment(spec, q) - want) <= 1e-12 * want


@pytest.mark.parametrize("spec", ["tanh", "sigmoid"])
@pytest.mark.parametrize("rule", ["product", "constant"])
def test_signal_propagation_for_tanh_and_sigmoid_sources(spec, rule):
    """The conditional law holds for any φ: the measured ratio r_l matches E T^b / E[T^w | x]
    within the module's statistical tolerance (Bonferroni over the layers); the a-priori
    recursion with E φ(√q g)² follows the measured q_l within its sampling noise."""
    from lotteryproofs.signal import bonferroni_z, measure_signal_propagation

    depth = 6
    result = measure_signal_propagation(law="normal", bias_rule=rule, width=256, depth=depth,
                                        n_inputs=256, n_networks=2,
                                        rng=np.random.default_rng([21, len(spec)]),
                                        activation=spec)
    assert result.activation == spec
    z = bonferroni_z(1e-3, depth)
    deviation = np.abs(np.log(result.ratio / result.predicted_ratio)) / result.log_ratio_sd
    assert np.all(deviation <= z), (deviation.max(), z)
    # the measured q_l carries one random factor per layer of relative sd ≤ √(2/N), N = width ×
    # networks (a mean of N squared row sums): 5 sd of their accumulated log
    layers = np.arange(1, depth + 1)
    tolerance = 5 * np.sqrt(2 * layers / (256 * 2))
    log_gap = np.abs(np.log(result.mean_sq_preactivation / result.mean_field_mean_sq))
    assert np.all(log_gap <= tolerance), (log_gap, tolerance)
    # the activation matters: a ReLU source gives other second moments
    relu = measure_signal_propagation(law="normal", bias_rule=rule, width=256, depth=depth,
                                      n_inputs=256, n_networks=2,
                                      rng=np.random.default_rng([21, len(spec)]))
    assert not np.allclose(relu.mean_sq_preactivation, result.mean_sq_preactivation, rtol=0.1)
