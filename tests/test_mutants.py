"""Every registered theorem's check fails under a plausible bug in the code it is about.

One row per registered theorem: (key, patch target "module:attribute", a factory that gets the
original attribute and returns the mutant). The test patches the attribute, runs the theorem's
registered check (the function ``lotteryproofs check --only KEY`` runs) and asserts it FAILS;
once per theorem it also runs it unpatched and asserts it passes (under CI, where .ci/run's
``lotteryproofs check`` has run every check unpatched just before, that step asserts it).
proofs/README.md has this table in prose.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from lotteryproofs.checks import registry
from lotteryproofs.theorems import CheckContext, theorem_rng

SEED = 0
ROOT = Path(__file__).resolve().parents[1]


def _scaled_output(factor):
    """Mutant factory: the wrapped function's second output (a scale) times ``factor``."""
    def make(orig):
        def mutant(*args, **kwargs):
            first, second = orig(*args, **kwargs)
            return first, second * factor
        return mutant
    return make


def _ll_bias_not_cancelled(orig):
    def mutant(weight_blocks, bias_blocks, *args, **kwargs):
        biases = [np.asarray(b, dtype=np.float64) for b in bias_blocks]
        biases[0] = biases[0] + 1e-3  # the mirror's bias no longer cancels its twin's
        return orig(weight_blocks, biases, *args, **kwargs)
    return mutant


def _non_orthogonal_block(orig):
    def mutant(law, kind, *args, **kwargs):
        block = np.array(orig(law, kind, *args, **kwargs), dtype=np.float64)
        block[0] *= 1.01  # one row stretched by 1 %: no longer orthogonal
        return block
    return mutant


def _zero_bias_scheme_keeps_biases(orig):
    def mutant(scheme, widths, **kwargs):
        return orig(scheme.removesuffix("-zero-bias"), widths, **kwargs)
    return mutant


def _constant_rule_wrong_cumulative(orig):
    def mutant(options, unit_draw, cumulative):
        return orig(options, unit_draw, 1.5 * cumulative)  # b̃_l divided by a wrong Π σ_k
    return mutant


def _hide_failures(orig):
    def mutant(*args, **kwargs):
        solved = orig(*args, **kwargs)
        return dataclasses.replace(solved, failed=np.zeros_like(solved.failed))
    return mutant


def _two_layer_without_biases(orig):
    from lotteryproofs.construct import zero_bias

    return zero_bias.CONSTRUCTION  # "2L" that drops its bias instances


def _bounded_gain_ignores_constraint(orig):
    from lotteryproofs.construct import l_plus_one

    return dataclasses.replace(orig, build=l_plus_one.CONSTRUCTION.build)


def _conv_bounded_gain_without_ladder(orig):
    from lotteryproofs.construct import conv_l_plus_one

    return dataclasses.replace(orig, solve=conv_l_plus_one.solve)  # plain sparsest subsets


def _wrong_scale_exponent(orig):
    def mutant(network, scale, *args, **kwargs):
        return orig(network, scale ** (1 + 1e-6), *args, **kwargs)
    return mutant


def _wrong_bias_gradient(orig):
    def mutant(*args, **kwargs):
        grads = orig(*args, **kwargs)
        bias = tuple(1.01 * g for g in grads.bias_masks)
        return dataclasses.replace(grads, bias_masks=bias)
    return mutant


def _drop_last_value(orig):
    def mutant(values, *args, **kwargs):
        values = np.asarray(values)
        return orig(values[:-1] if values.size > 1 else values, *args, **kwargs)  # off by one
    return mutant


def _gain_without_k_eps(orig):
    def mutant(spec, depth, *, eps_param=None, **kwargs):
        from lotteryproofs import bounds

        eps = bounds.EPS_PARAM if eps_param is None else eps_param
        gains, injected = orig(spec, depth, eps_param=eps, **kwargs)
        s = bounds.layer_symbols(depth)
        return list(s.a), injected  # g_l = a_l: the k_l ε' (or copy gain) forgotten
    return mutant


