"""The L+1 construction for convolutional targets, nonzero biases (proofs/conv-l-plus-one.md).

Burkholz (ICML 2022), with the border handled exactly. For target parameter layers
T_1 … T_L (Conv2d or Dense; pools and Flatten between them are copied into the source):

* T_1 is conv 2L's pair (:mod:`lotteryproofs.construct.conv_two_layer`): a k×k block layer
  A_1 (T_1's stride and padding, ρ·(C_0·k² + 1) channels) and a 1×1 sum layer B_1 whose
  channel j·ρ + m is copy m of target channel j (its own instances over products, exactly
  conv 2L's per copy), followed by a constant block of ρ channels that keep only their bias
  (a 1×1 convolution has no border: the constant act(b) at every pixel);
* T_t, t ≥ 2 (k×k, stride s, padding P), is ONE source convolution with T_t's stride and
  padding and ρ·(C_t + 1) channels (C_L for the last layer: one copy). Copy m of channel j
  keeps, for kernel entry (j, i, p, q), a subset S of its weights from the ρ copies of
  channel i at tap (p, q):  Σ_{r∈S} v_r x̂_i^{(r)} ≈ (Σ_S v_r)·x_i, one instance over single
  draws with target K[j, i, p, q] (:func:`lotteryproofs.construct.l_plus_one.solve_copies` on
  the patch matrix). Its bias is one instance over products v·c with the constant channels of
  the previous layer, read through the tap (P_h, P_w) only: that tap reads input pixel
  (s·y, s·x), in range at every output pixel iff 2P ≤ k − 1 (proofs/conv-l-plus-one.md), so
  the bias is exact at the border; other layers are refused. The copy's own bias is pruned;
* a Dense T_t (after Flatten) is the same with k = 1: feature (i, pixel) of the target is
  read from the copies of channel i at that pixel, the bias from the constant features.

With L = 1 this is the conv 2L construction. The copies carry different errors, so an
effective weight's gain is Σ_{r∈S}|v_r| (THEORY.md §4.3, §5); :func:`represented_layers`
reads it back from the masks.

A residual block y = x + g(x) with the identity shortcut keeps the SAME layout at its input
and output (ρ copies of each channel, then the constant slots): the source's identity maps
copy m of x_j to copy m of y_j, the body is built copy-to-copy as above, and its last layer
writes nothing onto the constant slots (all pruned), so x's constants pass through the
shortcut. A block y = S(x) + g(x) whose shortcut S is one 1×1 convolution (any stride) has
S built as one more copy layer over x's copies (ρ·(C_out + 1) channels: its copies, then its
constant rows, which keep only their bias when a later bias instance reads them): the block's
output then has S's layout, and the body's last layer writes nothing onto S's constant slots
(proofs/conv-l-plus-one.md, "Residual blocks"). Other shortcuts are refused (conv 2L builds
them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.construct import common, univariate
from lotteryproofs.construct.conv_two_layer import (
    ConvConstruction,
    ConvSupports,
    _pair_shapes,
    masked_unit,
)
from lotteryproofs.construct.l_plus_one import solve_copies
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.conv_params import (
    PARAMETER_LAYERS,
    param_layers,
    patch_columns,
    shortcut_activations,
    shortcut_layers,
)
from lotteryproofs.residual import Residual
from lotteryproofs.ticket import PART_BIAS, RepresentedLayer


@dataclass(frozen=True)
class LPlusOneSupports(ConvSupports):
    """Conv 2L's layers, residual blocks with the identity shortcut or one 1×1 convolution
    as the shortcut after the first parameter layer (their input must be a layer of copies;
    with a convolutional shortcut, a parameter layer must follow the block); every Conv2d
    after the first with 2P ≤ k − 1 (the constant tap (P, P) reads an in-range pixel at every
    output position)."""

    def check(self, owner, target) -> None:
        super().check(owner, target)
        seen_parameters = False
        for layer in target.layers:
            if isinstance(layer, Residual):
                short = shortcut_layers(layer)
                if short and (len(short) != 1 or not isinstance(short[0], Conv2d)
                              or short[0].weight.shape[2:] != (1, 1)):
                    raise _validate.InputError(
                        f"{owner} builds residual blocks with the identity shortcut or one 1×1 "
                        "convolution as the shortcut, not this one (use --method 2l)")
                if short and any(p is param_layers(target.layers)[-1]
                                 for p in param_layers([layer])):
                    raise _validate.InputError(
                        f"{owner} needs a parameter layer after a block with a convolutional "
                        "shortcut (the block's output must be a layer of copies)")
                if not seen_parameters:
                    raise _validate.InputError(
                        f"{owner} needs a Conv2d or Dense layer before the first residual block "
                        "(the block's input must be a layer of copies)")
                if any(isinstance(b, Residual) for b in layer.body_layers):
                    raise _validate.InputError(f"{owner} does not build nested residual blocks")
            seen_parameters = seen_parameters or isinstance(layer, PARAMETER_LAYERS)
        for t, layer in enumerate(param_layers(target.layers)):
            if t and isinstance(layer, Conv2d):
                kh, kw = layer.weight.shape[2:]
                ph, pw = layer.padding
                if 2 * ph > kh - 1 or 2 * pw > kw - 1:
                    raise _validate.InputError(
                        f"{owner} needs padding ≤ (kernel − 1)/2 in every convolution after the "
                        f"first (its constant tap must read an in-range pixel); parameter layer "
                        f"{t} has kernel {kh}×{kw} and padding {ph}×{pw}")


def _out_units(params, t: int, rho: int) -> int:
    """Source output channels of target parameter layer t: ρ·(C_t + 1), C_L for the last."""
    n = params[t].weight.shape[0]
    return n if t == len(params) - 1 else rho * (n + 1)


def _copies(params, t: int, rho: int) -> int:
    return 1 if t == len(params) - 1 else rho


def input_layers(layers) -> list[int]:
    """Per parameter layer (:func:`param_layers` order), the parameter layer whose output it
    reads (−1: the network's input): a residual block's body and shortcut both read the
    block's input, the layer after the block reads the body's last layer (the shortcut's
    output has the same units)."""
    out: list[int] = []

    def walk(layers, prev):
        for layer in layers:
            if isinstance(layer, Residual):
                last = walk(layer.body_layers, prev)
                walk(shortcut_layers(layer), prev)
                prev = last
            elif isinstance(layer, PARAMETER_LAYERS):
                out.append(prev)
                prev = len(out) - 1
        return prev

    walk(layers, -1)
    return out


def shapes(target, rho: int):
    """The ``shapes`` callable of :func:`conv_two_layer.draw_source`: the pair for T_1, one
    layer with the target's geometry for each later one (module docstring)."""
    params = param_layers(target.layers)
    inputs = input_layers(target.layers)
    plan = []
    for t, layer in enumerate(params):
        n_out = _out_units(params, t, rho)
        if t == 0:
            plan.append(_pair_shapes(layer, rho, n_out))
            continue
        prev = inputs[t]
        prev_t, prev_s = params[prev].weight.shape[0], _out_units(params, prev, rho)
        if isinstance(layer, Conv2d):
            _, _, kh, kw = layer.weight.shape
            _, h, w = layer.input_shape
            plan.append((((n_out, prev_s, kh, kw),
                          dict(stride=layer.stride, padding=layer.padding,
                               input_shape=(prev_s, h, w))),))
        else:
            n_in = layer.weight.shape[1]
            plan.append((((n_out, prev_s * (n_in // prev_t)), None),))
    steps = iter(plan)
    return lambda layer: next(steps)


def expected_layout(target, rho: int) -> list:
    """Per target parameter layer: its first source parameter layer, n_in (patch columns),
    n_out and the copies per output channel (ρ; one for the last layer)."""
    params = param_layers(target.layers)
    return [{"kind": "l+1 block" if t == 0 else "l+1 copies",
             "parameter_index": 0 if t == 0 else t + 1,
             "n_in": int(np.prod(layer.weight.shape[1:])), "n_out": int(layer.weight.shape[0]),
             "copies": int(_copies(params, t, rho))}
            for t, layer in enumerate(params)]


# ------------------------------------------------------------------- the source's channels
@dataclass(frozen=True)
class _Units:
    """The source activation between target parameter layers, unit (channel, or feature
    after Flatten) by unit: the target unit it copies (``n`` = a constant, −1 = neither), the
    value a constant unit outputs, and its channel in the last source parameter layer."""

    owner: np.ndarray
    value: np.ndarray
    origin: np.ndarray
    n: int

    def activated(self, act) -> _Units:
        const = self.owner == self.n
        return _Units(self.owner, np.where(const, act.forward(self.value), 0.0), self.origin,
                      self.n)

    def through(self, layer) -> _Units:
        """After a parameter-free layer: pools act per channel (a constant stays itself);
        Flatten makes channel i's pixel π the unit i·HW + π (channel-major, as the target)."""
        if not isinstance(layer, Flatten):
            return self
        hw = int(np.prod(layer.input_shape[1:]))
        pix = np.arange(hw)
        o = self.owner[:, None]
        owner = np.where((o >= 0) & (o < self.n), o * hw + pix,
                         np.where(o == self.n, self.n * hw, -1)).ravel()
        return _Units(owner, np.repeat(self.value, hw), np.repeat(self.origin, hw),
                      self.n * hw)


#: a unit's origin: (source parameter layer) · ORIGIN + (its output channel)
ORIGIN = 1 << 32


def _after(n_out: int, copies: int, weights: np.ndarray, bias: np.ndarray,
           layer_index: int) -> _Units:
    """The units a source parameter layer outputs: row j·copies + m is copy m of target
    channel j; a later row is a constant (its bias) if it keeps no weight (``weights`` None:
    none does, as in the construction, where no instance consumes a constant row)."""
    rows = np.arange(bias.size)
    empty = (np.ones(bias.size, bool) if weights is None
             else np.count_nonzero(weights.reshape(bias.size, -1), axis=1) == 0)
    owner = np.where(rows < n_out * copies, rows // copies, np.where(empty, n_out, -1))
    return _Units(owner, np.where(owner == n_out, bias, 0.0), layer_index * ORIGIN + rows,
                  n_out)


def _columns(layer, units: _Units):
    """Per column of the layer's patch matrix (channel·k_h·k_w + tap): the target column it
    copies, the constant owner n·k_h·k_w (a constant channel at the tap (P_h, P_w) only) or
    −1; the constant's value; the source channel it reads."""
    if isinstance(layer, Conv2d):
        kh, kw = layer.weight.shape[2:]
        taps, centre = kh * kw, layer.padding[0] * kw + layer.padding[1]
    else:
        taps, centre = 1, 0
    size = units.owner.size
    ch, tap = np.repeat(np.arange(size), taps), np.tile(np.arange(taps), size)
    o = units.owner[ch]
    n = units.n * taps
    owner = np.where((o >= 0) & (o < units.n), o * taps + tap,
                     np.where((o == units.n) & (tap == centre), n, -1))
    return owner, np.where(owner == n, units.value[ch], 0.0), units.origin[ch]


# ------------------------------------------------------------------------------ the ticket
def _walk(layers, activations, units, state, on_param, in_body=False):
    """Walk source ``layers`` (residual bodies included) with the units of their input:
    ``on_param(li, layer, units, ends_body)`` returns the units a parameter layer outputs (li
    its index in ``param_layers`` order, ``state["li"]``; ``ends_body``: the last layer of a
    residual body, whose constant slots are pruned); parameter-free layers map the units; an
    identity residual block keeps its input's units (its body's last layer writes copy m of
    channel j onto copy m of x_j, and nothing onto the constant slots, which the shortcut
    carries: a slot the body writes weights onto is no constant); activations apply to the
    constants."""
    last = len(layers) - 1
    for pos, layer in enumerate(layers):
        if isinstance(layer, Residual):
            body = _walk(layer.body_layers, layer.body_activations, units, state, on_param,
                         in_body=True)
            if layer.shortcut is not None:
                # a 1×1 convolution S built copy to copy like any copy layer: its units (its
                # copies, its constant rows) are the block's output units, the body adding
                # nothing onto S's constant slots
                units = _walk(shortcut_layers(layer), shortcut_activations(layer), units, state,
                              on_param)
            keep = (body.owner == units.owner) & (units.owner >= 0)
            units = _Units(np.where(keep, units.owner, -1),
                           np.where(keep & (units.owner == units.n), units.value + body.value,
                                    0.0), units.origin, units.n)
        elif isinstance(layer, PARAMETER_LAYERS):
            li = state["li"]
            state["li"] += 1
            units = on_param(li, layer, units, in_body and pos == last)
        elif units is not None:
            units = units.through(layer)
        if pos < last and units is not None:
            units = units.activated(activations[pos])
    return units


def solve(target, source, unit_w, unit_b, signs, rho, eps_param, *, gain_slack=None):
    """Masks (one per source parameter array) and solved instances (module docstring): source
    parameter layers 0, 1 are T_1's pair, layer li ≥ 2 is T_{li−1}'s copy layer.

    ``gain_slack`` (an engine cap c, or a ladder of them: ``common.solve``) bounds the gain
    Σ_S|v| of every weight instance of the copy layers (the bounded-gain variant,
    :mod:`lotteryproofs.construct.conv_bounded_gain`); None is the plain construction."""
    params = param_layers(target.layers)
    wmask = [np.zeros(w.shape, bool) for w in unit_w]
    bmask = [np.zeros(b.shape, bool) for b in unit_b]
    solved = []

    def on_param(li, layer, units, ends_body):
        if li == 0:
            return None  # A_1: block channels, read by B_1 inside the pair
        t = li - 1
        tgt = params[t]
        copies, n_out = _copies(params, t, rho), tgt.weight.shape[0]
        k = tgt.weight.reshape(n_out, -1)
        if li == 1:
            bw, bb, sw, s = univariate.solve_block_pair(
                layer=0, target_w=k, target_b=tgt.bias, block_w=unit_w[0],
                block_b=unit_b[0], sum_w=unit_w[1],
                owner=common.regular_owners(k.shape[1] + 1, rho),
                row_map=np.arange(n_out * copies).reshape(n_out, copies),
                negative_cols=patch_columns(signs[0], tgt), eps_param=eps_param)
            wmask[0], bmask[0], wmask[1] = bw, bb, sw
        else:
            owner, value, origin = _columns(layer, units)
            s = solve_copies(t, k, tgt.bias, unit_w[li], owner, value, copies, eps_param,
                             gain_slack)
            for batch in s:
                inst, cols = batch.chosen_neurons()
                rows = batch.instances.row[inst] * copies + batch.instances.copy[inst]
                wmask[li][rows, cols] = True
                if batch.instances.part == PART_BIAS:
                    # the constant channels read keep their bias (and nothing else), in
                    # whichever layer made them (before a residual block: outside it)
                    read = origin[cols]
                    for index in np.unique(read // ORIGIN):
                        bmask[int(index)][read[read // ORIGIN == index] % ORIGIN] = True
        solved.extend(s)
        # every constant row keeps no weight: no instance consumes its row; a body's last
        # layer keeps nothing on its constant slots (later biases read x's constants)
        return _after(n_out, copies, None,
                      np.zeros_like(unit_b[li]) if ends_body else unit_b[li], li)

    _walk(source.layers, source.activations, None, {"li": 0}, on_param)
    masks = []
    for layer, w, b in zip(param_layers(source.layers), wmask, bmask, strict=True):
        masks += [w.reshape(layer.weight.shape), b]
    return masks, solved


def represented_layers(ticket, *, absolute: bool = False) -> tuple:
    """Per target parameter layer, what the ticket computes at unit scale, read from the
    masks alone: (copies, n_out, n_in) arrays; for a copy layer positive = Σ_S v per patch
    column, negative = −positive (Σ_S v·x̂ whatever the sign of x̂), gain = Σ_S |v|, bias =
    Σ v·c over the constants read plus the copy's own bias. A kept weight that reads neither
    a copy nor a weight-free constant channel at its constant tap is a LayoutError."""
    unit_w, unit_b = masked_unit(ticket, absolute=absolute)
    layout = list(ticket.layout)
    out = []

    def on_param(li, layer, units, ends_body):
        if li == 0:
            return None
        entry = layout[li - 1]
        n_out, copies, n_in = int(entry["n_out"]), int(entry["copies"]), int(entry["n_in"])
        n_rows = n_out * copies
        if li == 1:
            pos, neg, bias = univariate.represent_block_pair(
                unit_w[0], unit_b[0], unit_w[1], unit_b[1], n_in, np.arange(n_rows))
            gain = np.maximum(np.abs(pos), np.abs(neg))
        else:
            owner, value, _ = _columns(layer, units)
            sub = unit_w[li][:n_rows]
            rows, k = np.nonzero(sub)
            v = sub[rows, k]
            is_copy = (owner[k] >= 0) & (owner[k] < n_in)
            is_const = owner[k] == n_in
            if not (is_copy | is_const).all():
                bad = int(k[~(is_copy | is_const)][0])
                raise univariate.LayoutError(
                    f"source parameter layer {li} reads patch column {bad}, which is neither "
                    "a copy of a target channel nor a constant channel at its constant tap")
            keys = rows[is_copy] * n_in + owner[k[is_copy]]
            pos = univariate.group_fsum(keys, v[is_copy], n_rows * n_in).reshape(n_rows, n_in)
            gain = univariate.group_fsum(keys, np.abs(v[is_copy]), n_rows * n_in).reshape(
                n_rows, n_in)
            bias = univariate.group_fsum(
                np.concatenate((rows[is_const], np.arange(n_rows))),
                np.concatenate(((v * value[k])[is_const], unit_b[li][:n_rows])), n_rows)
            neg = -pos

        def by_copy(a, n=n_out, m=copies):
            return np.moveaxis(a.reshape(n, m, *a.shape[1:]), 1, 0)

        out.append(RepresentedLayer(by_copy(pos), by_copy(neg), by_copy(bias), by_copy(gain)))
        return _after(n_out, copies, unit_w[li], unit_b[li], li)

    _walk(ticket.source.layers, ticket.source.activations, None, {"li": 0}, on_param)
    return tuple(out)


def _construct(target, **kwargs):
    from lotteryproofs.construct.conv_two_layer import construct_conv

    return construct_conv(target, construction=CONSTRUCTION, **kwargs)


CONSTRUCTION = ConvConstruction(
    "l+1", "L+1 (conv)", "ρ copies of every hidden channel, one source layer per later target "
    "layer, nonzero biases", LPlusOneSupports(), build=_construct, represent=represented_layers,
    shapes=shapes, solve=solve, layout=expected_layout, a_priori_width=False)

__all__ = ["CONSTRUCTION", "expected_layout", "represented_layers", "shapes", "solve"]
