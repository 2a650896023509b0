"""Constructive existence proofs: a ticket inside a random source for a given target (THEORY.md §4).

:func:`construct` fixes the source network by a named scheme and the seed
(lotteryproofs.init.SourceSpec) **before** looking at the target, draws of it only what the
construction reads (THEORY.md §10), solves one random-subset-sum instance per effective target
parameter in the sparsest mode, and returns a :class:`~lotteryproofs.ticket.Ticket` (source,
binary masks for every weight and bias, Λ, the log of every instance). The methods are the
registered constructions (:mod:`lotteryproofs.construct.registry`; ``construction_names()``):
2L (§4.1), looks-linear 2L (§4.2), L+1 (§4.3) and the zero-bias baseline (§4.4), one module
each.

:func:`represented_layers` reads back, from a ticket's masks and metadata alone (so also from a
ticket loaded from disk), what the ticket computes per target layer at unit scale; the
certificate (lotteryproofs.certify) relies on it and never on the log.
"""

from __future__ import annotations

import numbers

import numpy as np

from lotteryproofs import _validate
from lotteryproofs._version import __version__
from lotteryproofs.background import Background
from lotteryproofs.bound_spec import DEFAULT_LUEKER_C
from lotteryproofs.construct import common
from lotteryproofs.construct.base import BuildInput
from lotteryproofs.construct.registry import construction_names, get_construction
from lotteryproofs.construct.sizing import (
    activation_refusal,
    counting_refusal,
    selection_notes,
    sizing_beta,
    sizing_law,
)
from lotteryproofs.construct.univariate import LayoutError
from lotteryproofs.indices import nonzero_2d
from lotteryproofs.init import SCHEMES, SourceSpec, unit_scale
from lotteryproofs.init import source_seed as init_source_seed
from lotteryproofs.network import Box, Network, network_sha256
from lotteryproofs.ticket import (
    RepresentedLayer,
    SourceOrigin,
    Ticket,
    droppable_levels,
    support_ticket,
)

__all__ = ["METHODS", "DEFAULT_LUEKER_C", "LayoutError", "a_priori_rho", "a_priori_widths",
           "construct", "construction_names", "get_construction", "read_back",
           "represented_layers", "source_widths", "ticket_unit_network"]

#: The registered method names (from the registry; kept for callers that iterate them).
METHODS = construction_names()

#: Options of ``construct`` that belong to one construction each, with the value that means
#: "not given" (each construction declares its own and refuses the others').
_METHOD_OPTION_UNSET = {"widen": False, "rho_in": None, "max_widen_rounds": 4}


def _given_options(**values) -> dict:
    """The method options a caller set (a value other than the signature's "not given")."""
    def unset(name, value):
        default = _METHOD_OPTION_UNSET[name]
        return value is default or (type(value) is type(default) and value == default)

    return {name: value for name, value in values.items() if not unset(name, value)}


def source_widths(method, target_widths, rho: int, *, rho_in: int | None = None):
    """The source widths of a method for target widths (n_0, …, n_L) and multiplicity ρ."""
    construction = get_construction(method)
    given = {} if rho_in is None else {"rho_in": rho_in}
    return construction.source_widths(target_widths, rho, construction.validate_options(given))


