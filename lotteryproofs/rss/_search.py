"""Compiled meet-in-the-middle search behind the subset-sum solvers (THEORY.md §3).

Algorithm (Horowitz–Sahni meet in the middle, grouped by cardinality). The m values are split
into halves A = values[:m//2] and B = values[m//2:]. Each half's subset sums are generated
lazily *by cardinality*, already sorted: G_j[p], the p-subset sums of the first j values, is
merge(G_{j−1}[p], G_{j−1}[p−1] + v_j), one level p at a time (no sort anywhere). A subset of
size k is a pair (X ∈ A_i, Y ∈ B_{k−i}); for fixed (i, k−i) the pair minimising |t − x − y|
is found by the two-pointer sweep over the two sorted lists in O(|A_i| + |B_{k−i}|).

* closest: each half fully sorted by merging L with L + v (O(2^{m/2})), one sweep:
  O(2^{m/2}) time and memory.
* fixed size k: the sweeps i = max(0, k − |B|) … min(k, |A|).
* bounded-gain sparsest (``gain_c`` = c ≥ 0): the sparsest search restricted to subsets with
  Σ_S|v| ≤ |t| + c·tol. Σ|v| is additive over the halves, so each pair within tol is tested
  on (sum, abs-sum); a half whose own abs-sum already exceeds the cap is skipped with its whole
  window (dominance: the other half only adds). The abs-sums are recomputed from the masks
  (only for pairs in a window), so the halves' generation is unchanged.
* sparsest: sizes k = 0, 1, 2, … in increasing order, one windowed pass per k over the pairs
  within tol, stopping at the first k that has one; only the groups of size ≤ k are ever
  built (O(Σ_{p≤k} C(m/2+1, p+1)) work), so easy instances (tol = 1e-2, k ≤ 3) touch a few
  hundred sums instead of 2^{m/2}.

Exactness. A float subset sum is a chain of at most m/2 additions, so an approximate error
|(t − x) − y| is within ``slack`` = 4(m + 4)·2⁻⁵³·(Σ|v| + |t|) (> γ_{m+3}·(Σ|v| + |t|)) of the
exact one. Closest and fixed size: a sweep returns the best approximate error e and every pair
with approximate error ≤ e + 2·slack (the exact optimum is among them) goes to a windowed pass;
sparsest: every pair with approximate error ≤ tol + slack does. In that pass a tol test or a
comparison that the approximations decide by more than the slack is certain; every other one
is decided in exact arithmetic (_exact.py). Ties in the exact error go to fewer values, then the
smaller mask. So the result is the exact optimum, not a near-tie.

Prefix strategy. With ``prefix`` the search runs on values[:m] for m = m₀, m₀ + 2, … (m₀ =
⌈log₂(1/tol)⌉ + 1, the counting limit of THEORY.md §3) and stops at the first m with a subset
within tol; the result is optimal over values[:n_used].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from lotteryproofs._limits import MAX_MASK_VALUES
from lotteryproofs.rounding import UNIT_ROUNDOFF as _U
from lotteryproofs.rss import _exact

MODE_CLOSEST, MODE_FIXED, MODE_SPARSEST = 0, 1, 2
#: Masks are int64 bit sets: no search may look at more values than this.
MAX_SEARCH_VALUES = MAX_MASK_VALUES


def prefix_start(tol: float, n: int) -> int:
    """First prefix length of the prefix strategy: ⌈log₂(1/tol)⌉ + 1, within [1, n]."""
    return int(min(n, max(1, math.ceil(math.log2(1.0 / tol)) + 1)))


def search_bytes(m: int) -> int:
    """Scratch bytes one search over m values allocates (sums and masks of both halves, two
    dynamic-programme levels of twice that size, merge buffers)."""
    h_a = m // 2
    return 96 * (2**h_a + 2 ** (m - h_a)) + 64 * m + 1024


@njit(cache=True)
def _merge_shifted(a_s, a_m, a0, a1, b_s, b_m, b0, b1, v, bit, out_s, out_m, w):
    """Merge the sorted a[a0:a1] with the sorted b[b0:b1] + v (masks | bit) into out from
    index w (stable: a first on ties); returns the index after the last written. ``out`` may
    be ``a``'s array when w ≥ a1 (each read precedes the write at its index)."""
    i, k = a0, b0
    while i < a1 and k < b1:
        shifted = b_s[k] + v
        if a_s[i] <= shifted:
            out_s[w], out_m[w] = a_s[i], a_m[i]
            i += 1
        else:
            out_s[w], out_m[w] = shifted, b_m[k] | bit
            k += 1
        w += 1
    while i < a1:
        out_s[w], out_m[w] = a_s[i], a_m[i]
        i += 1
        w += 1
    while k < b1:
        out_s[w], out_m[w] = b_s[k] + v, b_m[k] | bit
        k += 1
        w += 1
    return w


