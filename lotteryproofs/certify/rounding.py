"""The rounding terms of a certificate (proofs/certificate-soundness.md, Lemmas 1 and 5).

The floating-point error model itself (u = 2⁻⁵³, η, γ_n, directed rounding, rigorous sums and
dot products) is :mod:`lotteryproofs.rounding`, shared with interval propagation and the
checks; this module adds what only a certificate needs: bounds on the rounding of the
represented parameters read back from a ticket's masks and of its output scale Λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    return Ticket(ticket.source.absolute(), ticket.weight_masks, ticket.bias_masks,
                  ticket.scale, ticket.metadata)


def _abs_sum_up(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Upper bound of the exact |m| @ v per row (v ≥ 0 floats): fl plus its dot error."""
    s = np.abs(m) @ v
    return up(s + dot_error(s, max(m.shape[1], 1)))


def folded_matmul_error(terms, n_terms: int, v_sum: float) -> np.ndarray:
    """Per row, an upper bound of Σ_k v_k·|fl(a_k) − a_k| for coefficients a_k computed
    as BLAS products and sums of N = ``n_terms`` terms in all, a_k = Σ_(G,M) (G M)_k, each
    entry k weighted by the v of its term ((G, M, v) in ``terms``, v ≥ 0; ``v_sum`` ≥ Σ_k v_k
    over all entries). Higham's γ_N·Σ_j |G_j||M_jk| + 2Nη per entry, weighted and summed, is
    γ_N·Σ_(G,M,v) |G|·(|M| v) + 2Nη·Σ_k v_k: matrix-vector products instead of the entrywise
    bound of every coefficient."""
    gamma, _ = gamma_upper(n_terms)
    total = np.zeros(terms[0][0].shape[0])
    for g, m, v in terms:
        total = up(total + _abs_sum_up(g, _abs_sum_up(m, v)))
    return up(up(gamma * total) + up(up(2.0 * n_terms * UNDERFLOW) * v_sum))


def vector_sum_up(v: np.ndarray) -> float:
    """Upper bound of the exact sum of a vector of non-negative floats."""
    return float(sum_upper(v[None], 1)[0]) if v.size else 0.0
