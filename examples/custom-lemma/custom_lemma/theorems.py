"""The lemma registered with `lotteryproofs check` (entry point group lotteryproofs.theorems).

Only the record types are imported from lotteryproofs (lotteryproofs.theorems), never its
registry: `lotteryproofs check --list` then shows the theorem with this package's name.
"""

from __future__ import annotations

from fractions import Fraction

from lotteryproofs.rss import brute_force_min_error, exact_subset_error
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem

from custom_lemma.negation import closest_by_negation


def check_negation_symmetry(ctx: CheckContext) -> CheckResult:
    """On random uniform pools: the negated instance's subset is optimal for the original
    (its exact error equals exhaustive enumeration's minimum) and its error is reported
    correctly rounded."""
    trials = 400 if ctx.thorough else 60
    gap, misreported = Fraction(0), 0
    for _ in range(trials):
        n = int(ctx.rng.integers(1, 13))
        values = ctx.rng.uniform(-1.0, 1.0, n)
        target = float(ctx.rng.uniform(-2.0, 2.0))
        result = closest_by_negation(values, target)
        exact = exact_subset_error(values, result.indices, target)
        gap = max(gap, exact - brute_force_min_error(values, target))
        misreported += result.error != float(exact)
    return CheckResult(
        passed=gap == 0 and misreported == 0,
        measured=f"{trials} instances: max gap to the enumerated optimum {float(gap):.3g}, "
                 f"{misreported} errors misreported",
        details={"trials": trials, "max_gap": float(gap), "misreported": misreported},
    )


THEOREMS = (
    Theorem(
        key="custom-lemma.negation-symmetry",
        title="closest subset sum is symmetric under negation",
        claim="S is closest to t under v iff closest to −t under −v, with the same error",
        theory="§3 (random subset sum)",
        document="proofs/negation-symmetry.md",
        code=("custom_lemma.negation:closest_by_negation",
              "custom_lemma.theorems:check_negation_symmetry"),
        tests=("tests/test_negation.py::test_negation_gives_the_closest_subset",),
        check=check_negation_symmetry,
    ),
)
