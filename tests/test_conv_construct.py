"""The 2L construction over convolutional targets (proofs/conv-2l-construction.md) and its
bounds (proofs/conv-error-recursion.md), against independent references: a represented
forward built from the target's own layers, direct loops, a dense certificate, perturbed
targets."""

import numpy as np
import pytest

from lotteryproofs import _validate, bounds
from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.certify import certified_output_error
from lotteryproofs.certify.bound import certified_conv_error, certified_conv_ticket_error
from lotteryproofs.construct.conv_two_layer import (
    construct_conv,
    draw_source,
    param_layers,
    represented_layers,
)
from lotteryproofs.construct.registry import CONV_CONSTRUCTIONS, get_conv_construction
from lotteryproofs.conv_layers import AvgPool2d, Conv2d, Flatten
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network
from lotteryproofs.residual import Residual
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, PART_POSITIVE

EPS = 1e-2
RHO = 40


def random_target(rng, *, max_channels=4, max_size=8, n_conv=None, pool=False):
    """1–3 conv layers (kernels 1–3, strides 1–2, padding 0–1), Flatten, Linear(→2)."""
    c, size = int(rng.integers(1, max_channels + 1)), int(rng.integers(3, max_size + 1))
    shape = (c, size, size)
    layers = []
    for _ in range(int(rng.integers(1, 4)) if n_conv is None else n_conv):
        k, s, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
        k = min(k, shape[1] + 2 * p)
        out = int(rng.integers(1, max_channels + 1))
        conv = Conv2d(rng.uniform(-0.5, 0.5, (out, shape[0], k, k)), rng.uniform(-0.5, 0.5, out),
                      stride=s, padding=p, input_shape=shape)
        layers.append(conv)
        shape = conv.output_shape
    acts = [RELU] * len(layers)
    if pool and shape[1] >= 2:
        layers.append(AvgPool2d(kernel=2, stride=1, input_shape=shape))
        shape = layers[-1].output_shape
        acts.append(IDENTITY)
    flat = Flatten(input_shape=shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    return Network.from_layers(layers + [flat, dense], acts + [IDENTITY])


def represented_network_forward(target, represented, x):
    """The represented map built from the target's own layers: each parameter layer with
    kernel P̃ on σ(h) plus Ñ on σ(−h) plus b̃, same stride and padding (an independent
    evaluation of what the read-back claims, borders included)."""
    h, index = np.asarray(x, float), 0
    for t, layer in enumerate(target.layers):
        if hasattr(layer, "weight"):
            rep = represented[index]
            shape = layer.weight.shape
            if isinstance(layer, Conv2d):
                def make(w, b, layer=layer, shape=shape):
                    return Conv2d(w.reshape(shape), b, layer.stride, layer.padding,
                                  layer.input_shape)
            else:
                def make(w, b):
                    return Dense(w, b)
            pos = make(rep.positive[0], rep.bias[0])
            neg = make(rep.negative[0], np.zeros(shape[0]))
            h = pos.forward(np.maximum(h, 0)) + neg.forward(np.maximum(-h, 0))
            index += 1
        else:
            h = layer.forward(h)
        if t < len(target.layers) - 1:
            h = target.activations[t].forward(h)
    return h


def _failed_set(log, part):
    sel = log.failed & (log.part == part)
    return set(zip(log.layer[sel].tolist(), log.row[sel].tolist(), log.col[sel].tolist(),
                   strict=True))


def check_parameters(ticket, target, box):
    """Every effective parameter read from the masks is within ε' or its instance failed."""
    represented = represented_layers(ticket)
    params = list(enumerate(param_layers(target.layers)))  # the log's layer: this index
    failed = {p: _failed_set(ticket.log, p) for p in (PART_POSITIVE, PART_NEGATIVE, PART_BIAS)}
    for index, ((t, layer), rep) in enumerate(zip(params, represented, strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        for o, col in zip(*np.nonzero(np.abs(rep.positive[0] - k) > EPS), strict=True):
            assert (t, o, col) in failed[PART_POSITIVE]
        if index == 0:
            neg_channel = box.has_negative.reshape(layer.input_shape).any(axis=(1, 2))
            cols = np.repeat(neg_channel, k.shape[1] // layer.input_shape[0])
            bad = (np.abs(rep.negative[0] + k) > EPS) & cols[None]
            for o, col in zip(*np.nonzero(bad), strict=True):
                assert (t, o, col) in failed[PART_NEGATIVE]
        for o in np.flatnonzero(np.abs(rep.bias[0] - layer.bias) > EPS):
            assert (t, o, -1) in failed[PART_BIAS]
    return represented


@pytest.mark.parametrize("seed", range(4))
def test_random_conv_targets(seed):
    rng = np.random.default_rng(100 + seed)
    target = random_target(rng, max_channels=6 if seed == 0 else 4, pool=seed == 3)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    ticket = construct_conv(target, eps_param=EPS, rho=RHO, rng=seed)
    # ticket = source × mask, masks binary
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert m.dtype == bool and m.shape == p.shape
        assert np.array_equal(q, p * m)
    represented = check_parameters(ticket, target, box)
    # 10⁴ inputs of the box (2000 for the six-channel target: CPU budget)
    x = box.sample(2000 if seed == 0 else 10_000, rng)
    approx = ticket.approximation(x)
    assert np.allclose(ticket.approximation(x[:50], compact=False), approx[:50],
                       rtol=1e-12, atol=1e-12)
    # the read-back is what the ticket computes (to float rounding)
    assert np.allclose(represented_network_forward(target, represented, x[:200]), approx[:200],
                       rtol=1e-9, atol=1e-9)
    observed = float(np.max(np.abs(approx - target.forward(x))))
    assert observed <= certified_conv_ticket_error(ticket, target, box)


@pytest.mark.parametrize("seed", range(2))
def test_random_residual_targets(seed):
    """conv–ReLU–Residual[conv–ReLU–conv]–ReLU–Flatten–Linear: the ticket is a residual source
    × mask (identity shortcut kept), every parameter within ε' or failed, observed ≤
    certified, and the read-back is what the ticket computes."""
    rng = np.random.default_rng(300 + seed)
    c, size = int(rng.integers(1, 4)), int(rng.integers(4, 7))
    first = Conv2d(rng.uniform(-0.5, 0.5, (2, c, 3, 3)), rng.uniform(-0.5, 0.5, 2), 1, 1,
                   (c, size, size))
    shape = first.output_shape
    k = int(rng.choice([1, 3]))  # "same" padding (k − 1)/2 keeps the shape for the shortcut
    body = (Conv2d(rng.uniform(-0.5, 0.5, (3, 2, k, k)), rng.uniform(-0.5, 0.5, 3), 1,
                   (k - 1) // 2, shape),
            Conv2d(rng.uniform(-0.5, 0.5, (2, 3, 1, 1)), rng.uniform(-0.5, 0.5, 2), 1, 0,
                   (3, *shape[1:])))
    flat = Flatten(shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    target = Network.from_layers([first, Residual(body, (RELU,)), flat, dense],
                                 [RELU, RELU, IDENTITY])
    box = Box.cube(-1.0, 1.0, first.in_features)
    ticket = construct_conv(target, eps_param=EPS, rho=RHO, rng=seed)
    assert isinstance(ticket.source.layers[2], Residual)
    assert ticket.source.layers[2].shortcut is None
    for p_, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                        ticket.network.parameter_arrays, strict=True):
        assert np.array_equal(q, p_ * m)
    represented = check_parameters(ticket, target, box)
    x = box.sample(10_000, rng)
    approx = ticket.approximation(x)
    assert np.allclose(ticket.approximation(x[:50], compact=False), approx[:50],
                       rtol=1e-12, atol=1e-12)
    assert np.allclose(residual_represented_forward(target, represented, x[:200]),
                       approx[:200], rtol=1e-9, atol=1e-9)
    observed = float(np.max(np.abs(approx - target.forward(x))))
    assert observed <= certified_conv_ticket_error(ticket, target, box)


def residual_represented_forward(target, represented, x):
    """represented_network_forward with the residual block evaluated as x + body(x) by hand."""
    layers = target.layers
    first, block, flat, dense = layers
    h = represented_network_forward(Network.from_layers([first]), represented[:1], x)
    h = np.maximum(h, 0)
    body = Network.from_layers(block.body_layers, block.body_activations)
    h = np.maximum(h + represented_network_forward(body, represented[1:3], h), 0)
    return represented_network_forward(Network.from_layers([dense]), represented[3:], h)


def test_source_is_drawn_from_shapes_alone_and_same_seed_same_bytes():
    rng = np.random.default_rng(7)
    target = random_target(rng, n_conv=2)
    other = target.with_parameters([w * -0.5 for w in target.weights], target.biases) \
        if target.is_dense else Network.from_layers(
            [type(layer)(-layer.weight, layer.bias * 2, layer.stride, layer.padding,
                         layer.input_shape) if isinstance(layer, Conv2d) else layer
             for layer in target.layers], target.activations)
    a, b = draw_source(target, 8, rng=3), draw_source(other, 8, rng=3)
    for p, q in zip(a.network.parameter_arrays, b.network.parameter_arrays, strict=True):
        assert np.array_equal(p, q)
    c = draw_source(target, 8, rng=4)
    assert not np.array_equal(a.network.parameter_arrays[0], c.network.parameter_arrays[0])
    t1 = construct_conv(target, eps_param=EPS, rho=16, rng=5)
    t2 = construct_conv(target, eps_param=EPS, rho=16, rng=5)
    assert t1.tobytes() == t2.tobytes()
    assert construct_conv(target, eps_param=EPS, rho=16, rng=6).tobytes() != t1.tobytes()


def test_source_weights_follow_the_law_and_he_scale():
    """The unit-scale source weights are uniform on [−1, 1]: mean 0, variance 1/3."""
    conv = Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2), 1, 1, (3, 6, 6))
    target = Network.from_layers([conv, Flatten(conv.output_shape),
                                  Dense(np.zeros((1, 72)), np.zeros(1))], [RELU, IDENTITY])
    drawn = draw_source(target, 40, rng=0)
    a = drawn.network.layers[0]
    fan_in = 3 * 3 * 3
    unit = a.weight / np.sqrt(6.0 / fan_in)
    assert np.max(np.abs(unit)) <= 1.0
    assert abs(unit.mean()) < 0.02 and abs(unit.var() - 1 / 3) < 0.02


def test_border_pixels_are_as_exact_as_interior_pixels():
    """Padding 1, nonzero biases, the conv as output layer: at x = 0 the target is b at every
    pixel; the ticket's error there, border pixels alone, is within the logged bias error
    (≤ ε'), and over 10⁴ inputs the border error is within the certified bound."""
    rng = np.random.default_rng(3)
    conv = Conv2d(rng.uniform(-0.5, 0.5, (3, 2, 3, 3)), np.array([0.45, -0.4, 0.3]),
                  stride=1, padding=1, input_shape=(2, 6, 6))
    conv2 = Conv2d(rng.uniform(-0.5, 0.5, (2, 3, 2, 2)), np.array([0.35, -0.3]),
                   stride=2, padding=1, input_shape=conv.output_shape)
    target = Network.from_layers([conv, conv2], [RELU])
    box = Box.cube(-1.0, 1.0, conv.in_features)
    ticket = construct_conv(target, eps_param=EPS, rho=RHO, rng=11)
    assert ticket.failures == 0
    c, h, w = conv2.output_shape
    border = np.zeros((c, h, w), bool)
    border[:, [0, -1], :] = True
    border[:, :, [0, -1]] = True
    border = border.ravel()
    zero = np.zeros((1, conv.in_features))
    err0 = np.abs(ticket.approximation(zero) - target.forward(zero))[0]
    bound = certified_conv_ticket_error(ticket, target, box)
    # at x = 0 only biases and the second layer's weights on σ(b₁) matter: a border pixel
    # missing bias taps would be off by ~|b|, not by ε'-sized errors
    interior_scale = float(np.max(err0[~border])) if (~border).any() else 0.0
    assert float(np.max(err0[border])) <= max(4 * EPS * (1 + np.abs(conv.bias).sum()),
                                              2 * interior_scale)
    x = box.sample(4000, rng)
    err = np.abs(ticket.approximation(x) - target.forward(x))
    assert float(np.max(err[:, border])) <= bound
    assert float(np.max(err[:, ~border])) <= bound


def test_border_bias_exact_single_layer():
    """One conv layer, padding 1: f(0) = b at every pixel; the ticket's f̃(0) at the border
    equals its represented bias b̃ (exactly as at the interior, up to rounding)."""
    rng = np.random.default_rng(5)
    conv = Conv2d(rng.uniform(-0.5, 0.5, (2, 1, 2, 2)), np.array([0.4, -0.35]),
                  stride=1, padding=1, input_shape=(1, 4, 4))
    target = Network.from_layers([conv])
    ticket = construct_conv(target, eps_param=EPS, rho=RHO, rng=2)
    rep = represented_layers(ticket)[0]
    out = ticket.approximation(np.zeros((1, 16)))[0].reshape(conv.output_shape)
    expected = np.broadcast_to(rep.bias[0][:, None, None], out.shape)
    assert np.allclose(out, expected, rtol=1e-12, atol=1e-14)
    assert np.all(np.abs(rep.bias[0] - conv.bias) <= EPS)


def test_conv_certificate_equals_dense_certificate_on_dense_targets():
    """On a Dense target over a non-negative box the convolutional recursion is the dense
    certificate (an independent implementation) with the same represented layers."""
    rng = np.random.default_rng(9)
    target = Network([rng.uniform(-0.5, 0.5, (4, 3)), rng.uniform(-0.5, 0.5, (2, 4))],
                     [rng.uniform(-0.5, 0.5, 4), rng.uniform(-0.5, 0.5, 2)])
    box = Box.cube(0.0, 1.0, 3)
    ticket = construct_conv(target, eps_param=EPS, rho=24, domain=box, rng=1)
    rep = represented_layers(ticket)
    a = certified_conv_error(target, box, rep)
    b = certified_output_error(target, box, rep)
    assert a == pytest.approx(b, rel=1e-12)


def test_a_priori_recursion_bounds_perturbed_targets():
    """Every parameter moved by ≤ ε' (P = N = K + δ, the construction's shape): the output
    moves by ≤ conv_a_priori_error, for conv and residual targets (residual gain 1 + body)."""
    rng = np.random.default_rng(12)
    eps = 0.05
    conv = Conv2d(rng.uniform(-0.5, 0.5, (2, 2, 3, 3)), rng.uniform(-0.5, 0.5, 2), 1, 1,
                  (2, 5, 5))
    body = (Conv2d(rng.uniform(-0.5, 0.5, (3, 2, 3, 3)), rng.uniform(-0.5, 0.5, 3), 1, 1,
                   (2, 5, 5)),
            Conv2d(rng.uniform(-0.5, 0.5, (2, 3, 1, 1)), rng.uniform(-0.5, 0.5, 2), 1, 0,
                   (3, 5, 5)))
    block = Residual(body, (RELU,))
    flat = Flatten((2, 5, 5))
    dense = Dense(rng.uniform(-0.3, 0.3, (2, 50)), rng.uniform(-0.3, 0.3, 2))
    target = Network.from_layers([conv, block, flat, dense], [RELU, RELU, IDENTITY])
    box = Box.cube(-1.0, 1.0, 50)
    bound = bounds.conv_a_priori_error(target, box, eps)

    def perturb(layer):
        if isinstance(layer, Residual):
            return Residual(tuple(perturb(b) for b in layer.body_layers), layer.body_activations)
        if isinstance(layer, Conv2d):
            return Conv2d(layer.weight + rng.choice([-eps, eps], layer.weight.shape),
                          layer.bias + rng.choice([-eps, eps], layer.bias.shape),
                          layer.stride, layer.padding, layer.input_shape)
        if isinstance(layer, Dense):
            return Dense(layer.weight + rng.choice([-eps, eps], layer.weight.shape),
                         layer.bias + rng.choice([-eps, eps], layer.bias.shape))
        return layer

    x = box.sample(2000, rng)
    worst = 0.0
    for _ in range(5):
        moved = Network.from_layers([perturb(layer) for layer in target.layers],
                                    target.activations)
        worst = max(worst, float(np.max(np.abs(moved.forward(x) - target.forward(x)))))
    assert 0 < worst <= bound
    # the residual's "+1": without the shortcut's gain the recursion would be smaller
    no_short = Network.from_layers([conv, *body, flat, dense], [RELU, RELU, RELU, IDENTITY])
    assert bounds.conv_a_priori_error(no_short, box, eps) < bound


def test_certified_below_a_priori_without_failures():
    rng = np.random.default_rng(21)
    target = random_target(rng, n_conv=2)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    ticket = construct_conv(target, eps_param=EPS, rho=RHO, rng=0)
    if ticket.failures:
        pytest.fail(f"{ticket.failures} failed instances at rho {RHO}")
    assert certified_conv_ticket_error(ticket, target, box) <= bounds.conv_a_priori_error(
        target, box, EPS) * (1 + 1e-9)


def test_a_priori_rho_counts_instances():
    rng = np.random.default_rng(4)
    target = random_target(rng, n_conv=1)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    out = bounds.conv_a_priori_rho(target, box, EPS, 0.1)
    ticket = construct_conv(target, eps_param=EPS, rho=8, rng=0)
    assert out["instances"] == ticket.log.failed.size
    smaller = bounds.conv_a_priori_rho(target, box, EPS, 0.5)
    assert smaller["rho"] <= out["rho"]


def test_registry_and_bad_input():
    assert get_conv_construction("2l") is CONV_CONSTRUCTIONS["2l"]
    with pytest.raises(_validate.InputError, match="unknown method"):
        get_conv_construction("l+2")
    body = (Conv2d(np.ones((1, 1, 1, 1)), np.ones(1), 1, 0, (1, 3, 3)),)
    pooled = Network([np.ones((2, 2)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)],
                     activation="tanh")
    with pytest.raises(_validate.InputError, match="does not support activation tanh"):
        construct_conv(pooled, eps_param=EPS, rho=4, rng=0)
    conv = Network.from_layers([body[0]])
    with pytest.raises(_validate.InputError, match="rho"):
        construct_conv(conv, eps_param=EPS, rho=0, rng=0)
    with pytest.raises(_validate.InputError, match="domain"):
        construct_conv(conv, eps_param=EPS, rho=4, rng=0, domain=Box.cube(0, 1, 4))
