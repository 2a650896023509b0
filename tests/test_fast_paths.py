"""The faster computations of the same values equal the plain ones, byte for byte: the fused
uniform band (the source's sha256), the read-back kept on a ticket and its |θ| form, the
in-place box sample, and the absolute-value layers without a validating copy."""

from __future__ import annotations

import numpy as np
import pytest

from lotteryproofs import laws, philox
from lotteryproofs.init import TILE, WEIGHT, SourceSpec


@pytest.mark.parametrize("widths, entropy", [((5, 70, 3, 130, 2), 0), ((64, 65, 1), 12345),
                                             ((1, 1), 7), ((130, 2, 200), [3, 1 << 40])])
def test_fused_uniform_band_is_words_then_law_then_scale(widths, entropy):
    spec = SourceSpec.make("uniform", widths, entropy=entropy)
    streams = spec.streams
    for layer in range(spec.depth):
        rows, cols = spec.shape(layer)
        buffer = np.full((TILE, cols), np.nan)
        for tr in range(-(-rows // TILE)):
            n = min(TILE, rows - tr * TILE)
            words = philox.tile_row_words(streams.key, tr, 2 * layer + WEIGHT, TILE, n, cols)
            want = spec.layer_scales[layer] * laws.from_words("uniform", words)
            assert spec.weight_band(layer, tr, streams).tobytes() == want.tobytes()
            into = spec.weight_band(layer, tr, streams, out=buffer)
            assert into.base is buffer or into is buffer
            assert into.tobytes() == want.tobytes()


def test_sha256_with_the_fused_band_is_network_sha256_of_the_drawn_source():
    from lotteryproofs.network import network_sha256

    spec = SourceSpec.make("uniform", (7, 90, 4, 3), entropy=11)
    assert spec.sha256() == network_sha256(spec.network())


def _ticket(method="2l", spec="random:5-9-3:1", rho=10, lower=-1.0):
    from lotteryproofs.construct import construct
    from lotteryproofs.io import read_target
    from lotteryproofs.network import Box

    target, _ = read_target(spec)
    return construct(target, method, eps_param=0.05, delta=0.1, rng=2, rho=rho,
                     domain=Box.cube(lower, 1.0, target.widths[0]), keep_source=False)


@pytest.mark.parametrize("method, spec, rho", [("2l", "random:5-9-3:1", 10),
                                               ("2l", "random:8-12-6-3:5", 3),
                                               ("ll", "random:6-7-4-2:2", 12),
                                               ("zero-bias", "random:4-6-3:3", 10)])
def test_read_back_is_kept_and_equals_the_reads_of_the_network_and_its_absolute_values(
        method, spec, rho):
    """read_back (the pair constructions: from the kept entries, each divided by its scale)
    equals the dense read of the unit-scale network of θ and of |θ|."""
    from lotteryproofs.construct import read_back, represented_layers

    ticket = _ticket(method, spec, rho)
    network = ticket.network
    # the historical reads: (a copy of) the masked network and the network of |θ|, each
    # scaled to unit scale on its own
    signed = represented_layers(ticket, _copy(network))
    absolute = represented_layers(ticket, network.absolute())
    represented, kept_absolute = read_back(ticket)
    if method != "zero-bias":
        assert any(np.any(r.negative) for r in represented)  # signs that |θ| changes
    for got, want in ((represented, signed), (kept_absolute, absolute)):
        for g, w in zip(got, want, strict=True):
            for name in ("positive", "negative", "bias", "gain"):
                assert getattr(g, name).tobytes() == getattr(w, name).tobytes()
    assert read_back(ticket)[0] is represented  # kept: read once
    assert represented_layers(ticket) is represented


def _copy(network):
    from lotteryproofs.network import Network

    return Network([w.copy() for w in network.weights], [b.copy() for b in network.biases])


def test_box_sample_in_place_equals_the_expression():
    from lotteryproofs.network import Box

    box = Box(np.linspace(-1.3, 0.2, 17), np.linspace(0.1, 3.0, 17))
    x = box.sample(500, np.random.default_rng(9))
    u = np.random.default_rng(9).random((500, 17))
    assert x.tobytes() == (box.lower + (box.upper - box.lower) * u).tobytes()
    rows = np.full((503, 17), np.nan)
    got = box.sample(500, np.random.default_rng(9), out=rows[3:])
    assert got.tobytes() == x.tobytes() and rows[3:].tobytes() == x.tobytes()
    assert np.isnan(rows[:3]).all()


def test_absolute_layers_equal_the_validated_ones_and_are_read_only():
    from lotteryproofs.layers import Dense
    from lotteryproofs.network import Network

    rng = np.random.default_rng(4)
    net = Network([rng.normal(size=(3, 4)), rng.normal(size=(2, 3))],
                  [rng.normal(size=3), -np.ones(2)], activation="tanh")
    absolute = net.absolute()
    assert absolute.activations == net.activations
    for layer, mine in zip(net.layers, absolute.layers, strict=True):
        want = Dense(np.abs(layer.weight), np.abs(layer.bias))
        assert mine.weight.tobytes() == want.weight.tobytes()
        assert mine.bias.tobytes() == want.bias.tobytes()
        assert not mine.weight.flags.writeable and not mine.bias.flags.writeable


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (7, 5), (40, 130)])
def test_nonzero_2d_is_numpys_nonzero(shape):
    from lotteryproofs.indices import nonzero_2d

    rng = np.random.default_rng(sum(shape))
    a = np.where(rng.random(shape) < 0.2, rng.normal(size=shape), 0.0)
    if a.size:
        a.flat[0] = -0.0  # a signed zero is a zero
    for array in (a, a != 0, a[::2, ::-1], a.T):
        got, want = nonzero_2d(array), np.nonzero(array)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and np.array_equal(g, w)


