"""Cardinality-bounded sparsest search (``by_cardinality=True``) and the wide bounded-gain pools.

The engine's cardinality search (rss._search.solve_card) is compared with an independent
enumeration of every subset of at most K values (itertools), decided in rational arithmetic,
with and without the gain cap Σ_S|v| ≤ |t| + c·tol, on pools up to 18 values and, with small
K, up to 124 (two mask words). The construction's use of it (construct.common: bounded-gain
pools wider than MAX_SEARCHED) is compared with direct engine calls, and at ρ ≤ MAX_SEARCHED
with the exhaustive path it used before (the same tickets).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import draw_pool as pool

from lotteryproofs import _validate
from lotteryproofs._validate import InputError
from lotteryproofs.rss import _search, sparsest_subset_sum, sparsest_subset_sum_batch


def oracle(values, target, tol, max_size, gain_slack=None):
    """Every subset of at most max_size values (itertools), by size: the first size with a
    subset of exact error ≤ tol (and exact Σ|v| ≤ |t| + c·tol with a gain cap), among those
    the smallest exact error, then the smallest mask Σ 2^i. Sorted indices, or None."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    ft, ftol = Fraction(float(target)), Fraction(float(tol))
    fv = [Fraction(float(v)) for v in values]
    cap = None if gain_slack is None else abs(ft) + Fraction(float(gain_slack)) * ftol
    # float sums only preselect, with a margin far above their rounding
    margin = 64 * (n + 4) * 2.0**-53 * (np.abs(values).sum() + abs(target)
                                        + (gain_slack or 0.0) * tol)
    for k in range(min(max_size, n) + 1):
        idx = np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, max(k, 1))
        idx = idx[:, :k] if k else np.zeros((1, 0), np.int64)
        near = np.abs(target - values[idx].sum(axis=1)) <= tol + margin
        if cap is not None:
            near &= np.abs(values)[idx].sum(axis=1) <= float(cap) + margin
        best = None
        for r in np.flatnonzero(near):
            subset = [int(i) for i in idx[r]]
            err = abs(ft - sum((fv[i] for i in subset), Fraction(0)))
            if err > ftol:
                continue
            if cap is not None and sum((abs(fv[i]) for i in subset), Fraction(0)) > cap:
                continue
            key = (err, sum(1 << i for i in subset))
            if best is None or key < best[0]:
                best = (key, subset)
        if best is not None:
            return np.array(best[1], dtype=np.int64)
    return None


def exact_error(values, idx, target) -> Fraction:
    return abs(Fraction(float(target)) - sum((Fraction(float(values[i])) for i in idx),
                                             Fraction(0)))


def assert_matches(values, target, tol, max_size, gain_slack=None):
    got = sparsest_subset_sum(values, target, tol, max_size=max_size, gain_slack=gain_slack,
                              by_cardinality=True)
    want = oracle(values, target, tol, max_size, gain_slack)
    if want is None:
        # infeasible: reported failed, with the empty subset (never a silent success)
        assert not got.feasible
        assert got.size == 0 and got.value == 0.0 and got.error == abs(target)
    else:
        assert got.feasible
        np.testing.assert_array_equal(got.indices, want)
        assert got.error == float(exact_error(values, want, target))  # correctly rounded
    assert got.n_used == len(values)
    return got, want


@settings(max_examples=80, deadline=None)
@given(law=st.sampled_from(("uniform", "normal", "product", "grid")),
       n=st.integers(1, 18), seed=st.integers(0, 2**32 - 1), target=st.floats(-1, 1),
       tol=st.sampled_from((1e-3, 1e-2, 0.05, 0.2)), max_size=st.integers(0, 8),
       c=st.sampled_from((None, 0.0, 0.5, 3.0, 100.0)))
def test_cardinality_search_equals_oracle(law, n, seed, target, tol, max_size, c):
    assert_matches(pool(law, n, seed), target, tol, max_size, c)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_extra=st.integers(0, 12),
       c=st.sampled_from((0.0, 0.5, 3.0)))
