"""Registry check of the L+1 construction for general activations (proofs/l-plus-one-general.md).

For every registered activation φ, on random targets whose later-layer biases are of order
½ (so that a constant channel assumed to output 1 instead of φ(c) would miss them), every
built ticket must satisfy, read back from its masks alone:

* ticket = source × mask, source activations (identity, φ, …, φ), Λ = 1 unless every φ is
  positively homogeneous (then the scaling lemma's Λ);
* every effective weight and bias within ε' of the target's, or its instance logged failed;
* each later-layer bias equals what the ticket's own forward pass computes from its constant
  neurons (x = 0, copy neurons cut off): v·φ(c) at the pre-activation c, not v·1;
* observed error on samples of the box ≤ the Lipschitz certificate
  (:func:`lotteryproofs.certify.lipschitz_output_error`).
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.theorems import CheckContext, CheckResult, Theorem

#: ε', ρ, the source bias factor β and the target widths of the check
EPS, RHO, BETA = 0.02, 24, 10.0
WIDTHS = ((2, 4, 3, 1), (1, 5, 2))
#: relative rounding allowance of the float forward passes that measure the error
FLOAT_PASSES = 1e-12


def constant_biases_by_forward(ticket, t: int) -> np.ndarray:
    """Source layer t+1's pre-activations at x = 0 with every weight out of a copy neuron
    removed, at unit scale: Σ v·φ(c) + b over the constants, by numpy's forward pass."""
    from lotteryproofs.construct import common
    from lotteryproofs.init import unit_scale
    from lotteryproofs.network import Network

    # at unit scale (the scaling lemma's g; the ticket itself when its layer scales are 1)
    unit, _ = unit_scale(ticket.network, ticket.metadata["layer_scales"])
    net = Network(unit.weights, unit.biases, activations=ticket.network.activations)
    weights = [np.array(w) for w in net.weights]
    owner = common.runs_to_owners(ticket.metadata["layout"]["owners"][t], net.biases[t].size)
    weights[t + 1][:, owner < ticket.metadata["target_widths"][t]] = 0.0
    h = np.zeros(net.widths[0])
    for k in range(t + 2):
        h = weights[k] @ h + net.biases[k]
        if k < t + 1:
            h = net.activations[k].forward(h)
    return h


def ticket_row(ticket, target, box, rng, n_samples: int) -> dict:
    """The measurements of the module docstring for one ticket."""
    from lotteryproofs.certify import lipschitz_output_error
    from lotteryproofs.construct import represented_layers
    from lotteryproofs.ticket import PART_BIAS, PART_POSITIVE

    log = ticket.rss_log
    failed = {(int(log.layer[m]), int(log.part[m]), int(log.row[m]), int(log.col[m]),
               int(log.copy[m])) for m in np.flatnonzero(log.failed)}
    reps = represented_layers(ticket)
    unreported = 0
    bias_mismatch = 0.0
    for t, (rep, w, b) in enumerate(zip(reps, target.weights, target.biases, strict=True)):
        for c, j, i in np.argwhere(np.abs(rep.positive - w[None]) > ticket.metadata["eps_param"]):
            unreported += (t, PART_POSITIVE, j, i, c) not in failed
        for c, j in np.argwhere(np.abs(rep.bias - b[None]) > ticket.metadata["eps_param"]):
            unreported += (t, PART_BIAS, j, -1, c) not in failed
        if t > 0:
            forward = constant_biases_by_forward(ticket, t)[: rep.bias.size]
            read = np.moveaxis(rep.bias, 0, 1).reshape(-1)  # row j·copies + c
            bias_mismatch = max(bias_mismatch, float(np.max(np.abs(read - forward))))
    net, source = ticket.network, ticket.source
    subnetwork = all(
        np.array_equal(q, np.where(m, p, 0.0))
        for q, p, m in zip((*net.weights, *net.biases), (*source.weights, *source.biases),
                           (*ticket.weight_masks, *ticket.bias_masks), strict=True))
    x = rng.uniform(box.lower, box.upper, (n_samples, box.dim))
    f = target.forward(x)
    observed = float(np.max(np.abs(ticket.approximation(x) - f)))
    certified = lipschitz_output_error(target, box, reps)
    return {"activation": target.activations[0].spec if target.activations else "-",
            "widths": list(target.widths), "failures": int(log.failed.sum()),
            "instances": int(log.failed.size), "unreported_errors_above_eps": unreported,
            "bias_readback_vs_forward": bias_mismatch, "subnetwork": subnetwork,
            "scale": float(ticket.scale), "observed_error": observed, "certified": certified,
            "within": observed <= certified + FLOAT_PASSES * (1 + float(np.max(np.abs(f))))}


