"""The certificate of a ticket: observed ≤ certified ≤ a-priori output errors (THEORY.md §5).

For a target f_T, a ticket f_S with output scale Λ and an input box D:

* **observed** — a true lower bound of sup_D ‖f_T − Λ⁻¹ f_S‖_∞ (:mod:`certify.observed`);
* **certified** — a rigorous upper bound: the smallest of the §5 recursion with the ticket's
  actual represented parameters (:mod:`certify.bound`), the differential bound
  (:mod:`certify.differential`), the linear differential bound (:mod:`certify.symbolic`)
  and the a-priori bound made rigorous for the rounding of Λ,
  the latter only when every represented parameter is provably within ε' (its hypothesis);
  ``certified_method`` says which one won, ``certified_bounds`` holds every candidate;
* **a-priori** — the §5 closed form (bounds.py) for the ε' the ticket was built with, the
  target's norms a_l, k_l and the same rigorous B_l; for L+1 the gain bound G_l = ρ·max|v|
  (the source draw's largest unit-scale weight), since THEORY.md gives no a-priori bound on
  Σ_{r∈S}|v_r|.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.background import Background
from lotteryproofs.network import Box, Network
from lotteryproofs.rounding import UNIT_ROUNDOFF, up
from lotteryproofs.rounding import up as _up  # the name a_priori_gains has always used
from lotteryproofs.ticket import Ticket

from .bound import (
    check_represented,
    max_param_errors,
    rigorous_activation_bounds,
    rigorous_preactivation_bounds,
    with_scale_slack,
)
from .candidates import rigorous_bounds, ticket_copies, ticket_layers
from .observed import observed_output_error, represented_network
from .rounding import RoundingSlack

#: Inputs of at most this dimension also get the bound of a fixed split of the box into
#: AUTO_SPLIT_CELLS cells (deterministic: a cell count, not a time limit), the largest cell
#: bound first (:mod:`certify.split`); the split's cell corners also feed the observed error.
AUTO_SPLIT_DIM = 2
AUTO_SPLIT_CELLS = 32

#: Relative room between certified and a-priori for the rounding terms only the certified bound
#: carries (γ_K-sized, K ≤ a few hundred: far below this).
ROUNDING_RTOL = 1e-12
#: Absolute room for the same terms where the bounds are subnormal (an all-zero target: each
#: rounding step up moves a bound by one subnormal ulp, 2⁻¹⁰⁷⁴, and a dot product's error term
#: carries 2N·η, η = 2⁻¹⁰²²). 2⁻¹⁰⁰⁰ is 2²² such η: far more than any certificate's chain of
#: operations, far below any error a certificate reports.
ROUNDING_ATOL = 2.0**-1000


#: Default restarted rounds of the observed search on small tickets (the search only adds
#: candidates, so the observed error never falls) and the size below which they are the default.
OBSERVED_RESTARTS = 3
CHEAP_SEARCH_PARAMS = 200_000


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
    #: which rigorous bound is ``certified_output_error``: "recursion", "differential",
    #: "linear-differential", "back-substitution", "split" or "a-priori"
    certified_method: str = "recursion"
    #: every rigorous candidate (method → value; None where its hypothesis is not proved)
    certified_bounds: dict | None = None
    #: how the observed error was found (samples, ascent restarts, exact recomputations)
    observed_search: dict | None = None
    #: what the a-priori bound is when it is not the §5 closed form (a convolutional ticket's:
    #: the per-output-channel ℓ1 recursion); None for the closed form
    a_priori_kind: str | None = None

    @property
    def observed_exact(self) -> bool:
        """Whether the observed error was recomputed exactly at the worst input (the ReLU
        path); the Lipschitz path's is a float64 estimate (``observed_search.exact`` False:
        φ has no exact evaluation)."""
        return bool((self.observed_search or {}).get("exact", True))

    @property
    def a_priori_proven(self) -> bool:
        """Whether an a-priori bound exists (∞ where none is proven)."""
        return math.isfinite(self.a_priori_output_error)

    @property
    def a_priori_holds(self) -> bool:
        """Whether the a-priori bound bounds this ticket's error: it is proven and its
        hypothesis (every represented parameter within ε') holds — as the certified table
        decided it (rounding slack included), or, for a certificate whose table has no
        a-priori candidate (a convolutional one), by the measured errors."""
        table = self.certified_bounds or {}
        within = (table["a-priori"] is not None if "a-priori" in table
                  else self.max_param_error <= self.eps_param)
        return self.a_priori_proven and within

    @property
    def observed_method(self) -> str:
        if self.observed_exact:
            return "samples, projected gradient ascent, exact recomputation"
        return "samples and the box's corners, float64 estimate"

    @property
    def a_priori_method(self) -> str:
        if self.a_priori_proven:
            return f"{self.a_priori_kind or 'closed form of THEORY.md §5'} for the ticket's ε'"
        return "none proven for this target"

    @property
    def ordered(self) -> bool:
        """observed ≤ certified ≤ a-priori (the last only meaningful without RSS failures).

        The a-priori bound is about exact represented parameters; the certified one also carries
        the rounding of the read-back and of Λ (Lemma 5 of proofs/certificate-soundness.md), so
        the second comparison allows :data:`ROUNDING_RTOL` relative and :data:`ROUNDING_ATOL`
        absolute (subnormal bounds).
        """
        return self.observed_output_error <= self.certified_output_error and (
            self.certified_output_error
            <= self.a_priori_output_error * (1 + ROUNDING_RTOL) + ROUNDING_ATOL
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
                "certified_method": self.certified_method,
                "certified_bounds": None
                if self.certified_bounds is None
                else {k: num(v) for k, v in self.certified_bounds.items()},
                "observed_method": self.observed_method,
                "observed_search": self.observed_search,
                "a_priori_method": self.a_priori_method,
                "a_priori_output_error": num(self.a_priori_output_error),
                "a_priori_gains": None
                if self.a_priori_gains is None
                else [num(g) for g in self.a_priori_gains],
                "domain": self.domain.to_json(),
            },
            "rss": self.rss,
            "time_s": self.time_s,
        }


def within_eps_param(w_err: float, b_err: float, eps_param: float,
                     slack: RoundingSlack | None) -> bool:
    """Every represented parameter provably within ε' of the target's: the measured float
    errors plus the largest bound on their own rounding (``slack``), rounded up, ≤ ε'."""
    if slack is None:
        return max(w_err, b_err) <= eps_param
    s_w = max((float(np.max(s)) for s in slack.weights if np.size(s)), default=0.0)
    s_b = max((float(np.max(s)) for s in slack.bias if np.size(s)), default=0.0)
    return float(up(w_err + s_w)) <= eps_param and float(up(b_err + s_b)) <= eps_param


def gains_within_budget(spec, norms, represented, slack: RoundingSlack | None) -> bool:
    """Bounded-gain L+1: whether the ticket's own gain of every copy layer l ≥ 2, read from its
    masks (max_{c,j} Σ_i max(gain, |positive|) plus its rounding bound, rounded up), is at most
    the a_l + γ·k_l the registered bound assumes (γ = ``spec.gain_budget``;
    proofs/bounded-gain-l+1.md). The method name alone does not back the bound: a ticket built
    with a larger γ_l, or a plain L+1 ticket relabelled, must fail this. True for the other
    constructions (their a-priori gains need no such check)."""
    if not spec.bounded_gain:
        return True
    from fractions import Fraction

    for t in range(1, len(represented)):
        rep = represented[t]
        g = np.maximum(np.asarray(rep.gain), np.abs(np.asarray(rep.positive)))
        if slack is not None:
            g = up(g + slack.weights[t])
        row = max((math.fsum(r) for r in g.reshape(-1, g.shape[-1])), default=0.0)
        if Fraction(float(up(row))) > (Fraction(norms.a[t])
                                       + Fraction(spec.gain_budget) * norms.k[t]):
            return False
    return True


def _certified_fields(bounds: dict, a_priori: float, hypothesis: bool,
                      slack: RoundingSlack | None, pre) -> dict:
    """The Certificate's ``certified_output_error``, ``certified_method`` and
    ``certified_bounds``."""
    value, which, table = _smallest_bound(bounds, a_priori, hypothesis, slack, pre)
    return {"certified_output_error": value, "certified_method": which,
            "certified_bounds": table}


def _smallest_bound(bounds: dict, a_priori: float, hypothesis: bool,
                    slack: RoundingSlack | None, pre) -> tuple[float, str, dict]:
    """The smallest rigorous bound as the certified bound, which one it is, and the table.

    ``bounds`` maps a method name to a rigorous upper bound of the sup (each already carries
    the read-back's and Λ's rounding). The a-priori bound holds for the exact represented
    parameters when each is within ε' (``hypothesis``); Λ's rounding adds s·(max|f_T| + e)
    as for the others (proofs/certificate-soundness.md, Lemma 5). Ties go to the earlier
    entry of ``bounds`` (the recursion first), then the a-priori bound.
    """
    table = dict(bounds)
    if hypothesis and math.isfinite(a_priori):
        table["a-priori"] = with_scale_slack(a_priori, slack, pre)
    else:
        table["a-priori"] = None
    which = min((k for k, v in table.items() if v is not None), key=lambda k: table[k])
    return table[which], which, table


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
    observed_restarts: int | None = None,
) -> Certificate:
    """The certificate of DESIGN.md for ``ticket`` against ``target`` over ``domain``.

    ``domain`` is a Box or (LO, HI) for [LO, HI]^{n_0}; ``rng`` drives the samples of the
    observed error (default seed 0: the same call gives the same certificate). ``represented``
    overrides ``construct.represented_layers(ticket)`` (tests with hand-made layers; then no
    rounding slack for the read-back is added, the layers being taken as exact).
    ``observed_restarts`` adds restarted gradient-ascent rounds to the observed search
    (:func:`certify.observed.observed_output_error`; 0 keeps the historical search; None:
    :data:`OBSERVED_RESTARTS` rounds when the ticket has at most :data:`CHEAP_SEARCH_PARAMS`
    parameters, where they cost milliseconds, else 0). The JSON's ``observed_search`` says
    how many inputs and restarts were used.
    """
    # the §5 bound's value without sympy (its import would cost more than this set-up)
    from lotteryproofs import a_priori
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

    if not target.is_relu:  # other activations: the separate Lipschitz path
        from .lipschitz import lipschitz_certificate_fields

        return Certificate(**lipschitz_certificate_fields(
            ticket, target, box, construction, eps_param, rng=rng, n_samples=n_samples,
            start=start, represented=represented))
    if represented is None:
        represented, slack = ticket_layers(ticket, ticket_network)
        copies = ticket_copies(ticket, represented, ticket_network)
    else:
        slack = copies = None
    represented = tuple(represented)
    check_represented(target, represented)

    search_network = None
    if slack is not None and ticket_network.n_params > CHEAP_SEARCH_PARAMS:
        # a large ticket: search on the target-sized network its represented layers define
        # (the value is still recomputed exactly on the ticket); small tickets keep the
        # historical search on the ticket itself (tests/test_regression.py)
        search_network = represented_network(represented)
    if observed_restarts is None:
        searched = ticket_network if search_network is None else search_network
        observed_restarts = (OBSERVED_RESTARTS if searched.n_params
                             <= CHEAP_SEARCH_PARAMS else 0)
    # the observed search (its own rng, read-only inputs) runs beside the rigorous bounds,
    # which draw nothing: the same values as one after the other (lotteryproofs.background)
    search = Background(
        observed_output_error, target, ticket_network, ticket.scale, box, rng=rng,
        n_samples=n_samples, restarts=observed_restarts, search_network=search_network,
        name="observed-search")
    pre = rigorous_preactivation_bounds(target, box)
    rigorous = rigorous_bounds(target, box, represented, slack, pre=pre, copies=copies)
    w_err, b_err = max_param_errors(target, box, represented)
    hypothesis = within_eps_param(w_err, b_err, eps_param, slack)
    observed = search.result()
    worst_value, worst_x = observed.value, observed.x
    search = dict(observed.search or {})
    if box.dim <= AUTO_SPLIT_DIM:
        from .split import split_certify

        cells = split_certify(
            ticket, target, box, 1.0, observed=worst_value, observed_x=worst_x,
            time_limit=math.inf, max_cells=AUTO_SPLIT_CELLS, represented=represented,
            slack=slack, copies=copies,
        )
        rigorous["split"] = cells.certified
        search["split_cells"] = cells.cells  # their corners and centres were evaluated too
        if cells.observed > worst_value:  # an exact value at a cell's corner or centre
            worst_value, worst_x = cells.observed, cells.worst_input
    norms = a_priori.target_norms(
        target,
        rigorous_activation_bounds(target, box, pre),
        input_has_negative=bool(box.has_negative.any()),
    )
    gains = a_priori_gains(ticket, represented, construction.bound)
    bound = a_priori.a_priori_output_error(construction.bound, norms, eps_param, gains=gains)
    bound = float(np.nextafter(float(bound), np.inf)) if mpmath.isfinite(bound) else math.inf
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
        source_widths=tuple(ticket.source_widths),
        source_params=ticket.source_params,
        ticket_params_nonzero=ticket_network.count_nonzero(),
        scale=float(ticket.scale),
        max_param_error=max(w_err, b_err),
        max_weight_error=w_err,
        max_bias_error=b_err,
        observed_output_error=worst_value,
        # the smaller rigorous bound, and which one it is
        **_certified_fields(rigorous, bound, hypothesis and gains_within_budget(
            construction.bound, norms, represented, slack), slack, pre),
        a_priori_output_error=bound,
        domain=box,
        rss=rss,
        time_s=round(time.perf_counter() - start, 3),
        worst_input=worst_x,
        observed_search=search,
        a_priori_gains=gains,
    )