def test_gain_cap_excludes_the_unconstrained_optimum(seed, n_extra, c):
    """A cancelling pair (p, w − p) reaches w with 2 values but gain 2p − w > |w| + c·tol;
    three same-sign values just below w/3 reach it within the cap: the capped search answers
    with 3 values where the unconstrained one answers with 2 (without extra values), both as
    the oracle says."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.05, 0.3)
    p = rng.uniform(0.6, 1.0)
    thirds = w / 3 - rng.uniform(1e-6, 1e-5, 3)
    values = rng.permutation(np.concatenate(([p, w - p], thirds, rng.uniform(-1, 1, n_extra))))
    free, free_want = assert_matches(values, w, 1e-3, 6)
    capped, capped_want = assert_matches(values, w, 1e-3, 6, c)
    assert capped_want is not None
    cap = Fraction(w) + Fraction(c) * Fraction(1e-3)
    gain = sum((abs(Fraction(float(values[i]))) for i in capped.indices), Fraction(0))
    assert gain <= cap
    if n_extra == 0:
        assert free.size == 2 and capped.size == 3


def test_infeasible_rows_are_failed_with_the_empty_subset():
    """Rows no subset of ≤ K values reaches (K too small; a gain cap too tight; values too
    small) come back failed with the empty subset, as the oracle has no answer for them."""
    rng = np.random.default_rng(3)
    values = rng.uniform(0.01, 0.02, 16)  # every sum of ≤ 3 is below 0.06
    assert_matches(values, 0.5, 1e-3, 3)
    assert_matches(values, 0.5, 1e-3, 3, 10.0)
    mixed = np.array([0.9, -0.85, 0.3, 0.31])
    got, want = assert_matches(mixed, 0.05, 1e-3, 4, 0.0)  # only the pair reaches 0.05
    assert want is None and not got.feasible
    got, want = assert_matches(mixed, 0.05, 1e-3, 4)
    assert want is not None and got.feasible
    batch = sparsest_subset_sum_batch(np.vstack([values, values]), np.array([0.5, 0.03]), 1e-3,
                                      max_size=3, by_cardinality=True)
    np.testing.assert_array_equal(batch.feasible, [False, True])
    assert not batch.chosen[0].any() and batch.error[0] == 0.5


def test_equals_the_exhaustive_sparsest_search():
    """Over the same ≤ 40 values, whenever the exhaustive sparsest subset has ≤ K values the
    cardinality search returns that very subset (same order of ties), bounded-gain or not;
    the exhaustive search fails exactly where the cardinality search fails at K ≥ its sizes."""
    rng = np.random.default_rng(11)
    for n, eps, c in ((20, 1e-3, None), (24, 1e-2, 0.5), (30, 1e-4, 2e4), (40, 1e-5, 2e5)):
        values = rng.uniform(-1, 1, (120, n))
        targets = rng.uniform(-1, 1, 120)
        old = sparsest_subset_sum_batch(values, targets, eps, gain_slack=c)
        new = sparsest_subset_sum_batch(values, targets, eps, gain_slack=c, max_size=8,
                                        by_cardinality=True)
        small = old.feasible & (old.size <= 8)
        assert small.sum() >= 50
        np.testing.assert_array_equal(new.chosen[small], old.chosen[small])
        np.testing.assert_array_equal(new.feasible, small)


def test_batch_equals_single_rows():
    """Rows of one batch (≥ PARALLEL_MIN_ROWS: the threaded kernel), lengths 1 … 124, are
    the single-instance answers."""
    rng = np.random.default_rng(5)
    rows = 70
    values = rng.uniform(-1, 1, (rows, 124))
    lengths = rng.integers(1, 125, rows)
    targets = rng.uniform(-1, 1, rows)
    for c in (None, 2e3):
        batch = sparsest_subset_sum_batch(values, targets, 1e-3, lengths=lengths, max_size=5,
                                          gain_slack=c, by_cardinality=True)
        assert batch.feasible.sum() > rows // 2
        for b in range(rows):
            one = sparsest_subset_sum(values[b, : lengths[b]], targets[b], 1e-3, max_size=5,
                                      gain_slack=c, by_cardinality=True)
            row = batch.row(b)
            np.testing.assert_array_equal(row.indices, one.indices)
            assert (row.value, row.error, row.feasible, row.n_used) == \
                (one.value, one.error, one.feasible, lengths[b])
            assert not batch.chosen[b, lengths[b]:].any()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(63, 124), seed=st.integers(0, 2**32 - 1),
       tol=st.sampled_from((1e-4, 1e-3, 1e-2)), max_size=st.integers(1, 3),
       c=st.sampled_from((None, 0.0, 50.0)))
def test_more_than_62_values_equals_oracle(n, seed, tol, max_size, c):
    """Two mask words: pools of 63–124 values against the oracle over subsets of ≤ 3; the
    target is planted on indices beyond 62 half the time, so the second word is exercised."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, n)
    if seed % 2:
        idx = rng.choice(np.arange(62, n), size=min(max_size, n - 62), replace=False)
        target = float(np.clip(values[idx].sum(), -1e3, 1e3))
    else:
        target = float(rng.uniform(-1, 1))
    assert_matches(values, target, tol, max_size, c)


