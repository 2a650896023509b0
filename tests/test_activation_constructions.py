"""The L+1 construction for general activations and its Lipschitz certificate
(proofs/l-plus-one-general.md).

Oracles: the ticket's own forward pass (numpy, independent of the read-back), the source
redrawn from the ticket's seed, the target's parameters, and a dense grid / 10⁴ samples of
the box for the error.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import _validate
from lotteryproofs.activations import ACTIVATIONS, get_activation
from lotteryproofs.certify import lipschitz_output_error
from lotteryproofs.construct import (
    common,
    construct,
    construction_names,
    get_construction,
    l_plus_one_general,
    represented_layers,
)
from lotteryproofs.init import SourceSpec
from lotteryproofs.network import Box, Network
from lotteryproofs.targets import random_target
from lotteryproofs.testing.assertions import assert_subnetwork
from lotteryproofs.ticket import PART_BIAS, PART_POSITIVE

METHOD = "l+1-general"
SPECS = ("relu", "identity", "leaky_relu:0.1", "tanh", "sigmoid", "softplus", "elu:0.5",
         "gelu", "silu")
#: source biases β·Π σ_k·U[-1, 1] with β = 10: constants of the φ-layers reach |φ(c)| ≈ its
#: saturation, so the bias pools reach targets of order 1 at ρ = 12–40 (Λ = 1: no rescaling)
INIT = {"bias_factor": 10.0}
#: relative rounding allowance of the two float forward passes that measure an error
_FLOAT_PASSES = 1e-12


def _target(widths, spec, rng, bias_scale=0.5) -> Network:
    t = random_target(widths, rng, zero_fraction=0.2)
    return Network(t.weights, tuple(bias_scale * b for b in t.biases), activation=spec)


def _failed_keys(ticket) -> set:
    log = ticket.rss_log
    return {(int(log.layer[m]), int(log.part[m]), int(log.row[m]), int(log.col[m]),
             int(log.copy[m])) for m in np.flatnonzero(log.failed)}


def _assert_params_within_or_failed(ticket, target, eps):
    """Every effective weight and bias (read back from the masks) within ε' of the target's,
    or its instance is in the log as failed."""
    failed = _failed_keys(ticket)
    for t, (rep, w, b) in enumerate(zip(represented_layers(ticket), target.weights,
                                        target.biases, strict=True)):
        for c, j, i in np.argwhere(np.abs(rep.positive - w[None]) > eps):
            assert (t, PART_POSITIVE, j, i, c) in failed, (t, j, i, c)
        # linear read-back: the first layer's negative part is −P (x can be negative)
        assert np.array_equal(rep.negative, -rep.positive)
        for c, j in np.argwhere(np.abs(rep.bias - b[None]) > eps):
            assert (t, PART_BIAS, j, -1, c) in failed, (t, j, c)


def _grid(box: Box, n: int) -> np.ndarray:
    axes = [np.linspace(lo, hi, n) for lo, hi in zip(box.lower, box.upper, strict=True)]
    return np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, box.dim)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_random_targets_every_parameter_and_the_certificate(spec, data):
    depth = data.draw(st.integers(1, 3), label="depth")
    widths = [data.draw(st.integers(1, 2), label="n_0")]
    widths += [data.draw(st.integers(1, 8), label=f"n_{t}") for t in range(1, depth + 1)]
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    target = _target(widths, spec, rng)
    box = Box.cube(-1.0, 1.0, widths[0])
    eps = 0.05
    ticket = construct(target, METHOD, eps_param=eps, delta=0.1, rng=seed, domain=box, rho=12,
                       init_options=INIT)
    homogeneous = all(a.positively_homogeneous for a in target.activations)
    # a genuine subnetwork of the source redrawn from the seed alone (before any target); a
    # target without the scaling lemma gets a unit-scale source (construct/l_plus_one_general)
    scale = {} if homogeneous else {"weight_scale": "unit"}
    source = SourceSpec.make("uniform", ticket.source.widths, entropy=seed, spawn_key=(),
                             **INIT, **scale).draw().network
    assert_subnetwork(ticket, source)
    # the scaling lemma only for positively homogeneous φ; otherwise actual values, Λ = 1
    assert (ticket.scale == 1.0) != homogeneous or all(
        s == 1.0 for s in ticket.metadata["layer_scales"])
    assert [a.spec for a in ticket.network.activations] == [
        "identity", *(a.spec for a in target.activations)]
    _assert_params_within_or_failed(ticket, target, eps)
    cert = lipschitz_output_error(target, box, represented_layers(ticket))
    grid = _grid(box, 2001 if box.dim == 1 else 101)
    samples = rng.uniform(box.lower, box.upper, (10_000, box.dim))
    for x in (grid, samples):
        f = target.forward(x)
        error = np.max(np.abs(ticket.approximation(x) - f))
        # the certificate bounds the real-arithmetic functions; the float forward passes
        # that measure the error add their own rounding (≈ depth·width ulps of the outputs)
        assert error <= cert + _FLOAT_PASSES * (1.0 + np.max(np.abs(f))), (error, cert)


def _constant_bias_by_forward(ticket, t: int) -> np.ndarray:
    """The represented biases of target layer t ≥ 1 by the ticket's own forward pass: at
    x = 0 with every kept weight out of a copy neuron removed, source layer t+1 computes
    Σ v·φ(c) + b over its constants only (numpy's forward, not the read-back)."""
    layout = ticket.metadata["layout"]
    weights = [np.array(w) for w in ticket.network.weights]
    prev = ticket.network.biases[t].size
    owner = common.runs_to_owners(layout["owners"][t], prev)
    n_in = ticket.metadata["target_widths"][t]
    weights[t + 1][:, owner < n_in] = 0.0
    h = np.zeros(ticket.network.widths[0])
    acts = ticket.network.activations
    for k in range(t + 2):
        h = weights[k] @ h + ticket.network.biases[k]
        if k < t + 1:
            h = acts[k].forward(h)
    return h


@pytest.mark.parametrize("spec", ["sigmoid", "tanh"])
def test_large_biases_of_later_layers_are_reproduced(spec, lp_rng):
    """Layers ≥ 2 with |b| ∈ [0.4, 0.6]: the constant channels output φ(c) (sigmoid(0) = ½,
    tanh(1) ≈ 0.76 ≠ 1), so a φ = 1 shortcut would miss every such bias by ≥ 0.1 ≫ ε'."""
    eps = 0.01
    widths = (1, 3, 3, 2)
    t0 = random_target(widths, lp_rng)
    biases = [t0.biases[0]] + [np.sign(b) * (0.4 + 0.2 * np.abs(b)) for b in t0.biases[1:]]
    target = Network(t0.weights, tuple(biases), activation=spec)
    ticket = construct(target, METHOD, eps_param=eps, delta=0.1, rng=lp_rng, rho=40,
                       init_options=INIT)
    reps = represented_layers(ticket)
    failed = _failed_keys(ticket)
    checked = 0
    for t in range(1, target.depth):
        by_forward = _constant_bias_by_forward(ticket, t)
        copies = reps[t].bias.shape[0]
        n_out = target.widths[t + 1]
        for c in range(copies):
            for j in range(n_out):
                read_back = reps[t].bias[c, j]
                forward = by_forward[j * copies + c]
                assert abs(read_back - forward) <= 1e-12 * max(1.0, abs(forward))
                if (t, PART_BIAS, j, -1, c) not in failed:
                    assert abs(forward - target.biases[t][j]) <= eps
                    checked += 1
    total = sum(target.widths[t + 1] * reps[t].bias.shape[0] for t in range(1, target.depth))
    assert checked >= 0.8 * total, (checked, total)


def test_the_phi_equals_one_shortcut_is_caught(monkeypatch, lp_rng):
    """The defect the construction avoids: build the bias instances as if every constant
    output 1 (LT-existence's assumption) and the read-back — φ(c) where it is evaluated —
    misses the target biases of layers ≥ 2 by far more than ε'."""
    eps = 0.01
    t0 = random_target((1, 3, 3, 2), lp_rng)
    biases = [t0.biases[0]] + [np.sign(b) * 0.5 for b in t0.biases[1:]]
    target = Network(t0.weights, tuple(biases), activation="sigmoid")
    solve = l_plus_one_general.l_plus_one._solve_copy_layer

    def shortcut(*args, constant_output, **kwargs):
        return solve(*args, constant_output=np.ones_like, **kwargs)

    monkeypatch.setattr(l_plus_one_general.l_plus_one, "_solve_copy_layer", shortcut)
    ticket = construct(target, METHOD, eps_param=eps, delta=0.1, rng=lp_rng, rho=40,
                       init_options=INIT)
    reps = represented_layers(ticket)
    worst = max(float(np.max(np.abs(reps[t].bias - target.biases[t][None])))
                for t in range(1, target.depth))
    assert worst > 10 * eps


def test_every_method_activation_pair_is_built_or_refused_by_name():
    """Each registered construction either declares the activation (and then builds a small
    target with it) or refuses the pair in one line that names both."""
    rng = np.random.default_rng(5)
    for name in construction_names():
        construction = get_construction(name)
        for act in ACTIVATIONS:
            target = _target((2, 3, 1), act, rng)
            if act in construction.supports.activations:
                continue  # built: the check and the random-target test cover these
            with pytest.raises(_validate.InputError) as info:
                construct(target, name, eps_param=0.1, delta=0.1, rng=0, rho=4)
            message = str(info.value)
            assert "\n" not in message
            assert f"the {name} construction" in message and act in message
    assert set(get_construction(METHOD).supports.activations) == set(ACTIVATIONS)


def test_lipschitz_certificate_refuses_a_nonlinear_first_layer(lp_rng):
    target = _target((2, 3, 1), "tanh", lp_rng)
    ticket = construct(Network(target.weights, target.biases), "2l", eps_param=0.1,
                       delta=0.1, rng=lp_rng, rho=8)
    with pytest.raises(_validate.InputError, match="linear in x"):
        lipschitz_output_error(target, Box.cube(-1.0, 1.0, 2), represented_layers(ticket))


def test_the_certificate_uses_the_activation_lipschitz_constant(lp_rng):
    """Scaling φ's Lipschitz constant down (a mutant activation) must be able to make the
    bound false: the certified bound is not vacuous in L_φ."""
    target = _target((1, 4, 4, 1), "tanh", lp_rng, bias_scale=0.3)
    box = Box.cube(-1.0, 1.0, 1)
    ticket = construct(target, METHOD, eps_param=0.05, delta=0.1, rng=lp_rng, rho=8,
                       init_options=INIT)
    reps = represented_layers(ticket)
    x = _grid(box, 4001)
    error = np.max(np.abs(ticket.approximation(x) - target.forward(x)))
    cert = lipschitz_output_error(target, box, reps)
    assert error <= cert
    tanh = get_activation("tanh")
    flat = type("FlatTanh", (type(tanh),), {"lipschitz": 0.0})()
    mutant = Network(target.weights, target.biases, activation=flat)
    assert lipschitz_output_error(mutant, box, reps) < cert


def test_the_exported_network_keeps_neurons_that_output_phi_of_zero(lp_rng):
    """A sigmoid target neuron with all parameters 0 outputs sigmoid(0) = ½; its ticket copies
    keep nothing and output ½ too. The standalone export must keep them (dropping them, as
    for ReLU where φ(0) = 0, would remove ½·w from every neuron reading them) and declare the
    ticket's activations."""
    from lotteryproofs import export

    t = random_target((2, 3, 2, 1), lp_rng)
    w1, b1 = t.weights[0].copy(), t.biases[0].copy()
    w1[0], b1[0] = 0.0, 0.0
    w2 = t.weights[1].copy()
    w2[:, 0] = 0.8
    target = Network((w1, w2, t.weights[2]), (b1, *t.biases[1:]), activation="sigmoid")
    ticket = construct(target, METHOD, eps_param=0.05, delta=0.1, rng=lp_rng, rho=12,
                       init_options=INIT)
    net = export.standalone_network(ticket)
    assert [a.spec for a in net.activations] == ["identity", "sigmoid", "sigmoid"]
    assert export.network_metadata(ticket)["activation"] == ["identity", "sigmoid", "sigmoid"]
    x = lp_rng.uniform(-1.0, 1.0, (1000, 2))
    assert np.max(np.abs(net.forward(x) - ticket.approximation(x))) <= 1e-12


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_targets_without_the_scaling_lemma_get_a_unit_scale_source(name):
    """No scaling lemma: the masks are chosen on the actual values, so the source is drawn at
    unit scale (σ_l = 1: W ~ U[-1, 1], b ~ β·U[-1, 1]) unless the user asks otherwise; a
    ReLU target keeps the He-scaled source. The choice reads the activations' types only."""
    from lotteryproofs.init import he_layer_scales

    base = random_target((3, 4, 2), np.random.default_rng(2))
    target = Network(base.weights, base.biases, activation=name)
    ticket = construct(target, METHOD, eps_param=0.05, delta=0.1, rng=4, rho=6)
    assert ticket.metadata["init_options"]["weight_scale"] == "unit"
    assert ticket.metadata["layer_scales"] == [1.0, 1.0, 1.0] and ticket.scale == 1.0
    expected = SourceSpec.make("uniform", ticket.source.widths, entropy=4,
                               weight_scale="unit").draw()
    assert_subnetwork(ticket, expected.network)
    assert all(np.max(np.abs(w)) <= 1.0 for w in ticket.source.weights)
    # the same widths and seed at He scale: the same unit draws, scaled
    he = SourceSpec.make("uniform", ticket.source.widths, entropy=4).draw()
    assert all(np.array_equal(u, w) for u, w in zip(he.unit_network.weights,
                                                    ticket.source.weights, strict=True))
    assert he.layer_scales == he_layer_scales(ticket.source.widths, "uniform")
    # the user's explicit choice wins
    explicit = construct(target, METHOD, eps_param=0.05, delta=0.1, rng=4, rho=6,
                         init_options={"weight_scale": "he"})
    assert explicit.metadata["init_options"]["weight_scale"] == "he"
    relu = construct(base, METHOD, eps_param=0.05, delta=0.1, rng=4, rho=6)
    assert relu.metadata["init_options"]["weight_scale"] == "he"
