"""Fully connected ReLU networks: the targets, the random sources and the tickets.

A network of depth L with widths n_0 … n_L computes (THEORY.md §0)

    x⁽⁰⁾ = x,   x⁽ˡ⁾ = σ(W_l x⁽ˡ⁻¹⁾ + b_l)  for l < L,   f(x) = W_L x⁽ᴸ⁻¹⁾ + b_L,

with σ = ReLU and W_l of shape (n_l, n_{l−1}) (PyTorch's (out, in)). Everything is float64.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Box:
    """The input domain [lower, upper] ⊂ R^{n_0}, one interval per coordinate (THEORY.md §0)."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self):
        lower = _validate.finite_array("box lower bound", self.lower, ndim=1)
        upper = _validate.finite_array("box upper bound", self.upper, ndim=1)
        if lower.shape != upper.shape:
            raise _validate.InputError(
                f"box bounds have different lengths: {lower.shape[0]} and {upper.shape[0]}"
            )
        if np.any(lower >= upper):
            i = int(np.argmax(lower >= upper))
            raise _validate.InputError(
                f"box needs lower < upper in every coordinate; coordinate {i} has "
                f"[{lower[i]}, {upper[i]}]"
            )
        object.__setattr__(self, "lower", _frozen(lower))
        object.__setattr__(self, "upper", _frozen(upper))

    @classmethod
    def cube(cls, lo: float, hi: float, dim: int) -> Box:
        """[lo, hi]^dim."""
        lo = _validate.finite_scalar("domain lower bound", lo)
        hi = _validate.finite_scalar("domain upper bound", hi)
        if lo >= hi:
            raise _validate.InputError(f"domain needs LO < HI, got [{lo}, {hi}]")
        dim = _validate.positive_int("domain dimension", dim)
        return cls(np.full(dim, lo), np.full(dim, hi))

    @property
    def dim(self) -> int:
        return self.lower.shape[0]

    @property
    def has_negative(self) -> np.ndarray:
        """Per coordinate: can the input be < 0 (so σ(−x) ≠ 0 somewhere)?"""
        return self.lower < 0

    def sample(self, n: int, rng) -> np.ndarray:
        """n points drawn uniformly from the box, shape (n, dim)."""
        rng = _validate.rng(rng)
        return self.lower + (self.upper - self.lower) * rng.random((n, self.dim))

    def to_json(self) -> dict:
        if np.all(self.lower == self.lower[0]) and np.all(self.upper == self.upper[0]):
            return {"lower": float(self.lower[0]), "upper": float(self.upper[0]), "dim": self.dim}
        return {"lower": self.lower.tolist(), "upper": self.upper.tolist(), "dim": self.dim}

    @classmethod
    def from_json(cls, data: dict) -> Box:
        lower, upper, dim = data["lower"], data["upper"], int(data["dim"])
        return cls(np.broadcast_to(np.asarray(lower, float), dim), np.broadcast_to(np.asarray(upper, float), dim))