def test_the_second_word_is_used():
    """Only values beyond index 62 can reach the target: the answer lies in the second word,
    with its values' exact sum."""
    values = np.full(100, 1e-3)
    values[70], values[99], values[64] = 0.25, 0.5, 0.125
    got = sparsest_subset_sum(values, 0.875, 1e-9, max_size=4, by_cardinality=True)
    np.testing.assert_array_equal(got.indices, [64, 70, 99])
    assert got.error == 0.0 and got.feasible


def test_refusals():
    values = np.random.default_rng(0).uniform(-1, 1, 30)
    with pytest.raises(InputError, match="max_size"):
        sparsest_subset_sum(values, 0.3, 1e-3, by_cardinality=True)
    with pytest.raises(InputError, match="prefix"):
        sparsest_subset_sum(values, 0.3, 1e-3, max_size=4, by_cardinality=True, prefix=True)
    with pytest.raises(InputError, match="at most 124"):
        sparsest_subset_sum(np.zeros(125), 0.3, 1e-3, max_size=2, by_cardinality=True)
    # 125 values with max_values is searched over the first 124
    got = sparsest_subset_sum(np.full(125, 0.1), 0.3, 1e-3, max_size=3, max_values=124,
                              by_cardinality=True)
    assert got.feasible and got.n_used == 124


def test_memory_guard(monkeypatch):
    """The search is refused, with its estimate, when card_search_bytes exceeds the limit;
    the estimate grows with the pool and with K."""
    assert _search.card_search_bytes(80, 8) > _search.card_search_bytes(80, 6) > \
        _search.card_search_bytes(40, 6)
    need = _search.card_search_bytes(50, 6)
    values = np.random.default_rng(0).uniform(-1, 1, 50)
    monkeypatch.setattr(_validate, "DEFAULT_MEMORY_LIMIT_BYTES", need - 1)
    with pytest.raises(InputError, match="cardinality subset-sum search over 50 values"):
        sparsest_subset_sum(values, 0.3, 1e-3, max_size=6, by_cardinality=True)
    monkeypatch.setattr(_validate, "DEFAULT_MEMORY_LIMIT_BYTES", need)
    assert sparsest_subset_sum(values, 0.3, 1e-3, max_size=6, by_cardinality=True).feasible


def test_card_search_bytes_covers_the_worst_case_lists():
    """The estimate counts the A side's two prefix levels and the B side's suffix lists at
    their unpruned sizes (binomials), 32 bytes an entry."""
    from math import comb

    for m, k in ((20, 1), (40, 5), (80, 8), (124, 7)):
        a, b = (k + 1) // 2, k // 2
        lists = comb(m + 1, a) + comb(m + 1, a - 1) + sum(comb(m, q) for q in range(b + 1))
        assert _search.card_search_bytes(m, k) >= _search.CARD_ENTRY_BYTES * lists


# ------------------------------------------------------------------------ the construction
def _instances(rng, n_rows, width, lengths):
    from lotteryproofs.construct import common

    values = rng.uniform(-1, 1, (n_rows, width))
    values[np.arange(width)[None, :] >= lengths[:, None]] = 0.0
    return common.Instances(
        layer=np.ones(n_rows, np.int64), row=np.arange(n_rows), col=np.zeros(n_rows, np.int64),
        part=0, copy=np.zeros(n_rows, np.int64), target=rng.uniform(-1, 1, n_rows),
        values=values, neurons=np.tile(np.arange(width), (n_rows, 1)), lengths=lengths)


