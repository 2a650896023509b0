"""The certified bound: the §5 recursion per neuron, evaluated rigorously (THEORY.md §5).

For a target f_T and the represented layers of a ticket (``construct.represented_layers``,
read from the masks), with per-neuron rigorous bounds of the *target* over the box:

    e_l[c, j] ≤ Σ_i max(|pos − w|·B⁺_i, |neg + w|·B⁻_i) + gain·e_{l−1}[i]  + |bias − b|,
    e_l[j] = max_c e_l[c, j],   e_0 = 0,

plus the rounding of the represented numbers and of Λ (:mod:`certify.rounding`). Large sums
run in float64 BLAS with the error bound of ``rounding.sum_upper`` and every elementwise step
rounded up; :func:`certified_output_error_iv` is the same bound in pure ``mpmath.iv`` (the
reference the fast path is tested against). proofs/certificate-soundness.md proves each step.
The recursion is the one of ReLU targets (B⁺, B⁻ are the bounds of σ(x) and σ(−x)).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network, activation_bounds
from lotteryproofs.propagation import MPMATH_IV, OUTWARD
from lotteryproofs.rounding import iv53, sum_upper, up
from lotteryproofs.ticket import RepresentedLayer

from .rounding import RoundingSlack


# ===================================================================== rigorous IBP (target)
def rigorous_preactivation_bounds(
    network: Network, box: Box
) -> list[tuple[np.ndarray, np.ndarray]]:
    """[lo_l, hi_l] ∋ W_l x⁽ˡ⁻¹⁾ + b_l for every x in the box, rigorously (outward): the
    OUTWARD arithmetic of :mod:`lotteryproofs.propagation` (``Dense.interval_outward``)."""
    network._check_box(box)
    out: list = []
    network.propagate((box.lower, box.upper), OUTWARD, pre=out)
    return out


def rigorous_activation_bounds(network: Network, box: Box, pre=None) -> list[np.ndarray]:
    """B_l per neuron (l = 0 … L−1): rigorous upper bounds of max |x⁽ˡ⁾_j| over the box."""
    pre = rigorous_preactivation_bounds(network, box) if pre is None else pre
    return activation_bounds(network, box, pre, interval=False)


def rigorous_preactivation_bounds_iv(network: Network, box: Box) -> list[tuple[list, list]]:
    """The interval bound propagation of the target in pure ``mpmath.iv`` (53 bits, outward)."""
    with iv53() as iv:
        xs = [iv.mpf([float(a), float(c)]) for a, c in zip(box.lower, box.upper, strict=True)]
        pre: list = []
        network.propagate(xs, MPMATH_IV, pre=pre)
        return [([z.a for z in zs], [z.b for z in zs]) for zs in pre]


# ====================================================================== certified (fast)
def check_represented(target: Network, represented: Sequence[RepresentedLayer]) -> None:
    """The recursion's preconditions: a ReLU target and one represented layer per layer."""
    if not target.is_relu:
        raise _validate.InputError(
            f"the certified bound is the §5 recursion of ReLU networks; the target is {target!r}"
        )
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
    check_represented(target, represented)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    e_prev = None
    for t, (w, b, rep) in enumerate(zip(target.weights, target.biases, represented, strict=True)):
        sw = 0.0 if slack is None else slack.weights[t]
        sb = 0.0 if slack is None else slack.bias[t]
        if t == 0:
            b_pos, b_neg = np.maximum(box.upper, 0.0), np.maximum(-box.lower, 0.0)
        else:
            b_pos, b_neg = np.maximum(pre[t - 1][1], 0.0), None
        d_pos = up(up(np.abs(rep.positive - w)) + sw)
        term = up(d_pos * b_pos)
        if t == 0 and np.any(b_neg > 0):
            d_neg = up(up(np.abs(rep.negative + w)) + sw)
            term = np.maximum(term, up(d_neg * b_neg))
        if t > 0:
            gain = up(np.maximum(rep.gain, np.abs(rep.positive)) + sw)
            term = up(term + up(gain * e_prev))
        row = sum_upper(term, axis=2)
        bias_err = up(up(np.abs(rep.bias - b)) + sb)
        e_prev = np.max(up(row + bias_err), axis=0)
    e_out = float(np.max(e_prev))
    return with_scale_slack(e_out, slack, pre)


