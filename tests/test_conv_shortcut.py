"""Residual blocks with a 1×1 convolutional shortcut, y = S x + g(x) (any stride), and the
instances the convolutional 2L construction poses for residual targets.

References are independent of the code under test: convolutions by direct loops (bounds
checks, no padded arrays, no windows), instance counts from the target's own parameter arrays
and from the RSS log the construction writes, negative inputs from sampling the target.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import ref_conv

from lotteryproofs import bounds, io
from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.architecture import architecture_arrays, network_from_architecture
from lotteryproofs.certify.bound import certified_conv_ticket_error
from lotteryproofs.construct.conv_two_layer import (
    construct_conv,
    param_layers,
    represented_layers,
)
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network, network_sha256
from lotteryproofs.residual import Chain, Residual
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, PART_POSITIVE

EPS = 1e-2
RHO = 30


def _conv(rng, c_out, shape, k, stride, padding, scale=0.5):
    return Conv2d(rng.uniform(-scale, scale, (c_out, shape[0], k, k)),
                  rng.uniform(-scale, scale, c_out), stride, padding, shape)


def _block(rng, shape, c_mid, c_out, k, stride):
    """Body conv k×k (stride s, "same" padding) – ReLU – conv 1×1; shortcut 1×1, stride s."""
    a = _conv(rng, c_mid, shape, k, stride, (k - 1) // 2)
    b = _conv(rng, c_out, a.output_shape, 1, 1, 0)
    s = _conv(rng, c_out, shape, 1, stride, 0)
    return Residual((a, b), (RELU,), s)


def _loop_layer(layer, h):
    """One Conv2d (direct loops) on a flat C·H·W vector."""
    x = np.asarray(h, float).reshape(layer.input_shape)
    return np.array(ref_conv(x, layer.weight, layer.bias, layer.stride, layer.padding))


def _loop_block(block, h):
    g = np.maximum(_loop_layer(block.body_layers[0], h), 0)
    g = _loop_layer(block.body_layers[1], g)
    s = block.shortcut
    if isinstance(s, Chain):
        s_out = _loop_layer(s.layers[1], np.maximum(_loop_layer(s.layers[0], h), 0))
    else:
        s_out = _loop_layer(s, h)
    return g + s_out


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(3, 7),
       st.sampled_from([1, 3]), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_strided_shortcut_equals_direct_loops(c_in, c_mid, c_out, size, k, stride, seed):
    """Residual forward (rows and columns), its file round trip and a Chain shortcut (a
    source's pair) equal the direct loops."""
    rng = np.random.default_rng(seed)
    block = _block(rng, (c_in, size, size), c_mid, c_out, k, stride)
    x = rng.uniform(-1, 1, (3, block.in_features))
    ref = np.array([_loop_block(block, row) for row in x])
    np.testing.assert_allclose(block.forward(x), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(block.forward_columns(x.T), ref.T, rtol=0, atol=1e-12)
    lo, hi = block.interval_outward(x.min(axis=0), x.max(axis=0))
    assert np.all(lo <= ref) and np.all(ref <= hi)
    # the file format: "shortcut": {"type": "conv2d", "stride": s, "padding": 0}
    net = Network.from_layers([block])
    arrays, meta = architecture_arrays(net)
    assert meta["architecture"][0]["shortcut"] == {"type": "conv2d", "stride": stride,
                                                   "padding": 0}
    back = network_from_architecture(arrays, meta, "test")
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    # a Chain shortcut (1×1 stride s, ReLU, 1×1): loops again, and its file round trip
    s1 = _conv(rng, 5, (c_in, size, size), 1, stride, 0)
    s2 = _conv(rng, c_out, s1.output_shape, 1, 1, 0)
    chained = Residual(block.body_layers, (RELU,), Chain((s1, s2), (RELU,)))
    ref = np.array([_loop_block(chained, row) for row in x])
    np.testing.assert_allclose(chained.forward(x), ref, rtol=0, atol=1e-12)
    net = Network.from_layers([chained])
    arrays, meta = architecture_arrays(net)
    assert "0.shortcut.2.weight" in arrays and isinstance(meta["architecture"][0]["shortcut"],
                                                          list)
    back = network_from_architecture(arrays, meta, "test")
    assert network_sha256(back) == network_sha256(net)
    # a mask per parameter array: the shortcut's last kernel pruned is that kernel set to 0
    masks = [np.ones(p.shape, bool) for p in chained.parameters]
    masks[-2] = np.zeros(masks[-2].shape, bool)
    s2_pruned = Conv2d(np.zeros(s2.weight.shape), s2.bias, 1, 0, s2.input_shape)
    pruned = Residual(block.body_layers, (RELU,), Chain((s1, s2_pruned), (RELU,)))
    np.testing.assert_allclose(chained.masked(*masks).forward(x),
                               np.array([_loop_block(pruned, row) for row in x]),
                               rtol=0, atol=1e-12)


def _shortcut_target(seed, before=RELU):
    """conv 3×3 – σ – Residual[conv k×k stride s – ReLU – conv 1×1; shortcut 1×1 stride s]
    – ReLU – Flatten – Linear(→2); ``before`` Identity lets negative values reach the block."""
    rng = np.random.default_rng(500 + seed)
    c, size = int(rng.integers(1, 3)), int(rng.integers(4, 6))
    first = _conv(rng, 2, (c, size, size), 3, 1, 1)
    block = _block(rng, first.output_shape, 3, int(rng.integers(1, 4)), int(rng.choice([1, 3])),
                   2 if seed % 2 == 0 else 1)
    flat = Flatten(block.output_shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    return Network.from_layers([first, block, flat, dense], [before, RELU, IDENTITY])


def _layer_inputs(target, x):
    """The target's input to every parameter layer (body, then shortcut), by hand."""
    first, block, _, dense = target.layers
    h0 = first.forward(x)
    h = target.activations[0].forward(h0)
    a, b = block.body_layers
    mid = np.maximum(a.forward(h), 0)
    out = np.maximum(b.forward(mid) + block.shortcut.forward(h), 0)
    return [x, h, mid, h, out]


@pytest.fixture(scope="module", params=[(0, IDENTITY), (1, RELU)])
def built(request):
    seed, before = request.param
    target = _shortcut_target(seed, before)
    return target, construct_conv(target, eps_param=EPS, rho=RHO, rng=seed)


def test_shortcut_ticket_is_a_subnetwork_within_eps_or_failed(built):
    target, ticket = built
    rng = np.random.default_rng(1)
    box = Box.cube(-1.0, 1.0, target.widths[0])
    block = ticket.source.layers[2]
    assert isinstance(block.shortcut, Chain)  # the shortcut is constructed: its own pair
    a_s, b_s = block.shortcut.layers
    s = target.layers[1].shortcut
    assert a_s.weight.shape[2:] == (1, 1) and a_s.stride == s.stride and a_s.padding == (0, 0)
    assert b_s.weight.shape[:2] == (s.weight.shape[0], a_s.weight.shape[0])
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert m.dtype == bool and np.array_equal(q, p * m)
    # every represented parameter within ε' or its instance failed; negative parts wherever
    # sampling finds a negative input to that column (sampling under-approximates "can be")
    failed = {(int(a), int(r), int(c), int(p)) for a, r, c, p, f in zip(
        ticket.log.layer, ticket.log.row, ticket.log.col, ticket.log.part, ticket.log.failed,
        strict=True) if f}
    inputs = _layer_inputs(target, box.sample(2000, rng))
    params = param_layers(target.layers)
    assert len(params) == 5 and params[3] is target.layers[1].shortcut
    for t, (layer, rep, h) in enumerate(zip(params, represented_layers(ticket), inputs,
                                            strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        if isinstance(layer, Conv2d):
            neg_channel = (h.reshape(-1, *layer.input_shape) < 0).any(axis=(0, 2, 3))
            cols = np.repeat(neg_channel, k.shape[1] // layer.input_shape[0])
        else:
            cols = (h < 0).any(axis=0)
        for o, col in zip(*np.nonzero(np.abs(rep.positive[0] - k) > EPS), strict=True):
            assert (t, o, col, PART_POSITIVE) in failed
        for o, col in zip(*np.nonzero((np.abs(rep.negative[0] + k) > EPS) & cols[None]),
                          strict=True):
            assert (t, o, col, PART_NEGATIVE) in failed
        for o in np.flatnonzero(np.abs(rep.bias[0] - layer.bias) > EPS):
            assert (t, o, -1, PART_BIAS) in failed


def test_shortcut_ticket_errors_and_read_back(built):
    target, ticket = built
    rng = np.random.default_rng(2)
    box = Box.cube(-1.0, 1.0, target.widths[0])
    x = box.sample(2000, rng)  # 2000, not 10⁴: the CPU budget (benchmarks/ runs more)
    approx = ticket.approximation(x)
    np.testing.assert_allclose(ticket.approximation(x[:50], compact=False), approx[:50],
                               rtol=1e-12, atol=1e-12)
    # the read-back by hand: each parameter layer as P̃ on σ(h) + Ñ on σ(−h) + b̃
    reps = iter(represented_layers(ticket))

    def rep_layer(layer, h):
        r = next(reps)
        shape = layer.weight.shape
        pos = Conv2d(r.positive[0].reshape(shape), r.bias[0], layer.stride, layer.padding,
                     layer.input_shape) if isinstance(layer, Conv2d) else Dense(
            r.positive[0], r.bias[0])
        neg = Conv2d(r.negative[0].reshape(shape), np.zeros(shape[0]), layer.stride,
                     layer.padding, layer.input_shape) if isinstance(layer, Conv2d) else Dense(
            r.negative[0], np.zeros(shape[0]))
        return pos.forward(np.maximum(h, 0)) + neg.forward(np.maximum(-h, 0))

    first, block, _, dense = target.layers
    h = target.activations[0].forward(rep_layer(first, x[:200]))
    g = rep_layer(block.body_layers[1], np.maximum(rep_layer(block.body_layers[0], h), 0))
    h = np.maximum(g + rep_layer(block.shortcut, h), 0)
    np.testing.assert_allclose(rep_layer(dense, h), approx[:200], rtol=1e-9, atol=1e-9)
    observed = float(np.max(np.abs(approx - target.forward(x))))
    certified = certified_conv_ticket_error(ticket, target, box)
    assert observed <= certified
    if not ticket.failures:
        assert certified <= bounds.conv_a_priori_error(target, box, EPS) * (1 + 1e-9)
    # same seed, same bytes; the seeded spec draws the same source (its shortcut pair too)
    assert construct_conv(target, eps_param=EPS, rho=RHO, rng=9).tobytes() != ticket.tobytes()
    assert ticket.origin.spec.sha256() == network_sha256(ticket.source)


def _count_by_part(log, part):
    return int(np.sum(log.part == part))


def test_instance_count_is_the_instances_the_construction_poses(built):
    """M of the a-priori width = the rows of the RSS log; per part, from the target's own
    parameter arrays: every |weight| > ε' once positive, every |bias| > ε' once, and a negative
    part at least where sampling finds a negative input."""
    target, ticket = built
    box = Box.cube(-1.0, 1.0, target.widths[0])
    log = ticket.log
    assert bounds.conv_count_instances(target, EPS, box.has_negative) == log.n_instances
    assert bounds.conv_a_priori_rho(target, box, EPS, 0.1)["instances"] == log.n_instances
    arrays = target.parameter_arrays
    weights, biases = arrays[0::2], arrays[1::2]
    assert _count_by_part(log, PART_POSITIVE) == sum(int((np.abs(w) > EPS).sum())
                                                     for w in weights)
    assert _count_by_part(log, PART_BIAS) == sum(int((np.abs(b) > EPS).sum()) for b in biases)
    # the first layer reads the box (negative everywhere); with Identity before the block,
    # the body's first layer and the shortcut read negative values too
    first = np.abs(weights[0]) > EPS
    neg = _count_by_part(log, PART_NEGATIVE)
    if target.activations[0] == IDENTITY:
        assert neg == int(first.sum()) + int((np.abs(weights[1]) > EPS).sum()) + int(
            (np.abs(weights[3]) > EPS).sum())
    else:
        assert neg == int(first.sum())


def test_digits_resnet_count_matches_its_construction():
    """The shipped residual target: the count behind its a-priori ρ is the log's row count
    (a tiny ρ poses the same instances as any ρ; most fail there, which is reported)."""
    target, meta = io.read_target("digits-resnet")
    box_meta = meta.get("input_box") or meta.get("metadata", {}).get("input_box")
    box = Box(np.asarray(box_meta["lower"]), np.asarray(box_meta["upper"]))
    ticket = construct_conv(target, eps_param=EPS, rho=2, rng=0, domain=box)
    arrays = target.parameter_arrays
    big = sum(int((np.abs(p) > EPS).sum()) for p in arrays)  # weights and biases, bodies too
    assert _count_by_part(ticket.log, PART_POSITIVE) + _count_by_part(
        ticket.log, PART_BIAS) == big
    assert ticket.failures > 0 and ticket.metadata["rss_failures"] == ticket.failures
    assert bounds.conv_count_instances(target, EPS, box.has_negative) == ticket.log.n_instances
    assert bounds.conv_a_priori_rho(target, box, EPS, 0.01)["instances"] == ticket.log.n_instances


def test_a_priori_recursion_bounds_moved_shortcut_targets():
    """Every parameter (the shortcut's too) moved by ±ε', same sign everywhere, at the box's
    corners and random points: the error stays within the a-priori recursion, which counts the
    shortcut's own fan-in term (without it the bound is smaller)."""
    target = _shortcut_target(2, IDENTITY)
    box = Box.cube(-1.0, 1.0, target.widths[0])
    eps = 0.02
    bound = bounds.conv_a_priori_error(target, box, eps)
    rng = np.random.default_rng(3)
    x = np.concatenate([box.lower[None], box.upper[None], box.sample(500, rng)])
    for sign in (-1.0, 1.0):
        moved = Network.from_layers([_moved(layer, sign * eps) for layer in target.layers],
                                    target.activations)
        err = float(np.max(np.abs(moved.forward(x) - target.forward(x))))
        assert 0 < err <= bound
    # the shortcut's error term counts: the same target with an identity-sized bound is smaller
    block = target.layers[1]
    no_short = Network.from_layers(
        [target.layers[0], *block.body_layers, *target.layers[2:]],
        [target.activations[0], RELU, RELU, IDENTITY])
    assert bounds.conv_a_priori_error(no_short, box, eps) < bound


def _moved(layer, d):
    """``layer`` with every weight and bias moved by d (residual parts, shortcut included)."""
    if isinstance(layer, Residual):
        return Residual(tuple(_moved(part, d) for part in layer.body_layers),
                        layer.body_activations, _moved(layer.shortcut, d))
    if isinstance(layer, Conv2d):
        return Conv2d(layer.weight + d, layer.bias + d, layer.stride, layer.padding,
                      layer.input_shape)
    if isinstance(layer, Dense):
        return Dense(layer.weight + d, layer.bias + d)
    return layer


def _certificate(built, n_samples):
    """The conv certificate of the built ticket on [-1, 1]^n (its metadata stamped with the
    target's sha256, as construct does)."""
    from lotteryproofs.certify.conv import certify_conv

    target, ticket = built
    box = Box.cube(-1.0, 1.0, target.widths[0])
    meta = dict(ticket.metadata, target_sha256=network_sha256(target))
    ticket = type(ticket)(ticket.source, ticket.masks, ticket.scale, ticket.layer_scales,
                          ticket.log, ticket.layout, meta, ticket.origin)
    return certify_conv(ticket, target, box, n_samples=n_samples, exact=False)


def test_conv_certificate_names_its_a_priori_bound(built):
    cert = _certificate(built, 200)
    assert "recursion" in cert.a_priori_method and "closed form" not in cert.a_priori_method
    assert cert.to_json()["errors"]["a_priori_method"] == cert.a_priori_method


def test_verify_says_when_the_recursion_is_no_bound_on_the_ticket(built):
    """The a-priori line of ``verify``: a bound on the ticket exactly when every represented
    parameter is within ε' (the conv certificate has no a-priori candidate to ask)."""
    import dataclasses

    from lotteryproofs.commands.verify import format_certificate

    cert = _certificate(built, 100)
    within = dataclasses.replace(cert, max_param_error=0.5 * EPS)
    outside = dataclasses.replace(cert, max_param_error=2 * EPS)
    assert "not a bound" not in format_certificate(within)
    assert "not a bound for this ticket" in format_certificate(outside)


def test_shortcut_target_on_the_command_line(tmp_path):
    """construct → compact ticket file → verify → export network: the file's source (a
    Chain shortcut, redrawn from the seed) is source × mask, and the exported network,
    rebuilt from its own tensors, computes the ticket's Λ⁻¹·f_S."""
    from lotteryproofs.cli import main

    rng = np.random.default_rng(11)
    first = _conv(rng, 2, (1, 4, 4), 3, 1, 1)
    block = _block(rng, first.output_shape, 2, 3, 1, 2)
    flat = Flatten(block.output_shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    target = Network.from_layers([first, block, flat, dense], [RELU, RELU, IDENTITY])
    io.save_target(target, tmp_path / "tgt.npz")
    assert main(["construct", str(tmp_path / "tgt.npz"), "--method", "2l", "--rho", "8",
                 "--seed", "2", "--out", str(tmp_path / "t.npz")]) == 0
    assert main(["verify", str(tmp_path / "t.npz"), "--target", str(tmp_path / "tgt.npz"),
                 "--samples", "200"]) == 0
    assert main(["export", str(tmp_path / "t.npz"), "--format", "network", "--out",
                 str(tmp_path / "n.npz")]) == 0
    ticket = io.load_ticket(tmp_path / "t.npz")
    assert isinstance(ticket.source.layers[2].shortcut, Chain)
    direct = construct_conv(target, eps_param=EPS, rho=8, rng=np.random.SeedSequence(2),
                            domain=Box.cube(-1.0, 1.0, target.widths[0]))
    assert network_sha256(ticket.source) == network_sha256(direct.source)
    assert all(np.array_equal(a, b) for a, b in zip(ticket.masks, direct.masks, strict=True))
    exported = io.load_target(tmp_path / "n.npz")
    x = Box.cube(-1.0, 1.0, target.widths[0]).sample(300, rng)
    np.testing.assert_allclose(exported.forward(x), ticket.approximation(x), rtol=1e-12,
                               atol=1e-12)
