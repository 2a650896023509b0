"""A testing kit for lottery-ticket lemmas: assertions, hypothesis strategies, a pytest plugin.

    from lotteryproofs.testing import assert_subnetwork, assert_within_certificate
    from lotteryproofs.testing import strategies as lps    # needs hypothesis (test extra)

The assertions (:mod:`lotteryproofs.testing.assertions`) need only the toolkit; the
strategies (:mod:`lotteryproofs.testing.strategies`) need hypothesis; the pytest plugin
(:mod:`lotteryproofs.testing.plugin`, registered under the ``pytest11`` entry point) gives
the ``lp_rng`` fixture, ``--lp-seed`` and the ``lotteryproofs-ci`` hypothesis profile.
docs/testing.md walks through examples/custom-lemma, a third-party project that uses them.
"""

from lotteryproofs.testing.assertions import (
    assert_rss_optimal,
    assert_subnetwork,
    assert_within_certificate,
)

__all__ = ["assert_rss_optimal", "assert_subnetwork", "assert_within_certificate"]