def with_scale_slack(e_out: float, slack: RoundingSlack | None, pre) -> float:
    """e + s·(max|f_T| + e), rounded up: a bound of the error under Λ's rounding
    |Π λ_l / Λ − 1| ≤ s, given a bound e with exact Λ (proofs/certificate-soundness.md, Lemma 5)."""
    if slack is not None and slack.scale > 0:
        lo, hi = pre[-1]
        f_max = float(np.max(np.maximum(np.abs(lo), np.abs(hi))))
        e_out = float(up(e_out + up(slack.scale * up(f_max + e_out))))
    return e_out


# ====================================================================== certified (mpmath.iv)
def _iv(x):
    return mpmath.iv.mpf(float(x))


def certified_output_error_iv(
    target: Network,
    box: Box,
    represented: Sequence[RepresentedLayer],
    slack: RoundingSlack | None = None,
) -> float:
    """:func:`certified_output_error` evaluated entirely in ``mpmath.iv`` (slow; small nets)."""
    check_represented(target, represented)
    with iv53() as iv:
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


# ====================================================================== parameter errors
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


# ====================================================================== convolutional targets
def _like(layer, kernel_flat: np.ndarray):
    """A bias-free layer of ``layer``'s geometry with the (out, fan-in) ``kernel_flat``."""
    from lotteryproofs.conv_layers import Conv2d
    from lotteryproofs.layers import Dense

    if isinstance(layer, Conv2d):
        return Conv2d(kernel_flat.reshape(layer.weight.shape), np.zeros(layer.weight.shape[0]),
                      layer.stride, layer.padding, layer.input_shape)
    return Dense(kernel_flat, np.zeros(kernel_flat.shape[0]))


def _apply_up(layer, v: np.ndarray) -> np.ndarray:
    """A rigorous upper bound of the exact image of v ≥ 0 under a layer with weights ≥ 0
    (the upper end of its outward enclosure; pools and Flatten are monotone)."""
    return layer.interval_outward(v, v)[1]


def _per_pixel(layer, values: np.ndarray) -> np.ndarray:
    """A per-output-channel vector repeated over the output pixels (flat C·H·W order)."""
    shape = getattr(layer, "output_shape", (values.shape[0],))
    return np.repeat(values, int(np.prod(shape[1:])) if len(shape) == 3 else 1)


def certified_conv_error(target: Network, box: Box, represented: Sequence[RepresentedLayer],
                         slack: RoundingSlack | None = None, *, pre=None) -> float:
    """Rigorous upper bound of sup_{x∈box} ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ for a target of Conv2d,
    Dense, Flatten and pooling layers with ReLU/Identity between them
    (proofs/conv-error-recursion.md), residual blocks included (e ← e_S + e_body, e_S = e for
    the identity shortcut, a 1×1 shortcut's own recursion from e otherwise).

    The §5 recursion per output pixel: for a Conv2d or Dense layer with represented (P̃, Ñ, b̃)
    on its patch matrix, e_out = U(|P̃ − K|, B⁺) + U(|Ñ + K|, B⁻) + U(max(|P̃|, |Ñ|), e_in) +
    |b̃ − b|, where U(M, v) is the layer's own convolution (stride, padding) with kernel M
    applied to v — a padding tap reads 0 in target and ticket alike — and B⁺, B⁻ bound σ(x),
    σ(−x) of the target's input to that layer; pools and Flatten map e to their image of e
    (average: a convex combination; max: 1-Lipschitz in the window's max norm); ReLU and
    Identity are 1-Lipschitz. Every step is the layer's outward enclosure or rounded up.
    """
    from lotteryproofs.construct.conv_two_layer import param_layers

    params = param_layers(target.layers)
    if len(represented) != len(params):
        raise _validate.InputError(
            f"{len(represented)} represented layers for {len(params)} parameter layers")
    target._check_box(box)
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    reps = iter(enumerate(represented))
    e = _conv_recursion(target.layers, target.activations, box.lower, box.upper,
                        np.zeros(box.dim), reps, slack, pre)
    return with_scale_slack(float(np.max(e)), slack, pre)


