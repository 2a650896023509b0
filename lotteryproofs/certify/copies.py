"""The per-copy weights of a ticket with several copies per hidden neuron (L+1), read from its
masks: the matrix V of the represented map ẑ_{cj} = Σ_{r,i} V[(c,j),(r,i)]·x̂_{ri} + b̂_{cj}
(proofs/certificate-differential.md, "The represented map used"), which
:mod:`certify.crown` substitutes through instead of the worst case G = Σ_r|V_r|.

Rows and columns are in the flattened (copy, neuron) order of ``RepresentedLayer`` arrays
(row = c·n + j). Source neuron k of a copy layer is copy k mod ρ of target neuron k div ρ (the
owner-major layout of ``construct.common.regular_owners``); a layout whose owners say
otherwise, or a copy neuron beyond the represented ones, makes the reading refuse (None), so
the certificate falls back to the bounds that need only P and G.
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.rounding import gamma_upper, up
from lotteryproofs.ticket import Ticket


def copy_weights(ticket: Ticket, represented, network=None) -> tuple | None:
    """Per target layer, V (or None where the previous layer has one copy per neuron: V = P);
    None for the whole ticket when some copy layer cannot be read (module docstring)."""
    if all(r.copies == 1 for r in represented):
        return None
    meta = ticket.metadata
    layout = meta.get("layout") or {}
    if "owners" not in layout or "layer_scales" not in meta:
        return None
    from lotteryproofs.construct.common import runs_to_owners
    from lotteryproofs.init import unit_scale

    unit, _ = unit_scale(ticket.network if network is None else network, meta["layer_scales"])
    offset = unit.depth - len(represented)  # source layers before the first copy layer
    out = [None]
    for t in range(1, len(represented)):
        prev, rep = represented[t - 1], represented[t]
        if prev.copies == 1:
            out.append(None)
            continue
        k_prev, n_in = prev.copies, prev.positive.shape[1]
        k_t, n_out = rep.copies, rep.positive.shape[1]
        w = unit.weights[t + offset]
        owner = runs_to_owners(layout["owners"][t], w.shape[1])
        cols = np.arange(n_in * k_prev)
        if not np.array_equal(owner[cols], cols // k_prev):
            return None
        copy_cols = (owner >= 0) & (owner < n_in)
        if np.any(copy_cols[n_in * k_prev:]) or np.any(w[n_out * k_t:, cols]):
            return None
        block = w[: n_out * k_t, : n_in * k_prev]
        # source row j·k_t + c ↦ row c·n_out + j; column i·k_prev + r ↦ r·n_in + i
        v = block.reshape(n_out, k_t, n_in, k_prev).transpose(1, 0, 3, 2)
        out.append(np.ascontiguousarray(v.reshape(k_t * n_out, k_prev * n_in)))
    return tuple(out)


def copy_weight_slack(v: np.ndarray, depth_source: int) -> np.ndarray:
    """|V* − V| for the exact unit-scale weights V* (one quotient θ/λ per entry): the factor of
    ``certify.rounding.rounding_slack`` times |V|."""
    gamma, _ = gamma_upper(depth_source + 5)
    return up(float(up(gamma * 2.0)) * np.abs(v))
