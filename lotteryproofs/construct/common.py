"""Pieces every construction shares: unit scale, candidate pools, batched RSS and its log.

A construction (THEORY.md §4) draws the source first, then poses one random-subset-sum (RSS)
instance per effective target parameter: "approximate ``target`` by a sum of a subset of these
candidate values, each the contribution of one source neuron". This module turns the
instances of a whole layer into one padded batch, solves it with the engine's batched
*sparsest* solver (fewest neurons with error ≤ ε'), recomputes every achieved value and error
exactly (math.fsum, correctly rounded), and keeps the rows for the ticket's :class:`RSSLog`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from lotteryproofs.network import Network
from lotteryproofs.ticket import RSSLog

#: The solver's tolerance is ε'·(1 − SOLVER_MARGIN), so that an instance the solver accepts is
#: not rejected by the exact recomputation over one rounding of the float sum.
SOLVER_MARGIN = 1e-9

#: Longest pool searched exactly: a longer pool's first MAX_SEARCHED candidates are searched
#: (the engine's exact search is exponential in the pool length; 40 products of two uniforms
#: already cover [-1, 1] far below ε' = 10⁻³ in practice). The log's ``n_candidates`` is the
#: number searched, so a truncated pool is visible.
MAX_SEARCHED = 40

#: Bounded-gain pools (``gain_slack`` given: the copy layers of bounded-gain L+1) are searched
#: up to their first MAX_SEARCHED_CARD candidates; one longer than MAX_SEARCHED is solved by
#: the engine's cardinality search (``by_cardinality``): the sparsest subset of at most
#: MAX_CARD_SIZE candidates (work polynomial in the pool, THEORY.md §3), an instance without
#: one reported failed. Pools of ≤ MAX_SEARCHED keep the exhaustive search (same tickets).
#: Σ_{k≤8} C(80, k) ≈ 3.2·10¹⁰ < 2^MAX_SEARCHED subsets, so sizing.counting_refusal's count
#: still bounds what any instance reaches.
MAX_SEARCHED_CARD = 80
MAX_CARD_SIZE = 8

#: Bounded-gain instances without a subset are re-solved at 2, 4, …, 2^RELAX_ROUNDS times the
#: tolerance with the same gain cap (the best error that keeps the gain bound).
RELAX_ROUNDS = 24

#: RSS instances built and solved at a time (:func:`solve_pooled`): a block's candidate
#: tables (values, neuron ids, chosen flags, the engine's copies) are freed before the next
#: block is built and only the chosen candidates stay, so the construction's peak grows with
#: the block, not with the number of instances. Every instance is solved on its own (its
#: padding is never a candidate), so the ticket does not depend on this number.
BLOCK_INSTANCES = 1 << 16


# --------------------------------------------------------------------------------- unit scale
@dataclass(frozen=True, eq=False)
class UnitParameters:
    """Plain unit-scale arrays (no copy, no validation): what the constructions read."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]


def unit_parameters(source, layer_scales) -> UnitParameters:
    """The unit-scale network g of THEORY.md §1: (W_l/λ_l, b_l/Π_{k≤l} λ_k).

    f_0 = Λ·g with Λ = Π λ_l (scaling lemma, proofs/scaling-lemma.md); masks commute with
    scaling, so every subnetwork satisfies f_S = Λ·g_S up to rounding. All constructions choose
    masks on g computed from the very source the ticket holds, and represented_layers reads the
    same numbers back through :func:`lotteryproofs.init.unit_scale`, which computes the same
    divisions in the same order (a validated Network, where this skips the copy).
    """
    scales = [float(s) for s in layer_scales]
    if len(scales) != source.depth or any(not (s > 0 and math.isfinite(s)) for s in scales):
        raise ValueError(f"need {source.depth} positive layer scales, got {scales}")
    weights, biases, cumulative = [], [], 1.0
    for w, b, s in zip(source.weights, source.biases, scales, strict=True):
        cumulative *= s
        weights.append(w / s)
        biases.append(b / cumulative)
    return UnitParameters(tuple(weights), tuple(biases))


def output_scale(layer_scales) -> float:
    """Λ = Π_l λ_l, the factor between the source and its unit-scale network."""
    return math.prod(float(s) for s in layer_scales)


