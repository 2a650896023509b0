"""The certificate of a convolutional ticket (proofs/conv-error-recursion.md).

The same three numbers as :func:`certify.certificate.certify`, for a target of Conv2d, Dense,
pooling, Flatten and residual layers and its :class:`~lotteryproofs.ticket.ConvTicket`:

* **observed** — max of ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ over random inputs of the box and its centre
  and two constant corners (float64 estimate; the worst input is recomputed exactly, and the
  exact value rounded down is reported, when ``exact`` holds);
* **certified** — the per-pixel §5 recursion with the represented parameters read back from
  the masks (:func:`certify.bound.certified_conv_ticket_error`, outward-rounded);
* **a-priori** — the per-output-channel ℓ1 recursion at the ticket's ε'
  (:func:`lotteryproofs.bounds.conv_a_priori_error`; float, not outward-rounded: it assumes
  exact represented parameters, as the dense §5 closed form does).
"""

from __future__ import annotations

import math
import time

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network, network_sha256

from .certificate import Certificate

#: The certificate's a_priori_method for a convolutional ticket (no closed form: the recursion)
A_PRIORI_KIND = "per-output-channel ℓ1 recursion (proofs/conv-error-recursion.md)"


def conv_param_errors(target: Network, box: Box, represented) -> tuple[float, float]:
    """(max weight error, max bias error) of the represented parameters: |P̃ − K| everywhere,
    |Ñ + K| on the columns whose input can be negative, |b̃ − b| (float64)."""
    from lotteryproofs.construct.conv_two_layer import _patch_columns, input_signs, param_layers

    w_err = b_err = 0.0
    signs = input_signs(target, box)
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers), represented,
                                         strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        cols = _patch_columns(signs[t], layer)
        # every copy (L+1: ρ per hidden channel) is an effective parameter of its own
        w_err = max(w_err, float(np.max(np.abs(rep.positive - k), initial=0.0)))
        if cols.any():
            w_err = max(w_err, float(np.max(np.abs(rep.negative + k)[:, :, cols])))
        b_err = max(b_err, float(np.max(np.abs(rep.bias - layer.bias), initial=0.0)))
    return w_err, b_err


def conv_gains_within_budget(target: Network, represented, eps_param: float,
                             gain_budget: float, slack=None) -> bool:
    """Bounded-gain conv L+1: whether every copy layer (parameter layer t ≥ 2) has, read from
    the masks, per copy m and output channel o

        Σ_{i,p,q} (max(G, |P̃|) + rounding slack)  ≤  ‖K_o‖₁ + γ·#{|K_o| > ε'}

    (the left side summed and rounded up, the right side exact in rationals): the hypothesis
    of the a-priori recursion with ``gain_budget`` (proofs/conv-l-plus-one.md, "Bounded
    gain"). The method name alone does not back that bound: a ticket whose masks break it
    gets no a-priori claim."""
    from fractions import Fraction

    from lotteryproofs.conv_params import param_layers
    from lotteryproofs.rounding import up

    gamma = Fraction(float(gain_budget))
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers), represented,
                                         strict=True)):
        if t == 0:
            continue  # conv 2L's pair: its gain multiplies e_0 = 0
        k = np.abs(layer.weight.reshape(layer.weight.shape[0], -1))
        g = np.maximum(np.asarray(rep.gain), np.abs(np.asarray(rep.positive)))
        if slack is not None:
            g = up(g + slack.weights[t])
        for o in range(k.shape[0]):
            limit = (sum((Fraction(float(v)) for v in k[o]), Fraction(0))
                     + gamma * int(np.count_nonzero(k[o] > eps_param)))
            for m in range(g.shape[0]):
                if Fraction(float(up(math.fsum(g[m, o])))) > limit:
                    return False
    return True


def _observed(target, ticket, box, rng, n_samples: int, exact: bool):
    special = np.stack([(box.lower + box.upper) / 2, box.lower, box.upper])
    x = np.concatenate([special, box.sample(n_samples, rng)])
    err = np.max(np.abs(ticket.approximation(x) - target.forward(x)), axis=1)
    worst = int(np.argmax(err))
    value = float(err[worst])
    if exact:
        from .exact import exact_output_error, float_down

        value = float_down(exact_output_error(target, ticket.compact_network(), ticket.scale,
                                              x[worst]))
    return value, x[worst], {"samples": int(x.shape[0]), "restarts": 0, "exact": bool(exact)}


def certify_conv(ticket, target: Network, box: Box, *, rng=0, n_samples: int = 10_000,
                 exact: bool = True) -> Certificate:
    """The certificate of a convolutional ticket over ``box`` (module docstring)."""
    from lotteryproofs.bounds import conv_a_priori_error
    from lotteryproofs.construct.registry import get_conv_construction

    from .bound import certified_conv_error, conv_read_back

    start = time.perf_counter()
    meta = ticket.metadata
    sha = network_sha256(target)
    if meta.get("target_sha256") != sha:
        raise _validate.InputError(
            f"the ticket was built for target {meta.get('target_sha256')!r}, not this target "
            f"(sha256 {sha})")
    eps_param = _validate.positive("the ticket's eps_param", meta.get("eps_param"))
    rng = _validate.rng(rng)
    construction = get_conv_construction(meta.get("method"))
    # one read-back of the masks for the parameter errors, the certified recursion and the
    # gain check
    represented, slack = conv_read_back(ticket)
    w_err, b_err = conv_param_errors(target, box, represented)
    certified = certified_conv_error(target, box, represented, slack)
    # the a-priori recursion assumes gains |w| + ε' (conv 2L); the L+1 gains Σ_S|v| have no
    # such bound, so no a-priori value is claimed for it, unless the construction bounds them
    # (γ) and the masks show it
    if construction.a_priori_width:
        a_priori = float(np.nextafter(conv_a_priori_error(target, box, eps_param), np.inf))
    elif construction.gain_budget is not None and conv_gains_within_budget(
            target, represented, eps_param, construction.gain_budget, slack):
        a_priori = float(np.nextafter(conv_a_priori_error(
            target, box, eps_param, gain_budget=construction.gain_budget), np.inf))
    else:
        a_priori = math.inf
    observed, worst_x, search = _observed(target, ticket, box, rng, n_samples, exact)
    log = ticket.rss_log
    rss = log.summary() if log is not None else meta.get("rss_summary")
    return Certificate(
        method=str(meta.get("method")), init=meta.get("init"), seed=meta.get("seed"),
        eps_param=eps_param, delta=meta.get("delta"), target_sha256=sha,
        target_widths=tuple(target.widths), target_params_nonzero=target.count_nonzero(),
        source_widths=tuple(ticket.source_widths), source_params=ticket.source_params,
        ticket_params_nonzero=ticket.count_nonzero(), scale=float(ticket.scale),
        max_param_error=max(w_err, b_err), max_weight_error=w_err, max_bias_error=b_err,
        observed_output_error=observed, certified_output_error=certified,
        a_priori_output_error=a_priori if math.isfinite(a_priori) else math.inf,
        domain=box, rss=rss, time_s=round(time.perf_counter() - start, 3), worst_input=worst_x,
        certified_method="conv-recursion", certified_bounds={"conv-recursion": certified},
        observed_search=search, a_priori_kind=A_PRIORI_KIND)
