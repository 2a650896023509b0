"""lotteryproofs.testing: the strategies draw only valid inputs and their edge cases, the
assertions pass on genuine results and catch broken ones (with the counterexample shrunk),
the pytest plugin seeds and reports, and strategies need hypothesis and say so."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, find, given, settings
from hypothesis import strategies as st

from lotteryproofs.construct import construct
from lotteryproofs.init import draw_network
from lotteryproofs.laws import get_law
from lotteryproofs.network import Box, Network
from lotteryproofs.rss import closest_subset_sum, sparsest_subset_sum
from lotteryproofs.rss.solvers import SubsetSumResult
from lotteryproofs.testing import assert_rss_optimal, assert_subnetwork, assert_within_certificate
from lotteryproofs.testing import strategies as lps
from lotteryproofs.ticket import Ticket

ROOT = Path(__file__).resolve().parents[1]
MANY = settings(max_examples=500, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
# shrinking as hypothesis does on a failing test, without the "explain" phase (5x the calls)
SHRINK = settings(database=None, max_examples=300, deadline=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])


def _collect(strategy, n=500) -> list:
    """``n`` examples of ``strategy`` as hypothesis generates them (under the active profile)."""
    seen = []

    @settings(MANY, max_examples=n)
    @given(strategy)
    def run(example):
        seen.append(example)

    run()
    return seen


def _has_equal_values(array: np.ndarray) -> bool:
    flat = np.asarray(array).ravel()
    return flat.size > np.unique(flat).size


# ------------------------------------------------------------------ valid inputs, edge cases
def test_networks_are_valid_and_cover_zeros_and_equal_values():
    nets = _collect(lps.networks())
    zeros = equal = 0
    for net in nets:
        rebuilt = Network(net.weights, net.biases)  # the validator, again
        assert rebuilt.widths == net.widths and 1 <= net.depth <= 3
        assert all(1 <= n <= 4 for n in net.widths)
        params = np.concatenate([p.ravel() for p in net.weights + net.biases])
        assert np.all(np.abs(params) <= 1.0)
        zeros += bool(np.any(params == 0.0))
        equal += _has_equal_values(params[params != 0.0])
    assert zeros >= 50 and equal >= 20, (zeros, equal)


def test_networks_draw_the_activations_asked_for():
    from lotteryproofs.activations import LeakyReLU

    for net in _collect(lps.networks(depth=2, activation="leaky_relu:0.1"), n=50):
        assert net.activations == (LeakyReLU(0.1),)
    names = {type(a).__name__ for net in _collect(lps.networks(
        depth=3, activation=st.sampled_from(["relu", "identity"])), n=100)
        for a in net.activations}
    assert names == {"ReLU", "Identity"}


def test_networks_honour_their_arguments():
    nets = _collect(lps.networks(widths=(3, 2, 1), zero_fraction=0.0, weight_range=(0.5, 2.0),
                                 bias_range=3.0), n=100)
    for net in nets:
        assert net.widths == (3, 2, 1)
        assert all(np.all((w >= 0.5) & (w <= 2.0)) for w in net.weights)
        assert all(np.all(np.abs(b) <= 3.0) for b in net.biases)


@pytest.mark.parametrize("kinds", [lps.BOX_KINDS, ("symmetric",), ("asymmetric",),
                                   ("non-negative",)])
def test_boxes_are_valid_and_touch_zero(kinds):
    found = _collect(lps.boxes(st.integers(1, 4), kinds=kinds))
    touching = 0
    for box in found:
        Box(box.lower, box.upper)  # the validator, again
        assert np.all(box.upper - box.lower >= 1e-3 * (1 - 1e-12))  # min_width, to rounding
        if kinds == ("symmetric",):
            assert np.array_equal(box.lower, -box.upper)
        if kinds == ("non-negative",):
            assert np.all(box.lower >= 0)
        touching += bool(np.any(box.lower == 0.0) or np.any(box.upper == 0.0))
    if kinds != ("symmetric",):
        assert touching >= 50, touching
    assert any(box.dim > 1 and not np.all(box.lower == box.lower[0]) for box in found)


@pytest.mark.parametrize("law", lps.POOL_LAWS)
def test_pools_lie_in_their_law_and_cover_zeros_and_ties(law):
    spec = get_law(law)
    pools = _collect(lps.subset_sum_pools(law=law))
    zeros = ties = 0
    for pool in pools:
        values = pool.values
        assert pool.law == spec.name and values.ndim == 1 and values.size >= 1
        assert np.all(np.isfinite(values))
        assert np.all((values >= spec.support[0]) & (values <= spec.support[1]))
        assert values.size <= spec.pool_size_max(pool.n)
        if spec.pool_kind == "iid":
            assert values.size == pool.n
        if spec.pool_kind == "paired":
            assert values.size == pool.n // 2
        zeros += bool(np.any(values == 0.0))
        ties += _has_equal_values(values)
    assert zeros >= 20 and ties >= 20, (zeros, ties)


def test_targets_and_boxes_match_dimensions_and_cover_edge_cases():
    zeros = touching = 0
    for case in _collect(lps.targets_and_boxes()):
        target, box, seed = case
        assert box.dim == target.widths[0] and 0 <= seed < 2**32
        Box(box.lower, box.upper)
        Network(target.weights, target.biases)
        zeros += any(np.any(p == 0.0) for p in target.weights + target.biases)
        touching += bool(np.any(box.lower == 0.0) or np.any(box.upper == 0.0))
    assert zeros >= 50 and touching >= 50, (zeros, touching)


def test_tickets_are_valid_constructions():
    methods, touching = set(), 0
    for case in _collect(lps.tickets()):
        touching += bool(np.any(case.box.lower == 0.0) or np.any(case.box.upper == 0.0))
        ticket = case.ticket
        assert isinstance(ticket, Ticket)
        Ticket(ticket.source, ticket.weight_masks, ticket.bias_masks, ticket.scale,
               ticket.metadata)  # the validator, again
        assert ticket.metadata["target_widths"] == list(case.target.widths)
        assert ticket.network.widths[0] == case.target.widths[0]
        assert ticket.network.widths[-1] == case.target.widths[-1]
        assert_subnetwork(ticket, source=case.source)
        methods.add(ticket.metadata["method"])
    from lotteryproofs.construct.registry import construction_names

    # every registered construction is drawn (the strategy picks from the registry)
    assert methods == set(construction_names()) and touching >= 50


def test_strategies_shrink_to_the_simplest_example():
    net = find(lps.networks(), lambda n: True, settings=SHRINK)
    assert net.widths == (1, 1) and net.weights[0][0, 0] == 0.0 and net.biases[0][0] == 0.0
    box = find(lps.boxes(2), lambda b: True, settings=SHRINK)
    assert np.array_equal(box.lower, [-1.0, -1.0]) and np.array_equal(box.upper, [1.0, 1.0])
    pool = find(lps.subset_sum_pools(law="uniform"), lambda p: True, settings=SHRINK)
    assert pool.n == 1 and pool.values.tolist() == [0.0]


@pytest.mark.parametrize("make", [
    lambda: lps.networks(activation="mish"), lambda: lps.networks(weight_range=(1, -1)),
    lambda: lps.networks(zero_fraction=2.0), lambda: lps.networks(depth=0),
    lambda: lps.networks(widths=(3,)), lambda: lps.boxes(2, kinds=("round",)),
    lambda: lps.boxes(2, magnitude=1e-4), lambda: lps.subset_sum_pools(law="cauchy"),
])
def test_bad_strategy_arguments_are_refused(make):
    from hypothesis.errors import InvalidArgument

    from lotteryproofs._validate import InputError

    with pytest.raises((InvalidArgument, InputError)):
        find(make(), lambda x: True, settings=settings(database=None, max_examples=1))


# ------------------------------------------------------------------ assertions: genuine pass
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=lps.tickets())
def test_genuine_tickets_pass_both_assertions(case):
    assert_subnetwork(case.ticket, source=case.source)
    assert_within_certificate(case.ticket, case.target, case.box, points=32)


@settings(max_examples=60, deadline=None)
@given(pool=lps.subset_sum_pools(), target=st.floats(-2, 2), tol=st.floats(1e-3, 0.5))
def test_solvers_pass_assert_rss_optimal(pool, target, tol):
    assert_rss_optimal(pool.values, target, None, closest_subset_sum(pool.values, target))
    assert_rss_optimal(pool.values, target, tol, sparsest_subset_sum(pool.values, target, tol))


# ------------------------------------------------------------------ assertions: broken caught
class NothingKept(Exception):
    pass


def _perturb_one_kept_weight(ticket: Ticket, delta: float = 0.5) -> Ticket:
    """The same ticket with one kept source weight moved by ``delta``: a broken construction."""
    weights = [np.array(w) for w in ticket.source.weights]
    kept = [i for i, m in enumerate(ticket.weight_masks) if m.any()]
    if not kept:
        raise NothingKept
    layer = kept[0]
    index = tuple(np.argwhere(ticket.weight_masks[layer])[0])
    weights[layer][index] += delta
    return dataclasses.replace(ticket, source=Network(tuple(weights), ticket.source.biases))


def _scale_last_kept_layer(ticket: Ticket, factor: float = 2.0) -> Ticket:
    """The same ticket with every kept weight of its last source layer multiplied by
    ``factor``: the represented last target layer's weights are multiplied by it too."""
    weights = [np.array(w) for w in ticket.source.weights]
    mask = ticket.weight_masks[-1]
    weights[-1][mask.astype(bool)] *= factor
    return dataclasses.replace(ticket, source=Network(tuple(weights), ticket.source.biases))