# ------------------------------------------------------------------------------- block layout
def regular_owners(n_owners: int, rho: int) -> np.ndarray:
    """owner[k] of the neurons of a block layer: ρ neurons per owner, owner-major.

    Owners 0 … n_in−1 are the univariate blocks (or the copies of target neuron i); owner
    n_in is the constant block. ``owner`` is what the layout metadata stores as runs.
    """
    return np.repeat(np.arange(n_owners, dtype=np.int64), rho)


def owners_to_runs(owner: np.ndarray) -> list[list[int]]:
    """Run-length form [[owner, start, count], …] (compact and JSON-serialisable)."""
    owner = np.asarray(owner, dtype=np.int64)
    if owner.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(owner)) + 1
    starts = np.concatenate(([0], cuts))
    counts = np.diff(np.concatenate((starts, [owner.size])))
    return [[int(owner[s]), int(s), int(c)] for s, c in zip(starts, counts, strict=True)]


def runs_to_owners(runs, size: int) -> np.ndarray:
    """Inverse of :func:`owners_to_runs`; neurons no run covers get owner −1."""
    owner = np.full(size, -1, dtype=np.int64)
    for o, start, count in runs:
        owner[int(start) : int(start) + int(count)] = int(o)
    return owner


@dataclass(frozen=True)
class Pools:
    """Candidate pools per owner: ``index[o, :count[o]]`` are the neurons of owner o, ascending."""

    index: np.ndarray
    count: np.ndarray


def make_pools(owner: np.ndarray, select: np.ndarray, n_owners: int) -> Pools:
    """Group the selected neurons by owner into a (n_owners, max count) table padded with −1."""
    idx = np.flatnonzero(np.asarray(select, bool) & (owner >= 0) & (owner < n_owners))
    o = owner[idx]
    order = np.argsort(o, kind="stable")
    idx, o = idx[order], o[order]
    count = np.bincount(o, minlength=n_owners).astype(np.int64)
    start = np.cumsum(count) - count
    table = np.full((n_owners, max(int(count.max(initial=0)), 1)), -1, dtype=np.int64)
    table[o, np.arange(idx.size) - start[o]] = idx
    return Pools(table, count)


# ------------------------------------------------------------------------------ RSS instances
@dataclass(frozen=True)
class Instances:
    """A batch of RSS instances, candidates padded to a common length (valid entries first).

    Instance m approximates ``target[m]`` by Σ_{s∈S} ``values[m, s]`` over s < ``lengths[m]``;
    ``neurons[m, s]`` is the source neuron candidate s stands for (logged as the chosen set).
    """

    layer: np.ndarray
    row: np.ndarray
    col: np.ndarray
    part: int
    copy: np.ndarray
    target: np.ndarray
    values: np.ndarray
    neurons: np.ndarray
    lengths: np.ndarray

    @property
    def size(self) -> int:
        return int(self.target.shape[0])


def pooled_instances(*, layer: int, part: int, rows, cols, copies, targets, pools: Pools,
                     pool_of, outgoing: np.ndarray, out_rows, amplitude: np.ndarray,
                     searched: int = MAX_SEARCHED) -> Instances:
    """Instances whose candidates are ``outgoing[out_row, k]·amplitude[k]`` for k in a pool
    (its first ``searched`` neurons).

    ``pool_of[m]`` picks the pool (owner) of instance m, ``out_rows[m]`` the row of the
    consuming layer's weight matrix; amplitude[k] is what neuron k feeds forward per unit of
    its input (|u_k| for a univariate neuron, c_k for a constant, 1 for a copy).
    """
    pool_of = np.asarray(pool_of, dtype=np.int64)
    out_rows = np.asarray(out_rows, dtype=np.int64)
    neurons = pools.index[pool_of][:, :searched]
    lengths = np.minimum(pools.count[pool_of], searched)
    safe = np.where(neurons >= 0, neurons, 0)
    values = outgoing[out_rows[:, None], safe] * amplitude[safe]
    values[neurons < 0] = 0.0
    return Instances(
        layer=np.asarray(np.broadcast_to(layer, pool_of.shape), np.int64),
        row=np.asarray(rows, np.int64),
        col=np.asarray(cols, np.int64),
        part=part,
        copy=np.asarray(copies, np.int64),
        target=np.asarray(targets, np.float64),
        values=values,
        neurons=neurons,
        lengths=lengths,
    )


