"""Profiles from the lotteryproofs pytest plugin (loaded by its pytest11 entry point)."""

import os


def pytest_configure(config):
    from hypothesis import settings

    # derandomised on CI, 50 examples and no deadline (numba compiles on first use) otherwise
    settings.load_profile("lotteryproofs-ci" if os.environ.get("CI") else "lotteryproofs-dev")
