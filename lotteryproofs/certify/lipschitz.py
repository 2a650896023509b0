"""The certified bound for Lipschitz activations: the §5 recursion with L_φ (THEORY.md §9;
proofs/l-plus-one-general.md, "Certificate").

For a target x⁽ˡ⁾ = φ_l(W_l x⁽ˡ⁻¹⁾ + b_l) (any registered φ_l, output affine) and a ticket's
represented layers (copy c of target neuron j computes ẑ = Σ_i P[c,j,i]·x̂_i + d[c,j], where
the x̂_i of copies are the ticket's values of target neuron i; ``gain`` ≥ the Lipschitz
constant of that entry in x̂_i), with E_l[c, j] ≥ sup_x |ẑ − z| and e_l[i] ≥ sup_x |x̂_i − x_i|:

    E_l[c, j] ≤ Σ_i ( |P − w_ji|·M_i + max(gain, |P|)·e_{l−1}[i] ) + |d − b_j|,
    e_l[j]    ≤ L_{φ_l} · max_c E_l[c, j],          e_0 = 0,

where M_i ≥ sup_x |x_i|: max(|lo|, |hi|) of the box for l = 1, and of the outward image
φ([z⁻, z⁺]) of the target's rigorous pre-activation interval otherwise. Target layer 1 must
be linear in x (``negative = −positive``, as the general L+1 read-back gives) unless the
activation is ReLU-like, so the first term is |P − w|·max|x_i|. The output error is
max_j E_L[j]. Every operation is rounded up; the bound is for the ticket's and the target's
functions in real arithmetic (no floating-point execution slack: libm's φ is not correctly
rounded, proofs/activations.md §3).

This path goes only through the Activation protocol (``lipschitz``, ``interval_outward``),
separate from the ReLU recursion of :mod:`certify.bound`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network
from lotteryproofs.rounding import sum_upper, up
from lotteryproofs.ticket import RepresentedLayer

from .bound import rigorous_preactivation_bounds


def _check(target: Network, represented: Sequence[RepresentedLayer]) -> None:
    if len(represented) != target.depth:
        raise _validate.InputError(
            f"{len(represented)} represented layers for a target of depth {target.depth}")
    for t, (r, w) in enumerate(zip(represented, target.weights, strict=True)):
        if r.positive.shape[1:] != w.shape:
            raise _validate.InputError(
                f"represented layer {t} has shape {r.positive.shape[1:]}, the target {w.shape}")
    for act in target.activations:
        if not np.isfinite(act.lipschitz):
            raise _validate.InputError(f"activation {act.spec} has no Lipschitz constant")
    first = represented[0]
    if not np.array_equal(first.negative, -first.positive):
        raise _validate.InputError(
            "the Lipschitz recursion needs a first represented layer that is linear in x "
            "(negative = −positive)")


def lipschitz_output_error(target: Network, box: Box,
                           represented: Sequence[RepresentedLayer], *, pre=None) -> float:
    """Rigorous upper bound of sup_{x∈box} ‖f_T(x) − f_S(x)‖_∞ by the recursion of the
    module docstring (float, rounded up)."""
    _check(target, represented)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    magnitude = np.maximum(np.abs(box.lower), np.abs(box.upper))
    e_post = None
    e_pre = None
    for t, (w, b, rep) in enumerate(zip(target.weights, target.biases, represented,
                                        strict=True)):
        if t > 0:
            act = target.activations[t - 1]
            lo, hi = act.interval_outward(*pre[t - 1])
            magnitude = np.maximum(np.abs(lo), np.abs(hi))
            e_post = up(float(act.lipschitz) * e_pre)
        term = up(up(np.abs(rep.positive - w)) * magnitude)
        if t > 0:
            gain = np.maximum(rep.gain, np.abs(rep.positive))
            term = up(term + up(gain * e_post))
        row = sum_upper(term, axis=2)
        e_pre = np.max(up(row + up(np.abs(rep.bias - b))), axis=0)
    return float(np.max(e_pre))
