"""Convolution, pooling and flatten layers on the flat (batch, C·H·W) layout.

Values stay flat: a batch is an array of shape (batch, C·H·W), each row an image in C order
(channel, row, column), so activations, :class:`~lotteryproofs.layers.Dense` and
:func:`lotteryproofs.propagation.propagate` need no change; a layer knows its
``input_shape`` (C, H, W) and its ``output_shape``. Every class follows the layer protocol of
:mod:`lotteryproofs.layers` (forward, forward_columns, centre_radius, interval_outward,
interval_iv, exact, exact_scaled, parameters, masked, absolute, digest_update).

* :class:`Conv2d`: z[o, y, x] = b[o] + Σ_{c,i,j} W[o, c, i, j] · h_pad[c, s·y + i, s·x + j],
  h_pad the input with ``padding`` zeros on every side (dilation 1, groups 1; PyTorch's
  ``nn.Conv2d``, output size ⌊(H + 2p − k)/s⌋ + 1). A linear map: the unrolled matrix is a
  Dense layer's, so its outward enclosure is Dense's (proofs/certificate-soundness.md,
  Lemma 2) with N = 2·C·kh·kw + 1 terms.
* :class:`AvgPool2d`: z[c, y, x] = a · Σ_{i,j} h[c, s·y + i, s·x + j] with a = fl(1/(kh·kw))
  (the mean exactly when kh·kw is a power of two, else the float64 mean PyTorch computes up
  to one rounding). Linear with non-negative weights: outward rounding as Dense does.
* :class:`MaxPool2d`: z[c, y, x] = max_{i,j} h[c, s·y + i, s·x + j]. Not affine but monotone
  in every input, so its image of a box is [maxpool(lo), maxpool(hi)] exactly (no rounding:
  a max of floats is one of them); Lipschitz 1 in the max norm of a window, so
  :meth:`MaxPool2d.absolute` is itself.
* :class:`Flatten`: the identity on the flat layout (kept so files can say ``flatten``).

One float64 implementation per layer serves forward, centre_radius and interval_outward:
:func:`_conv` (im2col by ``sliding_window_view``, or for many input channels a channel
contraction by BLAS followed by shifted slices: no window copy) and, for pooling,
:func:`image_windows` (sliding windows of ``numpy.lib.stride_tricks.sliding_window_view``);
the exact arithmetics walk the taps (:meth:`Conv2d.taps`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import mpmath
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lotteryproofs import _validate, iv_functions
from lotteryproofs.layers import frozen_array, scaled_ints
from lotteryproofs.rounding import dot_error, down, up

#: Rows of one batch chunk are chosen so the window array holds at most this many floats
#: (the patches tensordot copies: bounded memory for wide sources and large batches).
_CHUNK_FLOATS = 1 << 23


def _pair(name: str, value, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints >= minimum, as a pair."""
    if isinstance(value, (tuple, list, np.ndarray)):
        values = tuple(value)
        if len(values) != 2:
            raise _validate.InputError(f"{name} must be an integer or a pair, got {value!r}")
    else:
        values = (value, value)
    return tuple(_validate.positive_int(name, int(v) if isinstance(v, np.integer) else v,
                                        minimum=minimum) for v in values)


def _shape3(value) -> tuple[int, int, int]:
    """(C, H, W), positive integers."""
    shape = tuple(value)
    if len(shape) != 3:
        raise _validate.InputError(f"input shape must be [C, H, W], got {list(shape)}")
    return tuple(_validate.positive_int("input shape entry",
                                        int(v) if isinstance(v, np.integer) else v)
                 for v in shape)


def output_size(name: str, size: int, kernel: int, stride: int, padding: int) -> int:
    """⌊(size + 2·padding − kernel)/stride⌋ + 1, refusing a kernel larger than the padded
    input (PyTorch floors a stride that does not divide; so do we)."""
    if size + 2 * padding < kernel:
        raise _validate.InputError(
            f"{name}: kernel {kernel} does not fit an input of size {size} with padding "
            f"{padding}"
        )
    return (size + 2 * padding - kernel) // stride + 1


def _rows(h: np.ndarray, n_in: int) -> tuple[np.ndarray, tuple]:
    """h of shape (..., n_in) as (batch, n_in), with the leading shape to restore."""
    h = np.asarray(h, dtype=np.float64)
    if h.shape[-1] != n_in:
        raise _validate.InputError(f"input has {h.shape[-1]} features, the layer takes {n_in}")
    lead = h.shape[:-1]
    return h.reshape(-1, n_in), lead


