"""The forward pass of a ReLU network whose layers are sparse, compiled: for mostly pruned
networks (tickets), where the dense pass multiplies mostly zeros.

Layer l computes z = σ(W_l h + b_l) (σ = ReLU on hidden layers, the identity on the output
layer) with W_l in compressed-row (and -column) form. Each entry is summed as a sparse matrix
product sums it — 0, then the row's nonzero products w_ij·h_j in increasing j, then + b_i —
i.e. the same sums of the same products as the dense pass, in another order (rounding-level
differences; tests/test_sparse_relu.py checks it against a direct loop). Inputs are processed
in chunks of ``CHUNK`` (chunks in parallel across numba threads), each chunk running every
layer on its own buffers, so no activation of the whole batch is ever held, and layers are
taken in pairs so that every other layer's activations are not stored at all
(:func:`_forward`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lotteryproofs.indices import nonzero_2d
from lotteryproofs.rss import _numba_cache  # noqa: F401  (numba's cache folder, set before @njit)

#: Inputs per chunk: a chunk's buffers (the widths of every other layer × CHUNK floats, see
#: :func:`_forward`) stay in a core's cache for a LeNet ticket. Measured on its 2L ticket
#: (10⁴ inputs, one process): 16 → 0.87 s CPU, 32 → 0.54, 64 → 0.45, 128 → 0.36 s but then too
#: few chunks to keep two threads busy.
CHUNK = 64


@njit(cache=True, parallel=True)
def _forward(x, widths, indptr, indices, data, cptr, cidx, cdata, bias, ptr_off, nnz_off,
             bias_off, out):
    # Layers are taken in pairs (l, l + 1): layer l's neurons are computed one at a time
    # (compressed rows of W_l) and pushed at once into layer l + 1's sums (compressed columns of
    # W_{l+1}), so layer l's activations -- the wide block layers of a ticket -- are never
    # stored. Entry k of layer l + 1 still receives 0, then w_ki·h_i in increasing i, then
    # + b_k: the order of the row-wise pass. An odd last layer runs row-wise alone.
    n, depth = x.shape[0], widths.shape[0] - 1
    width_max = widths[0]  # the widest stored layer: the input and every pair's output
    layer = 0
    while layer < depth:
        step = 2 if layer + 1 < depth else 1
        width_max = max(width_max, widths[layer + step])
        layer += step
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        s0 = c * CHUNK
        m = min(CHUNK, n - s0)
        a = np.empty((width_max, CHUNK))
        b = np.empty((width_max, CHUNK))
        v = np.empty(CHUNK)
        for j in range(widths[0]):
            for s in range(m):
                a[j, s] = x[s0 + s, j]
        layer = 0
        while layer < depth:
            p0, q0, o0 = ptr_off[layer], nnz_off[layer], bias_off[layer]
            if layer + 1 < depth:
                c0, r0, o1 = ptr_off[layer + 1], nnz_off[layer + 1], bias_off[layer + 1]
                n2 = widths[layer + 2]
                for k in range(n2):
                    for s in range(m):
                        b[k, s] = 0.0
                for i in range(widths[layer + 1]):
                    for s in range(m):
                        v[s] = 0.0
                    for p in range(indptr[p0 + i], indptr[p0 + i + 1]):
                        w = data[q0 + p]
                        j = indices[q0 + p]
                        for s in range(m):
                            v[s] += w * a[j, s]
                    bi = bias[o0 + i]
                    for s in range(m):
                        t = v[s] + bi
                        if t < 0.0:  # layer l is hidden here
                            t = 0.0
                        v[s] = t
                    for p in range(cptr[c0 + i], cptr[c0 + i + 1]):
                        w = cdata[r0 + p]
                        k = cidx[r0 + p]
                        for s in range(m):
                            b[k, s] += w * v[s]
                for k in range(n2):
                    bk = bias[o1 + k]
                    for s in range(m):
                        t = b[k, s] + bk
                        if layer + 1 < depth - 1 and t < 0.0:
                            t = 0.0
                        b[k, s] = t
                layer += 2
            else:
                for i in range(widths[layer + 1]):
                    for s in range(m):
                        b[i, s] = 0.0
                    for p in range(indptr[p0 + i], indptr[p0 + i + 1]):
                        w = data[q0 + p]
                        j = indices[q0 + p]
                        for s in range(m):
                            b[i, s] += w * a[j, s]
                    bi = bias[o0 + i]
                    for s in range(m):
                        t = b[i, s] + bi
                        if layer < depth - 1 and t < 0.0:
                            t = 0.0
                        b[i, s] = t
                layer += 1
            a, b = b, a
        for k in range(widths[depth]):
            for s in range(m):
                out[s0 + s, k] = a[k, s]


def _compressed(major, minor, values, n: int):
    """(pointers, indices, values) grouped by ``major`` (sorted), for n groups."""
    counts = np.bincount(major, minlength=n)
    return np.concatenate(([0], np.cumsum(counts))), minor, values


def _both(w: np.ndarray):
    """w's nonzeros by rows (each row's columns ascending) and by columns (rows ascending)."""
    w = np.asarray(w)
    rows, cols = nonzero_2d(w)  # one pass over the dense array
    values = w[rows, cols]
    order = np.argsort(cols, kind="stable")  # stable: each column's rows stay ascending
    return (_compressed(rows, cols, values, w.shape[0]),
            _compressed(cols[order], rows[order], values[order], w.shape[1]))


def packed(weights, biases):
    """The layers in compressed-row and compressed-column form, concatenated: what
    :func:`forward` reads."""
    rows, cols = zip(*(_both(w) for w in weights), strict=True)
    widths = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    nnz = np.concatenate(([0], np.cumsum([r[1].size for r in rows])))[:-1]
    bias_off = np.concatenate(([0], np.cumsum(widths[1:])))[:-1]
    # a column pointer array has n_in + 1 entries, a row one n_out + 1: pad both to the longer
    # so that one offset per layer addresses either
    size = [max(w.shape) + 1 for w in weights]
    offsets = np.concatenate(([0], np.cumsum(size)))[:-1]

    def pad(p, n):
        return np.concatenate((p, np.full(n - p.size, p[-1])))

    def cat(parts, dtype):
        return np.concatenate([np.asarray(q, dtype) for q in parts]) if parts else \
            np.zeros(0, dtype)

    return (np.asarray(widths, np.int64),
            cat([pad(r[0], n) for r, n in zip(rows, size, strict=True)], np.int64),
            cat([r[1] for r in rows], np.int64), cat([r[2] for r in rows], np.float64),
            cat([pad(q[0], n) for q, n in zip(cols, size, strict=True)], np.int64),
            cat([q[1] for q in cols], np.int64), cat([q[2] for q in cols], np.float64),
            cat([np.asarray(b, np.float64) for b in biases], np.float64),
            np.asarray(offsets, np.int64), np.asarray(nnz, np.int64),
            np.asarray(bias_off, np.int64))


def forward(layers, x: np.ndarray) -> np.ndarray:
    """The outputs of the ReLU network ``layers`` (:func:`packed`) at the rows of x (n, n_0)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], int(layers[0][-1])))
    _forward(x, *layers, out)
    return out
