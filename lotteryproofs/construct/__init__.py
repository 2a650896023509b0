"""Constructive existence proofs: a ticket inside a random source for a given target (THEORY.md §4).

:func:`construct` draws the whole source network from a named scheme (lotteryproofs.init)
**before** looking at the target, solves one random-subset-sum instance per effective target
parameter in the sparsest mode, and returns a :class:`~lotteryproofs.ticket.Ticket` (source,
binary masks for every weight and bias, Λ, the log of every instance). Methods:

    "2l"         §4.1  two source layers per target layer, nonzero biases
    "ll"         §4.2  the same on a looks-linear source: one instance per weight, twins
    "l+1"        §4.3  one extra layer; ρ copies of every hidden target neuron
    "zero-bias"  §4.4  the 2L construction on a zero-bias source: target biases dropped

:func:`represented_layers` reads back, from a ticket's masks and metadata alone (so also from a
ticket loaded from disk), what the ticket computes per target layer at unit scale; the
certificate (lotteryproofs.certify) relies on it and never on the log.
"""

from __future__ import annotations

import numbers

import numpy as np

from lotteryproofs import __version__, _validate
from lotteryproofs.construct import common, l_plus_one, looks_linear, sizing, two_layer
from lotteryproofs.construct.sizing import DEFAULT_LUEKER_C, a_priori_rho
from lotteryproofs.construct.univariate import LayoutError
from lotteryproofs.init import unit_scale
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import RepresentedLayer, Ticket

__all__ = ["METHODS", "DEFAULT_INIT", "DEFAULT_LUEKER_C", "LayoutError", "a_priori_rho",
           "construct", "represented_layers", "source_widths"]

METHODS = ("2l", "ll", "l+1", "zero-bias")
#: The scheme each method draws from unless told otherwise.
DEFAULT_INIT = {"2l": "uniform", "ll": "looks-linear", "l+1": "uniform",
                "zero-bias": "uniform-zero-bias"}


def _check_method(method) -> str:
    if method not in METHODS:
        raise _validate.InputError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    return method


def _resolve_init(method: str, init: str | None) -> str:
    from lotteryproofs.init import SCHEMES

    init = DEFAULT_INIT[method] if init is None else init
    if method == "zero-bias" and not init.endswith("-zero-bias"):
        init = f"{init}-zero-bias"
    if init not in SCHEMES:
        raise _validate.InputError(
            f"unknown initialisation scheme {init!r} for method {method}; known: "
            f"{', '.join(sorted(SCHEMES))}")
    if method == "ll" and init != "looks-linear":
        raise _validate.InputError(f"method ll needs the looks-linear scheme, got {init!r}")
    if method != "ll" and init == "looks-linear":
        raise _validate.InputError(
            f"method {method} needs an i.i.d. scheme (uniform, normal); use method ll for "
            "looks-linear sources")
    return init


def source_widths(method: str, target_widths, rho: int, *, rho_in: int | None = None):
    """The source widths of a method for target widths (n_0, …, n_L) and multiplicity ρ."""
    method = _check_method(method)
    if method == "2l":
        return two_layer.source_widths(target_widths, rho)
    if method == "zero-bias":
        return two_layer.source_widths(target_widths, rho, constants=False)
    if method == "ll":
        return looks_linear.source_widths(target_widths, rho)
    return l_plus_one.source_widths(target_widths, rho, rho if rho_in is None else rho_in)


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


def _check_domain(domain, n_0: int) -> Box:
    if domain is None:
        return Box.cube(-1.0, 1.0, n_0)
    if not isinstance(domain, Box):
        raise _validate.InputError(f"domain must be a Box, got {type(domain).__name__}")
    if domain.dim != n_0:
        raise _validate.InputError(
            f"the domain box has dimension {domain.dim} but the target has {n_0} inputs")
    return domain


def _estimate_bytes(target: Network, widths, rho: int) -> float:
    """Source (He-scaled + unit + masked copies, float64) plus the largest instance batch."""
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    nnz = max(int(np.count_nonzero(w)) for w in target.weights)
    batch = nnz * rho * rho * 17.0  # values (8) + neuron ids (8) + chosen (1) per candidate
    return 5 * 8.0 * n_params + batch


