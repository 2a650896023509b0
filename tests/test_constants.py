"""Monte Carlo constants (THEORY.md §3): estimates against exhaustive enumeration, determinism
whatever the worker count, the counting limit, the CLI and the authors' statistics.

The independent computation is brute force: every subset sum of the pool (2ⁿ of them, n small)
is enumerated here with numpy, the interval's cover by [s − ε', s + ε'] is walked in sorted
order, and the counts must equal the estimator's counts exactly.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.cli import main
from lotteryproofs.constants import (
    AUTHORS_STATISTICS,
    BLOCK_TRIALS,
    _block_draws,
    counting_limit,
    estimate_constants,
    replicate_authors,
)
from lotteryproofs.laws import LAWS, get_law


def _all_sums(values):
    sums = np.zeros(1)
    for v in values:
        sums = np.concatenate([sums, sums + v])
    return np.sort(sums)


def _covers(sums, eps, lo, hi):
    """[lo, hi] ⊆ ⋃ [s − ε, s + ε] for the sorted sums: the reach of the balls left of each
    sum (a running maximum) must meet the next ball until hi. Near-ties (1e-12) are refused."""
    reach = np.maximum.accumulate(np.concatenate([[lo], sums + eps]))[:-1]
    relevant = reach < hi
    margin = sums - eps - reach
    assert np.all(np.abs(margin[relevant]) > 1e-12), "near-tie: choose another seed"
    return bool(np.all(margin[relevant] <= 0) and max(reach[-1], sums[-1] + eps) >= hi)


def _pool(law, pools, i, n):
    """Trial i's pool from its first n candidates, built here independently of constants.py."""
    if law.pool_kind == "paired":
        return pools.values[i, : n // 2]
    return pools.values[i, :n][pools.usable[i, :n]]


@pytest.mark.parametrize("name", list(LAWS))
def test_p_and_q_equal_exhaustive_enumeration(name):
    eps, interval, trials = 0.1, (-1.0, 1.0), 80
    law = get_law(name)
    n_min, n_max = 2, 8 if law.pool_kind == "iid" else 12
    estimate = estimate_constants(name, eps, 0.1, trials=trials, seed=5, n_min=n_min,
                                  n_max=n_max)
    pools, targets = _block_draws(law, 5, 0, trials, interval)
    assert len(estimate.rows) >= 4
    for row in estimate.rows:
        covered = single = 0
        for i in range(trials):
            sums = _all_sums(_pool(law, pools, i, row.n))
            covered += _covers(sums, eps, *interval)
            single += bool(np.min(np.abs(targets[i] - sums)) <= eps)
        assert (row.cover_successes, row.single_successes) == (covered, single), row.n
        assert row.p_cover_ci[0] <= row.p_cover <= row.p_cover_ci[1]


def test_rows_are_monotone_and_single_dominates_cover():
    estimate = estimate_constants("product", 0.1, 0.2, trials=250, seed=2, n_max=16)
    p = [r.p_cover for r in estimate.rows]
    q = [r.q_single for r in estimate.rows]
    assert p == sorted(p) and q == sorted(q)
    assert all(qi >= pi for pi, qi in zip(p, q, strict=True))
    assert estimate.n_required is not None
    assert estimate.rows[-1].p_cover_ci[0] >= 0.8 > estimate.rows[-2].p_cover_ci[0]


def test_results_do_not_depend_on_the_worker_count():
    one = estimate_constants("sign-split", 0.2, 0.3, trials=BLOCK_TRIALS + 20, seed=11,
                             n_max=12, workers=1)
    two = estimate_constants("sign-split", 0.2, 0.3, trials=BLOCK_TRIALS + 20, seed=11,
                             n_max=12, workers=2)
    assert one == two


def test_a_larger_delta_is_a_prefix_of_the_scan():
    small = estimate_constants("normal", 0.1, 0.05, trials=300, seed=4)
    large = estimate_constants("normal", 0.1, 0.3, trials=300, seed=4)
    assert small.for_delta(0.3) == large


@settings(max_examples=5)
@given(eps=st.floats(0.08, 0.25), name=st.sampled_from(["uniform", "normal", "looks-linear"]))
def test_n_required_respects_the_counting_limit(eps, name):
    """2ⁿ·2ε' >= 2 is necessary (THEORY.md §3): no certified n below log₂(1/ε') values."""
    estimate = estimate_constants(name, eps, 0.3, trials=100, seed=0)
    assert estimate.counting_limit == pytest.approx(math.log2(1 / eps))
    assert estimate.n_required is not None
    values_needed = estimate.n_required * float(get_law(name).usable_per_candidate)
    assert values_needed >= estimate.counting_limit
    assert estimate.C == pytest.approx(estimate.n_required / math.log(1 / min(eps, 0.3)))


def test_too_few_trials_are_reported():
    estimate = estimate_constants("uniform", 0.2, 0.01, trials=100, seed=0, n_max=10)
    assert estimate.n_required is None and estimate.C is None
    assert "cannot certify" in estimate.note and "368" in estimate.note


def test_counting_limit_of_a_general_interval():
    assert counting_limit(0.01, (0.0, 1.0)) == pytest.approx(math.log2(1 / 0.02))


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="eps must be > 0"):
        estimate_constants("uniform", 0, 0.1)
    with pytest.raises(InputError, match="delta must lie in"):
        estimate_constants("uniform", 0.1, 1.5)
    with pytest.raises(InputError, match="LO < HI"):
        estimate_constants("uniform", 0.1, 0.1, interval=(1, -1))
    with pytest.raises(InputError, match="n_max"):
        estimate_constants("uniform", 0.1, 0.1, n_min=10, n_max=5)
    with pytest.raises(InputError, match="at most 62 values"):
        estimate_constants("normal", 0.1, 0.1, n_max=63)
    with pytest.raises(InputError, match="unknown law"):
        estimate_constants("cauchy", 0.1, 0.1)
    with pytest.raises(InputError, match="seed"):
        estimate_constants("uniform", 0.1, 0.1, seed=-1)