@dataclass(frozen=True)
class Solved:
    """Solved instances: the chosen candidates and the exactly recomputed results."""

    instances: Instances
    chosen: np.ndarray      # bool (B, n)
    achieved: np.ndarray    # fsum of the chosen values, correctly rounded
    error: np.ndarray       # |Σ chosen − target|, correctly rounded
    failed: np.ndarray      # error > ε'

    def chosen_neurons(self) -> tuple[np.ndarray, np.ndarray]:
        """(instance id, source neuron) of every chosen candidate, row-major."""
        rows, cols = np.nonzero(self.chosen)
        return rows, self.instances.neurons[rows, cols]

    def compacted(self) -> Solved:
        """The same solution with only the chosen candidates kept, left-justified in their
        order (``lengths`` still says how many were searched): what the log and the masks
        read, without the candidate tables."""
        rows, cols = np.nonzero(self.chosen)
        k = self.chosen.sum(axis=1)
        slot = np.arange(rows.size) - np.repeat(np.cumsum(k) - k, k)
        shape = (self.chosen.shape[0], max(int(k.max(initial=0)), 1))
        neurons = np.full(shape, -1, np.int64)
        values = np.zeros(shape)
        chosen = np.zeros(shape, bool)
        neurons[rows, slot] = self.instances.neurons[rows, cols]
        values[rows, slot] = self.instances.values[rows, cols]
        chosen[rows, slot] = True
        inst = dataclasses.replace(self.instances, values=values, neurons=neurons)
        return Solved(inst, chosen, self.achieved, self.error, self.failed)


def exact_sums(values: np.ndarray, chosen: np.ndarray, targets: np.ndarray):
    """(fsum of chosen values, |fsum(chosen) − target| exactly rounded) per row."""
    flat = values[chosen].tolist()
    ptr = np.concatenate(([0], np.cumsum(chosen.sum(axis=1)))).tolist()
    tgt = targets.tolist()
    fsum = math.fsum
    achieved = [fsum(flat[ptr[m] : ptr[m + 1]]) for m in range(len(tgt))]
    error = [abs(fsum([*flat[ptr[m] : ptr[m + 1]], -tgt[m]])) for m in range(len(tgt))]
    return np.array(achieved, dtype=np.float64), np.array(error, dtype=np.float64)


def solve(instances: Instances, eps_param: float, *,
          gain_slack: float | tuple[float, ...] | None = None) -> Solved:
    """Solve every instance with the sparsest mode (fewest candidates with error ≤ ε').

    Where no subset reaches ε' the engine's best effort is kept and the instance is marked
    failed — never resampled, never hidden. Pools longer than MAX_SEARCHED (bounded-gain
    pools only, see :data:`MAX_SEARCHED_CARD`) are solved by the cardinality search: the
    sparsest subset of at most MAX_CARD_SIZE candidates, the empty subset (failed) if none.
    ``gain_slack`` = c selects the engine's bounded-gain mode: only subsets with
    Σ_S|v| ≤ |target| + c·tol, tol = ε'(1 − margin) ≤ ε'.
    A bounded-gain instance with no such subset is re-solved with (2tol, c/2), (4tol, c/4), …
    (the cap c·tol is unchanged, exactly: powers of two), so its subset still satisfies the
    gain bound and its error is the smallest of that ladder — still reported failed
    (proofs/bounded-gain-l+1.md).

    A tuple (c_1, …, c_K), caps c_1·tol < … < c_K·tol, is a **gain ladder**: each instance
    takes the subset of the first cap under which it is feasible (error ≤ tol), so its gain
    is ≤ |target| + c_k·tol for the smallest such k; an instance feasible under none is the
    single-cap case at c_K, relaxation included (proofs/conv-l-plus-one.md, "Bounded gain").
    A one-cap call is unchanged by the ladder.
    """

    b, n = instances.values.shape
    chosen = np.zeros((b, n), bool)
    live = np.flatnonzero(instances.lengths > 0)
    tol = eps_param * (1 - SOLVER_MARGIN)
    if isinstance(gain_slack, tuple):
        for cap in gain_slack[:-1]:  # smaller caps first: the first feasible one is kept
            if not live.size:
                break
            width, picked, feasible = _search(instances, live, tol, cap)
            ok = np.asarray(feasible, bool)
            chosen[live[ok], :width] = np.asarray(picked, bool)[ok]
            live = live[~ok]
        gain_slack = gain_slack[-1]
    rounds = 0
    while live.size:
        width, picked, feasible = _search(instances, live, tol, gain_slack)
        chosen[live] = False
        chosen[live, :width] = np.asarray(picked, bool)
        if gain_slack is None or rounds == RELAX_ROUNDS:
            break
        live = live[~np.asarray(feasible, bool)]
        tol, gain_slack, rounds = 2.0 * tol, gain_slack / 2.0, rounds + 1
    # Padding is never a candidate, whatever the engine does with it.
    chosen &= np.arange(n)[None, :] < instances.lengths[:, None]
    achieved, error = exact_sums(instances.values, chosen, instances.target)
    return Solved(instances, chosen, achieved, error, error > eps_param)


