"""Checks of edge-popup's algebra (THEORY.md §7): the scaled edge-popup identity and the
hand-written backward pass.

Identities exact in real arithmetic are compared with a rounding bound (the one of
:func:`lotteryproofs.checks.init.rounding_tolerance`, plus the error of forming λ^{l/D} by
exp/log); the backward pass is compared with central differences, whose error is bounded by
truncation and rounding (proofs/popup-backward.md).
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs.checks.init import magnitude, rounding_tolerance
from lotteryproofs.network import Network
from lotteryproofs.popup import (
    _softmax_cross_entropy,
    distribute_scale,
    loss_and_gradients,
    masked_logits,
    scaled_layers,
)
from lotteryproofs.propagation import FLOAT64, propagate
from lotteryproofs.rounding import UNIT_ROUNDOFF
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem


def _random_network(rng: np.random.Generator, widths) -> Network:
    return Network(
        tuple(rng.normal(size=(b, a)) for a, b in zip(widths[:-1], widths[1:], strict=True)),
        tuple(rng.normal(size=b) for b in widths[1:]),
    )


def _ratio(error: np.ndarray, tolerance: np.ndarray) -> float:
    """max(error / tolerance), with 0/0 = 0 and e/0 = ∞ (an exact zero must stay zero)."""
    ratio = np.divide(error, tolerance, out=np.zeros_like(error), where=tolerance > 0)
    ratio[(tolerance <= 0) & (error != 0)] = math.inf
    return float(np.max(ratio)) if not np.any(np.isnan(error)) else math.inf


def scale_rounding_tolerance(network: Network, x: np.ndarray, scale: float) -> np.ndarray:
    """λ·(rounding_tolerance + 4(D + 2 + |ln λ|)·u·M(x)): two float evaluations of λ·f(x), one
    with λ^{1/D}, λ^{l/D} formed as exp(l·ln λ / D) (relative error ≤ (l + |ln λ| + 1)u each)."""
    extra = 4.0 * (network.depth + 2 + abs(math.log(scale))) * UNIT_ROUNDOFF
    return scale * (rounding_tolerance(network, x) + extra * magnitude(network, x))


def check_scaled_identity(ctx: CheckContext) -> CheckResult:
    """Distributing λ as λ^{1/D} on weights and λ^{l/D} on layer-l biases computes λ·f_S, and
    ∂L/∂ln λ by the chain rule equals Euler's Σ logits·∂L/∂logits, on random masked networks."""
    rng = ctx.rng
    trials = 200 if ctx.thorough else 40
    worst_fraction, worst_relative, worst_euler = 0.0, 0.0, 0.0
    for _ in range(trials):
        depth = int(rng.integers(1, 7))
        widths = tuple(int(v) for v in rng.integers(1, 33, size=depth + 1))
        net = _random_network(rng, widths)
        density = float(rng.uniform(0.05, 1.0))
        wm = tuple(rng.random(w.shape) < density for w in net.weights)
        bm = tuple(rng.random(b.shape) < density for b in net.biases)
        sub = net.masked(wm, bm)
        log_lam = float(rng.uniform(-8, 8))
        lam = math.exp(log_lam)
        x = rng.normal(size=(16, widths[0]))
        expected = lam * sub(x)
        tolerance = scale_rounding_tolerance(sub, x, lam)
        for got in (distribute_scale(sub, lam)(x), masked_logits(net, wm, bm, log_lam, x)):
            error = np.abs(got - expected)
            worst_fraction = max(worst_fraction, _ratio(error, tolerance))
            worst_relative = max(worst_relative, _ratio(error, lam * magnitude(sub, x)))
        y = rng.integers(0, widths[-1], size=16)
        logits = masked_logits(net, wm, bm, log_lam, x)
        _, g = _softmax_cross_entropy(logits, y)
        euler = math.fsum((logits * g).ravel())
        chain = loss_and_gradients(net, wm, bm, log_lam, x, y).log_scale
        scale_of_terms = math.fsum(np.abs(logits * g).ravel()) + 1e-300
        worst_euler = max(worst_euler, abs(chain - euler) / scale_of_terms)
    euler_bound = 1e-10  # sums of ≤ 2·33² products of rounded terms: ~1e-13 expected
    passed = worst_fraction <= 1.0 and worst_euler <= euler_bound
    return CheckResult(
        passed=passed,
        measured=f"|distributed − λf_S| ≤ {worst_fraction:.2e} of the rounding bound "
                 f"({worst_relative:.1e} relative); ∂L/∂lnλ vs Euler {worst_euler:.1e} "
                 f"({trials} networks, λ ∈ [e⁻⁸, e⁸])",
        details={"trials": trials, "max_fraction_of_bound": worst_fraction,
                 "max_relative_error": worst_relative, "max_euler_relative_gap": worst_euler,
                 "euler_bound": euler_bound},
    )