def _drop_plus_one_injection(orig):
    def mutant(spec, depth, *, eps_param=None, **kwargs):
        from lotteryproofs import bounds

        eps = bounds.EPS_PARAM if eps_param is None else eps_param
        gains, injected = orig(spec, depth, eps_param=eps, **kwargs)
        if spec.biases:  # c_l = ε' k_l B_{l−1}: the bias's own ε' forgotten
            s = bounds.layer_symbols(depth)
            injected = [eps * s.k[ly] * s.B[ly] for ly in range(depth)]
        return gains, injected
    return mutant


def _times(factor):
    def make(orig):
        def mutant(*args, **kwargs):
            return orig(*args, **kwargs) * factor
        return mutant
    return make


def _product3_as_product(orig):
    def mutant(name):
        law = orig(name)
        if getattr(law, "name", None) == "product3":
            return dataclasses.replace(law, sample_values=orig("product").sample_values)
        return law
    return mutant


def _coverage_at_double_eps(orig):
    def mutant(values, eps, *args, **kwargs):
        return orig(values, 2 * eps, *args, **kwargs)  # wrong tolerance: covers too eagerly
    return mutant


def _authors_eps_doubled(orig):
    def mutant(law, **kwargs):
        return orig(law, **{**kwargs, "eps": 0.02})  # the replication run at 2ε'
    return mutant


def _bias_unit_scale_per_layer(orig):
    def mutant(source, layer_scales):
        from lotteryproofs.construct.conv_two_layer import param_layers

        weights, _ = orig(source, layer_scales)
        # b/λ_l: the bias read at unit scale with its own layer's λ, not Π_{k≤l} λ_k
        biases = [layer.bias / float(s)
                  for layer, s in zip(param_layers(source.layers), layer_scales, strict=True)]
        return weights, biases
    return mutant


def _constant_tap_at_corner(orig):
    def mutant(layer, units):
        from lotteryproofs.conv_layers import Conv2d

        owner, value, origin = orig(layer, units)
        if not isinstance(layer, Conv2d):
            return owner, value, origin
        kh, kw = layer.weight.shape[2:]
        centre = layer.padding[0] * kw + layer.padding[1]
        const = np.flatnonzero(owner == units.n * kh * kw)
        if centre == 0 or const.size == 0:
            return owner, value, origin
        owner, value = owner.copy(), value.copy()
        # the constant read through tap (0, 0), which reads padding at the top/left border
        owner[const - centre], value[const - centre] = owner[const], value[const]
        owner[const], value[const] = -1, 0.0
        return owner, value, origin
    return mutant


def _recursion_without_fan_in(orig):
    def mutant(layers, activations, lo, hi, e, eps_param, gain_budget=None):
        from lotteryproofs.propagation import FLOAT_INTERVAL, propagate

        for t, layer in enumerate(layers):
            if getattr(layer, "kind", "") == "residual":
                e = e + mutant(layer.body_layers, layer.body_activations, lo, hi, e, eps_param)
            elif hasattr(layer, "weight"):
                k = np.asarray(layer.weight).reshape(layer.weight.shape[0], -1)
                m = float(np.max(np.maximum(hi, 0.0) + np.maximum(-lo, 0.0)))
                l1 = float(np.max(np.abs(k).sum(axis=1)))
                # ε' counted once per output channel, not once per kernel entry (F forgotten)
                e = eps_param * (m + 1.0) + (l1 + eps_param) * e
            lo, hi = propagate((layer,), (), (lo, hi), FLOAT_INTERVAL)
            if t < len(layers) - 1:
                lo, hi = activations[t].interval(lo, hi)
        return e
    return mutant


def _chord_constant_dropped(orig):
    def mutant(zlo, zhi, dlo, dhi):
        tt, _, s, beta_l = orig(zlo, zhi, dlo, dhi)
        return tt, np.zeros_like(tt), s, beta_l  # δ ≤ t·Δ: the chord's −t·Δ⁻ dropped
    return mutant


def _constants_output_one(orig):
    def mutant(*args, constant_output, **kwargs):
        return orig(*args, constant_output=np.ones_like, **kwargs)  # φ(c) read as 1
    return mutant


def _sphere_labels_repeated(orig):
    def mutant(dim, n_directions, rng):
        x, _ = orig(dim, n_directions, rng)
        # np.repeat for np.tile: labels by direction, the two radii of a direction alike
        return x, np.repeat(np.array([0, 1], dtype=np.int64), n_directions)
    return mutant


