"""The 2L construction with nonzero biases and its zero-bias baseline (THEORY.md §4.1, §4.4).

Target layer l is represented by source layers 2l−1 (block layer: a univariate block of ρ
neurons per target input and one constant block of ρ neurons) and 2l (one neuron per target
neuron), widths [n_0, ρ(n_0+1), n_1, ρ(n_1+1), …, ρ(n_{L−1}+1), n_L]; the RSS instances and
the masks are those of :mod:`lotteryproofs.construct.univariate`. Proofs: proofs/2l-construction.md.

The zero-bias baseline (§4.4) is the same construction on a source whose biases are all 0: no
neuron can be a constant, so the source has no constant blocks (widths ρ·n_{l−1}) and every
target bias |b| > ε' becomes an instance with no candidates, recorded as failed with error |b|.
Every subnetwork of such a source is positively homogeneous, so its output at x = 0 is 0 and
its error over a box containing 0 is ≥ ‖f_T(0)‖_∞ (proofs/zero-bias-floor.md); its record is
:mod:`lotteryproofs.construct.zero_bias`, the looks-linear variant's
:mod:`lotteryproofs.construct.looks_linear`. This module registers the 2L construction
(:data:`CONSTRUCTION`) and holds the pair machinery the three share.
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import common, univariate, widen
from lotteryproofs.construct.base import BuildInput, Built, Construction
from lotteryproofs.construct.options import BOOLEAN, Interval, Option
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import RepresentedLayer

#: The options of the 2L family (2l, ll, zero-bias): widening where instances fail.
WIDEN_OPTIONS = (
    Option("widen", False, (BOOLEAN,),
           "where an instance fails, add genuinely new neurons and solve again"),
    Option("max_widen_rounds", 4, (Interval(int, 0),), "at most this many widenings"),
)


def source_widths(target_widths, rho: int, *, constants: bool = True, pad_even: bool = False):
    """[n_0, ρ(n_0+1), n_1, …, ρ(n_{L−1}+1), n_L] (ρ·n_{l−1} without constant blocks).

    ``pad_even`` rounds hidden target widths up to even (looks-linear sources need twins; the
    extra neuron is never used and is pruned).
    """
    widths = [target_widths[0]]
    depth = len(target_widths) - 1
    for t in range(1, depth + 1):
        widths.append(rho * (target_widths[t - 1] + (1 if constants else 0)))
        n = target_widths[t]
        widths.append(n + (n % 2) if pad_even and t < depth else n)
    return widths


def build_pairs(target: Network, unit: common.UnitParameters, box: Box, eps_param: float, owners,
                mirrors):
    """Masks and solved instances for every (block, sum) pair of a 2L-type source.

    ``owners[t]`` / ``mirrors[t]`` describe block layer 2t (see solve_block_pair). The
    negative part is built only for target layer 1 and only for inputs the box lets be < 0.
    """
    from lotteryproofs.progress import progress

    weight_masks, bias_masks, solved = [], [], []
    for t in progress(range(target.depth), desc="construct (layers)"):
        n_out, n_in = target.weights[t].shape
        negative_cols = box.has_negative if t == 0 else np.zeros(n_in, bool)
        bw, bb, sw, s = univariate.solve_block_pair(
            layer=t, target_w=target.weights[t], target_b=target.biases[t],
            block_w=unit.weights[2 * t], block_b=unit.biases[2 * t],
            sum_w=unit.weights[2 * t + 1], owner=owners[t],
            row_map=np.arange(n_out)[:, None], negative_cols=negative_cols,
            eps_param=eps_param, mirror=mirrors[t])
        weight_masks += [bw, sw]
        bias_masks += [bb, np.zeros(unit.biases[2 * t + 1].shape, bool)]
        solved += s
    return weight_masks, bias_masks, solved


def pair_layout(target: Network, owners, box: Box) -> list[dict]:
    """The layout metadata of a 2L-type ticket (what represented_layers reads back)."""
    return pair_layout_of(target.widths, owners, bool(box.has_negative.any()))


def pair_layout_of(target_widths, owners, negative_inputs: bool) -> list[dict]:
    """:func:`pair_layout` from the target's widths and whether some input can be < 0."""
    depth = len(target_widths) - 1
    return [
        {"block_layer": 2 * t, "sum_layer": 2 * t + 1, "n_in": int(target_widths[t]),
         "n_out": int(target_widths[t + 1]), "owners": common.owners_to_runs(owners[t]),
         "negative_built": bool(t == 0 and negative_inputs)}
        for t in range(depth)
    ]