def _seed_metadata(rng) -> dict:
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return {"seed": int(rng), "spawn_key": []}
    seq = rng if isinstance(rng, np.random.SeedSequence) else getattr(
        getattr(rng, "bit_generator", None), "seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        entropy = seq.entropy
        return {"seed": int(entropy) if entropy is not None else None,
                "spawn_key": [int(k) for k in seq.spawn_key]}
    return {"seed": None, "spawn_key": []}


#: The spawn-key word of the stream that draws after the source (widening's new neurons).
_AFTER_SOURCE = 1 << 32


def _check_domain(domain, n_0: int) -> Box:
    if domain is None:
        return Box.cube(-1.0, 1.0, n_0)
    if not isinstance(domain, Box):
        raise _validate.InputError(f"domain must be a Box, got {type(domain).__name__}")
    if domain.dim != n_0:
        raise _validate.InputError(
            f"the domain box has dimension {domain.dim} but the target has {n_0} inputs")
    return domain


def a_priori_widths(method, target: Network, eps_param, delta, *, negative_inputs=None,
                    law: str = "uniform", bias_factor: float = 1.0,
                    C: float = DEFAULT_LUEKER_C) -> dict:
    """ρ (and ρ_in for L+1) from the width theorem (THEORY.md §3, §6) for this target:
    :func:`lotteryproofs.bounds.a_priori_widths` with the method's bound (the only sizing
    rule). ``negative_inputs``: a boolean mask of the inputs that can be negative (default
    all)."""
    from lotteryproofs import bounds  # sympy: imported only when sizing is asked for

    return bounds.a_priori_widths(get_construction(method).bound, target, eps_param, delta,
                                  negative_inputs=negative_inputs, weight_law=law,
                                  beta=bias_factor, lueker_c=C)


def a_priori_rho(method, target: Network, eps_param, delta, **options) -> int:
    """ρ such that, by the union bound of §6 and the lemma of §3, P(any failure) ≤ δ
    (:func:`a_priori_widths`' ``rho``)."""
    return a_priori_widths(method, target, eps_param, delta, **options)["rho"]


def construct(target: Network, method: str, *, eps_param, delta, init: str | None = None,
              rng, domain: Box | None = None, rho: int | None = None, widen: bool = False,
              rho_in: int | None = None, init_options: dict | None = None,
              lueker_c: float = DEFAULT_LUEKER_C, max_widen_rounds: int = 4,
              keep_source: bool = True) -> Ticket:
    """Draw a source for ``method`` and choose a ticket approximating ``target`` (THEORY.md §4).

    ``eps_param`` is ε' (per-parameter accuracy), ``delta`` δ (allowed failure probability,
    which sizes ρ — and ρ_in for L+1 — by the width theorem of bounds.py when ``rho`` is
    None), ``domain`` the input box (default [-1, 1]^{n_0}; it decides where negative parts are
    built). Failed instances are recorded in the log (``failed``), never hidden. ``widen``,
    ``max_widen_rounds`` (2l, ll, zero-bias) and ``rho_in`` (l+1) are options of one method
    each, declared by its construction: with ``widen=True`` the blocks whose pools failed get
    genuinely new neurons and are solved again (proofs/2l-construction.md, "Widening").

    The source is a function of (scheme, widths, options, seed) (THEORY.md §10): ``rng`` is
    an integer or SeedSequence (its entropy and spawn key are the seed) or a Generator (128
    bits are drawn from it as the seed). The ticket knows its seed (``ticket.origin``: the
    source's spec and sha256), so its file is written compact, unless widening added neurons.
    With ``keep_source=True`` it holds its whole source (drawn once the masks are chosen);
    with ``keep_source=False`` only its support (``ticket.compact``: the kept parameters on
    the neurons they touch; the sha256 then streams over the source band by band), which is
    what bounds the memory of a large source.
    """
    construction = get_construction(method)
    if not isinstance(target, Network):
        raise _validate.InputError(f"target must be a Network, got {type(target).__name__}")
    construction.supports.check(construction.owner, target)
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    domain = _check_domain(domain, target.widths[0])
    init = construction.resolve_init(init)
    defaults = construction.init_defaults(target, init) if construction.init_defaults else {}
    init_options = {**defaults, **dict(init_options or {})}
    options = construction.validate_options(_given_options(
        widen=widen, rho_in=rho_in, max_widen_rounds=max_widen_rounds))
    seed_meta = _seed_metadata(rng)
    source_seed = init_source_seed(rng)
    # what draws after the source (widening) has its own stream, keyed by the same seed
    rng = np.random.default_rng(np.random.SeedSequence(
        source_seed[0], spawn_key=(*source_seed[1], _AFTER_SOURCE)))
    if rho is None:
        beta, beta_refusal = sizing_beta(construction.bound, init_options)
        refusal = (counting_refusal(target, eps_param) or beta_refusal
                   or activation_refusal(target))
        if refusal is not None:
            raise _validate.InputError(f"the a-priori width: {refusal}")
        sizes = a_priori_widths(
            construction, target, eps_param, delta, negative_inputs=domain.has_negative,
            law=sizing_law(init, init_options), bias_factor=beta, C=lueker_c)
        rho = sizes["rho"]
        # a width the theorem sizes separately (ρ_in of L+1) fills the option of that name
        options.update({k: sizes[k] for k, v in options.items() if v is None and k in sizes})
        rho_source = "a_priori"
    else:
        rho = _validate.positive_int("rho (ρ)", rho)
        rho_source = "given"
    construction.check_rho(rho)
    widths = construction.source_widths(target.widths, rho, options)
    largest = max(rho, options.get("rho_in") or rho)
    n_instances = common.instance_bound(
        target.widths, [np.count_nonzero(w) for w in target.weights],
        rho if construction.bound.copies else 1)
    _validate.fits_in_memory(common.construction_bytes(widths, n_instances, largest,
                                                       tiled=SCHEMES[init].tiled,
                                                       wide=construction.bound.bounded_gain),
                             f"the {construction.name} construction with rho={rho} (source "
                             f"widths {widths[:4]}{'…' if len(widths) > 4 else ''})")

    # The source is fixed by (scheme, widths, options, seed) before the target is read
    # (THEORY.md §10); a tiled scheme is drawn only where the construction reads it.
    spec = SourceSpec.make(init, widths, entropy=source_seed[0], spawn_key=source_seed[1],
                           **init_options)
    # the source's sha256 streams over every tile while the construction runs (numpy's bit
    # generators, the nogil band kernel and hashlib release the GIL)
    sha = Background(spec.sha256) if not keep_source and spec.tiled else None
    if spec.tiled:
        draw = common.LazyDraw(spec)
        unit = draw.unit()
    else:
        draw = spec.draw()
        # Masks are chosen on the unit-scale form of the very source the ticket holds, the
        # same numbers represented_layers reads back (not the draw's own unit network, which
        # can differ from source/λ by one rounding).
        unit = common.unit_parameters(draw.network, draw.layer_scales)
    built = construction.build(BuildInput(target, draw, unit, domain, eps_param, rho, options,
                                          rng))
    log = common.build_log(built.solved)
    metadata = {
        "method": construction.name,
        "init": init,
        "init_options": {k: v for k, v in sorted(draw.options.items())},
        **seed_meta,
        "eps_param": eps_param,
        "delta": delta,
        "target_sha256": network_sha256(target),
        "target_widths": [int(n) for n in target.widths],
        "version": __version__,
        "domain": domain.to_json(),
        "rho": int(rho),
        "rho_source": rho_source,
        "lueker_c": float(lueker_c) if rho_source == "a_priori" else None,
        "layer_scales": [float(s) for s in built.layer_scales],
        "layout": built.layout,
        "rss_failures": int(log.failed.sum()),
        "widening": built.widening,
    }
    # how the widths were chosen, and whether P(any failure) ≤ δ holds under the search cap
    metadata["notes"] = list(selection_notes(construction.bound, metadata))
    scale = common.output_scale(built.layer_scales)
    drawn = None if spec.tiled else draw.network
    if built.source is not spec and (drawn is None or built.source is not drawn):
        # widening added neurons: the source is no longer the spec's, so it is stored
        return Ticket(built.source, built.weight_masks, built.bias_masks, scale, metadata, log)
    acts = layout_activations(built.layout)
    if keep_source:
        full = draw.network
        with_acts = full if acts is None else Network(full.weights, full.biases,
                                                      activations=acts)
        return Ticket(with_acts, built.weight_masks, built.bias_masks, scale, metadata, log,
                      SourceOrigin(spec, tuple(np.arange(n) for n in spec.widths),
                                   network_sha256(full), whole=True))
    digest = network_sha256(drawn) if drawn is not None else sha.result()
    return _compact_ticket(spec, unit, drawn, built, scale, metadata, log, digest, acts)


def layout_activations(layout):
    """The source's hidden activations a layout records (``activations``: the general L+1
    construction), or None (ReLU). The source's sha256 is that of its parameters (the spec's);
    the activations are part of the metadata."""
    from lotteryproofs.activations import get_activation

    specs = layout.get("activations") if hasattr(layout, "get") else None
    return None if specs is None else tuple(get_activation(a) for a in specs)


def _compact_ticket(spec, unit, drawn, built, scale, metadata, log, digest,
                    activations=None) -> Ticket:
    """The kept positions and their source values (from the tiles the construction drew, or
    from the whole draw ``drawn`` of an untiled scheme), on the support the layout allows (the
    pair constructions' block layers)."""
    kept = []
    for layer, (wm, bm) in enumerate(zip(built.weight_masks, built.bias_masks, strict=True)):
        rows, cols = nonzero_2d(wm)
        brows = np.flatnonzero(bm)
        if drawn is None:
            values = unit.weights[layer].source_values(rows, cols)
            biases = spec.biases(layer)
        else:
            values, biases = drawn.weights[layer][rows, cols], drawn.biases[layer]
        kept.append((rows * spec.widths[layer] + cols, values, brows, biases[brows]))
        if drawn is None:
            unit.weights[layer].release()  # its tiles are read: free them before the support
    return support_ticket(spec, kept, scale, metadata, log,
                          droppable=droppable_levels(built.layout), source_sha256=digest,
                          activations=activations)



def ticket_unit_network(ticket: Ticket, network: Network | None = None) -> Network:
    """g = f_S at unit scale (the scaling lemma, THEORY.md §1): the masked network (``network``,
    default ``ticket.network``) with W_l / λ_l and b_l / Π_{k≤l} λ_k, the λ_l the ticket's
    ``layer_scales``; what every read-back of the ticket's masks starts from."""
    meta = ticket.metadata
    if "layer_scales" not in meta:
        raise _validate.InputError(
            "the ticket's metadata lacks 'layer_scales'; it was not made by construct()")
    network = ticket.network if network is None else network
    unit, _ = unit_scale(network, meta["layer_scales"])
    return unit


def _construction_of(ticket: Ticket):
    meta = ticket.metadata
    missing = [k for k in ("method", "layer_scales", "layout", "target_widths") if k not in meta]
    if missing:
        raise _validate.InputError(
            f"the ticket's metadata lacks {missing[0]!r}; it was not made by construct()")
    return get_construction(meta["method"])


#: Where :func:`read_back` keeps its result on a ticket (source, masks and metadata are
#: read-only, so the read-back of a ticket never changes).
_READ_BACK = "_read_back"


def read_back(ticket: Ticket) -> tuple[tuple[RepresentedLayer, ...], tuple[RepresentedLayer, ...]]:
    """(represented layers of the ticket, represented layers of the ticket over |θ|), read from
    its masks once and kept on the ticket: the certificate's bounds, its rounding slack
    (the |θ| read-back bounds every Σ|terms|, proofs/certificate-soundness.md, Lemma 1), the
    observed search and the file checks all read the same read-back.

    A construction with a ``represent_masked`` (the pair constructions) reads the kept
    entries alone, dividing each by its scale (no source-sized unit-scale network). Otherwise
    the unit-scale network is computed once for both: fl(|θ|/λ) = |fl(θ/λ)| (a correctly
    rounded quotient is odd in θ), so the unit form of the |θ| ticket is the absolute value
    of the unit form, entry for entry, taken in place in the unit network's own arrays once
    the signed read-back is done (a read-back copies what it reads: RepresentedLayer holds
    copies). Neither is kept (the read-back is target-sized, the unit network source-sized).
    Raises LayoutError as :func:`represented_layers` does (nothing is kept then)."""
    cached = ticket.__dict__.get(_READ_BACK)
    if cached is not None:
        return cached
    construction = _construction_of(ticket)
    result = None
    if construction.represent_masked is not None:  # from the kept entries alone
        signed = construction.represent_masked(ticket.network, ticket.metadata)
        if signed is not None:
            result = (tuple(signed), tuple(construction.represent_masked(
                ticket.network, ticket.metadata, absolute=True)))
    if result is None:
        unit = ticket_unit_network(ticket)
        represented = tuple(construction.represent(unit, ticket.metadata))
        absolute = tuple(construction.represent(_absolute_in_place(unit), ticket.metadata))
        del unit
        result = (represented, absolute)
    ticket.__dict__[_READ_BACK] = result
    return result


def _absolute_in_place(unit: Network) -> Network:
    """``unit`` with every weight and bias replaced by its absolute value in its own arrays,
    for a network whose arrays nobody else holds (the fresh quotients of unit_scale): no
    second source-sized copy."""
    arrays = unit.parameter_arrays
    if not all(a.flags.owndata for a in arrays):  # not fresh quotients: a copy after all
        return unit.absolute()
    for array in arrays:
        array.setflags(write=True)
        np.abs(array, out=array)
        array.setflags(write=False)
    return unit


def represented_layers(ticket: Ticket, network: Network | None = None
                       ) -> tuple[RepresentedLayer, ...]:
    """Per target layer, what the ticket computes at unit scale, read from its masks.

    Needs only ``ticket.source``, the masks and ``ticket.metadata`` (method, layer_scales,
    layout, rho, target_widths), so it works on a ticket loaded from disk. Raises LayoutError if
    the kept parameters do not have the layout the metadata claims. ``network`` is the masked
    network to read instead of ``ticket.network`` (a caller that holds it already, or its
    absolute values: no second dense copy of a large ticket); the ticket's own network is read
    once (:func:`read_back`).
    """
    construction = _construction_of(ticket)
    if network is None or network is ticket.network:
        return read_back(ticket)[0]
    return construction.represent(ticket_unit_network(ticket, network), ticket.metadata)
