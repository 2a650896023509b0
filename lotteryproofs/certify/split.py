"""Input splitting: certify a ticket on a box cut into cells until certified / observed ≤ a
requested factor (THEORY.md §11; low input dimension).

sup_D e = max over the cells C of sup_C e, so the largest of the cells' rigorous bounds
(:func:`certify.certificate.rigorous_bounds` on each cell: recursion, differential, linear
differential) is a rigorous bound on D. The cell with the largest bound is split in two along
its widest side; every new cell's centre and corners are evaluated and the best points
recomputed exactly, which can only raise the observed error. Stops when the ratio is reached,
at the time limit, or at ``max_cells``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import Ticket

from .bound import check_represented
from .candidates import rigorous_bounds, ticket_copies, ticket_layers
from .exact import exact_output_error, float_down
from .observed import Pair

#: the largest input dimension splitting is offered for (2^d corners per cell)
MAX_SPLIT_DIM = 8


@dataclass(frozen=True)
class SplitCertificate:
    """The certified bound over the box from its cells, and the observed error found."""

    certified: float
    observed: float
    factor: float
    reached: bool
    cells: int
    splits: int
    seconds: float
    #: the method that gave the largest cell bound
    certified_method: str
    worst_input: np.ndarray

    def to_json(self) -> dict:
        return {
            "factor": self.factor,
            "reached": self.reached,
            "certified_output_error": self.certified,
            "certified_method": f"input splitting ({self.certified_method} per cell)",
            "observed_output_error": self.observed,
            "cells": self.cells,
            "splits": self.splits,
            "seconds": round(self.seconds, 3),
        }


def _cell_bound(target, lo, hi, represented, slack, copies=None):
    table = rigorous_bounds(target, Box(lo, hi), represented, slack, copies=copies)
    which = min((k for k, v in table.items() if v is not None), key=table.get)
    return table[which], which


def split_certify(
    ticket: Ticket,
    target: Network,
    box: Box,
    factor: float,
    *,
    observed: float = 0.0,
    observed_x=None,
    time_limit: float = 60.0,
    max_cells: int = 20_000,
    represented=None,
    slack=None,
    copies=None,
) -> SplitCertificate:
    """Split ``box`` until (max cell bound) / observed ≤ ``factor`` or the limits; ``observed``
    (with its input ``observed_x``) is a known exact lower bound of the sup to start from;
    ``copies`` the per-copy weights (:func:`certify.candidates.ticket_copies`), read from the
    ticket when ``represented`` is not given."""
    factor = _validate.finite_scalar("the tightness factor", factor)
    if factor < 1:
        raise _validate.InputError(f"the tightness factor must be ≥ 1, got {factor}")
    if box.dim > MAX_SPLIT_DIM:
        raise _validate.InputError(
            f"input splitting needs input dimension ≤ {MAX_SPLIT_DIM}; this box has {box.dim}"
        )
    start = time.perf_counter()
    if represented is None:
        represented, slack = ticket_layers(ticket)
        copies = ticket_copies(ticket, represented)
    check_represented(target, represented)
    net = ticket.network
    pair = Pair(target, net, ticket.scale)
    d = box.dim
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=d)))
    best = float(observed)
    best_x = None if observed_x is None else np.asarray(observed_x, float)
    counter = itertools.count()
    heap: list = []

    def add(lo, hi, parent=(math.inf, None)):
        nonlocal best, best_x
        value, which = _cell_bound(target, lo, hi, represented, slack, copies)
        if parent[0] < value:  # the parent's bound holds on the cell too (the linear
            value, which = parent  # relaxations' slopes are not monotone in the box)
        pts = np.concatenate([lo + corners * (hi - lo), ((lo + hi) / 2)[None]])
        err = pair.errors(pts)
        k = int(np.argmax(err))
        if err[k] > best:
            exact = float_down(exact_output_error(target, net, ticket.scale, pts[k]))
            if exact > best:
                best, best_x = exact, pts[k].copy()
        heapq.heappush(heap, (-value, next(counter), lo, hi, which))

    add(box.lower.copy(), box.upper.copy())
    splits = 0
    while True:
        worst = -heap[0][0]
        reached = best > 0 and worst <= factor * best
        if (reached or len(heap) >= max_cells
                or time.perf_counter() - start > time_limit):
            break
        _, _, lo, hi, parent_which = heapq.heappop(heap)
        k = int(np.argmax(hi - lo))
        mid = (lo[k] + hi[k]) / 2
        if not lo[k] < mid < hi[k]:  # the cell cannot be halved in floating point
            heapq.heappush(heap, (-worst, next(counter), lo, hi, "recursion"))
            break
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[k], right_lo[k] = mid, mid
        add(lo, left_hi, (worst, parent_which))
        add(right_lo, hi, (worst, parent_which))
        splits += 1
    worst, _, _, _, which = heap[0]
    return SplitCertificate(
        certified=-worst, observed=best, factor=factor, reached=bool(reached), cells=len(heap),
        splits=splits, seconds=time.perf_counter() - start, certified_method=which,
        worst_input=best_x,
    )