def test_common_solve_dispatches_wide_pools_to_the_cardinality_search():
    """common.solve on a batch mixing pools of ≤ MAX_SEARCHED and wider ones: a narrow row is
    the exhaustive engine's answer, a wide one the cardinality search's with MAX_CARD_SIZE,
    each solved alone (first round of the ladder: tol = ε'(1 − margin)); failed iff the exact
    error exceeds ε'."""
    from lotteryproofs.construct import common

    rng = np.random.default_rng(2)
    eps = 1e-5
    lengths = rng.choice([12, 30, 40, 41, 60, 80], size=40)
    inst = _instances(rng, 40, 80, lengths)
    c = 2.0 / eps
    solved = common.solve(inst, eps, gain_slack=c)
    tol = eps * (1 - common.SOLVER_MARGIN)
    wide_seen = 0
    for m in range(inst.size):
        n = int(lengths[m])
        extra = ({"by_cardinality": True, "max_size": common.MAX_CARD_SIZE}
                 if n > common.MAX_SEARCHED else {})
        direct = sparsest_subset_sum(inst.values[m, :n], inst.target[m], tol, gain_slack=c,
                                     **extra)
        if direct.feasible:
            np.testing.assert_array_equal(np.flatnonzero(solved.chosen[m]), direct.indices)
            wide_seen += n > common.MAX_SEARCHED
        assert solved.failed[m] == (exact_error(inst.values[m], np.flatnonzero(
            solved.chosen[m]), inst.target[m]) > Fraction(eps))
    assert wide_seen >= 10


def test_gain_ladder_over_wide_pools_takes_the_cardinality_search():
    """common.solve with a gain ladder (c_1 < c_2) on pools wider than MAX_SEARCHED: each row
    is the first rung's answer where that rung is feasible (cardinality search, MAX_CARD_SIZE,
    solved alone), else the second rung's; the exhaustive engine is never given > 40 values."""
    from lotteryproofs.construct import common

    rng = np.random.default_rng(5)
    eps = 1e-5
    lengths = rng.choice([30, 60, 80], size=30)
    inst = _instances(rng, 30, 80, lengths)
    ladder = (0.25 / eps, 2.0 / eps)
    solved = common.solve(inst, eps, gain_slack=ladder)
    tol = eps * (1 - common.SOLVER_MARGIN)
    first_rung_wide = 0
    for m in range(inst.size):
        n = int(lengths[m])
        extra = ({"by_cardinality": True, "max_size": common.MAX_CARD_SIZE}
                 if n > common.MAX_SEARCHED else {})
        for rung, c in enumerate(ladder):
            direct = sparsest_subset_sum(inst.values[m, :n], inst.target[m], tol,
                                         gain_slack=c, **extra)
            if direct.feasible:
                np.testing.assert_array_equal(np.flatnonzero(solved.chosen[m]), direct.indices)
                first_rung_wide += rung == 0 and n > common.MAX_SEARCHED
                break
        assert solved.failed[m] == (exact_error(inst.values[m], np.flatnonzero(
            solved.chosen[m]), inst.target[m]) > Fraction(eps))
    assert first_rung_wide >= 5


def test_wide_failures_are_reported():
    """A wide bounded-gain pool that cannot reach its target (zero candidates) is failed with
    the empty subset after the whole relaxation ladder, never accepted."""
    from lotteryproofs.construct import common

    rng = np.random.default_rng(4)
    inst = _instances(rng, 3, 70, np.array([70, 70, 30]))
    inst.values[:2] *= 1e-9
    solved = common.solve(inst, 1e-5, gain_slack=2e5)
    assert solved.failed[:2].all()
    assert not solved.chosen[:2].any()
    np.testing.assert_array_equal(solved.error[:2], np.abs(inst.target[:2]))


def _old_solve(instances, eps_param, *, gain_slack=None):
    """construct.common.solve as it was before wide pools: the exhaustive engine on every
    row (the reference the ρ ≤ MAX_SEARCHED tickets must equal)."""
    from lotteryproofs.construct import common

    b, n = instances.values.shape
    chosen = np.zeros((b, n), bool)
    live = np.flatnonzero(instances.lengths > 0)
    tol = eps_param * (1 - common.SOLVER_MARGIN)
    rounds = 0
    while live.size:
        width = int(instances.lengths[live].max())
        assert width <= common.MAX_SEARCHED
        result = sparsest_subset_sum_batch(
            np.ascontiguousarray(instances.values[live, :width]), instances.target[live],
            tol, lengths=instances.lengths[live], gain_slack=gain_slack)
        chosen[live] = False
        chosen[live, :width] = np.asarray(result.chosen, bool)
        if gain_slack is None or rounds == common.RELAX_ROUNDS:
            break
        live = live[~np.asarray(result.feasible, bool)]
        tol, gain_slack, rounds = 2.0 * tol, gain_slack / 2.0, rounds + 1
    chosen &= np.arange(n)[None, :] < instances.lengths[:, None]
    achieved, error = common.exact_sums(instances.values, chosen, instances.target)
    return common.Solved(instances, chosen, achieved, error, error > eps_param)


