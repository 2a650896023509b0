"""Random-subset-sum engine (THEORY.md §3): exact solvers, batches, coverage certificates.

* :mod:`lotteryproofs.rss.solvers` — closest / sparsest (optionally bounded-gain: Σ_S|v| ≤
  |t| + c·tol) / fixed-size, one instance or a batch
  (meet in the middle, exact re-check of near-ties; algorithm in _search.py); the sparsest
  modes also by cardinality (``by_cardinality``: subsets of ≤ K of up to 124 values).
* :mod:`lotteryproofs.rss.coverage` — exact covering certificate of an interval.
* :mod:`lotteryproofs.rss.oracle` — exhaustive enumeration, the tests' independent oracle.
"""

# first: numba chooses the cache folder when a function is decorated (_numba_cache.py)
from lotteryproofs.rss import _numba_cache  # noqa: F401
from lotteryproofs.rss.coverage import CoverageCertificate, coverage_certificate
from lotteryproofs.rss.oracle import (
    bounded_gain_sparsest_brute_force,
    brute_force_min_error,
    brute_force_min_size,
    exact_subset_error,
    subset_sums_brute_force,
)
from lotteryproofs.rss.solvers import (
    BatchSubsetSumResult,
    SubsetSumResult,
    closest_subset_sum,
    closest_subset_sum_batch,
    fixed_size_subset_sum,
    fixed_size_subset_sum_batch,
    sparsest_subset_sum,
    sparsest_subset_sum_batch,
)

__all__ = [
    "BatchSubsetSumResult",
    "CoverageCertificate",
    "SubsetSumResult",
    "bounded_gain_sparsest_brute_force",
    "closest_subset_sum",
    "closest_subset_sum_batch",
    "brute_force_min_error",
    "brute_force_min_size",
    "coverage_certificate",
    "exact_subset_error",
    "fixed_size_subset_sum",
    "fixed_size_subset_sum_batch",
    "sparsest_subset_sum",
    "sparsest_subset_sum_batch",
    "subset_sums_brute_force",
]
