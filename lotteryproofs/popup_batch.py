"""Edge-popup for S runs of one shape at once: the same training, bit for bit, faster.

:func:`train_popup_batch` trains S members — sources of the same widths, data of the same
number of rows, configurations that share the step schedule (epochs, batch size, optimiser,
learning rate, momentum, loss) but may differ in density, annealing, bias ranking and scaling —
in one loop. Every array of the reference loop (popup._train_popup) gets a leading member axis
of length S:

* the products are ``np.matmul`` on (S, n, m) stacks (one BLAS gemm per member, the same call
  as the reference's 2-D product, hence the same bits);
* the elementwise chains are fused into compiled loops (numba) that evaluate, per entry,
  exactly the reference's operations in its order (no fast-math, no contraction into FMA), one
  pass over memory instead of one per operation: the top-k mask |s| ≥ t with the scaled masked
  weights c_l (W_l ⊙ m_l) (t = the k-th largest |s|, found per member by a partition, as
  popup.top_k_mask does; a member with ties at t gets popup.layer_masks' tie-broken mask), and
  per layer, as soon as its gradient is known, the straight-through score gradient
  ((c_l G_l) ⊙ W_l) ⊙ sign(s) with its Adam / SGD step (each entry's update needs only its own
  gradient, and nothing later in the step reads that layer's scores);
* what is per member anyway stays per member and reuses the reference's functions: the loss
  (popup.LOSS_FUNCTIONS), the sums giving ∂L/∂log λ (numpy's pairwise sum over one member's
  contiguous slice, as in the reference), the final masks (popup.layer_masks), the random
  streams (each member its own Generator, called in the reference's order).

So every member's scores, masks, λ and losses are byte-identical to ``train_popup`` on that
member alone (tests/test_popup_batch.py checks this against the reference loop;
benchmarks/bench_popup_grid.py times both on a slice of the grid in one run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from lotteryproofs import _validate
from lotteryproofs.activations import get_activation
from lotteryproofs.network import Network
from lotteryproofs.popup import (
    LOSS_FUNCTIONS,
    PopupConfig,
    PopupResult,
    _check_data,
    density_schedule,
    initial_scores,
    kept_count,
    layer_masks,
    layer_scale_factors,
    single_blas_thread,
)
from lotteryproofs.propagation import FLOAT64, propagate

#: The fields every member of a batch must share (they fix the steps and the update rule).
SHARED_FIELDS = ("epochs", "batch_size", "optimizer", "learning_rate", "momentum", "loss")

ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


# ------------------------------------------------------------------ fused elementwise kernels
@njit(cache=True, error_model="numpy")
def _scaled_masked(w, mask, c, out):
    """out[s, j] = c[s] · (w[s, j] · mask[s, j])  (the reference's c * (W * m))."""
    for s in range(w.shape[0]):
        cs = c[s]
        for j in range(w.shape[1]):
            out[s, j] = cs * (w[s, j] * (1.0 if mask[s, j] else 0.0))


@njit(cache=True, error_model="numpy")
def _adam(p, m, v, g, lr, one_minus_beta1, one_minus_beta2, bias1, bias2):
    """The reference's Adam, entry by entry: m ← β₁m + (1−β₁)g, v ← β₂v + ((1−β₂)g)g,
    p ← p − (lr·(m/b₁)) / (√(v/b₂) + ε)."""
    for j in range(p.shape[0]):
        mj = m[j] * ADAM_BETA1
        mj = mj + one_minus_beta1 * g[j]
        vj = v[j] * ADAM_BETA2
        vj = vj + (one_minus_beta2 * g[j]) * g[j]
        m[j] = mj
        v[j] = vj
        p[j] = p[j] - (lr * (mj / bias1)) / (np.sqrt(vj / bias2) + ADAM_EPS)


@njit(cache=True, error_model="numpy")
def _sgd(p, m, g, lr, momentum):
    """The reference's SGD with momentum: m ← μm + g, p ← p − lr·m."""
    for j in range(p.shape[0]):
        mj = m[j] * momentum
        mj = mj + g[j]
        m[j] = mj
        p[j] = p[j] - lr * mj


@njit(cache=True, error_model="numpy")
def _threshold_scaled(w, scores, threshold, c, out, counts):
    """out[s, j] = c[s] · (w[s, j] · [|score[s, j]| ≥ t[s]]), counts[s] += the kept entries:
    the reference's top-k mask |s| ≥ t (popup.top_k_mask without ties) fused with c · (W ⊙ m)."""
    for s in range(w.shape[0]):
        cs = c[s]
        t = threshold[s]
        kept = 0
        for j in range(w.shape[1]):
            keep = np.abs(scores[s, j]) >= t
            kept += keep
            out[s, j] = cs * (w[s, j] * (1.0 if keep else 0.0))
        counts[s] += kept


@njit(cache=True, error_model="numpy")
def _score_adam(grad_eff, w, scores, c, m, v, lr, one_minus_beta1, one_minus_beta2, bias1,
                bias2):
    """The straight-through score gradient g = ((c[s] · G[s, j]) · w[s, j]) · sign(score[s, j])
    (∂L/∂m · sign(s)), then :func:`_adam` on the score, entry by entry (an entry's update needs
    only its own gradient, so fusing changes no operation and no order)."""
    for s in range(w.shape[0]):
        cs = c[s]
        for j in range(w.shape[1]):
            p = scores[s, j]
            g = ((cs * grad_eff[s, j]) * w[s, j]) * np.sign(p)
            mj = m[s, j] * ADAM_BETA1
            mj = mj + one_minus_beta1 * g
            vj = v[s, j] * ADAM_BETA2
            vj = vj + (one_minus_beta2 * g) * g
            m[s, j] = mj
            v[s, j] = vj
            scores[s, j] = p - (lr * (mj / bias1)) / (np.sqrt(vj / bias2) + ADAM_EPS)


@njit(cache=True, error_model="numpy")
def _score_sgd(grad_eff, w, scores, c, m, lr, momentum):
    """The score gradient of :func:`_score_adam`, then :func:`_sgd`, entry by entry."""
    for s in range(w.shape[0]):
        cs = c[s]
        for j in range(w.shape[1]):
            p = scores[s, j]
            g = ((cs * grad_eff[s, j]) * w[s, j]) * np.sign(p)
            mj = m[s, j] * momentum
            mj = mj + g
            m[s, j] = mj
            scores[s, j] = p - lr * mj


# ----------------------------------------------------------------------------- stacked layers
@dataclass(frozen=True, eq=False)
class StackedDense:
    """S dense layers applied member by member: z[s] = h[s] W[s]ᵀ + b[s] (layers.Dense.forward
    with a leading member axis), so the shared propagation runs the whole stack."""

    weight: np.ndarray  # (S, out, in)
    bias: np.ndarray  # (S, out)

    def forward(self, h: np.ndarray) -> np.ndarray:
        return np.matmul(h, self.weight.transpose(0, 2, 1)) + self.bias[:, None, :]


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


def _check_batch(sources, configs) -> None:
    if not sources or len(sources) != len(configs):
        raise _validate.InputError(
            f"a batch needs one configuration per source, got {len(sources)} sources and "
            f"{len(configs)} configurations")
    widths = sources[0].widths
    for source in sources:
        if source.widths != widths or not source.is_relu:
            raise _validate.InputError(
                f"a batch needs ReLU sources of one shape, got {source!r} beside widths {widths}")
    for name in SHARED_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise _validate.InputError(
                f"a batch's configurations must share {name}, got {sorted(map(str, values))}")


def train_popup_batch(sources: Sequence[Network], xs: Sequence, ys: Sequence,
                      configs: Sequence[PopupConfig], *, rngs: Sequence) -> list[PopupResult]:
    """``[train_popup(s, x, y, c, rng=r) for ...]``, byte for byte, in one loop (module
    docstring). Every x must have the same number of rows."""
    return [r for r, _ in train_popup_batch_scores(sources, xs, ys, configs, rngs=rngs)]


def train_popup_batch_scores(sources, xs, ys, configs, *, rngs):
    """:func:`train_popup_batch` with every member's final (weight scores, bias scores,
    log λ) beside its result."""
    sources, configs = list(sources), list(configs)
    _check_batch(sources, configs)
    if not (len(xs) == len(ys) == len(rngs) == len(sources)):
        raise _validate.InputError("a batch needs one x, y and rng per source")
    data = [_check_data(s, x, y, "training", c.loss)
            for s, x, y, c in zip(sources, xs, ys, configs, strict=True)]
    if len({x.shape[0] for x, _ in data}) > 1:
        raise _validate.InputError("a batch's training sets must have the same number of rows")
    with single_blas_thread():
        return _train_batch(sources, data, configs, [_validate.rng(r) for r in rngs])


def _train_batch(sources, data, configs, rngs):
    size, depth = len(sources), sources[0].depth
    first = configs[0]
    weights = [np.stack([s.weights[i] for s in sources]) for i in range(depth)]
    biases = [np.stack([s.biases[i] for s in sources]) for i in range(depth)]
    drawn = [initial_scores(s, r) for s, r in zip(sources, rngs, strict=True)]
    w_scores = [np.stack([d[0][i] for d in drawn]) for i in range(depth)]
    b_scores = [np.stack([d[1][i] for d in drawn]) for i in range(depth)]
    log_scale = np.zeros(size)
    scaled = np.array([c.scaled for c in configs])
    adam = first.optimizer == "adam"
    # per score tensor (flattened per member): Adam's (m, v) or SGD's (m, None)
    moments = [(np.zeros(_flat(p).shape), np.zeros(_flat(p).shape) if adam else None)
               for p in (*w_scores, *b_scores)]
    scale_moments = (np.zeros(size), np.zeros(size) if adam else None)
    grad_scale = np.empty(size)
    rankings = [c.bias_ranking for c in configs]
    kept: dict[tuple[int, float], int] = {}  # (tensor size, density) -> kept_count
    # per member, the density of every epoch (its annealing schedule, flattened)
    epoch_density = [[d for epochs, d in density_schedule(c) for _ in range(epochs)]
                     for c in configs]
    xs = np.stack([x for x, _ in data])
    ys = np.stack([y for _, y in data])
    n = xs.shape[1]
    steps_per_epoch = -(-n // first.batch_size)
    total_steps = first.epochs * steps_per_epoch
    loss_fn = LOSS_FUNCTIONS[first.loss]
    relu = [get_activation("relu")] * (depth - 1)
    members = range(size)
    w_eff = [np.empty_like(w) for w in weights]
    b_eff = [np.empty_like(b) for b in biases]
    losses = [[] for _ in members]
    step = 0
    for epoch in range(first.epochs):
        orders = [rng.permutation(n) for rng in rngs]
        epoch_loss = [0.0] * size
        for start in range(0, n, first.batch_size):
            batch = np.stack([o[start:start + first.batch_size] for o in orders])
            rows = np.arange(size)[:, None]
            x, y = xs[rows, batch], ys[rows, batch]
            c = np.empty((size, depth))
            d = np.empty((size, depth))
            for s in members:
                c[s], d[s] = layer_scale_factors(depth, float(log_scale[s]))
            densities = [epoch_density[s][epoch] for s in members]
            for i in range(depth):
                _masked_layer(weights[i], biases[i], w_scores[i], b_scores[i], c[:, i],
                              d[:, i], densities, rankings, w_eff[i], b_eff[i], kept)
            layers = [StackedDense(w, b) for w, b in zip(w_eff, b_eff, strict=True)]
            inputs = [x]
            propagate(layers, relu, x, FLOAT64, post=inputs)
            g = np.empty_like(inputs[-1])
            for s in members:
                loss, g[s] = loss_fn(inputs[-1][s], y[s])
                epoch_loss[s] += loss * batch.shape[1]
            grad_log_scale = [0.0] * size
            lr = 0.5 * first.learning_rate * (1 + math.cos(math.pi * step / total_steps))
            step += 1
            for i in range(depth - 1, -1, -1):
                grad_w = np.matmul(g.transpose(0, 2, 1), inputs[i])
                grad_b = g.sum(axis=1)
                for s in np.flatnonzero(scaled):  # before the update: w_eff is this step's
                    grad_log_scale[s] += (float(np.sum(grad_w[s] * w_eff[i][s])) / depth
                                          + float(grad_b[s] @ b_eff[i][s]) * (i + 1) / depth)
                if i > 0:
                    g = np.matmul(g, w_eff[i]) * (inputs[i] > 0)
                # the scores of layer i are read nowhere else in this step: update them now
                _score_update((_flat(grad_w), _flat(weights[i]), _flat(w_scores[i]), c[:, i]),
                              moments[i], first, step, lr)
                _score_update((grad_b, biases[i], b_scores[i], d[:, i]), moments[depth + i],
                              first, step, lr)
            grad_scale[:] = np.where(scaled, grad_log_scale, 0.0)  # unscaled: λ stays 1
            _update([log_scale], [grad_scale], [scale_moments[0]],
                    None if scale_moments[1] is None else [scale_moments[1]], first, step, lr)
        for s in members:
            losses[s].append(epoch_loss[s] / n)
    out = []
    for s in members:
        ws, bs = [w[s] for w in w_scores], [b[s] for b in b_scores]
        final_wm, final_bm = layer_masks(ws, bs, configs[s].density, configs[s].bias_ranking)
        result = PopupResult(final_wm, final_bm, math.exp(float(log_scale[s])), configs[s],
                             tuple(losses[s]), tuple(epoch_density[s]))
        out.append((result, (tuple(w.copy() for w in ws), tuple(b.copy() for b in bs),
                             float(log_scale[s]))))
    return out


def _kth_largest_magnitude(scores: np.ndarray, k: int) -> float:
    """The k-th largest |score| (popup.top_k_mask's threshold; −∞ when every entry is kept)."""
    if k == scores.size:
        return -math.inf
    flat = np.abs(scores)
    flat.partition(scores.size - k)
    return float(flat[scores.size - k])


def _masked_layer(weight, bias, w_score, b_score, c, d, densities, rankings, w_eff, b_eff,
                  kept) -> None:
    """w_eff[s] = c[s] (W ⊙ m), b_eff[s] = d[s] (b ⊙ m^b) with every member's top-k masks of
    one layer at its density (popup.layer_masks): the mask is |s| ≥ its k-th largest |s|
    (fused in :func:`_threshold_scaled`); where ties make that more than k entries, the member
    gets popup.layer_masks' tie-broken mask instead."""
    size = len(densities)
    sw, sb = _flat(w_score), b_score
    nw, nb = sw.shape[1], sb.shape[1]

    def count(n, density):
        if (n, density) not in kept:
            kept[n, density] = kept_count(n, density)
        return kept[n, density]

    tw, tb = np.empty(size), np.empty(size)
    want = []
    for s in range(size):
        if rankings[s] == "separate":
            kw, kb = count(nw, densities[s]), count(nb, densities[s])
            tw[s] = _kth_largest_magnitude(sw[s], kw)
            tb[s] = _kth_largest_magnitude(sb[s], kb)
            want.append((kw, kb))
        else:
            k = count(nw + nb, densities[s])
            tw[s] = tb[s] = _kth_largest_magnitude(np.concatenate([sw[s], sb[s]]), k)
            want.append((k,))
    got_w, got_b = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
    _threshold_scaled(_flat(weight), sw, tw, c, _flat(w_eff), got_w)
    _threshold_scaled(bias, sb, tb, d, b_eff, got_b)
    for s in range(size):
        got = (int(got_w[s]), int(got_b[s])) if len(want[s]) == 2 else (int(got_w[s] + got_b[s]),)
        if got != want[s]:  # ties at a threshold: the reference's tie-broken masks
            (wm,), (bm,) = layer_masks([w_score[s]], [b_score[s]], densities[s], rankings[s])
            _scaled_masked(_flat(weight[s:s + 1]), wm.reshape(1, -1), c[s:s + 1],
                           _flat(w_eff[s:s + 1]))
            _scaled_masked(bias[s:s + 1], bm.reshape(1, -1), d[s:s + 1], b_eff[s:s + 1])


def _score_update(arrays, moments, config: PopupConfig, steps: int, lr: float) -> None:
    """The straight-through score gradient and the optimiser step of one stacked score tensor,
    fused (:func:`_score_adam`, :func:`_score_sgd`)."""
    grad_eff, weight, scores, c = arrays
    m, v = moments
    if config.optimizer == "sgd":
        _score_sgd(grad_eff, weight, scores, c, m, lr, config.momentum)
        return
    _score_adam(grad_eff, weight, scores, c, m, v, lr, 1 - ADAM_BETA1, 1 - ADAM_BETA2,
                1 - ADAM_BETA1**steps, 1 - ADAM_BETA2**steps)


def _update(params, grads, first, second, config: PopupConfig, steps: int, lr: float) -> None:
    """One optimiser step on every (flattened, stacked) parameter (popup._Optimizer's rule)."""
    if config.optimizer == "sgd":
        for p, m, g in zip(params, first, grads, strict=True):
            _sgd(p, m, g, lr, config.momentum)
        return
    bias1, bias2 = 1 - ADAM_BETA1**steps, 1 - ADAM_BETA2**steps
    for p, m, v, g in zip(params, first, second, grads, strict=True):
        _adam(p, m, v, g, lr, 1 - ADAM_BETA1, 1 - ADAM_BETA2, bias1, bias2)
