"""The L+1 construction with nonzero biases (THEORY.md §4.3; proofs/l-plus-one-construction.md).

Source widths [n_0, ρ_in(n_0+1), ρ(n_1+1), …, ρ(n_{L−1}+1), n_L] (0-based source layers):

- layer 0: univariate blocks σ(u x_i) (ρ_in per input) and a constant block, as in §4.1;
- layer 1: ρ copies of every target neuron of target layer 1 (copy c of neuron j is neuron
  j·ρ + c), each its own instances over products v·u and v·c (§4.1), then a constant block
  of ρ neurons (owner n_1) that keep only a positive bias;
- layer t ≥ 2: copy c of target neuron j of target layer t keeps weights v_r on a subset of
  the ρ copies of target neuron i in layer t−1: Σ_{r∈S} v_r x̂_i^{(r)} ≈ (Σ_S v_r)·x_i, an
  instance over *single* draws v_r with target w_ji; its bias is an instance over products
  v·c with the constant block of layer t−1;
- the output layer has one copy per output neuron. With L = 1 this is the 2L construction.

The copies carry different errors, so the effective input weight's gain is Σ_{r∈S}|v_r|, not
|w| (THEORY.md §4.3, §5). This module registers the L+1 construction (:data:`CONSTRUCTION`);
its option ``rho_in`` is the multiplicity of the first block layer (default ρ, or the width
theorem's ρ_in when ρ is sized a priori).
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import common, univariate
from lotteryproofs.construct.base import BuildInput, Built, Construction
from lotteryproofs.construct.options import NONE, Interval, Option
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import PART_BIAS, PART_POSITIVE, RepresentedLayer


def source_widths(target_widths, rho: int, rho_in: int):
    depth = len(target_widths) - 1
    widths = [target_widths[0], rho_in * (target_widths[0] + 1)]
    widths += [rho * (n + 1) for n in target_widths[1:depth]]
    return widths + [target_widths[-1]]


def copies_of(t: int, depth: int, rho: int) -> int:
    """Copies per target neuron of target layer t (0-based): ρ for hidden layers, 1 for output."""
    return rho if t < depth - 1 else 1


def owners(target_widths, rho: int, rho_in: int) -> list[np.ndarray]:
    """owner[k] of source layers 0 … L−1: the target neuron k copies (or the constant block)."""
    depth = len(target_widths) - 1
    out = [common.regular_owners(target_widths[0] + 1, rho_in)]
    out += [common.regular_owners(target_widths[t] + 1, rho) for t in range(1, depth)]
    return out


def build(target: Network, unit: common.UnitParameters, box: Box, eps_param: float, rho: int,
          rho_in: int, *, gain_slack=None, layer_eps=None):
    """Masks (weights, biases per source layer) and solved instances at unit scale.

    ``gain_slack`` = c restricts every weight instance of the copy layers (target layers
    l ≥ 2) to subsets with Σ_S|v| ≤ |w| + c·ε' (the bounded-gain variant,
    :mod:`lotteryproofs.construct.bounded_gain`); None is the plain L+1 construction.
    Per-layer allocation (proofs/bounded-gain-l+1.md): ``layer_eps`` gives ε'_t for the
    instances of target layer t (0-based) in place of ε', and ``gain_slack`` may then be one c
    per layer (entry 0, the 2L layer, unused)."""
    def eps_of(t):
        return eps_param if layer_eps is None else float(layer_eps[t])

    def slack_of(t):
        if gain_slack is None or np.ndim(gain_slack) == 0:
            return gain_slack
        return float(gain_slack[t])
    widths = target.widths
    depth = target.depth
    own = owners(widths, rho, rho_in)
    weight_masks = [np.zeros(w.shape, bool) for w in unit.weights]
    bias_masks = [np.zeros(b.shape, bool) for b in unit.biases]
    copies0 = copies_of(0, depth, rho)
    row_map = np.arange(widths[1] * copies0).reshape(widths[1], copies0)
    bw, bb, sw, solved = univariate.solve_block_pair(
        layer=0, target_w=target.weights[0], target_b=target.biases[0],
        block_w=unit.weights[0], block_b=unit.biases[0], sum_w=unit.weights[1],
        owner=own[0], row_map=row_map, negative_cols=box.has_negative,
        eps_param=eps_of(0), mirror=None)
    weight_masks[0], bias_masks[0], weight_masks[1] = bw, bb, sw
    from lotteryproofs.progress import progress

    for t in progress(range(1, depth), desc="construct (copy layers)"):
        s = _solve_copy_layer(t, target, unit, own[t], copies_of(t, depth, rho), eps_of(t),
                              slack_of(t))
        for batch in s:
            inst_id, neurons = batch.chosen_neurons()
            rows = batch.instances.row[inst_id] * copies_of(t, depth, rho) + \
                batch.instances.copy[inst_id]
            weight_masks[t + 1][rows, neurons] = True
            if batch.instances.part == PART_BIAS:
                bias_masks[t][neurons] = True
        solved += s
    return weight_masks, bias_masks, solved


def relu_constant(bias: np.ndarray) -> np.ndarray:
    """What a neuron that keeps only its bias c outputs under ReLU: σ(c) = max(c, 0)."""
    return np.maximum(bias, 0.0)


def _solve_copy_layer(t, target, unit, owner, copies, eps_param, gain_slack=None,
                      constant_output=relu_constant):
    """Instances of target layer t ≥ 1: weights over single draws (gain-bounded when
    ``gain_slack`` is given), biases over v·σ(c) (their gain never multiplies an error).

    ``constant_output(c)`` is what a constant-block neuron with bias c feeds forward (its
    activation at pre-activation c); a neuron whose output is 0 is no candidate."""
    return solve_copies(t, target.weights[t], target.biases[t], unit.weights[t + 1], owner,
                        constant_output(unit.biases[t]), copies, eps_param, gain_slack)


def solve_copies(t, w_t, b_t, sum_w, owner, constant_value, copies, eps_param,
                 gain_slack=None):
    """The instances of a copy layer on its flat weight matrix ``sum_w`` (rows: copy c of
    target row j is row j·copies + c): target entry w_t[j, i] over single draws from the
    columns k with owner[k] = i, the bias b_t[j] over products v·c_k with the columns of
    owner n_in (constants; ``constant_value[k]`` = c_k, 0 = no candidate). A convolution is
    this on its patch matrix (construct/conv_l_plus_one.py)."""
    n_in = w_t.shape[1]
    copy_neuron = (owner >= 0) & (owner < n_in)
    constant = (owner == n_in) & (constant_value != 0)
    amplitude = np.where(copy_neuron, 1.0, np.where(constant, constant_value, 0.0))
    copy_pools = common.make_pools(owner, copy_neuron, n_in)
    constant_pools = common.make_pools(np.where(constant, 0, -1), constant, 1)
    jj, ii = np.nonzero(common.significant(w_t, eps_param))
    j_c, i_c = np.repeat(jj, copies), np.repeat(ii, copies)
    c = np.tile(np.arange(copies), jj.size)
    weights = common.solve_pooled(
        eps_param, gain_slack=gain_slack, layer=t, part=PART_POSITIVE, rows=j_c, cols=i_c,
        copies=c, targets=w_t[j_c, i_c], pools=copy_pools, pool_of=i_c, outgoing=sum_w,
        out_rows=j_c * copies + c, amplitude=amplitude)
    jb = np.flatnonzero(common.significant(b_t, eps_param))
    jb_c, cb = np.repeat(jb, copies), np.tile(np.arange(copies), jb.size)
    biases = common.solve_pooled(
        eps_param, layer=t, part=PART_BIAS, rows=jb_c, cols=np.full(jb_c.size, -1), copies=cb,
        targets=b_t[jb_c], pools=constant_pools, pool_of=np.zeros(jb_c.size, np.int64),
        outgoing=sum_w, out_rows=jb_c * copies + cb, amplitude=amplitude)
    return [*weights, *biases]


def layout(target_widths, rho: int, rho_in: int) -> dict:
    return {"rho_in": int(rho_in),
            "owners": [common.owners_to_runs(o) for o in owners(target_widths, rho, rho_in)]}


def represent(unit_ticket: Network, target_widths, rho: int, meta_layout: dict | None = None):
    """What an L+1 ticket computes per target layer (ρ copies for hidden layers), from masks.

    The owner of neuron k of copy layer t ≥ 1 is not read from ``meta_layout`` (a file's
    claim) but follows from the read-back of the layer before, which makes row j·ρ + c copy c
    of target neuron j: owner k // ρ for k < n_t·ρ, the constant block n_t after (every such
    neuron must keep no weight, else LayoutError). ``meta_layout`` is not used; verify compares
    a file's layout with :func:`layout` (lotteryproofs.ticket_checks)."""
    depth = len(target_widths) - 1
    out = []
    copies0 = copies_of(0, depth, rho)
    n1 = target_widths[1]
    positive, negative, bias = univariate.represent_block_pair(
        unit_ticket.weights[0], unit_ticket.biases[0], unit_ticket.weights[1],
        unit_ticket.biases[1], target_widths[0], np.arange(n1 * copies0))

    def by_copy(a):
        return np.moveaxis(a.reshape(n1, copies0, *a.shape[1:]), 1, 0)

    gain = np.maximum(np.abs(positive), np.abs(negative))
    out.append(RepresentedLayer(by_copy(positive), by_copy(negative), by_copy(bias),
                                by_copy(gain)))
    for t in range(1, depth):
        n_in, n_out = target_widths[t], target_widths[t + 1]
        copies = copies_of(t, depth, rho)
        prev_w, prev_b = unit_ticket.weights[t], unit_ticket.biases[t]
        owner = np.minimum(np.arange(prev_b.size, dtype=np.int64) // rho, n_in)
        sub = unit_ticket.weights[t + 1][: n_out * copies]
        rows, k = np.nonzero(sub)
        v = sub[rows, k]
        is_copy = (owner[k] >= 0) & (owner[k] < n_in)
        is_const = owner[k] == n_in
        # One flag per source neuron, then gathered: indexing prev_w[k] would copy a whole
        # row per kept weight (nnz × fan-in floats: tens of GB on real targets).
        const_ok = (np.count_nonzero(prev_w, axis=1) == 0)[k]
        bad = ~(is_copy | (is_const & const_ok))
        if bad.any():
            raise univariate.LayoutError(
                f"source layer {t + 1} reads neuron {int(k[bad][0])} of layer {t}, which is "
                "neither a copy of a target neuron nor a constant")
        n_rows = n_out * copies
        keys = rows[is_copy] * n_in + owner[k[is_copy]]
        pos = univariate.group_fsum(keys, v[is_copy], n_rows * n_in).reshape(n_rows, n_in)
        gain = univariate.group_fsum(keys, np.abs(v[is_copy]), n_rows * n_in)
        gain = gain.reshape(n_rows, n_in)
        c = np.maximum(prev_b, 0.0)
        bias_keys = np.concatenate((rows[is_const], np.arange(n_rows)))
        bias_vals = np.concatenate(((v * c[k])[is_const], unit_ticket.biases[t + 1][:n_rows]))
        bias = univariate.group_fsum(bias_keys, bias_vals, n_rows)

        def per_copy(a, n=n_out, m=copies):
            return np.moveaxis(a.reshape(n, m, *a.shape[1:]), 1, 0)

        out.append(RepresentedLayer(per_copy(pos), np.zeros((copies, n_out, n_in)),
                                    per_copy(bias), per_copy(gain)))
    return tuple(out)


def _rho_in(rho: int, options) -> int:
    return rho if options["rho_in"] is None else options["rho_in"]


def build_from_input(inp: BuildInput, *, gain_slack=None, layer_eps=None) -> Built:
    """The Construction's ``build`` (``gain_slack``, ``layer_eps``: see :func:`build`)."""
    rho, rho_in = inp.rho, _rho_in(inp.rho, inp.options)
    wm, bm, solved = build(inp.target, inp.unit, inp.domain, inp.eps_param, rho, rho_in,
                           gain_slack=gain_slack, layer_eps=layer_eps)
    return Built(inp.draw.source, tuple(inp.draw.layer_scales), tuple(wm), tuple(bm), solved,
                 layout(inp.target.widths, rho, rho_in))


def _build(inp: BuildInput) -> Built:
    return build_from_input(inp)


def represent_from_metadata(unit_ticket: Network, metadata):
    """The Construction's ``represent``: :func:`represent` with the ticket's widths and ρ."""
    widths = tuple(int(n) for n in metadata["target_widths"])
    return represent(unit_ticket, widths, int(metadata["rho"]))


def expected_layout(target, rho: int, options, negative_inputs: bool, widening):
    """The Construction's ``expected_layout``: :func:`layout` (no widening, any box)."""
    return layout(target.widths, rho, _rho_in(rho, options))


def widths_from_options(target_widths, rho: int, options):
    """The Construction's ``source_widths`` (ρ_in from the options, default ρ)."""
    return source_widths(target_widths, rho, _rho_in(rho, options))


#: ρ_in: the multiplicity of the first block layer (THEORY.md §4.3)
RHO_IN = Option("rho_in", None, (NONE, Interval(int, 1)),
                "multiplicity of the first block layer (default ρ)")

CONSTRUCTION = Construction(
    "l+1", "L+1", "§4.3 one extra layer; ρ copies of every hidden target neuron",
    default_init="uniform", bound=BoundSpec("l+1", copies=True),
    source_widths=widths_from_options, build=_build, represent=represent_from_metadata,
    expected_layout=expected_layout, options=(RHO_IN,))
