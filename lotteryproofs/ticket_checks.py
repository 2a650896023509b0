"""A ticket file is untrusted input: its metadata is recomputed, never believed (``verify``).

The certificate of a ticket (lotteryproofs.certify) reads the masks, the source and, from the
metadata, what turns them into represented target layers: the method, ρ (ρ_in), the layer
scales λ_l, the layout, the target's widths, and the output scale Λ it divides by
(proofs/certificate-soundness.md, "What verify recomputes"). :func:`check_ticket` recomputes
each of them from what the file cannot fake — the source's widths (and, for a compact ticket,
its seeded spec, whose kept values the loader already regenerated), the masks and the target
— and raises :class:`TicketMismatch`, naming the field, at the first disagreement:

* ``target_sha256`` names the given target (else the user gave another one: bad input);
  ``target_widths`` = the target's widths; ``init`` a scheme the method draws from, and
  ``init_options`` that scheme's resolved options;
* the source widths = the method's widths at ρ (ρ_in) plus the neurons ``widening`` records
  (so ``rho``, ``layout.rho_in`` and ``widening`` agree with the source);
* ``layer_scales`` = the He scales of the unwidened widths under the scheme's law (and, for a
  compact ticket, its spec's scheme, options, widths and scales);
* ``scale`` = Π layer_scales exactly (the certificate's Λ-rounding term assumes it);
* ``layout`` = the layout the construction writes for these parameters and the ticket's box
  (``domain``), and the masks really have it (the read-back succeeds; for L+1 the owner of a
  copy neuron follows from its position, construct.l_plus_one.represent);
* ``domain``: no negative part is kept for an input the box says is ≥ 0;
* ``method`` with a gain budget γ (bounded-gain L+1): every copy-layer gain Σ_S|v| ≤ |w| + γ,
  which its a-priori bound assumes;
* ``rho`` of ``rho_source = "a_priori"`` = the width theorem's for this target, ε', δ, the
  box, the law, β and C (``lueker_c``);
* ``notes`` = :func:`lotteryproofs.construct.sizing.selection_notes` of the checked fields;
* the RSS log: ``rss_failures`` its failure count, ``failed`` = error > ε', each row's
  ``target`` the target's parameter it names, and as many rows as the method poses
  instances (bounds.count_instances);
* ``activation`` (if declared) ReLU, the only one a ticket is evaluated with.

Informational fields are not used by the certificate and not checked: ``seed``/``spawn_key``
(a compact ticket's seed is its spec's, checked by regeneration), ``delta`` (printed; checked
through ρ when it sized ρ), ``version``, ``format_version``. A malformed field (wrong type,
unknown method) is bad input (``InputError``, exit 2); a well-formed one that disagrees is a
mismatch (exit 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import scaling_lemma_holds
from lotteryproofs.network import Box, Network, network_sha256
from lotteryproofs.ticket import PART_BIAS, PART_NEGATIVE, Ticket

#: Relative room for the float read-back of a gain Σ_S|v| (an fsum, correctly rounded) over
#: the exact bound |w| + γ the engine enforces.
GAIN_RTOL = 1e-12


class TicketMismatch(Exception):
    """A ticket's metadata disagrees with its masks, source or target (``verify``: exit 1)."""

    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(f"the ticket's {field!r} disagrees with its masks, source or target: "
                         f"{reason}")


def _require(meta: Mapping, *keys):
    missing = [k for k in keys if k not in meta]
    if missing:
        raise _validate.InputError(
            f"the ticket's metadata lacks {missing[0]!r}; it was not made by construct()")


def _int(meta: Mapping, key: str) -> int:
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _validate.InputError(f"the ticket's metadata {key!r} must be an integer >= 1, "
                                   f"got {value!r}")
    return value


