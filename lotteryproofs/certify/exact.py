"""Exact evaluation: f(x) and ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ in rational arithmetic.

Every weight, bias and input is the value of its float, so f(x) is a dyadic rational; the
DYADIC arithmetic of :mod:`lotteryproofs.propagation` computes it with Python integers
scaled by a common power of two (no Fraction per operation), and only the outputs become
``Fraction``. Errors that decide pass/fail are recomputed here, never taken from a float.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lotteryproofs.network import Network
from lotteryproofs.propagation import DYADIC, from_dyadic, to_dyadic


def exact_forward(network: Network, x) -> list[Fraction]:
    """f(x) in exact rational arithmetic (every weight, bias and input is its float's value)."""
    return from_dyadic(network.propagate(to_dyadic(x), DYADIC))


def exact_output_error(target: Network, ticket_network: Network, scale: float, x) -> Fraction:
    """‖f_T(x) − f_S(x)/Λ‖_∞ exactly (Λ is the float ``scale``)."""
    ft = exact_forward(target, x)
    fs = exact_forward(ticket_network, x)
    lam = Fraction(float(scale))
    return max(abs(a - s / lam) for a, s in zip(ft, fs, strict=True))


def float_down(value: Fraction) -> float:
    """The largest float ≤ value."""
    f = float(value)
    return float(np.nextafter(f, -np.inf)) if Fraction(f) > value else f
