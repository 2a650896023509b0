"""Certificates for a ticket: observed, certified and a-priori output errors (THEORY.md §5).

For a target f_T, a ticket f_S with output scale Λ and an input box D:

* **observed** — max over samples of D of ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞, improved by a projected
  sign-gradient ascent from the worst samples, and recomputed **exactly** (rational arithmetic)
  at the best point found: a true lower bound of the sup.
* **certified** — a rigorous upper bound of sup_D ‖f_T − Λ⁻¹ f_S‖_∞: the §5 recursion per neuron
  with the ticket's actual represented parameters (``construct.represented_layers``, read from
  the masks), per-neuron interval bounds of the *target* over D, and the actual gains
  (Σ_{r∈S}|v_r| for L+1), evaluated with outward rounding (proofs/certificate-soundness.md):

      e_l[c, j] ≤ Σ_i max(|pos − w|·B⁺_i, |neg + w|·B⁻_i) + gain·e_{l−1}[i]  + |bias − b|,
      e_l[j] = max_c e_l[c, j],   e_0 = 0,

  plus the rounding of the represented numbers and of Λ (bounded by γ_K times absolute sums).
  Large sums run in float64 BLAS with the error bound |fl(Σ) − Σ| ≤ γ_N Σ|terms| + 2Nη and
  every elementwise step rounded up with ``np.nextafter``; the constants γ_N come from
  ``mpmath.iv``. :func:`certified_output_error_iv` is the same bound in pure ``mpmath.iv``
  (the reference the fast path is tested against).
* **a-priori** — the §5 closed form (bounds.py) for the ε' the ticket was built with, the
  target's norms a_l, k_l and the same rigorous B_l; for L+1 the gain bound G_l = ρ·max|v|
  (the source draw's largest unit-scale weight), since THEORY.md gives no a-priori bound on
  Σ_{r∈S}|v_r|.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import RepresentedLayer, Ticket

#: Unit roundoff of binary64 and a bound on the absolute error of one operation that
#: underflows (2^-1022, the smallest normal number: also covers flush-to-zero hardware).
UNIT_ROUNDOFF = 2.0**-53
UNDERFLOW = 2.0**-1022
#: Relative room between certified and a-priori for the rounding terms only the certified bound
#: carries (γ_K-sized, K ≤ a few hundred: far below this).
ROUNDING_RTOL = 1e-12


@contextlib.contextmanager
def _iv53():
    """mpmath.iv at 53 bits (binary64 endpoints), restoring the caller's precision."""
    iv = mpmath.iv
    old = iv.prec
    iv.prec = 53
    try:
        yield iv
    finally:
        iv.prec = old


# ======================================================================= outward rounding
def _up(x):
    """The next float above a round-to-nearest result: ≥ the exact value of that operation."""
    return np.nextafter(x, np.inf)


def _down(x):
    return np.nextafter(x, -np.inf)


@cache
def gamma_upper(n: int) -> tuple[float, float]:
    """(γ_n, 1/(1 − γ_n)) rounded up, γ_n = n·u/(1 − n·u) (Higham, Accuracy and Stability,
    Lemma 3.1), computed in ``mpmath.iv`` at 53 bits with outward rounding."""
    n = int(n)
    with _iv53() as iv:
        u = iv.mpf(2) ** -53
        nu = iv.mpf(n) * u
        if nu.b >= 1:
            raise OverflowError(f"γ_{n} is undefined: n·u ≥ 1")
        gamma = nu / (1 - nu)
        inverse = 1 / (1 - gamma)
        return float(gamma.b), float(inverse.b)


def sum_upper(terms: np.ndarray, axis: int) -> np.ndarray:
    """Upper bound of the exact sum of non-negative floats along ``axis``.

    Additions never underflow, so fl(Σ) ≥ (1 − γ_{n−1})·Σ for any summation order, hence
    Σ ≤ fl(Σ)/(1 − γ_n).
    """
    n = terms.shape[axis]
    _, inv = gamma_upper(max(n, 1))
    return _up(np.sum(terms, axis=axis) * inv)


def _dot_error(abs_fl: np.ndarray, n_terms: int) -> np.ndarray:
    """|fl(Σ a_i x_i) − Σ a_i x_i| ≤ γ_N·Σ|a_i x_i| + 2Nη, given fl(Σ|a_i||x_i|) (rounded)."""
    gamma, inv = gamma_upper(n_terms)
    slack = _up(2.0 * n_terms * UNDERFLOW)
    exact_abs = _up(_up(abs_fl + slack) * inv)
    return _up(_up(gamma * exact_abs) + slack)


