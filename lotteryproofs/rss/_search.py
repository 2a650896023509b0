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
                if e >= tol - slack and not _exact.within2(values, t, mask, _exact.EMPTY, tol,
                                                            terms, partials):
                    continue
            if gain_c >= 0.0:
                g = gx + _exact.abs_sum(values, ym[j] << shift)
                if g > cap + gslack:
                    continue
                if g >= cap - gslack and not _exact.gain_within2(
                        values, t, mask, _exact.EMPTY, gain_c, tol, terms, partials):
                    continue
            if best < 0 or e < best_apx - 2.0 * slack:
                best, best_apx = mask, e
            elif e <= best_apx + 2.0 * slack and _exact.better2(
                    values, t, mask, _exact.EMPTY, best, _exact.EMPTY, terms, partials):
                best, best_apx = mask, e
    return best, best_apx


@njit(cache=True)
def _sorted_abs(values, m):
    """|values[:m]| in increasing order, by insertion (m ≤ 124): the same array as
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
            feasible = _exact.within2(values, t, best, _exact.EMPTY, tol, terms, partials)
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
    value[b] = _exact.subset_value2(row, mask, _exact.EMPTY, terms, partials)
    error[b] = abs(_exact.signed_error2(row, targets[b], mask, _exact.EMPTY, terms, partials))
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


# ----------------------------------------------------------------- cardinality-bounded search
#: The cardinality search indexes subsets by two mask words (_exact.WORD_BITS bits each).
MAX_CARD_VALUES = 2 * _exact.WORD_BITS
#: Bytes per stored partial subset of the cardinality search: sum, Σ|v|, two mask words.
CARD_ENTRY_BYTES = 32


def card_search_bytes(m: int, max_size: int) -> int:
    """Scratch bytes one cardinality search (:func:`solve_card`) over m values with subsets of
    at most ``max_size`` allocates when nothing is pruned (the worst case): the A side's two
    prefix levels a − 2 and a − 1 (C(m+1, a−1) + C(m+1, a) entries, a = ⌈K/2⌉) and the B
    side's suffix lists of sizes 0 … b (Σ_{q≤b} C(m, q), b = ⌊K/2⌋), 32 bytes an entry."""
    k = max(int(max_size), 0)
    a, b = (k + 1) // 2, k // 2
    entries = math.comb(m + 1, a) + math.comb(m + 1, max(a - 1, 0))
    entries += sum(math.comb(m, q) for q in range(b + 1))
    return CARD_ENTRY_BYTES * entries + 24 * (m + 2) + 64 * (k + 4) + 1024


@njit(cache=True)
def _binom(n, k):
    """C(n, k) as int64 (0 outside 0 ≤ k ≤ n)."""
    if k < 0 or k > n:
        return np.int64(0)
    r = np.int64(1)
    for i in range(min(k, n - k)):
        r = r * (n - i) // (i + 1)
    return r


@njit(cache=True)
def _card_bit(i):
    """(lo, hi) words of the one-element subset {i}."""
    if i < _exact.WORD_BITS:
        return np.int64(1) << i, np.int64(0)
    return np.int64(0), np.int64(1) << (i - _exact.WORD_BITS)


@njit(cache=True)
def _card_level(values, m, q, ps, pg, pl, ph, poff, cap_hi):
    """Prefix level q of the A side from level q − 1 (ps, pg, pl, ph with offsets poff):
    G_j[q], the q-subsets of values[:j] sorted by sum, for j = 0 … m, stored at
    [off[j], off[j+1]); G_j[q] = merge(G_{j−1}[q], G_{j−1}[q−1] + v_{j−1}). A subset whose
    approximate Σ|v| exceeds cap_hi is dropped (every superset exceeds the cap too)."""
    size = _binom(m + 1, q + 1)
    s = np.empty(size)
    g = np.empty(size)
    lo = np.empty(size, np.int64)
    hi = np.empty(size, np.int64)
    off = np.zeros(m + 2, np.int64)
    w = np.int64(0)
    for j in range(m + 1):
        off[j] = w
        if j < q or j == 0:
            continue
        a, a1 = off[j - 1], w
        k, k1 = poff[j - 1], poff[j]
        v = values[j - 1]
        av = abs(v)
        bl, bh = _card_bit(j - 1)
        while a < a1 or k < k1:
            if k < k1 and pg[k] + av > cap_hi:
                k += 1
                continue
            if k >= k1 or (a < a1 and s[a] <= ps[k] + v):
                s[w], g[w], lo[w], hi[w] = s[a], g[a], lo[a], hi[a]
                a += 1
            else:
                s[w], g[w], lo[w], hi[w] = ps[k] + v, pg[k] + av, pl[k] | bl, ph[k] | bh
                k += 1
            w += 1
    off[m + 1] = w
    return s, g, lo, hi, off