def _canonical(value):
    """JSON-normal form (tuples → lists, numpy ints → ints) for comparing metadata."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else int(o)))


def _first_difference(path: str, got, want) -> str | None:
    """The path of the first entry where two JSON values differ, or None."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want:
                return f"{path}.{key}"
            found = _first_difference(f"{path}.{key}", got[key], want[key])
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            found = _first_difference(f"{path}[{i}]", g, w)
            if found:
                return found
        return None
    return None if got == want else path


def _widened_widths(base, widening) -> list[int]:
    widths = [int(n) for n in base]
    if widening is None:
        return widths
    if not isinstance(widening, Mapping) or not isinstance(widening.get("added", []), list):
        raise _validate.InputError("the ticket's metadata 'widening' is not a widening record")
    for entry in widening.get("added", []):
        if (not isinstance(entry, list) or len(entry) != 3
                or not all(isinstance(e, int) and not isinstance(e, bool) for e in entry)
                or not 0 <= entry[0] < len(widths) - 1 or entry[2] < 0):
            raise _validate.InputError(
                f"the ticket's metadata 'widening' has a malformed entry {entry!r}")
        widths[entry[0] + 1] += entry[2]
    return widths


def _require_same_target(meta, target) -> None:
    """Another target than the ticket's is the user's mistake (exit 2), not a bad ticket."""
    sha = network_sha256(target)
    if meta.get("target_sha256") != sha:
        raise _validate.InputError(
            f"the ticket was built for target {meta.get('target_sha256')!r}, not this target "
            f"(sha256 {sha})")


