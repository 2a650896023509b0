"""Network, Box and interval bound propagation against independent computations."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import InputError
from lotteryproofs.network import Box, Network, same_parameters
from lotteryproofs.targets import random_target

widths_strategy = st.lists(st.integers(1, 6), min_size=2, max_size=5)


def _loop_forward(net: Network, x: np.ndarray) -> np.ndarray:
    """Independent oracle: the layer equations of THEORY.md §0 written out neuron by neuron."""
    h = list(x)
    for t, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = [sum(w[j, i] * h[i] for i in range(len(h))) + b[j] for j in range(w.shape[0])]
        h = [max(v, 0.0) for v in z] if t < net.depth - 1 else z
    return np.array(h)


@given(widths_strategy, st.integers(0, 2**32 - 1))
def test_forward_matches_neuron_by_neuron_oracle(widths, seed):
    rng = np.random.default_rng(seed)
    net = random_target(widths, rng)
    x = rng.uniform(-2, 2, (5, widths[0]))
    batched = net.forward(x)
    for row, out in zip(x, batched, strict=True):
        np.testing.assert_allclose(out, _loop_forward(net, row), rtol=1e-12, atol=1e-12)
    # one input and a batch take different BLAS paths (gemv/gemm): equal to rounding only
    np.testing.assert_allclose(net.forward(x[0]), batched[0], rtol=1e-13, atol=1e-13)


@settings(max_examples=40)
@given(widths_strategy, st.integers(0, 2**32 - 1))
def test_interval_bounds_contain_every_vertex_and_sample(widths, seed):
    """IBP bounds contain the pre-activations at all box vertices and random points."""
    rng = np.random.default_rng(seed)
    net = random_target(widths, rng)
    lower = rng.uniform(-1, 0.5, widths[0])
    box = Box(lower, lower + rng.uniform(0.1, 1.5, widths[0]))
    points = box.sample(200, rng)
    if widths[0] <= 4:
        vertices = np.array(list(itertools.product(*zip(box.lower, box.upper, strict=True))))
        points = np.vstack([points, vertices])
    bounds = net.preactivation_bounds(box)
    h = points
    for t, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = h @ w.T + b
        lo, hi = bounds[t]
        assert np.all(z >= lo - 1e-12) and np.all(z <= hi + 1e-12)
        h = np.maximum(z, 0)
    for t, B in enumerate(net.activation_bounds(box)):
        h = points
        for w, b in zip(net.weights[:t], net.biases[:t], strict=True):
            h = np.maximum(h @ w.T + b, 0)
        assert np.all(np.abs(h) <= B + 1e-12)


def test_single_layer_bounds_are_exact():
    """For one affine layer IBP is exact: the extremes are attained at box vertices."""
    net = Network((np.array([[1.0, -2.0]]),), (np.array([0.5]),))
    (lo, hi), = net.preactivation_bounds(Box(np.array([-1.0, 0.0]), np.array([1.0, 3.0])))
    assert lo[0] == 1 * -1 - 2 * 3 + 0.5 and hi[0] == 1 * 1 - 2 * 0 + 0.5


def test_masked_is_elementwise_product_and_counts():
    rng = np.random.default_rng(0)
    net = random_target((3, 4, 2), rng)
    wm = tuple(rng.random(w.shape) < 0.5 for w in net.weights)
    bm = tuple(rng.random(b.shape) < 0.5 for b in net.biases)
    sub = net.masked(wm, bm)
    for p, m, q in zip(net.weights + net.biases, wm + bm, sub.weights + sub.biases, strict=True):
        np.testing.assert_array_equal(q, p * m)
    assert sub.count_nonzero() == sum(int(m.sum()) for m in wm + bm)
    assert same_parameters(net, net) and not same_parameters(net, sub)


def test_network_is_immutable():
    net = random_target((2, 3, 1), np.random.default_rng(0))
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 1.0


@pytest.mark.parametrize(
    ("weights", "biases", "message"),
    [
        ((np.ones((2, 3)),), (np.ones(3),), "bias has 3 entries"),
        ((np.ones((2, 3)), np.ones((1, 3))), (np.ones(2), np.ones(1)), "expects 3 inputs"),
        ((np.array([[np.nan]]),), (np.zeros(1),), "non-finite"),
        ((np.array([[np.inf]]),), (np.zeros(1),), "non-finite"),
        ((), (), "at least one layer"),
        ((np.ones((2, 3)),), (), "one bias per layer"),
    ],
)
def test_bad_networks_are_refused(weights, biases, message):
    with pytest.raises(InputError, match=message):
        Network(weights, biases)


@pytest.mark.parametrize(
    ("lower", "upper", "message"),
    [
        ([0.0, 1.0], [1.0, 1.0], "coordinate 1"),
        ([0.0], [1.0, 2.0], "different lengths"),
        ([np.nan], [1.0], "non-finite"),
    ],
)
def test_bad_boxes_are_refused(lower, upper, message):
    with pytest.raises(InputError, match=message):
        Box(np.array(lower), np.array(upper))


def test_cube_refuses_reversed_domain():
    with pytest.raises(InputError, match="LO < HI"):
        Box.cube(1.0, -1.0, 3)


def test_network_sha256_of_relu_networks_is_the_widths_and_parameter_bytes():
    """The digest tickets store: json(widths) then every W_l, b_l as float64 little-endian,
    recomputed here independently; a non-ReLU activation changes it."""
    import hashlib
    import json

    from lotteryproofs.network import network_sha256

    net = random_target((3, 5, 2), np.random.default_rng(8))
    digest = hashlib.sha256(json.dumps(list(net.widths)).encode())
    for w, b in zip(net.weights, net.biases, strict=True):
        digest.update(w.astype("<f8").tobytes())
        digest.update(b.astype("<f8").tobytes())
    assert network_sha256(net) == digest.hexdigest()
    leaky = Network(net.weights, net.biases, activation="leaky_relu:0.5")
    assert network_sha256(leaky) != digest.hexdigest()