def _search(instances: Instances, live: np.ndarray, tol: float, gain_slack):
    """(width, chosen, feasible) of the rows ``live``, solved at ``tol`` with one engine cap:
    the exhaustive search where every pool has ≤ MAX_SEARCHED candidates, else
    :func:`_solve_wide` (the one dispatch of :func:`solve`'s ladder rungs and rounds)."""
    from lotteryproofs.rss import sparsest_subset_sum_batch

    width = int(instances.lengths[live].max())
    if width > MAX_SEARCHED:
        return (width, *_solve_wide(instances, live, width, tol, gain_slack))
    result = sparsest_subset_sum_batch(
        np.ascontiguousarray(instances.values[live, :width]), instances.target[live], tol,
        lengths=instances.lengths[live], gain_slack=gain_slack)
    return width, result.chosen, result.feasible


def _solve_wide(instances: Instances, live: np.ndarray, width: int, tol: float, gain_slack):
    """(chosen, feasible) of the rows ``live`` of a batch with pools longer than
    MAX_SEARCHED: those rows by the engine's cardinality search (subsets of at most
    MAX_CARD_SIZE; a row without one gets the empty subset and feasible False), the others by
    the exhaustive search, as in a batch of their own (every row is solved on its own)."""
    from lotteryproofs.rss import sparsest_subset_sum_batch

    lengths = instances.lengths[live]
    chosen = np.zeros((live.size, width), bool)
    feasible = np.zeros(live.size, bool)
    for wide in (False, True):
        rows = np.flatnonzero((lengths > MAX_SEARCHED) == wide)
        if rows.size == 0:
            continue
        w = int(lengths[rows].max())
        extra = {"by_cardinality": True, "max_size": MAX_CARD_SIZE} if wide else {}
        result = sparsest_subset_sum_batch(
            np.ascontiguousarray(instances.values[live[rows], :w]), instances.target[live[rows]],
            tol, lengths=lengths[rows], gain_slack=gain_slack, **extra)
        chosen[rows, :w] = result.chosen
        feasible[rows] = result.feasible
    return chosen, feasible


def solve_pooled(eps_param: float, *, gain_slack: float | tuple[float, ...] | None = None,
                 layer: int, part: int,
                 rows, cols, copies, targets, pools: Pools, pool_of, outgoing: np.ndarray,
                 out_rows, amplitude: np.ndarray) -> list[Solved]:
    """:func:`pooled_instances` and :func:`solve` over blocks of :data:`BLOCK_INSTANCES`
    instances, each block compacted (:meth:`Solved.compacted`) before the next is built.

    Instance m of the result is instance m of the arguments (blocks in order), with the
    solution :func:`solve` gives it in any batch: the log and the masks are the same for
    every block size.
    """
    # one-cap bounded-gain pools are searched wider (MAX_SEARCHED_CARD, the cardinality
    # search); a gain ladder (conv l+1-bounded) keeps the first MAX_SEARCHED candidates, the
    # search its results and audit were measured with (the wide search on a ladder is not)
    wide = gain_slack is not None and not isinstance(gain_slack, tuple)
    searched = MAX_SEARCHED_CARD if wide else MAX_SEARCHED
    per_instance = [np.asarray(a) for a in (rows, cols, copies, targets, pool_of, out_rows)]
    n = per_instance[0].shape[0]
    block = max(int(BLOCK_INSTANCES), 1)
    out = []
    for start in range(0, max(n, 1), block):
        r, c, cp, t, po, orow = (a[start : start + block] for a in per_instance)
        inst = pooled_instances(layer=layer, part=part, rows=r, cols=c, copies=cp, targets=t,
                                pools=pools, pool_of=po, outgoing=outgoing, out_rows=orow,
                                amplitude=amplitude, searched=searched)
        out.append(solve(inst, eps_param, gain_slack=gain_slack).compacted())
    return out


