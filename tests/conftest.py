"""The suite runs with the toolkit's own pytest plugin (lp_rng, --lp-seed, hypothesis profiles):
``lotteryproofs-ci`` (derandomised) when CI is set, else ``lotteryproofs-dev``."""

import os

# the commands' phase lines ("… certifying") off in every test and the commands it starts, whose
# stderr tests compare line by line; the interrupt test turns them back on to wait for one
os.environ["LOTTERYPROOFS_PROGRESS"] = "0"

# also active through the pytest11 entry point once installed; registered under its module
# name there too, so pytest loads it once
pytest_plugins = ["lotteryproofs.testing.plugin"]


def pytest_configure(config):
    from hypothesis import settings

    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        # pytest-xdist's controller: its workers, started after this hook with this environment,
        # are the parallelism, so numba and BLAS get one thread each in them (as the toolkit's
        # own worker processes do) instead of one per core in every worker. A variable the user
        # set wins.
        from lotteryproofs._worker_env import WORKER_ENVIRONMENT

        for name, value in WORKER_ENVIRONMENT.items():
            os.environ.setdefault(name, value)

    # the plugin registered the profiles when it was imported (above)
    settings.load_profile("lotteryproofs-ci" if os.environ.get("CI") else "lotteryproofs-dev")