#: (theorem key, "module:attribute" patched, factory(original) -> mutant, the bug injected)
MUTANTS = (
    ("init.scaling-lemma", "lotteryproofs.checks.init:unit_scale", _scaled_output(1 + 1e-9),
     "Λ off by a factor 1 + 1e-9"),
    ("init.looks-linear", "lotteryproofs.init:looks_linear_layers", _ll_bias_not_cancelled,
     "a mirror bias that does not cancel"),
    ("init.orthogonal-jacobian", "lotteryproofs.init:_ll_weight_block", _non_orthogonal_block,
     "orthogonal block with one row stretched 1 %"),
    ("init.zero-bias-homogeneity", "lotteryproofs.checks.init:draw_source",
     _zero_bias_scheme_keeps_biases, "zero-bias scheme draws biases"),
    ("init.signal-propagation", "lotteryproofs.init:_iid_bias", _constant_rule_wrong_cumulative,
     "constant bias rule divided by a wrong Π σ_k"),
    ("construct.2l", "lotteryproofs.construct.common:solve", _hide_failures, "hide failures"),
    ("construct.ll", "lotteryproofs.construct.common:solve", _hide_failures, "hide failures"),
    ("construct.l-plus-one", "lotteryproofs.construct.common:solve", _hide_failures,
     "hide failures"),
    ("construct.zero-bias-floor", "lotteryproofs.construct.two_layer:CONSTRUCTION",
     _two_layer_without_biases, "2L drops its bias instances"),
    ("construct.l-plus-one-bounded", "lotteryproofs.construct.bounded_gain:CONSTRUCTION",
     _bounded_gain_ignores_constraint, "copy layers ignore the gain constraint"),
    ("popup.scaled-identity", "lotteryproofs.checks.popup:distribute_scale",
     _wrong_scale_exponent, "λ distributed with a wrong exponent"),
    ("popup.backward", "lotteryproofs.checks.popup:loss_and_gradients", _wrong_bias_gradient,
     "bias-mask gradient 1 % off"),
    ("rss.counting-lower-bound", "lotteryproofs.checks.rss:coverage_certificate",
     _drop_last_value, "off by one: the last value is not searched"),
    ("error-propagation-closed-form", "lotteryproofs.bounds:layer_gains_and_injections",
     _gain_without_k_eps, "wrong gain g_l = a_l"),
    ("bounds-lambdify-agrees", "lotteryproofs.bounds:layer_gains_and_injections",
     _drop_plus_one_injection, "the +1 injection dropped"),
    ("certificate-soundness", "lotteryproofs.a_priori:a_priori_output_error", _times(0.5),
     "a-priori bound halved"),
    ("laws.contains-uniform", "lotteryproofs.laws:contained_uniform_weight", _times(1.01),
     "contained weight 1 % too large"),
    ("laws.product-densities", "lotteryproofs.laws:get_law", _product3_as_product,
     "product3 sampled as a product of two"),
    ("rss.lueker-constant", "lotteryproofs.rss:coverage_certificate", _coverage_at_double_eps,
     "coverage certified at 2ε'"),
    ("rss.authors-statistics", "lotteryproofs.constants:replicate_authors", _authors_eps_doubled,
     "authors' ε' doubled"),
    ("construct.conv-2l", "lotteryproofs.construct.conv_two_layer:unit_flat",
     _bias_unit_scale_per_layer, "bias unit scale b/λ_l instead of b/Π λ_k"),
    ("construct.conv-l-plus-one", "lotteryproofs.construct.conv_l_plus_one:_columns",
     _constant_tap_at_corner, "biases read through the constant channels' tap (0, 0)"),
    ("construct.conv-bounded-gain", "lotteryproofs.construct.conv_bounded_gain:CONSTRUCTION",
     _conv_bounded_gain_without_ladder, "copy layers ignore the gain ladder"),
    ("bounds.conv-recursion", "lotteryproofs.bounds:_recursion_layers",
     _recursion_without_fan_in, "ε' injected once per channel, the fan-in F forgotten"),
    ("certificate-differential", "lotteryproofs.certify.crown:_relu_difference_linear",
     _chord_constant_dropped, "the chord's constant of δ ≤ t(Δ − Δ⁻) dropped"),
    ("construct.l-plus-one-general", "lotteryproofs.construct.l_plus_one:_solve_copy_layer",
     _constants_output_one, "constant neurons taken to output 1, not φ(c)"),
    ("popup.zero-bias-sphere-limit", "lotteryproofs.datasets:concentric_spheres",
     _sphere_labels_repeated, "sphere labels by direction (np.repeat for np.tile)"),
)