def image_windows(x4: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """(B, C, Ho, Wo, kh, kw): the windows of the zero-padded images x4 (B, C, H, W)."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x4 = np.pad(x4, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(x4, kernel, axis=(2, 3))
    return win[:, :, ::sh, ::sw]


def _conv_channels_first(h, weight, input_shape, stride, padding, output_shape):
    """Channels first, then taps: one matrix product Y[o, i, j, ·] = Σ_c W[o, c, i, j]·h_pad[c, ·]
    over every padded pixel (BLAS, no window copy of the input), then the kh·kw shifted,
    strided slices of Y are added."""
    c, hh, ww = input_shape
    out_c, _, kh, kw = weight.shape
    (ph, pw), (sh, sw) = padding, stride
    _, ho, wo = output_shape
    hp, wp = hh + 2 * ph, ww + 2 * pw
    batch = h.shape[0]
    w_taps = np.ascontiguousarray(weight.transpose(0, 2, 3, 1)).reshape(out_c * kh * kw, c)
    per_row = max(out_c * kh * kw, c) * hp * wp
    chunk = max(1, _CHUNK_FLOATS // per_row)
    out = np.empty((batch, out_c * ho * wo), dtype=np.float64)
    for start in range(0, batch, chunk):
        x4 = h[start:start + chunk].reshape(-1, c, hh, ww)
        b = x4.shape[0]
        cols = np.zeros((c, b, hp, wp))
        cols[:, :, ph:ph + hh, pw:pw + ww] = x4.transpose(1, 0, 2, 3)
        y = (w_taps @ cols.reshape(c, -1)).reshape(out_c, kh, kw, b, hp, wp)
        z = np.zeros((out_c, b, ho, wo))
        for i in range(kh):
            for j in range(kw):
                z += y[:, i, j, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
        out[start:start + chunk] = z.transpose(1, 0, 2, 3).reshape(b, -1)
    return out


def _conv_windows(h, weight, input_shape, stride, padding, output_shape):
    """im2col: the windows of the padded input (sliding_window_view), contracted with W by
    BLAS."""
    c, hh, ww = input_shape
    out_c, _, kh, kw = weight.shape
    _, ho, wo = output_shape
    batch = h.shape[0]
    chunk = max(1, _CHUNK_FLOATS // max(1, c * ho * wo * kh * kw))
    out = np.empty((batch, out_c * ho * wo), dtype=np.float64)
    for start in range(0, batch, chunk):
        x4 = h[start:start + chunk].reshape(-1, c, hh, ww)
        win = image_windows(x4, (kh, kw), stride, padding)
        z = np.tensordot(win, weight, axes=([1, 4, 5], [1, 2, 3]))  # (b, Ho, Wo, O)
        out[start:start + chunk] = z.transpose(0, 3, 1, 2).reshape(z.shape[0], -1)
    return out


def _conv(h: np.ndarray, weight: np.ndarray, input_shape, stride, padding,
          output_shape) -> np.ndarray:
    """Σ_{c,i,j} W[o, c, i, j] · h_pad[c, s·y + i, s·x + j] (no bias) for flat rows h;
    returns flat rows (batch, O·Ho·Wo).

    Two orders of the same products and sums (the outward bound holds for any order), chosen
    by the data each moves: im2col copies C·kh·kw values per output pixel, the channel-first
    product writes O·kh·kw per padded pixel, so im2col when C ≤ O, else channels first (a wide
    source's many input channels; benchmarks/conv_layers.py). Both are tested against direct
    loops.
    """
    impl = _conv_windows if weight.shape[1] <= weight.shape[0] else _conv_channels_first
    return impl(h, weight, input_shape, stride, padding, output_shape)


@dataclass(frozen=True, eq=False)
class Conv2d:
    """z = W ⋆ h + b (module docstring) with ``weight`` (out, in, kh, kw), ``bias`` (out,),
    ``stride`` and ``padding`` (an int or a pair (rows, columns)) and ``input_shape``
    (C, H, W) with C = in."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    input_shape: tuple = ()

    kind = "conv2d"

    def __post_init__(self):
        w = _validate.finite_array("conv2d weight", self.weight, ndim=4)
        b = _validate.finite_array("conv2d bias", self.bias, ndim=1)
        if b.shape[0] != w.shape[0]:
            raise _validate.InputError(
                f"conv2d bias has {b.shape[0]} entries but the weight has {w.shape[0]} "
                "output channels"
            )
        stride = _pair("conv2d stride", self.stride, minimum=1)
        padding = _pair("conv2d padding", self.padding, minimum=0)
        shape = _shape3(self.input_shape)
        if shape[0] != w.shape[1]:
            raise _validate.InputError(
                f"conv2d weight of shape {list(w.shape)} takes {w.shape[1]} input channels, "
                f"the input has {shape[0]}"
            )
        object.__setattr__(self, "weight", frozen_array(w))
        object.__setattr__(self, "bias", frozen_array(b))
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "input_shape", shape)
        self.output_shape  # noqa: B018 -- validates that the kernel fits

    # ------------------------------------------------------------------ shape
    @cached_property
    def output_shape(self) -> tuple[int, int, int]:
        _, h, w = self.input_shape
        _, _, kh, kw = self.weight.shape
        return (self.weight.shape[0],
                output_size("conv2d rows", h, kh, self.stride[0], self.padding[0]),
                output_size("conv2d columns", w, kw, self.stride[1], self.padding[1]))

    @property
    def in_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def out_features(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        return self.weight, self.bias

    def _like(self, weight, bias) -> Conv2d:
        return Conv2d(weight, bias, self.stride, self.padding, self.input_shape)

    def masked(self, weight_mask, bias_mask) -> Conv2d:
        return self._like(self.weight * np.asarray(weight_mask, bool),
                          self.bias * np.asarray(bias_mask, bool))

    def absolute(self) -> Conv2d:
        """|W| ⋆ h + |b|: the layer of absolute values (rounding-error magnitudes)."""
        return self._like(np.abs(self.weight), np.abs(self.bias))

    @cached_property
    def _bias_flat(self) -> np.ndarray:
        _, ho, wo = self.output_shape
        return np.repeat(self.bias, ho * wo)

    def _apply(self, h: np.ndarray, weight: np.ndarray) -> np.ndarray:
        rows, lead = _rows(h, self.in_features)
        z = _conv(rows, weight, self.input_shape, self.stride, self.padding, self.output_shape)
        return z.reshape(lead + (self.out_features,))

    # ------------------------------------------------------------------ float64
    def forward(self, h: np.ndarray) -> np.ndarray:
        """W ⋆ h + b for flat rows h of shape (batch, C·H·W) or (C·H·W,)."""
        z = self._apply(h, self.weight)
        z += self._bias_flat
        return z

    def forward_columns(self, h: np.ndarray) -> np.ndarray:
        """The same for h of shape (C·H·W, batch) (samples as columns)."""
        return np.ascontiguousarray(self.forward(np.asarray(h).T).T)

    def centre_radius(self, c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W ⋆ c + b, |W| ⋆ r) for one box (1-D) or a batch of boxes (rows)."""
        return self.forward(c), self._apply(r, np.abs(self.weight))

    # ------------------------------------------------------------------ rigorous
    @cached_property
    def _signed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.weight
        return np.maximum(w, 0.0), np.maximum(-w, 0.0), np.abs(w)

    def interval_outward(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[z_lo, z_hi] ∋ W ⋆ x + b for every x in [lo, hi], rigorously: Dense's enclosure of
        the unrolled matrix, every output a sum of N = 2·C·kh·kw + 1 terms (padding taps are
        exact zeros), with the error bound of :func:`rounding.dot_error`."""
        w_pos, w_neg, w_abs = self._signed
        _, c, kh, kw = self.weight.shape
        n_terms = 2 * c * kh * kw + 1
        b = self._bias_flat
        s_hi = (self._apply(hi, w_pos) - self._apply(lo, w_neg)) + b
        s_lo = (self._apply(lo, w_pos) - self._apply(hi, w_neg)) + b
        m = np.maximum(np.abs(lo), np.abs(hi))
        err = dot_error(self._apply(m, w_abs) + np.abs(b), n_terms)
        return down(s_lo - err), up(s_hi + err)

    # ------------------------------------------------------------------ exact
    @cached_property
    def taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The unrolled matrix as triples (rows, cols, values) of its nonzero entries: output
        index, input index, weight (padding taps and zero weights dropped)."""
        c, h, w = self.input_shape
        out_c, _, kh, kw = self.weight.shape
        _, ho, wo = self.output_shape
        index = np.arange(c * h * w, dtype=np.int64).reshape(1, c, h, w)
        (ph, pw) = self.padding
        index = np.pad(index, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-1)
        win = sliding_window_view(index, (kh, kw), axis=(2, 3))[
            :, :, ::self.stride[0], ::self.stride[1]][0]  # (C, Ho, Wo, kh, kw)
        cols = np.broadcast_to(win.transpose(1, 2, 0, 3, 4)[None],
                               (out_c, ho, wo, c, kh, kw))
        vals = np.broadcast_to(self.weight[:, None, None], (out_c, ho, wo, c, kh, kw))
        rows = np.broadcast_to(np.arange(out_c * ho * wo).reshape(out_c, ho, wo, 1, 1, 1),
                               cols.shape)
        keep = (cols >= 0) & (vals != 0)
        return rows[keep], cols[keep], vals[keep]

    def unrolled(self) -> np.ndarray:
        """The (O·Ho·Wo, C·H·W) matrix of the linear part (dense; small layers only)."""
        rows, cols, vals = self.taps
        matrix = np.zeros((self.out_features, self.in_features))
        matrix[rows, cols] = vals
        return matrix

    def interval_iv(self, xs: list) -> list:
        """W ⋆ x + b for a list of ``mpmath.iv`` intervals (zero weights skipped: exact)."""
        iv = mpmath.iv
        zs = [iv.mpf(float(v)) for v in self._bias_flat]
        for r, col, v in zip(*(t.tolist() for t in self.taps), strict=True):
            zs[r] = zs[r] + iv.mpf(v) * xs[col]
        return zs

    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        """W ⋆ x + b in ``Fraction`` arithmetic (every weight and bias is its float's value)."""
        out = [Fraction(v) for v in self._bias_flat.tolist()]
        for r, col, v in zip(*(t.tolist() for t in self.taps), strict=True):
            out[r] += Fraction(v) * xs[col]
        return out

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        """W ⋆ x + b for x = xi / 2^ex exactly, as (zi, ez) with z = zi / 2^ez."""
        rows, cols, vals = self.taps
        wi, ew = scaled_ints(vals)
        bi, eb = scaled_ints(self._bias_flat)
        e_new = max(ew + ex, eb)
        sp, sb = e_new - ew - ex, e_new - eb
        z = [v << sb for v in bi]
        for r, col, wv in zip(rows.tolist(), cols.tolist(), wi, strict=True):
            xv = xi[col]
            if xv:
                z[r] += (wv * xv) << sp
        return z, e_new

    # ------------------------------------------------------------------ identity
    def describe(self) -> dict:
        return {"kind": self.kind, "stride": list(self.stride), "padding": list(self.padding),
                "input_shape": list(self.input_shape), "weight_shape": list(self.weight.shape)}

    def digest_update(self, digest) -> None:
        """Feed the geometry (JSON) then W and b as float64 little-endian bytes."""
        digest.update(json.dumps(self.describe(), sort_keys=True).encode())
        digest.update(np.ascontiguousarray(self.weight, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.bias, dtype="<f8").tobytes())


class _ParameterFree:
    """Shared pieces of the layers without parameters (pooling, flatten): each is positively
    homogeneous, A(t·h) = t·A(h) for t ≥ 0, and monotone."""

    parameters: tuple = ()
    positively_homogeneous = True

    def masked(self, *masks):
        if masks:
            raise _validate.InputError(f"a {self.kind} layer has no parameters to mask")
        return self

    def absolute(self):
        return self

    @property
    def in_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def out_features(self) -> int:
        return int(np.prod(self.output_shape))

    def forward_columns(self, h: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.forward(np.asarray(h).T).T)

    def digest_update(self, digest) -> None:
        digest.update(json.dumps(self.describe(), sort_keys=True).encode())


@dataclass(frozen=True, eq=False)
class _Pool(_ParameterFree):
    """A pooling layer over ``kernel`` windows moved by ``stride`` (default: the kernel)."""

    kernel: tuple
    stride: tuple | None = None
    input_shape: tuple = ()

    def __post_init__(self):
        kernel = _pair(f"{self.kind} kernel", self.kernel, minimum=1)
        stride = kernel if self.stride is None else _pair(f"{self.kind} stride", self.stride,
                                                          minimum=1)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "input_shape", _shape3(self.input_shape))
        self.output_shape  # noqa: B018 -- validates that the kernel fits

    @cached_property
    def output_shape(self) -> tuple[int, int, int]:
        c, h, w = self.input_shape
        return (c, output_size(f"{self.kind} rows", h, self.kernel[0], self.stride[0], 0),
                output_size(f"{self.kind} columns", w, self.kernel[1], self.stride[1], 0))

    def _reduce(self, h: np.ndarray, reduce) -> np.ndarray:
        """reduce over every window of the flat rows h (shape (..., C·H·W))."""
        rows, lead = _rows(h, self.in_features)
        win = image_windows(rows.reshape((-1,) + self.input_shape), self.kernel, self.stride,
                            (0, 0))
        z = reduce(win, axis=(4, 5))
        return z.reshape(lead + (self.out_features,))

    @cached_property
    def windows(self) -> np.ndarray:
        """(C·Ho·Wo, kh·kw): the flat input indices of every output's window."""
        index = np.arange(self.in_features, dtype=np.int64).reshape((1,) + self.input_shape)
        win = image_windows(index, self.kernel, self.stride, (0, 0))[0]
        return win.reshape(self.out_features, -1)

    def describe(self) -> dict:
        return {"kind": self.kind, "kernel": list(self.kernel), "stride": list(self.stride),
                "input_shape": list(self.input_shape)}


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool):
    """z = a · Σ_window h with a = fl(1/(kh·kw)) (module docstring)."""

    kind = "avgpool2d"

    @property
    def scale(self) -> float:
        return 1.0 / (self.kernel[0] * self.kernel[1])

    def forward(self, h: np.ndarray) -> np.ndarray:
        z = self._reduce(h, np.sum)
        z *= self.scale
        return z

    def centre_radius(self, c, r):
        return self.forward(c), self.forward(r)

    def interval_outward(self, lo, hi):
        """[a·Σ lo, a·Σ hi] widened by the dot-product bound of N = kh·kw + 1 terms (a > 0)."""
        n_terms = self.kernel[0] * self.kernel[1] + 1
        m = np.maximum(np.abs(lo), np.abs(hi))
        err = dot_error(self.forward(m), n_terms)
        return down(self.forward(lo) - err), up(self.forward(hi) + err)

    def interval_iv(self, xs: list) -> list:
        iv = mpmath.iv
        a = iv.mpf(self.scale)
        out = []
        for window in self.windows.tolist():
            s = xs[window[0]]
            for i in window[1:]:
                s = s + xs[i]
            out.append(a * s)
        return out

    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        a = Fraction(self.scale)
        return [a * sum((xs[i] for i in window), Fraction(0))
                for window in self.windows.tolist()]

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        (ai,), ea = scaled_ints(np.array([self.scale]))
        return [ai * sum(xi[i] for i in window) for window in self.windows.tolist()], ex + ea


@dataclass(frozen=True, eq=False)
class MaxPool2d(_Pool):
    """z = max_window h: monotone, so every interval image is exact (module docstring)."""

    kind = "maxpool2d"

    def forward(self, h: np.ndarray) -> np.ndarray:
        return self._reduce(h, np.max)

    def centre_radius(self, c, r):
        lo, hi = self.forward(c - r), self.forward(c + r)
        return (lo + hi) / 2, (hi - lo) / 2

    def interval_outward(self, lo, hi):
        return self.forward(lo), self.forward(hi)

    def interval_iv(self, xs: list) -> list:
        iv = mpmath.iv
        out = []
        for window in self.windows.tolist():
            a = max(iv_functions.lower(xs[i]) for i in window)  # exact endpoints
            b = max(iv_functions.upper(xs[i]) for i in window)
            out.append(iv.mpf([a, b]))
        return out

    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        return [max(xs[i] for i in window) for window in self.windows.tolist()]

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        return [max(xi[i] for i in window) for window in self.windows.tolist()], ex


@dataclass(frozen=True, eq=False)
class Flatten(_ParameterFree):
    """The identity on the flat layout: (C, H, W) → C·H·W features (PyTorch's order)."""

    input_shape: tuple = ()

    kind = "flatten"

    def __post_init__(self):
        object.__setattr__(self, "input_shape", _shape3(self.input_shape))

    @property
    def output_shape(self) -> tuple[int]:
        return (self.in_features,)

    def forward(self, h):
        # a fresh array: propagate may apply the next activation in place
        return np.array(h, dtype=np.float64, copy=True)

    def centre_radius(self, c, r):
        return self.forward(c), self.forward(r)

    def interval_outward(self, lo, hi):
        return self.forward(lo), self.forward(hi)

    def interval_iv(self, xs):
        return list(xs)

    def exact(self, xs):
        return list(xs)

    def exact_scaled(self, xi, ex):
        return list(xi), ex

    def describe(self) -> dict:
        return {"kind": self.kind, "input_shape": list(self.input_shape)}