@njit(cache=True)
def _build(values, offset, h, sums, masks, goff, built, p_needed, lev_s, lev_m, lev_off):
    """Build the cardinality groups of one half up to p_needed; returns how many are built.

    Dynamic programme over prefixes, one cardinality level at a time: with G_j[p] the sorted
    p-subset sums of the half's first j values, G_j[p] = merge(G_{j−1}[p], G_{j−1}[p−1] + v_j)
    (adding a constant keeps a list sorted). Level p over all j costs C(h+1, p+1) merge steps
    and needs only level p − 1 (kept in row (p−1) % 2 of lev_*), so sizes can be added one at a
    time; group p of the half is G_h[p], copied to sums/masks[goff[p]:goff[p+1]]."""
    if built == 0:
        for j in range(h + 1):
            lev_off[0, j] = j
            lev_s[0, j] = 0.0
            lev_m[0, j] = 0
        lev_off[0, h + 1] = h + 1
        sums[0] = 0.0
        masks[0] = 0
        goff[0] = 0
        goff[1] = 1
        built = 1
    while built <= p_needed and built <= h:
        p = built
        src_s, src_m, src_off = lev_s[(p - 1) % 2], lev_m[(p - 1) % 2], lev_off[(p - 1) % 2]
        dst_s, dst_m, dst_off = lev_s[p % 2], lev_m[p % 2], lev_off[p % 2]
        w = np.int64(0)
        for j in range(h + 1):
            a0 = dst_off[j - 1] if j > 0 else 0
            a1 = w
            dst_off[j] = w
            if j < p:
                continue
            b0 = src_off[j - 1]
            b1 = src_off[j]
            # G_j[p] = merge(G_{j−1}[p] (just written, before w), G_{j−1}[p−1] + v_j)
            w = _merge_shifted(dst_s, dst_m, a0, a1, src_s, src_m, b0, b1,
                               values[offset + j - 1], np.int64(1) << (j - 1), dst_s, dst_m, w)
        dst_off[h + 1] = w
        start = dst_off[h]
        goff[p + 1] = goff[p] + (w - start)
        for q in range(w - start):  # element by element: see _build_sorted
            sums[goff[p] + q] = dst_s[start + q]
            masks[goff[p] + q] = dst_m[start + q]
        built += 1
    return built


@njit(cache=True)
def _build_sorted(values, offset, h, sums, masks, ts, tm):
    """All 2^h subset sums of one half, sorted (Horowitz–Sahni: merge L with L + v), O(2^h)."""
    sums[0] = 0.0
    masks[0] = 0
    size = np.int64(1)
    zero = np.int64(0)
    for j in range(h):
        _merge_shifted(sums, masks, zero, size, sums, masks, zero, size, values[offset + j],
                       np.int64(1) << j, ts, tm, zero)
        size *= 2
        # element by element: a slice assignment compiles numba's shape-checked broadcast
        # with its formatted error message, seconds of compiling on every fresh cache
        for q in range(size):
            sums[q] = ts[q]
            masks[q] = tm[q]


@njit(cache=True)
def _sweep(xs, x0, x1, ys, y0, y1, t):
    """min |t − x − y| over x ∈ xs[x0:x1], y ∈ ys[y0:y1], both sorted ascending."""
    best = np.inf
    i = x0
    j = y1 - 1
    while i < x1 and j >= y0:
        d = (t - xs[i]) - ys[j]
        ad = abs(d)
        if ad < best:
            best = ad
        if d > 0.0:
            i += 1
        else:
            j -= 1
    return best


@njit(cache=True)
def _scan(values, t, tol, xs, xm, x0, x1, ys, ym, y0, y1, shift, thr, slack, best, best_apx,
          terms, partials, gain_c=-1.0, gslack=0.0):
    """Every pair with approximate error ≤ thr, best first; returns (best mask, its approximate
    error), mask -1 if none. With tol > 0 only subsets exactly within tol qualify; with
    gain_c ≥ 0 only subsets with Σ_S|v| ≤ |t| + gain_c·tol (exactly) qualify.

    Approximate errors are within ``slack`` of the exact ones (approximate Σ|v| within
    ``gslack``), so a comparison, a tol test or a gain test that the approximations decide by
    more than that margin is certain; the rest are decided exactly (_exact.py)."""
    if x1 <= x0 or y1 <= y0:
        return best, best_apx
    cap = abs(t) + gain_c * tol
    lo = y1
    hi = y1
    for i in range(x0, x1):
        c = t - xs[i]  # non-increasing in i: both window ends only move down
        while hi > y0 and ys[hi - 1] > c + thr:
            hi -= 1
        if lo > hi:
            lo = hi
        while lo > y0 and ys[lo - 1] >= c - thr:
            lo -= 1
        gx = 0.0
        if gain_c >= 0.0 and lo < hi:
            # dominance: Σ|v| only grows with the other half, so a half over the cap is out
            gx = _exact.abs_sum(values, xm[i])
            if gx > cap + gslack:
                continue
        for j in range(lo, hi):
            e = abs(c - ys[j])
            mask = xm[i] | (ym[j] << shift)
            if tol > 0.0:
                if e > tol + slack:
                    continue
                if e >= tol - slack and not _exact.within(values, t, mask, tol, terms,
                                                           partials):
                    continue
            if gain_c >= 0.0:
                g = gx + _exact.abs_sum(values, ym[j] << shift)
                if g > cap + gslack:
                    continue
                if g >= cap - gslack and not _exact.gain_within(values, t, mask, gain_c, tol,
                                                                terms, partials):
                    continue
            if best < 0 or e < best_apx - 2.0 * slack:
                best, best_apx = mask, e
            elif e <= best_apx + 2.0 * slack and _exact.better(values, t, mask, best, terms,
                                                                partials):
                best, best_apx = mask, e
    return best, best_apx


