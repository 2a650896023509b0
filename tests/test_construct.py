"""The constructions of THEORY.md §4 end to end: properties over random targets, the registry,
the declared options, and the a-priori sizing against bounds.py's width theorem."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.checks.construct import (
    FLOAT_SLACK,
    failed_parameters,
    represented_forward,
    section5_bound,
)
from lotteryproofs.construct import construct, represented_layers
from lotteryproofs.construct.registry import construction_names, get_construction
from lotteryproofs.init import unit_scale
from lotteryproofs.io import load_ticket, save_ticket
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, PART_POSITIVE

METHODS = construction_names()


@st.composite
def targets_and_boxes(draw):
    depth = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 12)) for _ in range(depth + 1)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    zero_fraction = draw(st.sampled_from([0.0, 0.3]))
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        w = rng.uniform(-1, 1, (n_out, n_in))
        b = rng.uniform(-1, 1, n_out)
        w[rng.random(w.shape) < zero_fraction] = 0.0
        b[rng.random(b.shape) < zero_fraction] = 0.0
        weights.append(w)
        biases.append(b)
    kind = draw(st.sampled_from(["symmetric", "shifted", "non-negative"]))
    lo, hi = {"symmetric": (-1.0, 1.0), "shifted": (-0.3, 1.7), "non-negative": (0.0, 2.0)}[kind]
    return Network(tuple(weights), tuple(biases)), Box.cube(lo, hi, widths[0]), seed


def _errors_in_log_order(ticket, layers, target):
    """The represented error of every logged instance, in the log's order."""
    log = ticket.rss_log
    out = np.empty(log.n_instances)
    for m in range(log.n_instances):
        rep = layers[log.layer[m]]
        c, j, i = log.copy[m], log.row[m], log.col[m]
        if log.part[m] == PART_BIAS:
            out[m] = abs(rep.bias[c, j] - target.biases[log.layer[m]][j])
        elif log.part[m] == PART_POSITIVE:
            out[m] = abs(rep.positive[c, j, i] - target.weights[log.layer[m]][j, i])
        else:
            out[m] = abs(rep.negative[c, j, i] + target.weights[log.layer[m]][j, i])
    return out


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=targets_and_boxes())
def test_construction_properties(method, case):
    target, domain, seed = case
    eps_param, rho = 0.05, 8
    ticket = construct(target, method, eps_param=eps_param, delta=0.1, rng=seed, domain=domain,
                       rho=rho)
    source = ticket.source
    # masks: binary, the source's shapes; ticket = source × mask exactly
    for m, p, q in zip(ticket.weight_masks + ticket.bias_masks, source.weights + source.biases,
                       ticket.network.weights + ticket.network.biases, strict=True):
        assert m.shape == p.shape and m.dtype == bool
        assert np.array_equal(q, p * m)
    # nonzero count is exactly the mask count (unused neurons pruned, no kept zero)
    assert ticket.count_nonzero() == sum(int(m.sum()) for m in ticket.weight_masks
                                         + ticket.bias_masks)
    layers = represented_layers(ticket)
    # every effective parameter within ε' or its instance reported failed
    unreported, _ = failed_parameters(ticket, layers, target, domain, eps_param)
    assert unreported == []
    # the log's errors are the represented ones (the log is recomputed exactly)
    log = ticket.rss_log
    assert np.allclose(_errors_in_log_order(ticket, layers, target), log.error, rtol=0,
                       atol=4 * np.finfo(float).eps)
    assert np.array_equal(log.failed, log.error > eps_param)
    # observed output error on 10⁴ inputs ≤ §5 with the achieved errors
    x = domain.sample(10_000, np.random.default_rng(seed + 1))
    observed = np.max(np.abs(ticket.approximation(x) - target.forward(x)))
    assert observed <= section5_bound(layers, target, domain) * (1 + FLOAT_SLACK) + 1e-12
    # parameters at or below ε' get no instance
    assert np.all(np.abs(log.target) > eps_param)


