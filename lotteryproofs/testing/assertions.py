"""Assertions for property tests of lottery-ticket lemmas, with counterexamples in the message.

* :func:`assert_subnetwork` — the ticket is a subnetwork of its source: binary masks of the
  source's shapes, ticket parameters = source parameters × masks exactly (THEORY.md §0), and,
  given the source its seed determines, the ticket's source is that network.
* :func:`assert_within_certificate` — sampled and attacked inputs never exceed the certified
  bound (proofs/certificate-soundness.md), and a ticket that reports no RSS failure has every
  effective parameter within ε'.
* :func:`assert_rss_optimal` — a subset-sum result is the optimum of exhaustive enumeration
  decided in exact arithmetic (lotteryproofs.rss.oracle).

Each raises ``AssertionError`` naming the first counterexample found; none needs hypothesis.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from lotteryproofs.network import Box, Network

__all__ = ["assert_rss_optimal", "assert_subnetwork", "assert_within_certificate"]


def _where(kind: str, layer: int, index) -> str:
    index = tuple(int(i) for i in np.atleast_1d(index))
    return f"layer {layer} {kind}[{', '.join(map(str, index))}]"


# ------------------------------------------------------------------ subnetwork
def assert_subnetwork(ticket, source: Network | None = None) -> None:
    """The ticket keeps, and only keeps, parameters of its source network.

    Checks one weight and one bias mask per source layer, each binary (bool or 0/1) and shaped
    like its parameter; ``ticket.network`` = source × mask in every entry, exactly; and, when
    ``source`` is given (e.g. ``TicketCase.source``, redrawn from the construction's seed), that
    ``ticket.source`` is that network, parameter for parameter.
    """
    own = ticket.source
    if source is not None:
        if tuple(source.widths) != tuple(own.widths):
            raise AssertionError(f"the ticket's source has widths {own.widths}, the expected "
                                 f"source {source.widths}")
        for kind, mine, theirs in (("weight", own.weights, source.weights),
                                   ("bias", own.biases, source.biases)):
            for layer, (p, q) in enumerate(zip(mine, theirs, strict=True)):
                bad = np.argwhere(np.asarray(p) != np.asarray(q))
                if bad.size:
                    i = tuple(bad[0])
                    masks = ticket.weight_masks if kind == "weight" else ticket.bias_masks
                    kept = "kept" if bool(np.asarray(masks[layer])[i]) else "pruned"
                    raise AssertionError(
                        f"the ticket's source is not the expected random network: "
                        f"{_where(kind, layer, i)} ({kept}) is {float(np.asarray(p)[i])!r} "
                        f"in the ticket's source but {float(np.asarray(q)[i])!r} in the "
                        f"expected one ({len(bad)} entries differ in that layer)")
    for kind, masks, params in (("weight", ticket.weight_masks, own.weights),
                                ("bias", ticket.bias_masks, own.biases)):
        if len(masks) != len(params):
            raise AssertionError(f"{len(masks)} {kind} masks for {len(params)} source layers")
        for layer, (m, p) in enumerate(zip(masks, params, strict=True)):
            m = np.asarray(m)
            if m.shape != np.shape(p):
                raise AssertionError(f"layer {layer} {kind} mask has shape {m.shape}, the "
                                     f"parameter {np.shape(p)}")
            not_binary = np.argwhere((m != 0) & (m != 1))
            if not_binary.size:
                i = tuple(not_binary[0])
                raise AssertionError(f"{_where(kind + ' mask', layer, i)} = {m[i]!r} is not 0/1")
    net = ticket.network
    for kind, got, params, masks in (("weight", net.weights, own.weights, ticket.weight_masks),
                                     ("bias", net.biases, own.biases, ticket.bias_masks)):
        for layer, (q, p, m) in enumerate(zip(got, params, masks, strict=True)):
            expected = np.where(np.asarray(m, dtype=bool), p, 0.0)
            bad = np.argwhere(np.asarray(q) != expected)
            if bad.size:
                i = tuple(bad[0])
                raise AssertionError(
                    f"the ticket is not source × mask: {_where(kind, layer, i)} is "
                    f"{float(q[i])!r}, source {float(p[i])!r} × mask {int(np.asarray(m)[i])}")


# ------------------------------------------------------------------ certificate
def _points(box: Box, points, rng) -> np.ndarray:
    """Sample points, the centre, the point nearest 0, and (dimension ≤ 6) every corner."""
    if isinstance(points, int | np.integer) and not isinstance(points, bool):
        if points < 1:
            raise ValueError(f"points must be >= 1, got {points}")
        x = box.sample(int(points), rng)
    else:
        x = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if x.shape[1] != box.dim:
            raise ValueError(f"points have {x.shape[1]} coordinates, the box {box.dim}")
    special = [(box.lower + box.upper) / 2, np.clip(0.0, box.lower, box.upper)]
    if box.dim <= 6:
        bits = (np.arange(2**box.dim)[:, None] >> np.arange(box.dim)) & 1
        special += list(np.where(bits == 1, box.upper, box.lower))
    return np.concatenate([np.stack(special), x])


def assert_within_certificate(ticket, target: Network, box: Box, *, points=256,
                              attack: bool = True, rng=0, certificate=None) -> None:
    """No input of the box has output error above the ticket's certified bound.

    ‖f_T(x) − Λ⁻¹ f_S(x)‖_∞ is evaluated exactly (rational arithmetic) at ``points`` (a count
    of uniform samples drawn with ``rng``, or an array of inputs), the box centre, the point
    nearest 0 and, in dimension ≤ 6, every corner; with ``attack`` also at the worst input of
    the certificate's sign-gradient search started from them. Every value must be ≤
    ``certified_output_error`` of ``certificate`` (default: ``certify(ticket, target, box)``).
    When the ticket reports no failed RSS instance, the construction promised every effective
    parameter within ε' (THEORY.md §4), so the certificate's max parameter error, read back
    from the masks, must be ≤ ε' (up to the certificate's rounding allowance): a kept
    parameter that is not what the construction chose fails here even though the certified
    bound, recomputed from the masks, accounts for it.
    """
    from lotteryproofs.certify import (
        ROUNDING_RTOL,
        certify,
        exact_output_error,
        observed_output_error,
    )

    rng = np.random.default_rng(rng)
    cert = certify(ticket, target, box, rng=rng, n_samples=64) if certificate is None \
        else certificate
    bound = float(cert.certified_output_error)
    net, scale = ticket.network, ticket.scale
    x = _points(box, points, rng)
    floats = np.max(np.abs(target.forward(x) - net.forward(x) / scale), axis=1)
    # exact values at the float-worst inputs decide (float error is far below any gap that
    # matters, and the top few cover near-ties)
    order = np.argsort(-floats, kind="stable")[:8]
    worst = max(((exact_output_error(target, net, scale, x[i]), x[i]) for i in order),
                key=lambda item: item[0])
    if attack:
        found = observed_output_error(target, net, scale, box, rng=rng,
                                      n_samples=max(1, x.shape[0]))
        attacked = exact_output_error(target, net, scale, found.x)
        if attacked > worst[0]:
            worst = (attacked, found.x)
    if math.isfinite(bound) and worst[0] > Fraction(bound):
        raise AssertionError(
            f"output error {float(worst[0]):.6g} at x = {np.array2string(worst[1], precision=6)}"
            f" exceeds the certified bound {bound:.6g} (target widths {target.widths}, box "
            f"[{box.lower.tolist()}, {box.upper.tolist()}])")
    failures = ticket.rss_log.failed.sum() if ticket.rss_log is not None else \
        ticket.metadata.get("rss_failures")
    eps_param = float(cert.eps_param)
    if failures == 0 and cert.max_param_error > eps_param * (1 + ROUNDING_RTOL):
        raise AssertionError(
            f"max parameter error {cert.max_param_error:.6g} exceeds ε' = {eps_param:g} although "
            f"the ticket reports no failed RSS instance: a kept parameter is not what the "
            f"construction chose (target widths {target.widths}; certified bound {bound:.6g}, "
            f"worst error found {float(worst[0]):.6g} at x = "
            f"{np.array2string(worst[1], precision=6)})")


# ------------------------------------------------------------------ subset sum
def assert_rss_optimal(values, target, tol, result) -> None:
    """``result`` (a SubsetSumResult) is optimal for (``values``, ``target``).

    ``tol=None``: closest mode, the exact error equals the minimum over all subsets. Else
    sparsest mode: the smallest subset with exact error ≤ tol, or, when none exists,
    ``feasible`` is False and the subset is the closest one. Always: sorted distinct indices,
    ``value`` = Σ values[indices] and ``error`` = |target − value| correctly rounded. The
    optimum is taken over values[:result.n_used] (all values unless the solver searched a
    prefix), by exhaustive enumeration (at most 20 values).
    """
    from lotteryproofs.rss.oracle import (
        brute_force_min_error,
        brute_force_min_size,
        exact_subset_error,
    )

    values = np.asarray(values, dtype=np.float64)
    searched = values[: int(result.n_used)]
    idx = np.asarray(result.indices, dtype=np.int64)
    case = f"values {np.array2string(searched, precision=17)}, target {float(target)!r}"
    if idx.size and (np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= searched.size):
        raise AssertionError(f"indices {idx.tolist()} are not sorted, distinct positions ({case})")
    exact = exact_subset_error(searched, idx, target)
    if result.value != math.fsum(searched[idx]) or result.error != float(exact):
        raise AssertionError(
            f"reported value {result.value!r} / error {result.error!r} are not the exact "
            f"{math.fsum(searched[idx])!r} / {float(exact)!r} of indices {idx.tolist()} ({case})")
    best = brute_force_min_error(searched, target)
    if tol is None:
        if exact != best:
            raise AssertionError(f"closest subset {idx.tolist()} has error {float(exact)!r}, "
                                 f"enumeration finds {float(best)!r} ({case})")
        return
    k = brute_force_min_size(searched, target, tol)
    if k is None:
        if result.feasible or exact != best:
            raise AssertionError(
                f"no subset is within tol={tol!r}, but the result says feasible="
                f"{result.feasible} with error {float(exact)!r} (closest: {float(best)!r}) "
                f"({case})")
        return
    if not result.feasible or exact > Fraction(tol) or idx.size != k:
        raise AssertionError(
            f"sparsest subset within tol={tol!r} has {k} values; the result has {idx.size} "
            f"({idx.tolist()}, error {float(exact)!r}, feasible={result.feasible}) ({case})")