@njit(cache=True)
def _sorted_abs(values, m):
    """|values[:m]| in increasing order, by insertion (m ≤ 62): the same array as
    np.sort(np.abs(values[:m])), whose quicksort costs seconds to compile."""
    out = np.empty(m)
    for i in range(m):
        x = abs(values[i])
        j = i
        while j > 0 and out[j - 1] > x:
            out[j] = out[j - 1]
            j -= 1
        out[j] = x
    return out


@njit(cache=True)
def solve(values, m, t, tol, mode, size, max_size, gain_c=-1.0):
    """One instance over values[:m]. Returns (mask, feasible).

    mode MODE_CLOSEST: exact argmin of |t − Σ_S| (feasible: within tol, or True if tol ≤ 0).
    mode MODE_FIXED: exact argmin over |S| = size.
    mode MODE_SPARSEST: smallest |S| ≤ max_size with exact error ≤ tol, best error among
    those; if none, feasible False and the exact closest subset with |S| ≤ max_size.
    With gain_c ≥ 0 (sparsest only, the bounded-gain mode): the same among the subsets with
    Σ_S|v| ≤ |t| + gain_c·tol; if none, feasible False and the empty subset (which satisfies
    the gain constraint).
    """
    terms, partials = _exact.scratch(m)
    h_a = m // 2
    h_b = m - h_a
    sa = np.empty(2**h_a)
    ma = np.empty(2**h_a, np.int64)
    ga = np.zeros(h_a + 2, np.int64)
    sb = np.empty(2**h_b)
    mb = np.empty(2**h_b, np.int64)
    gb = np.zeros(h_b + 2, np.int64)
    mag = abs(t)
    for i in range(m):
        mag += abs(values[i])
    slack = 4.0 * (m + 4) * _U * mag
    gslack = 4.0 * (m + 4) * _U * (mag + abs(gain_c) * tol)
    # int64 zeros, not literal 0s: numba compiles a callee once per argument type, and a
    # literal int is a type of its own (each extra specialisation costs seconds of compiling)
    zero = np.int64(0)
    built_a = zero
    built_b = zero
    ts = np.empty(2**h_b)
    tm = np.empty(2**h_b, np.int64)

    if mode == MODE_CLOSEST:
        _build_sorted(values, zero, h_a, sa, ma, ts, tm)
        _build_sorted(values, h_a, h_b, sb, mb, ts, tm)
        e = _sweep(sa, zero, 2**h_a, sb, zero, 2**h_b, t)
        best, _ = _scan(values, t, -1.0, sa, ma, zero, 2**h_a, sb, mb, zero, 2**h_b, h_a,
                        e + 2.0 * slack, slack, np.int64(-1), np.inf, terms, partials, -1.0,
                        0.0)
        feasible = True
        if tol > 0.0:
            feasible = _exact.within(values, t, best, tol, terms, partials)
        return best, feasible

    k_lo = size if mode == MODE_FIXED else 0
    k_hi = size if mode == MODE_FIXED else max_size
    if mode == MODE_SPARSEST and gain_c >= 0.0:
        # no subset of k values has Σ|v| below the k smallest |v|: sizes whose smallest
        # abs-sum exceeds the cap are out (approximate sums, so compared with the slack)
        smallest = _sorted_abs(values, m)
        total = 0.0
        fits = 0
        while fits < m and total + smallest[fits] <= abs(t) + gain_c * tol + gslack:
            total += smallest[fits]
            fits += 1
        k_hi = min(k_hi, fits)
    la_s = np.empty((2, 2 ** (h_a + 1)))
    la_m = np.empty((2, 2 ** (h_a + 1)), np.int64)
    la_off = np.empty((2, h_a + 2), np.int64)
    lb_s = np.empty((2, 2 ** (h_b + 1)))
    lb_m = np.empty((2, 2 ** (h_b + 1)), np.int64)
    lb_off = np.empty((2, h_b + 2), np.int64)
    for k in range(k_lo, k_hi + 1):
        built_a = _build(values, zero, h_a, sa, ma, ga, built_a, min(k, h_a), la_s, la_m,
                         la_off)
        built_b = _build(values, h_a, h_b, sb, mb, gb, built_b, min(k, h_b), lb_s, lb_m, lb_off)
        if mode == MODE_SPARSEST:
            # every subset within tol has approximate error ≤ tol + slack: one pass per size
            best = np.int64(-1)
            best_apx = np.inf
            for i in range(max(0, k - h_b), min(k, h_a) + 1):
                best, best_apx = _scan(values, t, tol, sa, ma, ga[i], ga[i + 1], sb, mb,
                                       gb[k - i], gb[k - i + 1], h_a, tol + slack, slack,
                                       best, best_apx, terms, partials, gain_c, gslack)
            if best >= 0:
                return best, True
    if mode == MODE_SPARSEST and gain_c >= 0.0:
        return np.int64(0), False
    # fixed size, or sparsest without a feasible size: the exact closest over sizes k_lo..k_hi
    errs = np.full(k_hi + 1, np.inf)
    for k in range(k_lo, k_hi + 1):
        for i in range(max(0, k - h_b), min(k, h_a) + 1):
            errs[k] = min(errs[k], _sweep(sa, ga[i], ga[i + 1], sb, gb[k - i], gb[k - i + 1], t))
    e = np.inf
    for k in range(k_lo, k_hi + 1):
        e = min(e, errs[k])
    best = np.int64(-1)
    best_apx = np.inf
    for k in range(k_lo, k_hi + 1):
        if errs[k] > e + 2.0 * slack:
            continue
        for i in range(max(0, k - h_b), min(k, h_a) + 1):
            best, best_apx = _scan(values, t, -1.0, sa, ma, ga[i], ga[i + 1], sb, mb, gb[k - i],
                                   gb[k - i + 1], h_a, e + 2.0 * slack, slack, best, best_apx,
                                   terms, partials, -1.0, 0.0)
    return best, mode == MODE_FIXED


