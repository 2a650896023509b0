"""Exact arithmetic on subset sums, compiled: correctly rounded sums and exact signs.

A subset is an int64 bit mask over a value array (bit i ↔ values[i], so at most 62 values).
Every decision the solvers take by comparing floating-point sums that lie within rounding of
each other is re-taken here exactly:

* :func:`fsum` is CPython's ``math.fsum`` (Shewchuk's partials, then the half-even
  correction), so it returns the sum of its terms correctly rounded to nearest. Round to
  nearest preserves sign and maps only an exact zero to zero (a nonzero sum of doubles is a
  multiple of the smallest subnormal), so ``sign(fsum(terms))`` is the exact sign.
* :func:`signed_error2` is ``target - Σ_S values`` correctly rounded; the reported error is
  its absolute value, i.e. |target − Σ_S values| rounded to nearest from the exact real number.
* :func:`better2` decides |t − Σ_S1| <, =, > |t − Σ_S2| exactly (ties: fewer values, then
  the smaller mask); :func:`within2` decides |t − Σ_S| ≤ tol exactly, :func:`gain_within2`
  Σ_S|v| ≤ |t| + c·tol.

These take a subset as two mask words (lo, hi): bits of values[0:62] and values[62:124] (the
cardinality search's subsets); the one-word searches pass hi = EMPTY.

tests/test_rss.py checks :func:`fsum` against ``math.fsum``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: int64 constants for the arguments of compiled callees: numba compiles a callee once per
#: argument type and types a literal int as a type of its own, so every call site passing 0
#: where another passes a variable cost one more specialisation (seconds on a fresh cache);
#: a numpy scalar global is typed int64
EMPTY = np.int64(0)  # the empty subset's mask
ONE = np.int64(1)
TWO = np.int64(2)


@njit(cache=True)
def fsum(terms, k, partials):
    """Correctly rounded sum of ``terms[:k]`` (a port of CPython's math.fsum, finite input)."""
    n_partials = 0
    for idx in range(k):
        x = terms[idx]
        i = 0
        for jj in range(n_partials):
            y = partials[jj]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        partials[i] = x
        n_partials = i + 1
    hi = 0.0
    if n_partials > 0:
        n = n_partials - 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        # half-even correction: the rest of the partials may push lo past a tie
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@njit(cache=True)
def popcount(mask):
    count = 0
    while mask:
        mask &= mask - 1
        count += 1
    return count


@njit(cache=True)
def _put_subset(values, mask, scale, terms, k):
    """Append scale·values[i] for every bit i of mask to terms (scale = ±1: exact)."""
    i = 0
    while mask:
        if mask & 1:
            terms[k] = scale * values[i]
            k += 1
        mask >>= 1
        i += 1
    return k


@njit(cache=True)
def _split(a):
    """Dekker's split: a = hi + lo exactly, each with at most 26 significant bits."""
    c = 134217729.0 * a
    hi = c - (c - a)
    return hi, a - hi


@njit(cache=True)
def two_product(a, b):
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker; no overflow or underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@njit(cache=True)
def abs_sum(values, mask):
    """Σ_S |values| in float (index order): the approximation the search filters with."""
    s = 0.0
    i = 0
    while mask:
        if mask & 1:
            s += abs(values[i])
        mask >>= 1
        i += 1
    return s


@njit(cache=True)
def scratch(n):
    """Term and partials buffers large enough for any comparison over n values."""
    return np.empty(2 * n + 4), np.empty(2 * n + 4)


@njit(cache=True)
def sign_of_sums(values, plus1, plus2, minus1, minus2, consts, n_consts, scale, terms, partials):
    """Exact sign of scale·(Σ_{plus1} + Σ_{plus2} − Σ_{minus1} − Σ_{minus2}) + Σ consts[:n_consts]
    (masks may be 0 for "no subset"; scale is a power of two)."""
    k = _put_subset(values, plus1, scale, terms, EMPTY)
    k = _put_subset(values, plus2, scale, terms, k)
    k = _put_subset(values, minus1, -scale, terms, k)
    k = _put_subset(values, minus2, -scale, terms, k)
    for i in range(n_consts):
        terms[k] = consts[i]
        k += 1
    s = fsum(terms, k, partials)
    if s > 0.0:
        return 1
    if s < 0.0:
        return -1
    return 0


@njit(cache=True)
def combination(values, plus, minus, consts, n_consts, scale, terms, partials):
    """scale·(Σ_plus − Σ_minus) + Σ consts[:n_consts], correctly rounded."""
    k = _put_subset(values, plus, scale, terms, EMPTY)
    k = _put_subset(values, minus, -scale, terms, k)
    for i in range(n_consts):
        terms[k] = consts[i]
        k += 1
    return fsum(terms, k, partials)


# ------------------------------------------------------------------- two-word subsets (≤ 124)
#: Bits per mask word of a two-word subset (lo, hi): value i is bit i of lo for i < 62, bit
#: i − 62 of hi otherwise (the cardinality search, _search.solve_card).
WORD_BITS = 62


@njit(cache=True)
def _put2(values, lo, hi, scale, terms, k):
    """Append scale·values[i] for every member i of the two-word subset (lo, hi)."""
    k = _put_subset(values, lo, scale, terms, k)
    if hi:
        k = _put_subset(values[WORD_BITS:], hi, scale, terms, k)
    return k


@njit(cache=True)
def within2(values, target, lo, hi, tol, terms, partials):
    """Exactly: |target − Σ_S values| ≤ tol for the two-word subset (lo, hi), i.e. −tol ≤ d
    and d ≤ tol for the exact d."""
    terms[0] = target
    k = _put2(values, lo, hi, -1.0, terms, ONE)
    terms[k] = -tol
    if fsum(terms, k + 1, partials) > 0.0:
        return False
    terms[0] = target
    k = _put2(values, lo, hi, -1.0, terms, ONE)
    terms[k] = tol
    return fsum(terms, k + 1, partials) >= 0.0


@njit(cache=True)
def gain_within2(values, target, lo, hi, slack_c, tol, terms, partials):
    """Exactly Σ_S|v| ≤ |target| + slack_c·tol (the bounded-gain constraint) for the
    two-word subset (lo, hi).

    slack_c·tol enters as the exact pair (p, e) of :func:`two_product`, so the sign of
    Σ_S |v| − |t| − p − e is the exact sign of the constraint's slack."""
    k = _put2(values, lo, hi, 1.0, terms, EMPTY)
    for q in range(k):
        terms[q] = abs(terms[q])
    p, e = two_product(slack_c, tol)
    terms[k] = -abs(target)
    terms[k + 1] = -p
    terms[k + 2] = -e
    return fsum(terms, k + 3, partials) <= 0.0


@njit(cache=True)
def signed_error2(values, target, lo, hi, terms, partials):
    """target − Σ_S values for a two-word subset, correctly rounded (its sign is exact)."""
    terms[0] = target
    k = _put2(values, lo, hi, -1.0, terms, ONE)
    return fsum(terms, k, partials)


@njit(cache=True)
def subset_value2(values, lo, hi, terms, partials):
    """Σ_S values for a two-word subset, correctly rounded."""
    k = _put2(values, lo, hi, 1.0, terms, EMPTY)
    return fsum(terms, k, partials)


@njit(cache=True)
def better2(values, target, new_lo, new_hi, old_lo, old_hi, terms, partials):
    """True iff the two-word subset ``new`` beats ``old`` (old_lo < 0: no old subset): the
    exact sign of |t − Σ_new| − |t − Σ_old| = s1·(t − Σ_new) − s2·(t − Σ_old), every term an
    exact ±value; then fewer values, then the smaller mask lo + 2^62·hi."""
    if old_lo < 0:
        return True
    s1 = 1.0 if signed_error2(values, target, new_lo, new_hi, terms, partials) >= 0.0 else -1.0
    s2 = 1.0 if signed_error2(values, target, old_lo, old_hi, terms, partials) >= 0.0 else -1.0
    terms[0] = s1 * target
    terms[1] = -s2 * target
    k = _put2(values, new_lo, new_hi, -s1, terms, TWO)
    k = _put2(values, old_lo, old_hi, s2, terms, k)
    diff = fsum(terms, k, partials)
    if diff != 0.0:
        return diff < 0.0
    pn = popcount(new_lo) + popcount(new_hi)
    po = popcount(old_lo) + popcount(old_hi)
    if pn != po:
        return pn < po
    if new_hi != old_hi:
        return new_hi < old_hi
    return new_lo < old_lo