#: bytes per candidate of one block's tables: values (8), neuron ids (8), chosen flags (1), the
#: engine's validated copy of the values (8) and its own chosen table (1), the padded
#: recomputation, rounded up (a dense 64-64-32-10 target at ρ = 60 traced about 43)
BATCH_BYTES_PER_CANDIDATE = 50.0
#: bytes per solved instance kept after its block: layer, row, col, copy, target, achieved,
#: error, lengths (8 each) and failed (1)
SOLVED_BYTES_PER_INSTANCE = 65.0
#: bytes per chosen slot of a compacted block (neuron id 8, value 8, flag 1; padded to the
#: block's largest subset, at most the searched pool)
SOLVED_BYTES_PER_SLOT = 17.0
#: bytes per instance of the ticket's RSS log (nine 8-byte columns, failed, chosen_ptr) and
#: per chosen neuron it lists
LOG_BYTES_PER_INSTANCE = 81.0
LOG_BYTES_PER_CHOSEN = 8.0


def instance_bound(target_widths, nonzeros, copies: int = 1) -> int:
    """At most how many instances a construction poses: per target layer t, ``copies``
    × (2·nnz(W_t) + n_t) (a positive and a negative part per weight, one per bias)."""
    return int(sum(copies * (2 * int(nnz) + int(n))
                   for nnz, n in zip(nonzeros, target_widths[1:], strict=True)))


def log_bytes(n_instances: int, n_chosen: int) -> float:
    """The ticket's RSS log for ``n_instances`` instances choosing ``n_chosen`` neurons."""
    return LOG_BYTES_PER_INSTANCE * n_instances + LOG_BYTES_PER_CHOSEN * n_chosen


def construction_bytes(source_widths, n_instances: int, pool: int, *, tiled: bool,
                       wide: bool = False) -> float:
    """Upper bound on what the construction allocates beyond its target (THEORY.md §10).

    Bool masks over the full source (1 byte a parameter), the support ticket (≤ the source:
    a float64 value and a bool mask a parameter), one block of :data:`BLOCK_INSTANCES`
    instances of ≤ min(pool, MAX_SEARCHED) candidates and the exact search's scratch tables
    (one per engine thread, exponential in that length), every solved instance compacted, and the
    log they are concatenated into (a chosen neuron is a kept weight: at most
    min(n_instances·width, the source's weights) of them). An untiled
    scheme is drawn whole: its He-scaled and unit-scale copies (8 bytes each, with the
    temporaries of the division: 3 copies) come on top. ``wide``: the construction has
    bounded-gain pools, searched up to MAX_SEARCHED_CARD candidates by the cardinality search
    (its scratch beside the exhaustive one's, whichever is larger).
    """
    widths = [int(w) for w in source_widths]
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    n_weights = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    import numba

    from lotteryproofs.rss import _search

    scratch = _search.search_bytes(min(int(pool), MAX_SEARCHED))
    width = min(int(pool), MAX_SEARCHED_CARD if wide else MAX_SEARCHED)
    if width > MAX_SEARCHED:
        scratch = max(scratch, _search.card_search_bytes(width, MAX_CARD_SIZE))
    batch = BATCH_BYTES_PER_CANDIDATE * min(n_instances, BLOCK_INSTANCES) * width
    batch += numba.get_num_threads() * scratch
    # a chosen subset has ≤ min(pool, MAX_SEARCHED) candidates (≤ MAX_CARD_SIZE if wider)
    slots = min(int(pool), MAX_SEARCHED)
    solved = n_instances * (SOLVED_BYTES_PER_INSTANCE + SOLVED_BYTES_PER_SLOT * slots)
    log = log_bytes(n_instances, min(n_instances * slots, n_weights))
    drawn = 0.0 if tiled else 3 * 8.0 * n_params
    return 10.0 * n_params + batch + solved + log + drawn