@njit(cache=True)
def _solve_row(row, length, t, tol, mode, size, max_size, prefix, m_start, max_values,
               gain_c=-1.0):
    """One row, with the prefix strategy if asked; returns (mask, feasible, n_used)."""
    n = min(length, max_values)
    m = min(m_start, n) if prefix else n
    while True:
        k_max = min(max_size, m)
        mask, feasible = solve(row, m, t, tol, mode, min(size, m), k_max, gain_c)
        if feasible or m >= n:
            return mask, feasible, m
        m = min(n, m + 2)


@njit(cache=True)
def _fill_row(b, values, lengths, targets, tols, mode, size, max_size, prefix, m_starts,
              max_values, chosen, value, error, feasible, n_used, gain_c):
    """Solve row b and write its outputs: value = Σ_S values and error = |t − Σ_S values|,
    both correctly rounded (_exact.py)."""
    row = values[b]
    mask, ok, used = _solve_row(row, lengths[b], targets[b], tols[b], mode, size, max_size,
                                prefix, m_starts[b], max_values, gain_c)
    terms, partials = _exact.scratch(used)
    value[b] = _exact.subset_value(row, mask, terms, partials)
    error[b] = abs(_exact.signed_error(row, targets[b], mask, terms, partials))
    feasible[b] = ok
    n_used[b] = used
    for i in range(used):
        chosen[b, i] = (mask >> i) & 1 == 1


@njit(cache=True, parallel=True)
def solve_batch(values, lengths, targets, tols, mode, size, max_size, prefix, m_starts,
                max_values, chosen, value, error, feasible, n_used, gain_c=-1.0):
    """Every row of a batch, rows in parallel (numba threads); fills the output arrays."""
    for b in prange(values.shape[0]):
        _fill_row(b, values, lengths, targets, tols, mode, size, max_size, prefix, m_starts,
                  max_values, chosen, value, error, feasible, n_used, gain_c)


@njit(cache=True)
def solve_batch_serial(values, lengths, targets, tols, mode, size, max_size, prefix, m_starts,
                       max_values, chosen, value, error, feasible, n_used, gain_c=-1.0):
    """:func:`solve_batch` in the calling thread: for single instances and small batches,
    where waking the thread pool costs more than it saves (milliseconds on a busy machine)."""
    for b in range(values.shape[0]):
        _fill_row(b, values, lengths, targets, tols, mode, size, max_size, prefix, m_starts,
                  max_values, chosen, value, error, feasible, n_used, gain_c)
