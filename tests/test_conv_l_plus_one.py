"""The L+1 construction over convolutional targets (proofs/conv-l-plus-one.md), against
independent references: direct-loop convolutions (tests/references.py), the RSS log's failed
set, the certified bound on 10⁴ box inputs, border pixels alone, tampered masks."""

import numpy as np
import pytest
from references import ref_conv
from test_conv_construct import random_target

from lotteryproofs import _validate
from lotteryproofs.activations import RELU
from lotteryproofs.certify.bound import certified_conv_ticket_error
from lotteryproofs.checks.conv import random_conv_target
from lotteryproofs.construct import univariate
from lotteryproofs.construct.conv_two_layer import construct_conv, param_layers
from lotteryproofs.construct.registry import get_conv_construction
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.conv_params import shortcut_activations, shortcut_layers
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network
from lotteryproofs.residual import Residual
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, PART_POSITIVE, ConvTicket

L1 = get_conv_construction("l+1")
EPS, RHO = 1e-2, 40


def build(target, seed, rho=RHO):
    return construct_conv(target, eps_param=EPS, rho=rho, rng=seed, construction=L1)


def direct_forward(network, x):
    """The network on one input by direct loops (ref_conv) and explicit sums, no im2col."""
    return _direct(network.layers, network.activations, np.asarray(x, float))


def assert_corner_by_direct_loops(ticket, target, box, rng):
    """At a random corner of the box, the ticket's function equals direct loops on its
    masked source (its channels that can matter: compact_network drops only zero terms),
    and the target's forward equals direct loops on the target."""
    x0 = box.upper * np.where(rng.random(box.dim) < 0.5, -1.0, 1.0)
    want = direct_forward(ticket.compact_network(), x0) / ticket.scale
    np.testing.assert_allclose(ticket.approximation(x0[None])[0], want, rtol=1e-9,
                               atol=1e-9 * max(1.0, float(np.max(np.abs(want)))))
    np.testing.assert_allclose(target.forward(x0[None])[0], direct_forward(target, x0),
                               rtol=1e-12, atol=1e-12)


def _direct(layers, activations, h):
    for t, layer in enumerate(layers):
        if isinstance(layer, Residual):  # y = S(x) + g(x), S the identity or a convolution
            body = _direct(layer.body_layers, layer.body_activations, h)
            h = body + (h if layer.shortcut is None else _direct(
                shortcut_layers(layer), shortcut_activations(layer), h))
        elif isinstance(layer, Conv2d):
            img = h.reshape(layer.input_shape)
            h = np.array(ref_conv(img, layer.weight, layer.bias, layer.stride, layer.padding))
        elif isinstance(layer, Dense):
            h = np.array([layer.bias[o] + sum(layer.weight[o, i] * h[i]
                                              for i in np.flatnonzero(layer.weight[o]))
                          for o in range(layer.weight.shape[0])])
        elif isinstance(layer, Flatten):
            h = h.ravel()
        else:
            h = layer.forward(h[None])[0]
        if t < len(layers) - 1:
            h = activations[t].forward(h)
    return h


def check_parameters(ticket, target):
    """Every copy of every effective parameter (read from the masks) is within ε', or its
    instance (layer, row, column, copy) is logged as failed."""
    log = ticket.log
    failed = {(int(a), int(b), int(c), int(d), int(p)) for a, b, c, d, p in zip(
        log.layer[log.failed], log.row[log.failed], log.col[log.failed],
        log.copy[log.failed], log.part[log.failed], strict=True)}
    reps = L1.represent(ticket)
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers), reps, strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        for c, o, col in zip(*np.nonzero(np.abs(rep.positive - k) > EPS), strict=True):
            assert (t, o, col, c, PART_POSITIVE) in failed
        for c, o in zip(*np.nonzero(np.abs(rep.bias - layer.bias) > EPS), strict=True):
            assert (t, o, -1, c, PART_BIAS) in failed
        if t == 0:  # the box reaches negative inputs: the negative parts are built
            for c, o, col in zip(*np.nonzero(np.abs(rep.negative + k) > EPS), strict=True):
                assert (t, o, col, c, PART_NEGATIVE) in failed
        else:  # a copy layer: Σ_S v x̂ whatever the sign, gain Σ_S |v| ≥ |Σ_S v|
            assert np.array_equal(rep.negative, -rep.positive)
            assert np.all(rep.gain >= np.abs(rep.positive))
    return reps


def compatible_target(seed):
    """A random_target whose later convolutions have 2P ≤ k − 1 (redrawn until one does)."""
    rng = np.random.default_rng(500 + seed)
    while True:
        target = random_target(rng, max_channels=3, max_size=6, pool=seed == 1)
        try:
            L1.supports.check(L1.owner, target)
        except _validate.InputError:
            continue
        if len(param_layers(target.layers)) >= 3 or seed == 1:
            return target, rng


