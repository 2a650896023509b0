"""The bounded-gain conv L+1 construction and the gain ladder (proofs/conv-l-plus-one.md,
"Bounded gain")."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from types import MappingProxyType

import numpy as np
import pytest

from lotteryproofs import _validate
from lotteryproofs.certify.conv import certify_conv, conv_gains_within_budget
from lotteryproofs.checks.conv import ladder_audit, random_conv_target, random_l_plus_one_target
from lotteryproofs.construct import bounded_gain, common, conv_bounded_gain
from lotteryproofs.construct.conv_two_layer import construct_conv_ticket, param_layers
from lotteryproofs.construct.registry import get_conv_construction
from lotteryproofs.network import Box
from lotteryproofs.rss import bounded_gain_sparsest_brute_force

BOUNDED = get_conv_construction("l+1-bounded")
PLAIN = get_conv_construction("l+1")
EPS = 0.01


def _build(target, seed, construction=BOUNDED, rho=40):
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    return construct_conv_ticket(target, eps_param=EPS, delta=0.1, rho=rho, rng=seed,
                                 domain=box, construction=construction), box


def assert_ladder_audit_clean(ticket, target):
    """:func:`ladder_audit` re-poses copy-layer instances and finds every subset within its
    rung's cap and the top budget, nothing kept where an entry was skipped, and no parameter
    off by more than ε' without a reported failure."""
    audit = ladder_audit(ticket, target)
    assert audit["audited"] > 0
    assert audit["over_rung"] == audit["over_budget"] == audit["skipped_kept"] == 0
    assert audit["off_unreported"] == 0


def test_registered_as_a_conv_construction():
    assert BOUNDED is conv_bounded_gain.CONSTRUCTION
    assert BOUNDED.gain_budget == conv_bounded_gain.GAIN_LADDER[-1]
    assert PLAIN.gain_budget is None


@pytest.mark.parametrize("seed", range(4))
def test_random_conv_and_residual_targets(seed):
    rng = np.random.default_rng(seed)
    target = (random_conv_target(rng, residual=True) if seed % 2
              else random_l_plus_one_target(rng, dense=seed == 0))
    ticket, box = _build(target, seed + 100)
    # genuine subnetwork
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert np.array_equal(q, p * m)
    # every copy of every parameter within ε' or its instance reported failed
    log = ticket.log
    failed = {(int(a), int(b), int(c)) for a, b, c, f in zip(
        log.layer, log.row, log.copy, log.failed, strict=True) if f}
    represented = BOUNDED.represent(ticket)
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers), represented,
                                         strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        off = (np.abs(rep.positive - k) > EPS).any(axis=2) | (np.abs(rep.bias - layer.bias) > EPS)
        for c, o in zip(*np.nonzero(off), strict=True):
            assert (t, int(o), int(c)) in failed
        if t:
            # every represented copy-layer entry within the top cap, 0 where skipped
            allowed = np.where(np.abs(k) > EPS, np.abs(k) + BOUNDED.gain_budget, 0.0)
            assert np.all(np.asarray(rep.gain) <= allowed[None] * (1 + 1e-12))
    # the output error on many box inputs (0 and the corners included) ≤ the certified bound
    x = np.vstack((np.zeros((1, box.dim)), box.lower[None], box.upper[None],
                   box.sample(10_000, rng)))
    observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    cert = certify_conv(ticket, target, box, rng=seed, n_samples=500)
    assert observed <= cert.certified_output_error
    # the masks pass the gain check, so the a-priori bound is claimed; it holds without failures
    assert conv_gains_within_budget(target, represented, EPS, BOUNDED.gain_budget)
    assert np.isfinite(cert.a_priori_output_error)
    if ticket.failures == 0:
        assert observed <= cert.a_priori_output_error
    assert_ladder_audit_clean(ticket, target)


