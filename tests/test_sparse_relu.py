"""The compiled sparse ReLU pass against a direct-loop reference.

The reference sums each pre-activation exactly as the module's docstring says the compiled pass
does — 0, then the row's nonzero products w_ij·h_j in increasing j, then + b_i — in plain
Python floats, one input at a time. The compiled pass must agree bit for bit (same sums of the
same products in the same order), on random sparse networks with empty rows, width-1 layers and
batch sizes that are not multiples of CHUNK; and its results must not depend on how the
inputs are split over threads (each input's value is computed by one chunk alone).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import sparse_relu
from lotteryproofs.network import Network
from lotteryproofs.ticket import Ticket


def _reference(weights, biases, x):
    out = []
    for row in x:
        h = [float(v) for v in row]
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = []
            for i in range(w.shape[0]):
                s = 0.0
                for j in range(w.shape[1]):
                    if w[i, j] != 0.0:
                        s += float(w[i, j]) * h[j]
                s += float(b[i])
                if layer < len(weights) - 1:
                    s = max(s, 0.0)
                z.append(s)
            h = z
        out.append(h)
    return np.asarray(out, dtype=np.float64).reshape(len(x), weights[-1].shape[0])


@st.composite
def _networks(draw):
    widths = draw(st.lists(st.integers(1, 7), min_size=2, max_size=5))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    n = draw(st.sampled_from([1, sparse_relu.CHUNK - 1, sparse_relu.CHUNK,
                              sparse_relu.CHUNK + 1, 2 * sparse_relu.CHUNK + 3]))
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        w = rng.normal(size=(b, a)) * (rng.random((b, a)) < density)
        if b > 1:
            w[rng.integers(b)] = 0.0  # at least one empty row where there are two
        weights.append(w)
        biases.append(rng.normal(size=b) * (rng.random(b) < 0.7))
    x = rng.normal(size=(n, widths[0]))
    return weights, biases, x


@settings(max_examples=60, deadline=None)
@given(_networks())
def test_forward_equals_the_direct_loop_bit_for_bit(case):
    weights, biases, x = case
    got = sparse_relu.forward(sparse_relu.packed(weights, biases), x)
    np.testing.assert_array_equal(got, _reference(weights, biases, x))


@settings(max_examples=25, deadline=None)
@given(_networks())
def test_forward_is_independent_of_the_batch_split(case):
    # each input's output is computed within one chunk: any split of the batch (hence any
    # assignment of chunks to threads) gives the same bytes
    weights, biases, x = case
    layers = sparse_relu.packed(weights, biases)
    whole = sparse_relu.forward(layers, x)
    one_by_one = np.vstack([sparse_relu.forward(layers, x[i:i + 1]) for i in range(len(x))])
    assert whole.tobytes() == one_by_one.tobytes()


def test_ticket_approximation_matches_the_dense_pass():
    rng = np.random.default_rng(3)
    widths = [5, 40, 1, 30, 3]
    weights = [rng.normal(size=(b, a)) * (rng.random((b, a)) < 0.15)
               for a, b in zip(widths[:-1], widths[1:], strict=True)]
    biases = [rng.normal(size=b) for b in widths[1:]]
    source = Network(weights, biases)
    masks = [w != 0 for w in weights]
    ticket = Ticket(source=source, weight_masks=masks,
                    bias_masks=[np.ones(b, dtype=bool) for b in widths[1:]], scale=0.5)
    x = rng.normal(size=(sparse_relu.CHUNK * 3 + 5, 5))
    dense = source.forward(x) / 0.5
    np.testing.assert_allclose(ticket.approximation(x), dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ticket.approximation(x[0]), ticket.approximation(x[:1])[0])