@pytest.mark.parametrize("method", ("2l", "ll", "zero-bias"))
def test_represented_map_is_the_ticket(method, tmp_path):
    """The represented layers reproduce Λ⁻¹ f_S to rounding, also for a ticket read from disk."""
    rng = np.random.default_rng(5)
    from lotteryproofs.targets import random_target

    target = random_target((5, 7, 6, 3), rng, zero_fraction=0.2)
    domain = Box(np.array([-1.0, 0.0, -0.2, -2.0, 0.5]), np.array([1.0, 1.0, 0.3, 0.0, 1.5]))
    ticket = construct(target, method, eps_param=0.02, delta=0.1, rng=11, domain=domain, rho=12)
    save_ticket(ticket, tmp_path / "t.npz")
    loaded = load_ticket(tmp_path / "t.npz")
    x = domain.sample(2000, rng)
    for t in (ticket, loaded):
        approx = t.approximation(x)
        rep = represented_forward(represented_layers(t), x)
        assert np.max(np.abs(rep - approx)) <= 1e-12 * max(1.0, np.max(np.abs(approx)))
    for a, b in zip(represented_layers(ticket), represented_layers(loaded), strict=True):
        assert np.array_equal(a.positive, b.positive) and np.array_equal(a.bias, b.bias)


def test_l_plus_one_first_layer_copies_are_exact():
    """L+1: each copy's represented first layer is what source layer 1 computes (exactly)."""
    from lotteryproofs.targets import random_target

    rng = np.random.default_rng(2)
    target = random_target((4, 5, 3, 2), rng, zero_fraction=0.2)
    domain = Box.cube(-1.0, 1.0, 4)
    ticket = construct(target, "l+1", eps_param=0.02, delta=0.1, rng=3, domain=domain, rho=10)
    layers = represented_layers(ticket)
    assert [r.copies for r in layers] == [10, 10, 1]
    unit, _ = unit_scale(ticket.network, ticket.metadata["layer_scales"])
    x = domain.sample(500, rng)
    h = np.maximum(x @ unit.weights[0].T + unit.biases[0], 0) @ unit.weights[1].T \
        + unit.biases[1]
    first = layers[0]
    rep = (np.einsum("cji,ni->ncj", first.positive, np.maximum(x, 0))
           + np.einsum("cji,ni->ncj", first.negative, np.maximum(-x, 0)) + first.bias[None])
    source_rows = h[:, : 5 * 10].reshape(-1, 5, 10).transpose(0, 2, 1)
    assert np.max(np.abs(rep - source_rows)) <= 1e-12
    # deeper layers: the ticket's pre-activation of copy c of j is within the gain-weighted
    # copy spread of the represented one (THEORY.md §4.3)
    post = np.maximum(h, 0)
    copies_1 = post[:, : 5 * 10].reshape(-1, 5, 10)   # (n, i, r)
    mean = copies_1.mean(axis=2)
    spread = np.max(np.abs(copies_1 - mean[:, :, None]), axis=2)
    h2 = post @ unit.weights[2].T + unit.biases[2]
    second = layers[1]
    pred = np.einsum("cji,ni->ncj", second.positive, mean) + second.bias[None]
    slack = np.einsum("cji,ni->ncj", second.gain, spread)
    actual = h2[:, : 3 * 10].reshape(-1, 3, 10).transpose(0, 2, 1)
    assert np.all(np.abs(actual - pred) <= slack + 1e-12)


def test_looks_linear_negative_is_mirror():
    from lotteryproofs.targets import random_target

    target = random_target((3, 4, 2), np.random.default_rng(0))
    ticket = construct(target, "ll", eps_param=0.02, delta=0.1, rng=1, rho=16)
    first, second = represented_layers(ticket)
    assert np.array_equal(first.negative, -first.positive)
    assert np.all(second.negative == 0)
    assert not np.any(ticket.rss_log.part == PART_NEGATIVE)
    # a non-negative box: the twins are not kept
    nonneg = construct(target, "ll", eps_param=0.02, delta=0.1, rng=1, rho=16,
                       domain=Box.cube(0.0, 1.0, 3))
    assert np.all(represented_layers(nonneg)[0].negative == 0)
    assert nonneg.count_nonzero() < ticket.count_nonzero()


