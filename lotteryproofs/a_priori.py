"""The target's norms of THEORY.md §5 and the a-priori output bound evaluated without sympy.

bounds.py builds the §5 bound symbolically: with per-layer gains g_l and injected errors c_l
the recursion e_l ≤ g_l e_{l−1} + c_l, e_0 = 0, has the closed form

    e_L = Σ_{l=1}^{L} c_l Π_{m=l+1}^{L} g_m                       (proofs/error-propagation.md)

and every construction instantiates (g_l, c_l) (:func:`lotteryproofs.bounds.
layer_gains_and_injections`): for 2L, looks-linear and the zero-bias baseline
g_l = a_l + k_l ε'; c_l = ε'(k_l B_{l−1} + 1), or ε' k_l B_{l−1} + b̄_l for the zero-bias
baseline; for L+1 g_l = k_l G_l for l ≥ 2, and a_l + γ k_l for bounded-gain L+1. A
certificate needs only the *value* of that bound for one target, and importing sympy costs a
command more than the rest of the certificate's set-up: :func:`a_priori_output_error`
evaluates the same closed form in mpmath at the same precision (Horner's form of the sum,
e_l = g_l e_{l−1} + c_l, which is the closed form; tests/test_a_priori.py checks it against
the sympy expression for every registered bound). γ is read as the exact value of its
float, as the RSS engine's gain test uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs._limits import MPMATH_DPS
from lotteryproofs.bound_spec import BoundSpec


@dataclass(frozen=True)
class TargetNorms:
    """The target's quantities of THEORY.md §5: widths, a_l = ‖W_l‖_∞, k_l, B_0…B_{L−1}, b̄_l.

    ``B`` must be upper bounds of sup_D ‖x⁽ˡ⁾‖_∞ (certify.py computes them rigorously).
    """

    widths: tuple
    a: tuple
    k: tuple
    B: tuple
    bbar: tuple
    w_max: float
    b_max: float
    input_has_negative: bool

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def values(self) -> dict:
        """The norms by the names of bounds.py's symbols (n_0…n_L, a_1…, k_1…, B_0…, bbar_1…,
        w_max, b_max): bounds.evaluate_mpmath binds a value to the symbol of its name."""
        out = {f"n_{i}": n for i, n in enumerate(self.widths)}
        for name, values, first in (("a", self.a, 1), ("k", self.k, 1), ("B", self.B, 0),
                                    ("bbar", self.bbar, 1)):
            out.update({f"{name}_{first + i}": v for i, v in enumerate(values)})
        out["w_max"], out["b_max"] = self.w_max, self.b_max
        return out


def target_norms(network, activation_bounds, *, input_has_negative: bool = True) -> TargetNorms:
    """TargetNorms of a target Network given per-layer activation bounds B_0…B_{L−1} (arrays)."""
    a = tuple(float(_fsum_up_rows(np.abs(w))) for w in network.weights)
    k = tuple(int(np.count_nonzero(w, axis=1).max()) for w in network.weights)
    B = tuple(float(np.max(b)) for b in activation_bounds)
    bbar = tuple(float(np.max(np.abs(b))) for b in network.biases)
    return TargetNorms(
        widths=tuple(network.widths),
        a=a,
        k=k,
        B=B,
        bbar=bbar,
        w_max=max(float(np.max(np.abs(w))) for w in network.weights),
        b_max=max(float(np.max(np.abs(b))) for b in network.biases),
        input_has_negative=bool(input_has_negative),
    )


def _fsum_up_rows(matrix: np.ndarray) -> float:
    """max over rows of the row sums, each correctly rounded (math.fsum) then rounded up."""
    return max(float(np.nextafter(math.fsum(row), np.inf)) for row in matrix)


def layer_terms(spec: BoundSpec, norms: TargetNorms, eps_param: mpmath.mpf, gains=None):
    """(g_l, c_l), l = 1…L, as mpmath numbers: bounds.layer_gains_and_injections' terms for
    this target."""
    out = []
    for ly in range(norms.depth):
        a, k, B = mpmath.mpf(norms.a[ly]), mpmath.mpf(norms.k[ly]), mpmath.mpf(norms.B[ly])
        if spec.bounded_gain and ly >= 1:
            g = a + mpmath.mpf(spec.gain_budget) * k
        elif spec.copies and ly >= 1:
            g = k * mpmath.mpf(gains[ly])
        else:
            g = a + k * eps_param
        c = (eps_param * (k * B + 1) if spec.biases
             else eps_param * k * B + mpmath.mpf(norms.bbar[ly]))
        out.append((g, c))
    return out


def a_priori_output_error(spec: BoundSpec, norms: TargetNorms, eps_param, *,
                          gains=None) -> mpmath.mpf:
    """The §5 a-priori bound on sup_D ‖f_T − Λ⁻¹ f_S‖_∞ for a concrete target at ε'
    (mpmath, :data:`~lotteryproofs._limits.MPMATH_DPS` digits): the value of
    :func:`lotteryproofs.bounds.a_priori_output_error` without sympy, whose arguments and
    refusals it shares. ``gains`` (L+1): the bounds G_l, entries for l = 1 ignored;
    ``math.inf`` yields an infinite bound."""
    if not isinstance(eps_param, mpmath.mpf):
        eps_param = _validate.positive("ε'", eps_param)
    elif not eps_param > 0:
        raise _validate.InputError(f"ε' must be > 0, got {eps_param}")
    if spec.needs_gains:
        if gains is None:
            raise _validate.InputError(f"the {spec.name} a-priori bound needs the gain bounds G_l")
        if any(math.isinf(g) for g in list(gains)[1:]) and norms.depth > 1:
            return mpmath.inf
    with mpmath.workdps(MPMATH_DPS):
        e = mpmath.mpf(0)
        for g, c in layer_terms(spec, norms, mpmath.mpf(eps_param), gains):
            e = g * e + c
        return +e
