"""The rigorous upper bounds a certificate chooses from, on one box, and the ticket's
represented layers they read (proofs/certificate-soundness.md, proofs/certificate-differential.md).
"""

from __future__ import annotations

from lotteryproofs import _validate
from lotteryproofs.network import Box, Network
from lotteryproofs.ticket import Ticket

from .bound import certified_output_error, rigorous_preactivation_bounds
from .crown import crown_output_error
from .differential import differential_output_error
from .rounding import RoundingSlack, rounding_slack
from .symbolic import linear_differential_output_error


def rigorous_bounds(target: Network, box: Box, represented, slack: RoundingSlack | None,
                    *, pre=None, copies=None) -> dict:
    """Every rigorous upper bound of sup_box ‖f_T − Λ⁻¹ f_S‖_∞ that needs no hypothesis,
    by method name (the recursion first): proofs/certificate-soundness.md and
    proofs/certificate-differential.md. A method that does not apply to the ticket (the
    back-substitution with several copies per neuron and no per-copy weights ``copies``,
    :func:`ticket_copies`) is None."""
    v, v_slack = (None, None) if copies is None else copies
    pre = rigorous_preactivation_bounds(target, box) if pre is None else pre
    return {
        "recursion": certified_output_error(target, box, represented, slack, pre=pre),
        "differential": differential_output_error(target, box, represented, slack, pre=pre),
        "linear-differential": linear_differential_output_error(
            target, box, represented, slack, pre=pre
        ),
        "back-substitution": crown_output_error(target, box, represented, slack, pre=pre,
                                                copy_weights=v, copy_slack=v_slack),
    }


def ticket_layers(ticket: Ticket, network: Network | None = None):
    """(represented layers, rounding slack) of a ticket, read from its masks; ``network`` is
    ``ticket.network`` when the caller holds it (each access builds a dense copy). The
    ticket's own network is read once and the read-back kept on the ticket
    (:func:`lotteryproofs.construct.read_back`)."""
    from lotteryproofs.construct import LayoutError, read_back, represented_layers

    try:
        if network is None or network is ticket.network:
            represented, absolute = read_back(ticket)
        else:
            represented = represented_layers(ticket, network)
            # the ticket over |θ|: its masked network is |f_S|'s parameters, so read it
            absolute = represented_layers(ticket, network.absolute())
    except LayoutError as exc:
        raise _validate.InputError(
            f"the ticket's masks do not have the layout its metadata claims: {exc}"
        ) from None
    return tuple(represented), rounding_slack(ticket, absolute, depth_source=ticket.source.depth)


def ticket_copies(ticket: Ticket, represented, network: Network | None = None):
    """(V, slack of V) per layer for a ticket with copies (:mod:`certify.copies`), or None."""
    from .copies import copy_weight_slack, copy_weights

    v = copy_weights(ticket, represented, network)
    if v is None:
        return None
    depth = ticket.source.depth
    return v, tuple(None if m is None else copy_weight_slack(m, depth) for m in v)