def test_negative_half_only_where_inputs_can_be_negative():
    from lotteryproofs.targets import random_target

    target = random_target((3, 4, 4, 2), np.random.default_rng(0))
    domain = Box(np.array([-1.0, 0.0, 0.5]), np.array([1.0, 1.0, 2.0]))
    ticket = construct(target, "2l", eps_param=0.02, delta=0.1, rng=1, rho=12, domain=domain)
    log = ticket.rss_log
    neg = log.part == PART_NEGATIVE
    assert neg.any() and np.all(log.layer[neg] == 0) and np.all(log.col[neg] == 0)
    first = represented_layers(ticket)[0]
    assert np.all(first.negative[..., 1:] == 0)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_bytes(method, tmp_path):
    from lotteryproofs.targets import random_target

    target = random_target((3, 5, 2), np.random.default_rng(4), zero_fraction=0.2)
    paths = []
    for k in range(2):
        ticket = construct(target, method, eps_param=0.03, delta=0.1, rng=9, rho=10)
        save_ticket(ticket, tmp_path / f"{k}.npz")
        paths.append((tmp_path / f"{k}.npz").read_bytes())
    assert paths[0] == paths[1]
    other = construct(target, method, eps_param=0.03, delta=0.1, rng=10, rho=10)
    save_ticket(other, tmp_path / "other.npz")
    assert (tmp_path / "other.npz").read_bytes() != paths[0]


def test_zero_bias_floor():
    """§4.4: zero-bias output at 0 is exactly 0, so the error there is ‖f_T(0)‖∞; 2l beats it."""
    from lotteryproofs.targets import random_target

    for seed in range(3):
        target = random_target((4, 6, 3), np.random.default_rng(seed))
        zero = np.zeros(4)
        floor = np.max(np.abs(target.forward(zero)))
        zb = construct(target, "zero-bias", eps_param=0.01, delta=0.1, rng=seed, rho=24)
        assert all(np.all(b == 0) for b in zb.source.biases)
        assert np.max(np.abs(zb.approximation(zero) - target.forward(zero))) >= floor
        # the dropped biases are in the log as failed instances without candidates
        bias_rows = zb.rss_log.part == PART_BIAS
        assert np.all(zb.rss_log.n_candidates[bias_rows] == 0)
        assert np.all(zb.rss_log.failed[bias_rows] == (np.abs(zb.rss_log.target[bias_rows])
                                                        > 0.01))
        two = construct(target, "2l", eps_param=0.01, delta=0.1, rng=seed, rho=24)
        x = Box.cube(-1, 1, 4).sample(2000, np.random.default_rng(seed))
        assert np.max(np.abs(two.approximation(x) - target.forward(x))) < floor


@pytest.mark.parametrize("method", ("2l", "ll"))
def test_widen_adds_genuine_neurons(method):
    from lotteryproofs.targets import random_target

    target = random_target((4, 6, 3), np.random.default_rng(1), zero_fraction=0.2)
    plain = construct(target, method, eps_param=0.01, delta=0.1, rng=3, rho=12)
    wide = construct(target, method, eps_param=0.01, delta=0.1, rng=3, rho=12, widen=True)
    assert plain.rss_log.failed.sum() > 0
    assert wide.rss_log.failed.sum() < plain.rss_log.failed.sum()
    assert wide.source.widths[1] > plain.source.widths[1]
    # the first draw is kept unchanged inside the widened source (nothing resampled)
    k = plain.source.widths[1]
    assert np.array_equal(wide.source.weights[0][:k], plain.source.weights[0])
    assert np.array_equal(wide.source.weights[1][:, :k], plain.source.weights[1][:, :k])
    assert wide.metadata["widening"]["rounds"] >= 1
    # the widened ticket is still read back exactly from its masks
    domain = Box.cube(-1, 1, 4)
    x = domain.sample(500, np.random.default_rng(0))
    rep = represented_forward(represented_layers(wide), x)
    assert np.max(np.abs(rep - wide.approximation(x))) <= 1e-12 * max(1, np.max(np.abs(rep)))
    unreported, _ = failed_parameters(wide, represented_layers(wide), target, domain, 0.01)
    assert unreported == []


def test_metadata_contract():
    from lotteryproofs.io import network_sha256
    from lotteryproofs.targets import random_target

    target = random_target((3, 4, 2), np.random.default_rng(0))
    ticket = construct(target, "2l", eps_param=0.03, delta=0.2, rng=np.random.SeedSequence(77),
                       rho=8)
    meta = ticket.metadata
    for key in ("method", "init", "seed", "eps_param", "delta", "target_sha256", "version",
                "domain", "rho"):
        assert key in meta
    assert meta["seed"] == 77 and meta["target_sha256"] == network_sha256(target)
    assert math.isclose(ticket.scale, math.prod(meta["layer_scales"]), rel_tol=0)