def check_ticket(ticket: Ticket, target: Network) -> tuple[str, ...]:
    """Recompute everything the certificate takes from ``ticket.metadata`` (module docstring);
    raise :class:`TicketMismatch` at the first disagreement. Returns the notes on how the
    widths were chosen (recomputed), for the certificate's assumptions."""
    from lotteryproofs.construct import a_priori_widths, get_construction
    from lotteryproofs.construct.common import output_scale
    from lotteryproofs.construct.sizing import selection_notes, sizing_beta, sizing_law
    from lotteryproofs.init import SCHEMES, SourceSpec, source_layer_scales

    meta = ticket.metadata
    _require(meta, "method", "init", "init_options", "target_widths", "rho", "layer_scales",
             "layout", "eps_param")
    construction = get_construction(meta["method"])
    eps_param = _validate.positive("the ticket's eps_param", meta["eps_param"])
    _require_same_target(meta, target)
    if list(meta["target_widths"]) != list(target.widths):
        raise TicketMismatch("target_widths", f"{list(meta['target_widths'])}, but the target "
                             f"has widths {list(target.widths)}")
    _check_activation(meta)

    # ------------------------------------------------------------- scheme, ρ, widths
    init = meta["init"]
    try:
        resolved_init = construction.resolve_init(init)
    except _validate.InputError as exc:
        raise TicketMismatch("init", str(exc)) from None
    if resolved_init != init:
        raise TicketMismatch("init", f"{init!r}, but method {construction.name} draws from "
                             f"{resolved_init!r}")
    rho = _int(meta, "rho")
    try:
        construction.check_rho(rho)
    except _validate.InputError as exc:
        raise TicketMismatch("rho", str(exc)) from None
    layout = meta["layout"]
    given = {o.name: layout[o.name] for o in construction.options
             if isinstance(layout, Mapping) and o.name in layout}
    try:
        options = construction.validate_options(given)
    except _validate.InputError as exc:
        raise TicketMismatch("layout", str(exc)) from None
    base = construction.source_widths(tuple(target.widths), rho, options)
    widening = meta.get("widening")
    widths = _widened_widths(base, widening)
    if list(ticket.source_widths) != widths:
        what = "widening" if widening else "rho"
        raise TicketMismatch(what, f"the source has widths {list(ticket.source_widths)}, but "
                             f"method {construction.name} with ρ = {rho}"
                             f"{f', {given}' if given else ''}"
                             f"{' and the recorded widening' if widening else ''} gives {widths}")
    init_options = meta["init_options"]
    if not isinstance(init_options, Mapping):
        raise _validate.InputError("the ticket's metadata 'init_options' must be an object")
    scheme = SCHEMES[init]
    try:
        spec = SourceSpec.make(init, base, entropy=0, **{k: v for k, v in init_options.items()
                                                         if k in scheme.defaults})
    except _validate.InputError as exc:
        raise TicketMismatch("init_options", str(exc)) from None
    # an option the file does not name is drawn at its default (a file written before the
    # scheme gained it: weight_scale); every option it names must be the resolved one
    named = {**{k: v for k, v in spec.options.items() if k in scheme.defaults
                and k not in init_options}, **init_options}
    if dict(spec.options) != named:
        raise TicketMismatch("init_options", f"{dict(init_options)}, but scheme {init!r} "
                             f"resolves them to {dict(spec.options)}")

    # ------------------------------------------------------------- λ_l and Λ
    scales = meta["layer_scales"]
    if scaling_lemma_holds(target.activations):
        expected_scales = list(source_layer_scales(base, spec.options))
        why = (f"the scales of the source widths {list(base)} under the scheme's options "
               f"{dict(spec.options)} are")
    else:  # no scaling lemma: the masks are chosen on the actual values, Λ = 1
        expected_scales = [1.0] * (len(base) - 1)
        why = "a target with activations that are not positively homogeneous has scales"
    if not isinstance(scales, list) or [float(s) for s in scales] != expected_scales:
        raise TicketMismatch("layer_scales", f"{scales}, but {why} {expected_scales}")
    if ticket.origin is not None:
        origin = ticket.origin.spec
        if (origin.scheme != init or dict(origin.options) != dict(spec.options)
                or list(origin.widths) != widths):
            raise TicketMismatch("source", f"the seeded source is {origin.scheme!r} "
                                 f"{dict(origin.options)} of widths {list(origin.widths)}, the "
                                 f"metadata says {init!r} {dict(init_options)} of {widths}")
    expected_scale = output_scale(expected_scales)
    if ticket.scale != expected_scale:
        raise TicketMismatch("scale", f"the stored Λ = {ticket.scale!r} is not Π layer_scales = "
                             f"{expected_scale!r}")

    # ------------------------------------------------------------- layout and the masks
    domain = _domain(meta, target.widths[0])
    if construction.expected_layout is None:  # nothing to recompute it from: not believed
        raise TicketMismatch("layout", f"method {construction.name} declares no "
                             "expected_layout, so the file's layout cannot be checked")
    want = _canonical(construction.expected_layout(
        target, rho, options, bool(domain.has_negative.any()), widening))
    where = _first_difference("layout", _canonical(layout), want)
    if where is not None:
        raise TicketMismatch(where, f"the file's {where} is not what method "
                             f"{construction.name} writes for ρ = {rho}, the target's widths "
                             "and the ticket's box")
    represented = _represented(ticket)
    if not construction.bound.linear_first_layer:
        # a linear first layer represents N = −P for every input (no part of its own)
        _check_negative_parts(represented, domain)
    _check_gain_budget(construction, represented, target)

    # ------------------------------------------------------------- how ρ was chosen
    rho_source = meta.get("rho_source", "given")
    if rho_source not in ("a_priori", "given"):
        raise TicketMismatch("rho_source", f"{rho_source!r} is neither 'a_priori' nor 'given'")
    if rho_source == "a_priori":
        _require(meta, "delta", "lueker_c")
        beta, beta_refusal = sizing_beta(construction.bound, init_options)
        if beta_refusal is not None:
            raise TicketMismatch("rho_source", f"ρ is said to be a-priori, but {beta_refusal}")
        sizes = a_priori_widths(
            construction, target, eps_param, meta["delta"], negative_inputs=domain.has_negative,
            law=sizing_law(init, init_options), bias_factor=beta, C=meta["lueker_c"])
        if sizes["rho"] != rho:
            raise TicketMismatch("rho", f"ρ = {rho} is said to be a-priori, but the width theorem "
                                 f"gives ρ = {sizes['rho']} for this target, ε' = {eps_param}, "
                                 f"δ = {meta['delta']}, C = {meta['lueker_c']} and the box")
    notes = selection_notes(construction.bound, meta)
    if "notes" in meta and list(meta["notes"]) != list(notes):
        raise TicketMismatch("notes", f"{list(meta['notes'])}, but its ρ and widening give "
                             f"{list(notes)}")
    _check_log(ticket, target, eps_param)
    _check_instance_count(ticket, construction, target, eps_param, domain, rho)
    return notes


