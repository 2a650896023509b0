"""Layers as objects: each declares its map and its image of a box in every arithmetic.

A layer is an affine map z = A(h) (THEORY.md §0: z = W h + b). The propagation routine
(:mod:`lotteryproofs.propagation`) never asks which layer it holds; it calls

* ``forward(h)``: rows are samples, float64 round to nearest; ``forward_columns(h)`` the
  same with samples as columns (the observed search's layout);
* ``centre_radius(c, r)``: the float64 interval image in centre–radius form,
  (A c, |A| r) (not rigorous);
* ``interval_outward(lo, hi)``: a rigorous enclosure of A([lo, hi])
  (proofs/certificate-soundness.md, Lemma 2);
* ``interval_iv(xs)``: the image of a list of ``mpmath.iv`` intervals;
* ``exact(xs)``: A of a list of ``Fraction`` values, and ``exact_scaled(ints, e)`` of the
  dyadic vector ints / 2^e, both exactly.

Adding a layer type (Conv2d, pooling, …) is one class here with these methods and a test
(docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.indices import nonzero_2d
from lotteryproofs.rounding import dot_error, down, up


def frozen_array(array) -> np.ndarray:
    """A read-only float64 copy."""
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def scaled_ints(values: np.ndarray) -> tuple[list[int], int]:
    """Integers I and an exponent E with values == I / 2^E exactly (float64 input)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    nonzero = values != 0
    if not nonzero.any():
        return [0] * values.size, 0
    mant, expo = np.frexp(values)
    mant_int = np.ldexp(mant, 53).astype(np.int64)  # exact: |mant| < 1, 53 significant bits
    need = 53 - expo  # value = mant_int / 2^need
    E = int(max(0, need[nonzero].max()))
    shifts = (E - need).tolist()
    return [
        int(m) << int(s) if m != 0 else 0 for m, s in zip(mant_int.tolist(), shifts, strict=True)
    ], E


def dyadic_entries(weight: np.ndarray, bias: np.ndarray) -> tuple:
    """W's nonzero entries as (rows, cols, integers, exponent) and b as (integers, exponent)
    (:func:`scaled_ints`): what :func:`exact_affine` reads, for callers that evaluate one
    layer at many points."""
    w = np.asarray(weight)
    rows, cols = nonzero_2d(w)
    wi, ew = scaled_ints(w[rows, cols])
    bi, eb = scaled_ints(bias)
    return rows.tolist(), cols.tolist(), wi, ew, bi, eb


def exact_affine(entries: tuple, xi: list[int], ex: int) -> tuple[list[int], int]:
    """W x + b for x = xi / 2^ex exactly, from :func:`dyadic_entries`, as (zi, ez) with
    z = zi / 2^ez: every product and sum in integers."""
    rows, cols, wi, ew, bi, eb = entries
    e_new = max(ew + ex, eb)
    sp, sb = e_new - ew - ex, e_new - eb
    z = [v << sb for v in bi]
    for r, c, wv in zip(rows, cols, wi, strict=True):
        xv = xi[c]
        if xv:
            z[r] += (wv * xv) << sp
    return z, e_new


