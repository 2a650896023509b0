"""The suite runs with the toolkit's own pytest plugin (lp_rng, --lp-seed, hypothesis profiles):
``lotteryproofs-ci`` (derandomised) when CI is set, else ``lotteryproofs-dev``."""

import os

import pytest

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


@pytest.fixture(scope="session")
def exact_sup_oracle():
    """The exact-sup oracle (certify.sup_error_branch_and_bound: interval bounds on cells,
    exact values at their corners) proving sup ≤ ``threshold``, with a 16× cell budget for a
    case it leaves open at the first budget: its upper end falls only like 1/cells where a
    bound is within a few per cent of the sup (seed 2, l+1 on [0, 1]²: 1.086, 1.021, 1.005 ×
    the bound at 10⁵, 4·10⁵, 1.6·10⁶ cells; seed 20730, 2l on [−1, 0]²: 1.046 at 2·10⁵,
    proved at 8·10⁵). A bound below the sup still fails: the oracle's exact lower end is
    above it at any budget."""
    from lotteryproofs.certify import sup_error_branch_and_bound

    def run(target, network, scale, box, threshold, max_cells=200_000, open_tolerance=1e-2):
        """The enclosure; retried at 16× when it is open (not converged) with its upper end
        above threshold·(1 + open_tolerance), the most an open enclosure may exceed it by
        in the calling test."""
        enc = sup_error_branch_and_bound(target, network, scale, box, threshold=threshold,
                                         max_cells=max_cells)
        if not enc.converged and enc.upper > threshold * (1 + open_tolerance):
            enc = sup_error_branch_and_bound(target, network, scale, box,
                                             threshold=threshold, max_cells=16 * max_cells)
        return enc

    return run