@pytest.mark.parametrize("seed", range(2))
def test_conv_shortcut_targets(seed):
    """A residual block with a 1×1 convolutional shortcut: the shortcut is a copy layer on
    the ladder too (the audit re-poses its instances over the block input's copies)."""
    from test_conv_shortcut import _shortcut_target

    from lotteryproofs.activations import IDENTITY, RELU

    target = _shortcut_target(seed + 2, IDENTITY if seed == 0 else RELU)
    ticket, box = _build(target, seed)
    x = np.vstack((np.zeros((1, box.dim)), box.sample(10_000, np.random.default_rng(seed))))
    observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    cert = certify_conv(ticket, target, box, rng=seed, n_samples=200)
    assert observed <= cert.certified_output_error
    assert np.isfinite(cert.a_priori_output_error)
    if ticket.failures == 0:
        assert observed <= cert.a_priori_output_error
    assert_ladder_audit_clean(ticket, target)


def _instances(rng, n_inst, n, eps):
    values = rng.uniform(-1.0, 1.0, (n_inst, n))
    lengths = rng.integers(3, n + 1, n_inst)
    values[np.arange(n)[None, :] >= lengths[:, None]] = 0.0
    targets = rng.uniform(-1.0, 1.0, n_inst)
    z = np.zeros(n_inst, np.int64)
    return common.Instances(layer=z, row=z, col=z, part=0, copy=z, target=targets,
                            values=values, neurons=np.tile(np.arange(n), (n_inst, 1)),
                            lengths=lengths)


@pytest.mark.parametrize("seed", range(3))
def test_ladder_picks_the_smallest_feasible_cap(seed):
    """Oracle: exact enumeration per rung alone; the ladder's subset is the sparsest of the
    first rung that has one (within its cap, exact), and the single top-cap solve otherwise."""
    rng = np.random.default_rng(seed)
    eps = 0.01
    inst = _instances(rng, 60, 10, eps)
    budgets = (0.05, 0.25, 1.0)
    caps = bounded_gain.engine_gain_ladder(eps, budgets)
    tol = eps * (1 - common.SOLVER_MARGIN)
    got = common.solve(inst, eps, gain_slack=caps)
    top = common.solve(inst, eps, gain_slack=caps[-1])
    seen_rungs = set()
    for b in range(inst.size):
        vals = inst.values[b, : inst.lengths[b]]
        rung = next((i for i, c in enumerate(caps)
                     if bounded_gain_sparsest_brute_force(vals, inst.target[b], tol, c)
                     is not None), None)
        chosen = np.flatnonzero(got.chosen[b])
        if rung is None:
            assert np.array_equal(got.chosen[b], top.chosen[b])
            continue
        seen_rungs.add(rung)
        best = bounded_gain_sparsest_brute_force(vals, inst.target[b], tol, caps[rung])
        assert chosen.size == len(best)
        gain = sum((Fraction(abs(float(v))) for v in vals[chosen]), Fraction(0))
        assert gain <= Fraction(abs(float(inst.target[b]))) + Fraction(budgets[rung])
        assert not got.failed[b]
    assert len(seen_rungs) >= 2  # the ladder was exercised beyond its first rung


def test_one_cap_is_unchanged_by_the_ladder():
    rng = np.random.default_rng(7)
    inst = _instances(rng, 80, 12, 1e-3)
    c = bounded_gain.engine_gain_slack(1e-3, 0.1)
    one, ladder_of_one = common.solve(inst, 1e-3, gain_slack=c), common.solve(
        inst, 1e-3, gain_slack=(c,))
    for field in ("chosen", "achieved", "error", "failed"):
        assert np.array_equal(getattr(one, field), getattr(ladder_of_one, field))
    assert one.failed.any()  # the relaxation path was taken too