@pytest.mark.parametrize("seed", range(2))
def test_random_conv_targets(seed):
    target, rng = compatible_target(seed)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    ticket = build(target, seed, rho=30)
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert m.dtype == bool and m.shape == p.shape
        assert np.array_equal(q, p * m)
    check_parameters(ticket, target)
    x = box.sample(10_000, rng)
    observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    assert observed <= certified_conv_ticket_error(ticket, target, box)
    assert_corner_by_direct_loops(ticket, target, box, rng)


@pytest.mark.parametrize("seed", [3])
def test_random_residual_targets(seed):
    """An identity residual block after the first layer: copy m of x_j + copy m of g_j."""
    rng = np.random.default_rng(seed)
    target = random_conv_target(rng, residual=True)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    ticket = build(target, seed, rho=24)  # failures allowed: reported and checked as such
    assert isinstance(ticket.source.layers[2], Residual)
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert np.array_equal(q, p * m)
    check_parameters(ticket, target)
    x = box.sample(10_000, rng)
    observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    assert observed <= certified_conv_ticket_error(ticket, target, box)
    x0 = box.lower.copy()
    want = direct_forward(ticket.compact_network(), x0) / ticket.scale
    np.testing.assert_allclose(ticket.approximation(x0[None])[0], want, rtol=1e-9,
                               atol=1e-9 * max(1.0, float(np.max(np.abs(want)))))


def test_same_seed_same_bytes_and_other_seed_other_source():
    target, _ = compatible_target(1)
    a, b, c = build(target, 7, rho=12), build(target, 7, rho=12), build(target, 8, rho=12)
    assert all(np.array_equal(m, n) for m, n in zip(a.masks, b.masks, strict=True))
    assert all(p.tobytes() == q.tobytes() for p, q in zip(
        a.source.parameter_arrays, b.source.parameter_arrays, strict=True))
    assert a.source.parameter_arrays[0].tobytes() != c.source.parameter_arrays[0].tobytes()


def test_border_pixels_within_the_bound():
    """Padding 1 in both convolutions, nonzero biases, a conv as output layer: at x = 0 the
    target is a pure bias map; a bias missing its constant at the border would be off by
    ~|b| there. Border pixels alone stay within the certified bound and near the interior."""
    rng = np.random.default_rng(3)
    conv = Conv2d(rng.uniform(-0.5, 0.5, (3, 2, 3, 3)), np.array([0.45, -0.4, 0.3]),
                  stride=1, padding=1, input_shape=(2, 5, 5))
    conv2 = Conv2d(rng.uniform(-0.5, 0.5, (2, 3, 3, 3)), np.array([0.35, -0.3]),
                   stride=2, padding=1, input_shape=conv.output_shape)
    target = Network.from_layers([conv, conv2], [RELU])
    box = Box.cube(-1.0, 1.0, conv.in_features)
    ticket = build(target, 12)
    check_parameters(ticket, target)
    c, h, w = conv2.output_shape
    border = np.zeros((c, h, w), bool)
    border[:, [0, -1], :] = True
    border[:, :, [0, -1]] = True
    border = border.ravel()
    zero = np.zeros((1, conv.in_features))
    err0 = np.abs(ticket.approximation(zero) - target.forward(zero))[0]
    assert float(np.max(err0[border])) < 0.1 * float(np.min(np.abs(conv2.bias)))
    bound = certified_conv_ticket_error(ticket, target, box)
    x = box.sample(10_000, rng)
    err = np.abs(ticket.approximation(x) - target.forward(x))
    assert float(np.max(err[:, border])) <= bound


def test_tampered_mask_reading_a_constant_off_its_tap_is_a_layout_error():
    target, _ = compatible_target(0)
    ticket = build(target, 5, rho=12)
    masks = [m.copy() for m in ticket.masks]
    weight = masks[4]  # the copy layer of target layer 2 (source parameter layer 2)
    c_src = weight.shape[1]
    kh, kw = weight.shape[2:]
    layer = param_layers(target.layers)[1]
    off = [(p, q) for p in range(kh) for q in range(kw) if (p, q) != tuple(layer.padding)]
    if not off:
        pytest.skip("a 1×1 second layer has no tap besides its constant tap")
    weight[0, c_src - 1, off[0][0], off[0][1]] = True  # a constant channel, off its tap
    tampered = ConvTicket(ticket.source, tuple(masks), ticket.scale, ticket.layer_scales,
                          ticket.log, ticket.layout, ticket.metadata, ticket.origin)
    with pytest.raises(univariate.LayoutError):
        L1.represent(tampered)


