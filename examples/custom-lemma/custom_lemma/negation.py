"""Closest subset sum through the negated instance (proofs/negation-symmetry.md)."""

from __future__ import annotations

import math

import numpy as np
from lotteryproofs import closest_subset_sum
from lotteryproofs.rss import SubsetSumResult


def closest_by_negation(values, target) -> SubsetSumResult:
    """The closest subset of (values, target), found by solving (−values, −target).

    |−t − Σ_S (−v_i)| = |t − Σ_S v_i| for every S, so the negated instance's optimum is an
    optimum here; value and error are recomputed for the original instance (exact sums).
    """
    values = np.asarray(values, dtype=np.float64)
    negated = closest_subset_sum(-values, -float(target))
    value = math.fsum(values[negated.indices])
    # |t − value| of an exactly rounded value: the negated error is the same real number
    return SubsetSumResult(negated.indices, value, negated.error, True, negated.n_used)