# ===================================================================== rigorous IBP (target)
def rigorous_preactivation_bounds(
    network: Network, box: Box
) -> list[tuple[np.ndarray, np.ndarray]]:
    """[lo_l, hi_l] ∋ W_l x⁽ˡ⁻¹⁾ + b_l for every x in the box, rigorously (outward).

    z_hi = W⁺ hi − W⁻ lo + b and z_lo = W⁺ lo − W⁻ hi + b are sums of N = 2n + 1 terms
    evaluated by BLAS; the error bound of :func:`_dot_error` with Σ|terms| ≤ |W|·m + |b|
    (m = max(|lo|, |hi|)) makes them rigorous (proofs/certificate-soundness.md, Lemma 2).
    """
    if box.dim != network.widths[0]:
        raise _validate.InputError(
            f"the box has dimension {box.dim} but the network has {network.widths[0]} inputs"
        )
    lo, hi = box.lower, box.upper
    out = []
    for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        n_terms = 2 * w.shape[1] + 1
        w_pos, w_neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        s_hi = (w_pos @ hi - w_neg @ lo) + b
        s_lo = (w_pos @ lo - w_neg @ hi) + b
        m = np.maximum(np.abs(lo), np.abs(hi))
        err = _dot_error(np.abs(w) @ m + np.abs(b), n_terms)
        z_lo, z_hi = _down(s_lo - err), _up(s_hi + err)
        out.append((z_lo, z_hi))
        if t < network.depth - 1:
            lo, hi = np.maximum(z_lo, 0.0), np.maximum(z_hi, 0.0)
    return out


def rigorous_activation_bounds(network: Network, box: Box, pre=None) -> list[np.ndarray]:
    """B_l per neuron (l = 0 … L−1): rigorous upper bounds of max |x⁽ˡ⁾_j| over the box."""
    pre = rigorous_preactivation_bounds(network, box) if pre is None else pre
    out = [np.maximum(np.abs(box.lower), np.abs(box.upper))]
    out += [np.maximum(hi, 0.0) for _, hi in pre[:-1]]
    return out


# ====================================================================== certified (fast)
@dataclass(frozen=True)
class RoundingSlack:
    """Per target layer, bounds on |represented float − exact| (proofs/certificate-soundness.md).

    ``weights[t]`` (copies, out, in) bounds the error of positive, negative and gain;
    ``bias[t]`` (copies, out) that of bias; ``scale`` bounds |Π λ_l / Λ − 1|.
    """

    weights: tuple
    bias: tuple
    scale: float = 0.0


def _check_represented(target: Network, represented: Sequence[RepresentedLayer]) -> None:
    if len(represented) != target.depth:
        raise _validate.InputError(
            f"{len(represented)} represented layers for a target of depth {target.depth}"
        )
    for t, (r, w) in enumerate(zip(represented, target.weights, strict=True)):
        if r.positive.shape[1:] != w.shape:
            raise _validate.InputError(
                f"represented layer {t} has shape {r.positive.shape[1:]}, the target {w.shape}"
            )


def certified_output_error(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
    *,
    pre=None,
) -> float:
    """Rigorous upper bound of sup_{x∈box} ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ (float, rounded up).

    The per-neuron recursion of the module docstring, every operation rounded up; see
    proofs/certificate-soundness.md for the inequality behind each step.
    """
    _check_represented(target, represented)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    e_prev = None
    for t, (w, b, rep) in enumerate(zip(target.weights, target.biases, represented, strict=True)):
        sw = 0.0 if slack is None else slack.weights[t]
        sb = 0.0 if slack is None else slack.bias[t]
        if t == 0:
            b_pos, b_neg = np.maximum(box.upper, 0.0), np.maximum(-box.lower, 0.0)
        else:
            b_pos, b_neg = np.maximum(pre[t - 1][1], 0.0), None
        d_pos = _up(_up(np.abs(rep.positive - w)) + sw)
        term = _up(d_pos * b_pos)
        if t == 0 and np.any(b_neg > 0):
            d_neg = _up(_up(np.abs(rep.negative + w)) + sw)
            term = np.maximum(term, _up(d_neg * b_neg))
        if t > 0:
            gain = _up(np.maximum(rep.gain, np.abs(rep.positive)) + sw)
            term = _up(term + _up(gain * e_prev))
        row = sum_upper(term, axis=2)
        bias_err = _up(_up(np.abs(rep.bias - b)) + sb)
        e_prev = np.max(_up(row + bias_err), axis=0)
    e_out = float(np.max(e_prev))
    if slack is not None and slack.scale > 0:
        lo, hi = pre[-1]
        f_max = float(np.max(np.maximum(np.abs(lo), np.abs(hi))))
        e_out = float(_up(e_out + _up(slack.scale * _up(f_max + e_out))))
    return e_out