def _conv_recursion(layers, activations, lo, hi, e, reps, slack, pre=None):
    """e after ``layers`` (certified_conv_error's recursion); ``lo, hi`` bound the target's
    input to them, ``pre`` its pre-activations (propagated OUTWARD here when None)."""
    from lotteryproofs.activations import IDENTITY, RELU
    from lotteryproofs.propagation import propagate

    for act in activations:
        if act not in (RELU, IDENTITY):
            raise _validate.InputError(
                f"the convolutional recursion needs ReLU or Identity activations, not {act.spec}")
    if pre is None:
        pre = []
        propagate(layers, activations, (lo, hi), OUTWARD, pre=pre)
    for t, layer in enumerate(layers):
        if getattr(layer, "kind", "") == "residual":
            from lotteryproofs.conv_params import shortcut_activations, shortcut_layers

            # |Ŝ(x̂) + ĝ(x̂) − S x − g(x)| ≤ e_S + e_g: the identity's e (gain 1) or a 1×1
            # shortcut's own recursion from e, plus the body's (body reps first, as
            # param_layers orders them)
            e_body = _conv_recursion(layer.body_layers, layer.body_activations, lo, hi, e,
                                     reps, slack)
            e_short = e if layer.shortcut is None else _conv_recursion(
                shortcut_layers(layer), shortcut_activations(layer), lo, hi, e, reps, slack)
            e = up(e_short + e_body)
        elif hasattr(layer, "weight"):
            index, rep = next(reps)
            k = layer.weight.reshape(layer.weight.shape[0], -1)
            if rep.positive.shape[1:] != k.shape:
                raise _validate.InputError(
                    f"represented layer {index} has shape {rep.positive.shape[1:]}, the target "
                    f"{k.shape}")
            # copies of a channel (L+1) carry their own errors: each term is the max over
            # the copies, e the max over the copies of each input channel, and an entry's
            # gain its rep.gain (Σ_S|v| for L+1), so every copy's error is bounded
            sw = 0.0 if slack is None else np.max(slack.weights[index], axis=0)
            sb = 0.0 if slack is None else np.max(slack.bias[index], axis=0)
            b_pos, b_neg = np.maximum(hi, 0.0), np.maximum(-lo, 0.0)
            d_pos = up(np.max(up(np.abs(rep.positive - k)), axis=0) + sw)
            d_neg = up(np.max(up(np.abs(rep.negative + k)), axis=0) + sw)
            gain = up(np.max(np.maximum(rep.gain, np.maximum(np.abs(rep.positive),
                                                              np.abs(rep.negative))), axis=0)
                      + sw)
            term = up(_apply_up(_like(layer, d_pos), b_pos) + _apply_up(_like(layer, d_neg), b_neg))
            term = up(term + _apply_up(_like(layer, gain), e))
            bias_err = up(np.max(up(np.abs(rep.bias - layer.bias)), axis=0) + sb)
            e = up(term + _per_pixel(layer, bias_err))
        else:
            e = _apply_up(layer, e)
        lo, hi = pre[t]
        if t < len(layers) - 1:
            lo, hi = activations[t].interval_outward(lo, hi)
    return e


def conv_read_back(ticket) -> tuple:
    """(represented layers, rounding slack) of a convolutional ticket (construct.conv_two_layer):
    the layers read from the masks by its construction, and the slack of
    :func:`certify.rounding.rounding_slack` (read-back over |θ|; K = L₀ + 5 roundings)."""
    from lotteryproofs.construct.registry import get_conv_construction

    from .rounding import rounding_slack

    represent = get_conv_construction(ticket.metadata.get("method")).represent
    return represent(ticket), rounding_slack(ticket, represent(ticket, absolute=True),
                                             depth_source=len(ticket.source.layers))


def certified_conv_ticket_error(ticket, target: Network, box: Box) -> float:
    """:func:`certified_conv_error` of a convolutional ticket over its
    :func:`conv_read_back`."""
    return certified_conv_error(target, box, *conv_read_back(ticket))