def _ticket(rho, eps=1e-4):
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Box
    from lotteryproofs.targets import random_target

    target = random_target((3, 6, 5, 2), np.random.default_rng(1))
    return construct(target, "l+1-bounded", eps_param=eps, delta=0.1, rng=7,
                     domain=Box.cube(-1.0, 1.0, 3), rho=rho, rho_in=rho)


def _same_tickets(a, b):
    for x, y in zip(a.weight_masks + a.bias_masks, b.weight_masks + b.bias_masks, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    la, lb = a.rss_log, b.rss_log
    for field in ("layer", "row", "col", "part", "copy", "target", "achieved", "error",
                  "n_candidates", "failed", "chosen_ptr", "chosen"):
        np.testing.assert_array_equal(getattr(la, field), getattr(lb, field))


@pytest.mark.parametrize("rho", [24, 40])
def test_tickets_at_rho_up_to_40_equal_the_exhaustive_path(rho, monkeypatch):
    """At ρ = ρ_in ≤ MAX_SEARCHED no pool is wide: the ticket (masks and the whole RSS log)
    equals the one built with common.solve replaced by the exhaustive-only solve."""
    from lotteryproofs.construct import common

    new = _ticket(rho)
    monkeypatch.setattr(common, "solve", _old_solve)
    old = _ticket(rho)
    _same_tickets(new, old)
    assert int(new.rss_log.n_candidates.max()) <= rho


def test_wide_copy_pools_in_the_construction():
    """At ρ = 80 the bounded-gain copy-layer weight instances search 80 copies with subsets
    of ≤ MAX_CARD_SIZE, other pools stay at MAX_SEARCHED; the log's failed flags are the
    exact errors against ε', and every represented copy weight keeps its gain cap."""
    from lotteryproofs.construct import common, represented_layers
    from lotteryproofs.construct.bounded_gain import GAIN_BUDGET
    from lotteryproofs.ticket import PART_BIAS

    eps = 1e-4
    ticket = _ticket(80, eps)
    log = ticket.rss_log
    layer, part = np.asarray(log.layer), np.asarray(log.part)
    n_cand = np.asarray(log.n_candidates)
    sizes = np.diff(np.asarray(log.chosen_ptr))
    copy_w = (layer >= 1) & (part != PART_BIAS)
    assert n_cand[copy_w].max() == common.MAX_SEARCHED_CARD
    assert sizes[copy_w & (n_cand > common.MAX_SEARCHED)].max() <= common.MAX_CARD_SIZE
    assert n_cand[~copy_w].max() <= common.MAX_SEARCHED
    np.testing.assert_array_equal(log.failed, np.asarray(log.error) > eps)
    rep = represented_layers(ticket)
    from lotteryproofs.targets import random_target

    target = random_target((3, 6, 5, 2), np.random.default_rng(1))
    for t in range(1, target.depth):
        w = target.weights[t]
        allowed = np.where(np.abs(w) > eps, np.abs(w) + GAIN_BUDGET, 0.0)
        assert (np.asarray(rep[t].gain) <= allowed[None]).all()  # rounding is monotone


def test_counting_refusal_still_bounds_the_wide_search():
    """sizing.counting_refusal counts 2^MAX_SEARCHED subset sums per instance; the wide
    search reaches Σ_{k≤MAX_CARD_SIZE} C(MAX_SEARCHED_CARD, k) of them, which must not be more
    (else the refusal would refuse an ε' the wide copy pools can reach)."""
    from math import comb

    from lotteryproofs.construct import common

    reach = sum(comb(common.MAX_SEARCHED_CARD, k) for k in range(common.MAX_CARD_SIZE + 1))
    assert reach <= 2**common.MAX_SEARCHED
