"""A block layer of univariate and constant neurons followed by a layer of sums (THEORY.md §4.1).

Source layer U ("block layer") has, per target input i, a block of neurons that keep only their
weight u_k from input i (bias pruned) and so output σ(u_k x_i) = |u_k|·σ(±x_i); and one block
of neurons that keep only their bias c_k > 0 (all weights pruned) and so output the constant
c_k. Source layer V keeps, for target neuron j, the weights v_jk on a chosen subset:

    Σ_k v_jk σ(u_k x_i) + Σ_k v_jk c_k
      = (Σ_{u_k>0} v_jk |u_k|) σ(x_i) + (Σ_{u_k<0} v_jk |u_k|) σ(−x_i) + Σ_k v_jk c_k,

so three RSS instances over products of two source draws approximate w_ji (positive part),
−w_ji (negative part, only where x_i can be negative) and b_j (bias). With a looks-linear
source (§4.2) every neuron k has a mirror twin k' (u_k' = −u_k, v_jk' = −v_jk): one instance
over the positive-weight neurons solves the positive part, and keeping the twins of the chosen
neurons solves the negative part with the same subset (the log lists the chosen
positive-weight neurons; their twins are implied). The same layer pair is the first pair
of the L+1 construction (§4.3), with ρ copies of each target neuron in V.

:func:`represent_block_pair` reads what such a pair computes back from the masked parameters
alone (every neuron is recognised as univariate or constant from its kept parameters).
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs.construct import common
from lotteryproofs.indices import nonzero_2d
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, PART_POSITIVE


def solve_block_pair(*, layer: int, target_w: np.ndarray, target_b: np.ndarray,
                     block_w: np.ndarray, block_b: np.ndarray, sum_w: np.ndarray,
                     owner: np.ndarray, row_map: np.ndarray, negative_cols: np.ndarray,
                     eps_param: float, mirror: np.ndarray | None = None):
    """Choose masks for one (block layer, sum layer) pair at unit scale.

    ``owner[k]`` ∈ {0 … n_in−1} (univariate block of input i), n_in (constant block) or −1;
    ``row_map[j, c]`` is the sum-layer row of copy c of target neuron j; ``negative_cols[i]``
    says whether input i can be negative (then the negative part is built). ``mirror[k]`` is
    the looks-linear twin of neuron k (None for an ordinary source).

    Returns (block weight mask, block bias mask, sum weight mask, [Solved, …]).
    """
    n_out, n_in = target_w.shape
    n_block = block_w.shape[0]
    univariate = (owner >= 0) & (owner < n_in)
    col = np.where(univariate, owner, 0)
    u = np.where(univariate, block_w[np.arange(n_block), col], 0.0)
    constant = (owner == n_in) & (block_b > 0)
    amplitude = np.where(univariate, np.abs(u), np.where(constant, block_b, 0.0))

    positive_pools = common.make_pools(owner, univariate & (u > 0), n_in)
    negative_pools = common.make_pools(owner, univariate & (u < 0), n_in)
    constant_pools = common.make_pools(np.where(constant, 0, -1), constant, 1)

    copies = row_map.shape[1]
    jj, ii = np.nonzero(common.significant(target_w, eps_param))
    solved = []

    def weight_instances(part, select, pools, sign):
        j, i = jj[select], ii[select]
        j_c, i_c = np.repeat(j, copies), np.repeat(i, copies)
        c = np.tile(np.arange(copies), j.size)
        return common.solve_pooled(
            eps_param, layer=layer, part=part, rows=j_c, cols=i_c, copies=c,
            targets=sign * target_w[j_c, i_c], pools=pools, pool_of=i_c,
            outgoing=sum_w, out_rows=row_map[j_c, c], amplitude=amplitude)

    solved += weight_instances(PART_POSITIVE, np.ones(jj.size, bool), positive_pools, 1.0)
    if mirror is None:
        neg_select = negative_cols[ii]
        if neg_select.any():
            solved += weight_instances(PART_NEGATIVE, neg_select, negative_pools, -1.0)
    jb = np.flatnonzero(common.significant(target_b, eps_param))
    jb_c, cb = np.repeat(jb, copies), np.tile(np.arange(copies), jb.size)
    solved += common.solve_pooled(
        eps_param, layer=layer, part=PART_BIAS, rows=jb_c, cols=np.full(jb_c.size, -1),
        copies=cb, targets=target_b[jb_c], pools=constant_pools,
        pool_of=np.zeros(jb_c.size, np.int64), outgoing=sum_w, out_rows=row_map[jb_c, cb],
        amplitude=amplitude)

    block_wmask = np.zeros(block_w.shape, bool)
    block_bmask = np.zeros(block_b.shape, bool)
    sum_wmask = np.zeros(sum_w.shape, bool)
    for s in solved:
        inst_id, neurons = s.chosen_neurons()
        rows = row_map[s.instances.row[inst_id], s.instances.copy[inst_id]]
        sum_wmask[rows, neurons] = True
        if s.instances.part == PART_BIAS:
            block_bmask[neurons] = True
        else:
            block_wmask[neurons, owner[neurons]] = True
        if mirror is not None and s.instances.part == PART_POSITIVE:
            # The twin of each chosen neuron builds the negative part with the same subset,
            # needed only where the input can be negative.
            twin_needed = negative_cols[s.instances.col[inst_id]]
            twins = mirror[neurons[twin_needed]]
            sum_wmask[rows[twin_needed], twins] = True
            block_wmask[twins, owner[twins]] = True
    return block_wmask, block_bmask, sum_wmask, solved


def group_fsum(keys: np.ndarray, values: np.ndarray, n_keys: int) -> np.ndarray:
    """out[key] = fsum of the values with that key (correctly rounded; 0 where none)."""
    out = np.zeros(n_keys, dtype=np.float64)
    if keys.size == 0:
        return out
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order].tolist()
    cuts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], cuts)).tolist()
    ends = np.concatenate((cuts, [keys.size])).tolist()
    fsum = math.fsum
    out[keys[starts]] = [fsum(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    return out


class LayoutError(ValueError):
    """A ticket's kept parameters do not have the layout its metadata claims."""


