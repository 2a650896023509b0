"""Initialisation schemes, the scaling lemma, looks-linear identities, zero-bias homogeneity.

Statistical tests use the Kolmogorov–Smirnov statistic computed here and the
Dvoretzky–Kiefer–Wolfowitz–Massart bound P(sup|F_n − F| > t) ≤ 2 exp(−2 n t²), which holds for
every n (no asymptotics, no scipy): the threshold t = √(ln(2/α) / (2n)) at level α = 1e-6 per
test. Scales are written out here (σ = √(2/n) normal, √(6/n) uniform) rather than imported.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.checks.init import (
    orthogonal_singular_value,
    random_masks,
    rounding_tolerance,
    singular_value_tolerance,
)
from lotteryproofs.init import (
    SCHEMES,
    draw_network,
    draw_source,
    from_unit_scale,
    he_layer_scales,
    looks_linear_blocks,
    unit_scale,
)
from lotteryproofs.network import Network

ALPHA = 1e-6
_erf = np.vectorize(math.erf)
CDF = {
    "uniform": lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0),
    "normal": lambda x: 0.5 * (1.0 + _erf(x / math.sqrt(2.0))),
}
SCALE_NUMERATOR = {"normal": 2.0, "uniform": 6.0}


def he(n_in: int, law: str) -> float:
    return math.sqrt(SCALE_NUMERATOR[law] / n_in)


def ks_statistic(sample, cdf) -> float:
    x = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def dkw_threshold(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def assert_follows(sample, law):
    sample = np.asarray(sample).ravel()
    d, t = ks_statistic(sample, CDF[law]), dkw_threshold(sample.size)
    assert d <= t, f"KS statistic {d:.4f} > DKW threshold {t:.4f} (n = {sample.size}, {law})"


# --------------------------------------------------------------------------- laws and scales
WIDTHS = (30, 60, 40, 40, 10)
N_NETWORKS = 60


def _normalised_samples(scheme, options):
    """Pool W_l/σ_l and b_l/(β s_l) over N_NETWORKS draws; σ_l, s_l recomputed here."""
    law = options.get("law", scheme.split("-")[0])
    beta = options.get("bias_factor", 1.0)
    weights, biases = [], []
    for seed in range(N_NETWORKS):
        net = draw_network(scheme, WIDTHS, rng=np.random.default_rng([7, seed]), **options)
        if scheme == "looks-linear":
            w_list, b_list = looks_linear_blocks(net)
        else:
            w_list, b_list = net.weights, net.biases
        cumulative = 1.0
        for layer, (w, b) in enumerate(zip(w_list, b_list, strict=True)):
            sigma = he(WIDTHS[layer], law)
            cumulative *= sigma
            weights.append(w / sigma)
            if options.get("biases") == "dependent" and layer % 2 == 1:
                continue  # determined by the cancellation (tested separately)
            scale = 1.0 if options.get("bias_rule") == "constant" else cumulative
            biases.append(b / (beta * scale) if beta > 0 else b)
    return law, np.concatenate([w.ravel() for w in weights]), np.concatenate(biases)


LAW_CASES = [
    ("uniform", {}),
    ("normal", {}),
    ("uniform", {"bias_factor": 0.05}),
    ("normal", {"bias_rule": "constant", "bias_factor": 2.0}),
    ("looks-linear", {"law": "uniform"}),
    ("looks-linear", {"law": "normal", "bias_factor": 0.5}),
    ("looks-linear", {"law": "uniform", "biases": "dependent"}),
]


@pytest.mark.parametrize(("scheme", "options"), LAW_CASES, ids=lambda v: str(v))
def test_weights_and_biases_follow_their_laws(scheme, options):
    law, weights, biases = _normalised_samples(scheme, options)
    assert_follows(weights, law)
    assert_follows(biases, law)


@pytest.mark.parametrize("scheme", ["uniform-zero-bias", "normal-zero-bias"])
def test_zero_bias_controls(scheme):
    law, weights, biases = _normalised_samples(scheme, {})
    assert_follows(weights, law)
    assert np.all(biases == 0)


def test_ks_has_power_against_a_wrong_scale_or_rule():
    """The same test rejects a 5% weight-scale error, a wrong β and the wrong bias rule."""
    _, weights, biases = _normalised_samples("uniform", {})
    assert ks_statistic(weights / 1.05, CDF["uniform"]) > dkw_threshold(weights.size)
    assert ks_statistic(biases / 1.5, CDF["uniform"]) > dkw_threshold(biases.size)
    constant = draw_network("normal", WIDTHS, rng=5, bias_rule="constant")
    cumulative = np.cumprod([he(n, "normal") for n in WIDTHS[:-1]])
    as_product = np.concatenate([b / c for b, c in zip(constant.biases, cumulative, strict=True)])
    assert ks_statistic(as_product, CDF["normal"]) > dkw_threshold(as_product.size)


def test_orthogonal_blocks_have_equal_singular_values():
    for law in ("uniform", "normal"):
        net = draw_network("looks-linear", WIDTHS, rng=3, law=law, weights="orthogonal")
        blocks, _ = looks_linear_blocks(net)
        fan_in = [WIDTHS[0]] + [w // 2 for w in WIDTHS[1:-1]]
        variance = {"uniform": 1 / 3, "normal": 1.0}[law]
        for layer, w0 in enumerate(blocks):
            expected = he(WIDTHS[layer], law) * math.sqrt(variance * fan_in[layer])
            sv = np.linalg.svd(w0, compute_uv=False)
            np.testing.assert_allclose(sv, expected, rtol=1e-13)


def test_dependent_bias_formula_for_pairs():
    """b₀^{(2)} = −W₀^{(2)} b₀^{(1)} (pair), and for odd depth the triple closes the group."""
    draw = draw_source("looks-linear", (5, 8, 6, 4, 3), rng=4, biases="dependent")
    w, b = looks_linear_blocks(draw.network)
    tol = 8 * 8 * 2.0**-53 * (np.abs(w[1]) @ np.abs(b[0]))
    assert np.all(np.abs(b[1] + w[1] @ b[0]) <= tol)
    tol = 16 * 8 * 2.0**-53 * (np.abs(w[3]) @ np.abs(b[2]))
    assert np.all(np.abs(b[3] + w[3] @ b[2]) <= tol)
    draw = draw_source("looks-linear", (5, 8, 6, 3), rng=4, biases="dependent")
    w, b = looks_linear_blocks(draw.network)
    offset = w[1] @ b[0] + b[1]
    tol = 64 * 8 * 2.0**-53 * (np.abs(w[2]) @ (np.abs(w[1]) @ np.abs(b[0]) + np.abs(b[1])))
    assert np.all(np.abs(b[2] + w[2] @ offset) <= tol)
    assert all(np.all(v != 0) for v in b)


def test_same_seed_same_bytes_and_schemes_registered():
    assert sorted(SCHEMES) == ["looks-linear", "normal", "normal-zero-bias", "uniform",
                               "uniform-zero-bias"]
    for name in SCHEMES:
        a = draw_network(name, (3, 4, 2), rng=np.random.SeedSequence(9))
        b = draw_network(name, (3, 4, 2), rng=np.random.SeedSequence(9))
        assert all(x.tobytes() == y.tobytes() for x, y in
                   zip(a.weights + a.biases, b.weights + b.biases, strict=True))


# --------------------------------------------------------------------------- scaling lemma
laws = st.sampled_from(["uniform", "normal"])
widths_st = st.lists(st.integers(1, 20), min_size=2, max_size=6)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40)
@given(widths=widths_st, law=laws, beta=st.floats(0, 5), density=st.floats(0, 1), seed=seeds)
def test_scaling_identity_for_random_masks(widths, law, beta, density, seed):
    rng = np.random.default_rng(seed)
    draw = draw_source(law, widths, rng=rng, bias_factor=beta)
    g, scale = unit_scale(draw.network, law=law)
    assert scale == pytest.approx(math.prod(he(n, law) for n in widths[:-1]), rel=1e-14)
    masks = random_masks(draw.network, rng, density)
    f_s, g_s = draw.network.masked(*masks), g.masked(*masks)
    x = rng.uniform(-2, 2, (8, widths[0]))
    assert np.all(np.abs(f_s(x) - scale * g_s(x)) <= rounding_tolerance(f_s, x))
    # the unit network the draw returns is the same network, to one rounding per parameter
    assert np.all(np.abs(draw.unit_network.masked(*masks)(x) - g_s(x))
                  <= rounding_tolerance(g_s, x))


@settings(max_examples=30)
@given(widths=widths_st, law=laws, seed=seeds)
def test_unit_scale_round_trip(widths, law, seed):
    draw = draw_source(law, widths, rng=seed)
    scales = [he(n, law) for n in widths[:-1]]
    np.testing.assert_allclose(he_layer_scales(widths, law), scales, rtol=1e-15)
    g, scale = unit_scale(draw.network, scales)
    back = from_unit_scale(g, scales)
    for p, q in zip(back.weights + back.biases, draw.network.weights + draw.network.biases,
                    strict=True):
        np.testing.assert_allclose(p, q, rtol=8 * len(widths) * 2.0**-53, atol=0)
    for p, q in zip(g.weights + g.biases, draw.unit_network.weights + draw.unit_network.biases,
                    strict=True):
        np.testing.assert_allclose(p, q, rtol=8 * len(widths) * 2.0**-53, atol=0)
    assert scale == pytest.approx(draw.scale, rel=1e-15)


# --------------------------------------------------------------------------- looks-linear
@st.composite
def ll_widths(draw, min_depth=2):
    depth = draw(st.integers(min_depth, 6))
    hidden = [2 * draw(st.integers(1, 10)) for _ in range(depth - 1)]
    return (draw(st.integers(1, 10)), *hidden, draw(st.integers(1, 6)))


def _affine(blocks, bias_blocks, n_in):
    jac, offset = np.eye(n_in), np.zeros(n_in)
    for w0, b0 in zip(blocks, bias_blocks, strict=True):
        jac, offset = w0 @ jac, w0 @ offset + b0
    return jac, offset


@settings(max_examples=40)
@given(widths=ll_widths(), law=laws, kind=st.sampled_from(["iid", "orthogonal"]), seed=seeds)
def test_looks_linear_dependent_biases_is_linear(widths, law, kind, seed):
    net = draw_network("looks-linear", widths, rng=seed, law=law, weights=kind,
                       biases="dependent")
    blocks, _ = looks_linear_blocks(net)
    jac = np.eye(widths[0])
    for w0 in blocks:
        jac = w0 @ jac
    x = np.random.default_rng(seed).uniform(-3, 3, (8, widths[0]))
    assert np.all(np.abs(net(x) - x @ jac.T) <= rounding_tolerance(net, x))
    assert all(np.all(b != 0) for b in net.biases)


@settings(max_examples=40)
@given(widths=ll_widths(min_depth=1), law=laws, kind=st.sampled_from(["iid", "orthogonal"]),
       seed=seeds)
def test_looks_linear_independent_biases_is_affine(widths, law, kind, seed):
    net = draw_network("looks-linear", widths, rng=seed, law=law, weights=kind)
    jac, offset = _affine(*looks_linear_blocks(net), widths[0])
    x = np.random.default_rng(seed).uniform(-3, 3, (8, widths[0]))
    assert np.all(np.abs(net(x) - (x @ jac.T + offset)) <= rounding_tolerance(net, x))
    # affine, not linear: f(0) = c is far above rounding
    zero = np.zeros(widths[0])
    assert np.max(np.abs(net(zero))) > np.max(rounding_tolerance(net, zero))
    zero_bias = draw_network("looks-linear", widths, rng=seed, law=law, weights=kind,
                             biases="zero")
    assert np.all(zero_bias(zero) == 0)


@settings(max_examples=30)
@given(n=st.integers(1, 12), depth=st.integers(2, 6), law=laws,
       biases=st.sampled_from(["independent", "dependent"]), shape=st.sampled_from(
           ["square", "decreasing", "increasing"]), seed=seeds)
def test_orthogonal_jacobian_singular_values_equal(n, depth, law, biases, shape, seed):
    m = [n + {"square": 0, "decreasing": depth - k, "increasing": k}[shape]
         for k in range(depth + 1)]
    widths = (m[0], *[2 * v for v in m[1:-1]], m[-1])
    net = draw_network("looks-linear", widths, rng=seed, law=law, weights="orthogonal",
                       biases=biases)
    expected = orthogonal_singular_value(widths, law)
    assert expected == pytest.approx(math.sqrt(2.0), rel=1e-14)  # closed form, He scales
    for x in np.random.default_rng(seed).uniform(-3, 3, (3, widths[0])):
        sv = np.linalg.svd(net.input_jacobian(x), compute_uv=False)
        assert sv.size == min(widths[0], widths[-1])
        assert np.all(np.abs(sv - expected) <= singular_value_tolerance(net, x, expected))


def test_orthogonal_jacobian_needs_monotone_widths():
    """Counterexample to THEORY.md §2 as stated: widths (4, 2, 4) give a rank-1 Jacobian."""
    net = draw_network("looks-linear", (4, 2, 4), rng=0, weights="orthogonal")
    x = np.ones(4)
    sv = np.linalg.svd(net.input_jacobian(x), compute_uv=False)
    tol = singular_value_tolerance(net, x, math.sqrt(2.0))
    assert abs(sv[0] - math.sqrt(2.0)) <= tol and np.all(sv[1:] <= tol)


# --------------------------------------------------------------------------- zero bias
@settings(max_examples=40)
@given(widths=widths_st, law=laws, density=st.floats(0, 1), seed=seeds)
def test_zero_bias_subnetworks_are_positively_homogeneous(widths, law, density, seed):
    rng = np.random.default_rng(seed)
    net = draw_network(f"{law}-zero-bias", widths, rng=rng)
    sub = net.masked(*random_masks(net, rng, density))
    x = rng.uniform(-2, 2, (8, widths[0]))
    lam = rng.uniform(0, 10, (8, 1))
    lam[0] = 0.0
    bound = rounding_tolerance(sub, lam * x) + lam * rounding_tolerance(sub, x)
    assert np.all(np.abs(sub(lam * x) - lam * sub(x)) <= bound)
    assert np.all(sub(np.zeros(widths[0])) == 0)
    # the test tells the difference: a nonzero-bias source is not homogeneous at 0
    biased = draw_network(law, widths, rng=rng)
    zero = np.zeros(widths[0])
    assert np.max(np.abs(biased(zero))) > np.max(rounding_tolerance(biased, zero))


# --------------------------------------------------------------------------- any widths
@settings(max_examples=40)
@given(widths=widths_st, scheme=st.sampled_from(sorted(SCHEMES)), seed=seeds)
def test_every_scheme_serves_any_widths_or_says_what_it_needs(widths, scheme, seed):
    odd_hidden = [i for i in range(1, len(widths) - 1) if widths[i] % 2]
    if scheme == "looks-linear" and odd_hidden:
        with pytest.raises(InputError, match=f"even hidden widths.*widths\\[{odd_hidden[0]}\\]"):
            draw_network(scheme, widths, rng=seed)
        return
    net = draw_network(scheme, widths, rng=seed)
    assert net.widths == tuple(widths)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("scheme", "widths", "options", "message"),
    [
        ("xavier", (3, 2), {}, "unknown initialisation scheme 'xavier'; known schemes: "
                               "looks-linear, normal, normal-zero-bias, uniform, "
                               "uniform-zero-bias"),
        ("uniform", (3, 0, 2), {}, "widths[1] must be an integer >= 1, got 0"),
        ("uniform", (3, -4), {}, "widths[1] must be an integer >= 1, got -4"),
        ("uniform", (3, 2.5), {}, "widths[1] must be an integer >= 1, got 2.5"),
        ("uniform", (3.0, 2), {}, "widths[0] must be an integer >= 1, got 3.0"),
        ("uniform", (3,), {}, "widths needs at least 2 entries"),
        ("normal", (3, 2), {"bias_factor": -0.1}, "bias_factor (β) must be >= 0, got -0.1"),
        ("normal", (3, 2), {"bias_factor": float("nan")}, "bias_factor (β) must be finite"),
        ("normal", (3, 2), {"beta": 1.0}, "scheme 'normal' got unknown option(s) ['beta']; "
                                          "its options are: bias_factor, bias_rule"),
        ("normal-zero-bias", (3, 2), {"bias_factor": 1.0},
         "scheme 'normal-zero-bias' got unknown option(s) ['bias_factor']; its options are: none"),
        ("uniform", (3, 2), {"bias_rule": "sum"},
         "option bias_rule must be one of product, constant; got 'sum'"),
        ("looks-linear", (3, 5, 2), {}, "even hidden widths (each neuron has a mirror twin); "
                                        "widths[1] = 5 is odd"),
        ("looks-linear", (3, 2), {"biases": "dependent"}, "dependent biases needs depth >= 2"),
        ("looks-linear", (3, 4, 2), {"weights": "haar"},
         "option weights must be one of iid, orthogonal; got 'haar'"),
        ("looks-linear", (3, 4, 2), {"law": "cauchy"},
         "option law must be one of normal, uniform; got 'cauchy'"),
    ],
)
def test_bad_input(scheme, widths, options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        draw_network(scheme, widths, rng=0, **options)


def test_bad_input_rng_and_scales():
    with pytest.raises(InputError, match="rng is required"):
        draw_network("uniform", (3, 2), rng=None)
    net = draw_network("uniform", (3, 4, 2), rng=0)
    with pytest.raises(InputError, match=re.escape("need one layer scale per layer: the network "
                                                   "has 2 layers, got 1 scales")):
        unit_scale(net, [1.0])
    with pytest.raises(InputError, match=re.escape("layer_scales[1] must be > 0, got 0.0")):
        unit_scale(net, [1.0, 0.0])
    with pytest.raises(InputError, match="exactly one of layer_scales and law"):
        unit_scale(net)
    with pytest.raises(InputError, match="exactly one of layer_scales and law"):
        unit_scale(net, [1.0, 1.0], law="uniform")
    with pytest.raises(InputError, match="unknown law 'gamma'; known laws: normal, uniform"):
        he_layer_scales((3, 2), "gamma")
    with pytest.raises(InputError, match="layer 0 is not mirrored"):
        looks_linear_blocks(Network((np.ones((4, 3)), np.ones((2, 4))),
                                    (np.zeros(4), np.zeros(2))))
    with pytest.raises(InputError, match="a uniform network of widths .* would need about"):
        draw_network("uniform", (100_000, 100_000, 100_000), rng=0)
