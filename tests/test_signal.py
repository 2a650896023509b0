"""Signal propagation through random sources (proofs/signal-propagation.md)."""

import math
import re

import numpy as np
import pytest

from lotteryproofs._validate import InputError
from lotteryproofs.signal import bonferroni_z, measure_signal_propagation, signal_table

WIDTH, DEPTH = 256, 20
#: Variances of D_w = D_b, written out here rather than imported (an independent statement).
VARIANCE = {"normal": 1.0, "uniform": 1.0 / 3.0}
#: Every statistical assertion of this file at family level 1e-3 over this many comparisons.
Z = bonferroni_z(1e-3, 2 * 2 * DEPTH + 2 * DEPTH + 2 * 2)


def _measure(law, rule, seed, networks=2):
    return measure_signal_propagation(law=law, bias_rule=rule, width=WIDTH, depth=DEPTH,
                                      n_inputs=64, n_networks=networks,
                                      rng=np.random.default_rng(seed))


@pytest.mark.parametrize("law", ["normal", "uniform"])
@pytest.mark.parametrize("rule", ["constant", "product", "zero"])
def test_ratio_follows_mean_field_law(law, rule):
    result = _measure(law, rule, seed=[11, len(law), len(rule)])
    if rule == "zero":
        assert np.all(result.ratio == 0) and np.all(result.bias_term == 0)
        return
    deviation = np.abs(np.log(result.ratio / result.predicted_ratio)) / result.log_ratio_sd
    assert np.all(deviation <= Z), (deviation.max(), Z)
    # the predicted bias term is the scheme's stated scale, recomputed here independently
    sigma2 = 2.0 / (VARIANCE[law] * WIDTH)
    layers = np.arange(1, DEPTH + 1)
    scale2 = sigma2**layers if rule == "product" else np.ones(DEPTH)
    np.testing.assert_allclose(result.predicted_bias_term, VARIANCE[law] * scale2, rtol=1e-12)


@pytest.mark.parametrize("law", ["normal", "uniform"])
def test_weight_term_follows_conditional_law(law):
    """Zero biases: T^w_l = q_l exactly, and T^w_l matches σ_l² Var(D_w) Σ mean x² within the
    tolerance of a mean of N row terms of relative variance ≤ 2."""
    result = _measure(law, "zero", seed=[12, len(law)])
    np.testing.assert_allclose(result.mean_sq_preactivation, result.weight_term, rtol=1e-12)
    sd = math.sqrt(2.0 / (WIDTH * result.n_networks))
    deviation = np.abs(np.log(result.weight_term / result.predicted_weight_term)) / sd
    assert np.all(deviation <= Z), (deviation.max(), Z)


@pytest.mark.parametrize("law", ["normal", "uniform"])
def test_product_rule_ratio_is_not_constant(law):
    """r_L/r_1 = (T^b_L/T^b_1)(T^w_1/T^w_L); the first factor is Π_{k=2}^{L} σ_k² = σ^{2(L−1)} up to
    sampling noise of the two bias means. So the ratio falls by ≈ σ² per layer: at width 256 by
    more than 30 orders of magnitude over 20 layers, where a constant ratio would stay ≈ 1."""
    result = _measure(law, "product", seed=[13, len(law)])
    sigma2 = 2.0 / (VARIANCE[law] * WIDTH)
    observed = math.log(result.ratio[-1] / result.ratio[0])
    weight_factor = math.log(result.weight_term[0] / result.weight_term[-1])
    kappa_b = 2.0 if law == "normal" else 0.8
    sd = math.sqrt(2 * kappa_b / (WIDTH * result.n_networks))
    assert abs(observed - weight_factor - (DEPTH - 1) * math.log(sigma2)) <= Z * sd
    assert result.ratio[-1] / result.ratio[0] < 1e-30
    # constant bias scale: ratio decays too, but only like 1/l (far from the product rule)
    constant = _measure(law, "constant", seed=[14, len(law)])
    assert 1e-3 < constant.ratio[-1] / constant.ratio[0] < 0.5


def test_same_seed_same_numbers():
    a = measure_signal_propagation(width=16, depth=4, rng=5)
    b = measure_signal_propagation(width=16, depth=4, rng=5)
    assert np.array_equal(a.ratio, b.ratio) and np.array_equal(a.mean_sq_preactivation,
                                                               b.mean_sq_preactivation)
    assert "| 4 |" in signal_table([a, b])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"law": "cauchy"}, "unknown law 'cauchy'"),
        ({"bias_rule": "random"}, "unknown bias rule 'random'; known rules: zero, constant"),
        ({"bias_factor": -1.0}, "bias_factor (β) must be >= 0"),
        ({"width": 0}, "width must be an integer >= 1"),
        ({"depth": 2.5}, "depth must be an integer >= 1"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        measure_signal_propagation(rng=0, **{"width": 8, "depth": 2, **kwargs})