def test_engine_gain_ladder_refuses_unordered_budgets():
    with pytest.raises(_validate.InputError, match="increasing"):
        bounded_gain.engine_gain_ladder(0.01, (1.0, 0.5))
    with pytest.raises(_validate.InputError):
        bounded_gain.engine_gain_ladder(0.01, (0.0, 1.0))
    caps = bounded_gain.engine_gain_ladder(0.01, (0.25, 2.0))
    tol = 0.01 * (1 - common.SOLVER_MARGIN)
    assert all(Fraction(c) * Fraction(tol) <= Fraction(g) for c, g in zip(caps, (0.25, 2.0),
                                                                          strict=True))


def test_gain_check_falls_back(monkeypatch):
    """A plain L+1 ticket relabelled l+1-bounded gets the a-priori bound only if its masks
    show the gains; with a budget its gains break, the certificate claims none."""
    from lotteryproofs.construct import registry

    rng = np.random.default_rng(11)
    target = random_l_plus_one_target(rng)
    ticket, box = _build(target, 5, construction=PLAIN)
    relabelled = dataclasses.replace(ticket, metadata={**ticket.metadata,
                                                       "method": "l+1-bounded"})
    represented = PLAIN.represent(ticket)
    # the oracle: per copy and channel Σ gains against ‖K_o‖₁ + γ·k_o, for a budget γ the
    # plain gains break (the smallest that covers every row, halved)
    need = 0.0
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers), represented,
                                         strict=True)):
        if t:
            k = np.abs(layer.weight.reshape(layer.weight.shape[0], -1))
            excess = (np.asarray(rep.gain).sum(axis=2) - k.sum(axis=1)[None])
            per_weight = excess / np.maximum(np.count_nonzero(k > EPS, axis=1), 1)[None]
            need = max(need, float(np.max(per_weight)))
    assert need > 0
    small = need / 2
    assert not conv_gains_within_budget(target, represented, EPS, small)
    assert conv_gains_within_budget(target, represented, EPS, 2 * need)
    patched = dataclasses.replace(BOUNDED, gain_budget=small)
    monkeypatch.setattr(registry, "CONV_CONSTRUCTIONS", MappingProxyType(
        {**registry.CONV_CONSTRUCTIONS, "l+1-bounded": patched}))
    cert = certify_conv(relabelled, target, box, rng=0, n_samples=200)
    assert cert.a_priori_output_error == np.inf
    assert np.isfinite(cert.certified_output_error)
    monkeypatch.setattr(registry, "CONV_CONSTRUCTIONS", MappingProxyType(
        {**registry.CONV_CONSTRUCTIONS, "l+1-bounded": dataclasses.replace(
            BOUNDED, gain_budget=2 * need)}))
    assert np.isfinite(certify_conv(relabelled, target, box, rng=0,
                                    n_samples=200).a_priori_output_error)


def test_a_priori_recursion_with_gain_budget_is_the_plain_one_without():
    from lotteryproofs import bounds

    rng = np.random.default_rng(3)
    target = random_conv_target(rng, residual=True)
    box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
    plain = bounds.conv_a_priori_error(target, box, EPS)
    assert bounds.conv_a_priori_error(target, box, EPS, gain_budget=None) == plain
    g1 = bounds.conv_a_priori_error(target, box, EPS, gain_budget=0.5)
    g2 = bounds.conv_a_priori_error(target, box, EPS, gain_budget=2.0)
    assert 0 < g1 < g2


def test_same_seed_same_bytes():
    rng = np.random.default_rng(2)
    target = random_conv_target(rng, residual=True)
    a, _ = _build(target, 9)
    b, _ = _build(target, 9)
    c, _ = _build(target, 10)
    for x, y in zip(a.masks, b.masks, strict=True):
        assert x.tobytes() == y.tobytes()
    for x, y in zip(a.source.parameter_arrays, b.source.parameter_arrays, strict=True):
        assert x.tobytes() == y.tobytes()
    assert a.log.chosen.tobytes() == b.log.chosen.tobytes()
    assert any(x.tobytes() != y.tobytes() for x, y in zip(
        a.source.parameter_arrays, c.source.parameter_arrays, strict=True))