def construct(target: Network, method: str, *, eps_param, delta, init: str | None = None,
              rng, domain: Box | None = None, rho: int | None = None, widen: bool = False,
              rho_in: int | None = None, init_options: dict | None = None,
              lueker_c: float = DEFAULT_LUEKER_C, max_widen_rounds: int = 4) -> Ticket:
    """Draw a source for ``method`` and choose a ticket approximating ``target`` (THEORY.md §4).

    ``eps_param`` is ε' (per-parameter accuracy), ``delta`` δ (allowed failure probability,
    which sizes ρ by :func:`a_priori_rho` when ``rho`` is None), ``domain`` the input box
    (default [-1, 1]^{n_0}; it decides where negative parts are built). Failed instances are
    recorded in the log (``failed``), never hidden; with ``widen=True`` (2l, ll, zero-bias) the
    blocks whose pools failed get genuinely new neurons and are solved again
    (proofs/2l-construction.md, "Widening").
    """
    method = _check_method(method)
    if not isinstance(target, Network):
        raise _validate.InputError(f"target must be a Network, got {type(target).__name__}")
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    domain = _check_domain(domain, target.widths[0])
    init = _resolve_init(method, init)
    init_options = dict(init_options or {})
    seed_meta = _seed_metadata(rng)
    rng = _validate.rng(rng)
    if rho is None:
        law = init_options.get("law", "normal" if init.startswith("normal") else "uniform")
        rho = a_priori_rho(method, target, eps_param, delta,
                           negative_inputs=int(domain.has_negative.sum()), law=law,
                           bias_factor=float(init_options.get("bias_factor", 1.0)) or 1.0,
                           C=lueker_c)
        rho_source = "a_priori"
    else:
        rho = _validate.positive_int("rho (ρ)", rho)
        rho_source = "given"
    if method == "ll":
        looks_linear.check_rho(rho)
    if widen and method == "l+1":
        raise _validate.InputError(
            "--widen is implemented for the methods 2l, ll and zero-bias, not l+1")
    rho_in = rho if rho_in is None else _validate.positive_int("rho_in", rho_in)
    widths = source_widths(method, target.widths, rho, rho_in=rho_in)
    _validate.fits_in_memory(_estimate_bytes(target, widths, max(rho, rho_in)),
                             f"the {method} construction with rho={rho} (source widths "
                             f"{widths[:4]}{'…' if len(widths) > 4 else ''})")

    from lotteryproofs.init import draw_source

    draw = draw_source(init, widths, rng=rng, **init_options)
    scales = draw.layer_scales
    # Masks are chosen on the unit-scale form of the very source the ticket holds, the same
    # numbers represented_layers reads back (not the draw's own unit network, which can differ
    # from source/λ by one rounding).
    unit = common.unit_parameters(draw.network, scales)
    widening = None
    if method in ("2l", "zero-bias", "ll"):
        if method == "ll":
            owners, mirrors = looks_linear.layout(target.widths, rho)
            looks_linear.check_mirror_structure(unit, mirrors)
        else:
            owners = two_layer.regular_layout(target.widths, rho, constants=method == "2l")
            mirrors = [None] * target.depth
        if widen:
            from lotteryproofs.construct import widen as widen_module

            draw, unit, owners, mirrors, wm, bm, solved, widening = widen_module.build_widening(
                target, draw, owners, domain, eps_param, rng, max_widen_rounds,
                zero_bias=method == "zero-bias", mirrors=mirrors if method == "ll" else None)
            scales = draw.layer_scales
            if method == "ll":
                looks_linear.check_mirror_structure(unit, mirrors)
        else:
            wm, bm, solved = two_layer.build_pairs(target, unit, domain, eps_param, owners,
                                                   mirrors)
        layout = {"pairs": two_layer.pair_layout(target, owners, domain)}
    else:
        wm, bm, solved = l_plus_one.build(target, unit, domain, eps_param, rho, rho_in)
        layout = l_plus_one.layout(target.widths, rho, rho_in)

    from lotteryproofs.network import network_sha256

    log = common.build_log(solved)
    source = draw.network
    metadata = {
        "method": method,
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
        "layer_scales": [float(s) for s in scales],
        "layout": layout,
        "rss_failures": int(log.failed.sum()),
        "widening": widening,
    }
    return Ticket(source, tuple(wm), tuple(bm), common.output_scale(scales), metadata, log)


def represented_layers(ticket: Ticket) -> tuple[RepresentedLayer, ...]:
    """Per target layer, what the ticket computes at unit scale, read from its masks.

    Needs only ``ticket.source``, the masks and ``ticket.metadata`` (method, layer_scales,
    layout, rho, target_widths), so it works on a ticket loaded from disk. Raises LayoutError if
    the kept parameters do not have the layout the metadata claims.
    """
    meta = ticket.metadata
    try:
        method = _check_method(meta["method"])
        scales = meta["layer_scales"]
        layout = meta["layout"]
        widths = tuple(int(n) for n in meta["target_widths"])
    except KeyError as exc:
        raise _validate.InputError(
            f"the ticket's metadata lacks {exc.args[0]!r}; it was not made by construct()"
        ) from None
    unit_ticket, _ = unit_scale(ticket.network, scales)
    if method == "l+1":
        return l_plus_one.represent(unit_ticket, widths, int(meta["rho"]), layout)
    return two_layer.represent_pairs(unit_ticket, layout["pairs"])


__all__ += ["sizing"]