@njit(cache=True)
def _card_extend(hs, hg, hl, hh, base, hlen, b, v, av, bl, bh, cap_hi):
    """Add value v (mask bit (bl, bh)) to the B side's suffix lists: for q = b … 1,
    H[q] ← merge(H[q], H[q−1] + v), in place from the back (region q holds H[q] at
    [base[q], base[q] + hlen[q])); subsets over cap_hi in approximate Σ|v| are dropped."""
    for q in range(b, 0, -1):
        src = base[q - 1]
        n_src = hlen[q - 1]
        keep = 0
        for k in range(n_src):
            if hg[src + k] + av <= cap_hi:
                keep += 1
        if keep == 0:
            continue
        dst = base[q]
        i = hlen[q] - 1
        w = hlen[q] + keep - 1
        k = n_src - 1
        while k >= 0:
            if hg[src + k] + av > cap_hi:
                k -= 1
                continue
            shifted = hs[src + k] + v
            if i >= 0 and hs[dst + i] > shifted:
                hs[dst + w], hg[dst + w] = hs[dst + i], hg[dst + i]
                hl[dst + w], hh[dst + w] = hl[dst + i], hh[dst + i]
                i -= 1
            else:
                hs[dst + w], hg[dst + w] = shifted, hg[src + k] + av
                hl[dst + w], hh[dst + w] = hl[src + k] | bl, hh[src + k] | bh
                k -= 1
            w -= 1
        hlen[q] += keep


@njit(cache=True)
def _card_scan(values, t, tol, gain_c, cap, slack, gslack, xs, xg, xl, xh, x0, x1, v, av,
               bl, bh, ys, yg, yl, yh, y0, y1, best_lo, best_hi, best_apx, terms, partials):
    """Pairs (X + {p}, Y) of one pivot p, X from xs[x0:x1] (sums before adding v = v_p),
    Y from ys[y0:y1], both sorted: every pair with approximate error ≤ tol + slack, tested
    exactly where the approximation is within its slack of tol or of the gain cap, the best
    kept in (best_lo, best_hi, best_apx) (best_lo −1: none yet)."""
    thr = tol + slack
    cap_hi = cap + gslack if gain_c >= 0.0 else np.inf
    lo_w = y1
    hi_w = y1
    for i in range(x0, x1):
        gx = xg[i] + av
        if gx > cap_hi:
            continue  # dominance: Y only adds to Σ|v|
        c = t - (xs[i] + v)  # non-increasing in i: both window ends only move down
        while hi_w > y0 and ys[hi_w - 1] > c + thr:
            hi_w -= 1
        if lo_w > hi_w:
            lo_w = hi_w
        while lo_w > y0 and ys[lo_w - 1] >= c - thr:
            lo_w -= 1
        for j in range(lo_w, hi_w):
            e = abs(c - ys[j])
            if e > thr:
                continue
            mlo = xl[i] | bl | yl[j]
            mhi = xh[i] | bh | yh[j]
            if e >= tol - slack and not _exact.within2(values, t, mlo, mhi, tol, terms,
                                                       partials):
                continue
            if gain_c >= 0.0:
                gs = gx + yg[j]
                if gs > cap_hi:
                    continue
                if gs >= cap - gslack and not _exact.gain_within2(values, t, mlo, mhi, gain_c,
                                                                  tol, terms, partials):
                    continue
            if best_lo < 0 or e < best_apx - 2.0 * slack:
                best_lo, best_hi, best_apx = mlo, mhi, e
            elif e <= best_apx + 2.0 * slack and _exact.better2(values, t, mlo, mhi, best_lo,
                                                                 best_hi, terms, partials):
                best_lo, best_hi, best_apx = mlo, mhi, e
    return best_lo, best_hi, best_apx


