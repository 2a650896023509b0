"""One propagation routine for every arithmetic (THEORY.md §0, §5).

A network alternates layers and activations, x⁽ˡ⁾ = σ_l(A_l x⁽ˡ⁻¹⁾) for l < L and
f(x) = A_L x⁽ᴸ⁻¹⁾. :func:`propagate` runs that recursion on a *value* of some arithmetic;
the arithmetic says what a value is and which method of the layer and of the activation maps
it:

    FLOAT64          an array, rows are samples          layer.forward, σ.forward
    COLUMNS          an array, columns are samples       layer.forward_columns, σ.forward
    FLOAT_INTERVAL   (lo, hi), round to nearest           layer.centre_radius, σ.interval
    OUTWARD          (lo, hi), rigorous (outward)         layer.interval_outward, σ.interval_outward
    MPMATH_IV        a list of mpmath.iv intervals        layer.interval_iv, σ.interval_iv
    FRACTION         a list of Fraction                    layer.exact, σ.exact
    DYADIC           (ints, e) meaning ints / 2^e          layer.exact_scaled, σ.exact_scaled

Layers and activations are duck-typed: anything with the arithmetic's method works (the
observed search feeds sparse operators through COLUMNS).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from lotteryproofs.layers import scaled_ints
from lotteryproofs.rounding import iv53


class Arithmetic:
    """How one value passes a layer and an activation (module docstring)."""

    name = ""

    def layer(self, layer, value):
        raise NotImplementedError

    def activation(self, activation, value, *, inplace: bool):
        raise NotImplementedError

    def context(self):
        """A context the whole propagation runs in (mpmath precision)."""
        return contextlib.nullcontext()


class _Float64(Arithmetic):
    name = "float64"

    def layer(self, layer, value):
        return layer.forward(value)

    def activation(self, activation, value, *, inplace):
        return activation.forward(value, inplace=inplace)


class _Columns(_Float64):
    name = "float64-columns"

    def layer(self, layer, value):
        return layer.forward_columns(value)


@dataclass(frozen=True)
class _FloatInterval(Arithmetic):
    """Centre–radius interval propagation in round to nearest; the radius of every layer's
    image may be inflated to r·(1 + rel) + abs (to cover its own rounding, heuristically)."""

    rel: float = 0.0
    abs: float = 0.0
    name = "float-interval"

    def layer(self, layer, value):
        lo, hi = value
        c, r = layer.centre_radius((hi + lo) / 2, (hi - lo) / 2)
        if self.rel or self.abs:
            r = r * (1 + self.rel) + self.abs
        return c - r, c + r

    def activation(self, activation, value, *, inplace):
        return activation.interval(*value)


class _Outward(Arithmetic):
    name = "outward"

    def layer(self, layer, value):
        return layer.interval_outward(*value)

    def activation(self, activation, value, *, inplace):
        return activation.interval_outward(*value)


class _MpmathIV(Arithmetic):
    name = "mpmath-iv"

    def layer(self, layer, value):
        return layer.interval_iv(value)

    def activation(self, activation, value, *, inplace):
        return [activation.interval_iv(z) for z in value]

    def context(self):
        return iv53()


class _Fraction(Arithmetic):
    name = "fraction"

    def layer(self, layer, value):
        return layer.exact(value)

    def activation(self, activation, value, *, inplace):
        return [activation.exact(v) for v in value]


class _Dyadic(Arithmetic):
    name = "dyadic"

    def layer(self, layer, value):
        return layer.exact_scaled(*value)

    def activation(self, activation, value, *, inplace):
        return activation.exact_scaled(*value)


FLOAT64 = _Float64()
COLUMNS = _Columns()
FLOAT_INTERVAL = _FloatInterval()
OUTWARD = _Outward()
MPMATH_IV = _MpmathIV()
FRACTION = _Fraction()
DYADIC = _Dyadic()


def float_interval(rel: float = 0.0, abs: float = 0.0) -> Arithmetic:
    """FLOAT_INTERVAL with every layer's radius inflated to r·(1 + rel) + abs."""
    return _FloatInterval(rel, abs)


def propagate(layers: Sequence, activations: Sequence, value, arithmetic: Arithmetic, *,
              pre: list | None = None, post: list | None = None):
    """x⁽ˡ⁾ = σ_l(A_l x⁽ˡ⁻¹⁾), l = 1 … L (no activation after the last layer), in
    ``arithmetic``; returns the output value.

    ``pre`` receives every layer's image before its activation (A_l x⁽ˡ⁻¹⁾, all L of them),
    ``post`` every layer's value after it (x⁽ˡ⁾, the output last). Without ``pre`` the
    activations may overwrite the layer's fresh output in place (no copy).
    """
    depth = len(layers)
    if len(activations) != depth - 1:
        raise ValueError(f"{depth} layers need {depth - 1} activations, got {len(activations)}")
    with arithmetic.context():
        for t in range(depth):
            # one layer alive at a time: lazily formed layers (popup's) free their arrays
            # before the next is formed
            value = arithmetic.layer(layers[t], value)
            if pre is not None:
                pre.append(value)
            if t < depth - 1:
                value = arithmetic.activation(activations[t], value, inplace=pre is None)
            if post is not None:
                post.append(value)
    return value


def to_dyadic(x) -> tuple[list[int], int]:
    """A float64 vector as a DYADIC value (exact)."""
    return scaled_ints(np.asarray(x, dtype=np.float64))


def from_dyadic(value: tuple[list[int], int]) -> list[Fraction]:
    ints, exponent = value
    return [Fraction(v, 1 << exponent) for v in ints]
