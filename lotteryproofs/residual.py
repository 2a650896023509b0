"""Residual blocks as one layer: y = S(x) + g(x).

g is a small network (``body_layers`` A_1 … A_k with ``body_activations`` σ_1 … σ_{k−1}
between them, no activation after A_k), S is the identity, a layer (a 1×1
:class:`~lotteryproofs.conv_layers.Conv2d` shortcut, any stride) or a :class:`Chain` of
layers (a source's shortcut: the two layers that represent a target's 1×1 shortcut). The
activation *after* the block is the enclosing network's (x⁽ˡ⁾ = σ_l(S x⁽ˡ⁻¹⁾ + g(x⁽ˡ⁻¹⁾)), the
ResNet block). Every arithmetic runs the body (and a Chain) through
:func:`lotteryproofs.propagation.propagate` in the same arithmetic and adds the shortcut's
image: the sum of two enclosures encloses the sum (interval addition; the outward sum is
rounded outward with :mod:`lotteryproofs.rounding`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import get_activation
from lotteryproofs.propagation import (
    COLUMNS,
    DYADIC,
    FLOAT64,
    FLOAT_INTERVAL,
    FRACTION,
    MPMATH_IV,
    OUTWARD,
    propagate,
)
from lotteryproofs.rounding import down, up


@dataclass(frozen=True, eq=False)
class Chain:
    """Layers A_1 … A_k with activations σ_1 … σ_{k−1} between them (none after A_k) as one
    layer: x ↦ A_k σ_{k−1}(… σ_1(A_1 x)). Every arithmetic is
    :func:`lotteryproofs.propagation.propagate` through them (an nn.Sequential)."""

    layers: tuple
    activations: tuple = ()

    kind = "chain"

    def __post_init__(self):
        layers = tuple(self.layers)
        if not layers:
            raise _validate.InputError("a chain needs at least one layer")
        acts = tuple(get_activation(a) for a in self.activations)
        if len(acts) != len(layers) - 1:
            raise _validate.InputError(
                f"a chain of {len(layers)} layers needs {len(layers) - 1} activations, "
                f"got {len(acts)}")
        for i in range(1, len(layers)):
            if layers[i].in_features != layers[i - 1].out_features:
                raise _validate.InputError(
                    f"chain layer {i} expects {layers[i].in_features} inputs but layer "
                    f"{i - 1} has {layers[i - 1].out_features} outputs")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "activations", acts)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def input_shape(self):
        return getattr(self.layers[0], "input_shape", (self.in_features,))

    @property
    def output_shape(self):
        return getattr(self.layers[-1], "output_shape", (self.out_features,))

    @property
    def parameters(self) -> tuple[np.ndarray, ...]:
        return tuple(p for layer in self.layers for p in layer.parameters)

    def masked(self, *masks) -> Chain:
        """One mask per entry of :attr:`parameters`, in that order."""
        if len(masks) != len(self.parameters):
            raise _validate.InputError(f"a chain has {len(self.parameters)} parameter arrays, "
                                       f"got {len(masks)} masks")
        starts = np.cumsum([0] + [len(layer.parameters) for layer in self.layers]).tolist()
        return Chain(tuple(layer.masked(*masks[starts[i]:starts[i + 1]])
                           for i, layer in enumerate(self.layers)), self.activations)

    def absolute(self) -> Chain:
        return Chain(tuple(layer.absolute() for layer in self.layers), self.activations)

    def _run(self, value, arithmetic):
        return propagate(self.layers, self.activations, value, arithmetic)

    def forward(self, h):
        return self._run(h, FLOAT64)

    def forward_columns(self, h):
        return self._run(h, COLUMNS)

    def centre_radius(self, c, r):
        """The float-interval image (not rigorous)."""
        lo, hi = self._run((c - r, c + r), FLOAT_INTERVAL)
        return (lo + hi) / 2, (hi - lo) / 2

    def interval_outward(self, lo, hi):
        return self._run((lo, hi), OUTWARD)

    def interval_iv(self, xs: list) -> list:
        return self._run(list(xs), MPMATH_IV)

    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        return self._run(list(xs), FRACTION)

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        return self._run((list(xi), ex), DYADIC)

    def describe(self) -> dict:
        return {"kind": self.kind, "layers": [_describe(layer) for layer in self.layers],
                "activations": [a.spec for a in self.activations]}

    def digest_update(self, digest) -> None:
        digest.update(json.dumps(self.describe(), sort_keys=True).encode())
        for layer in self.layers:
            _digest_part(layer, digest)


def _describe(layer):
    return layer.describe() if hasattr(layer, "describe") else layer.kind


def _digest_part(layer, digest) -> None:
    if not hasattr(layer, "describe"):  # a Dense part: say so (Dense hashes no kind)
        digest.update(json.dumps({"kind": layer.kind}).encode())
    layer.digest_update(digest)


@dataclass(frozen=True, eq=False)
class Residual:
    """y = S(x) + g(x) (module docstring); ``shortcut`` None is the identity."""

    body_layers: tuple
    body_activations: tuple = ()
    shortcut: object | None = None

    kind = "residual"

    def __post_init__(self):
        layers = tuple(self.body_layers)
        if not layers:
            raise _validate.InputError("a residual block needs at least one body layer")
        acts = tuple(get_activation(a) for a in self.body_activations)
        if len(acts) != len(layers) - 1:
            raise _validate.InputError(
                f"a residual body of {len(layers)} layers needs {len(layers) - 1} activations, "
                f"got {len(acts)}"
            )
        for i in range(1, len(layers)):
            if layers[i].in_features != layers[i - 1].out_features:
                raise _validate.InputError(
                    f"residual body layer {i} expects {layers[i].in_features} inputs but layer "
                    f"{i - 1} has {layers[i - 1].out_features} outputs"
                )
        n_in, n_out = layers[0].in_features, layers[-1].out_features
        s = self.shortcut
        s_in, s_out = (n_in, n_in) if s is None else (s.in_features, s.out_features)
        if s_in != n_in or s_out != n_out:
            what = "the identity shortcut" if s is None else f"the shortcut ({s_in} → {s_out})"
            raise _validate.InputError(
                f"residual block: the body maps {n_in} → {n_out} features but {what} does not"
            )
        object.__setattr__(self, "body_layers", layers)
        object.__setattr__(self, "body_activations", acts)

    # ------------------------------------------------------------------ shape
    @property
    def in_features(self) -> int:
        return self.body_layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.body_layers[-1].out_features

    @property
    def input_shape(self):
        return getattr(self.body_layers[0], "input_shape", (self.in_features,))

    @property
    def output_shape(self):
        return getattr(self.body_layers[-1], "output_shape", (self.out_features,))

    @property
    def _parts(self) -> tuple:
        return self.body_layers + (() if self.shortcut is None else (self.shortcut,))

    @property
    def parameters(self) -> tuple[np.ndarray, ...]:
        """Every body layer's parameters in order, then the shortcut's."""
        return tuple(p for part in self._parts for p in part.parameters)

    def _map(self, per_part) -> Residual:
        parts = [per_part(i, part) for i, part in enumerate(self._parts)]
        k = len(self.body_layers)
        return Residual(tuple(parts[:k]), self.body_activations,
                        None if self.shortcut is None else parts[k])

    def masked(self, *masks) -> Residual:
        """One mask per entry of :attr:`parameters`, in that order."""
        if len(masks) != len(self.parameters):
            raise _validate.InputError(
                f"a residual block has {len(self.parameters)} parameter arrays, got "
                f"{len(masks)} masks"
            )
        starts = np.cumsum([0] + [len(p.parameters) for p in self._parts]).tolist()
        return self._map(lambda i, part: part.masked(*masks[starts[i]:starts[i + 1]]))

    def absolute(self) -> Residual:
        """The block of absolute-value layers (same activations)."""
        return self._map(lambda i, part: part.absolute())

    # ------------------------------------------------------------------ arithmetics
    def _body(self, value, arithmetic):
        return propagate(self.body_layers, self.body_activations, value, arithmetic)

    def _short(self, value, arithmetic):
        return value if self.shortcut is None else arithmetic.layer(self.shortcut, value)

    def forward(self, h: np.ndarray) -> np.ndarray:
        return self._body(h, FLOAT64) + self._short(h, FLOAT64)

    def forward_columns(self, h: np.ndarray) -> np.ndarray:
        return self._body(h, COLUMNS) + self._short(h, COLUMNS)

    def centre_radius(self, c, r):
        """The body's float-interval image plus the shortcut's (not rigorous)."""
        lo, hi = self._body((c - r, c + r), FLOAT_INTERVAL)
        if self.shortcut is None:
            sc, sr = c, r
        else:
            sc, sr = self.shortcut.centre_radius(c, r)
        return (lo + hi) / 2 + sc, (hi - lo) / 2 + sr

    def interval_outward(self, lo, hi):
        """[g_lo + s_lo, g_hi + s_hi], each sum rounded outward (one ulp beyond the
        round-to-nearest sum)."""
        g_lo, g_hi = self._body((lo, hi), OUTWARD)
        s_lo, s_hi = self._short((lo, hi), OUTWARD)
        return down(g_lo + s_lo), up(g_hi + s_hi)

    def interval_iv(self, xs: list) -> list:
        g = self._body(list(xs), MPMATH_IV)
        s = self._short(list(xs), MPMATH_IV)
        return [a + b for a, b in zip(g, s, strict=True)]

    def exact(self, xs: list[Fraction]) -> list[Fraction]:
        g = self._body(list(xs), FRACTION)
        s = self._short(list(xs), FRACTION)
        return [a + b for a, b in zip(g, s, strict=True)]

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        gi, eg = self._body((list(xi), ex), DYADIC)
        si, es = self._short((list(xi), ex), DYADIC)
        e = max(eg, es)
        return [(a << (e - eg)) + (b << (e - es)) for a, b in zip(gi, si, strict=True)], e

    # ------------------------------------------------------------------ identity
    def describe(self) -> dict:
        """The block's structure: every part's geometry (its ``describe``, a Dense's kind)."""
        return {"kind": self.kind, "body": [_describe(layer) for layer in self.body_layers],
                "activations": [a.spec for a in self.body_activations],
                "shortcut": None if self.shortcut is None else _describe(self.shortcut)}

    def digest_update(self, digest) -> None:
        """The block's structure (JSON), then every body layer's and the shortcut's digest."""
        digest.update(json.dumps(self.describe(), sort_keys=True).encode())
        for part in self._parts:
            _digest_part(part, digest)