def _check_activation(meta: Mapping) -> None:
    declared = meta.get("activation")
    if declared is None:
        return
    specs = declared if isinstance(declared, list) else [declared]
    if any(str(s).lower() != "relu" for s in specs):
        raise TicketMismatch("activation", f"{declared!r}, but a ticket's source is evaluated "
                             "with ReLU (every construction builds ReLU tickets)")


def _domain(meta: Mapping, n_0: int) -> Box:
    """The ticket's box (construct's default [−1, 1]^n0 when the file names none; the loader
    has already checked a named one's shape)."""
    return Box.from_json(meta["domain"]) if "domain" in meta else Box.cube(-1.0, 1.0, n_0)


def _represented(ticket: Ticket):
    from lotteryproofs.construct import LayoutError, represented_layers

    try:
        return represented_layers(ticket)
    except LayoutError as exc:
        raise TicketMismatch("layout", f"the masks do not have the claimed layout ({exc})"
                             ) from None


def _check_negative_parts(represented, domain: Box) -> None:
    """A negative part σ(−x_i) is built only where x_i can be < 0 (proofs/2l-construction.md)."""
    negative = represented[0].negative
    used = np.any(negative != 0, axis=(0, 1))
    bad = np.flatnonzero(used & ~domain.has_negative)
    if bad.size:
        raise TicketMismatch("domain", f"the masks keep a negative part for input {int(bad[0])}, "
                             "which the ticket's box says is never negative")


def _check_gain_budget(construction, represented, target: Network) -> None:
    """Bounded-gain tickets: Σ_S|v| ≤ |w| + γ on every copy layer (the a-priori bound's
    hypothesis, proofs/bounded-gain-l+1.md)."""
    spec = construction.bound
    if not spec.bounded_gain:
        return
    gamma = float(spec.gain_budget)
    for t in range(1, len(represented)):
        cap = (np.abs(target.weights[t]) + gamma) * (1 + GAIN_RTOL)
        over = represented[t].gain > cap[None]
        if over.any():
            c, j, i = (int(v[0]) for v in np.nonzero(over))
            raise TicketMismatch(
                "method", f"{construction.name} promises Σ|v| ≤ |w| + {gamma:g}, but copy {c} of "
                f"neuron {j} of target layer {t + 1} reads input {i} with gain "
                f"{float(represented[t].gain[c, j, i]):.6g} > {float(cap[j, i]):.6g}")


