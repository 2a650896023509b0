"""The looks-linear 2L construction (THEORY.md §4.2; proofs/ll-construction.md).

The source is drawn from the ``looks-linear`` scheme (lotteryproofs.init) with the 2L widths
(hidden target widths rounded up to even, ρ even). Every block-layer neuron k has a mirror
twin k' = k ± H (H = half the layer's width): u_k' = −u_k, c_k' = −c_k, and every outgoing
weight v_jk' = −v_jk. Pairs are assigned to owners (ρ/2 pairs per target input, ρ/2 for the
constants), so each owner has exactly ρ/2 neurons with positive incoming weight — no random
sign split. For target weight w_ji one instance over {v_jk·u_k : u_k > 0, k in block i}
chooses a subset S; keeping S gives Σ_S v_jk u_k σ(x_i), and keeping the twins of S too adds
Σ_S (−v_jk)·u_k·σ(−x_i): the pair computes (Σ_S v_jk u_k)·x_i, so the negative part is built
by the same subset, only where x_i can be negative. Constants use the twin with c > 0.
This module registers the looks-linear construction (:data:`CONSTRUCTION`).
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import common, two_layer
from lotteryproofs.construct.base import BuildInput, Built


def source_widths(target_widths, rho: int):
    return two_layer.source_widths(target_widths, rho, pad_even=True)


def layout(target_widths, rho: int):
    """(owners, mirrors) per block layer: pair (k, k+H) belongs to owner k // (ρ/2)."""
    owners, mirrors = [], []
    for n_in in target_widths[:-1]:
        half = common.regular_owners(n_in + 1, rho // 2)
        h = half.size
        owners.append(np.concatenate((half, half)))
        mirrors.append(np.concatenate((np.arange(h, 2 * h), np.arange(h))))
    return owners, mirrors


def check_mirror_structure(unit: common.UnitParameters, mirrors) -> None:
    """The drawn source really has the twin structure the construction relies on."""
    for t, mirror in enumerate(mirrors):
        b, s = 2 * t, 2 * t + 1
        if not (np.array_equal(unit.weights[b][mirror], -unit.weights[b])
                and np.array_equal(unit.biases[b][mirror], -unit.biases[b])
                and np.array_equal(unit.weights[s][:, mirror], -unit.weights[s])):
            raise ValueError(
                f"source layers {b}, {s} are not looks-linear twins (k ↔ k ± H); the ll "
                "construction needs the looks-linear scheme")


def _build(inp: BuildInput) -> Built:
    owners, mirrors = layout(inp.target.widths, inp.rho)
    check_mirror_structure(inp.unit, mirrors)
    return two_layer.solve_pair_layers(inp, owners, mirrors, zero_bias=False,
                                       check=check_mirror_structure)


CONSTRUCTION = two_layer.pair_construction(
    "ll", "looks-linear 2L",
    "§4.2 the 2L construction on a looks-linear source: one instance per weight, twins",
    widths=source_widths, build=_build, default_init="looks-linear",
    bound=BoundSpec("ll", mirror_pairs=True), mirrored_source=True,
    owners=lambda target_widths, rho: layout(target_widths, rho)[0])
