"""Registry check of the bounded-gain L+1 construction (proofs/bounded-gain-l+1.md).

On random targets, at an ε' where plain L+1's sparsest subsets do exceed the budget
(ε' = 10⁻⁴: subsets of 3–5 copies; at 2·10⁻⁴ the tiled source gave plain L+1 subsets within
the budget on both targets, so the mutant passed) and at one where tickets come out without
failures (ε' = 0.1), every built ticket must satisfy, read back from its masks alone:

* per represented weight of a copy layer (target layer l ≥ 2): Σ_{r∈S}|v_r| ≤ |w| + γ, and 0
  where the target weight is skipped (|w| ≤ ε');
* per layer: g_l = max_j Σ_i Σ_{r∈S_ji}|v_r| ≤ a_l + γ k_l, the a-priori gain of bounds.py;
* on tickets with no failed instance: the §5 recursion with the ticket's actual errors and
  gains (certify.certified_output_error, the a-posteriori bound) ≤ the a-priori bound of the
  ticket's certificate — the a-priori bound must dominate what the ticket achieves.

A construction whose copy layers ignore the constraint (plain L+1 subsets under this name)
fails the first item: tests/test_bounded_gain.py runs that mutant through this check.
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs.network import Box, Network
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem

#: (ε', ρ, ρ_in, target widths) of the two regimes: the constraint binds / tickets without
#: failures (several small targets, so that some ticket has none and the ordering is tested).
CASES = ((1e-4, 40, 40, ((3, 5, 4, 2), (4, 6, 3))),
         (0.1, 40, 60, ((4, 6, 3), (3, 5, 2), (3, 4, 4, 2), (2, 5, 2))))


def gain_violations(ticket, target, budget: float) -> dict:
    """Measured gains of a ticket's copy layers against |w| + γ and a_l + γ k_l."""
    from lotteryproofs import bounds
    from lotteryproofs.construct import represented_layers

    layers = represented_layers(ticket)
    eps_param = float(ticket.metadata["eps_param"])
    per_weight = per_layer = 0
    worst = 0.0
    for t in range(1, target.depth):
        w = target.weights[t]
        gain = np.asarray(layers[t].gain)  # (copies, out, in)
        allowed = np.where(np.abs(w) > eps_param, np.abs(w) + budget, 0.0)
        per_weight += int(np.count_nonzero(gain > allowed[None]))
        row = float(gain.sum(axis=2).max())
        a_l = bounds._fsum_up_rows(np.abs(w))
        k_l = int(np.count_nonzero(w, axis=1).max())
        per_layer += int(row > a_l + budget * k_l)
        worst = max(worst, float(np.max(gain - allowed[None], initial=-math.inf)))
    return {"per_weight": per_weight, "per_layer": per_layer, "worst_excess": worst}


def check_construction(construction, ctx: CheckContext) -> CheckResult:
    """The check of the module docstring for ``construction`` (the registered one, or a
    mutant in the tests)."""
    from lotteryproofs.certify import certified_output_error, certify
    from lotteryproofs.construct import bounded_gain, construct, represented_layers
    from lotteryproofs.targets import random_target

    budget = bounded_gain.GAIN_BUDGET
    rows, passed = [], True
    for eps_param, rho, rho_in, widths in CASES:
        for w in widths + (((3, 6, 5, 4, 2),) if ctx.thorough else ()):
            drawn = random_target(w, ctx.rng, zero_fraction=0.2)
            # biases halved: the bias pools (≈ ρ/2 positive constants) then rarely fail,
            # so the certified ≤ a-priori ordering is exercised on failure-free tickets
            target = Network(drawn.weights, tuple(b / 2 for b in drawn.biases))
            box = Box.cube(-1.0, 1.0, w[0])
            ticket = construct(target, construction, eps_param=eps_param, delta=0.1,
                               rng=ctx.rng, domain=box, rho=rho, rho_in=rho_in)
            v = gain_violations(ticket, target, budget)
            failures = int(ticket.rss_log.failed.sum())
            cert = certify(ticket, target, box, rng=ctx.rng, n_samples=500)
            recursion = certified_output_error(target, box, represented_layers(ticket))
            ordered = failures > 0 or recursion <= cert.a_priori_output_error
            ok = v["per_weight"] == 0 and v["per_layer"] == 0 and ordered
            passed &= ok
            rows.append({"widths": list(w), "eps_param": eps_param, "rho": rho,
                         "failures": failures, **v,
                         "recursion": recursion, "certified": cert.certified_output_error,
                         "a_priori": cert.a_priori_output_error, "ordered": ordered})
    clean = [r for r in rows if r["failures"] == 0]
    passed &= bool(clean)  # the ordering must have been tested at least once
    return CheckResult(
        passed=passed,
        measured=(f"{len(rows)} tickets: gain > |w|+γ in {sum(r['per_weight'] for r in rows)} "
                  f"weights, layer gain > a_l+γk_l in {sum(r['per_layer'] for r in rows)} "
                  f"layers; {len(clean)} without failures, certified ≤ a-priori in "
                  f"{sum(r['ordered'] for r in clean)}"),
        details={"gain_budget": budget, "tickets": rows},
    )


def check_bounded_gain(ctx: CheckContext) -> CheckResult:
    from lotteryproofs.construct import bounded_gain

    return check_construction(bounded_gain.CONSTRUCTION, ctx)


THEOREMS = (
    Theorem(
        key="construct.l-plus-one-bounded",
        title="bounded-gain L+1 construction",
        claim="copy-layer gains Σ|v| ≤ |w| + γ, so g_l ≤ a_l + γk_l a priori; a-posteriori "
              "≤ a-priori without failures",
        theory="§4.3, §5",
        document="proofs/bounded-gain-l+1.md",
        code=("lotteryproofs.rss:sparsest_subset_sum_batch",
              "lotteryproofs.rss:bounded_gain_sparsest_brute_force",
              "lotteryproofs.construct.bounded_gain:engine_gain_slack",
              "lotteryproofs.construct.l_plus_one:build",
              "lotteryproofs.bounds:layer_gains_and_injections",
              "lotteryproofs.checks.bounded_gain:gain_violations",
              "lotteryproofs.checks.bounded_gain:check_bounded_gain"),
        tests=("tests/test_bounded_gain.py::test_bounded_gain_sparsest_equals_oracle",
               "tests/test_bounded_gain.py::test_constraint_excludes_the_unconstrained_optimum",
               "tests/test_bounded_gain.py::test_check_fails_when_the_constraint_is_dropped"),
        check=check_bounded_gain,
    ),
)