def central_difference_gap(rng: np.random.Generator, step: float = 1e-5) -> float:
    """max |analytic − central difference| / (1 + max|analytic|) over every mask entry and
    ln λ of one random network with real-valued masks, away from ReLU kinks."""
    while True:
        depth = int(rng.integers(1, 4))
        widths = tuple(int(v) for v in rng.integers(2, 7, size=depth + 1))
        net = _random_network(rng, widths)
        wm = [rng.uniform(0.1, 1, w.shape) for w in net.weights]
        bm = [rng.uniform(0.1, 1, b.shape) for b in net.biases]
        log_lam = float(rng.uniform(-1, 1))
        x = rng.normal(size=(6, widths[0]))
        y = rng.integers(0, widths[-1], size=6)
        # the loss is not differentiable where a hidden pre-activation is 0: stay 1e-3 away
        pre: list = []
        propagate(scaled_layers(net, wm, bm, log_lam), net.activations, x, FLOAT64, pre=pre)
        if not any(np.min(np.abs(z)) < 1e-3 for z in pre[:-1]):
            break
    grads = loss_and_gradients(net, wm, bm, log_lam, x, y)
    scale = 1.0 + max(float(np.max(np.abs(g))) for g in grads.weight_masks + grads.bias_masks)
    worst = 0.0
    for masks, analytic in ((wm, grads.weight_masks), (bm, grads.bias_masks)):
        for i, mask in enumerate(masks):
            for index in np.ndindex(mask.shape):
                old = mask[index]
                mask[index] = old + step
                up = loss_and_gradients(net, wm, bm, log_lam, x, y).loss
                mask[index] = old - step
                down = loss_and_gradients(net, wm, bm, log_lam, x, y).loss
                mask[index] = old
                worst = max(worst, abs((up - down) / (2 * step) - analytic[i][index]) / scale)
    up = loss_and_gradients(net, wm, bm, log_lam + step, x, y).loss
    down = loss_and_gradients(net, wm, bm, log_lam - step, x, y).loss
    worst = max(worst, abs((up - down) / (2 * step) - grads.log_scale) / (1 + abs(grads.log_scale)))
    return worst


def check_backward(ctx: CheckContext) -> CheckResult:
    """The hand-written backward pass equals central differences of the loss."""
    trials = 60 if ctx.thorough else 15
    gaps = [central_difference_gap(ctx.rng) for _ in range(trials)]
    bound = 1e-7  # truncation h²|L'''|/6 ≈ 1e-10 plus rounding u|L|/h ≈ 1e-11 (h = 1e-5)
    return CheckResult(
        passed=max(gaps) <= bound,
        measured=f"max |backward − central difference| = {max(gaps):.1e} of (1 + |∂L|) "
                 f"(bound {bound:.0e}, {trials} networks)",
        details={"trials": trials, "max_gap": max(gaps), "bound": bound},
    )


# ------------------------------------------------------------- the zero-bias limit on spheres
#: The accuracy limit of a positively homogeneous classifier on the matched-direction spheres.
SPHERE_LIMIT = 0.5


def sphere_ticket_accuracies(source_name: str, dim: int, seed: int, *, scaled: bool,
                             epochs: int = 3) -> tuple[float, float]:
    """(train, test) accuracy of an edge-popup ticket of ``source_name`` on spheres-``dim``."""
    from lotteryproofs.datasets import load_spheres
    from lotteryproofs.experiments import run_on_dataset
    from lotteryproofs.popup import PopupConfig

    data = load_spheres(dim, seed=seed, n_directions=60)
    seq = np.random.SeedSequence(seed)
    source_seq, train_seq = seq.spawn(2)
    config = PopupConfig(density=0.5, epochs=epochs, batch_size=32, scaled=scaled)
    run = run_on_dataset(data, (16, 16), source_name, config, source_rng=source_seq,
                         train_rng=train_seq)
    return run.train_accuracy, run.test_accuracy


