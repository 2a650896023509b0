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
"""

from __future__ import annotations

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.construct import common, two_layer
from lotteryproofs.network import Network


def source_widths(target_widths, rho: int):
    return two_layer.source_widths(target_widths, rho, pad_even=True)


def check_rho(rho: int) -> int:
    if rho % 2:
        raise _validate.InputError(
            f"looks-linear needs an even rho (ρ/2 mirror pairs per block), got {rho}")
    return rho


def layout(target_widths, rho: int):
    """(owners, mirrors) per block layer: pair (k, k+H) belongs to owner k // (ρ/2)."""
    owners, mirrors = [], []
    for n_in in target_widths[:-1]:
        half = common.regular_owners(n_in + 1, rho // 2)
        h = half.size
        owners.append(np.concatenate((half, half)))
        mirrors.append(np.concatenate((np.arange(h, 2 * h), np.arange(h))))
    return owners, mirrors


def check_mirror_structure(unit: Network, mirrors) -> None:
    """The drawn source really has the twin structure the construction relies on."""
    for t, mirror in enumerate(mirrors):
        b, s = 2 * t, 2 * t + 1
        if not (np.array_equal(unit.weights[b][mirror], -unit.weights[b])
                and np.array_equal(unit.biases[b][mirror], -unit.biases[b])
                and np.array_equal(unit.weights[s][:, mirror], -unit.weights[s])):
            raise ValueError(
                f"source layers {b}, {s} are not looks-linear twins (k ↔ k ± H); the ll "
                "construction needs the looks-linear scheme")