def build_log(solved: list[Solved]) -> RSSLog:
    """Concatenate solved batches into the ticket's log (one row per instance, in order)."""
    cols = {k: [] for k in ("layer", "row", "col", "part", "copy", "target", "achieved", "error",
                            "n_candidates", "failed")}
    chosen_lists, sizes = [], []
    for s in solved:
        inst = s.instances
        cols["layer"].append(inst.layer)
        cols["row"].append(inst.row)
        cols["col"].append(inst.col)
        cols["part"].append(np.full(inst.size, inst.part, np.int64))
        cols["copy"].append(inst.copy)
        cols["target"].append(inst.target)
        cols["achieved"].append(s.achieved)
        cols["error"].append(s.error)
        cols["n_candidates"].append(inst.lengths)
        cols["failed"].append(s.failed)
        chosen_lists.append(inst.neurons[s.chosen])
        sizes.append(s.chosen.sum(axis=1))
    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    sizes_all = cat(sizes, np.int64)
    return RSSLog(
        layer=cat(cols["layer"], np.int64), row=cat(cols["row"], np.int64),
        col=cat(cols["col"], np.int64), part=cat(cols["part"], np.int64),
        copy=cat(cols["copy"], np.int64), target=cat(cols["target"], np.float64),
        achieved=cat(cols["achieved"], np.float64), error=cat(cols["error"], np.float64),
        n_candidates=cat(cols["n_candidates"], np.int64), failed=cat(cols["failed"], bool),
        chosen_ptr=np.concatenate(([0], np.cumsum(sizes_all))).astype(np.int64),
        chosen=cat(chosen_lists, np.int64),
    )


def significant(values: np.ndarray, eps_param: float) -> np.ndarray:
    """Which target parameters get an instance: |value| > ε' (the rest are left out, error ≤ ε')."""
    return np.abs(values) > eps_param


def compact(network: Network) -> Network:
    """The same function without hidden neurons that cannot matter (for fast evaluation).

    A hidden neuron whose outgoing weights are all 0 contributes nothing; one whose incoming
    weights and bias are all 0 outputs φ(0), which is 0 for ReLU (not for sigmoid: ½, or
    softplus: log 2 — such neurons are kept). Dropping them removes only zero terms from
    the sums, so the outputs agree up to the summation order of the matrix products (~1e-16
    relative). Tickets leave ρ-fold sources mostly pruned; the compact form is what makes
    10⁴-sample evaluations cheap.
    """
    weights = [np.array(w) for w in network.weights]
    biases = [np.array(b) for b in network.biases]
    acts = network.activations
    silent_at_zero = [float(a.forward(np.zeros(1))[0]) == 0.0 for a in acts]
    changed = True
    while changed:
        changed = False
        for k in range(len(weights) - 1):
            keep = np.any(weights[k + 1] != 0, axis=0) & (
                np.any(weights[k] != 0, axis=1) | (biases[k] != 0) | (not silent_at_zero[k]))
            if not keep.all():
                weights[k], biases[k] = weights[k][keep], biases[k][keep]
                weights[k + 1] = weights[k + 1][:, keep]
                changed = True
    for k in range(len(weights) - 1):
        if weights[k].shape[0] == 0:  # a network needs width ≥ 1: keep one silent neuron
            weights[k] = np.zeros((1, weights[k].shape[1]))
            biases[k] = np.zeros(1)
            weights[k + 1] = np.zeros((weights[k + 1].shape[0], 1))
    return Network(tuple(weights), tuple(biases), activations=acts)