def represent_block_pair(block_w, block_b, sum_w, sum_b, n_in: int, rows: np.ndarray):
    """(positive, negative, bias) of the sum-layer ``rows`` over the n_in inputs, from masks.

    ``block_*``/``sum_*`` are the *masked* unit-scale parameters. A block neuron with exactly one
    nonzero weight (from input i < n_in) and zero bias is univariate; one with no nonzero
    weight is the constant σ(c). Any other neuron that a kept sum weight reads breaks the
    layout (LayoutError). Sums are exact (fsum), as in the construction's log. The dense
    arrays are read through their nonzero entries (:func:`represent_block_pair_entries`).
    """
    b_rows, b_cols = nonzero_2d(block_w)
    rows = np.asarray(rows)
    contiguous = rows.size and np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size))
    sub = sum_w[rows[0]:rows[0] + rows.size] if contiguous else sum_w[rows]  # a view: no copy
    j, k = nonzero_2d(sub)
    return represent_block_pair_entries(
        block_w.shape[0], (b_rows, b_cols, block_w[b_rows, b_cols]), block_b,
        (j, k, sub[j, k]), sum_b[rows], n_in)


def represent_block_pair_entries(n_block: int, block_entries, block_b, sum_entries, sum_b,
                                 n_in: int):
    """:func:`represent_block_pair` from the nonzero entries alone: ``block_entries`` =
    (rows, cols, values) of the block layer's nonzero weights in row-major order (n_block
    rows), ``block_b`` its biases; ``sum_entries`` = (j, k, values) of the nonzero sum weights
    of the rows read (j counted from the first of them, k a block neuron), ``sum_b`` those
    rows' biases. The same values as on the dense arrays: a neuron's first nonzero column is
    the one ``argmax`` of its row's nonzero mask gives."""
    b_rows, b_cols, b_vals = block_entries
    j, k, v = sum_entries
    n_nonzero = np.bincount(b_rows, minlength=n_block)
    col = np.zeros(n_block, np.int64)
    u = np.zeros(n_block)
    if b_rows.size:
        first = np.flatnonzero(np.concatenate(([True], b_rows[1:] != b_rows[:-1])))
        col[b_rows[first]] = b_cols[first]
        u[b_rows[first]] = b_vals[first]
    univariate = (n_nonzero == 1) & (block_b == 0) & (col < n_in)
    constant = n_nonzero == 0
    bad = ~(univariate[k] | constant[k])
    if bad.any():
        raise LayoutError(
            f"block neuron {int(k[bad][0])} feeds a sum neuron but is neither univariate "
            "(one weight, no bias) nor constant (no weight)")
    n_rows = sum_b.shape[0]
    uni = univariate[k]
    pos_keys = j[uni & (u[k] > 0)] * n_in + col[k][uni & (u[k] > 0)]
    pos_vals = (v * np.abs(u[k]))[uni & (u[k] > 0)]
    neg_keys = j[uni & (u[k] < 0)] * n_in + col[k][uni & (u[k] < 0)]
    neg_vals = (v * np.abs(u[k]))[uni & (u[k] < 0)]
    const = constant[k]
    c = np.maximum(block_b, 0.0)
    bias_keys = np.concatenate((j[const], np.arange(n_rows)))
    bias_vals = np.concatenate(((v * c[k])[const], sum_b))
    positive = group_fsum(pos_keys, pos_vals, n_rows * n_in).reshape(n_rows, n_in)
    negative = group_fsum(neg_keys, neg_vals, n_rows * n_in).reshape(n_rows, n_in)
    bias = group_fsum(bias_keys, bias_vals, n_rows)
    return positive, negative, bias
