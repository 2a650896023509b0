"""The 2L construction with nonzero biases and its zero-bias baseline (THEORY.md §4.1, §4.4).

Target layer l is represented by source layers 2l−1 (block layer: a univariate block of ρ
neurons per target input and one constant block of ρ neurons) and 2l (one neuron per target
neuron), widths [n_0, ρ(n_0+1), n_1, ρ(n_1+1), …, ρ(n_{L−1}+1), n_L]; the RSS instances and
the masks are those of :mod:`lotteryproofs.construct.univariate`. Proofs: proofs/2l-construction.md.

The zero-bias baseline (§4.4) is the same construction on a source whose biases are all 0: no
neuron can be a constant, so the source has no constant blocks (widths ρ·n_{l−1}) and every
target bias |b| > ε' becomes an instance with no candidates, recorded as failed with error |b|.
Every subnetwork of such a source is positively homogeneous, so its output at x = 0 is 0 and
its error over a box containing 0 is ≥ ‖f_T(0)‖_∞ (proofs/zero-bias-floor.md).
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.construct import common, univariate
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import RepresentedLayer


def source_widths(target_widths, rho: int, *, constants: bool = True, pad_even: bool = False):
    """[n_0, ρ(n_0+1), n_1, …, ρ(n_{L−1}+1), n_L] (ρ·n_{l−1} without constant blocks).

    ``pad_even`` rounds hidden target widths up to even (looks-linear sources need twins; the
    extra neuron is never used and is pruned).
    """
    widths = [target_widths[0]]
    depth = len(target_widths) - 1
    for t in range(1, depth + 1):
        widths.append(rho * (target_widths[t - 1] + (1 if constants else 0)))
        n = target_widths[t]
        widths.append(n + (n % 2) if pad_even and t < depth else n)
    return widths


def build_pairs(target: Network, unit: Network, box: Box, eps_param: float, owners, mirrors):
    """Masks and solved instances for every (block, sum) pair of a 2L-type source.

    ``owners[t]`` / ``mirrors[t]`` describe block layer 2t (see solve_block_pair). The
    negative part is built only for target layer 1 and only for inputs the box lets be < 0.
    """
    from lotteryproofs.progress import progress

    weight_masks, bias_masks, solved = [], [], []
    for t in progress(range(target.depth), desc="construct (layers)"):
        n_out, n_in = target.weights[t].shape
        negative_cols = box.has_negative if t == 0 else np.zeros(n_in, bool)
        bw, bb, sw, s = univariate.solve_block_pair(
            layer=t, target_w=target.weights[t], target_b=target.biases[t],
            block_w=unit.weights[2 * t], block_b=unit.biases[2 * t],
            sum_w=unit.weights[2 * t + 1], owner=owners[t],
            row_map=np.arange(n_out)[:, None], negative_cols=negative_cols,
            eps_param=eps_param, mirror=mirrors[t])
        weight_masks += [bw, sw]
        bias_masks += [bb, np.zeros(unit.biases[2 * t + 1].shape, bool)]
        solved += s
    return weight_masks, bias_masks, solved


def pair_layout(target: Network, owners, box: Box) -> list[dict]:
    """The layout metadata of a 2L-type ticket (what represented_layers reads back)."""
    return [
        {"block_layer": 2 * t, "sum_layer": 2 * t + 1, "n_in": int(target.widths[t]),
         "n_out": int(target.widths[t + 1]), "owners": common.owners_to_runs(owners[t]),
         "negative_built": bool(t == 0 and box.has_negative.any())}
        for t in range(target.depth)
    ]


def regular_layout(target_widths, rho: int, *, constants: bool):
    """Owner arrays of the block layers: ρ neurons per input (and per constant block)."""
    return [common.regular_owners(n + (1 if constants else 0), rho) for n in target_widths[:-1]]


def represent_pairs(unit_ticket: Network, layout: list[dict]) -> tuple[RepresentedLayer, ...]:
    """What a 2L-type ticket computes per target layer (one copy), read from its masks."""
    out = []
    for pair in layout:
        b, s = pair["block_layer"], pair["sum_layer"]
        positive, negative, bias = univariate.represent_block_pair(
            unit_ticket.weights[b], unit_ticket.biases[b], unit_ticket.weights[s],
            unit_ticket.biases[s], pair["n_in"], np.arange(pair["n_out"]))
        extra = _unread_outputs(unit_ticket, s, pair["n_out"])
        if extra is not None:
            raise univariate.LayoutError(
                f"source layer {s} neuron {extra} is kept but is no target neuron")
        gain = np.maximum(np.abs(positive), np.abs(negative))
        out.append(RepresentedLayer(positive[None], negative[None], bias[None], gain[None]))
    return tuple(out)


def _unread_outputs(unit_ticket: Network, layer: int, n_out: int):
    """A padding neuron beyond the target's width that still computes something, if any."""
    w, b = unit_ticket.weights[layer][n_out:], unit_ticket.biases[layer][n_out:]
    live = np.flatnonzero(np.any(w != 0, axis=1) | (b != 0))
    return int(n_out + live[0]) if live.size else None
