"""The parameter layers of a convolutional or residual layer list, in order, and which of their
inputs can be negative (proofs/conv-2l-construction.md, "Instances").

The convolutional constructions pose one subset-sum instance per target kernel entry and bias
with |value| > ε', plus one for the negative part σ(−h) of every entry whose input channel can
be negative; the a-priori width (:func:`lotteryproofs.bounds.conv_a_priori_rho`) counts the
same instances, the certificate reads the same columns. This module is that one walk:

* :func:`param_layers` — Conv2d/Dense layers in ``Network.parameter_arrays`` order: a
  residual block's body, then its shortcut (a layer, or a :class:`~lotteryproofs.residual.Chain`
  of layers);
* :func:`input_signs` — per parameter layer, per input channel (Conv2d) or feature (Dense):
  can its input be negative? After a ReLU nothing is; Identity and Flatten keep the sign; a
  pool's output can be negative where its channel can; a residual block's wherever its input
  or its linear-ended body can; a shortcut reads the block's input.
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.activations import RELU
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.layers import Dense
from lotteryproofs.residual import Chain, Residual

#: Layers with parameters (a kernel or a matrix and a bias).
PARAMETER_LAYERS = (Conv2d, Dense)


def shortcut_layers(block: Residual) -> tuple:
    """The layers of a residual block's shortcut (none for the identity)."""
    s = block.shortcut
    if s is None:
        return ()
    return s.layers if isinstance(s, Chain) else (s,)


def shortcut_activations(block: Residual) -> tuple:
    s = block.shortcut
    return s.activations if isinstance(s, Chain) else ()


def param_layers(layers) -> list:
    """The Conv2d/Dense layers in order: residual bodies, then their shortcuts, included."""
    out = []
    for layer in layers:
        if isinstance(layer, Residual):
            out += param_layers(layer.body_layers)
            out += param_layers(shortcut_layers(layer))
        elif isinstance(layer, Chain):
            out += param_layers(layer.layers)
        elif isinstance(layer, PARAMETER_LAYERS):
            out.append(layer)
    return out


def _signs(layers, activations, neg: np.ndarray, out: list) -> np.ndarray:
    """Append, per parameter layer, the input sign mask (module docstring); return the sign
    mask of the output."""
    for t, layer in enumerate(layers):
        if isinstance(layer, Residual):
            _signs(layer.body_layers, layer.body_activations, neg, out)
            _signs(shortcut_layers(layer), shortcut_activations(layer), neg, out)
            neg = np.ones(layer.out_features, bool)
        elif isinstance(layer, PARAMETER_LAYERS):
            out.append(neg.reshape(layer.input_shape).any(axis=(1, 2))
                       if isinstance(layer, Conv2d) else neg)
            neg = np.ones(layer.out_features, bool)
        elif not isinstance(layer, Flatten):
            c = layer.input_shape[0]
            neg = np.repeat(neg.reshape(c, -1).any(axis=1), layer.out_features // c)
        if t < len(layers) - 1 and activations[t] == RELU:
            neg = np.zeros(neg.shape, bool)
    return neg


def input_signs(layers, activations, has_negative) -> list:
    """Per parameter layer of ``layers`` (:func:`param_layers` order), per input channel
    (Conv2d) or feature (Dense): can its input be negative, for inputs whose coordinates can be
    negative where ``has_negative`` says (a Box's ``has_negative``)?"""
    out: list = []
    _signs(layers, activations, np.asarray(has_negative, bool), out)
    return out


def patch_columns(negative_channels: np.ndarray, layer) -> np.ndarray:
    """Which columns of the layer's patch matrix can read a negative input: column
    c·k_h·k_w + p·k_w + q reads channel c (a Dense layer's columns are its features)."""
    if isinstance(layer, Conv2d):
        _, _, kh, kw = layer.weight.shape
        return np.repeat(negative_channels, kh * kw)
    return np.asarray(negative_channels, bool)


def count_instances(layers, activations, has_negative, eps_param: float) -> int:
    """M: the subset-sum instances the convolutional 2L construction poses — per parameter
    layer the kernel entries and biases with |value| > ε', plus the entries with
    |value| > ε' on a column that can read a negative input (their negative part)."""
    count = 0
    signs = input_signs(layers, activations, has_negative)
    for layer, neg in zip(param_layers(layers), signs, strict=True):
        k = np.asarray(layer.weight).reshape(layer.weight.shape[0], -1)
        big = np.abs(k) > eps_param
        count += int(big.sum()) + int((np.abs(layer.bias) > eps_param).sum())
        count += int(big[:, patch_columns(neg, layer)].sum())
    return count
