"""Checks of the random-subset-sum claims (THEORY.md §3): the counting lower bound.

proofs/counting-lower-bound.md: n values have 2ⁿ subset sums, so their ε'-neighbourhoods cover
at most 2ⁿ·2ε' of the line; an interval [a, b] with 2ⁿ·2ε' < b − a is never covered, i.e. the
covering radius is r* ≥ (b − a)/2ⁿ⁺¹ for *every* choice of values. The check measures r* with
the exact coverage certificate (lotteryproofs.rss.coverage) on random pools of three laws and
on the dyadic pool that attains the bound, and measures how far above the limit covering
actually starts.
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs.laws import sample as sample_law
from lotteryproofs.rss import coverage_certificate
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem


def counting_limit_radius(n: int, interval=(-1.0, 1.0)) -> float:
    """(b − a)/2ⁿ⁺¹: no n values have a smaller covering radius on [a, b] (exact in float)."""
    a, b = interval
    return math.ldexp(b - a, -(n + 1))


def counting_limit_n(eps: float, interval=(-1.0, 1.0)) -> int:
    """Fewest values that can cover [a, b] at ε': the least n with 2ⁿ·2ε' ≥ b − a."""
    a, b = interval
    n = 0
    while math.ldexp(2 * eps, n) < b - a:
        n += 1
    return n


def dyadic_extremal_pool(n: int, interval=(-1.0, 1.0)) -> tuple[np.ndarray, tuple[float, float]]:
    """Values h·2^i (i < n) with h = (b − a)/2ⁿ; their sums are 0, h, …, (2ⁿ − 1)h. Shifted by
    −2^{n−1}h (the largest value made negative) they are centred: the interval
    [−2^{n−1}h − h/2, (2^{n−1} − ½)h] has radius exactly h/2 = (b − a)/2ⁿ⁺¹ (the bound is
    attained). Returns the values and that interval (same length b − a)."""
    a, b = interval
    h = math.ldexp(b - a, -n)
    values = np.array([math.ldexp(h, i) for i in range(n)])
    values[-1] = -values[-1]
    lo = -math.ldexp(h, n - 1) - h / 2
    return values, (lo, lo + (b - a))


def brute_force_radius(values, interval=(-1.0, 1.0)) -> float:
    """sup_{z ∈ [a, b]} min_S |z − Σ_S| by enumerating all 2ⁿ subset sums (an oracle
    independent of lotteryproofs.rss; n ≤ 16)."""
    a, b = interval
    sums = np.zeros(1)
    for v in np.asarray(values, dtype=np.float64):
        sums = np.concatenate([sums, sums + v])
    sums = np.sort(sums)
    # points of [a, b]: the ends, and the midpoints of consecutive sums meeting [a, b]
    pts = np.concatenate([[a, b], (sums[:-1] + sums[1:]) / 2])
    pts = pts[(pts >= a) & (pts <= b)]
    idx = np.searchsorted(sums, pts)
    lo = sums[np.clip(idx - 1, 0, sums.size - 1)]
    hi = sums[np.clip(idx, 0, sums.size - 1)]
    return float(np.max(np.minimum(np.abs(pts - lo), np.abs(pts - hi))))


def check_counting_lower_bound(ctx: CheckContext) -> CheckResult:
    """Certified radius ≥ (b − a)/2ⁿ⁺¹ on random pools; just below the limit never covered;
    the dyadic pool attains it; and the first covering n is measured for U[-1, 1]."""
    rng = ctx.rng
    trials = 90 if ctx.thorough else 30
    violations = 0
    min_ratio = math.inf
    for trial in range(trials):
        law = ("uniform", "normal", "product")[trial % 3]
        n = int(rng.integers(3, 15))
        values = sample_law(law, rng, n)
        limit = counting_limit_radius(n)
        cert = coverage_certificate(values, limit)
        radius = cert.radius
        min_ratio = min(min_ratio, radius / limit)
        # the theorem itself: at any ε' with 2ⁿ·2ε' < 2 (just below the limit) never covered
        below = float(np.nextafter(limit, 0.0))
        if radius < limit or coverage_certificate(values, below).covered:
            violations += 1
        # the certified radius against enumeration of all 2ⁿ sums (a wrong search fails)
        oracle = brute_force_radius(values)
        if not abs(radius - oracle) <= 1e-9 * max(oracle, 1e-300) + 4 * np.spacing(oracle):
            violations += 1
    attained = []
    for n in (1, 4, 9, 13):
        values, interval = dyadic_extremal_pool(n)
        cert = coverage_certificate(values, counting_limit_radius(n, interval), interval)
        attained.append(cert.covered and cert.radius == counting_limit_radius(n, interval))
    # how far above the limit covering starts: smallest prefix m covering [-1, 1] at ε'
    eps = 1e-3 if ctx.thorough else 1e-2
    n_min = counting_limit_n(eps)
    excess = []
    for _ in range(40 if ctx.thorough else 15):
        pool = sample_law("uniform", rng, n_min + 24)
        m = n_min
        while m < pool.size and not coverage_certificate(pool[:m], eps).covered:
            m += 1
        excess.append(m - n_min)
    # min(excess) ≥ 0 holds by construction (m starts at n_min): reported, not tested
    passed = violations == 0 and all(attained)
    return CheckResult(
        passed=passed,
        measured=(
            f"min certified r*/limit = {min_ratio:.3g} over {trials} pools ({violations} "
            f"violations); bound attained by dyadic pools: {sum(attained)}/{len(attained)}; "
            f"U[-1,1] covers [-1,1] at ε'={eps:g} from n = limit + {np.median(excess):.0f} "
            f"(median; range {min(excess)}–{max(excess)}, limit n = {n_min})"
        ),
        details={
            "trials": trials,
            "violations": violations,
            "min_radius_over_limit": min_ratio,
            "attained": attained,
            "eps": eps,
            "counting_limit_n": n_min,
            "first_covering_n_minus_limit": excess,
        },
    )


THEOREMS = (
    Theorem(
        key="rss.counting-lower-bound",
        title="counting lower bound for covering by subset sums",
        claim="no n values cover [a, b] at ε' if 2ⁿ·2ε' < b − a: covering radius ≥ (b−a)/2ⁿ⁺¹",
        theory="§3",
        document="proofs/counting-lower-bound.md",
        code=(
            "lotteryproofs.rss:coverage_certificate",
            "lotteryproofs.checks.rss:counting_limit_radius",
            "lotteryproofs.checks.rss:counting_limit_n",
            "lotteryproofs.checks.rss:dyadic_extremal_pool",
            "lotteryproofs.checks.rss:check_counting_lower_bound",
        ),
        tests=(
            "tests/test_rss.py::test_coverage_agrees_with_enumeration",
            "tests/test_rss.py::test_counting_lower_bound_on_random_pools",
            "tests/test_rss.py::test_dyadic_pool_attains_the_counting_bound",
        ),
        check=check_counting_lower_bound,
    ),
)
