"""Constructions the figures share: the smallest block multiplicity ρ that sufficed.

A construction with a given ρ either solves every RSS instance within ε' or records the
failures in its log (never hidden). :func:`sufficient_ticket` finds, by bisection over even ρ,
the smallest ρ in [lo, hi] whose construction — with the same seed at every ρ — has no failed
instance; the figures draw what these tickets achieve, beside the theory's a-priori ρ.
"""

from __future__ import annotations

from dataclasses import dataclass

from lotteryproofs.construct import construct
from lotteryproofs.construct.registry import CONSTRUCTIONS
from lotteryproofs.ticket import Ticket

#: δ recorded in the tickets' metadata (ρ is given, so it does not size anything here).
DELTA = 0.1


def biased_constructions() -> tuple:
    """The registered constructions that represent target biases (all but the zero-bias
    baseline), in registry order: the ones the error and size figures compare."""
    return tuple(c for c in CONSTRUCTIONS.values() if c.bound.biases)


@dataclass(frozen=True, eq=False)
class Sufficient:
    """The smallest ρ found without RSS failures (``ticket`` built with it), or ``None``."""

    method: object  # a method name or its Construction
    eps_param: float
    rho: int | None
    ticket: Ticket | None
    constructions: int


def _failures(ticket: Ticket) -> int:
    return int(ticket.metadata["rss_failures"])


def sufficient_ticket(target, method, eps_param: float, *, seed: int, domain=None,
                      lo: int = 4, hi: int = 256) -> Sufficient:
    """Bisection over even ρ ∈ [lo, hi] for the smallest failure-free construction.

    Failure-freeness is not exactly monotone in ρ (each ρ draws a different source from the
    same seed), so the result is "the smallest ρ the bisection met that sufficed", which the
    figures call the ρ that sufficed. ``None`` when even ρ = hi fails.
    """

    def build(rho):
        return construct(target, method, eps_param=eps_param, delta=DELTA, rho=rho,
                         rng=seed, domain=domain)

    lo, hi = lo + lo % 2, hi + hi % 2
    best = build(hi)
    count = 1
    if _failures(best):
        return Sufficient(method, eps_param, None, None, count)
    best_rho, lo_failed = hi, False
    while hi - lo > 2:
        mid = (lo + hi) // 2
        mid += mid % 2
        if mid >= hi:
            break
        ticket = build(mid)
        count += 1
        if _failures(ticket):
            lo, lo_failed = mid, True
        else:
            hi, best, best_rho = mid, ticket, mid
    if not lo_failed and lo < best_rho:
        ticket = build(lo)
        count += 1
        if not _failures(ticket):
            best, best_rho = ticket, lo
    return Sufficient(method, eps_param, best_rho, best, count)
