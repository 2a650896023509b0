"""Edge-popup on convolutional sources: Conv–ReLU stacks with scores on kernel entries.

The source (:func:`draw_conv_source`) is Conv2d → ReLU → … → Conv2d → ReLU → Dense on the flat
C·H·W layout (conv_layers.py), drawn as conv_source.draw_parameter_layer draws a parameter
layer: W_l = λ_l W̃_l, b_l = β·(Π_{k≤l} λ_k)·b̃_l with W̃, b̃ ~ U[−1, 1] i.i.d. and the He scale
λ_l = √(6 / fan-in) (fan-in = C_in·k_h·k_w; THEORY.md §1's product rule, β = 0 a zero-bias
source). Edge-popup (popup.py, Ramanujan et al.) gives every kernel entry and every bias a score
and keeps, per tensor, the GetSubnet count n − ⌊(1 − d)·n⌋ of largest |s| (popup.layer_masks);
the kernel is shared over positions, so one score masks one weight at every position.

**Forward.** A conv layer is linear: z = U(K) h + b ⊗ 1, U(K) the unrolled
(C_out·H_o·W_o, C_in·H·W) matrix whose nonzero entries are kernel entries at the layer's taps
(Conv2d.taps: output index r, input index q, kernel entry κ(r, q)). With masks m, scale
factors c_l, d_l (popup.layer_scale_factors; λ = 1 unless scaled), K̃_l = c_l (K_l ⊙ m_l),
b̃_l = d_l (b_l ⊙ m^b_l), the training forward is z_l = U(K̃_l) h_{l−1} + b̃_l ⊗ 1 — one BLAS
product per layer on the dense unrolled matrix (digits 8×8 keeps it small).

**Backward.** With g_l = ∂L/∂z_l: ∂L/∂U = g_lᵀ h_{l−1}, and since U is linear in K,
∂L/∂K̃[κ] = Σ_{(r,q): κ(r,q)=κ} (∂L/∂U)[r, q] (a sum over the taps of each entry), ∂L/∂b̃[o] =
Σ_{n, positions of o} g_l; then ∂L/∂m_l = c_l ∂L/∂K̃_l ⊙ K_l, ∂L/∂m^b_l = d_l ∂L/∂b̃_l ⊙ b_l,
∂L/∂log λ as in popup.loss_and_gradients, g_{l−1} = (g_l U(K̃_l)) ⊙ [z_{l−1} > 0], and the
straight-through estimator ∂L/∂s = ∂L/∂m · sign(s). tests/test_popup_conv.py checks the forward
against Conv2d's im2col and a direct loop, and every gradient against finite differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.conv_layers import Conv2d
from lotteryproofs.conv_source import draw_parameter_layer
from lotteryproofs.init import LAW_VARIANCES, Streams
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network
from lotteryproofs.popup import (
    LOSS_FUNCTIONS,
    PopupConfig,
    PopupGradients,
    PopupResult,
    initial_scores,
    layer_scale_factors,
    score_descent,
    single_blas_thread,
)

#: The digits source: 1×8×8 → conv 3×3 (16, pad 1) → conv 3×3 (16, stride 2, pad 1) → dense.
DIGITS_CHANNELS = (16, 16)


def draw_conv_source(input_shape: Sequence[int], channels: Sequence[int], n_out: int, *,
                     beta: float, seed) -> Network:
    """Conv(3×3, pad 1) → ReLU → Conv(3×3, stride 2, pad 1) → ReLU … → Dense(n_out), He
    uniform with the product rule at bias scale β (module docstring); the first conv has
    stride 1, every later one stride 2. The weights and the unit bias draw depend on ``seed``
    only, so sources at two β share them (paired comparisons)."""
    beta = _validate.non_negative("β", beta)
    entropy = _validate.rng(seed).integers(0, 2**63)
    streams = Streams.from_seed(int(entropy))
    shape = tuple(int(n) for n in input_shape)
    layers, cumulative = [], 1.0
    for index, out in enumerate(channels):
        kernel = (int(out), shape[0], 3, 3)
        scale = math.sqrt(2.0 / (LAW_VARIANCES["uniform"] * int(np.prod(kernel[1:]))))
        cumulative *= scale
        w, b = draw_parameter_layer(streams, "uniform", index, kernel, scale, cumulative, beta)
        layer = Conv2d(w, b, stride=1 if index == 0 else 2, padding=1, input_shape=shape)
        layers.append(layer)
        shape = layer.output_shape
    fan_in = int(np.prod(shape))
    scale = math.sqrt(2.0 / (LAW_VARIANCES["uniform"] * fan_in))
    w, b = draw_parameter_layer(streams, "uniform", len(channels), (int(n_out), fan_in), scale,
                                cumulative * scale, beta)
    layers.append(Dense(w, b))
    return Network.from_layers(layers)


@dataclass(frozen=True, eq=False)
class _Unrolled:
    """A parameter layer's unrolled geometry: U(K)[rows, cols] = K.ravel()[entries]."""

    layer: object

    @cached_property
    def taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.layer.weight
        if isinstance(self.layer, Dense):
            rows, cols = np.indices(w.shape).reshape(2, -1)
            return rows, cols, np.arange(w.size)
        # the taps of a kernel numbered 1 … n (no zero entry, so no tap is dropped)
        numbered = Conv2d(np.arange(1.0, w.size + 1).reshape(w.shape), np.zeros(w.shape[0]),
                          self.layer.stride, self.layer.padding, self.layer.input_shape)
        rows, cols, vals = numbered.taps
        return rows, cols, vals.astype(np.int64) - 1

    @property
    def positions(self) -> int:
        return 1 if isinstance(self.layer, Dense) else int(np.prod(self.layer.output_shape[1:]))

    def matrix(self, kernel: np.ndarray) -> np.ndarray:
        if isinstance(self.layer, Dense):
            return kernel
        rows, cols, entries = self.taps
        u = np.zeros((self.layer.out_features, self.layer.in_features))
        u[rows, cols] = kernel.ravel()[entries]
        return u

    def kernel_gradient(self, grad_u: np.ndarray) -> np.ndarray:
        """∂L/∂K from ∂L/∂U: the sum over each kernel entry's taps."""
        w = self.layer.weight
        if isinstance(self.layer, Dense):
            return grad_u
        rows, cols, entries = self.taps
        return np.bincount(entries, weights=grad_u[rows, cols], minlength=w.size).reshape(w.shape)