# ====================================================================== certified (mpmath.iv)
def _iv(x):
    return mpmath.iv.mpf(float(x))


def rigorous_preactivation_bounds_iv(network: Network, box: Box) -> list[tuple[list, list]]:
    """The interval bound propagation of the target in pure ``mpmath.iv`` (53 bits, outward)."""
    out = []
    with _iv53() as iv:
        xs = [iv.mpf([float(a), float(c)]) for a, c in zip(box.lower, box.upper, strict=True)]
        for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
            zs = []
            for j in range(w.shape[0]):
                z = _iv(b[j])
                for i in range(w.shape[1]):
                    if w[j, i] != 0:
                        z = z + _iv(w[j, i]) * xs[i]
                zs.append(z)
            out.append(([z.a for z in zs], [z.b for z in zs]))
            if t < network.depth - 1:
                zero = iv.mpf(0)
                xs = [iv.mpf([max(z.a, zero.a), max(z.b, zero.a)]) for z in zs]
    return out


def certified_output_error_iv(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
) -> float:
    """:func:`certified_output_error` evaluated entirely in ``mpmath.iv`` (slow; small nets)."""
    _check_represented(target, represented)
    with _iv53() as iv:
        pre = rigorous_preactivation_bounds_iv(target, box)
        e_prev = None
        for t, (w, b, rep) in enumerate(
            zip(target.weights, target.biases, represented, strict=True)
        ):
            n_out, n_in = w.shape
            if t == 0:
                bp = [iv.mpf(max(float(x), 0.0)) for x in box.upper]
                bn = [iv.mpf(max(-float(x), 0.0)) for x in box.lower]
            else:
                bp = [iv.mpf(max(hi, 0)) for hi in pre[t - 1][1]]
                bn = None
            e_new = []
            for j in range(n_out):
                worst = None
                for c in range(rep.copies):
                    total = iv.mpf(0)
                    for i in range(n_in):
                        sw = 0.0 if slack is None else float(slack.weights[t][c, j, i])
                        dp = abs(_iv(rep.positive[c, j, i]) - _iv(w[j, i])) + _iv(sw)
                        term = (dp * bp[i]).b
                        if t == 0 and bn[i].b > 0:
                            dn = abs(_iv(rep.negative[c, j, i]) + _iv(w[j, i])) + _iv(sw)
                            term = max(term, (dn * bn[i]).b)
                        term = iv.mpf(term)
                        if t > 0:
                            g = max(
                                abs(float(rep.gain[c, j, i])), abs(float(rep.positive[c, j, i]))
                            )
                            term = term + (_iv(g) + _iv(sw)) * e_prev[i]
                        total = total + term
                    sb = 0.0 if slack is None else float(slack.bias[t][c, j])
                    total = total + abs(_iv(rep.bias[c, j]) - _iv(b[j])) + _iv(sb)
                    worst = total.b if worst is None else max(worst, total.b)
                e_new.append(iv.mpf(worst))
            e_prev = e_new
        e_out = iv.mpf(max(e.b for e in e_prev))
        if slack is not None and slack.scale > 0:
            lo, hi = pre[-1]
            f_max = max(max(abs(a) for a in lo), max(abs(a) for a in hi))
            e_out = e_out + _iv(slack.scale) * (iv.mpf(f_max) + e_out)
        return float(e_out.b)


# ========================================================================== observed
def _sparse_layers(network: Network, density: float = 0.05):
    """Per layer: ("dense", W, nnz), ("csr", matrix, nnz) with scipy, or
    ("sparse", rows, cols, vals, n_out, n_in, nnz) when few entries are kept and W is large."""
    try:
        from scipy import sparse
    except ImportError:  # scipy is optional (it comes with the test/train extras)
        sparse = None
    layers = []
    for w in network.weights:
        nnz = int(np.count_nonzero(w))
        if nnz > density * w.size or w.size <= 1_000_000:
            layers.append(("dense", w, nnz))
        elif sparse is not None:
            layers.append(("csr", sparse.csr_matrix(w), nnz))
        else:
            rows, cols = np.nonzero(w)
            layers.append(("sparse", rows, cols, w[rows, cols], w.shape[0], w.shape[1], nnz))
    return layers


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


