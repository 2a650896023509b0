"""Checks of the initialisation claims (THEORY.md §1, §2, §4.4): scaling lemma, looks-linear
identities, orthogonal Jacobian, zero-bias homogeneity, product-rule signal propagation.

Identities that hold in real arithmetic are compared with :func:`rounding_tolerance`, a bound on
floating-point error derived from the standard inner-product bound (proofs/scaling-lemma.md),
so a real violation — anything above rounding — fails the check.
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs.activations import IDENTITY
from lotteryproofs.init import (
    LAW_VARIANCES,
    draw_source,
    he_layer_scales,
    looks_linear_blocks,
    unit_scale,
)
from lotteryproofs.network import Network
from lotteryproofs.propagation import FLOAT64, propagate
from lotteryproofs.rounding import UNIT_ROUNDOFF, gamma_upper
from lotteryproofs.signal import bonferroni_z, measure_signal_propagation
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem


def magnitude(network: Network, x: np.ndarray) -> np.ndarray:
    """M_L = |W_L|(…(|W_1||x| + |b_1|)…) + |b_L|, per output and input: the size of every term
    (the network of absolute values, no activation: its values are ≥ 0 anyway)."""
    layers = [layer.absolute() for layer in network.layers]
    identity = [IDENTITY] * (network.depth - 1)
    return propagate(layers, identity, np.abs(np.atleast_2d(x)), FLOAT64)


def rounding_tolerance(network: Network, x: np.ndarray) -> np.ndarray:
    """4 (L+1)² (n_max+2) u · M_L(x): a bound on the floating-point difference between two
    evaluations of the same real-valued network function, each with n_max-term inner products
    (Higham's γ_{n+1}|W||x̂| per layer, summed over the L layers) and parameters rescaled by up
    to L+1 roundings (the cumulative scale products). Generous by a small constant, still
    ~1e-11 relative at width 256 and depth 20.

    Plus the same factor times 2⁻¹⁰⁷⁴ · Π_l max(1, ‖W_l‖_∞): underflow. In the subnormal range
    a product's rounding error is absolute (Higham §2.1: fl(ab) = ab(1 + δ) + η,
    |η| ≤ 2⁻¹⁰⁷⁵), not relative, and each later layer amplifies it by at most ‖W_l‖_∞ (ReLU
    is 1-Lipschitz), so a source with subnormal biases
    (β ≈ 1e-313) is not flagged for one subnormal ulp."""
    depth = network.depth
    n_max = max(network.widths)
    factor = 4.0 * (depth + 1) ** 2 * (n_max + 2)
    amplification = math.prod(max(1.0, float(np.max(np.sum(np.abs(w), axis=1), initial=0.0)))
                              for w in network.weights)
    return factor * (UNIT_ROUNDOFF * magnitude(network, x) + 2.0**-1074 * amplification)


def random_masks(network: Network, rng: np.random.Generator, density: float):
    """Independent Bernoulli(density) masks for every weight and bias."""
    return (
        tuple(rng.random(w.shape) < density for w in network.weights),
        tuple(rng.random(b.shape) < density for b in network.biases),
    )


def _excess(observed_error: np.ndarray, tolerance: np.ndarray) -> float:
    """max(error / tolerance); ≤ 1 means within rounding (0/0 counts as 0, e/0 as ∞)."""
    error = np.asarray(observed_error, dtype=np.float64)
    tolerance = np.broadcast_to(tolerance, error.shape)
    if np.any(np.isnan(error)):
        return math.inf
    ratio = np.divide(error, tolerance, out=np.zeros_like(error), where=tolerance > 0)
    ratio[(tolerance <= 0) & (error > 0)] = math.inf
    return float(np.max(ratio))


# --------------------------------------------------------------------------- checks
def check_scaling_lemma(ctx: CheckContext) -> CheckResult:
    """f_S(x) = Λ·g_S(x) for random masks S of product-rule sources (both laws), to rounding."""
    rng = ctx.rng
    trials = 60 if ctx.thorough else 12
    worst, worst_dev = 0.0, 0.0
    for trial in range(trials):
        law = ("uniform", "normal")[trial % 2]
        widths = tuple(int(v) for v in rng.integers(1, 40, size=int(rng.integers(2, 8))))
        draw = draw_source(law, widths, rng=rng, bias_factor=float(rng.uniform(0, 3)))
        g, scale = unit_scale(draw.network, law=law)
        weight_masks, bias_masks = random_masks(draw.network, rng, float(rng.uniform(0.1, 1)))
        f_s = draw.network.masked(weight_masks, bias_masks)
        g_s = g.masked(weight_masks, bias_masks)
        x = rng.uniform(-2, 2, (32, widths[0]))
        err = np.abs(f_s(x) - scale * g_s(x))
        worst = max(worst, _excess(err, rounding_tolerance(f_s, x)))
        worst_dev = max(worst_dev, float(np.max(err)))
    return CheckResult(
        passed=worst <= 1.0,
        measured=f"max |f_S − Λg_S| = {worst_dev:.2e}, {worst:.2e} of the rounding bound "
                 f"({trials} random masked sources)",
        details={"trials": trials, "max_abs_error": worst_dev, "max_fraction_of_bound": worst},
    )


def _affine_part(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """(J, c) of f(x) = J x + c from the looks-linear blocks: J = W₀^{(L)}…W₀^{(1)}."""
    weight_blocks, bias_blocks = looks_linear_blocks(network)
    jac, offset = np.eye(network.widths[0]), np.zeros(network.widths[0])
    for w0, b0 in zip(weight_blocks, bias_blocks, strict=True):
        jac, offset = w0 @ jac, w0 @ offset + b0
    return jac, offset


def _random_ll_widths(rng, depth_low=2) -> tuple[int, ...]:
    depth = int(rng.integers(depth_low, 7))
    hidden = [2 * int(m) for m in rng.integers(1, 16, size=depth - 1)]
    return (int(rng.integers(1, 12)), *hidden, int(rng.integers(1, 6)))


def check_looks_linear(ctx: CheckContext) -> CheckResult:
    """LL sources: f(x) = J x exactly with dependent biases (every bias nonzero), f(x) = J x + c
    with independent biases; J from the W₀ blocks, f from the forward pass."""
    rng = ctx.rng
    trials = 60 if ctx.thorough else 15
    worst, smallest_bias, offset_gap = 0.0, math.inf, math.inf
    for trial in range(trials):
        biases = ("dependent", "independent")[trial % 2]
        weights = ("iid", "orthogonal")[(trial // 2) % 2]
        law = ("uniform", "normal")[(trial // 4) % 2]
        widths = _random_ll_widths(rng)
        net = draw_source("looks-linear", widths, rng=rng, law=law, weights=weights,
                          biases=biases).network
        jac, offset = _affine_part(net)
        x = rng.uniform(-3, 3, (32, widths[0]))
        expected = x @ jac.T + (0.0 if biases == "dependent" else offset)
        worst = max(worst, _excess(np.abs(net(x) - expected), rounding_tolerance(net, x)))
        if biases == "dependent":
            smallest_bias = min(smallest_bias, min(float(np.min(np.abs(b))) for b in net.biases))
        else:
            # with independent biases the map is affine but not linear: the offset is visible
            at_zero = rounding_tolerance(net, np.zeros(widths[0]))
            offset_gap = min(offset_gap, float(np.max(np.abs(offset)) / np.max(at_zero)))
    passed = worst <= 1.0 and smallest_bias > 0 and offset_gap > 1.0
    return CheckResult(
        passed=passed,
        measured=f"|f − (Jx [+ c])| ≤ {worst:.2e} of the rounding bound; smallest dependent bias "
                 f"{smallest_bias:.2e}; independent offsets ≥ {offset_gap:.1e}× rounding",
        details={"trials": trials, "max_fraction_of_bound": worst,
                 "smallest_dependent_bias": smallest_bias, "min_offset_over_rounding": offset_gap},
    )


def orthogonal_singular_value(widths, law: str) -> float:
    """Π_l σ_l √(Var D_w · m_{l−1}): the common singular value of a square orthogonal LL
    network's Jacobian (proofs/looks-linear.md), m_0 = n_0 and m_{l−1} = n_{l−1}/2 after."""
    scales = he_layer_scales(widths, law)
    fan_in = [widths[0]] + [w // 2 for w in widths[1:-1]]
    return math.prod(s * math.sqrt(LAW_VARIANCES[law] * m) for s, m in zip(scales, fan_in,
                                                                          strict=True))


def check_orthogonal_jacobian(ctx: CheckContext) -> CheckResult:
    """Square orthogonal LL sources with nonzero biases: every singular value of ∂f/∂x (from the
    activation pattern at random x) equals Π σ_l √(Var D_w m_{l−1}) to rounding."""
    rng = ctx.rng
    trials = 40 if ctx.thorough else 10
    worst_rel, worst_fraction = 0.0, 0.0
    for trial in range(trials):
        law = ("uniform", "normal")[trial % 2]
        biases = ("dependent", "independent")[(trial // 2) % 2]
        n, depth = int(rng.integers(1, 24)), int(rng.integers(2, 8))
        widths = (n,) + (2 * n,) * (depth - 1) + (n,)
        net = draw_source("looks-linear", widths, rng=rng, law=law, weights="orthogonal",
                          biases=biases).network
        expected = orthogonal_singular_value(widths, law)
        for x in rng.uniform(-3, 3, (4, n)):
            sv = np.linalg.svd(net.input_jacobian(x), compute_uv=False)
            tolerance = singular_value_tolerance(net, x, expected)
            deviation = float(np.max(np.abs(sv - expected)))
            worst_rel = max(worst_rel, deviation / expected)
            worst_fraction = max(worst_fraction, deviation / tolerance)
    return CheckResult(
        passed=worst_fraction <= 1.0,
        measured=f"max relative deviation of singular values {worst_rel:.2e}, "
                 f"{worst_fraction:.2e} of the rounding bound",
        details={"trials": trials, "max_relative_deviation": worst_rel,
                 "max_fraction_of_bound": worst_fraction},
    )


def singular_value_tolerance(network: Network, x: np.ndarray, expected: float) -> float:
    """Rounding bound on |σ_i(Ĵ) − σ_i(J)| for the activation-pattern Jacobian at x.

    Weyl: |σ_i(Ĵ) − σ_i(J)| ≤ ‖Ĵ − J‖₂ ≤ (L+1)γ_{n_max+1}‖|W_L|D…|W_1|‖₂ for the product, plus
    the SVD's backward error (a small multiple of n u ‖Ĵ‖₂, taken as 10 n_max u ‖Ĵ‖₂) and the
    rounding of ``expected`` itself (γ_L relative)."""
    depth, n_max = network.depth, max(network.widths)
    jac_norm = float(np.linalg.norm(network.input_jacobian(x), 2))
    absolute_norm = float(np.linalg.norm(network.input_jacobian(x, absolute=True), 2))
    return ((depth + 1) * gamma_upper(n_max + 1)[0] * absolute_norm
            + 10 * n_max * UNIT_ROUNDOFF * jac_norm + gamma_upper(depth)[0] * expected)


def check_zero_bias_homogeneity(ctx: CheckContext) -> CheckResult:
    """Zero-bias sources and random subnetworks: f_S(λx) = λ f_S(x) for λ ≥ 0; f_S(0) = 0
    exactly. Contrast: the product-rule source of the same weights is measurably not."""
    rng = ctx.rng
    trials = 60 if ctx.thorough else 15
    worst, zero_output, contrast = 0.0, 0.0, math.inf
    for trial in range(trials):
        law = ("uniform", "normal")[trial % 2]
        widths = tuple(int(v) for v in rng.integers(1, 30, size=int(rng.integers(2, 7))))
        net = draw_source(f"{law}-zero-bias", widths, rng=rng).network
        sub = net.masked(*random_masks(net, rng, float(rng.uniform(0.2, 1))))
        x = rng.uniform(-2, 2, (16, widths[0]))
        lam = rng.uniform(0, 10, (16, 1))
        lam[0] = 0.0
        err = np.abs(sub(lam * x) - lam * sub(x))
        worst = max(worst, _excess(err, rounding_tolerance(sub, lam * x)
                                   + np.abs(lam) * rounding_tolerance(sub, x)))
        zero_output = max(zero_output, float(np.max(np.abs(sub(np.zeros(widths[0]))))))
        biased = draw_source(law, widths, rng=rng).network
        contrast = min(contrast, float(np.max(np.abs(biased(np.zeros(widths[0])))))
                       / float(np.max(rounding_tolerance(biased, np.zeros(widths[0])))))
    passed = worst <= 1.0 and zero_output == 0.0 and contrast > 1.0
    return CheckResult(
        passed=passed,
        measured=f"|f_S(λx) − λf_S(x)| ≤ {worst:.2e} of the rounding bound, max |f_S(0)| = "
                 f"{zero_output}; biased sources: |f(0)| ≥ {contrast:.1e}× rounding",
        details={"trials": trials, "max_fraction_of_bound": worst, "max_abs_f_at_zero": zero_output,
                 "biased_min_f0_over_rounding": contrast},
    )


def check_signal_propagation(ctx: CheckContext) -> CheckResult:
    """The bias-to-weight ratio follows its mean-field law at every layer (both laws, constant
    and product rules; width 256, depth 20) within a Bonferroni-corrected normal tolerance at
    level 1e-3; the product rule's ratio is therefore not constant but falls ≈ σ_l² per layer."""
    rng = ctx.rng
    depth, width = 20, 256
    networks = 8 if ctx.thorough else 2
    results = [
        measure_signal_propagation(law=law, bias_rule=rule, width=width, depth=depth,
                                   n_inputs=128, n_networks=networks, rng=rng)
        for law in ("normal", "uniform") for rule in ("constant", "product", "zero")
    ]
    z = bonferroni_z(1e-3, 4 * depth)
    checked = [r for r in results if r.bias_rule != "zero"]
    worst = max(r.max_log_deviation() for r in checked)
    zero_ok = all(np.all(r.ratio == 0) for r in results if r.bias_rule == "zero")
    decay = {f"{r.law}-{r.bias_rule}": float(r.ratio[-1] / r.ratio[0]) for r in checked}
    return CheckResult(
        passed=worst <= z and zero_ok,
        measured=f"max |log(r/r̂)| = {worst:.2f} sd (≤ {z:.2f}); r_20/r_1: product "
                 f"{decay['normal-product']:.1e} (normal), {decay['uniform-product']:.1e} "
                 f"(uniform); constant {decay['normal-constant']:.2f}, "
                 f"{decay['uniform-constant']:.2f}",
        details={
            "z": z, "max_deviation_sd": worst, "ratio_last_over_first": decay,
            "ratios": {f"{r.law}-{r.bias_rule}": r.ratio.tolist() for r in results},
            "mean_sq_preactivation": {f"{r.law}-{r.bias_rule}": r.mean_sq_preactivation.tolist()
                                      for r in results},
        },
    )


THEOREMS = (
    Theorem(
        key="init.scaling-lemma",
        title="scaling lemma f_S = Λ g_S",
        claim="f_S = Λ·g_S for every mask S of a product-rule source (f = Λ g at unit scale)",
        theory="§1",
        document="proofs/scaling-lemma.md",
        code=("lotteryproofs.init:unit_scale", "lotteryproofs.init:from_unit_scale",
              "lotteryproofs.init:draw_source", "lotteryproofs.checks.init:check_scaling_lemma"),
        tests=("tests/test_init.py::test_scaling_identity_for_random_masks",
               "tests/test_init.py::test_unit_scale_round_trip"),
        check=check_scaling_lemma,
    ),
    Theorem(
        key="init.looks-linear",
        title="looks-linear source is affine",
        claim="an LL source computes x ↦ Jx + c, J = Π W₀; c = 0 with dependent biases",
        theory="§2",
        document="proofs/looks-linear.md",
        code=("lotteryproofs.init:looks_linear_layers", "lotteryproofs.init:looks_linear_blocks",
              "lotteryproofs.checks.init:check_looks_linear"),
        tests=("tests/test_init.py::test_looks_linear_dependent_biases_is_linear",
               "tests/test_init.py::test_looks_linear_independent_biases_is_affine"),
        check=check_looks_linear,
    ),
    Theorem(
        key="init.orthogonal-jacobian",
        title="orthogonal LL Jacobian",
        claim="square orthogonal LL source: all singular values of ∂f/∂x equal, biases or not",
        theory="§2",
        document="proofs/looks-linear.md",
        code=("lotteryproofs.checks.init:orthogonal_singular_value",
              "lotteryproofs.network:Network.input_jacobian",
              "lotteryproofs.checks.init:singular_value_tolerance",
              "lotteryproofs.checks.init:check_orthogonal_jacobian"),
        tests=("tests/test_init.py::test_orthogonal_jacobian_singular_values_equal",),
        check=check_orthogonal_jacobian,
    ),
    Theorem(
        key="init.zero-bias-homogeneity",
        title="zero-bias subnetworks are homogeneous",
        claim="zero-bias source: every subnetwork has f_S(λx) = λ f_S(x), λ ≥ 0, f_S(0) = 0",
        theory="§4.4",
        document="proofs/zero-bias-homogeneity.md",
        code=("lotteryproofs.checks.init:check_zero_bias_homogeneity",),
        tests=("tests/test_init.py::test_zero_bias_subnetworks_are_positively_homogeneous",),
        check=check_zero_bias_homogeneity,
    ),
    Theorem(
        key="init.signal-propagation",
        title="bias/weight ratio across depth",
        claim="ratio r_l follows its mean-field law; product rule: r_l falls ≈ σ_l² per layer",
        theory="§1",
        document="proofs/signal-propagation.md",
        code=("lotteryproofs.signal:measure_signal_propagation",
              "lotteryproofs.checks.init:check_signal_propagation"),
        tests=("tests/test_signal.py::test_ratio_follows_mean_field_law",
               "tests/test_signal.py::test_product_rule_ratio_is_not_constant"),
        check=check_signal_propagation,
    ),
)
