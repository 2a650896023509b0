"""Widening a 2L-type source where instances failed, by drawing genuinely new neurons.

Explicit option only (``construct(..., widen=True)``, CLI ``--widen``). After a solve, every
block whose pool failed an instance (a univariate block i, or the constant block) gets ρ new
block-layer neurons, drawn — after the original source, from the same rng stream — at unit
scale from the scheme's law (weights from every input, biases by the scheme's rule; outgoing
weights to every sum neuron) and scaled by the *original* layer scales, so the He scales of
the widened source are those of the widths it was first drawn with (recorded in the ticket's
metadata). Every instance is then solved again on the widened source; the new neurons appear
in the source's widths. Nothing is resampled: the first draw stays in the source unchanged.
Target biases of a zero-bias source cannot be reached by any width (THEORY.md §4.4), so their
failures never trigger widening. A looks-linear source (i.i.d. blocks, independent or zero
biases) is widened by ρ/2 new twin pairs per failing block: rows r and −r, biases c and −c,
outgoing columns v and −v — the twin structure the ll construction checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.construct import common
from lotteryproofs.laws import sample as sample_law
from lotteryproofs.network import Network
from lotteryproofs.ticket import PART_BIAS


@dataclass(frozen=True, eq=False)
class Widened:
    """The result of :func:`build_widening`: the widened source (He scales of the original
    widths), its unit-scale parameters, the block owners and twin maps of the widened block
    layers, the masks and solved instances on it, and the record kept in the metadata."""

    source: Network
    unit: common.UnitParameters
    owners: list
    mirrors: list
    weight_masks: list
    bias_masks: list
    solved: list
    record: dict


def _failing_owners(solved, depth: int, widths, zero_bias: bool) -> list[set]:
    out = [set() for _ in range(depth)]
    for s in solved:
        inst = s.instances
        for m in np.flatnonzero(s.failed):
            t = int(inst.layer[m])
            if inst.part == PART_BIAS:
                if not zero_bias:
                    out[t].add(int(widths[t]))
            else:
                out[t].add(int(inst.col[m]))
    return out


def _bias_rule(options, looks_linear: bool) -> str:
    if looks_linear:
        if options["weights"] != "iid" or options["biases"] == "dependent":
            raise _validate.InputError(
                "widening a looks-linear source needs weights=iid and independent or zero "
                "biases (new orthogonal or dependent blocks cannot be drawn neuron by neuron)")
        return "zero" if options["biases"] == "zero" else "product"
    rule = options.get("bias_rule", "product")
    if rule not in ("product", "zero"):
        raise _validate.InputError(
            f"widening supports the product and zero bias rules, not {rule!r}")
    return rule


@dataclass(frozen=True)
class _Law:
    """How new block neurons are drawn at unit scale: the law, the bias rule, β, twins."""

    law: str
    rule: str
    beta: float
    twins: bool


def _new_neurons(law: _Law, rng, k: int, n_in: int, n_out: int):
    """k new block neurons at unit scale: incoming rows, biases, outgoing columns (in this
    order from the rng; twins append the mirrored copies −r, −c, −v)."""
    rows = sample_law(law.law, rng, (k, n_in))
    biases = np.zeros(k) if law.rule == "zero" else law.beta * sample_law(law.law, rng, k)
    cols = sample_law(law.law, rng, (n_out, k))
    if law.twins:
        rows, biases, cols = (np.vstack((rows, -rows)), np.concatenate((biases, -biases)),
                              np.hstack((cols, -cols)))
    return rows, biases, cols


def build_widening(target, draw, owners, domain, eps_param, rng, max_rounds: int, *,
                   zero_bias: bool, solve: Callable, mirrors=None) -> Widened:
    """Solve, widen the failing blocks, solve again (≤ max_rounds widenings).

    ``solve(target, unit, domain, eps_param, owners, mirrors) -> (weight masks, bias masks,
    solved)`` is the pair construction's solver (lotteryproofs.construct.two_layer);
    ``mirrors`` (looks-linear sources) are the twin maps of the block layers, and new neurons
    then come in twin pairs.
    """
    options = draw.options
    looks_linear = mirrors is not None
    law = _Law(options["law"], _bias_rule(options, looks_linear),
               float(options.get("bias_factor", 1.0)), looks_linear)
    scales = draw.layer_scales
    rho = int(np.bincount(owners[0]).max())
    unit_w = [np.array(w) for w in draw.unit_network.weights]
    unit_b = [np.array(b) for b in draw.unit_network.biases]
    owners = [np.array(o) for o in owners]
    mirrors = [np.array(m) for m in mirrors] if looks_linear else [None] * target.depth
    added: list[list[int]] = []
    rounds = 0
    while True:
        source = draw.network if rounds == 0 else _scaled(unit_w, unit_b, scales)
        unit = common.unit_parameters(source, scales)
        wm, bm, solved = solve(target, unit, domain, eps_param, owners, mirrors)
        failing = _failing_owners(solved, target.depth, target.widths, zero_bias)
        if rounds >= max_rounds or not any(failing):
            break
        rounds += 1
        for t, blocks in enumerate(failing):
            for owner in sorted(blocks):
                b, s = 2 * t, 2 * t + 1
                start = unit_w[b].shape[0]
                k = rho // 2 if looks_linear else rho
                rows, new_b, cols = _new_neurons(law, rng, k, unit_w[b].shape[1],
                                                 unit_w[s].shape[0])
                if looks_linear:
                    twin = np.concatenate((np.arange(k) + k, np.arange(k))) + start
                    mirrors[t] = np.concatenate((mirrors[t], twin))
                unit_w[b] = np.vstack((unit_w[b], rows))
                unit_b[b] = np.concatenate((unit_b[b], new_b))
                unit_w[s] = np.hstack((unit_w[s], cols))
                owners[t] = np.concatenate((owners[t], np.full(rho, owner)))
                added.append([b, owner, rho])
    record = {"rounds": rounds, "added": added,
              "scales": "new neurons use the layer scales of the original widths"}
    return Widened(source, unit, owners, mirrors, wm, bm, solved, record)


def _scaled(unit_w, unit_b, scales) -> Network:
    from lotteryproofs.init import from_unit_scale

    return from_unit_scale(Network(tuple(unit_w), tuple(unit_b)), scales)