def _broken_2l(case, rho=16):
    genuine = construct(case.target, "2l", eps_param=0.05, delta=0.1, rng=case.seed,
                        domain=case.box, rho=rho)
    return _perturb_one_kept_weight(genuine)


def _caught_by_assert_subnetwork(case) -> bool:
    try:
        ticket = _broken_2l(case)
    except NothingKept:
        return False
    try:
        assert_subnetwork(ticket, source=draw_network("uniform", ticket.source.widths,
                                                      rng=case.seed))
    except AssertionError:
        return True
    return False


def test_broken_construction_is_caught_and_shrunk_to_a_tiny_target():
    shrunk = find(lps.targets_and_boxes(), _caught_by_assert_subnetwork, settings=SHRINK)
    target = shrunk.target
    assert target.depth <= 2 and max(target.widths) <= 2, target.widths
    ticket = _broken_2l(shrunk)
    with pytest.raises(AssertionError, match=r"weight\[.*\] \(kept\)"):  # the counterexample
        assert_subnetwork(ticket, source=draw_network("uniform", ticket.source.widths,
                                                      rng=shrunk.seed))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=lps.targets_and_boxes(widths=st.integers(1, 3)))
def test_broken_construction_is_caught_by_assert_within_certificate(case):
    genuine = construct(case.target, "2l", eps_param=0.05, delta=0.1, rng=case.seed,
                        domain=case.box, rho=32)
    assume(genuine.rss_log.failed.sum() == 0 and any(m.any() for m in genuine.weight_masks))
    assert_within_certificate(genuine, case.target, case.box, points=16)
    # Doubling the kept weights of the last source layer doubles every represented weight of
    # the last target layer (2L: w = sum of kept v_s u_s over the copies, v_s in that layer).
    # With |e| <= eps' before, the error becomes |w + 2e| >= |w| - 2 eps' > eps' wherever
    # |w| > 3 eps': a broken ticket in effect, which the read-back must catch. (Moving the kept
    # weights by a constant instead can cancel over copies of both signs.)
    last = case.target.weights[-1]
    assume(np.abs(last).max() > 3 * 0.05 * 1.01)
    with pytest.raises(AssertionError, match="exceeds ε'"):
        assert_within_certificate(_scale_last_kept_layer(genuine), case.target, case.box,
                                  points=16)