def _forward_with_masks(layers, biases, x, *, keep_masks: bool = True):
    """Batched forward in column layout (features × batch), with the ReLU masks if asked."""
    masks = []
    h = np.ascontiguousarray(x.T)
    for t, (layer, b) in enumerate(zip(layers, biases, strict=True)):
        if layer[0] == "dense":
            z = layer[1] @ h
        elif layer[0] == "csr":
            z = np.asarray(layer[1] @ h)
        else:
            _, rows, cols, vals, n_out, _, _ = layer
            z = _grouped_sum((h[cols] * vals[:, None]).T, rows, n_out).T.copy()
        z += b[:, None]
        if t < len(layers) - 1:
            if keep_masks:
                masks.append(z > 0)
            np.maximum(z, 0.0, out=z)
        h = z
    return h.T, masks


def _backward(layers, masks, v):
    """v (batch, n_L) ↦ v·J (batch, n_0) through the masked layers (column layout inside)."""
    v = np.ascontiguousarray(v.T)
    for t in range(len(layers) - 1, -1, -1):
        layer = layers[t]
        if layer[0] == "dense":
            v = layer[1].T @ v
        elif layer[0] == "csr":
            v = np.asarray(layer[1].T @ v)
        else:
            _, rows, cols, vals, _, n_in, _ = layer
            v = _grouped_sum((v[rows] * vals[:, None]).T, cols, n_in).T.copy()
        if t > 0:
            v = v * masks[t - 1]
    return v.T


