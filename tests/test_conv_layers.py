"""Conv2d, pooling, Flatten and Residual against direct loops (no windows, no im2col).

The references below index every tap by hand (padding by bounds checks, not by padded
arrays) and work on any number type, so in ``Fraction`` they are exact: the rigorous
enclosures (interval_outward, interval_iv) must contain the exact image of sampled points,
and exact / exact_scaled must equal it.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import ref_conv

from lotteryproofs import _validate
from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.conv_layers import AvgPool2d, Conv2d, Flatten, MaxPool2d
from lotteryproofs.iv_functions import lower, upper
from lotteryproofs.layers import Dense
from lotteryproofs.propagation import DYADIC, from_dyadic, to_dyadic
from lotteryproofs.residual import Residual
from lotteryproofs.rounding import iv53


def ref_pool(x, kernel, stride, reduce):
    c_in, h, wd = len(x), len(x[0]), len(x[0][0])
    (kh, kw), (sh, sw) = kernel, stride
    out = []
    for c in range(c_in):
        for yy in range((h - kh) // sh + 1):
            for xx in range((wd - kw) // sw + 1):
                out.append(reduce([x[c][sh * yy + i][sw * xx + j]
                                   for i in range(kh) for j in range(kw)]))
    return out


def _image(flat, shape):
    c, h, w = shape
    return [[[flat[(ci * h + r) * w + q] for q in range(w)] for r in range(h)]
            for ci in range(c)]


def _frac(array):
    return np.vectorize(Fraction, otypes=[object])(np.asarray(array, float)).tolist()


@st.composite
def conv_cases(draw):
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    h = draw(st.integers(max(1, kh - 2 * ph), 7))
    w = draw(st.integers(max(1, kw - 2 * pw), 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(c_out, c_in, kh, kw))
    weight[rng.random(weight.shape) < 0.2] = 0.0
    bias = rng.normal(size=c_out)
    layer = Conv2d(weight, bias, stride=(sh, sw), padding=(ph, pw), input_shape=(c_in, h, w))
    return layer, rng


def _ref_layer(layer, x, zero=0.0):
    shape = layer.input_shape
    xi = _image(x, shape)
    exact = isinstance(zero, Fraction)
    if isinstance(layer, Conv2d):
        w = _frac(layer.weight) if exact else layer.weight.tolist()
        b = _frac(layer.bias) if exact else layer.bias.tolist()
        return ref_conv(xi, w, b, layer.stride, layer.padding, zero)
    if isinstance(layer, MaxPool2d):
        return ref_pool(xi, layer.kernel, layer.stride, max)
    scale = Fraction(layer.scale) if exact else layer.scale
    return ref_pool(xi, layer.kernel, layer.stride, lambda v: scale * sum(v, zero))


@settings(max_examples=40, deadline=None)
@given(conv_cases())
def test_conv_float_arithmetics_equal_direct_loops(case):
    layer, rng = case
    x = rng.uniform(-2, 2, size=(3, layer.in_features))
    ref = np.array([_ref_layer(layer, row) for row in x])
    assert layer.out_features == ref.shape[1]
    assert layer.output_shape[0] * layer.output_shape[1] * layer.output_shape[2] == ref.shape[1]
    np.testing.assert_allclose(layer.forward(x), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.forward(x[0]), ref[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.forward_columns(x.T), ref.T, rtol=0, atol=1e-12)
    r = rng.uniform(0, 1, size=x.shape)
    c_out, r_out = layer.centre_radius(x, r)
    abs_ref = np.array([ref_conv(_image(row, layer.input_shape), np.abs(layer.weight).tolist(),
                                 [0.0] * layer.weight.shape[0], layer.stride, layer.padding)
                        for row in r])
    np.testing.assert_allclose(c_out, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r_out, abs_ref, rtol=0, atol=1e-12)
    bias_flat = np.repeat(layer.bias, layer.output_shape[1] * layer.output_shape[2])
    np.testing.assert_allclose(layer.unrolled() @ x[0] + bias_flat, ref[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("c_in, c_out", [(5, 2), (2, 5)])
def test_both_conv_orders_equal_direct_loops(c_in, c_out):
    """im2col (C ≤ O) and channels first (C > O) on the same odd geometry."""
    from lotteryproofs.conv_layers import _conv_channels_first, _conv_windows

    rng = np.random.default_rng(c_in)
    layer = Conv2d(rng.normal(size=(c_out, c_in, 3, 2)), np.zeros(c_out), (2, 1), (1, 0),
                   (c_in, 7, 6))
    x = rng.normal(size=(3, layer.in_features))
    ref = np.array([_ref_layer(layer, row) for row in x])
    for impl in (_conv_windows, _conv_channels_first):
        got = impl(x, layer.weight, layer.input_shape, layer.stride, layer.padding,
                   layer.output_shape)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def _check_rigorous(layer, lo, hi, rng, n_points=4):
    """exact / exact_scaled equal the Fraction loops; outward and iv enclosures contain
    them at sampled points of the box (corners included)."""
    z_lo, z_hi = layer.interval_outward(lo, hi)
    with iv53():
        import mpmath
        xs_iv = [mpmath.iv.mpf([float(a), float(b)]) for a, b in zip(lo, hi, strict=True)]
        z_iv = layer.interval_iv(xs_iv)
    points = [lo, hi] + [lo + (hi - lo) * rng.random(lo.shape) for _ in range(n_points)]
    for x in points:
        ref = _ref_layer(layer, _frac(x), Fraction(0))
        assert layer.exact(_frac(x)) == ref
        assert from_dyadic(DYADIC.layer(layer, to_dyadic(x))) == ref
        for k, v in enumerate(ref):
            assert Fraction(float(z_lo[k])) <= v <= Fraction(float(z_hi[k]))
            assert Fraction(float(lower(z_iv[k]))) <= v <= Fraction(float(upper(z_iv[k])))
        fwd = layer.forward(x)
        assert np.all(z_lo <= fwd) and np.all(fwd <= z_hi)


@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_conv_rigorous_and_exact_arithmetics(case):
    layer, rng = case
    lo = rng.uniform(-2, 1, size=layer.in_features)
    hi = lo + rng.uniform(0, 1, size=lo.shape)
    _check_rigorous(layer, lo, hi, rng)


def test_conv_outward_encloses_cancellation():
    """Huge terms that cancel exactly: the enclosure still contains the exact value."""
    w = np.array([[[[1.0, -1.0, 1e-17]]]])
    layer = Conv2d(w, np.array([1e-30]), input_shape=(1, 1, 3))
    x = np.array([1e16, 1e16 + 2.0, 1.0])
    lo, hi = layer.interval_outward(x, x)
    exact = layer.exact(_frac(x))[0]
    assert Fraction(float(lo[0])) <= exact <= Fraction(float(hi[0]))
    assert exact == Fraction(-2) + Fraction(1e-17) + Fraction(1e-30)


@st.composite
def pool_cases(draw):
    kind = draw(st.sampled_from([AvgPool2d, MaxPool2d]))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    shape = (draw(st.integers(1, 3)), draw(st.integers(kh, 7)), draw(st.integers(kw, 7)))
    return kind((kh, kw), stride, shape), np.random.default_rng(draw(st.integers(0, 2**32)))


@settings(max_examples=40, deadline=None)
@given(pool_cases())
def test_pools_equal_direct_loops(case):
    layer, rng = case
    x = rng.uniform(-2, 2, size=(2, layer.in_features))
    ref = np.array([_ref_layer(layer, row) for row in x])
    np.testing.assert_allclose(layer.forward(x), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.forward_columns(x.T), ref.T, rtol=0, atol=1e-12)
    lo = x.min(axis=0)
    hi = x.max(axis=0) + 0.1
    _check_rigorous(layer, lo, hi, rng, n_points=2)
    if isinstance(layer, MaxPool2d):  # monotone: the outward image is the exact image
        z_lo, z_hi = layer.interval_outward(lo, hi)
        np.testing.assert_array_equal(z_lo, _ref_layer(layer, lo))
        np.testing.assert_array_equal(z_hi, _ref_layer(layer, hi))


def test_flatten_is_the_identity_and_returns_fresh_arrays():
    layer = Flatten((2, 3, 4))
    x = np.arange(24.0)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x)
    y[0] = 99.0
    assert x[0] == 0.0
    assert layer.exact(_frac(x)) == _frac(x) and layer.out_features == 24


def _ref_residual(body, acts, shortcut, x):
    """Direct loops through the body (ReLU/identity by hand) plus the shortcut."""
    h = list(x)
    for t, layer in enumerate(body):
        h = _ref_layer(layer, h)
        if t < len(body) - 1:
            h = [max(v, 0.0) for v in h] if acts[t] == RELU else h
    s = list(x) if shortcut is None else _ref_layer(shortcut, list(x))
    return [a + b for a, b in zip(h, s, strict=True)]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 6), st.booleans(),
       st.integers(0, 2**32))
def test_residual_equals_direct_loops(c_in, c_mid, size, with_shortcut, seed):
    rng = np.random.default_rng(seed)
    shape = (c_in, size, size)
    c_out = c_in if not with_shortcut else int(rng.integers(1, 4))
    body = (Conv2d(rng.normal(size=(c_mid, c_in, 3, 3)), rng.normal(size=c_mid),
                   padding=1, input_shape=shape),
            Conv2d(rng.normal(size=(c_out, c_mid, 3, 3)), rng.normal(size=c_out),
                   padding=1, input_shape=(c_mid, size, size)))
    shortcut = (Conv2d(rng.normal(size=(c_out, c_in, 1, 1)), rng.normal(size=c_out),
                       input_shape=shape) if with_shortcut else None)
    block = Residual(body, (RELU,), shortcut)
    x = rng.uniform(-1, 1, size=(2, block.in_features))
    ref = np.array([_ref_residual(body, (RELU,), shortcut, row) for row in x])
    np.testing.assert_allclose(block.forward(x), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(block.forward_columns(x.T), ref.T, rtol=0, atol=1e-12)
    lo, hi = x.min(axis=0), x.max(axis=0)
    z_lo, z_hi = block.interval_outward(lo, hi)
    pts = lo + (hi - lo) * rng.random((200, lo.size))
    fwd = block.forward(pts)
    assert np.all(z_lo <= fwd) and np.all(fwd <= z_hi)
    c, r = block.centre_radius((lo + hi) / 2, (hi - lo) / 2)
    assert np.all(c - r <= fwd + 1e-9) and np.all(fwd <= c + r + 1e-9)
    # exact arithmetics: Fraction equals the dyadic one, inside the outward box
    ex = block.exact(_frac(pts[0]))
    assert from_dyadic(block.exact_scaled(*to_dyadic(pts[0]))) == ex
    assert all(Fraction(float(a)) <= v <= Fraction(float(b))
               for a, v, b in zip(z_lo, ex, z_hi, strict=True))
    # masks: one per parameter array; a zero mask kills the body, leaving the shortcut
    zeros = [np.zeros(p.shape) for p in block.parameters]
    k = 4  # the body's four arrays; keep the shortcut
    kept = block.masked(*(zeros[:k] + [np.ones(p.shape) for p in block.parameters[k:]]))
    s = x if shortcut is None else shortcut.forward(x)
    np.testing.assert_allclose(kept.forward(x), s, rtol=0, atol=0)


def test_residual_with_dense_and_identity_body_hashes_structure():
    rng = np.random.default_rng(0)
    d1, d2 = Dense(rng.normal(size=(4, 3)), rng.normal(size=4)), Dense(
        rng.normal(size=(3, 4)), rng.normal(size=3))
    a, b = Residual((d1, d2), (RELU,)), Residual((d1, d2), (IDENTITY,))
    ha, hb = hashlib.sha256(), hashlib.sha256()
    a.digest_update(ha)
    b.digest_update(hb)
    assert ha.digest() != hb.digest()
    x = rng.normal(size=3)
    np.testing.assert_allclose(a.forward(x), x + d2.forward(np.maximum(d1.forward(x), 0)),
                               rtol=0, atol=1e-12)


def test_geometry_enters_the_digest():
    w, b = np.ones((1, 1, 2, 2)), np.zeros(1)
    digests = set()
    for kw in ({}, {"stride": 2}, {"padding": 1}):
        d = hashlib.sha256()
        Conv2d(w, b, input_shape=(1, 4, 4), **kw).digest_update(d)
        digests.add(d.hexdigest())
    assert len(digests) == 3


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d(np.ones((1, 2, 3, 3)), np.zeros(1), input_shape=(1, 5, 5)), "channels"),
    (lambda: Conv2d(np.ones((1, 1, 3, 3)), np.zeros(2), input_shape=(1, 5, 5)), "bias"),
    (lambda: Conv2d(np.ones((1, 1, 5, 5)), np.zeros(1), input_shape=(1, 3, 3)), "fit"),
    (lambda: MaxPool2d(4, None, (1, 3, 3)), "fit"),
    (lambda: Conv2d(np.ones((1, 1, 1, 1)), np.zeros(1), stride=0, input_shape=(1, 3, 3)),
     "stride"),
    (lambda: Residual((Conv2d(np.ones((2, 1, 1, 1)), np.zeros(2), input_shape=(1, 3, 3)),)),
     "shortcut"),
])
def test_bad_geometry_is_an_input_error(make, message):
    with pytest.raises(_validate.InputError, match=message):
        make()


def test_network_of_mixed_layers_masks_each_parameter_array():
    from lotteryproofs.network import Network

    rng = np.random.default_rng(8)
    conv = Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), 1, 1, (1, 4, 4))
    block = Residual((Conv2d(rng.normal(size=(2, 2, 1, 1)), rng.normal(size=2), 1, 0, (2, 4, 4)),
                      Conv2d(rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2), 1, 1, (2, 4, 4))),
                     (RELU,))
    pool = MaxPool2d(2, None, (2, 4, 4))
    dense = Dense(rng.normal(size=(3, 8)), rng.normal(size=3))
    net = Network.from_layers([conv, block, pool, Flatten((2, 2, 2)), dense],
                              [RELU, RELU, IDENTITY, IDENTITY])
    assert len(net.parameter_arrays) == 8 and net.n_params == sum(
        p.size for p in net.parameter_arrays)
    with pytest.raises(_validate.InputError, match="layer 1 is a residual layer"):
        net.weights  # noqa: B018
    masks = [rng.random(p.shape) < 0.5 for p in net.parameter_arrays]
    sub = net.masked_parameters(masks)
    # the same subnetwork assembled by hand, layer by layer
    m = iter(masks)
    by_hand = Network.from_layers(
        [conv.masked(next(m), next(m)),
         Residual(tuple(layer.masked(next(m), next(m)) for layer in block.body_layers),
                  (RELU,)),
         pool, Flatten((2, 2, 2)), dense.masked(next(m), next(m))],
        [RELU, RELU, IDENTITY, IDENTITY])
    x = rng.uniform(-1, 1, size=(6, 16))
    np.testing.assert_array_equal(sub.forward(x), by_hand.forward(x))
    assert sub.count_nonzero() == sum(int(np.count_nonzero(p * k))
                                      for p, k in zip(net.parameter_arrays, masks, strict=True))
