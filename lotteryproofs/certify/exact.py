"""Exact evaluation: f(x) and ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ in rational arithmetic.

Every weight, bias and input is the value of its float, so f(x) is a dyadic rational; the
DYADIC arithmetic of :mod:`lotteryproofs.propagation` computes it with Python integers
scaled by a common power of two (no Fraction per operation), and only the outputs become
``Fraction``. Errors that decide pass/fail are recomputed here, never taken from a float.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lotteryproofs.layers import Dense, dyadic_entries, exact_affine
from lotteryproofs.network import Network
from lotteryproofs.propagation import DYADIC, from_dyadic, propagate, to_dyadic


def exact_forward(network: Network, x) -> list[Fraction]:
    """f(x) in exact rational arithmetic (every weight, bias and input is its float's value)."""
    return from_dyadic(network.propagate(to_dyadic(x), DYADIC))


def exact_output_error(target: Network, ticket_network: Network, scale: float, x) -> Fraction:
    """‖f_T(x) − f_S(x)/Λ‖_∞ exactly (Λ is the float ``scale``)."""
    return exact_output_errors(target, ticket_network, scale, np.asarray(x)[None])[0]


class _Entries:
    """A dense layer z = W h + b whose nonzero entries are read once for many points, in the
    DYADIC arithmetic (``layers.Dense.exact_scaled`` reads them at every call, which dominated
    the exact error of a large, sparse ticket at several points)."""

    def __init__(self, layer):
        self.entries = dyadic_entries(layer.weight, layer.bias)

    def exact_scaled(self, xi: list[int], ex: int) -> tuple[list[int], int]:
        return exact_affine(self.entries, xi, ex)


def _entry_layers(network: Network):
    """The layers to evaluate exactly: each dense one read once (:class:`_Entries`)."""
    return [_Entries(layer) if isinstance(layer, Dense) else layer for layer in network.layers]


def exact_output_errors(target: Network, ticket_network: Network, scale: float,
                        points) -> list[Fraction]:
    """:func:`exact_output_error` at each row of ``points``, every layer read once."""
    layers_t, layers_s = _entry_layers(target), _entry_layers(ticket_network)
    lam = Fraction(float(scale))
    out = []
    for x in np.atleast_2d(points):
        ft = from_dyadic(propagate(layers_t, target.activations, to_dyadic(x), DYADIC))
        fs = from_dyadic(propagate(layers_s, ticket_network.activations, to_dyadic(x), DYADIC))
        out.append(max(abs(a - v / lam) for a, v in zip(ft, fs, strict=True)))
    return out


def float_down(value: Fraction) -> float:
    """The largest float ≤ value."""
    f = float(value)
    return float(np.nextafter(f, -np.inf)) if Fraction(f) > value else f