def test_assert_subnetwork_message_names_the_entry():
    target = Network((np.array([[0.5, -0.25]]),), (np.array([0.75]),))
    genuine = construct(target, "2l", eps_param=0.05, delta=0.1, rng=3, rho=16)
    source = draw_network("uniform", genuine.source.widths, rng=3)
    assert_subnetwork(genuine, source=source)
    broken = _perturb_one_kept_weight(genuine, 0.125)
    layer = next(i for i, m in enumerate(genuine.weight_masks) if m.any())
    index = tuple(int(i) for i in np.argwhere(genuine.weight_masks[layer])[0])
    with pytest.raises(AssertionError) as info:
        assert_subnetwork(broken, source=source)
    expected = f"layer {layer} weight[{', '.join(map(str, index))}] (kept)"
    assert expected in str(info.value)
    assert repr(float(source.weights[layer][index])) in str(info.value)


def test_assert_subnetwork_checks_masks_and_products_of_any_ticket_like_object():
    target = Network((np.array([[0.5]]),), (np.array([0.25]),))
    ticket = construct(target, "2l", eps_param=0.05, delta=0.1, rng=1, rho=8)
    # a user's construction may hand back its own record: duck typing, nothing trusted
    masks = list(ticket.weight_masks)
    masks[0] = np.where(masks[0], 2, 0)
    not_binary = SimpleNamespace(source=ticket.source, weight_masks=tuple(masks),
                                 bias_masks=ticket.bias_masks, network=ticket.network)
    with pytest.raises(AssertionError, match="is not 0/1"):
        assert_subnetwork(not_binary)
    weights = [np.array(w) for w in ticket.network.weights]
    layer = next(i for i, m in enumerate(ticket.weight_masks) if not m.all())
    index = tuple(np.argwhere(~ticket.weight_masks[layer])[0])
    weights[layer][index] = 0.5  # a pruned position carries a value
    not_product = SimpleNamespace(source=ticket.source, weight_masks=ticket.weight_masks,
                                  bias_masks=ticket.bias_masks,
                                  network=Network(tuple(weights), ticket.network.biases))
    with pytest.raises(AssertionError, match="not source × mask.*× mask 0"):
        assert_subnetwork(not_product)
    wrong_shape = SimpleNamespace(source=ticket.source, weight_masks=ticket.weight_masks[:1],
                                  bias_masks=ticket.bias_masks, network=ticket.network)
    with pytest.raises(AssertionError, match="weight masks for"):
        assert_subnetwork(wrong_shape)


