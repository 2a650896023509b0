"""Networks: the targets, the random sources and the tickets.

A network of depth L is a sequence of layers A_1 … A_L (:mod:`lotteryproofs.layers`' ``Dense``,
z = W h + b; :mod:`lotteryproofs.conv_layers`' Conv2d, AvgPool2d, MaxPool2d, Flatten on the
flat C·H·W layout; :mod:`lotteryproofs.residual`'s blocks) with activations σ_1 … σ_{L−1}
between them (:mod:`lotteryproofs.activations`; ReLU unless said otherwise). Two layers with
no activation between them (a pooling layer followed by Flatten, Flatten by a Linear layer)
have the Identity activation between them: the recursion keeps one activation per hidden
layer. It computes (THEORY.md §0)

    x⁽⁰⁾ = x,   x⁽ˡ⁾ = σ_l(W_l x⁽ˡ⁻¹⁾ + b_l)  for l < L,   f(x) = W_L x⁽ᴸ⁻¹⁾ + b_L,

with W_l of shape (n_l, n_{l−1}) (PyTorch's (out, in)), everything float64, and every pass
(float, interval, rigorous, exact) through :func:`lotteryproofs.propagation.propagate`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import RELU, Activation, get_activation
from lotteryproofs.layers import Dense
from lotteryproofs.layers import frozen_array as _frozen
from lotteryproofs.propagation import FLOAT64, FLOAT_INTERVAL, propagate


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

    def sample(self, n: int, rng, *, out: np.ndarray | None = None) -> np.ndarray:
        """n points drawn uniformly from the box, shape (n, dim); written into ``out`` (a
        C-contiguous float64 (n, dim) array, e.g. rows of a larger one) when given."""
        rng = _validate.rng(rng)
        if out is not None and out.shape != (n, self.dim):
            raise ValueError(f"out has shape {out.shape}, not ({n}, {self.dim})")
        # lower + width·u computed in the draw's own array (no temporaries of the sample's
        # size): the same two roundings per entry as the expression, so the same bytes
        x = rng.random((n, self.dim)) if out is None else rng.random(out=out)
        x *= self.upper - self.lower
        x += self.lower
        return x

    def to_json(self) -> dict:
        if np.all(self.lower == self.lower[0]) and np.all(self.upper == self.upper[0]):
            return {"lower": float(self.lower[0]), "upper": float(self.upper[0]), "dim": self.dim}
        return {"lower": self.lower.tolist(), "upper": self.upper.tolist(), "dim": self.dim}

    @classmethod
    def from_json(cls, data: dict) -> Box:
        lower, upper, dim = data["lower"], data["upper"], int(data["dim"])
        return cls(np.broadcast_to(np.asarray(lower, float), dim),
                   np.broadcast_to(np.asarray(upper, float), dim))


class Network:
    """A feed-forward network: ``layers`` (Dense today) with ``activations`` between them.

    ``Network(weights, biases)`` builds dense layers (``weights[l]`` of shape
    (n_{l+1}, n_l), ``biases[l]`` of shape (n_{l+1},)) with ReLU between them, or with
    ``activation=`` (one for every hidden layer: a name, a spec like ``"leaky_relu:0.1"`` or
    an :class:`~lotteryproofs.activations.Activation`) or ``activations=`` (one per hidden
    layer). :meth:`from_layers` builds one from layer objects. Arrays are copied to read-only
    float64, so a Network never changes.
    """

    __slots__ = ("layers", "activations", "_weight_bias")

    def __init__(self, weights: Sequence, biases: Sequence, *, activation=None,
                 activations: Sequence | None = None):
        weights, biases = tuple(weights), tuple(biases)
        if len(weights) == 0:
            raise _validate.InputError("a network needs at least one layer")
        if len(weights) != len(biases):
            raise _validate.InputError(
                f"a network needs one bias per layer: {len(weights)} weights, {len(biases)} biases"
            )
        layers = []
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w = _validate.finite_array(f"layer {i} weight", w, ndim=2)
            b = _validate.finite_array(f"layer {i} bias", b, ndim=1)
            if b.shape[0] != w.shape[0]:
                raise _validate.InputError(
                    f"layer {i}: bias has {b.shape[0]} entries but the weight has {w.shape[0]} rows"
                )
            layers.append(Dense.trusted(_frozen(w), _frozen(b)))
        self._init(layers, _activations(len(layers), activation, activations))

    @classmethod
    def from_layers(cls, layers: Sequence, activations=RELU) -> Network:
        """A network from layer objects; ``activations`` is one activation (for every hidden
        layer) or a sequence of one per hidden layer."""
        layers = tuple(layers)
        if len(layers) == 0:
            raise _validate.InputError("a network needs at least one layer")
        if isinstance(activations, (str, dict, Activation)):
            acts = _activations(len(layers), activations, None)
        else:
            acts = _activations(len(layers), None, activations)
        network = object.__new__(cls)
        network._init(layers, acts)
        return network

    def _init(self, layers, activations) -> None:
        for i in range(1, len(layers)):
            if layers[i].in_features != layers[i - 1].out_features:
                raise _validate.InputError(
                    f"layer {i} expects {layers[i].in_features} inputs but layer {i - 1} has "
                    f"{layers[i - 1].out_features} outputs"
                )
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "activations", tuple(activations))
        # the first layer without a single weight and bias (None: every layer has them)
        bad = [i for i, layer in enumerate(layers) if len(layer.parameters) != 2]
        object.__setattr__(self, "_weight_bias", bad[0] if bad else None)

    def __setattr__(self, name, value):
        raise AttributeError(f"a Network is immutable (cannot set {name!r})")

    def __repr__(self) -> str:
        acts = {a.spec for a in self.activations}
        return f"Network(widths={self.widths}, activation={', '.join(sorted(acts)) or '-'})"

    # ----------------------------------------------------------------- shape
    @property
    def is_dense(self) -> bool:
        """Every layer a Dense one (the constructions of fully connected networks)."""
        return all(isinstance(layer, Dense) for layer in self.layers)

    def _weight_bias_layers(self, what: str) -> None:
        bad = self._weight_bias
        if bad is not None:
            raise _validate.InputError(
                f"{what}: layer {bad} is a {self.layers[bad].kind} layer, which has no "
                "single weight and bias (use parameter_arrays / masked_parameters)"
            )

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """W_l of every layer (layers with a weight and a bias only: Dense, Conv2d)."""
        self._weight_bias_layers("weights")
        return tuple(layer.weight for layer in self.layers)

    @property
    def biases(self) -> tuple[np.ndarray, ...]:
        self._weight_bias_layers("biases")
        return tuple(layer.bias for layer in self.layers)

    @property
    def parameter_arrays(self) -> tuple[np.ndarray, ...]:
        """Every layer's ``parameters`` in order (weight, bias of Dense and Conv2d; none of a
        pooling or Flatten layer; a residual block's body then shortcut)."""
        return tuple(p for layer in self.layers for p in layer.parameters)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, H, W) of a convolutional network's input, (n_0,) of a dense one."""
        return tuple(getattr(self.layers[0], "input_shape", (self.widths[0],)))

    @property
    def activation(self) -> Activation | None:
        """The activation of every hidden layer when they are all the same (else None)."""
        if not self.activations:
            return RELU
        first = self.activations[0]
        return first if all(a == first for a in self.activations) else None

    @property
    def is_relu(self) -> bool:
        return all(a == RELU for a in self.activations)

    @property
    def depth(self) -> int:
        """L, the number of layers."""
        return len(self.layers)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_0, n_1, …, n_L)."""
        return (self.layers[0].in_features,) + tuple(ly.out_features for ly in self.layers)

    @property
    def n_params(self) -> int:
        """All weights and biases, zero or not."""
        return sum(p.size for layer in self.layers for p in layer.parameters)

    def absolute(self) -> Network:
        """The network of every layer's absolute values (|W|, |b|; same activations): what
        bounds the magnitudes of rounding errors (proofs/certificate-soundness.md)."""
        return Network.from_layers([layer.absolute() for layer in self.layers], self.activations)

    def count_nonzero(self) -> int:
        """Exact number of nonzero weights and biases."""
        return sum(int(np.count_nonzero(p)) for layer in self.layers for p in layer.parameters)

    # --------------------------------------------------------------- compute
    def propagate(self, value, arithmetic, *, pre=None, post=None):
        """:func:`lotteryproofs.propagation.propagate` through this network."""
        return propagate(self.layers, self.activations, value, arithmetic, pre=pre, post=post)

    def forward(self, x) -> np.ndarray:
        """f(x) for x of shape (n_0,) or (batch, n_0); returns (n_L,) or (batch, n_L)."""
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        h = x[None, :] if single else x
        n_in = self.layers[0].in_features
        if h.ndim != 2 or h.shape[1] != n_in:
            raise _validate.InputError(
                f"input must have shape (batch, {n_in}) or ({n_in},), got {x.shape}"
            )
        h = self.propagate(h, FLOAT64)
        return h[0] if single else h

    def __call__(self, x) -> np.ndarray:
        return self.forward(x)

    def input_jacobian(self, x, *, absolute: bool = False) -> np.ndarray:
        """∂f/∂x at one input x from the forward pass's activation pattern:
        W_L D_{L−1} W_{L−1} ⋯ D_1 W_1 with D_l = diag(φ_l'(z_l)) (for ReLU 1[z_l > 0]).
        ``absolute=True`` gives |W_L| D_{L−1} ⋯ D_1 |W_1| with the same pattern: the scale of
        the product's rounding error (checks/init.py)."""
        pre: list = []
        self.propagate(np.asarray(x, dtype=np.float64), FLOAT64, pre=pre)
        jac = np.eye(self.widths[0])
        for layer, w in enumerate(self.weights):
            jac = (np.abs(w) if absolute else w) @ jac
            if layer < self.depth - 1:
                jac = jac * self.activations[layer].derivative(pre[layer])[:, None]
        return jac

    def masked(self, weight_masks: Sequence, bias_masks: Sequence) -> Network:
        """The subnetwork with parameter × mask (masks are 0/1 arrays of the same shapes)."""
        weight_masks, bias_masks = tuple(weight_masks), tuple(bias_masks)
        if len(weight_masks) != self.depth or len(bias_masks) != self.depth:
            raise _validate.InputError(
                f"need {self.depth} weight and bias masks, got {len(weight_masks)} and "
                f"{len(bias_masks)}"
            )
        for i, (m, p) in enumerate(
            zip(weight_masks + bias_masks, self.weights + self.biases, strict=True)
        ):
            m = np.asarray(m)
            if m.shape != p.shape:
                raise _validate.InputError(f"mask {i} has shape {m.shape}, parameter {p.shape}")
            if not np.all((m == 0) | (m == 1)):
                raise _validate.InputError(f"mask {i} is not binary (0/1)")
        return Network.from_layers(
            [layer.masked(wm, bm)
             for layer, wm, bm in zip(self.layers, weight_masks, bias_masks, strict=True)],
            self.activations,
        )

    def masked_parameters(self, masks: Sequence) -> Network:
        """The subnetwork with parameter × mask, one 0/1 mask per entry of
        :attr:`parameter_arrays` (any layer types)."""
        masks = tuple(masks)
        params = self.parameter_arrays
        if len(masks) != len(params):
            raise _validate.InputError(
                f"need {len(params)} masks (one per parameter array), got {len(masks)}")
        for i, (m, p) in enumerate(zip(masks, params, strict=True)):
            m = np.asarray(m)
            if m.shape != p.shape:
                raise _validate.InputError(f"mask {i} has shape {m.shape}, parameter {p.shape}")
            if not np.all((m == 0) | (m == 1)):
                raise _validate.InputError(f"mask {i} is not binary (0/1)")
        layers, start = [], 0
        for layer in self.layers:
            n = len(layer.parameters)
            layers.append(layer.masked(*masks[start:start + n]))
            start += n
        return Network.from_layers(layers, self.activations)

    def with_parameters(self, weights: Sequence, biases: Sequence) -> Network:
        """The same architecture and activations with other dense parameters."""
        return Network(weights, biases, activations=self.activations)

    def preactivation_bounds(self, box: Box) -> list[tuple[np.ndarray, np.ndarray]]:
        """Interval bound propagation: [lo_l, hi_l] ∋ W_l x⁽ˡ⁻¹⁾ + b_l for every x in the box.

        In centre–radius form, c' = W c + b and r' = |W| r, then σ applied to the bounds of
        hidden layers. Floating-point (not outward-rounded): the rigorous version is the
        OUTWARD arithmetic (certify.bound.rigorous_preactivation_bounds).
        """
        self._check_box(box)
        out: list = []
        self.propagate((box.lower, box.upper), FLOAT_INTERVAL, pre=out)
        return out

    def _check_box(self, box: Box) -> None:
        if box.dim != self.widths[0]:
            raise _validate.InputError(
                f"the box has dimension {box.dim} but the network has {self.widths[0]} inputs"
            )

    def activation_bounds(self, box: Box) -> list[np.ndarray]:
        """B_l per neuron: max |x⁽ˡ⁾_j| over the box, l = 0 … L−1 (THEORY.md §5)."""
        return activation_bounds(self, box, self.preactivation_bounds(box), interval=True)


def activation_bounds(network: Network, box: Box, pre, *, interval: bool) -> list[np.ndarray]:
    """B_0 = max(|lo|, |hi|) of the box, then B_l = max(|σ(lo_l)|, |σ(hi_l)|) for the hidden
    layers' pre-activation bounds ``pre`` (σ is monotone, so its image of [lo, hi] is
    [σ(lo), σ(hi)]); ``interval=False`` takes the images rounded outward."""
    bounds = [np.maximum(np.abs(box.lower), np.abs(box.upper))]
    for act, (lo, hi) in zip(network.activations, pre[:-1], strict=True):
        if act == RELU:  # σ ≥ 0 and monotone: the bound is σ(hi), exactly
            bounds.append(np.maximum(hi, 0.0))
            continue
        a, b = act.interval(lo, hi) if interval else act.interval_outward(lo, hi)
        bounds.append(np.maximum(np.abs(a), np.abs(b)))
    return bounds


def _activations(depth: int, activation, activations) -> tuple[Activation, ...]:
    if activation is not None and activations is not None:
        raise _validate.InputError("give activation= or activations=, not both")
    if activations is not None:
        acts = tuple(get_activation(a) for a in activations)
        if len(acts) != depth - 1:
            raise _validate.InputError(
                f"a network of depth {depth} needs {depth - 1} activations, got {len(acts)}"
            )
        return acts
    act = RELU if activation is None else get_activation(activation)
    return (act,) * (depth - 1)


def _structure(network: Network) -> list:
    return [layer.describe() if hasattr(layer, "describe") else layer.kind
            for layer in network.layers]


def same_parameters(a: Network, b: Network) -> bool:
    """Exact equality of every weight and bias (and of the architecture and activations)."""
    pa, pb = a.parameter_arrays, b.parameter_arrays
    return (a.widths == b.widths and a.activations == b.activations
            and _structure(a) == _structure(b) and len(pa) == len(pb)
            and all(p.shape == q.shape and np.array_equal(p, q)
                    for p, q in zip(pa, pb, strict=True)))


def network_sha256(network: Network) -> str:
    """sha256 of the widths and the float64 little-endian bytes of every parameter.

    Layers other than Dense feed their geometry too (kind, stride, padding, kernel, input
    shape: their ``digest_update``), so two networks that compute differently never share a
    digest. A network whose activations are not all ReLU also hashes their specs (so a ReLU network
    keeps the digest it always had, which tickets store as their target's identity).
    """
    digest = hashlib.sha256(json.dumps(network.widths).encode())
    for layer in network.layers:
        layer.digest_update(digest)
    if not network.is_relu:
        digest.update(json.dumps([a.spec for a in network.activations]).encode())
    return digest.hexdigest()