def test_unreported_failures_are_caught():
    """The 'within ε' or reported' check can fail: clear the log's failed flags and it does."""
    import dataclasses

    from lotteryproofs.targets import random_target
    from lotteryproofs.ticket import Ticket

    target = random_target((4, 6, 3), np.random.default_rng(1))
    domain = Box.cube(-1.0, 1.0, 4)
    ticket = construct(target, "2l", eps_param=0.01, delta=0.1, rng=3, rho=8)
    layers = represented_layers(ticket)
    assert ticket.rss_log.failed.any()
    hidden = dataclasses.replace(ticket.rss_log, failed=np.zeros_like(ticket.rss_log.failed))
    forged = Ticket(ticket.source, ticket.weight_masks, ticket.bias_masks, ticket.scale,
                    ticket.metadata, hidden)
    unreported, _ = failed_parameters(forged, layers, target, domain, 0.01)
    assert len(unreported) == int(ticket.rss_log.failed.sum())


def test_compact_keeps_the_function():
    from lotteryproofs.construct.common import compact
    from lotteryproofs.targets import random_target

    target = random_target((5, 7, 4), np.random.default_rng(3))
    ticket = construct(target, "2l", eps_param=0.02, delta=0.1, rng=4, rho=16)
    small = compact(ticket.network)
    assert small.n_params < ticket.network.n_params
    x = Box.cube(-1, 1, 5).sample(1000, np.random.default_rng(0))
    full = ticket.network.forward(x)
    assert np.max(np.abs(small.forward(x) - full)) <= 1e-12 * max(1.0, np.max(np.abs(full)))


# ------------------------------------------------------------------------------ the registry
def test_registry_names_and_lookup():
    names = construction_names()
    assert len(set(names)) == len(names) >= 4
    for name in names:
        construction = get_construction(name)
        assert construction.name == name and construction.bound.name == name
        assert get_construction(construction) is construction
    with pytest.raises(InputError) as exc:
        get_construction("3l")
    assert "unknown method '3l'" in str(exc.value)
    assert all(name in str(exc.value) for name in names)


@pytest.mark.parametrize("method, options, message", [
    ("l+1", {"widen": True}, "the l+1 construction has no option 'widen' (its options: rho_in)"),
    ("l+1", {"rho_in": 0}, "rho_in must be None or an integer in [1, ∞), got 0"),
    ("l+1", {"rho_in": 2.5}, "rho_in must be None or an integer in [1, ∞), got 2.5"),
    ("2l", {"rho_in": 3}, "the 2l construction has no option 'rho_in' (its options: widen, "
                          "max_widen_rounds)"),
    ("ll", {"max_widen_rounds": -1}, "max_widen_rounds must be an integer in [0, ∞), got -1"),
    ("zero-bias", {"widen": 1}, "widen must be True or False, got 1"),
])
def test_method_options_are_validated_from_their_declaration(method, options, message):
    """Each message is generated from the construction's declared options."""
    target = Network((np.ones((2, 2)), np.ones((1, 2))), (np.ones(2), np.ones(1)))
    with pytest.raises(InputError) as exc:
        construct(target, method, eps_param=0.1, delta=0.1, rng=0, rho=4, **options)
    assert str(exc.value) == message


def test_ll_refuses_odd_rho_and_iid_sources():
    target = Network((np.ones((2, 2)), np.ones((1, 2))), (np.ones(2), np.ones(1)))
    with pytest.raises(InputError, match="needs an even rho, got 5"):
        construct(target, "ll", eps_param=0.1, delta=0.1, rng=0, rho=5)
    with pytest.raises(InputError, match="needs the looks-linear scheme"):
        construct(target, "ll", eps_param=0.1, delta=0.1, rng=0, rho=4, init="uniform")
    with pytest.raises(InputError, match="needs an i.i.d. scheme"):
        construct(target, "2l", eps_param=0.1, delta=0.1, rng=0, rho=4, init="looks-linear")


# ------------------------------------------------------- sizing = bounds.py's width theorem
def _posed_instances(ticket, construction) -> int:
    """Instances the construction actually posed that the union bound counts (the zero-bias
    baseline also logs its unreachable biases, which no width can solve)."""
    log = ticket.rss_log
    counted = np.ones(log.n_instances, bool) if construction.bound.biases else \
        log.part != PART_BIAS
    return int(counted.sum())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("widths, lo", [((2, 3, 1), -1.0), ((1, 2, 2, 1), 0.0)])