def test_assert_within_certificate_catches_points_above_the_bound():
    target = Network((np.array([[0.5, -0.5]]),), (np.array([0.25]),))
    box = Box.cube(-1.0, 1.0, 2)
    ticket = construct(target, "2l", eps_param=0.05, delta=0.1, rng=5, rho=16)
    from lotteryproofs.certify import certify

    cert = certify(ticket, target, box, n_samples=64)
    assert_within_certificate(ticket, target, box, certificate=cert)
    # a certificate that claims less than the truth: the corners/attack expose it
    lying = dataclasses.replace(cert, certified_output_error=cert.observed_output_error / 4)
    with pytest.raises(AssertionError, match="exceeds the certified bound"):
        assert_within_certificate(ticket, target, box, certificate=lying, attack=False)


def test_assert_rss_optimal_catches_a_suboptimal_subset():
    from lotteryproofs.rss import brute_force_min_size

    values = np.array([0.5, 0.25, -0.125, 0.625])
    target = 0.875  # = 0.25 + 0.625 exactly
    assert_rss_optimal(values, target, None, closest_subset_sum(values, target))
    worse = SubsetSumResult(np.array([0]), 0.5, 0.375, True, 4)
    with pytest.raises(AssertionError, match="enumeration finds 0.0"):
        assert_rss_optimal(values, target, None, worse)
    sparse = sparsest_subset_sum(values, target, 1e-9)
    assert_rss_optimal(values, target, 1e-9, sparse)
    k = brute_force_min_size(values, target, 1e-9)
    everything = np.arange(4)
    total = math.fsum(values)
    bigger = SubsetSumResult(everything, total, float(abs(Fraction(target) - Fraction(total))),
                             abs(target - total) <= 1e-9, 4)
    with pytest.raises(AssertionError, match=f"has {k} values"):
        assert_rss_optimal(values, target, 1e-9, bigger)
    misreported = dataclasses.replace(sparse, error=1e-3)
    with pytest.raises(AssertionError, match="not the exact"):
        assert_rss_optimal(values, target, 1e-9, misreported)


# ------------------------------------------------------------------ optional hypothesis
def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                          timeout=120)


def test_strategies_without_hypothesis_name_the_extra():
    done = _python("""
        import sys
        sys.modules["hypothesis"] = None  # as if hypothesis were not installed
        import lotteryproofs.testing  # the assertions need no hypothesis
        try:
            import lotteryproofs.testing.strategies
        except ImportError as exc:
            print(exc)
        else:
            print("imported")
    """)
    assert done.returncode == 0, done.stderr
    assert "needs hypothesis" in done.stdout and "lotteryproofs[test]" in done.stdout


# ------------------------------------------------------------------ the pytest plugin
def _pytest(tmp_path, test_source: str, *args) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(test_source))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "lotteryproofs.testing.plugin",
                           "-q", "-p", "no:cacheprovider", str(tmp_path / "test_sample.py"),
                           *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_plugin_lp_rng_is_seeded_printed_and_settable(tmp_path):
    source = """
        def test_draw(lp_rng):
            print("DRAW", lp_rng.integers(0, 2**62))

        def test_fails(lp_rng):
            assert lp_rng.random() > 2
    """
    first = _pytest(tmp_path, source, "--lp-seed", "123", "-s", "-v")
    second = _pytest(tmp_path, source, "--lp-seed", "123", "-s", "-v")
    other = _pytest(tmp_path, source, "--lp-seed", "124", "-s", "-v")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "lotteryproofs: lp_rng seed 123" in first.stdout
    assert "rerun with --lp-seed 123" in first.stdout

    def draw(run):
        return next(line for line in run.stdout.splitlines() if "DRAW" in line).split("DRAW")[1]

    assert draw(first) == draw(second) != draw(other)


def test_plugin_registers_the_ci_profile(tmp_path):
    done = _pytest(tmp_path, """
        from hypothesis import given, settings, strategies as st

        def test_profile():
            assert settings().derandomize and settings().deadline is None

        @given(st.integers())
        def test_runs(n):
            pass
    """, "--hypothesis-profile", "lotteryproofs-ci")
    assert done.returncode == 0, done.stdout + done.stderr