@dataclass(frozen=True, eq=False)
class Dense:
    """z = W h + b with ``weight`` W of shape (out, in) (PyTorch's layout) and ``bias`` b of
    shape (out,). Arrays are validated (finite) and copied read-only, unless built by
    :meth:`trusted` (hot loops whose arrays the caller already owns)."""

    weight: np.ndarray
    bias: np.ndarray

    kind = "dense"

    def __post_init__(self):
        w = _validate.finite_array("dense weight", self.weight, ndim=2)
        b = _validate.finite_array("dense bias", self.bias, ndim=1)
        if b.shape[0] != w.shape[0]:
            raise _validate.InputError(
                f"bias has {b.shape[0]} entries but the weight has {w.shape[0]} rows"
            )
        object.__setattr__(self, "weight", frozen_array(w))
        object.__setattr__(self, "bias", frozen_array(b))

    @classmethod
    def trusted(cls, weight: np.ndarray, bias: np.ndarray) -> Dense:
        """A Dense around float64 arrays of the right shapes, without checks or copies."""
        layer = object.__new__(cls)
        object.__setattr__(layer, "weight", weight)
        object.__setattr__(layer, "bias", bias)
        return layer

    # ------------------------------------------------------------------ shape
    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        return self.weight, self.bias

    def masked(self, weight_mask, bias_mask) -> Dense:
        return Dense(self.weight * np.asarray(weight_mask, bool),
                     self.bias * np.asarray(bias_mask, bool))

    def absolute(self) -> Dense:
        """|W| h + |b|: the layer of absolute values (rounding-error magnitudes). The layer's
        own arrays are finite float64 of the right shapes, so the absolute values are frozen
        fresh arrays, not validated and copied again."""
        weight, bias = np.abs(self.weight), np.abs(self.bias)
        weight.setflags(write=False)
        bias.setflags(write=False)
        return Dense.trusted(weight, bias)

    # ------------------------------------------------------------------ float64
    def forward(self, h: np.ndarray) -> np.ndarray:
        """h Wᵀ + b for h of shape (batch, in) or (in,)."""
        return h @ self.weight.T + self.bias

    def forward_columns(self, h: np.ndarray) -> np.ndarray:
        """W h + b for h of shape (in, batch)."""
        z = self.weight @ h
        z += self.bias[:, None]
        return z

    def centre_radius(self, c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W c + b, |W| r) for one box (1-D) or a batch of boxes (rows)."""
        if c.ndim == 1:
            return self.weight @ c + self.bias, np.abs(self.weight) @ r
        return c @ self.weight.T + self.bias, r @ np.abs(self.weight).T

    # ------------------------------------------------------------------ rigorous
    def interval_outward(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[z_lo, z_hi] ∋ W x + b for every x in [lo, hi], rigorously.

        z_hi = W⁺ hi − W⁻ lo + b and z_lo = W⁺ lo − W⁻ hi + b are sums of N = 2n + 1 terms
        evaluated by BLAS; the error bound of :func:`rounding.dot_error` with
        Σ|terms| ≤ |W|·m + |b| (m = max(|lo|, |hi|)) makes them rigorous
        (proofs/certificate-soundness.md, Lemma 2).
        """
        w, b = self.weight, self.bias
        n_terms = 2 * w.shape[1] + 1
        w_pos, w_neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        s_hi = (w_pos @ hi - w_neg @ lo) + b
        s_lo = (w_pos @ lo - w_neg @ hi) + b
        m = np.maximum(np.abs(lo), np.abs(hi))
        err = dot_error(np.abs(w) @ m + np.abs(b), n_terms)
        return down(s_lo - err), up(s_hi + err)

    def interval_iv(self, xs: list) -> list:
        """W x + b for a list of ``mpmath.iv`` intervals (zero weights skipped: exact)."""
        iv = mpmath.iv
        w, b = self.weight, self.bias
        zs = []
        for j in range(w.shape[0]):
            z = iv.mpf(float(b[j]))
            for i in range(w.shape[1]):
                if w[j, i] != 0:
                    z = z + iv.mpf(float(w[j, i])) * xs[i]
            zs.append(z)
        return zs

    # ------------------------------------------------------------------ exact
    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        """W x + b in ``Fraction`` arithmetic (every weight and bias is its float's value)."""
        w, b = self.weight, self.bias
        out = []
        for j in range(w.shape[0]):
            z = Fraction(float(b[j]))
            for i in np.flatnonzero(w[j]).tolist():
                z += Fraction(float(w[j, i])) * xs[i]
            out.append(z)
        return out

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        """W x + b for x = xi / 2^ex exactly, as (zi, ez) with z = zi / 2^ez (integers only)."""
        return exact_affine(dyadic_entries(self.weight, self.bias), xi, ex)

    # ------------------------------------------------------------------ identity
    def digest_update(self, digest) -> None:
        """Feed the float64 little-endian bytes of W then b to a hashlib digest."""
        digest.update(np.ascontiguousarray(self.weight, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.bias, dtype="<f8").tobytes())
