"""The 2L construction for convolutional targets, nonzero biases (proofs/conv-2l-construction.md).

Target layer t, a convolution z = K ⋆ h + b with K of shape (O, C, k, k), stride s and zero
padding P, is represented by two source layers (da Cunha, Natale and Viennot, ICLR 2022):

* a k×k convolution A_t with the target's stride and padding and m = ρ·(C·k² + 1) output
  channels. Channel n of owner (c, p, q) keeps the one weight A[n, c, p, q] = u_n (its bias
  pruned) and outputs σ(u_n h_pad[c, s·y + p, s·x + q]) = |u_n|·σ(±h) at every pixel; a
  channel of the constant owner keeps only its bias a_n > 0 and outputs the constant a_n at
  *every* output pixel (a convolution's bias is added at border pixels too);
* a 1×1 convolution B_t (stride 1, no padding) from the m channels to the O target channels,
  its bias pruned.

So, at every output pixel (border pixels included: a padding tap reads 0 and σ(u·0) = 0),

    Σ_n B[o, n]·(A_t h)_n = Σ_{c,p,q} (P̃ σ(h) + Ñ σ(−h))[o, c, p, q] + b̃[o],

and every kernel entry is one subset sum over the ρ channels of its owner: exactly the dense
block pair of :mod:`lotteryproofs.construct.univariate` on the patch matrix (the kernel read as
an (O, C·k²) matrix, the A weights as (m, C·k²)), which this module reuses. A Dense target
layer (the final Linear) is the dense 2L pair itself; parameter-free layers (Flatten, average
and max pooling) are copied into the source; a residual block's body is paired layer by layer
and a conv shortcut S (1×1, any stride) is one more pair, the source's shortcut the
:class:`~lotteryproofs.residual.Chain` B_S σ(A_S ·). The source is drawn before the target's values
are read, from the tiled streams of :mod:`lotteryproofs.init` (one Philox key, layer l's
flat (out, fan-in) matrix drawn tile by tile) with He scales λ_l = √(2/(Var·fan-in)) and the
product bias rule; weight sharing is kept (the source is a convolutional network).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import RELU
from lotteryproofs.construct import common, univariate
from lotteryproofs.conv_layers import AvgPool2d, Conv2d, Flatten, MaxPool2d
from lotteryproofs.conv_params import (
    PARAMETER_LAYERS,
    param_layers,
    patch_columns,
    shortcut_activations,
    shortcut_layers,
)
from lotteryproofs.conv_params import input_signs as _input_signs
from lotteryproofs.conv_source import ConvSourceSpec, draw_parameter_layer
from lotteryproofs.init import LAW_VARIANCES, Streams, source_seed
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network, network_sha256
from lotteryproofs.residual import Chain, Residual
from lotteryproofs.ticket import ConvOrigin, ConvTicket, RepresentedLayer

#: Layers a target may hold besides PARAMETER_LAYERS (copied into the source).
FREE_LAYERS = (Flatten, AvgPool2d, MaxPool2d)


@dataclass(frozen=True)
class ConvSupports:
    """What the convolutional 2L construction accepts: layer types and activations."""

    layers: tuple = ("Conv2d", "Dense", "Flatten", "AvgPool2d", "MaxPool2d", "Residual")
    activations: tuple = ("relu", "identity")

    def check(self, owner: str, target: Network) -> None:
        if not isinstance(target, Network):
            raise _validate.InputError(f"target must be a Network, got {type(target).__name__}")
        for layer in _all_layers(target.layers):
            kind = type(layer).__name__
            if kind not in self.layers:
                raise _validate.InputError(
                    f"{owner} supports the layer types {', '.join(self.layers)}, not {kind}")
        for act in _all_activations(target.layers, target.activations):
            name = act.spec.partition(":")[0]
            if name not in self.activations:
                raise _validate.InputError(f"{owner} does not support activation {act.spec} "
                                           f"(supported: {', '.join(self.activations)})")
        if not param_layers(target.layers):
            raise _validate.InputError(f"{owner} needs a target with a Conv2d or Dense layer")


def _all_layers(layers):
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from _all_layers(layer.body_layers)
            yield from _all_layers(shortcut_layers(layer))


def _all_activations(layers, activations):
    yield from activations
    for layer in layers:
        if isinstance(layer, Residual):
            yield from _all_activations(layer.body_layers, layer.body_activations)
            yield from _all_activations(shortcut_layers(layer), shortcut_activations(layer))


# ------------------------------------------------------------------------------ the source
def _pair_shapes(layer, rho: int, n_out: int | None = None):
    """The two source layers of a Conv2d/Dense target layer: (shape, geometry) each (geometry
    None for Dense); the sum layer has ``n_out`` outputs (default the target layer's)."""
    if isinstance(layer, Conv2d):
        out_c, c, kh, kw = layer.weight.shape
        out_c = out_c if n_out is None else n_out
        m = rho * (c * kh * kw + 1)
        _, ho, wo = layer.output_shape
        return (((m, c, kh, kw), dict(stride=layer.stride, padding=layer.padding,
                                      input_shape=layer.input_shape)),
                ((out_c, m, 1, 1), dict(stride=(1, 1), padding=(0, 0), input_shape=(m, ho, wo))))
    out_f, n_in = layer.weight.shape
    m = rho * (n_in + 1)
    return ((m, n_in), None), ((out_f if n_out is None else n_out, m), None)


@dataclass(frozen=True, eq=False)
class ConvSource:
    """A drawn convolutional source: its layers (He-scaled), activations, layer scales (one per
    parameter layer) and the seed; :attr:`network` is the source Network."""

    network: Network
    layer_scales: tuple
    seed: Mapping
    law: str
    bias_factor: float
    #: what fixes the draw (a ticket file stores it instead of the source)
    spec: ConvSourceSpec


def _draw_layers(layers, activations, shapes, streams, law, bias_factor, state, *, scaled):
    """Source layers and activations for ``layers`` (recursively into residual bodies);
    ``shapes(layer)`` gives the (shape, geometry) of the source layers of a target parameter
    layer, ReLU between them."""
    out, acts = [], []
    for t, layer in enumerate(layers):
        after = activations[t] if t < len(layers) - 1 else None
        if isinstance(layer, Residual):
            # λ = 1 inside a body: x + Π λ_body·g(x) is Λ·(unit network) only if Π λ_body = 1
            body, body_acts = _draw_layers(layer.body_layers, layer.body_activations, shapes,
                                           streams, law, bias_factor, state, scaled=False)
            shortcut = None
            if layer.shortcut is not None:
                # a 1×1 shortcut S is one more conv layer to construct: its pair, at λ = 1
                # like the body (Ŝ(x) + ĝ(x) stays Λ·(S x + g x)), drawn after the body
                s_layers, s_acts = _draw_layers(
                    shortcut_layers(layer), shortcut_activations(layer), shapes, streams, law,
                    bias_factor, state, scaled=False)
                shortcut = Chain(tuple(s_layers), tuple(s_acts))
            out.append(Residual(tuple(body), tuple(body_acts), shortcut))
        elif isinstance(layer, PARAMETER_LAYERS):
            group = list(shapes(layer))
            for half, (shape, geometry) in enumerate(group):
                fan_in = int(np.prod(shape[1:]))
                scale = math.sqrt(2.0 / (LAW_VARIANCES[law] * fan_in)) if scaled else 1.0
                state["cumulative"] *= scale
                index = len(state["scales"])
                w, b = draw_parameter_layer(streams, law, index, shape, scale,
                                            state["cumulative"], bias_factor)
                state["scales"].append(scale)
                out.append(Dense(w, b) if geometry is None else Conv2d(w, b, **geometry))
                if half < len(group) - 1:
                    acts.append(RELU)
            state["channels"] = group[-1][0][0]
        else:
            channels = state.get("channels", layer.input_shape[0])
            if channels != layer.input_shape[0]:
                # a pool or Flatten over the source's channels (L+1: copies and constants)
                layer = dataclasses.replace(layer, input_shape=(channels,
                                                                *layer.input_shape[1:]))
            out.append(layer)
        if after is not None:
            acts.append(after)
    return out, acts


def draw_source(target: Network, rho: int, *, rng, law: str = "uniform",
                bias_factor: float = 1.0, shapes=None) -> ConvSource:
    """Draw the source for ``target``'s geometry (shapes only; no target value is read).

    ``shapes(layer)`` lays out the source layers of each target parameter layer, in
    :func:`param_layers` order (default: the 2L pair at ρ; another construction's plan).

    Parameter layer l (counting only layers with parameters) has the flat unit-scale matrix
    W̃_l ~ D_w of shape (out, fan-in) drawn from the tiled streams (layer l, tiles of 64) and
    biases b̃_l ~ β·D_b; the source holds λ_l·W̃_l and Π_{k≤l} λ_k·b̃_l (THEORY.md §1), with
    λ_l the He scale outside residual bodies and 1 inside them (so that the identity shortcut
    and the body stay at the same scale: proofs/conv-2l-construction.md).
    """
    if law not in LAW_VARIANCES:
        raise _validate.InputError(f"unknown law {law!r}; known laws: "
                                   f"{', '.join(sorted(LAW_VARIANCES))}")
    entropy, spawn_key = source_seed(rng)
    streams = Streams.from_seed(entropy, spawn_key)
    state = {"cumulative": 1.0, "scales": []}
    shapes = (lambda layer: _pair_shapes(layer, rho)) if shapes is None else shapes
    layers, acts = _draw_layers(target.layers, target.activations, shapes, streams, law,
                                bias_factor, state, scaled=True)
    seed = {"seed": entropy if isinstance(entropy, int) else None,
            "spawn_key": [int(k) for k in spawn_key]}
    network = Network.from_layers(layers, tuple(acts))
    spec = ConvSourceSpec.of(network, state["scales"], law, bias_factor, entropy, spawn_key)
    return ConvSource(network, tuple(state["scales"]), seed, law, float(bias_factor), spec)


def unit_flat(source: Network, layer_scales) -> tuple[list, list]:
    """Unit-scale flat parameters (W/λ_l as (out, fan-in), b/Π λ_k) of the parameter layers,
    the same divisions in the same order as :func:`common.unit_parameters`."""
    weights, biases, cumulative = [], [], 1.0
    for index, layer in enumerate(param_layers(source.layers)):
        s = float(layer_scales[index])
        cumulative *= s
        w = layer.weight
        weights.append((w / s).reshape(w.shape[0], -1))
        biases.append(layer.bias / cumulative)
    return weights, biases


# ------------------------------------------------------------------------------ the ticket
def input_signs(target: Network, box: Box) -> list:
    """Per target parameter layer (:func:`param_layers` order), per input channel (Conv2d) or
    feature (Dense): can its input be negative (:func:`lotteryproofs.conv_params.input_signs`)?"""
    return _input_signs(target.layers, target.activations, box.has_negative)


def _patch_columns(negative_channels: np.ndarray, layer) -> np.ndarray:
    return patch_columns(negative_channels, layer)


def construct_conv(target: Network, *, eps_param: float, rho: int, rng,
                   domain: Box | None = None, law: str = "uniform",
                   bias_factor: float = 1.0, construction=None) -> ConvTicket:
    """Draw the source, then solve one RSS instance per effective target parameter.

    ``construction`` (default this module's 2L) lays out the source (its ``shapes``) and
    solves the instances on the drawn source (its ``solve``): the steps around them — the
    checks, the draw before any target value is read, the log, the ticket — are this one.
    Failed instances stay in the log (``failed``), never hidden. ``rng``: an integer or a
    SeedSequence (its entropy and spawn key are the seed): same seed, same bytes.
    """
    construction = CONSTRUCTION if construction is None else construction
    construction.supports.check(construction.owner, target)
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    rho = _validate.positive_int("rho (ρ)", rho)
    n_0 = target.layers[0].in_features
    domain = Box.cube(-1.0, 1.0, n_0) if domain is None else domain
    if not isinstance(domain, Box) or domain.dim != n_0:
        raise _validate.InputError(f"the domain must be a Box of dimension {n_0}")
    if not bias_factor > 0:
        raise _validate.InputError("bias_factor (β) must be > 0: constant channels need biases")
    # the source first: it depends on the target's shapes only
    drawn = construction.draw(target, rho, rng=rng, law=law, bias_factor=bias_factor)
    unit_w, unit_b = unit_flat(drawn.network, drawn.layer_scales)
    signs = input_signs(target, domain)
    masks, solved = construction.solve(target, drawn.network, unit_w, unit_b, signs, rho,
                                       eps_param)
    log = common.build_log(solved)
    metadata = {"method": construction.name, "eps_param": float(eps_param), "rho": int(rho),
                "law": law, "bias_factor": float(bias_factor), **drawn.seed,
                "rss_failures": int(log.failed.sum())}
    origin = ConvOrigin(drawn.spec, network_sha256(drawn.network))
    return ConvTicket(drawn.network, tuple(masks), common.output_scale(drawn.layer_scales),
                      drawn.layer_scales, log, tuple(construction.layout(target, rho)), metadata,
                      origin)


def _solve_pairs(target, source, unit_w, unit_b, signs, rho, eps_param):
    """The 2L masks and solved instances: per target parameter layer t, its pair (2t, 2t+1)."""
    source_params = param_layers(source.layers)
    masks, solved = [], []
    for t, layer in enumerate(param_layers(target.layers)):
        out = layer.weight.shape[0]
        k_flat = layer.weight.reshape(out, -1)
        n_in = k_flat.shape[1]
        owners = common.regular_owners(n_in + 1, rho)
        index = 2 * t
        bw, bb, sw, s = univariate.solve_block_pair(
            layer=t, target_w=k_flat, target_b=layer.bias, block_w=unit_w[index],
            block_b=unit_b[index], sum_w=unit_w[index + 1], owner=owners,
            row_map=np.arange(out)[:, None], negative_cols=_patch_columns(signs[t], layer),
            eps_param=eps_param)
        masks += [bw.reshape(source_params[index].weight.shape), bb,
                  sw.reshape(source_params[index + 1].weight.shape), np.zeros(out, bool)]
        solved += s
    return masks, solved


def expected_layout(target: Network) -> list:
    """The layout :func:`construct_conv` gives ``target``: one pair per parameter layer."""
    return [{"kind": "pair", "parameter_index": 2 * t,
             "n_in": int(np.prod(layer.weight.shape[1:])), "n_out": int(layer.weight.shape[0])}
            for t, layer in enumerate(param_layers(target.layers))]


def construct_conv_ticket(target: Network, *, eps_param: float, delta: float, rng,
                          domain: Box | None = None, rho: int | None = None,
                          law: str = "uniform", bias_factor: float = 1.0,
                          construction=None) -> ConvTicket:
    """:func:`construct_conv` with ρ from the §6 width theorem when not given
    (:func:`lotteryproofs.bounds.conv_a_priori_rho`: P(any instance fails) ≤ δ) and the
    metadata a ticket file carries (method, init, ε', δ, ρ and how it was chosen, the box, the
    target's sha256, the layer scales and the layout)."""
    from lotteryproofs import bounds
    from lotteryproofs._version import __version__

    construction = CONSTRUCTION if construction is None else construction
    construction.supports.check(construction.owner, target)
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    n_0 = target.layers[0].in_features
    domain = Box.cube(-1.0, 1.0, n_0) if domain is None else domain
    if rho is None and not construction.a_priori_width:
        raise _validate.InputError(f"{construction.owner} has no a-priori width; give --rho")
    if rho is None:
        rho = bounds.conv_a_priori_rho(target, domain, eps_param, delta, weight_law=law,
                                       beta=bias_factor)["rho"]
        rho_source = "a_priori"
    else:
        rho_source = "given"
    ticket = construct_conv(target, eps_param=eps_param, rho=rho, rng=rng, domain=domain,
                            law=law, bias_factor=bias_factor, construction=construction)
    metadata = {**ticket.metadata, "init": law, "delta": delta, "rho_source": rho_source,
                "target_sha256": network_sha256(target),
                "target_widths": [int(n) for n in target.widths], "version": __version__,
                "domain": domain.to_json(),
                "layer_scales": [float(s) for s in ticket.layer_scales],
                "layout": [dict(entry) for entry in ticket.layout]}
    return ConvTicket(ticket.source, ticket.masks, ticket.scale, ticket.layer_scales,
                      ticket.log, ticket.layout, metadata, ticket.origin)


def masked_unit(ticket: ConvTicket, *, absolute: bool = False) -> tuple[list, list]:
    """:func:`unit_flat` of the ticket's kept parameters (of |θ| when ``absolute``)."""
    source = ticket.source
    if absolute:
        source = Network.from_layers([layer.absolute() for layer in source.layers],
                                     source.activations)
    return unit_flat(source.masked_parameters(ticket.masks), ticket.layer_scales)


def represented_layers(ticket: ConvTicket, *, absolute: bool = False) -> tuple:
    """Per target parameter layer, what the ticket computes at unit scale (P̃, Ñ, b̃ on the
    patch matrix, gain max(|P̃|, |Ñ|)), read from the masks alone (never the log).

    ``absolute=True`` reads the ticket over |θ| (its read-back bounds Σ|terms|, for the
    rounding slack of the certificate)."""
    unit_w, unit_b = masked_unit(ticket, absolute=absolute)
    out = []
    for entry in ticket.layout:
        if entry["kind"] != "pair":
            continue
        i = entry["parameter_index"]
        pos, neg, bias = univariate.represent_block_pair(
            unit_w[i], unit_b[i], unit_w[i + 1], unit_b[i + 1], entry["n_in"],
            np.arange(entry["n_out"]))
        gain = np.maximum(np.abs(pos), np.abs(neg))
        out.append(RepresentedLayer(pos[None], neg[None], bias[None], gain[None]))
    return tuple(out)


@dataclass(frozen=True)
class ConvConstruction:
    """A construction over convolutional targets: name, label, what it supports, its build
    function and its read-back (the convolutional counterpart of base.Construction)."""

    name: str
    label: str
    summary: str
    supports: ConvSupports
    build: object = field(repr=False)
    represent: object = field(repr=False)
    #: shapes(target, ρ) → the ``shapes`` callable of :func:`draw_source`
    shapes: object = field(repr=False, default=None)
    #: solve(target, source, unit_w, unit_b, signs, ρ, ε') → (masks, [Solved, …])
    solve: object = field(repr=False, default=None)
    #: layout(target, ρ) → the ticket's layout entries
    layout: object = field(repr=False, default=None)
    #: whether ρ may be sized by :func:`lotteryproofs.bounds.conv_a_priori_rho`
    a_priori_width: bool = True
    #: γ of a bounded-gain construction (every copy-layer weight's Σ_S|v| ≤ |K| + γ): its
    #: certificate claims the a-priori recursion with gains ‖K_o‖₁ + γ·k_o when the masks
    #: pass the gain check (certify.conv:conv_gains_within_budget); None: no such claim
    gain_budget: float | None = None

    @property
    def owner(self) -> str:
        return f"the convolutional {self.name} construction"

    def draw(self, target: Network, rho: int, *, rng, law: str = "uniform",
             bias_factor: float = 1.0) -> ConvSource:
        """This construction's source for ``target`` (shapes only)."""
        return draw_source(target, rho, rng=rng, law=law, bias_factor=bias_factor,
                           shapes=self.shapes(target, rho))


CONSTRUCTION = ConvConstruction(
    "2l", "2L (conv)", "k×k univariate convolution then 1×1 sums, nonzero biases",
    ConvSupports(), build=construct_conv, represent=represented_layers,
    shapes=lambda target, rho: (lambda layer: _pair_shapes(layer, rho)), solve=_solve_pairs,
    layout=lambda target, rho: expected_layout(target))

__all__ = ["CONSTRUCTION", "ConvTicket", "construct_conv", "construct_conv_ticket", "draw_source",
           "expected_layout", "represented_layers"]