def _check_log(ticket: Ticket, target: Network, eps_param: float) -> None:
    """The log is reporting only, but what is reported must be the log's and the target's."""
    meta, log = ticket.metadata, ticket.rss_log
    recorded = meta.get("rss_failures")
    if log is None:
        summary = meta.get("rss_summary")
        if isinstance(summary, Mapping) and recorded is not None \
                and summary.get("failures") != recorded:
            raise TicketMismatch("rss_summary", f"{summary.get('failures')} failures, "
                                 f"rss_failures says {recorded}")
        return
    if recorded is not None and int(log.failed.sum()) != recorded:
        raise TicketMismatch("rss_failures", f"{recorded}, but the log marks "
                             f"{int(log.failed.sum())} instances failed")
    wrong = np.flatnonzero(log.failed != (log.error > eps_param))
    if wrong.size:
        raise TicketMismatch("rss.failed", f"row {int(wrong[0])} has error "
                             f"{float(log.error[wrong[0]]):.6g} against ε' = {eps_param:g} but "
                             f"failed = {bool(log.failed[wrong[0]])}")
    if np.any(log.layer >= target.depth) or np.any(log.layer < 0):
        raise TicketMismatch("rss.layer", "a row names a layer the target does not have")
    want = np.empty(log.n_instances)
    for layer in range(target.depth):
        here = log.layer == layer
        w, b = target.weights[layer], target.biases[layer]
        rows, cols, part = log.row[here], log.col[here], log.part[here]
        bias = part == PART_BIAS
        if (np.any(rows < 0) or np.any(rows >= w.shape[0])
                or np.any(~bias & ((cols < 0) | (cols >= w.shape[1])))):
            raise TicketMismatch("rss.row", f"a row of layer {layer} names a parameter the "
                                 "target does not have")
        value = np.where(bias, b[rows], w[rows, np.where(bias, 0, cols)])
        want[here] = np.where(part == PART_NEGATIVE, -value, value)
    differs = np.flatnonzero(want != log.target)
    if differs.size:
        m = int(differs[0])
        raise TicketMismatch("rss.target", f"row {m} records target {float(log.target[m])!r}, "
                             f"the target's parameter is {float(want[m])!r}")


def _check_instance_count(ticket: Ticket, construction, target: Network, eps_param: float,
                          domain: Box, rho: int) -> None:
    """The log holds one row per instance the construction poses: bounds.count_instances
    (|w|, |b| > ε'; negative parts where the box allows; ρ copies for hidden L+1 layers),
    plus the zero-bias baseline's bias rows (posed, unsolvable, logged as failed)."""
    log = ticket.rss_log
    if log is None:
        return
    from lotteryproofs.bounds import count_instances

    spec = construction.bound
    posed = log.n_instances if spec.biases else int(np.sum(log.part != PART_BIAS))
    want = count_instances(spec, target, eps_param, domain.has_negative, rho=rho)
    if max(1, posed) != want:
        raise TicketMismatch("rss", f"the log has {posed} instances, but method "
                             f"{construction.name} poses {want} for this target, ε' = "
                             f"{eps_param:g}, ρ = {rho} and the box")


def check_reported_failures(ticket: Ticket, max_param_error: float, eps_param: float) -> None:
    """After certifying: a log that reports no failure while a represented parameter is off by
    more than ε' (the certificate's own, recomputed error) reports something false."""
    log = ticket.rss_log
    if log is None or log.failed.any():
        return
    if not math.isfinite(max_param_error) or max_param_error > eps_param * (1 + GAIN_RTOL):
        raise TicketMismatch("rss", f"the log reports no failed instance, but a represented "
                             f"parameter is off by {max_param_error:.6g} > ε' = {eps_param:g}")


