"""Philox-4×64-10 words at any position of a stream, without drawing the words before it.

numpy's ``Philox(key=K, counter=c)`` bit generator outputs, as its 64-bit words 0, 1, 2, …,
the lanes of the blocks Philox_K(c + 1), Philox_K(c + 2), …: word i is lane i mod 4 of
Philox_K(c + 1 + ⌊i/4⌋) (it increments the 256-bit counter, lowest word first, before each
block of four words and hands the lanes out in order; numpy/random/src/philox/philox.h). So
word i of a stream is a function of (K, c, i) alone, and :func:`words_at` computes it for many
(stream, i) pairs at once: the same bits numpy's generator would give after drawing i words.
The streams used here start at a counter whose lowest word is 0 (``c = (0, c1, c2, c3)``) and
read far fewer than 2⁶⁴ blocks, so the increment never carries into c1.

Philox_K (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; Random123's
``philox4x64_R`` with R = 10, the rounds numpy uses): ten rounds of

    (x0, x1, x2, x3) → (hi(M1·x2) ⊕ x1 ⊕ k0, lo(M1·x2), hi(M0·x0) ⊕ x3 ⊕ k1, lo(M0·x0))

with the key bumped by the Weyl constants (k0 += W0, k1 += W1) between rounds; hi/lo are the
halves of the 128-bit product (one LLVM 128-bit multiply). Every operation is integer
arithmetic modulo 2⁶⁴, identical on every machine. The tests compare every word with
numpy's own generator (tests/test_lazy_source.py); proofs/lazy-source.md says why a value
computed here is the value of the fully drawn source.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from lotteryproofs.rss import _numba_cache  # noqa: F401  (numba's cache folder, set before @njit)

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)


@intrinsic
def _mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64: one LLVM i128 multiply (one
    machine instruction on x86-64 and arm64), exact like the schoolbook it replaces."""
    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


@njit(cache=True, inline="always")
def _mulhilo(a, b):
    """(hi, lo) of the 128-bit product a·b of two uint64."""
    return _mulhi(a, b), a * b


@njit(cache=True, inline="always")
def _block(x0, x1, x2, x3, k0, k1):
    """Philox_K(x) for K = (k0, k1): the four lanes of one block."""
    for r in range(10):
        if r:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0, lo0 = _mulhilo(_M0, x0)
        hi1, lo1 = _mulhilo(_M1, x2)
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


@njit(cache=True)
def _words_at(k0, k1, c1, c2, c3, index, out):
    one = np.uint64(1)
    for m in range(index.shape[0]):
        i = np.uint64(index[m])
        lanes = _block(i // np.uint64(4) + one, np.uint64(c1[m]), np.uint64(c2[m]),
                       np.uint64(c3[m]), k0, k1)
        lane = index[m] % 4
        if lane == 0:
            out[m] = lanes[0]
        elif lane == 1:
            out[m] = lanes[1]
        elif lane == 2:
            out[m] = lanes[2]
        else:
            out[m] = lanes[3]


@njit(cache=True, nogil=True)  # nogil: the sha256 thread draws bands beside the construction
def _band(k0, k1, c2, c3, tile, rows, cols, out):
    """out[r, c] = word (r·w + c mod tile) of the stream (0, ⌊c/tile⌋, c2, c3), w the width
    of c's tile: one tile row of a matrix cut into tile × tile tiles, row-major in each.
    Word i of a tile is lane i mod 4 of block ⌊i/4⌋; (r, c) advance with i (no division)."""
    n_tiles = (cols + tile - 1) // tile
    for tc in range(n_tiles):
        width = min(tile, cols - tc * tile)
        n = rows * width
        r, c = 0, 0
        for b in range((n + 3) // 4):
            lanes = _block(np.uint64(b + 1), np.uint64(tc), np.uint64(c2), np.uint64(c3), k0, k1)
            for lane in range(4):
                if r < rows:
                    out[r, tc * tile + c] = lanes[lane]
                    c += 1
                    if c == width:
                        c = 0
                        r += 1


@njit(cache=True, nogil=True)
def _band_uniform(k0, k1, c2, c3, tile, rows, cols, scale, out):
    """:func:`_band`'s words turned into ``scale``·U[−1, 1] values in the same pass: word w
    becomes scale·(−1 + 2·d), d = (w >> 11)·2⁻⁵³ — the operations, in the order and
    precision, of :func:`lotteryproofs.laws._uniform_from_words` followed by the layer scale
    (each an IEEE float64 operation: no fused multiply-add, numba's default), so the bytes
    are those of the unfused path (tests/test_lazy_source.py)."""
    n_tiles = (cols + tile - 1) // tile
    eleven = np.uint64(11)
    for tc in range(n_tiles):
        width = min(tile, cols - tc * tile)
        n = rows * width
        r, c = 0, 0
        for b in range((n + 3) // 4):
            lanes = _block(np.uint64(b + 1), np.uint64(tc), np.uint64(c2), np.uint64(c3), k0, k1)
            for lane in range(4):
                if r < rows:
                    d = np.float64(lanes[lane] >> eleven) * (1.0 / 9007199254740992.0)
                    out[r, tc * tile + c] = scale * (-1.0 + 2.0 * d)
                    c += 1
                    if c == width:
                        c = 0
                        r += 1


def words_at(key, c1, c2, c3, index) -> np.ndarray:
    """Word ``index[m]`` of the stream Philox(key, counter = (0, c1[m], c2[m], c3[m])), for
    every m (the arrays broadcast; index ≥ 0)."""
    c1, c2, c3, index = np.broadcast_arrays(*(np.asarray(a, np.int64) for a in (c1, c2, c3,
                                                                              index)))
    out = np.empty(index.shape, np.uint64)
    k0, k1 = (np.uint64(int(k)) for k in key)
    _words_at(k0, k1, c1.ravel(), c2.ravel(), c3.ravel(), index.ravel(), out.reshape(-1))
    return out


def tile_row_words(key, c2: int, c3: int, tile: int, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) array whose tile tc (columns tc·tile …) holds, row-major, the first
    rows·width words of the stream Philox(key, counter = (0, tc, c2, c3))."""
    out = np.empty((rows, cols), np.uint64)
    k0, k1 = (np.uint64(int(k)) for k in key)
    _band(k0, k1, int(c2), int(c3), int(tile), int(rows), int(cols), out)
    return out


def tile_row_uniform(key, c2: int, c3: int, tile: int, rows: int, cols: int, scale: float,
                     out: np.ndarray | None = None) -> np.ndarray:
    """``scale`` times the U[−1, 1] values numpy's ``uniform(-1, 1)`` makes of the words of
    :func:`tile_row_words` (one word per value, lotteryproofs.laws), in one compiled pass
    without the word array; ``out`` (float64, at least ``rows`` × ``cols``, C-contiguous) is
    filled and returned when given (a buffer reused band after band), else a new array."""
    if out is None:
        out = np.empty((rows, cols))
    else:
        out = out[:rows, :cols]
    k0, k1 = (np.uint64(int(k)) for k in key)
    _band_uniform(k0, k1, int(c2), int(c3), int(tile), int(rows), int(cols), float(scale), out)
    return out