def check_l_plus_one_general(ctx: CheckContext) -> CheckResult:
    from lotteryproofs.activations import ACTIVATIONS, scaling_lemma_holds
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Box, Network
    from lotteryproofs.targets import random_target

    rows, passed = [], True
    for name in ACTIVATIONS:
        for widths in WIDTHS + (((3, 6, 5, 4, 2),) if ctx.thorough else ()):
            drawn = random_target(widths, ctx.rng, zero_fraction=0.2)
            target = Network(drawn.weights, tuple(b / 2 for b in drawn.biases), activation=name)
            box = Box.cube(-1.0, 1.0, widths[0])
            ticket = construct(target, "l+1-general", eps_param=EPS, delta=0.1, rng=ctx.rng,
                               domain=box, rho=RHO, init_options={"bias_factor": BETA})
            r = ticket_row(ticket, target, box, ctx.rng, 4000 if ctx.thorough else 1000)
            homogeneous = scaling_lemma_holds(target.activations)
            ok = (r["subnetwork"] and (homogeneous or r["scale"] == 1.0)
                  and r["unreported_errors_above_eps"] == 0
                  and r["bias_readback_vs_forward"] <= 1e-12 and r["within"])
            passed &= ok
            rows.append(r)
    fails = sum(r["failures"] for r in rows)
    total = sum(r["instances"] for r in rows)
    worst = max(r["observed_error"] / max(r["certified"], 1e-300) for r in rows)
    unreported = sum(r["unreported_errors_above_eps"] for r in rows)
    failing = [r for r in rows if not (r["subnetwork"] and r["within"])]
    return CheckResult(
        passed=passed,
        measured=(f"{len(rows)} tickets over {len(ACTIVATIONS)} activations: subnetwork, "
                  f"errors ≤ ε'={EPS} or reported ({fails}/{total} failed, {unreported} "
                  f"above ε' unreported), biases = v·φ(c) by forward, max observed/certified "
                  f"= {worst:.3g}" + (f"; {len(failing)} tickets not a subnetwork or over "
                                       "their certificate" if failing else "")),
        details={"eps_param": EPS, "rho": RHO, "bias_factor": BETA, "tickets": rows},
    )


THEOREMS = (
    Theorem(
        key="construct.l-plus-one-general",
        title="L+1 construction for general activations",
        claim="linear first layer + φ-layers with constants φ(c): every parameter within ε' "
              "or reported; error ≤ the Lipschitz recursion",
        theory="§9, §5",
        document="proofs/l-plus-one-general.md",
        code=("lotteryproofs.construct.l_plus_one_general:build",
              "lotteryproofs.construct.l_plus_one_general:represent",
              "lotteryproofs.construct.l_plus_one:_solve_copy_layer",
              "lotteryproofs.certify.lipschitz:lipschitz_output_error",
              "lotteryproofs.checks.activations:check_l_plus_one_general"),
        tests=("tests/test_activation_constructions.py::"
               "test_random_targets_every_parameter_and_the_certificate",
               "tests/test_activation_constructions.py::"
               "test_large_biases_of_later_layers_are_reproduced",
               "tests/test_activation_constructions.py::test_the_phi_equals_one_shortcut_is_caught",
               "tests/test_activation_constructions.py::"
               "test_every_method_activation_pair_is_built_or_refused_by_name",
               "tests/test_activation_constructions.py::"
               "test_the_certificate_uses_the_activation_lipschitz_constant"),
        check=check_l_plus_one_general,
    ),
)
