"""References shared by the tests: direct-loop convolutions (independent of the package's
im2col / sliding-window code: bounds checks per tap, no padded arrays) and the value pools
the RSS tests draw."""

from __future__ import annotations

import numpy as np


def ref_conv(x, w, b, stride, padding, zero=0.0):
    """Direct loops: z[o, y, x] = b[o] + Σ w[o, c, i, j]·x[c, s·y + i − p, s·x + j − p]."""
    c_in, h, wd = len(x), len(x[0]), len(x[0][0])
    out_c, _, kh, kw = np.shape(w)
    (sh, sw), (ph, pw) = stride, padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (wd + 2 * pw - kw) // sw + 1
    out = []
    for o in range(out_c):
        for yy in range(ho):
            for xx in range(wo):
                z = b[o] + zero
                for c in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            r, q = sh * yy + i - ph, sw * xx + j - pw
                            if 0 <= r < h and 0 <= q < wd:
                                z = z + w[o][c][i][j] * x[c][r][q]
                out.append(z)
    return out


def conv_image(x, w, b, stride: int, padding: int) -> np.ndarray:
    """:func:`ref_conv` on an image x (C, H, W) with one stride and padding for both axes, as
    the (O, Ho, Wo) array."""
    _, h, wd = np.shape(x)
    out_c, _, kh, kw = np.shape(w)
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    flat = ref_conv(x, w, b, (stride, stride), (padding, padding))
    return np.array(flat, dtype=np.float64).reshape(out_c, ho, wo)


def draw_pool(law: str, n: int, seed: int) -> np.ndarray:
    """n values of an RSS test pool: "uniform" U[−1, 1], "normal", "product" (of two
    uniforms), or else few distinct dyadic values (many subsets with exactly equal sums and
    equal Σ|v|: exact ties)."""
    rng = np.random.default_rng(seed)
    if law == "uniform":
        return rng.uniform(-1, 1, n)
    if law == "normal":
        return rng.normal(size=n)
    if law == "product":
        return rng.uniform(-1, 1, n) * rng.uniform(-1, 1, n)
    return rng.integers(-4, 5, n) / 8.0
