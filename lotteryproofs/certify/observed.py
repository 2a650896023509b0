"""The observed error: a true lower bound of sup_D ‖f_T − Λ⁻¹ f_S‖_∞ (THEORY.md §5).

The max over samples of the box, improved by a projected sign-gradient ascent from the worst
samples and recomputed **exactly** (:mod:`certify.exact`) at the best point found. The
forward passes are the shared :func:`lotteryproofs.propagation.propagate` in the COLUMNS
arithmetic (samples as columns), over linear operators that keep large, very sparse
tickets sparse; the backward pass (v ↦ v·J through the activation pattern) is this module's.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.indices import nonzero_2d
from lotteryproofs.network import Box, Network
from lotteryproofs.propagation import COLUMNS, propagate

from .exact import exact_output_errors, float_down


class _DenseOperator:
    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias
        self.nnz = int(np.count_nonzero(weight))

    def forward_columns(self, h):
        z = self.weight @ h
        z += self.bias[:, None]
        return z

    def backward_columns(self, v):
        return self.weight.T @ v


class _CsrOperator(_DenseOperator):
    def __init__(self, weight, bias, sparse):
        self.matrix, self.bias = sparse.csr_matrix(weight), bias
        self.nnz = int(self.matrix.nnz)

    def forward_columns(self, h):
        z = np.asarray(self.matrix @ h)
        z += self.bias[:, None]
        return z

    def backward_columns(self, v):
        return np.asarray(self.matrix.T @ v)


class _CooOperator(_DenseOperator):
    def __init__(self, weight, bias):
        self.rows, self.cols = nonzero_2d(weight)
        self.vals, self.bias = weight[self.rows, self.cols], bias
        self.n_out, self.n_in = weight.shape
        self.nnz = int(self.rows.size)

    def forward_columns(self, h):
        z = _grouped_sum((h[self.cols] * self.vals[:, None]).T, self.rows, self.n_out).T.copy()
        z += self.bias[:, None]
        return z

    def backward_columns(self, v):
        return _grouped_sum((v[self.rows] * self.vals[:, None]).T, self.cols, self.n_in).T.copy()


class _LiftOperator:
    """x ↦ (x, −x): the first layer [I; −I] (zero bias) of a represented network
    (:func:`represented_network`), applied without its 2n × n matrix product — the same
    values (every product of the matrix is x_i·1, x_i·(−1) or a zero, every sum has one
    nonzero term: the products are exact and so is the sum), but the search's largest
    multiplication gone."""

    def __init__(self, n: int):
        self.n, self.nnz = n, 2 * n

    def forward_columns(self, h):
        z = np.empty((2 * self.n, h.shape[1]))
        np.add(h, 0.0, out=z[: self.n])  # + 0.0 as the zero bias adds it (−0 → +0)
        np.negative(h, out=z[self.n:])
        z[self.n:] += 0.0
        return z

    def backward_columns(self, v):
        return v[: self.n] - v[self.n:]


def _is_lift(w: np.ndarray, b: np.ndarray) -> bool:
    n = w.shape[1]
    return (w.shape[0] == 2 * n and not np.any(b)
            and np.array_equal(w, np.concatenate([np.eye(n), -np.eye(n)])))


def _operators(network: Network, density: float = 0.05) -> list:
    """Per layer a linear operator: dense, scipy CSR, or coordinate lists (scipy is optional)
    when few entries are kept and W is large; a first layer that is the lift [I; −I] of a
    represented network, the lift itself."""
    try:
        from scipy import sparse
    except ImportError:  # scipy is optional (it comes with the test/train extras)
        sparse = None
    ops = []
    for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        nnz = int(np.count_nonzero(w))
        if t == 0 and _is_lift(w, b):
            ops.append(_LiftOperator(w.shape[1]))
        elif nnz > density * w.size or w.size <= 1_000_000:
            ops.append(_DenseOperator(w, b))
        elif sparse is not None:
            ops.append(_CsrOperator(w, b, sparse))
        else:
            ops.append(_CooOperator(w, b))
    return ops


def _grouped_sum(values: np.ndarray, keys: np.ndarray, n_keys: int) -> np.ndarray:
    """out[:, k] = Σ values[:, m] over m with keys[m] = k (values (batch, m))."""
    out = np.zeros((values.shape[0], n_keys))
    if keys.size == 0:
        return out
    order = np.argsort(keys, kind="stable")
    keys_sorted = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], np.diff(keys_sorted) != 0)))
    out[:, keys_sorted[starts]] = np.add.reduceat(values[:, order], starts, axis=1)
    return out


class _Evaluator:
    """One network as column-layout operators: batched forward and its backward."""

    def __init__(self, network: Network):
        self.ops = _operators(network)
        self.activations = network.activations
        self.widest = max(op.nnz for op in self.ops)

    def forward(self, x: np.ndarray, pre: list | None = None) -> np.ndarray:
        h = np.ascontiguousarray(x.T)
        return propagate(self.ops, self.activations, h, COLUMNS, pre=pre).T

    def backward(self, pre: list, v: np.ndarray) -> np.ndarray:
        """v (batch, n_L) ↦ v·J (batch, n_0) through the activation pattern of ``pre``."""
        v = np.ascontiguousarray(v.T)
        for t in range(len(self.ops) - 1, -1, -1):
            v = self.ops[t].backward_columns(v)
            if t > 0:
                v = v * self.activations[t - 1].derivative(pre[t - 1])
        return v.T


class Pair:
    """f_T and Λ⁻¹ f_S evaluated together (batched, chunked to bound memory). The search may
    run on any network close to Λ⁻¹ f_S (:func:`represented_network`); only the exact
    recomputation at the end must use the ticket itself."""

    def __init__(self, target: Network, ticket_network: Network, scale: float, *,
                 chunk: int | None = None):
        self.target, self.ticket = _Evaluator(target), _Evaluator(ticket_network)
        self.scale = float(scale)
        widest = max(self.ticket.widest, self.target.widest)
        self.chunk = max(1, int(4_000_000 // max(widest, 1))) if chunk is None else int(chunk)

    def errors(self, x: np.ndarray) -> np.ndarray:
        """max_o |f_T(x)_o − Λ⁻¹ f_S(x)_o| per row of x."""
        out = []
        for start in range(0, x.shape[0], self.chunk):
            part = x[start : start + self.chunk]
            ft = self.target.forward(part)
            fs = self.ticket.forward(part)
            out.append(np.max(np.abs(ft - fs / self.scale), axis=1))
        return np.concatenate(out) if out else np.zeros(0)

    def error_and_gradient(self, x: np.ndarray):
        pt, ps = [], []
        ft = self.target.forward(x, pt)
        fs = self.ticket.forward(x, ps)
        diff = ft - fs / self.scale
        o = np.argmax(np.abs(diff), axis=1)
        rows = np.arange(x.shape[0])
        sign = np.sign(diff[rows, o])
        v = np.zeros_like(diff)
        v[rows, o] = sign
        grad = self.target.backward(pt, v) - self.ticket.backward(ps, v) / self.scale
        return np.abs(diff[rows, o]), grad


@contextlib.contextmanager
def _single_threaded_blas():
    """The observed search multiplies many small blocks, where BLAS threads only contend
    (4× slower measured on 2 busy cores); threadpoolctl is optional (it comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


#: Samples per batch of a search on a represented network (:func:`represented_network`).
SEARCH_CHUNK = 2048


@dataclass(frozen=True)
class ObservedError:
    """The exact error at the worst input found (``x``), and the search effort."""

    value: float
    x: np.ndarray
    sampled_max: float
    n_evaluations: int
    #: the effort, for the certificate JSON: samples, ascent starts and steps, restarts,
    #: exact recomputations
    search: dict | None = None


def observed_output_error(
    target: Network,
    ticket_network: Network,
    scale: float,
    box: Box,
    *,
    rng,
    n_samples: int = 10_000,
    n_starts: int = 8,
    steps: int = 40,
    restarts: int = 0,
    search_network: Network | None = None,
) -> ObservedError:
    """Sampled max of ‖f_T − Λ⁻¹ f_S‖_∞ over the box, then projected sign-gradient ascent
    from the ``n_starts`` worst samples (and the box centre and the point nearest 0); the
    value returned is recomputed exactly at the best point and rounded down (a lower bound
    of the true sup).

    ``restarts`` > 0 adds that many rounds of projected gradient ascent (a step along the
    gradient scaled to the box, backtracking) restarted from the best points so far, each
    jittered within a shrinking neighbourhood and from fresh worst samples; every round
    only adds candidates, so the value never falls below the ``restarts=0`` one for the
    same ``rng``.

    ``search_network`` (at unit scale: its output is compared with f_T directly) replaces
    Λ⁻¹ f_S in the sampling and the ascent, e.g. the represented network of a large ticket
    (:func:`represented_network`, a target-sized network instead of the source-sized one);
    the value is still the exact error of the ticket itself at the best inputs found, so it
    stays a true lower bound whatever the search network is."""
    rng = _validate.rng(rng)
    n_samples = _validate.positive_int("n_samples", n_samples)
    restarts = _validate.positive_int("restarts", restarts, minimum=0)
    if search_network is None:
        pair = Pair(target, ticket_network, scale)
    else:
        # dense target-sized layers: a batch costs its activations only (≤ 10⁴ samples ×
        # Σ widths floats), not one product per kept entry as for a coordinate-list ticket
        pair = Pair(target, search_network, 1.0, chunk=SEARCH_CHUNK)
    with _single_threaded_blas():
        found = _observed_search(pair, target, ticket_network, scale, box, rng, n_samples,
                                 n_starts, steps, restarts)
    searched_on = "ticket" if search_network is None else "represented layers"
    return dataclasses.replace(found, search={**found.search, "searched_on": searched_on})


def _projected_ascent(pair, starts, best_err, box, steps):
    """Projected gradient ascent with backtracking per point: x ← Π_D(x + s·g/‖g‖_∞·width),
    s halved on a point whose step does not improve it. Returns (points, errors, evaluations)."""
    width = box.upper - box.lower
    step = np.full(starts.shape[0], 0.05)
    evaluations = 0
    for _ in range(steps):
        _, grad = pair.error_and_gradient(starts)
        scale = np.max(np.abs(grad), axis=1, keepdims=True)
        direction = np.divide(grad, scale, out=np.zeros_like(grad), where=scale > 0)
        trial = np.clip(starts + step[:, None] * width * direction, box.lower, box.upper)
        trial_err = pair.errors(trial)
        evaluations += 2 * starts.shape[0]
        better = trial_err > best_err
        starts[better], best_err[better] = trial[better], trial_err[better]
        step = np.where(better, np.minimum(step * 1.5, 0.5), step / 2)
        if np.all(step < 1e-9):
            break
    return starts, best_err, evaluations


def _observed_search(pair, target, ticket_network, scale, box, rng, n_samples, n_starts, steps,
                     restarts=0):
    # the box centre, the point nearest 0, then the samples drawn in place (no second copy)
    x = np.empty((n_samples + 2, box.dim))
    x[0], x[1] = (box.lower + box.upper) / 2, np.clip(0.0, box.lower, box.upper)
    box.sample(n_samples, rng, out=x[2:])
    err = pair.errors(x)
    sampled_max = float(err.max())
    starts = x[np.argsort(-err, kind="stable")[: min(n_starts, x.shape[0])]].copy()
    best_err = pair.errors(starts)
    width = box.upper - box.lower
    evaluations = x.shape[0] + starts.shape[0]
    step = 0.1
    for _ in range(steps):
        _, grad = pair.error_and_gradient(starts)
        trial = np.clip(starts + step * width * np.sign(grad), box.lower, box.upper)
        trial_err = pair.errors(trial)
        evaluations += 2 * starts.shape[0]
        better = trial_err > best_err
        starts[better], best_err[better] = trial[better], trial_err[better]
        if not better.any():
            step /= 2
            if step < 1e-9:
                break
    candidates = np.concatenate([starts, x[[int(np.argmax(err))]]])
    cand_err = np.concatenate([best_err, [sampled_max]])
    n_samples_used = x.shape[0]
    first = np.argsort(-cand_err, kind="stable")[:3]  # recomputed exactly whatever follows
    radius = 0.1
    for _ in range(restarts):
        # restart from the best points (jittered) and from the worst fresh samples
        best = candidates[np.argsort(-cand_err, kind="stable")[:n_starts]]
        jitter = best + radius * width * rng.uniform(-1.0, 1.0, best.shape)
        fresh = box.sample(max(n_samples // 4, n_starts), rng)
        fresh_err = pair.errors(fresh)
        n_samples_used += fresh.shape[0]
        fresh = fresh[np.argsort(-fresh_err, kind="stable")[:n_starts]]
        points = np.clip(np.concatenate([best, jitter, fresh]), box.lower, box.upper)
        point_err = pair.errors(points)
        points, point_err, used = _projected_ascent(pair, points, point_err, box, steps)
        evaluations += fresh_err.size + point_err.size + used
        candidates = np.concatenate([candidates, points])
        cand_err = np.concatenate([cand_err, point_err])
        radius /= 2
    order = np.argsort(-cand_err, kind="stable")[:3]
    order = list(first) + [i for i in order if i not in set(first.tolist())]
    values = exact_output_errors(target, ticket_network, scale, candidates[order])
    exact = list(zip(values, order, strict=True))
    value, index = max(exact, key=lambda item: item[0])
    search = {"samples": int(n_samples_used), "ascent_starts": int(starts.shape[0]),
              "ascent_steps": int(steps), "restarts": int(restarts),
              "evaluations": int(evaluations), "exact_recomputations": len(exact)}
    return ObservedError(float_down(value), candidates[index].copy(), sampled_max, evaluations,
                         search)


def represented_network(represented) -> Network | None:
    """The function the represented layers define, as a target-sized ReLU network at unit
    scale (None for a ticket with several copies per hidden neuron):

        ẑ_0 = P_0 σ(x) + N_0 σ(−x) + b̂_0,      ẑ_t = P_t σ(ẑ_{t−1}) + b̂_t   (t ≥ 1),

    (``ticket.RepresentedLayer``; σ(−x̂) = 0 after a ReLU), the first layer written as a
    lifting x ↦ (x, −x) followed by the ReLU and [P_0 N_0]. It equals Λ⁻¹ f_S up to the
    read-back's rounding: a search network for :func:`observed_output_error`, never the
    value reported."""
    if any(r.copies != 1 for r in represented):
        return None
    first = represented[0]
    n0 = first.positive.shape[2]
    lift = np.concatenate([np.eye(n0), -np.eye(n0)])
    weights = [lift, np.concatenate([first.positive[0], first.negative[0]], axis=1)]
    biases = [np.zeros(2 * n0), first.bias[0]]
    for rep in represented[1:]:
        weights.append(rep.positive[0])
        biases.append(rep.bias[0])
    return Network(weights, biases)