@pytest.mark.parametrize("seed", range(2))
def test_conv_shortcut_targets(seed):
    """A block y = S x + g(x), S a 1×1 convolution (stride 2 for seed 0, with negative inputs
    reaching the block; stride 1 for seed 1): S is one more copy layer, the block's output has
    S's layout. Every parameter within ε' or reported, the error on 10⁴ box inputs and near 0
    (where only biases matter: the shortcut's constants carry the later biases) ≤ the
    certified bound, the ticket's function equal to direct loops, verify's recomputation."""
    from test_conv_shortcut import _shortcut_target

    from lotteryproofs.activations import IDENTITY
    from lotteryproofs.ticket_checks import check_conv_ticket

    target = _shortcut_target(seed, IDENTITY if seed == 0 else RELU)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    from lotteryproofs.construct.conv_two_layer import construct_conv_ticket

    ticket = construct_conv_ticket(target, eps_param=EPS, delta=0.1, rho=RHO, rng=seed,
                                   domain=box, construction=L1)
    block = ticket.source.layers[2]
    assert isinstance(block, Residual) and len(shortcut_layers(block)) == 1
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert np.array_equal(q, p * m)
    check_parameters(ticket, target)
    check_conv_ticket(ticket, target)
    rng = np.random.default_rng(seed)
    x = np.vstack((np.zeros((1, box.dim)), box.lower[None], box.upper[None],
                   box.sample(10_000, rng)))
    observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    assert observed <= certified_conv_ticket_error(ticket, target, box)
    small = Box.cube(-1e-6, 1e-6, box.dim)
    near = np.vstack((np.zeros((1, box.dim)), small.sample(20, rng)))
    observed0 = float(np.max(np.abs(ticket.approximation(near) - target.forward(near))))
    assert observed0 <= certified_conv_ticket_error(ticket, target, small)
    assert_corner_by_direct_loops(ticket, target, box, rng)


def test_refusals_one_line():
    conv = Conv2d(np.ones((1, 1, 3, 3)), np.ones(1), input_shape=(1, 4, 4), padding=1)
    wide = Conv2d(np.ones((1, 1, 1, 1)), np.ones(1), input_shape=conv.output_shape, padding=1)
    with pytest.raises(_validate.InputError, match="padding"):
        L1.supports.check(L1.owner, Network.from_layers([conv, wide], [RELU]))
    body = Conv2d(np.ones((1, 1, 3, 3)), np.ones(1), input_shape=(1, 4, 4), padding=1)
    short = Conv2d(np.ones((1, 1, 3, 3)), np.ones(1), input_shape=(1, 4, 4), padding=1)
    with pytest.raises(_validate.InputError, match="one 1×1 convolution as the shortcut"):
        L1.supports.check(L1.owner, Network.from_layers(
            [conv, Residual((body,), (), short)], [RELU]))
    one = Conv2d(np.ones((1, 1, 1, 1)), np.ones(1), input_shape=(1, 4, 4))
    with pytest.raises(_validate.InputError, match="parameter layer after a block"):
        L1.supports.check(L1.owner, Network.from_layers(
            [conv, Residual((body,), (), one)], [RELU]))
    with pytest.raises(_validate.InputError, match="before the first residual block"):
        L1.supports.check(L1.owner, Network.from_layers([Residual((body,), ()), conv], [RELU]))


def test_cli_construct_verify_export_round_trip(tmp_path, capsys):
    """construct --method l+1 → ticket file → verify (exit 0) → export: the exported network
    (rebuilt from its own tensors) is the ticket read back, and its error on fresh inputs is
    below the certificate construct wrote."""
    from test_conv_cli import small_conv_target

    from lotteryproofs import io
    from lotteryproofs.cli import main

    target = small_conv_target(np.random.default_rng(3), residual=True)
    io.save_target(target, tmp_path / "tgt.npz")
    argv = ["construct", str(tmp_path / "tgt.npz"), "--method", "l+1", "--rho", "12",
            "--seed", "5", "--out", str(tmp_path / "t.npz"), "--json", str(tmp_path / "c.json")]
    assert main(argv) == 0
    assert main(["verify", str(tmp_path / "t.npz"), "--target", str(tmp_path / "tgt.npz"),
                 "--samples", "500"]) == 0
    assert main(["export", str(tmp_path / "t.npz"), "--format", "network", "--out",
                 str(tmp_path / "n.npz")]) == 0
    capsys.readouterr()
    exported, _ = io.read_target(str(tmp_path / "n.npz"))
    ticket = io.load_ticket(str(tmp_path / "t.npz"))
    box = Box.cube(-1.0, 1.0, target.widths[0])
    x = box.sample(2000, np.random.default_rng(9))
    np.testing.assert_allclose(exported.forward(x), ticket.approximation(x), rtol=1e-9,
                               atol=1e-9)
    import json

    certified = json.loads((tmp_path / "c.json").read_text())["errors"]["certified_output_error"]
    assert float(np.max(np.abs(exported.forward(x) - target.forward(x)))) <= certified