# ------------------------------------------------------------------------ sources drawn lazily
class LazyUnitMatrix:
    """The unit-scale weights (σ_l·W̃_l)/σ_l of a tiled source, drawn tile by tile when read.

    Reading ``m[rows, cols]`` with two integer arrays draws only the tiles those positions
    touch (each once; THEORY.md §10); any other use (slices, numpy functions) draws the whole
    matrix. The values are those :func:`unit_parameters` computes from the fully drawn source:
    the same tile bytes, the same division.
    """

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, spec, layer: int, streams=None):
        self.spec, self.layer = spec, layer
        self.shape = spec.shape(layer)
        self._streams = streams or spec.streams
        self._scale = float(spec.layer_scales[layer])
        self._tiles: dict = {}
        self._dense = None
        from lotteryproofs.laws import get_law

        self._positional = get_law(spec.options["law"]).from_words is not None

    @property
    def tiles_drawn(self) -> int:
        return len(self._tiles)

    def _tile(self, tr: int, tc: int) -> np.ndarray:
        """A tile of the *source* (He-scaled) weights, drawn once."""
        tile = self._tiles.get((tr, tc))
        if tile is None:
            tile = self.spec.weight_tile(self.layer, tr, tc, self._streams)
            self._tiles[tr, tc] = tile
        return tile

    def source_values(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The source (He-scaled) weights at (rows, cols): each computed from its own word
        where the law allows (nothing else drawn, nothing cached), else from the same tiles."""
        from lotteryproofs.init import TILE, group_by_tile

        rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
        if self._positional:
            return self.spec.values_at(self.layer, rows, cols, self._streams)
        out = np.empty(rows.shape)
        for (tr, tc), idx in group_by_tile(rows, cols, self.shape[1]):
            tile = self._tile(tr, tc)
            out.flat[idx] = tile[rows.flat[idx] - tr * TILE, cols.flat[idx] - tc * TILE]
        return out

    def __getitem__(self, key):
        if (isinstance(key, tuple) and len(key) == 2
                and all(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in key)):
            # elementwise, so (σ·w̃)/σ here is unit_parameters' division of the same number
            return self.source_values(*key) / self._scale
        return self.dense()[key]

    def release(self) -> None:
        """Forget the drawn tiles (a later read draws them again, the same bytes)."""
        self._tiles = {}
        self._dense = None

    def dense(self) -> np.ndarray:
        if self._dense is None:
            self._dense = np.vstack([
                np.asarray(band) for band in
                (self.spec.weight_band(self.layer, tr, self._streams) / self._scale
                 for tr in range(-(-self.shape[0] // _tile_side())))])
        return self._dense

    def __array__(self, dtype=None, copy=None):
        return self.dense() if dtype is None else self.dense().astype(dtype)


def _tile_side() -> int:
    from lotteryproofs.init import TILE

    return TILE


@dataclass(frozen=True, eq=False)
class LazyDraw:
    """A tiled source before it is drawn: what a construction's ``draw`` is for such sources.

    ``source`` is the :class:`~lotteryproofs.init.SourceSpec` (the ticket stores it, not the
    values); ``network`` / ``unit_network`` draw the whole source (widening needs it).
    """

    spec: object

    @property
    def source(self):
        return self.spec

    @property
    def scheme(self) -> str:
        return self.spec.scheme

    @property
    def options(self):
        return self.spec.options

    @property
    def layer_scales(self) -> tuple[float, ...]:
        return self.spec.layer_scales

    @property
    def scale(self) -> float:
        return output_scale(self.spec.layer_scales)

    @property
    def network(self) -> Network:
        return self._full().network

    @property
    def unit_network(self) -> Network:
        return self._full().unit_network

    def _full(self):
        full = self.__dict__.get("_full_draw")
        if full is None:
            full = self.spec.draw()
            object.__setattr__(self, "_full_draw", full)
        return full

    def unit(self) -> UnitParameters:
        """Unit-scale parameters: lazily drawn weights, biases (few) drawn whole, divided as
        :func:`unit_parameters` divides them."""
        streams = self.spec.streams
        weights, biases, cumulative = [], [], 1.0
        for layer, s in enumerate(float(s) for s in self.spec.layer_scales):
            cumulative *= s
            weights.append(LazyUnitMatrix(self.spec, layer, streams))
            biases.append(self.spec.biases(layer, streams) / cumulative)
        return UnitParameters(tuple(weights), tuple(biases))