# ------------------------------------------------------------------ convolutional tickets
def check_conv_ticket(ticket, target: Network) -> tuple[str, ...]:
    """:func:`check_ticket` for a :class:`~lotteryproofs.ticket.ConvTicket`: recompute what
    the convolutional certificate reads (proofs/conv-2l-construction.md).

    * ``method`` a registered convolutional construction, ``target_sha256`` the given target;
    * the source: the construction's own draw for this target's geometry at the recorded ρ,
      law ``init``, β and seed (so ``rho``, ``init``, ``bias_factor`` and the layer scales
      λ_l agree with it), byte for byte (its sha256);
    * ``scale`` = Π λ_l exactly; ``layout`` the construction's layout for this target;
    * ``rho`` of ``rho_source = "a_priori"`` = the width theorem's for this target, ε', δ, box;
    * the RSS log (when stored): ``rss_failures`` its failure count, each row's ``target``
      the target parameter it names.
    """
    from lotteryproofs import bounds
    from lotteryproofs.construct.common import output_scale
    from lotteryproofs.construct.conv_two_layer import param_layers
    from lotteryproofs.construct.registry import get_conv_construction

    meta = ticket.metadata
    _require(meta, "method", "init", "rho", "eps_param", "bias_factor", "layout",
             "spawn_key")
    construction = get_conv_construction(meta["method"])
    eps_param = _validate.positive("the ticket's eps_param", meta["eps_param"])
    _require_same_target(meta, target)
    _check_activation(meta)
    rho = _int(meta, "rho")
    spec = ticket.origin.spec if ticket.origin is not None else None
    if spec is None:
        raise TicketMismatch("source", "the ticket records no seeded source")
    try:
        drawn = construction.draw(target, rho, rng=np.random.SeedSequence(
            spec.entropy, spawn_key=spec.spawn_key), law=meta["init"],
            bias_factor=float(meta["bias_factor"]))
    except _validate.InputError as exc:
        raise TicketMismatch("init", str(exc)) from None
    digest = network_sha256(drawn.network)
    if digest != network_sha256(ticket.source):
        raise TicketMismatch("source", "not the source the construction draws for this target "
                             f"at ρ = {rho}, init {meta['init']!r}, β = {meta['bias_factor']} "
                             "and the recorded seed")
    if tuple(drawn.layer_scales) != tuple(ticket.layer_scales):
        raise TicketMismatch("layer_scales", f"{list(ticket.layer_scales)}, but the source's "
                             f"layers have the He scales {list(drawn.layer_scales)}")
    if ticket.scale != output_scale(drawn.layer_scales):
        raise TicketMismatch("scale", f"Λ = {ticket.scale!r}, but Π λ_l = "
                             f"{output_scale(drawn.layer_scales)!r}")
    if list(ticket.layout) != construction.layout(target, rho):
        raise TicketMismatch("layout", f"not the conv {construction.name} layout of this "
                             "target's layers")
    if meta.get("rho_source") == "a_priori":
        box = Box.from_json(meta["domain"]) if "domain" in meta else Box.cube(
            -1.0, 1.0, target.widths[0])
        want = bounds.conv_a_priori_rho(target, box, eps_param, meta.get("delta"),
                                        weight_law=meta["init"],
                                        beta=float(meta["bias_factor"]))["rho"]
        if want != rho:
            raise TicketMismatch("rho", f"{rho} is said to be the width theorem's, which gives "
                                 f"{want} for this target, ε', δ and box")
    log = ticket.rss_log
    if log is not None:
        if int(meta.get("rss_failures", -1)) != int(log.failed.sum()):
            raise TicketMismatch("rss_failures", f"{meta.get('rss_failures')}, but the log has "
                                 f"{int(log.failed.sum())} failed instances")
        params = param_layers(target.layers)
        for m in range(log.n_instances):
            t, row, col = int(log.layer[m]), int(log.row[m]), int(log.col[m])
            if not 0 <= t < len(params):
                raise TicketMismatch("rss", f"row {m} names parameter layer {t}")
            layer = params[t]
            k = layer.weight.reshape(layer.weight.shape[0], -1)
            if not (0 <= row < k.shape[0] and -1 <= col < k.shape[1]):
                raise TicketMismatch("rss", f"row {m} names a parameter the target lacks")
            value = layer.bias[row] if col < 0 else k[row, col]
            if int(log.part[m]) == PART_NEGATIVE:
                value = -value
            if float(log.target[m]) != float(value):
                raise TicketMismatch("rss", f"row {m}: target {float(log.target[m])!r}, but "
                                     f"the target's parameter is {float(value)!r}")
    return ()


def check_conv_reported_failures(ticket, max_param_error: float, eps_param: float) -> None:
    """:func:`check_reported_failures` of a convolutional ticket, whose file may carry only
    the count (``rss_failures``) instead of the log."""
    failed = ticket.rss_log.failed.any() if ticket.rss_log is not None else (
        int(ticket.metadata.get("rss_failures", 0)) > 0)
    if failed:
        return
    if not math.isfinite(max_param_error) or max_param_error > eps_param * (1 + GAIN_RTOL):
        raise TicketMismatch("rss", f"the ticket reports no failed instance, but a represented "
                             f"parameter is off by {max_param_error:.6g} > ε' = {eps_param:g}")
