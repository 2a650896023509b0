"""pytest plugin of lotteryproofs (entry point group ``pytest11``): seeded randomness for tests.

* ``lp_rng`` fixture: a numpy Generator, an independent stream per test (the root seed and
  the test's node id), so a test's numbers do not change when other tests are added.
* ``--lp-seed N`` sets the root seed. Without it the seed is fresh entropy (0 when the ``CI``
  environment variable is set, like hypothesis's derandomised CI profile); it is printed in
  the session header and in the report of every failed test that used ``lp_rng``.
* hypothesis profiles ``lotteryproofs-ci`` (derandomised, no deadline, no database, prints
  the reproduction blob) and ``lotteryproofs-dev`` (50 examples, no deadline), loaded with
  hypothesis's own ``--hypothesis-profile NAME``.

Loaded in every pytest run of an environment where lotteryproofs is installed, so it imports
only numpy, and hypothesis when present.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is optional: the fixture works without it
    settings = None
else:
    settings.register_profile(
        "lotteryproofs-ci", derandomize=True, deadline=None, database=None, print_blob=True,
        max_examples=100, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "lotteryproofs-dev", max_examples=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])

_SEED = pytest.StashKey[int]()


def pytest_addoption(parser):
    group = parser.getgroup("lotteryproofs")
    group.addoption("--lp-seed", type=int, default=None, metavar="N",
                    help="root seed of the lp_rng fixture (default: fresh, or 0 under CI)")


def pytest_configure(config):
    seed = config.getoption("lp_seed", default=None)
    if seed is None:
        seed = 0 if os.environ.get("CI") else int(np.random.SeedSequence().entropy % 2**32)
    if seed < 0:
        raise pytest.UsageError(f"--lp-seed must be an integer >= 0, got {seed}")
    config.stash[_SEED] = seed


def pytest_report_header(config):
    seed = config.stash.get(_SEED, None)
    return None if seed is None else f"lotteryproofs: lp_rng seed {seed} (--lp-seed {seed})"


@pytest.fixture
def lp_rng(request) -> np.random.Generator:
    """A Generator seeded by (root seed, this test's node id)."""
    seed = request.config.stash[_SEED]
    key = (zlib.crc32(request.node.nodeid.encode()),)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "lp_rng" in getattr(item, "fixturenames", ()):
        seed = item.config.stash.get(_SEED, None)
        report.sections.append(("lotteryproofs", f"lp_rng root seed {seed}: rerun with "
                                                 f"--lp-seed {seed}"))
