"""Exhaustive enumeration: the independent oracle the tests compare the solvers with."""

from __future__ import annotations

import numpy as np

from lotteryproofs import _validate
from lotteryproofs._validate import InputError

#: 2^20 subsets × 20 flags is the largest table the oracle builds (≈ 20 MiB of masks).
ORACLE_MAX_VALUES = 20


def subset_sums_brute_force(values):
    """Every subset sum and its membership mask, by plain enumeration (n ≤ 20).

    Returns ``(sums, masks)``: ``masks`` is bool (2ⁿ, n) with row c the binary digits of c
    (bit i ↔ values[i]); ``sums[c]`` is Σ values[masks[c]] accumulated in index order in
    float64, so within n·2⁻⁵³·Σ|v| of the exact sum — callers decide near-ties exactly.
    """
    values = _validate.finite_array("values", values, ndim=1)
    n = values.shape[0]
    if n > ORACLE_MAX_VALUES:
        raise InputError(
            f"brute force enumerates 2^n subsets; n = {n} exceeds {ORACLE_MAX_VALUES}"
        )
    codes = np.arange(2**n, dtype=np.int64)
    masks = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    sums = np.zeros(2**n)
    for i in range(n):
        sums = sums + np.where(masks[:, i], values[i], 0.0)
    return sums, masks