def _theorem(key):
    return {t.key: t for t in registry().theorems}[key]


def _run(key):
    theorem = _theorem(key)
    return theorem.check(CheckContext(theorem_rng(SEED, key)))


def _clear_caches():
    from lotteryproofs import bounds

    bounds.a_priori_output_error_expr.cache_clear()


def test_every_registered_theorem_has_a_mutant():
    keys = set(registry().keys())
    covered = {row[0] for row in MUTANTS}
    assert keys - covered == set(), f"theorems without a mutant: {sorted(keys - covered)}"
    assert covered - keys == set(), f"mutants of unregistered theorems: {sorted(covered - keys)}"


@pytest.mark.parametrize("target", sorted({row[1] for row in MUTANTS}))
def test_patched_attribute_exists(target):
    module, attr = target.split(":")
    assert hasattr(importlib.import_module(module), attr), target


#: Mutants the check does not catch yet (open, reported; strict: a fix turns them red).
SURVIVORS: set[str] = set()


@pytest.mark.parametrize(("key", "target", "factory", "bug"), [
    pytest.param(*row, marks=pytest.mark.xfail(strict=True, reason="mutant survives: open"))
    if row[0] in SURVIVORS else row for row in MUTANTS],
    ids=[f"{row[0]}:{row[3]}" for row in MUTANTS])
def test_check_fails_under_its_mutant(key, target, factory, bug, monkeypatch):
    module, attr = target.split(":")
    module = importlib.import_module(module)
    original = getattr(module, attr)
    mutant = factory(original)
    assert mutant is not original
    monkeypatch.setattr(module, attr, mutant)
    _clear_caches()
    try:
        result = _run(key)
    finally:
        monkeypatch.undo()
        _clear_caches()
    assert not result.passed, f"{key} passed under the mutant '{bug}': {result.measured}"


#: Under CI, .ci/run has already run ``lotteryproofs check`` (every registered check, seed 0,
#: not thorough: the context of :func:`_run`) and failed on any failed check, before pytest;
#: the clean runs below would repeat that step (about half this file's time), so CI skips them.
#: test_clean_runs_are_those_of_lotteryproofs_check keeps the two the same runs.
CLEAN_RUNS_DONE_BY_CI_CHECK = bool(os.environ.get("CI"))


def test_clean_runs_are_those_of_lotteryproofs_check():
    import argparse

    from lotteryproofs import report
    from lotteryproofs.commands import check

    step = re.search(r"^python3 -m pip install \. && lotteryproofs check(.*)$",
                     (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert step and not re.search(r"--(only|seed|thorough)", step.group(1)), "CI checks all"
    parser = argparse.ArgumentParser()
    check.add_arguments(parser)
    defaults = parser.parse_args([])
    assert int(defaults.seed) == SEED and not defaults.thorough
    theorem = _theorem(MUTANTS[0][0])
    seen = []

    def capture(ctx):
        seen.append((repr(ctx.rng.bit_generator.state), ctx.thorough))
        return theorem.check(ctx)

    (row,) = report.iter_checks([dataclasses.replace(theorem, check=capture)], seed=SEED)
    assert seen == [(repr(theorem_rng(SEED, theorem.key).bit_generator.state), False)]
    clean = _run(theorem.key)
    assert (row.result.passed, row.result.measured) == (clean.passed, clean.measured)


@pytest.mark.skipif(CLEAN_RUNS_DONE_BY_CI_CHECK,
                    reason="CI: .ci/run's `lotteryproofs check` ran every check clean already")
@pytest.mark.parametrize("key", sorted({row[0] for row in MUTANTS}))
def test_check_passes_without_mutant(key):
    result = _run(key)
    assert result.passed, f"{key}: {result.measured}"
