"""The L+1 construction for general activations with nonzero biases (THEORY.md §9;
proofs/l-plus-one-general.md; Burkholz, NeurIPS 2022).

Target x⁽ˡ⁾ = φ_l(W_l x⁽ˡ⁻¹⁾ + b_l) for l < L with any registered activations φ_l, output
affine. Source: the widths of the L+1 construction (:func:`l_plus_one.source_widths`,
[n_0, ρ_in(n_0+1), ρ(n_1+1), …, ρ(n_{L−1}+1), n_L]) with activations (identity, φ_1, …,
φ_{L−1}): the first source layer is linear — the hypothesis of the authors' code for
activations other than ReLU (LT-existence, ``prune_layer_first(…, idact=True)``) — and
source layer l+1 carries the target's φ_l.

- layer 1 (identity): block i keeps u_k from input i and outputs u_k x_i **exactly**; the
  constant block keeps only c_k and outputs c_k (either sign). Copy m of target neuron j of
  layer 1 has the instances Σ_S v·u ≈ w_ji (over block i) and Σ_S v·c ≈ b_j;
- layer l+1 ≥ 3: as in :mod:`l_plus_one` (weights over the single draws v_r of the copies of
  x_i), but a constant neuron of a φ-layer (only its bias c kept) outputs **φ(c)**, the value
  at the pre-activation where the network really evaluates it: candidates v·φ(c), e.g.
  v·sigmoid(c) ∈ v·(0, 1), v·tanh(c). No φ(0) = 1 shortcut anywhere.

φ is not positively homogeneous in general, so the scaling lemma (THEORY.md §1) does not
apply: the construction selects on the source's **actual** values (layer scales 1, Λ = 1).
The source is still the seed's (its parameters a function of scheme, widths, options and
seed; the activations are recorded in the layout), so its ticket is compact by default. When every
activation is positively homogeneous (ReLU, LeakyReLU, identity) the lemma holds and it
selects on the unit-scale network with the draw's layer scales, as the ReLU constructions.
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.activations import ACTIVATIONS, IDENTITY, get_activation, scaling_lemma_holds
from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import common, l_plus_one, univariate
from lotteryproofs.construct.base import BuildInput, Built, Construction, Supports
from lotteryproofs.network import Network
from lotteryproofs.ticket import PART_BIAS, PART_POSITIVE, RepresentedLayer


def source_activations(target: Network) -> tuple:
    """(identity, φ_1, …, φ_{L−1}): the source's hidden activations for the target's."""
    return (IDENTITY, *target.activations)


def _solve_identity_layer(target: Network, unit: common.UnitParameters, owner: np.ndarray,
                          copies: int, eps_param: float):
    """Instances of target layer 1 over the linear first layer: candidates v·u_k (block i,
    every k with u_k ≠ 0: no sign split, u_k x_i is exact for either sign) for w_ji and v·c_k
    (constants with c_k ≠ 0) for b_j."""
    w_t, b_t = target.weights[0], target.biases[0]
    n_in = w_t.shape[1]
    first_w, first_b, sum_w = unit.weights[0], unit.biases[0], unit.weights[1]
    k_all = np.arange(owner.size)
    block = owner < n_in
    u = np.zeros(owner.size)
    u[block] = first_w[k_all[block], owner[block]]
    constant = (owner == n_in) & (first_b != 0)
    amplitude = np.where(block, u, np.where(constant, first_b, 0.0))
    block_pools = common.make_pools(owner, block & (u != 0), n_in)
    constant_pools = common.make_pools(np.where(constant, 0, -1), constant, 1)
    jj, ii = np.nonzero(common.significant(w_t, eps_param))
    j_c, i_c = np.repeat(jj, copies), np.repeat(ii, copies)
    c = np.tile(np.arange(copies), jj.size)
    weights = common.solve_pooled(
        eps_param, layer=0, part=PART_POSITIVE, rows=j_c, cols=i_c, copies=c, targets=w_t[j_c, i_c],
        pools=block_pools, pool_of=i_c, outgoing=sum_w, out_rows=j_c * copies + c,
        amplitude=amplitude)
    jb = np.flatnonzero(common.significant(b_t, eps_param))
    jb_c, cb = np.repeat(jb, copies), np.tile(np.arange(copies), jb.size)
    biases = common.solve_pooled(
        eps_param, layer=0, part=PART_BIAS, rows=jb_c, cols=np.full(jb_c.size, -1), copies=cb,
        targets=b_t[jb_c], pools=constant_pools, pool_of=np.zeros(jb_c.size, np.int64),
        outgoing=sum_w, out_rows=jb_c * copies + cb, amplitude=amplitude)
    return [*weights, *biases]


def build(target: Network, unit: common.UnitParameters, eps_param: float, rho: int,
          rho_in: int):
    """Masks (weights, biases per source layer) and solved instances on the source values
    ``unit`` (the actual ones: Λ = 1)."""
    widths, depth = target.widths, target.depth
    own = l_plus_one.owners(widths, rho, rho_in)
    weight_masks = [np.zeros(w.shape, bool) for w in unit.weights]
    bias_masks = [np.zeros(b.shape, bool) for b in unit.biases]
    solved = []
    first = _solve_identity_layer(target, unit, own[0], l_plus_one.copies_of(0, depth, rho),
                                  eps_param)
    for batch in first:
        inst_id, neurons = batch.chosen_neurons()
        inst = batch.instances
        rows = inst.row[inst_id] * l_plus_one.copies_of(0, depth, rho) + inst.copy[inst_id]
        weight_masks[1][rows, neurons] = True
        if inst.part == PART_BIAS:
            bias_masks[0][neurons] = True
        else:
            weight_masks[0][neurons, own[0][neurons]] = True
    solved += first
    acts = source_activations(target)
    for t in range(1, depth):
        copies = l_plus_one.copies_of(t, depth, rho)
        s = l_plus_one._solve_copy_layer(t, target, unit, own[t], copies, eps_param,
                                         constant_output=acts[t].forward)
        for batch in s:
            inst_id, neurons = batch.chosen_neurons()
            rows = batch.instances.row[inst_id] * copies + batch.instances.copy[inst_id]
            weight_masks[t + 1][rows, neurons] = True
            if batch.instances.part == PART_BIAS:
                bias_masks[t][neurons] = True
        solved += s
    return weight_masks, bias_masks, solved


def _compose_identity_layer(w1, b1, w2, b2, n_rows: int):
    """The exact composition of the linear first layer with the rows of the second:
    P = W₂W₁ and d = W₂b₁ + b₂ (each entry an fsum of the kept products), and the gain
    Σ_k |v_k u_k|."""
    sub = w2[:n_rows]
    n_in = w1.shape[1]
    r, k = np.nonzero(sub)
    v = sub[r, k]
    k1, i1 = np.nonzero(w1)
    order = np.argsort(k1, kind="stable")
    k1, i1 = k1[order], i1[order]
    start = np.searchsorted(k1, np.arange(w1.shape[0]))
    count = np.bincount(k1, minlength=w1.shape[0])
    rep = count[k]
    pair = np.repeat(np.arange(r.size), rep)
    offset = np.arange(pair.size) - np.repeat(np.cumsum(rep) - rep, rep)
    entry = start[k[pair]] + offset
    prod = v[pair] * w1[k1[entry], i1[entry]]
    keys = r[pair] * n_in + i1[entry]
    pos = univariate.group_fsum(keys, prod, n_rows * n_in).reshape(n_rows, n_in)
    gain = univariate.group_fsum(keys, np.abs(prod), n_rows * n_in).reshape(n_rows, n_in)
    bias_keys = np.concatenate((r, np.arange(n_rows)))
    bias_vals = np.concatenate((v * b1[k], b2[:n_rows]))
    bias = univariate.group_fsum(bias_keys, bias_vals, n_rows)
    return pos, bias, gain


def represent(ticket_net: Network, target_widths, rho: int, meta_layout: dict, activations):
    """What a general L+1 ticket computes per target layer, from its masks: per copy c of
    target neuron j, pre-activation Σ_i P[c, j, i]·x̂_i + d[c, j] (``negative`` = −P: the
    map is linear in x̂, whatever the sign of x̂). ``activations`` are the source's hidden
    activations (identity first); a constant neuron of a φ-layer contributes v·φ(c)."""
    depth = len(target_widths) - 1
    copies0 = l_plus_one.copies_of(0, depth, rho)
    n1 = target_widths[1]
    if activations[0] != IDENTITY:
        raise univariate.LayoutError("the first source layer of a general L+1 ticket is "
                                     f"linear, got activation {activations[0].spec}")

    def per_copy(a, n, m):
        return np.moveaxis(a.reshape(n, m, *a.shape[1:]), 1, 0)

    pos, bias, gain = _compose_identity_layer(ticket_net.weights[0], ticket_net.biases[0],
                                              ticket_net.weights[1], ticket_net.biases[1],
                                              n1 * copies0)
    out = [RepresentedLayer(per_copy(pos, n1, copies0), -per_copy(pos, n1, copies0),
                            per_copy(bias, n1, copies0), per_copy(gain, n1, copies0))]
    for t in range(1, depth):
        n_in, n_out = target_widths[t], target_widths[t + 1]
        copies = l_plus_one.copies_of(t, depth, rho)
        prev_w, prev_b = ticket_net.weights[t], ticket_net.biases[t]
        owner = common.runs_to_owners(meta_layout["owners"][t], prev_b.size)
        n_rows = n_out * copies
        sub = ticket_net.weights[t + 1][:n_rows]
        rows, k = np.nonzero(sub)
        v = sub[rows, k]
        is_copy = (owner[k] >= 0) & (owner[k] < n_in)
        const_ok = (np.count_nonzero(prev_w, axis=1) == 0)[k]
        is_const = (owner[k] == n_in) & const_ok
        bad = ~(is_copy | is_const)
        if bad.any():
            raise univariate.LayoutError(
                f"source layer {t + 1} reads neuron {int(k[bad][0])} of layer {t}, which is "
                "neither a copy of a target neuron nor a constant")
        keys = rows[is_copy] * n_in + owner[k[is_copy]]
        p = univariate.group_fsum(keys, v[is_copy], n_rows * n_in).reshape(n_rows, n_in)
        g = univariate.group_fsum(keys, np.abs(v[is_copy]), n_rows * n_in)
        g = g.reshape(n_rows, n_in)
        # the constant's output: φ at its pre-activation, its (kept or pruned) bias
        c = activations[t].forward(np.asarray(prev_b, np.float64))
        bias_keys = np.concatenate((rows[is_const], np.arange(n_rows)))
        bias_vals = np.concatenate(((v * c[k])[is_const], ticket_net.biases[t + 1][:n_rows]))
        d = univariate.group_fsum(bias_keys, bias_vals, n_rows)
        out.append(RepresentedLayer(per_copy(p, n_out, copies), -per_copy(p, n_out, copies),
                                    per_copy(d, n_out, copies), per_copy(g, n_out, copies)))
    return tuple(out)


def _activations_of(metadata) -> tuple:
    return tuple(get_activation(a) for a in metadata["layout"]["activations"])


def represent_from_metadata(ticket_net: Network, metadata):
    """The Construction's ``represent`` on the unit-scale ticket (the ticket itself when the
    layer scales are 1; the source activations are read from the layout)."""
    widths = tuple(int(n) for n in metadata["target_widths"])
    return represent(ticket_net, widths, int(metadata["rho"]), metadata["layout"],
                     _activations_of(metadata))


def _rho_in(rho: int, options) -> int:
    return rho if options["rho_in"] is None else options["rho_in"]


def _build(inp: BuildInput) -> Built:
    rho, rho_in = inp.rho, _rho_in(inp.rho, inp.options)
    drawn = inp.draw.network
    acts = source_activations(inp.target)
    source = Network(drawn.weights, drawn.biases, activations=acts)
    if scaling_lemma_holds(acts):
        # the scaling lemma holds (ReLU, LeakyReLU, identity): choose on the unit-scale
        # network, the numbers represented_layers reads back through init.unit_scale
        values, scales = inp.unit, tuple(inp.draw.layer_scales)
    else:
        # no scaling lemma for φ: the actual source values, Λ = 1
        values = common.UnitParameters(tuple(source.weights), tuple(source.biases))
        scales = (1.0,) * source.depth
    wm, bm, solved = build(inp.target, values, inp.eps_param, rho, rho_in)
    layout = expected_layout(inp.target, rho, inp.options, None, None)
    # the source is the seed's (its parameters unchanged; its activations are the layout's),
    # so the ticket is written compact like the ReLU constructions' (construct.construct)
    return Built(inp.draw.source, scales, tuple(wm), tuple(bm), solved, layout)


def expected_layout(target: Network, rho: int, options, negative_inputs, widening) -> dict:
    """The Construction's ``expected_layout``: the L+1 layout and the source's activations
    (:func:`source_activations` of the target; no widening, any box)."""
    return {**l_plus_one.layout(target.widths, rho, _rho_in(rho, options)),
            "activations": [a.spec for a in source_activations(target)]}


def init_defaults(target: Network, scheme: str) -> dict:
    """The Construction's ``init_defaults``: a unit-scale source (``weight_scale="unit"``,
    W ~ U[-1, 1], b ~ β·U[-1, 1]) when the target's activations are not positively
    homogeneous. Without the scaling lemma the masks are chosen on the actual values, and He
    scales would make every candidate ≤ √(6/n) (proofs/l-plus-one-general.md, "Source
    scale"). Depends on the activations' types only, like the widths: never on a value."""
    from lotteryproofs.init import SCHEMES

    if scaling_lemma_holds(target.activations) or "weight_scale" not in SCHEMES[scheme].defaults:
        return {}
    return {"weight_scale": "unit"}


CONSTRUCTION = Construction(
    "l+1-general", "L+1 (general activation)",
    "§9 L+1 for any activation: linear first layer, constants φ(c) where evaluated",
    default_init="uniform",
    bound=BoundSpec("l+1-general", copies=True, linear_first_layer=True),
    source_widths=l_plus_one.widths_from_options, build=_build,
    represent=represent_from_metadata, expected_layout=expected_layout,
    init_defaults=init_defaults,
    options=(l_plus_one.RHO_IN,),
    supports=Supports(activations=tuple(ACTIVATIONS)))