def test_a_broken_layout_is_refused_alike_from_the_entries_and_from_the_dense_network():
    """A second weight, or a bias, kept on a univariate block neuron that a sum neuron reads:
    the same LayoutError from either read."""
    from lotteryproofs.construct import LayoutError, get_construction
    from lotteryproofs.construct.two_layer import represent_masked
    from lotteryproofs.init import unit_scale
    from lotteryproofs.network import Network

    ticket = _ticket()
    meta = ticket.metadata
    network = ticket.network
    b, s = meta["layout"]["pairs"][0]["block_layer"], meta["layout"]["pairs"][0]["sum_layer"]
    row = int(np.flatnonzero(np.count_nonzero(network.weights[b], axis=1) == 1)[-1])
    for change in ("second weight", "bias"):
        weights = [w.copy() for w in network.weights]
        biases = [v.copy() for v in network.biases]
        if change == "bias":
            biases[b][row] = 0.125
        else:
            weights[b][row, int(np.flatnonzero(weights[b][row] == 0)[0])] = 0.25
        weights[s][0, row] = weights[s][0, row] or 0.5  # a sum neuron reads it
        broken = Network(weights, biases)
        with pytest.raises(LayoutError) as dense:
            get_construction("2l").represent(unit_scale(broken, meta["layer_scales"])[0], meta)
        with pytest.raises(LayoutError) as entries:
            represent_masked(broken, meta)
        assert str(dense.value) == str(entries.value) != ""


def test_the_lift_operator_is_the_dense_product_with_i_minus_i():
    from lotteryproofs.certify.observed import _DenseOperator, _LiftOperator, _operators
    from lotteryproofs.network import Network

    n = 37
    w, b = np.concatenate([np.eye(n), -np.eye(n)]), np.zeros(2 * n)
    rng = np.random.default_rng(5)
    h = rng.normal(size=(n, 64))
    h[:3] = 0.0
    h[3] = -0.0
    v = rng.normal(size=(2 * n, 64))
    v[n:n + 2] = v[:2]  # differences that are exactly 0
    dense, lift = _DenseOperator(w, b), _LiftOperator(n)
    assert lift.forward_columns(h).tobytes() == dense.forward_columns(h).tobytes()
    assert lift.backward_columns(v).tobytes() == dense.backward_columns(v).tobytes()
    ops = _operators(Network([w, rng.normal(size=(3, 2 * n))], [b, np.zeros(3)]))
    assert isinstance(ops[0], _LiftOperator) and not isinstance(ops[1], _LiftOperator)
    w_other = w.copy()
    w_other[0, 1] = 1e-300  # not the lift: the dense product
    assert not isinstance(_operators(Network([w_other], [b]))[0], _LiftOperator)