def check_zero_bias_sphere_limit(ctx: CheckContext) -> CheckResult:
    """Zero-bias tickets never exceed 1/2 (train or test) on the matched-direction spheres;
    nonzero-bias tickets are reported beside them (they may pass the limit)."""
    trials = 6 if ctx.thorough else 2
    seeds = [int(s) for s in ctx.rng.integers(0, 2**31, size=trials)]
    zero, nonzero = [], []
    for i, seed in enumerate(seeds):
        dim = (2, 8, 32)[i % 3]
        zero.extend(sphere_ticket_accuracies("uniform-zero-bias", dim, seed, scaled=i % 2 == 1))
        nonzero.extend(sphere_ticket_accuracies("uniform", dim, seed, scaled=i % 2 == 1))
    worst = max(zero)
    return CheckResult(
        passed=worst <= SPHERE_LIMIT,
        measured=f"max zero-bias ticket accuracy {worst:.4f} (limit {SPHERE_LIMIT}); "
                 f"nonzero-bias max {max(nonzero):.4f} ({trials} tickets each)",
        details={"zero_bias": zero, "nonzero_bias": nonzero, "limit": SPHERE_LIMIT},
    )


THEOREMS = (
    Theorem(
        key="popup.scaled-identity",
        title="Scaled edge-popup computes λ·f_S",
        claim="With λ^{1/D} on every weight and λ^{l/D} on layer-l biases, the masked network "
              "computes exactly λ·f_S; ∂L/∂ln λ = Σ logits·∂L/∂logits",
        theory="§1, §7",
        document="proofs/popup-scaled.md",
        code=("lotteryproofs.popup:distribute_scale", "lotteryproofs.popup:masked_logits",
              "lotteryproofs.popup:loss_and_gradients",
              "lotteryproofs.checks.popup:check_scaled_identity"),
        tests=("tests/test_popup.py::test_distributed_scale_is_exactly_lambda_times_f",
               "tests/test_popup.py::test_log_scale_gradient_is_eulers_identity",
               "tests/test_popup.py::test_scaled_training_fits_lambda_and_ticket_scale_is_its_inverse"),
        check=check_scaled_identity,
    ),
    Theorem(
        key="popup.backward",
        title="Edge-popup's manual backward pass is the gradient",
        claim="loss_and_gradients returns ∂L/∂m (= ∂L/∂(w·m)·w, the straight-through score "
              "gradient before sign(s)) and ∂L/∂ln λ exactly",
        theory="§7",
        document="proofs/popup-backward.md",
        code=("lotteryproofs.popup:loss_and_gradients", "lotteryproofs.popup:train_popup",
              "lotteryproofs.checks.popup:check_backward"),
        tests=("tests/test_popup.py::test_backward_matches_central_differences",
               "tests/test_popup.py::test_straight_through_gradient_is_dL_dweff_times_w"),
        check=check_backward,
    ),
    Theorem(
        key="popup.zero-bias-sphere-limit",
        title="Zero-bias tickets get at most 1/2 on concentric spheres",
        claim="A positively homogeneous classifier (a zero-bias ReLU network, any mask, any "
              "λ > 0) classifies r₁u and r₂u alike, so its accuracy on the matched-direction "
              "spheres split by direction is at most 1/2, on train and test",
        theory="§7",
        document="proofs/popup-zero-bias-sphere-limit.md",
        code=("lotteryproofs.datasets:concentric_spheres", "lotteryproofs.datasets:load_spheres",
              "lotteryproofs.checks.popup:check_zero_bias_sphere_limit"),
        tests=("tests/test_popup_spheres.py::test_zero_bias_tickets_never_exceed_one_half",
               "tests/test_popup_spheres.py::test_spheres_have_matched_directions_and_split"),
        check=check_zero_bias_sphere_limit,
    ),
)
