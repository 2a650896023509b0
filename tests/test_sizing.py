"""The a-priori width at the source's own bias factor β (construct/sizing.py, THEORY.md §6)."""

from __future__ import annotations

import numpy as np
import pytest

from lotteryproofs._validate import InputError
from lotteryproofs.construct import a_priori_widths, construct, get_construction
from lotteryproofs.construct.sizing import sizing_beta
from lotteryproofs.targets import random_target


@pytest.fixture(scope="module")
def target():
    return random_target((2, 3, 1), np.random.default_rng(1))


@pytest.mark.parametrize("method", ["2l", "ll", "l+1"])
def test_zero_beta_has_no_a_priori_width(target, method):
    """β = 0 leaves every bias pool without a nonzero candidate: the theorem gives no ρ, so the
    a-priori width is refused (it used to be sized silently as if β were 1)."""
    with pytest.raises(InputError, match=r"bias_factor \(β\) = 0 draws no source biases"):
        construct(target, method, eps_param=0.2, delta=0.5, rng=0,
                  init_options={"bias_factor": 0.0})


def test_zero_beta_with_a_given_rho_reports_the_failed_bias_instances(target):
    """With ρ given, β = 0 is allowed, and every bias above ε' is reported failed, not hidden."""
    ticket = construct(target, "2l", eps_param=0.2, delta=0.5, rng=0, rho=8,
                       init_options={"bias_factor": 0.0})
    big_biases = sum(int((np.abs(b) > 0.2).sum()) for b in target.biases)
    assert big_biases > 0
    from lotteryproofs.ticket import PART_BIAS

    log = ticket.rss_log
    assert int((log.failed & (log.part == PART_BIAS)).sum()) == big_biases


def test_the_sizing_uses_the_sources_beta(target):
    """The bias candidates v·c scale with β, so the width theorem at β is what construct uses:
    its ρ equals bounds' a-priori ρ at that β, which differs from the ρ at β = 1."""
    rho = {beta: construct(target, "2l", eps_param=0.2, delta=0.5, rng=0,
                           init_options={"bias_factor": beta}).metadata["rho"]
           for beta in (0.5, 1.0)}
    for beta, value in rho.items():
        assert value == a_priori_widths("2l", target, 0.2, 0.5, bias_factor=beta)["rho"]
    assert rho[0.5] != rho[1.0]


def test_a_construction_without_bias_instances_ignores_beta():
    spec = get_construction("zero-bias").bound
    assert sizing_beta(spec, {"bias_factor": 0.0}) == (1.0, None)
    assert sizing_beta(get_construction("2l").bound, {"bias_factor": 0.25}) == (0.25, None)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu"])
def test_no_a_priori_width_for_activations_that_are_not_homogeneous(name):
    """A φ-layer's constant neuron outputs φ(c), so its bias candidates v·φ(c) are not the
    product law the width theorem counts: the a-priori ρ is refused, a given ρ is built."""
    from lotteryproofs.activations import get_activation
    from lotteryproofs.network import Network

    base = random_target((2, 3, 1), np.random.default_rng(1))
    target = Network(base.weights, base.biases, activations=(get_activation(name),))
    with pytest.raises(InputError, match=f"positively homogeneous activations only, got {name}"):
        construct(target, "l+1-general", eps_param=0.2, delta=0.5, rng=0)
    ticket = construct(target, "l+1-general", eps_param=0.2, delta=0.5, rng=0, rho=6)
    assert ticket.metadata["rho_source"] == "given"


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_homogeneous_activations_keep_their_a_priori_width(name):
    from lotteryproofs.activations import get_activation
    from lotteryproofs.network import Network

    base = random_target((2, 3, 1), np.random.default_rng(1))
    target = Network(base.weights, base.biases, activations=(get_activation(name),))
    ticket = construct(target, "l+1-general", eps_param=0.2, delta=0.5, rng=0)
    assert ticket.metadata["rho_source"] == "a_priori"