def widened_owners(owners, widening) -> list[np.ndarray]:
    """The block owners after widening: each ``added`` entry [block layer b, owner, count]
    appends ``count`` neurons of that owner to block layer b, in the order of the record
    (lotteryproofs.construct.widen)."""
    out = [np.asarray(o, np.int64) for o in owners]
    for b, owner, count in (widening or {}).get("added", ()):
        t = int(b) // 2
        out[t] = np.concatenate((out[t], np.full(int(count), int(owner), np.int64)))
    return out


def regular_layout(target_widths, rho: int, *, constants: bool):
    """Owner arrays of the block layers: ρ neurons per input (and per constant block)."""
    return [common.regular_owners(n + (1 if constants else 0), rho) for n in target_widths[:-1]]


def represent_pairs(unit_ticket: Network, layout: list[dict]) -> tuple[RepresentedLayer, ...]:
    """What a 2L-type ticket computes per target layer (one copy), read from its masks."""
    out = []
    for pair in layout:
        b, s = pair["block_layer"], pair["sum_layer"]
        positive, negative, bias = univariate.represent_block_pair(
            unit_ticket.weights[b], unit_ticket.biases[b], unit_ticket.weights[s],
            unit_ticket.biases[s], pair["n_in"], np.arange(pair["n_out"]))
        extra = _unread_outputs(unit_ticket, s, pair["n_out"])
        if extra is not None:
            raise univariate.LayoutError(
                f"source layer {s} neuron {extra} is kept but is no target neuron")
        gain = np.maximum(np.abs(positive), np.abs(negative))
        out.append(RepresentedLayer(positive[None], negative[None], bias[None], gain[None]))
    return tuple(out)


def _unread_outputs(unit_ticket: Network, layer: int, n_out: int):
    """A padding neuron beyond the target's width that still computes something, if any."""
    w, b = unit_ticket.weights[layer][n_out:], unit_ticket.biases[layer][n_out:]
    live = np.flatnonzero(np.any(w != 0, axis=1) | (b != 0))
    return int(n_out + live[0]) if live.size else None


def represent_pairs_masked(network: Network, layer_scales, layout: list[dict], *,
                           absolute: bool = False) -> tuple[RepresentedLayer, ...] | None:
    """:func:`represent_pairs` of the unit-scale form of the masked network ``network`` (of
    its absolute values with ``absolute``), computed from its nonzero entries: each kept
    weight divided by its layer's scale λ_l, each bias by Π_{k≤l} λ_k — the quotients
    ``init.unit_scale`` computes there (fl(|θ|/λ) = |fl(θ/λ)|), a zero quotient (underflow)
    treated as the zero it is — without the dense unit-scale network. The same values and
    the same LayoutError as on that network; None where some quotient is not finite (the
    dense path then reports it as unit_scale does)."""
    from lotteryproofs.indices import nonzero_2d
    from lotteryproofs.init import _layer_scales

    scales = _layer_scales(network, layer_scales)
    cumulative = np.cumprod(scales)
    entries, biases = [], []
    for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        rows, cols = nonzero_2d(w)
        values = w[rows, cols] / scales[t]
        bias = b / cumulative[t]
        if not (np.isfinite(values).all() and np.isfinite(bias).all()):
            return None
        if absolute:
            values, bias = np.abs(values), np.abs(bias)
        keep = values != 0
        entries.append((rows[keep], cols[keep], values[keep]))
        biases.append(bias)
    out = []
    for pair in layout:
        b, s, n_in, n_out = pair["block_layer"], pair["sum_layer"], pair["n_in"], pair["n_out"]
        rows, cols, values = entries[s]
        read = rows < n_out
        positive, negative, bias = univariate.represent_block_pair_entries(
            network.weights[b].shape[0], entries[b], biases[b],
            (rows[read], cols[read], values[read]), biases[s][:n_out], n_in)
        live = np.concatenate((rows[~read], n_out + np.flatnonzero(biases[s][n_out:] != 0)))
        if live.size:
            raise univariate.LayoutError(
                f"source layer {s} neuron {int(live.min())} is kept but is no target neuron")
        gain = np.maximum(np.abs(positive), np.abs(negative))
        out.append(RepresentedLayer(positive[None], negative[None], bias[None], gain[None]))
    return tuple(out)


