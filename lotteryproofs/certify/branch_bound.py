"""The exact sup of the error in low dimension, enclosed by branch and bound.

Cells of the input box on which no hidden pre-activation of either network crosses a kink of
its activation lie inside one linear region (the activations here are piecewise linear),
where the error's sup is attained at a corner; other cells are split. The cell bounds are the
FLOAT_INTERVAL arithmetic of :mod:`lotteryproofs.propagation` with every radius inflated to
cover its own rounding; corner values are recomputed exactly (:mod:`certify.exact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from lotteryproofs.network import Box, Network
from lotteryproofs.propagation import float_interval

from .exact import exact_output_error, float_down
from .observed import Pair

#: radius inflation r·(1 + 1e-12) + 1e-300 of every layer's image (its float rounding)
_CELL_ARITHMETIC = float_interval(1e-12, 1e-300)


def _cell_bounds(network: Network, lo: np.ndarray, hi: np.ndarray, scale: float = 1.0):
    """Float IBP of a batch of cells: output bounds (k, n_L) and whether every hidden neuron
    is stable (on one side of every kink of its activation) on the cell."""
    pre: list = []
    out_lo, out_hi = network.propagate((lo, hi), _CELL_ARITHMETIC, pre=pre)
    stable = np.ones(lo.shape[0], dtype=bool)
    for act, (zl, zh) in zip(network.activations, pre[:-1], strict=True):
        for k in act.kinks:
            stable &= np.all((zl >= k) | (zh <= k), axis=1)
    return out_lo / scale, out_hi / scale, stable
@dataclass(frozen=True)
class SupEnclosure:
    """lower ≤ sup_box ‖f_T − Λ⁻¹ f_S‖_∞ ≤ upper, from branch and bound over linear regions."""

    lower: float
    upper: float
    cells: int
    converged: bool


def sup_error_branch_and_bound(
    target: Network,
    ticket_network: Network,
    scale: float,
    box: Box,
    *,
    rtol: float = 1e-2,
    threshold: float | None = None,
    max_cells: int = 400_000,
) -> SupEnclosure:
    """Enclose the exact sup of the error for low-dimensional inputs (1-D and 2-D tests).

    Cells on which every hidden neuron of both networks keeps one sign (interval bounds) lie
    inside one linear region, where the error's sup is the max over the cell's corners, taken
    in exact rational arithmetic at the top corners; other cells get the interval bound
    max_o max(hi_T − lo_S, hi_S − lo_T) (inflated by 1e-9 relative for its float rounding) and
    are split along their widest side until that bound is ≤ the best corner value·(1 + rtol),
    or, with ``threshold``, ≤ threshold·(1 + 1e-8) (to prove sup ≤ threshold to the oracle's
    float resolution; the search stops early when a corner exceeds it).
    """
    d = box.dim
    corners = np.array(np.meshgrid(*([[0.0, 1.0]] * d), indexing="ij")).reshape(d, -1).T
    pair = Pair(target, ticket_network, scale)
    lo, hi = box.lower[None].copy(), box.upper[None].copy()
    best_pts = np.zeros((0, d))
    lower, ibp_done, cells = 0.0, 0.0, 0
    while lo.shape[0]:
        cells += lo.shape[0]
        tl, th, ts = _cell_bounds(target, lo, hi)
        sl, sh, ss = _cell_bounds(ticket_network, lo, hi, scale)
        ibp_upper = np.max(np.maximum(th - sl, sh - tl), axis=1) * (1 + 1e-9) + 1e-300
        pts = (lo[:, None, :] + corners[None] * (hi - lo)[:, None, :]).reshape(-1, d)
        corner_err = pair.errors(pts)
        top = corner_err >= corner_err.max() * (1 - 1e-9)
        best_pts = np.concatenate([best_pts, pts[top][:16]])
        lower = max(lower, float(corner_err.max()))
        corner_err = corner_err.reshape(lo.shape[0], -1).max(axis=1)
        linear = ts & ss
        # the interval bounds resolve the sup to ~1e-9 relative: prove ≤ threshold·(1 + 1e-8)
        limit = lower * (1 + rtol) if threshold is None else threshold * (1 + 1e-8)
        done = linear | (ibp_upper <= limit)
        pruned = done & ~linear
        if pruned.any():
            ibp_done = max(ibp_done, float(ibp_upper[pruned].max()))
        lo, hi = lo[~done], hi[~done]
        if threshold is not None and lower > threshold * (1 + 1e-9):  # float corners: slack
            break
        if lo.shape[0] and cells + 2 * lo.shape[0] > max_cells:
            ibp_done = max(ibp_done, float(ibp_upper[~done].max()))
            break
        if lo.shape[0]:
            rows = np.arange(lo.shape[0])
            axis = np.argmax(hi - lo, axis=1)
            mid = (lo[rows, axis] + hi[rows, axis]) / 2
            lo2, hi1 = lo.copy(), hi.copy()
            hi1[rows, axis] = mid
            lo2[rows, axis] = mid
            lo, hi = np.concatenate([lo, lo2]), np.concatenate([hi1, hi])
    # exact value of the best corners: the sup over linear cells is attained at one of them
    keep = pair.errors(best_pts)
    order = np.argsort(-keep, kind="stable")[:8]
    exact = max(exact_output_error(target, ticket_network, scale, best_pts[i]) for i in order)
    exact_max = float(exact)
    upper = max(
        exact_max if Fraction(exact_max) >= exact else float(np.nextafter(exact_max, np.inf)),
        ibp_done,
    )
    return SupEnclosure(float_down(exact), upper, cells, lo.shape[0] == 0)
