"""Numeric limits and working precisions that several modules must agree on (defined once).

* :data:`MAX_MASK_VALUES`: a subset is an int64 bit mask over its value array (bit i ↔
  values[i]; rss/_exact.py), so no exact search or coverage certificate may look at more than
  62 values (63 would reach the sign bit of the sums' index arithmetic).
* :data:`MPMATH_DPS`: the decimal digits of every mpmath evaluation (laws, bounds, stats);
  30 digits keep the 2⁻⁵³ float64 roundoff far below the last digit that decides a result.
"""

#: Longest value array an int64 bit-mask subset can index (rss/_exact.py).
MAX_MASK_VALUES = 62
#: Working precision (decimal digits) of the mpmath computations.
MPMATH_DPS = 30