def solve_pair_layers(inp: BuildInput, owners, mirrors=None, *, zero_bias: bool,
                      check=None) -> Built:
    """Solve every (block, sum) pair on the drawn source, widening it first if the options ask
    (lotteryproofs.construct.widen). ``mirrors``: the twin maps of a looks-linear source (None:
    no twins); ``check(unit, mirrors)`` re-checks the widened source's twin structure."""
    target, domain, eps_param = inp.target, inp.domain, inp.eps_param
    source, widening = inp.draw.source, None
    pair_mirrors = [None] * target.depth if mirrors is None else mirrors
    if inp.options["widen"]:
        widened = widen.build_widening(
            target, inp.draw, owners, domain, eps_param, inp.rng, inp.options["max_widen_rounds"],
            zero_bias=zero_bias, solve=build_pairs, mirrors=mirrors)
        if check is not None:
            check(widened.unit, widened.mirrors)
        source, owners, widening = widened.source, widened.owners, widened.record
        wm, bm, solved = widened.weight_masks, widened.bias_masks, widened.solved
    else:
        wm, bm, solved = build_pairs(target, inp.unit, domain, eps_param, owners, pair_mirrors)
    return Built(source, tuple(inp.draw.layer_scales), tuple(wm), tuple(bm), solved,
                 {"pairs": pair_layout(target, owners, domain)}, widening)


def represent(unit_ticket: Network, metadata) -> tuple[RepresentedLayer, ...]:
    """Read-back of a 2L-type ticket (2l, ll, zero-bias): its pairs, from the layout."""
    return represent_pairs(unit_ticket, metadata["layout"]["pairs"])


def represent_masked(network: Network, metadata, *, absolute: bool = False):
    """:func:`represent` of the unit-scale form of the masked ``network`` (or of |θ|) from its
    nonzero entries (:func:`represent_pairs_masked`; None: use the dense path)."""
    return represent_pairs_masked(network, metadata["layer_scales"],
                                  metadata["layout"]["pairs"], absolute=absolute)


def _build(inp: BuildInput) -> Built:
    owners = regular_layout(inp.target.widths, inp.rho, constants=True)
    return solve_pair_layers(inp, owners, zero_bias=False)


def pair_construction(name: str, label: str, summary: str, *, widths, build, owners,
                      **fields) -> Construction:
    """The record of a 2L-family construction: pairs read back by :func:`represent`, the
    widening options, ``widths(target_widths, rho)`` for its source widths and
    ``owners(target_widths, rho)`` for the block owners of its unwidened source."""
    def expected_layout(target, rho, options, negative_inputs, widening):
        own = widened_owners(owners(target.widths, rho), widening)
        return {"pairs": pair_layout_of(target.widths, own, negative_inputs)}

    return Construction(
        name=name, label=label, summary=summary,
        source_widths=lambda target_widths, rho, options: widths(target_widths, rho),
        build=build, represent=represent, represent_masked=represent_masked,
        expected_layout=expected_layout, options=WIDEN_OPTIONS, **fields)


CONSTRUCTION = pair_construction(
    "2l", "2L", "§4.1 two source layers per target layer, nonzero biases",
    widths=source_widths, build=_build, default_init="uniform", bound=BoundSpec("2l"),
    owners=lambda target_widths, rho: regular_layout(target_widths, rho, constants=True))