def test_a_priori_sizing_is_the_width_theorem(method, widths, lo):
    """construct(rho=None) uses exactly bounds.py's width theorem: its ρ (and ρ_in) satisfy the
    requirement at the instance count it really poses (the log, an independent count), its
    source widths are bounds' source-width expressions at that ρ, and the exact count never
    exceeds the symbolic M of the theorem."""
    import sympy

    from lotteryproofs import bounds
    from lotteryproofs.targets import random_target

    construction = get_construction(method)
    spec = construction.bound
    target = random_target(widths, np.random.default_rng(1), zero_fraction=0.2)
    domain = Box.cube(lo, 1.0, widths[0])
    eps_param, delta = 0.2, 0.5
    ticket = construct(target, method, eps_param=eps_param, delta=delta, rng=0, domain=domain)
    meta = ticket.metadata
    rho = meta["rho"]
    assert meta["rho_source"] == "a_priori"
    posed = _posed_instances(ticket, construction)
    assert bounds.count_instances(spec, target, eps_param, domain.has_negative, rho=rho) == \
        max(1, posed)
    req = bounds.width_requirements(spec, target.depth,
                                    input_has_negative=bool(domain.has_negative.any()))
    s = bounds.layer_symbols(target.depth)
    values = {**dict(zip(s.n, widths, strict=True)), bounds.EPS_PARAM: eps_param,
              bounds.DELTA: delta, bounds.C: bounds.DEFAULT_LUEKER_C, bounds.BETA: 1.0,
              bounds.W_MAX: max(float(np.max(np.abs(w))) for w in target.weights),
              bounds.B_MAX: max(float(np.max(np.abs(b))) for b in target.biases)}
    at_posed = {**values, bounds.M: max(1, posed)}
    assert rho >= bounds.evaluate_mpmath(req.per_instance["rho"], at_posed)
    assert rho % spec.rho_multiple == 0
    rho_in = meta["layout"].get("rho_in", rho) if isinstance(meta["layout"], dict) else rho
    if "rho_in" in req.per_instance:
        assert rho_in == int(bounds.evaluate_mpmath(req.per_instance["rho_in"], at_posed))
    widths_at = {**values, bounds.RHO: rho, bounds.RHO_IN: rho_in}
    assert tuple(ticket.source.widths) == tuple(
        int(bounds.evaluate_mpmath(w, widths_at)) for w in req.widths)
    k = tuple(int(np.count_nonzero(w, axis=1).max()) for w in target.weights)
    symbolic = req.instances.subs({**dict(zip(s.n, widths, strict=True)),
                                   **dict(zip(s.k, k, strict=True)), bounds.RHO: rho})
    assert posed <= int(sympy.Integer(symbolic))


def test_supports_refuse_what_a_construction_cannot_build():
    """A target declaring another activation or layer type is refused with the supported
    ones named (the network model's objects carry ``name`` / their type)."""
    from types import SimpleNamespace

    from lotteryproofs.construct.base import Supports
    from lotteryproofs.targets import random_target

    supports = get_construction("2l").supports
    assert supports == Supports(layers=("Dense",), activations=("relu",), domains=("box",))
    relu = random_target((3, 4, 2), np.random.default_rng(0))
    supports.check("the 2l construction", relu)
    leaky = Network(relu.weights, relu.biases, activation="leaky_relu:0.1")
    with pytest.raises(InputError, match=r"the 2l construction does not support activation "
                                         r"leaky_relu:0.1 \(supported: relu\)"):
        supports.check("the 2l construction", leaky)

    class Conv2d:
        pass

    with pytest.raises(InputError, match="supports the layer types Dense, not Conv2d"):
        supports.check("the 2l construction", SimpleNamespace(layers=(Conv2d(),)))


def test_construct_accepts_the_record_itself():
    from lotteryproofs.construct import looks_linear

    target = Network((np.ones((2, 2)), np.ones((1, 2))), (np.ones(2), np.ones(1)))
    by_name = construct(target, "ll", eps_param=0.1, delta=0.1, rng=3, rho=4)
    by_record = construct(target, looks_linear.CONSTRUCTION, eps_param=0.1, delta=0.1, rng=3,
                          rho=4)
    assert by_record.metadata == by_name.metadata
    assert all(np.array_equal(a, b) for a, b in zip(by_record.weight_masks, by_name.weight_masks,
                                                    strict=True))