@njit(cache=True)
def solve_card(values, m, t, tol, max_size, gain_c=-1.0):
    """Cardinality-bounded sparsest subset over values[:m] (m ≤ 124). Returns (lo, hi,
    feasible): the two mask words of a subset S with |S| ≤ max_size and exact error
    |t − Σ_S v| ≤ tol of minimal |S|, the smallest exact error among those, then the smaller
    mask lo + 2^62·hi; with gain_c = c ≥ 0 only subsets with Σ_S|v| ≤ |t| + c·tol (exact)
    count. If no subset of at most max_size values qualifies: (0, 0, False), the empty
    subset, which the caller reports as failed.

    Exact enumeration by cardinality k = 0, 1, …, max_size (THEORY.md §3): a k-subset
    i_1 < … < i_k splits uniquely into A = {i_1 … i_a}, a = ⌈k/2⌉, and B = {i_{a+1} … i_k}
    at its pivot p = i_a. For every p the A-sets are G_p[a−1] + v_p (the (a−1)-subsets of
    values[:p], a prefix level, stored for all p) and the B-sets the ⌊k/2⌋-subsets of
    values[p+1:] (kept for the current p by a suffix recurrence, p = m−1 … a−1), both sorted
    by sum, so one two-pointer window per pivot visits every k-subset within tol exactly
    once. Work per k is O(C(m+1, a) + C(m+1, ⌊k/2⌋+1)) merge and sweep steps; the first k with
    a qualifying subset ends the search, so easy instances never build large levels.
    Exactness as for :func:`solve`: approximate errors are within ``slack`` (a chain of ≤ k
    additions), boundary cases are decided in exact arithmetic (_exact.py)."""
    terms, partials = _exact.scratch(max_size + 2)
    zero = np.int64(0)
    mag = abs(t)
    for i in range(m):
        mag += abs(values[i])
    slack = 4.0 * (max_size + 4) * _U * mag
    gslack = 4.0 * (max_size + 4) * _U * (mag + abs(gain_c) * tol)
    cap = abs(t) + gain_c * tol if gain_c >= 0.0 else np.inf
    cap_hi = cap + gslack if gain_c >= 0.0 else np.inf
    # k = 0: the empty subset (Σ|v| = 0 is within every cap)
    if _exact.within2(values, t, zero, zero, tol, terms, partials):
        return zero, zero, True
    k_hi = min(max_size, m)
    if gain_c >= 0.0:
        # no k-subset has Σ|v| below the k smallest |v|: sizes beyond that are out
        smallest = _sorted_abs(values, m)
        total = 0.0
        fits = 0
        while fits < m and total + smallest[fits] <= cap_hi:
            total += smallest[fits]
            fits += 1
        k_hi = min(k_hi, fits)
    # prefix level 0 of the A side: G_j[0] = {∅} for every j
    ls = np.zeros(m + 1)
    lg = np.zeros(m + 1)
    ll = np.zeros(m + 1, np.int64)
    lh = np.zeros(m + 1, np.int64)
    loff = np.arange(m + 2).astype(np.int64)
    level = 0
    for k in range(1, k_hi + 1):
        a = (k + 1) // 2
        b = k // 2
        while level < a - 1:
            level += 1
            ls, lg, ll, lh, loff = _card_level(values, m, level, ls, lg, ll, lh, loff, cap_hi)
        base = np.zeros(b + 2, np.int64)
        for q in range(b + 1):
            base[q + 1] = base[q] + _binom(m, q)
        hs = np.empty(base[b + 1])
        hg = np.empty(base[b + 1])
        hl = np.empty(base[b + 1], np.int64)
        hh = np.empty(base[b + 1], np.int64)
        hlen = np.zeros(b + 1, np.int64)
        hs[0], hg[0], hl[0], hh[0] = 0.0, 0.0, zero, zero
        hlen[0] = 1
        best_lo, best_hi, best_apx = np.int64(-1), zero, np.inf
        for p in range(m - 1, a - 2, -1):
            v = values[p]
            av = abs(v)
            bl, bh = _card_bit(p)
            if hlen[b] > 0 and loff[p + 1] > loff[p]:
                best_lo, best_hi, best_apx = _card_scan(
                    values, t, tol, gain_c, cap, slack, gslack, ls, lg, ll, lh, loff[p],
                    loff[p + 1], v, av, bl, bh, hs, hg, hl, hh, base[b], base[b] + hlen[b],
                    best_lo, best_hi, best_apx, terms, partials)
            if p > a - 1 and b > 0:
                _card_extend(hs, hg, hl, hh, base, hlen, b, v, av, bl, bh, cap_hi)
        if best_lo >= 0:
            return best_lo, best_hi, True
    return zero, zero, False


@njit(cache=True)
def _fill_card_row(b, values, lengths, targets, tols, max_size, max_values, gain_c, chosen,
                   value, error, feasible, n_used):
    """Row b of a cardinality search: the subset of :func:`solve_card` and its value and
    error, both correctly rounded (_exact.py)."""
    row = values[b]
    m = min(lengths[b], max_values)
    lo, hi, ok = solve_card(row, m, targets[b], tols[b], min(max_size, m), gain_c)
    terms, partials = _exact.scratch(max_size + 2)
    value[b] = _exact.subset_value2(row, lo, hi, terms, partials)
    error[b] = abs(_exact.signed_error2(row, targets[b], lo, hi, terms, partials))
    feasible[b] = ok
    n_used[b] = m
    for i in range(m):
        if i < _exact.WORD_BITS:
            chosen[b, i] = (lo >> i) & 1 == 1
        else:
            chosen[b, i] = (hi >> (i - _exact.WORD_BITS)) & 1 == 1


@njit(cache=True, parallel=True)
def solve_card_batch(values, lengths, targets, tols, max_size, max_values, gain_c, chosen,
                     value, error, feasible, n_used):
    """:func:`solve_card` on every row of a batch, rows in parallel (numba threads)."""
    for b in prange(values.shape[0]):
        _fill_card_row(b, values, lengths, targets, tols, max_size, max_values, gain_c, chosen,
                       value, error, feasible, n_used)


@njit(cache=True)
def solve_card_batch_serial(values, lengths, targets, tols, max_size, max_values, gain_c,
                            chosen, value, error, feasible, n_used):
    """:func:`solve_card_batch` in the calling thread (single instances, small batches)."""
    for b in range(values.shape[0]):
        _fill_card_row(b, values, lengths, targets, tols, max_size, max_values, gain_c, chosen,
                       value, error, feasible, n_used)