def _geometry(source: Network) -> list[_Unrolled]:
    layers = source.layers
    if not source.is_relu or not all(isinstance(layer, Conv2d | Dense) for layer in layers):
        raise _validate.InputError(
            f"convolutional edge-popup needs a Conv2d/Dense ReLU stack, got {source!r}")
    return [_Unrolled(layer) for layer in layers]


def conv_loss_and_gradients(source: Network, weight_masks, bias_masks, log_scale: float, x, y,
                            loss: str = "cross-entropy", geometry=None) -> PopupGradients:
    """Mean loss of the scaled masked conv subnetwork and its exact gradients in the masks
    (real-valued allowed) and in log λ (module docstring)."""
    geometry = _geometry(source) if geometry is None else geometry
    depth = len(geometry)
    c, d = layer_scale_factors(depth, log_scale)
    kernels = [c[i] * (g.layer.weight * weight_masks[i]) for i, g in enumerate(geometry)]
    biases = [d[i] * (g.layer.bias * bias_masks[i]) for i, g in enumerate(geometry)]
    matrices = [g.matrix(k) for g, k in zip(geometry, kernels, strict=True)]
    inputs = [np.asarray(x, dtype=np.float64)]
    for i, (u, b, g) in enumerate(zip(matrices, biases, geometry, strict=True)):
        z = inputs[-1] @ u.T + np.repeat(b, g.positions)
        inputs.append(np.maximum(z, 0.0) if i < depth - 1 else z)
    value, grad = LOSS_FUNCTIONS[loss](inputs[-1], np.asarray(y))
    grad_wm, grad_bm = [None] * depth, [None] * depth
    grad_log_scale = 0.0
    for i in range(depth - 1, -1, -1):
        geo = geometry[i]
        grad_k = geo.kernel_gradient(grad.T @ inputs[i])
        grad_b = grad.sum(axis=0).reshape(-1, geo.positions).sum(axis=1)
        grad_wm[i] = c[i] * grad_k * geo.layer.weight
        grad_bm[i] = d[i] * grad_b * geo.layer.bias
        grad_log_scale += (float(np.sum(grad_k * kernels[i])) / depth
                           + float(grad_b @ biases[i]) * (i + 1) / depth)
        if i > 0:
            grad = (grad @ matrices[i]) * (inputs[i] > 0)
    return PopupGradients(value, tuple(grad_wm), tuple(grad_bm), grad_log_scale)


def train_conv_popup(source: Network, x, y, config: PopupConfig, *, rng) -> PopupResult:
    """Edge-popup on a conv source: popup.score_descent (top-k masks per step,
    straight-through, Adam/SGD with cosine decay, optional λ and annealing) from
    popup.initial_scores (fan-in C_in·k_h·k_w), the gradients from
    :func:`conv_loss_and_gradients`."""
    geometry = _geometry(source)
    rng = _validate.rng(rng)
    x = _validate.finite_array("training inputs", x, ndim=2)
    y = np.asarray(y)
    with single_blas_thread():
        return score_descent(
            lambda wm, bm, log_scale, xb, yb: conv_loss_and_gradients(
                source, wm, bm, log_scale, xb, yb, config.loss, geometry),
            initial_scores(source, rng), x, y, config, rng)[0]
