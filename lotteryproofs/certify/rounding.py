"""The rounding terms of a certificate (proofs/certificate-soundness.md, Lemmas 1 and 5).

The floating-point error model itself (u = 2⁻⁵³, η, γ_n, directed rounding, rigorous sums and
dot products) is :mod:`lotteryproofs.rounding`, shared with interval propagation and the
checks; this module adds what only a certificate needs: bounds on the rounding of the
represented parameters read back from a ticket's masks and of its output scale Λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotteryproofs.network import Network
from lotteryproofs.rounding import (  # noqa: F401 (the certificate's rounding vocabulary)
    UNDERFLOW,
    UNIT_ROUNDOFF,
    dot_error,
    down,
    gamma_upper,
    iv53,
    sum_upper,
    up,
)
from lotteryproofs.ticket import Ticket


@dataclass(frozen=True)
class RoundingSlack:
    """Per target layer, bounds on |represented float − exact| (proofs/certificate-soundness.md).

    ``weights[t]`` (copies, out, in) bounds the error of positive, negative and gain;
    ``bias[t]`` (copies, out) that of bias; ``scale`` bounds |Π λ_l / Λ − 1|.
    """

    weights: tuple
    bias: tuple
    scale: float = 0.0


def rounding_slack(ticket: Ticket, represented_abs, *, depth_source: int) -> RoundingSlack:
    """Bounds on |represented float − exact| from absolute sums (proofs/certificate-soundness.md).

    Each represented entry is a sum of products of unit-scale parameters fl(θ/λ) (the bias
    divisor a product of up to L₀ scales), each product rounded once and the sum once, so
    |r − r*| ≤ γ_K·Σ|terms|·(1 + γ_K) with K = L₀ + 5; ``represented_abs`` (the read-back of the
    ticket with |θ|) bounds Σ|terms| from above.
    """
    k_terms = depth_source + 5
    gamma, _ = gamma_upper(k_terms)
    factor = float(up(gamma * 2.0))
    weights = tuple(
        up(factor * up(np.maximum(r.positive, 0) + np.maximum(r.negative, 0)))
        for r in represented_abs
    )
    bias = tuple(up(factor * np.abs(r.bias)) for r in represented_abs)
    scale_gamma, _ = gamma_upper(depth_source + 1)
    return RoundingSlack(weights, bias, float(up(2.0 * scale_gamma)))


def abs_ticket(ticket: Ticket) -> Ticket:
    """The ticket over the source of absolute values |θ| (its read-back bounds Σ|terms|)."""
    src = ticket.source
    abs_source = Network.from_layers([layer.absolute() for layer in src.layers], src.activations)
    return Ticket(abs_source, ticket.weight_masks, ticket.bias_masks, ticket.scale, ticket.metadata)