def test_cli_writes_the_design_json(tmp_path, capsys):
    out = tmp_path / "c.json"
    code = main(["constants", "--law", "uniform", "--eps", "0.2", "--delta", "0.3",
                 "--trials", "100", "--seed", "7", "--workers", "1", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    for key in ("law", "eps", "delta", "interval", "trials", "seed", "rows", "n_required", "C",
                "counting_limit"):
        assert key in data
    for key in ("n", "p_cover", "p_cover_ci", "q_single", "q_single_ci"):
        assert key in data["rows"][0]
    assert data["seed"] == 7 and data["law"] == "uniform"
    assert "n_required" in capsys.readouterr().out


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["constants", "--law", "uniform", "--eps", "-1", "--delta", "0.1",
                 "--trials", "10", "--workers", "1"]) == 2
    assert "eps must be > 0" in capsys.readouterr().err
    assert main(["constants", "--eps", "0.1"]) == 2


def _authors_brute_force(values, target, eps, max_size):
    """(feasible, size of the returned subset) of the authors' procedure, by enumeration."""
    n = values.shape[0]
    codes = np.arange(2**n)
    masks = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    sizes = masks.sum(axis=1)
    err = np.abs(target - masks.astype(float) @ values)
    allowed = sizes <= max_size
    ok = allowed & (err <= eps)
    if ok.any():
        return True, int(sizes[ok].min())
    best = np.flatnonzero(allowed & (err == err[allowed].min()))
    return False, int(sizes[best].min())


@pytest.mark.parametrize("name", sorted(AUTHORS_STATISTICS))
def test_authors_replication_against_enumeration(name):
    """The replication at n = 8 equals brute force on the same draws (failures and sizes)."""
    from lotteryproofs.constants import _authors_block

    block = _authors_block((name, 8, 0.02, 7, 3, 0, 150))
    feasible, size = block["feasible"], block["size"]
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(0,)))
    values = get_law(name).sample(rng, (150, 8))
    targets = rng.uniform(-1.0, 1.0, 150)
    for i in range(150):
        assert (bool(feasible[i]), int(size[i])) == _authors_brute_force(values[i], targets[i],
                                                                         0.02, 7)
    result = replicate_authors(name, trials=150, seed=3, n=8, eps=0.02, max_size=7)
    assert result.failures == int((~feasible).sum())
    assert result.mean_size == pytest.approx(size.mean())
    assert result.mean_size_successes == pytest.approx(size[feasible].mean())