@dataclass(frozen=True, eq=False)
class Network:
    """A ReLU network: ``weights[l]`` has shape (n_{l+1}, n_l), ``biases[l]`` shape (n_{l+1},).

    Arrays are copied to read-only float64 on construction, so a Network never changes.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self):
        weights, biases = tuple(self.weights), tuple(self.biases)
        if len(weights) == 0:
            raise _validate.InputError("a network needs at least one layer")
        if len(weights) != len(biases):
            raise _validate.InputError(
                f"a network needs one bias per layer: {len(weights)} weights, {len(biases)} biases"
            )
        checked_w, checked_b = [], []
        for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w = _validate.finite_array(f"layer {l} weight", w, ndim=2)
            b = _validate.finite_array(f"layer {l} bias", b, ndim=1)
            if b.shape[0] != w.shape[0]:
                raise _validate.InputError(
                    f"layer {l}: bias has {b.shape[0]} entries but the weight has {w.shape[0]} rows"
                )
            if l > 0 and w.shape[1] != checked_w[-1].shape[0]:
                raise _validate.InputError(
                    f"layer {l} expects {w.shape[1]} inputs but layer {l - 1} has "
                    f"{checked_w[-1].shape[0]} outputs"
                )
            checked_w.append(_frozen(w))
            checked_b.append(_frozen(b))
        object.__setattr__(self, "weights", tuple(checked_w))
        object.__setattr__(self, "biases", tuple(checked_b))

    # ----------------------------------------------------------------- shape
    @property
    def depth(self) -> int:
        """L, the number of layers (weight matrices)."""
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_0, n_1, …, n_L)."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def n_params(self) -> int:
        """All weights and biases, zero or not."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def count_nonzero(self) -> int:
        """Exact number of nonzero weights and biases."""
        return sum(
            int(np.count_nonzero(w)) + int(np.count_nonzero(b))
            for w, b in zip(self.weights, self.biases, strict=True)
        )

    # --------------------------------------------------------------- compute
    def forward(self, x) -> np.ndarray:
        """f(x) for x of shape (n_0,) or (batch, n_0); returns (n_L,) or (batch, n_L)."""
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        h = x[None, :] if single else x
        if h.ndim != 2 or h.shape[1] != self.widths[0]:
            raise _validate.InputError(
                f"input must have shape (batch, {self.widths[0]}) or ({self.widths[0]},), "
                f"got {x.shape}"
            )
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if l < self.depth - 1:
                np.maximum(h, 0.0, out=h)
        return h[0] if single else h

    def __call__(self, x) -> np.ndarray:
        return self.forward(x)

    def masked(self, weight_masks: Sequence, bias_masks: Sequence) -> Network:
        """The subnetwork with parameter × mask (masks are 0/1 arrays of the same shapes)."""
        weight_masks, bias_masks = tuple(weight_masks), tuple(bias_masks)
        if len(weight_masks) != self.depth or len(bias_masks) != self.depth:
            raise _validate.InputError(
                f"need {self.depth} weight and bias masks, got {len(weight_masks)} and "
                f"{len(bias_masks)}"
            )
        for l, (m, p) in enumerate(
            zip(weight_masks + bias_masks, self.weights + self.biases, strict=True)
        ):
            m = np.asarray(m)
            if m.shape != p.shape:
                raise _validate.InputError(f"mask {l} has shape {m.shape}, parameter {p.shape}")
            if not np.all((m == 0) | (m == 1)):
                raise _validate.InputError(f"mask {l} is not binary (0/1)")
        return Network(
            tuple(w * np.asarray(m, bool) for w, m in zip(self.weights, weight_masks, strict=True)),
            tuple(b * np.asarray(m, bool) for b, m in zip(self.biases, bias_masks, strict=True)),
        )

    def preactivation_bounds(self, box: Box) -> list[tuple[np.ndarray, np.ndarray]]:
        """Interval bound propagation: [lo_l, hi_l] ∋ W_l x⁽ˡ⁻¹⁾ + b_l for every x in the box.

        In centre–radius form, c' = W c + b and r' = |W| r, then σ applied to the bounds of
        hidden layers. Floating-point (not outward-rounded): the rigorous version lives in
        the certificate (certify.py), which recomputes it with outward rounding.
        """
        if box.dim != self.widths[0]:
            raise _validate.InputError(
                f"the box has dimension {box.dim} but the network has {self.widths[0]} inputs"
            )
        lo, hi = box.lower, box.upper
        out = []
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            centre, radius = (hi + lo) / 2, (hi - lo) / 2
            c = w @ centre + b
            r = np.abs(w) @ radius
            out.append((c - r, c + r))
            if l < self.depth - 1:
                lo, hi = np.maximum(c - r, 0.0), np.maximum(c + r, 0.0)
        return out

    def activation_bounds(self, box: Box) -> list[np.ndarray]:
        """B_l per neuron: max |x⁽ˡ⁾_j| over the box, l = 0 … L−1 (THEORY.md §5)."""
        bounds = [np.maximum(np.abs(box.lower), np.abs(box.upper))]
        for lo, hi in self.preactivation_bounds(box)[:-1]:
            bounds.append(np.maximum(hi, 0.0))
        return bounds


def same_parameters(a: Network, b: Network) -> bool:
    """Exact equality of every weight and bias (and of the architecture)."""
    return a.widths == b.widths and all(
        np.array_equal(p, q) for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True)
    )


def network_sha256(network: Network) -> str:
    """sha256 of the widths and the float64 little-endian bytes of every parameter."""
    digest = hashlib.sha256(json.dumps(network.widths).encode())
    for w, b in zip(network.weights, network.biases, strict=True):
        digest.update(np.ascontiguousarray(w, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(b, dtype="<f8").tobytes())
    return digest.hexdigest()