class _Pair:
    """f_T and Λ⁻¹ f_S evaluated together (batched, chunked to bound memory)."""

    def __init__(self, target: Network, ticket_network: Network, scale: float):
        self.t_layers, self.t_biases = _sparse_layers(target), target.biases
        self.s_layers, self.s_biases = _sparse_layers(ticket_network), ticket_network.biases
        self.scale = float(scale)
        widest = max(max(ly[-1] for ly in self.s_layers), max(ly[-1] for ly in self.t_layers))
        self.chunk = max(1, int(4_000_000 // max(widest, 1)))

    def errors(self, x: np.ndarray) -> np.ndarray:
        """max_o |f_T(x)_o − Λ⁻¹ f_S(x)_o| per row of x."""
        out = []
        for start in range(0, x.shape[0], self.chunk):
            part = x[start : start + self.chunk]
            ft, _ = _forward_with_masks(self.t_layers, self.t_biases, part, keep_masks=False)
            fs, _ = _forward_with_masks(self.s_layers, self.s_biases, part, keep_masks=False)
            out.append(np.max(np.abs(ft - fs / self.scale), axis=1))
        return np.concatenate(out) if out else np.zeros(0)

    def error_and_gradient(self, x: np.ndarray):
        ft, mt = _forward_with_masks(self.t_layers, self.t_biases, x)
        fs, ms = _forward_with_masks(self.s_layers, self.s_biases, x)
        diff = ft - fs / self.scale
        o = np.argmax(np.abs(diff), axis=1)
        rows = np.arange(x.shape[0])
        sign = np.sign(diff[rows, o])
        v = np.zeros_like(diff)
        v[rows, o] = sign
        grad = _backward(self.t_layers, mt, v) - _backward(self.s_layers, ms, v) / self.scale
        return np.abs(diff[rows, o]), grad


# ---------------------------------------------------------------------- exact evaluation
def _scaled_ints(values: np.ndarray) -> tuple[list[int], int]:
    """Integers I and an exponent E with values == I / 2^E exactly (float64 input)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    nonzero = values != 0
    if not nonzero.any():
        return [0] * values.size, 0
    mant, expo = np.frexp(values)
    mant_int = np.ldexp(mant, 53).astype(np.int64)  # exact: |mant| < 1, 53 significant bits
    need = 53 - expo  # value = mant_int / 2^need
    E = int(max(0, need[nonzero].max()))
    shifts = (E - need).tolist()
    return [
        int(m) << int(s) if m != 0 else 0 for m, s in zip(mant_int.tolist(), shifts, strict=True)
    ], E


def exact_forward(network: Network, x) -> list[Fraction]:
    """f(x) in exact rational arithmetic (every weight, bias and input is its float's value)."""
    xi, ex = _scaled_ints(np.asarray(x, dtype=np.float64))
    for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        rows, cols = np.nonzero(w)
        wi, ew = _scaled_ints(w[rows, cols])
        bi, eb = _scaled_ints(b)
        e_new = max(ew + ex, eb)
        sp, sb = e_new - ew - ex, e_new - eb
        z = [v << sb for v in bi]
        for r, c, wv in zip(rows.tolist(), cols.tolist(), wi, strict=True):
            xv = xi[c]
            if xv:
                z[r] += (wv * xv) << sp
        if t < network.depth - 1:
            z = [v if v > 0 else 0 for v in z]
        xi, ex = z, e_new
    return [Fraction(v, 1 << ex) for v in xi]


def exact_output_error(target: Network, ticket_network: Network, scale: float, x) -> Fraction:
    """‖f_T(x) − f_S(x)/Λ‖_∞ exactly (Λ is the float ``scale``)."""
    ft = exact_forward(target, x)
    fs = exact_forward(ticket_network, x)
    lam = Fraction(float(scale))
    return max(abs(a - s / lam) for a, s in zip(ft, fs, strict=True))


def _float_down(value: Fraction) -> float:
    f = float(value)
    return float(np.nextafter(f, -np.inf)) if Fraction(f) > value else f


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


@dataclass(frozen=True)
class ObservedError:
    """The exact error at the worst input found (``x``), and the search effort."""

    value: float
    x: np.ndarray
    sampled_max: float
    n_evaluations: int


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
) -> ObservedError:
    """Sampled max of ‖f_T − Λ⁻¹ f_S‖_∞ over the box, then projected sign-gradient ascent
    from the ``n_starts`` worst samples (and the box centre and the point nearest 0); the
    value returned is recomputed exactly at the best point and rounded down (a lower bound
    of the true sup)."""
    rng = _validate.rng(rng)
    n_samples = _validate.positive_int("n_samples", n_samples)
    with _single_threaded_blas():
        return _observed_search(target, ticket_network, scale, box, rng, n_samples, n_starts, steps)


def _observed_search(target, ticket_network, scale, box, rng, n_samples, n_starts, steps):
    pair = _Pair(target, ticket_network, scale)
    special = np.stack([(box.lower + box.upper) / 2, np.clip(0.0, box.lower, box.upper)])
    x = np.concatenate([special, box.sample(n_samples, rng)])
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
    order = np.argsort(-cand_err, kind="stable")[:3]
    exact = [(exact_output_error(target, ticket_network, scale, candidates[i]), i) for i in order]
    value, index = max(exact, key=lambda item: item[0])
    return ObservedError(_float_down(value), candidates[index].copy(), sampled_max, evaluations)


# ===================================================================== the certificate
@dataclass(frozen=True)
class Certificate:
    """Everything DESIGN.md's certificate JSON carries, plus the worst input found."""

    method: str
    init: str | None
    seed: object
    eps_param: float
    delta: float | None
    target_sha256: str
    target_widths: tuple
    target_params_nonzero: int
    source_widths: tuple
    source_params: int
    ticket_params_nonzero: int
    scale: float
    max_param_error: float
    max_weight_error: float
    max_bias_error: float
    observed_output_error: float
    certified_output_error: float
    a_priori_output_error: float
    domain: Box
    rss: dict | None
    time_s: float
    worst_input: np.ndarray = field(repr=False, default=None)
    a_priori_gains: tuple | None = None

    @property
    def ordered(self) -> bool:
        """observed ≤ certified ≤ a-priori (the last only meaningful without RSS failures).

        The a-priori bound is about exact represented parameters; the certified one also carries
        the rounding of the read-back and of Λ (Lemma 5 of proofs/certificate-soundness.md), so
        the second comparison allows :data:`ROUNDING_RTOL` relative.
        """
        return self.observed_output_error <= self.certified_output_error and (
            self.certified_output_error <= self.a_priori_output_error * (1 + ROUNDING_RTOL)
        )

    def to_json(self) -> dict:
        def num(x):
            return None if x is None else (float(x) if math.isfinite(float(x)) else str(float(x)))

        return {
            "method": self.method,
            "init": self.init,
            "seed": self.seed,
            "eps_param": self.eps_param,
            "delta": self.delta,
            "target": {
                "sha256": self.target_sha256,
                "widths": list(self.target_widths),
                "params_nonzero": self.target_params_nonzero,
            },
            "source": {"widths": list(self.source_widths), "params": self.source_params},
            "ticket": {"params_nonzero": self.ticket_params_nonzero, "scale": self.scale},
            "errors": {
                "max_param_error": self.max_param_error,
                "max_weight_error": self.max_weight_error,
                "max_bias_error": self.max_bias_error,
                "observed_output_error": self.observed_output_error,
                "certified_output_error": num(self.certified_output_error),
                "a_priori_output_error": num(self.a_priori_output_error),
                "a_priori_gains": None
                if self.a_priori_gains is None
                else [num(g) for g in self.a_priori_gains],
                "domain": self.domain.to_json(),
            },
            "rss": self.rss,
            "time_s": self.time_s,
        }


def _fraction_max_abs_diff(a: np.ndarray, b: np.ndarray, sign: float) -> float:
    """max |a − sign·b| computed exactly at the float maximisers (rounding is monotone)."""
    if a.size == 0:
        return 0.0
    approx = np.abs(a - sign * b)
    top = float(approx.max())
    idx = np.flatnonzero(approx.ravel() == top)
    af, bf = a.ravel(), np.broadcast_to(b, a.shape).ravel()
    exact = max(abs(Fraction(float(af[i])) - Fraction(sign) * Fraction(float(bf[i]))) for i in idx)
    return float(exact)


def max_param_errors(target: Network, box: Box, represented) -> tuple[float, float]:
    """(max weight error, max bias error) of the represented parameters against the target,
    from the masks (never the log): |pos − w|, |neg + w| where the input can be negative
    (target layer 1 only), |bias − b|."""
    w_err, b_err = 0.0, 0.0
    for t, (w, b, rep) in enumerate(zip(target.weights, target.biases, represented, strict=True)):
        w_err = max(
            w_err, _fraction_max_abs_diff(rep.positive, np.broadcast_to(w, rep.positive.shape), 1.0)
        )
        if t == 0 and box.has_negative.any():
            cols = box.has_negative
            neg = rep.negative[:, :, cols]
            w_err = max(
                w_err, _fraction_max_abs_diff(neg, np.broadcast_to(w[:, cols], neg.shape), -1.0)
            )
        b_err = max(
            b_err, _fraction_max_abs_diff(rep.bias, np.broadcast_to(b, rep.bias.shape), 1.0)
        )
    return w_err, b_err


def rounding_slack(ticket: Ticket, represented_abs, *, depth_source: int) -> RoundingSlack:
    """Bounds on |represented float − exact| from absolute sums (proofs/certificate-soundness.md).

    Each represented entry is a sum of products of unit-scale parameters fl(θ/λ) (the bias
    divisor a product of up to L₀ scales), each product rounded once and the sum once, so
    |r − r*| ≤ γ_K·Σ|terms|·(1 + γ_K) with K = L₀ + 5; ``represented_abs`` (the read-back of the
    ticket with |θ|) bounds Σ|terms| from above.
    """
    k_terms = depth_source + 5
    gamma, _ = gamma_upper(k_terms)
    factor = float(_up(gamma * 2.0))
    weights = tuple(
        _up(factor * _up(np.maximum(r.positive, 0) + np.maximum(r.negative, 0)))
        for r in represented_abs
    )
    bias = tuple(_up(factor * np.abs(r.bias)) for r in represented_abs)
    scale_gamma, _ = gamma_upper(depth_source + 1)
    return RoundingSlack(weights, bias, float(_up(2.0 * scale_gamma)))


def _abs_ticket(ticket: Ticket) -> Ticket:
    src = ticket.source
    abs_source = Network(
        tuple(np.abs(w) for w in src.weights), tuple(np.abs(b) for b in src.biases)
    )
    return Ticket(abs_source, ticket.weight_masks, ticket.bias_masks, ticket.scale, ticket.metadata)


def _check_domain(domain, dim: int) -> Box:
    if isinstance(domain, Box):
        box = domain
    else:
        try:
            lo, hi = domain
        except (TypeError, ValueError):
            raise _validate.InputError(
                f"domain must be a Box or a pair (LO, HI), got {domain!r}"
            ) from None
        box = Box.cube(lo, hi, dim)
    if box.dim != dim:
        raise _validate.InputError(f"the domain has dimension {box.dim}, the target {dim} inputs")
    return box


def a_priori_gains(ticket: Ticket, represented, spec) -> tuple | None:
    """G_l = ρ·max|v| for a construction whose bound needs gains (``spec.needs_gains``: L+1,
    copies of the previous layer × the largest unit-scale source weight): an upper bound of
    every Σ_{r∈S}|v_r| that uses only the source draw. None for the other constructions."""
    if not spec.needs_gains:
        return None
    scales = ticket.metadata.get("layer_scales")
    if scales is None:
        return tuple(math.inf for _ in represented)
    v_max = max(
        float(np.max(np.abs(w))) / float(s)
        for w, s in zip(ticket.source.weights, scales, strict=True)
    )
    v_max = float(_up(v_max * (1 + 4 * UNIT_ROUNDOFF)))
    gains = [0.0]
    for t in range(1, len(represented)):
        gains.append(float(_up(represented[t - 1].copies * v_max)))
    return tuple(gains)


def certify(
    ticket: Ticket,
    target: Network,
    domain=(-1.0, 1.0),
    *,
    rng=0,
    n_samples: int = 10_000,
    represented=None,
) -> Certificate:
    """The certificate of DESIGN.md for ``ticket`` against ``target`` over ``domain``.

    ``domain`` is a Box or (LO, HI) for [LO, HI]^{n_0}; ``rng`` drives the samples of the
    observed error (default seed 0: the same call gives the same certificate). ``represented``
    overrides ``construct.represented_layers(ticket)`` (tests with hand-made layers; then no
    rounding slack for the read-back is added, the layers being taken as exact).
    """
    from lotteryproofs import bounds
    from lotteryproofs.construct import get_construction
    from lotteryproofs.network import network_sha256

    start = time.perf_counter()
    if not isinstance(ticket, Ticket):
        raise _validate.InputError(f"ticket must be a Ticket, got {type(ticket).__name__}")
    if not isinstance(target, Network):
        raise _validate.InputError(f"target must be a Network, got {type(target).__name__}")
    meta = ticket.metadata
    sha = network_sha256(target)
    if meta.get("target_sha256") != sha:
        raise _validate.InputError(
            f"the ticket was built for target {meta.get('target_sha256')!r}, not this target "
            f"(sha256 {sha})"
        )
    box = _check_domain(domain, target.widths[0])
    construction = get_construction(meta.get("method"))
    eps_param = _validate.positive("the ticket's eps_param", meta.get("eps_param"))
    ticket_network = ticket.network
    if (
        ticket_network.widths[0] != target.widths[0]
        or ticket_network.widths[-1] != target.widths[-1]
    ):
        raise _validate.InputError("the ticket's input/output widths differ from the target's")

    if represented is None:
        from lotteryproofs.construct import LayoutError, represented_layers

        try:
            represented = represented_layers(ticket)
            absolute = represented_layers(_abs_ticket(ticket))
        except LayoutError as exc:
            raise _validate.InputError(
                f"the ticket's masks do not have the layout its metadata claims: {exc}"
            ) from None
        slack = rounding_slack(ticket, absolute, depth_source=ticket.source.depth)
    else:
        slack = None
    represented = tuple(represented)
    _check_represented(target, represented)

    pre = rigorous_preactivation_bounds(target, box)
    certified = certified_output_error(target, box, represented, slack, pre=pre)
    w_err, b_err = max_param_errors(target, box, represented)
    observed = observed_output_error(
        target, ticket_network, ticket.scale, box, rng=rng, n_samples=n_samples
    )
    norms = bounds.target_norms(
        target,
        rigorous_activation_bounds(target, box, pre),
        input_has_negative=bool(box.has_negative.any()),
    )
    gains = a_priori_gains(ticket, represented, construction.bound)
    a_priori = bounds.a_priori_output_error(construction.bound, norms, eps_param, gains=gains)
    a_priori = (
        float(np.nextafter(float(a_priori), np.inf)) if mpmath.isfinite(a_priori) else math.inf
    )
    rss = ticket.rss_log.summary() if ticket.rss_log is not None else None
    return Certificate(
        method=construction.name,
        init=meta.get("init"),
        seed=meta.get("seed"),
        eps_param=eps_param,
        delta=meta.get("delta"),
        target_sha256=sha,
        target_widths=tuple(target.widths),
        target_params_nonzero=target.count_nonzero(),
        source_widths=tuple(ticket.source.widths),
        source_params=ticket.source.n_params,
        ticket_params_nonzero=ticket_network.count_nonzero(),
        scale=float(ticket.scale),
        max_param_error=max(w_err, b_err),
        max_weight_error=w_err,
        max_bias_error=b_err,
        observed_output_error=observed.value,
        certified_output_error=certified,
        a_priori_output_error=a_priori,
        domain=box,
        rss=rss,
        time_s=round(time.perf_counter() - start, 3),
        worst_input=observed.x,
        a_priori_gains=gains,
    )


# ================================================================ exact sup in low dimension
def _cell_bounds(network: Network, lo: np.ndarray, hi: np.ndarray, scale: float = 1.0):
    """Float IBP of a batch of cells: output bounds (k, n_L) and whether every hidden neuron
    is stable (one sign) on the cell."""
    c, r = (lo + hi) / 2, (hi - lo) / 2
    stable = np.ones(lo.shape[0], dtype=bool)
    for t, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        zc, zr = c @ w.T + b, r @ np.abs(w).T
        zr = zr * (1 + 1e-12) + 1e-300
        if t < network.depth - 1:
            zl, zh = zc - zr, zc + zr
            stable &= np.all((zl >= 0) | (zh <= 0), axis=1)
            zl, zh = np.maximum(zl, 0.0), np.maximum(zh, 0.0)
            c, r = (zl + zh) / 2, (zh - zl) / 2
        else:
            c, r = zc, zr
    return (c - r) / scale, (c + r) / scale, stable


@dataclass(frozen=True)
class SupEnclosure:
    """lower ≤ sup_box ‖f_T − Λ⁻¹ f_S‖_∞ ≤ upper, from branch and bound over linear regions."""

    lower: float
    upper: float
    cells: int
    converged: bool


def sup_error_branch_and_bound(
    target: Network,
    ticket_network: Network,
    scale: float,
    box: Box,
    *,
    rtol: float = 1e-2,
    threshold: float | None = None,
    max_cells: int = 400_000,
) -> SupEnclosure:
    """Enclose the exact sup of the error for low-dimensional inputs (1-D and 2-D tests).

    Cells on which every hidden neuron of both networks keeps one sign (interval bounds) lie
    inside one linear region, where the error's sup is the max over the cell's corners, taken
    in exact rational arithmetic at the top corners; other cells get the interval bound
    max_o max(hi_T − lo_S, hi_S − lo_T) (inflated by 1e-9 relative for its float rounding) and
    are split along their widest side until that bound is ≤ the best corner value·(1 + rtol),
    or, with ``threshold``, ≤ threshold·(1 + 1e-8) (to prove sup ≤ threshold to the oracle's
    float resolution; the search stops early when a corner exceeds it).
    """
    d = box.dim
    corners = np.array(np.meshgrid(*([[0.0, 1.0]] * d), indexing="ij")).reshape(d, -1).T
    pair = _Pair(target, ticket_network, scale)
    lo, hi = box.lower[None].copy(), box.upper[None].copy()
    best_pts = np.zeros((0, d))
    lower, ibp_done, cells = 0.0, 0.0, 0
    while lo.shape[0]:
        cells += lo.shape[0]
        tl, th, ts = _cell_bounds(target, lo, hi)
        sl, sh, ss = _cell_bounds(ticket_network, lo, hi, scale)
        ibp_upper = np.max(np.maximum(th - sl, sh - tl), axis=1) * (1 + 1e-9) + 1e-300
        pts = (lo[:, None, :] + corners[None] * (hi - lo)[:, None, :]).reshape(-1, d)
        corner_err = pair.errors(pts)
        top = corner_err >= corner_err.max() * (1 - 1e-9)
        best_pts = np.concatenate([best_pts, pts[top][:16]])
        lower = max(lower, float(corner_err.max()))
        corner_err = corner_err.reshape(lo.shape[0], -1).max(axis=1)
        linear = ts & ss
        # the interval bounds resolve the sup to ~1e-9 relative: prove ≤ threshold·(1 + 1e-8)
        limit = lower * (1 + rtol) if threshold is None else threshold * (1 + 1e-8)
        done = linear | (ibp_upper <= limit)
        pruned = done & ~linear
        if pruned.any():
            ibp_done = max(ibp_done, float(ibp_upper[pruned].max()))
        lo, hi = lo[~done], hi[~done]
        if threshold is not None and lower > threshold * (1 + 1e-9):  # float corners: slack
            break
        if lo.shape[0] and cells + 2 * lo.shape[0] > max_cells:
            ibp_done = max(ibp_done, float(ibp_upper[~done].max()))
            break
        if lo.shape[0]:
            rows = np.arange(lo.shape[0])
            axis = np.argmax(hi - lo, axis=1)
            mid = (lo[rows, axis] + hi[rows, axis]) / 2
            lo2, hi1 = lo.copy(), hi.copy()
            hi1[rows, axis] = mid
            lo2[rows, axis] = mid
            lo, hi = np.concatenate([lo, lo2]), np.concatenate([hi1, hi])
    # exact value of the best corners: the sup over linear cells is attained at one of them
    keep = pair.errors(best_pts)
    order = np.argsort(-keep, kind="stable")[:8]
    exact = max(exact_output_error(target, ticket_network, scale, best_pts[i]) for i in order)
    exact_max = float(exact)
    upper = max(
        exact_max if Fraction(exact_max) >= exact else float(np.nextafter(exact_max, np.inf)),
        ibp_done,
    )
    return SupEnclosure(_float_down(exact), upper, cells, lo.shape[0] == 0)
