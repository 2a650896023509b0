"""Exact closest / sparsest / fixed-size subset-sum solvers, one instance or a batch.

An instance is a pool of values v_1 … v_n (float64) and a target t; a subset S ⊆ {0 … n−1}
approximates t by Σ_S v_i (THEORY.md §3, the random-subset-sum step of every construction).

Error definition: ``value = Σ_S v_i`` and ``error = |t − Σ_S v_i|``, each the exact real number
correctly rounded to float64 (Shewchuk/fsum, _exact.py); ``feasible`` (error ≤ tol) is decided
exactly, not on the rounded value. The solvers are exact: the error is the true optimum over
the subsets searched (meet in the middle with exact re-check of near-ties, _search.py), never
"small"; a failed instance is reported as ``feasible = False`` with the best subset found.

Which values are searched: values[:max_values] (all by default; at most 62, masks are int64).
With ``prefix=True`` the search grows a prefix m = ⌈log₂(1/tol)⌉ + 1, +2, +2, … (THEORY.md §3
counting limit: fewer values cannot cover [-1, 1] at tol) and stops at the first prefix that has
a subset within tol; the result is optimal over values[:n_used]. The prefix grows at most to
the largest search that fits in memory (and 62 values); a row still without a subset within
tol there is reported with ``feasible = False`` and that ``n_used``.

Bounded-gain sparsest (``gain_slack`` = c): minimal cardinality among the subsets with exact
error ≤ tol **and** Σ_S |v_i| ≤ |t| + c·tol (exact), the RSS step of the bounded-gain L+1
construction (proofs/bounded-gain-l+1.md).

Cardinality search (``by_cardinality=True`` with ``max_size`` = K, sparsest mode only): the
same bounded-gain or unconstrained sparsest optimum among the subsets of at most K values, over
up to 124 values (two mask words), with polynomial work per cardinality (_search.solve_card);
an infeasible row gets ``feasible = False`` and the empty subset.

Time O(2^{m/2}·m) and memory O(2^{m/2}) per instance in the worst case; sparsest mode stops
at the first feasible size and builds only the sums of subsets up to that size (_search.py).
Searches needing more memory than ``lotteryproofs._validate.DEFAULT_MEMORY_LIMIT_BYTES`` are
refused before allocating.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numba
import numpy as np

from lotteryproofs import _validate
from lotteryproofs._validate import InputError
from lotteryproofs.rss import _search

#: Largest c of the bounded-gain mode (c·tol must stay a product without overflow).
MAX_GAIN_SLACK = 1e12
#: Batches at least this large are solved on all numba threads, smaller ones in the caller's.
PARALLEL_MIN_ROWS = 64


@dataclass(frozen=True)
class SubsetSumResult:
    """One solved instance: ``indices`` (sorted int64 positions in values), ``value`` =
    Σ values[indices] and ``error`` = |target − value|, both exact sums correctly rounded,
    ``feasible`` (exact error ≤ tol; always True for closest without tol, fixed size),
    ``n_used`` = how many leading values were searched."""

    indices: np.ndarray
    value: float
    error: float
    feasible: bool
    n_used: int

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])


@dataclass(frozen=True)
class BatchSubsetSumResult:
    """A batch: ``chosen[b, i]`` iff values[b, i] is in row b's subset; per-row ``value``,
    ``error`` (exact, correctly rounded), ``feasible``, ``size`` and ``n_used``."""

    chosen: np.ndarray
    value: np.ndarray
    error: np.ndarray
    feasible: np.ndarray
    size: np.ndarray
    n_used: np.ndarray

    def row(self, b: int) -> SubsetSumResult:
        """Row b as a single-instance result."""
        return SubsetSumResult(
            np.flatnonzero(self.chosen[b]).astype(np.int64),
            float(self.value[b]),
            float(self.error[b]),
            bool(self.feasible[b]),
            int(self.n_used[b]),
        )


def _count(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise InputError(f"{name} must lie in {bounds}, got {value}")
    return value


def _lengths(lengths, n_rows: int, n_cols: int) -> np.ndarray:
    if lengths is None:
        return np.full(n_rows, n_cols, dtype=np.int64)
    array = np.asarray(lengths)
    if array.shape != (n_rows,):
        raise InputError(f"lengths must have shape ({n_rows},), got {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"lengths must be integers, got dtype {array.dtype}")
    if np.any(array < 1) or np.any(array > n_cols):
        raise InputError(f"lengths must lie in [1, {n_cols}] (the number of columns)")
    return array.astype(np.int64)


def _tols(tol, n_rows: int, *, required: bool) -> np.ndarray:
    if tol is None:
        if required:
            raise InputError("tol is required")
        return np.full(n_rows, -1.0)
    if np.ndim(tol) == 0:
        return np.full(n_rows, _validate.positive("tol", tol))
    array = _validate.finite_array("tol", tol, ndim=1)
    if array.shape != (n_rows,):
        raise InputError(f"tol must be a number or have shape ({n_rows},), got {array.shape}")
    if np.any(array <= 0):
        raise InputError(f"tol must be > 0, got {array[array <= 0][0]}")
    return array


def _gain_slack(gain_slack) -> float:
    """c of the bounded-gain mode (None: unconstrained, encoded as −1 for the kernel)."""
    if gain_slack is None:
        return -1.0
    c = _validate.finite_scalar("gain_slack", gain_slack)
    if not 0 <= c <= MAX_GAIN_SLACK:
        raise InputError(f"gain_slack must lie in [0, {MAX_GAIN_SLACK:g}], got {c}")
    return c


def _run(values, targets, tol, mode, *, lengths, size, max_size, prefix, max_values,
         gain_slack=None, by_cardinality=False):
    values = _validate.finite_array("values", values, ndim=2)
    targets = _validate.finite_array("targets", targets, ndim=1)
    n_rows, n_cols = values.shape
    if targets.shape[0] != n_rows:
        raise InputError(f"targets has {targets.shape[0]} entries but values has {n_rows} rows")
    lengths = _lengths(lengths, n_rows, n_cols)
    if not np.isfinite(np.abs(values).sum(axis=1).max() + np.abs(targets).max()):
        raise InputError("values and targets are too large: their sums overflow float64")
    tols = _tols(tol, n_rows, required=mode == _search.MODE_SPARSEST)
    gain_c = _gain_slack(gain_slack)
    if prefix and tol is None:
        raise InputError("prefix=True needs tol: the prefix grows until a subset is within tol")
    max_values = n_cols if max_values is None else _count("max_values", max_values, 1)
    used = np.minimum(lengths, max_values)
    if by_cardinality:
        return _run_card(values, lengths, targets, tols, max_size, prefix, max_values, used,
                         gain_c)
    if mode == _search.MODE_FIXED:
        size = _count("size", size, 0, int(used.min()))
    max_size = n_cols if max_size is None else min(n_cols, _count("max_size", max_size, 0))
    m_max = int(used.max())
    threads = min(numba.get_num_threads(), n_rows)
    if prefix:
        # the prefix stops growing at the largest search that fits (n_used says where)
        cap = min(m_max, _search.MAX_SEARCH_VALUES)
        limit = _validate.DEFAULT_MEMORY_LIMIT_BYTES
        while cap > 1 and threads * _search.search_bytes(cap) > limit:
            cap -= 1
        max_values, m_max = min(max_values, cap), min(m_max, cap)
    if m_max > _search.MAX_SEARCH_VALUES:
        raise InputError(
            f"an exact search over {m_max} values is refused (at most "
            f"{_search.MAX_SEARCH_VALUES}); pass max_values, or prefix=True with a tol"
        )
    _validate.fits_in_memory(
        threads * _search.search_bytes(m_max), f"exact subset-sum search over {m_max} values"
    )
    m_starts = np.ones(n_rows, dtype=np.int64)
    if prefix:
        m_starts = np.array([_search.prefix_start(t, n_cols) for t in tols], dtype=np.int64)
    chosen = np.zeros((n_rows, n_cols), dtype=bool)
    value = np.empty(n_rows)
    error = np.empty(n_rows)
    feasible = np.empty(n_rows, dtype=bool)
    n_used = np.empty(n_rows, dtype=np.int64)
    kernel = _search.solve_batch if n_rows >= PARALLEL_MIN_ROWS else _search.solve_batch_serial
    kernel(
        values, lengths, targets, tols, mode, size, max_size, bool(prefix), m_starts,
        max_values, chosen, value, error, feasible, n_used, gain_c,
    )
    return BatchSubsetSumResult(chosen, value, error, feasible, chosen.sum(axis=1), n_used)


def _run_card(values, lengths, targets, tols, max_size, prefix, max_values, used, gain_c):
    """The cardinality search (``by_cardinality=True``, sparsest mode): _search.solve_card."""
    if prefix:
        raise InputError("by_cardinality searches all values at once: prefix=True is refused")
    if max_size is None:
        raise InputError("by_cardinality needs max_size, the largest subset searched")
    max_size = _count("max_size", max_size, 0)
    n_rows, n_cols = values.shape
    m_max = int(used.max())
    if m_max > _search.MAX_CARD_VALUES:
        raise InputError(
            f"a cardinality search over {m_max} values is refused (at most "
            f"{_search.MAX_CARD_VALUES}: two 62-bit mask words); pass max_values")
    threads = min(numba.get_num_threads(), n_rows)
    k = min(max_size, m_max)
    _validate.fits_in_memory(
        threads * _search.card_search_bytes(m_max, k),
        f"cardinality subset-sum search over {m_max} values with subsets of at most {k}")
    chosen = np.zeros((n_rows, n_cols), dtype=bool)
    value = np.empty(n_rows)
    error = np.empty(n_rows)
    feasible = np.empty(n_rows, dtype=bool)
    n_used = np.empty(n_rows, dtype=np.int64)
    kernel = (_search.solve_card_batch if n_rows >= PARALLEL_MIN_ROWS
              else _search.solve_card_batch_serial)
    kernel(values, lengths, targets, tols, np.int64(k), np.int64(max_values), gain_c, chosen,
           value, error, feasible, n_used)
    return BatchSubsetSumResult(chosen, value, error, feasible, chosen.sum(axis=1), n_used)


def _single(values, target, tol, mode, **options) -> SubsetSumResult:
    values = _validate.finite_array("values", values, ndim=1)
    target = _validate.finite_scalar("target", target)
    result = _run(values[None, :], np.array([target]), tol, mode, lengths=None, **options)
    return result.row(0)


def closest_subset_sum(values, target, *, tol=None, prefix=False, max_values=None):
    """The subset S of values[:max_values] minimising |target − Σ_S values| exactly.

    Ties: fewer values, then the smaller bit mask. With ``tol``: ``feasible`` says whether the
    optimum is within tol; with ``prefix=True`` (needs tol) the prefix strategy of the module
    docstring stops at the first prefix whose optimum is within tol.
    """
    return _single(values, target, tol, _search.MODE_CLOSEST, size=0, max_size=None,
                   prefix=prefix, max_values=max_values)


def sparsest_subset_sum(values, target, tol, *, max_size=None, max_values=None, prefix=False,
                        gain_slack=None, by_cardinality=False):
    """A subset of minimal cardinality (≤ max_size) with exact error ≤ tol; among those the
    smallest error. If none exists: ``feasible = False`` and the exact closest subset of size
    ≤ max_size (never a silent success).

    Bounded-gain mode (``gain_slack`` = c ≥ 0): the same among the subsets that also satisfy
    Σ_S |v| ≤ |target| + c·tol, decided exactly (proofs/bounded-gain-l+1.md). If none exists:
    ``feasible = False`` and the **empty** subset (it satisfies the gain constraint; its
    error is |target|).

    Cardinality search (``by_cardinality=True``, needs ``max_size`` = K): the same optimum
    among the subsets of at most K values, found by enumerating cardinalities k = 1 … K
    (meet in the middle per k, _search.solve_card), so up to 124 values can be searched when
    K is small: the work is polynomial, O(C(n+1, ⌈k/2⌉) + C(n+1, ⌊k/2⌋ + 1)) per k, instead
    of 2^{n/2}. Ties as above (then the smaller mask Σ_{i∈S} 2^i). If no subset of at most K
    values qualifies: ``feasible = False`` and the **empty** subset, with or without a gain
    cap (no closest subset is computed). Refused, with the estimate, when its scratch
    (_search.card_search_bytes, per thread) exceeds the memory limit; ``prefix`` is refused.
    Over the same values and with K at least the size of the answer it returns the same
    subset as the exhaustive mode."""
    return _single(values, target, tol, _search.MODE_SPARSEST, size=0, max_size=max_size,
                   prefix=prefix, max_values=max_values, gain_slack=gain_slack,
                   by_cardinality=by_cardinality)


def fixed_size_subset_sum(values, target, size, *, max_values=None):
    """The subset with exactly ``size`` values minimising the exact error."""
    return _single(values, target, None, _search.MODE_FIXED, size=size, max_size=None,
                   prefix=False, max_values=max_values)


def closest_subset_sum_batch(values, targets, *, lengths=None, tol=None, prefix=False,
                             max_values=None):
    """:func:`closest_subset_sum` for every row b of values (B, n), over values[b, :lengths[b]];
    ``tol`` is a number or one per row. Rows are solved in parallel (numba threads)."""
    return _run(values, targets, tol, _search.MODE_CLOSEST, lengths=lengths, size=0,
                max_size=None, prefix=prefix, max_values=max_values)


def sparsest_subset_sum_batch(values, targets, tol, *, lengths=None, max_size=None,
                              prefix=False, max_values=None, gain_slack=None,
                              by_cardinality=False):
    """:func:`sparsest_subset_sum` for every row (see :func:`closest_subset_sum_batch`);
    ``gain_slack`` (one c for the batch) selects the bounded-gain mode, ``by_cardinality``
    (with ``max_size``) the cardinality search."""
    return _run(values, targets, tol, _search.MODE_SPARSEST, lengths=lengths, size=0,
                max_size=max_size, prefix=prefix, max_values=max_values,
                gain_slack=gain_slack, by_cardinality=by_cardinality)


def fixed_size_subset_sum_batch(values, targets, size, *, lengths=None, max_values=None):
    """:func:`fixed_size_subset_sum` for every row; size ≤ every row's length."""
    return _run(values, targets, None, _search.MODE_FIXED, lengths=lengths, size=size,
                max_size=None, prefix=False, max_values=max_values)
