"""Property tests of the lemma, with lotteryproofs' strategies, assertions and fixture."""

from hypothesis import given, settings
from hypothesis import strategies as st
from lotteryproofs.testing import assert_rss_optimal, assert_subnetwork, assert_within_certificate
from lotteryproofs.testing import strategies as lps
from lotteryproofs.theorems import CheckContext

from custom_lemma import closest_by_negation
from custom_lemma.theorems import THEOREMS


@given(pool=lps.subset_sum_pools(), target=st.floats(-2.0, 2.0))
def test_negation_gives_the_closest_subset(pool, target):
    # pools of every law of lotteryproofs.laws; a failure shrinks to the smallest pool
    result = closest_by_negation(pool.values, target)
    assert_rss_optimal(pool.values, target, None, result)


@settings(max_examples=20)
@given(case=lps.tickets(method="2l"))
def test_tickets_of_the_targets_the_lemma_serves_are_sound(case):
    assert_subnetwork(case.ticket, source=case.source)
    assert_within_certificate(case.ticket, case.target, case.box, points=32, rng=case.seed)


def test_registered_check_passes(lp_rng):
    # lp_rng: the plugin's seeded stream; a failure prints the seed (rerun with --lp-seed)
    (theorem,) = THEOREMS
    result = theorem.check(CheckContext(rng=lp_rng))
    assert result.passed, result.measured
