"""The forward pass of a ReLU network whose layers are sparse, compiled: for mostly pruned
networks (tickets), where the dense pass multiplies mostly zeros.

Layer l computes z = σ(W_l h + b_l) (σ = ReLU on hidden layers, the identity on the output
layer) with W_l in compressed-row form. Each entry is summed as a sparse matrix product sums
it — 0, then the row's nonzero products w_ij·h_j in increasing j, then + b_i — i.e. the same
sums of the same products as the dense pass, in another order (rounding-level differences;
tests/test_lazy_source.py compares the two). Inputs are processed in chunks of ``CHUNK``
(rows in parallel across numba threads), each chunk running every layer on two scratch
buffers, so no activation of the whole batch is ever held.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lotteryproofs.rss import _numba_cache  # noqa: F401  (numba's cache folder, set before @njit)

#: Inputs per chunk: the two scratch buffers of a chunk (widest layer × CHUNK floats each)
#: stay in the cache of one core for the widths of a LeNet ticket.
CHUNK = 16


@njit(cache=True, parallel=True)
def _forward(x, widths, indptr, indices, data, bias, ptr_off, nnz_off, out):
    n, depth = x.shape[0], widths.shape[0] - 1
    width_max = 0
    for w in widths:
        width_max = max(width_max, w)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        s0 = c * CHUNK
        m = min(CHUNK, n - s0)
        a = np.empty((width_max, CHUNK))
        b = np.empty((width_max, CHUNK))
        for j in range(widths[0]):
            for s in range(m):
                a[j, s] = x[s0 + s, j]
        boff = 0
        for layer in range(depth):
            p0, q0 = ptr_off[layer], nnz_off[layer]
            for i in range(widths[layer + 1]):
                for s in range(m):
                    b[i, s] = 0.0
                for p in range(indptr[p0 + i], indptr[p0 + i + 1]):
                    w = data[q0 + p]
                    j = indices[q0 + p]
                    for s in range(m):
                        b[i, s] += w * a[j, s]
                bi = bias[boff + i]
                for s in range(m):
                    v = b[i, s] + bi
                    if layer < depth - 1 and v < 0.0:
                        v = 0.0
                    b[i, s] = v
            boff += widths[layer + 1]
            a, b = b, a
        for k in range(widths[depth]):
            for s in range(m):
                out[s0 + s, k] = a[k, s]


def packed(weights, biases):
    """The layers in compressed-row form, concatenated: what :func:`forward` reads."""
    indptr, indices, data, ptr_off, nnz_off = [], [], [], [0], [0]
    for w in weights:
        rows, cols = np.nonzero(w)  # row-major: each row's columns ascending
        counts = np.bincount(rows, minlength=w.shape[0])
        indptr.append(np.concatenate(([0], np.cumsum(counts))))
        indices.append(cols)
        data.append(w[rows, cols])
        ptr_off.append(ptr_off[-1] + w.shape[0] + 1)
        nnz_off.append(nnz_off[-1] + cols.size)
    widths = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    return (np.asarray(widths, np.int64), np.concatenate(indptr).astype(np.int64),
            np.concatenate(indices).astype(np.int64), np.concatenate(data).astype(np.float64),
            np.concatenate([np.asarray(b, np.float64) for b in biases]),
            np.asarray(ptr_off[:-1], np.int64), np.asarray(nnz_off[:-1], np.int64))


def forward(layers, x: np.ndarray) -> np.ndarray:
    """The outputs of the ReLU network ``layers`` (:func:`packed`) at the rows of x (n, n_0)."""
    widths, indptr, indices, data, bias, ptr_off, nnz_off = layers
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], int(widths[-1])))
    _forward(x, widths, indptr, indices, data, bias, ptr_off, nnz_off, out)
    return out
