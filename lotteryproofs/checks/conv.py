"""Registry checks of the convolutional 2L and L+1 constructions and their error recursion
(proofs/conv-2l-construction.md, proofs/conv-l-plus-one.md, proofs/conv-error-recursion.md).

On random conv targets (1–2 conv layers with padding 0–1 and strides 1–2, Flatten, Linear):
the ticket is source × mask, every effective parameter read back from the masks is within ε'
or its instance is reported failed, the output error on sampled inputs (border pixels
included) is ≤ the certified bound; and the a-priori recursion bounds targets whose every
parameter moved by ε' (conv and residual).
"""

from __future__ import annotations

import numpy as np

from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network
from lotteryproofs.residual import Residual
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem

EPS_PARAM = 1e-2
RHO = 40


def _conv(rng, out, shape, k, s, p):
    return Conv2d(rng.uniform(-0.5, 0.5, (out, shape[0], k, k)), rng.uniform(-0.5, 0.5, out),
                  stride=s, padding=p, input_shape=shape)


def random_conv_target(rng, *, residual: bool = False) -> Network:
    """A small random conv target (or one with an identity residual block)."""
    c, size = int(rng.integers(1, 4)), int(rng.integers(4, 8))
    first = _conv(rng, int(rng.integers(1, 4)), (c, size, size), int(rng.integers(2, 4)),
                  int(rng.integers(1, 3)), int(rng.integers(0, 2)))
    layers, acts = [first], [RELU]
    shape = first.output_shape
    if residual:
        body = (_conv(rng, 3, shape, 3, 1, 1), _conv(rng, shape[0], (3, *shape[1:]), 1, 1, 0))
        layers.append(Residual(body, (RELU,)))
        acts.append(RELU)
    flat = Flatten(input_shape=shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    return Network.from_layers(layers + [flat, dense], acts + [IDENTITY])


def check_conv_two_layer(ctx: CheckContext) -> CheckResult:
    from lotteryproofs.certify.bound import certified_conv_ticket_error
    from lotteryproofs.construct.conv_two_layer import (
        construct_conv,
        param_layers,
        represented_layers,
    )

    rng = ctx.rng
    worst_ratio, failures, n_instances, bad = 0.0, 0, 0, []
    for trial in range(4 if ctx.thorough else 2):
        target = random_conv_target(rng)
        box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
        ticket = construct_conv(target, eps_param=EPS_PARAM, rho=RHO,
                                rng=int(rng.integers(2**31)))
        for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                           ticket.network.parameter_arrays, strict=True):
            if not np.array_equal(q, p * m):
                bad.append(f"trial {trial}: ticket is not source × mask")
        failed_rows = {(int(a), int(b)) for a, b, f in zip(ticket.log.layer, ticket.log.row,
                                                            ticket.log.failed, strict=True) if f}
        params = list(enumerate(param_layers(target.layers)))  # the log's layer index
        for (t, layer), rep in zip(params, represented_layers(ticket), strict=True):
            k = layer.weight.reshape(layer.weight.shape[0], -1)
            rows = np.flatnonzero((np.abs(rep.positive[0] - k) > EPS_PARAM).any(axis=1)
                                  | (np.abs(rep.bias[0] - layer.bias) > EPS_PARAM))
            if any((t, int(o)) not in failed_rows for o in rows):
                bad.append(f"trial {trial}: a parameter off by > ε' without a failed instance")
        x = box.sample(2000, rng)
        observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
        bound = certified_conv_ticket_error(ticket, target, box)
        if observed > bound:
            bad.append(f"trial {trial}: observed {observed:.3g} > certified {bound:.3g}")
        worst_ratio = max(worst_ratio, observed / bound)
        failures += ticket.failures
        n_instances += ticket.log.failed.size
    return CheckResult(not bad, f"observed/certified ≤ {worst_ratio:.3g}; {failures} of "
                       f"{n_instances} instances failed (reported)", {"problems": bad[:5]})


def random_l_plus_one_target(rng, *, dense: bool = True) -> Network:
    """Two conv layers (the second 3×3 with padding 1: its constant tap (1, 1) is not a corner,
    so a bias read through another tap is wrong at the border), then Flatten, Linear (or the
    second convolution as the output: its border pixels seen directly)."""
    c, size = int(rng.integers(1, 3)), int(rng.integers(4, 7))
    first = _conv(rng, int(rng.integers(1, 3)), (c, size, size), int(rng.integers(2, 4)), 1,
                  int(rng.integers(0, 2)))
    second = _conv(rng, 2, first.output_shape, 3, int(rng.integers(1, 3)), 1)
    if not dense:
        return Network.from_layers([first, second], [RELU])
    flat = Flatten(input_shape=second.output_shape)
    linear = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    return Network.from_layers([first, second, flat, linear], [RELU, RELU, IDENTITY])


def _audit_l_plus_one_ticket(ticket, target, construction, box, rng, label, bad) -> float:
    """What every conv L+1 check asks of a ticket, its problems appended to ``bad``: source ×
    mask in every parameter array; every copy of every effective parameter within ε' or its
    instance (layer, row, copy) reported failed; returns the largest output error at x = 0,
    the box's two corners and 2 000 points of the box."""
    from lotteryproofs.construct.conv_two_layer import param_layers

    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        if not np.array_equal(q, p * m):
            bad.append(f"{label}: ticket is not source × mask")
    log = ticket.log
    failed = {(int(a), int(b), int(c)) for a, b, c, f in zip(
        log.layer, log.row, log.copy, log.failed, strict=True) if f}
    for t, (layer, rep) in enumerate(zip(param_layers(target.layers),
                                         construction.represent(ticket), strict=True)):
        k = layer.weight.reshape(layer.weight.shape[0], -1)
        off = (np.abs(rep.positive - k) > EPS_PARAM).any(axis=2) | (
            np.abs(rep.bias - layer.bias) > EPS_PARAM)
        if any((t, int(o), int(c)) not in failed for c, o in zip(*np.nonzero(off),
                                                                strict=True)):
            bad.append(f"{label}: a parameter off by > ε' without a failed instance")
    x = np.vstack((np.zeros((1, box.dim)), box.lower[None], box.upper[None],
                   box.sample(2000, rng)))
    return float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))


def check_conv_l_plus_one(ctx: CheckContext) -> CheckResult:
    """Source × mask; every copy of every effective parameter within ε' or its instance
    (layer, row, column, copy) reported failed; the sampled output error, x = 0 and the box's
    corners included, ≤ the certified bound, over the box and over a small box around 0."""
    from lotteryproofs.certify.bound import certified_conv_ticket_error
    from lotteryproofs.construct.conv_two_layer import construct_conv
    from lotteryproofs.construct.registry import get_conv_construction

    construction = get_conv_construction("l+1")
    rng = ctx.rng
    worst_ratio, failures, n_instances, bad = 0.0, 0, 0, []
    for trial in range(4 if ctx.thorough else 2):
        # thorough runs add identity residual blocks (copy to copy)
        target = (random_l_plus_one_target(rng, dense=trial % 2 == 1) if trial < 2
                  else random_conv_target(rng, residual=True))
        box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
        ticket = construct_conv(target, eps_param=EPS_PARAM, rho=RHO,
                                rng=int(rng.integers(2**31)), construction=construction)
        observed = _audit_l_plus_one_ticket(ticket, target, construction, box, rng,
                                            f"trial {trial}", bad)
        bound = certified_conv_ticket_error(ticket, target, box)
        if observed > bound:
            bad.append(f"trial {trial}: observed {observed:.3g} > certified {bound:.3g}")
        worst_ratio = max(worst_ratio, observed / bound)
        # near x = 0 the biases decide the output and the certified bound has no box term
        # (ε'·gain-sized): a bias wrong at the border pixels of a conv output exceeds it
        small = Box.cube(-1e-6, 1e-6, box.dim)
        near = np.vstack((np.zeros((1, box.dim)), small.sample(20, rng)))
        observed0 = float(np.max(np.abs(ticket.approximation(near) - target.forward(near))))
        bound0 = certified_conv_ticket_error(ticket, target, small)
        if observed0 > bound0:
            bad.append(f"trial {trial}: near 0 observed {observed0:.3g} > certified "
                       f"{bound0:.3g}")
        worst_ratio = max(worst_ratio, observed0 / bound0)
        failures += ticket.failures
        n_instances += ticket.log.failed.size
    return CheckResult(not bad, f"observed/certified ≤ {worst_ratio:.3g}; {failures} of "
                       f"{n_instances} instances failed (reported)", {"problems": bad[:5]})


def ladder_audit(ticket, target) -> dict:
    """The gains of a bounded-gain conv L+1 ticket, read from its masks, against the ladder.

    Every copy-layer weight instance is re-posed from the source alone, by the layout of
    proofs/conv-l-plus-one.md (source channel i·ρ + r is copy r of target channel i, so patch
    column c = i·s + τ of the target, s = n_in / C_in (C_in the channels of the layer it reads),
    has the candidates
    (i·ρ + r)·s + τ, r < min(ρ, MAX_SEARCHED)), and re-solved by the engine under each rung
    γ_1 < … < γ_K alone; k is the first rung under which it is feasible (K if none). The
    masks' subset S must then have G = Σ_S|v| ≤ |K| + γ_k (exact rationals), and G = 0 where
    |K| ≤ ε', and Σ_S v within ε' of K unless the instance is logged failed (so the pools read
    are the ones the masks use). Returns the counts (``over_rung``, ``over_budget``:
    G > |K| + γ_K, ``off_unreported``) and, per rung, how many instances it took."""
    from fractions import Fraction

    from lotteryproofs.construct import bounded_gain, common
    from lotteryproofs.construct.conv_bounded_gain import GAIN_LADDER
    from lotteryproofs.construct.conv_l_plus_one import input_layers
    from lotteryproofs.construct.conv_two_layer import masked_unit, param_layers, unit_flat
    from lotteryproofs.rss import sparsest_subset_sum_batch

    eps = float(ticket.metadata["eps_param"])
    rho = int(ticket.metadata["rho"])
    caps = bounded_gain.engine_gain_ladder(eps, GAIN_LADDER)
    tol = eps * (1 - common.SOLVER_MARGIN)
    full_w, _ = unit_flat(ticket.source, ticket.layer_scales)
    kept_w, _ = masked_unit(ticket)
    tparams = param_layers(target.layers)
    inputs = input_layers(target.layers)  # a shortcut reads the block's input
    r = np.arange(min(rho, common.MAX_SEARCHED))
    over_rung = over_budget = skipped_kept = audited = off_unreported = 0
    rungs = [0] * len(GAIN_LADDER)
    log = ticket.log
    failed = {(int(a), int(b), int(c), int(d)) for a, b, c, d, f in zip(
        log.layer, log.row, log.col, log.copy, log.failed, strict=True) if f}
    for t in range(1, len(tparams)):
        k = tparams[t].weight.reshape(tparams[t].weight.shape[0], -1)
        n_out, n_in = k.shape
        s = n_in // tparams[inputs[t]].weight.shape[0]
        copies = 1 if t == len(tparams) - 1 else rho
        jj, cc = np.nonzero(np.ones_like(k, bool))
        pools = (cc // s)[:, None] * (rho * s) + r[None] * s + (cc % s)[:, None]
        for m in range(copies):
            rows = jj * copies + m
            values = full_w[t + 1][rows[:, None], pools]
            kept = kept_w[t + 1][rows[:, None], pools] != 0
            big = np.abs(k[jj, cc]) > eps
            skipped_kept += int(np.count_nonzero(kept[~big]))
            live = np.flatnonzero(big)
            audited += live.size
            rung = np.full(jj.size, len(caps) - 1)
            for index, cap in enumerate(caps):
                if not live.size:
                    break
                res = sparsest_subset_sum_batch(np.ascontiguousarray(values[live]),
                                                k[jj[live], cc[live]], tol, gain_slack=cap)
                ok = np.asarray(res.feasible, bool)
                rung[live[ok]] = index
                live = live[~ok]
            for b in np.flatnonzero(big):
                rungs[rung[b]] += 1
                gain = sum((Fraction(abs(float(v))) for v in values[b][kept[b]]), Fraction(0))
                target_abs = Fraction(abs(float(k[jj[b], cc[b]])))
                # the subset read through these pools represents K (so the pools are the
                # ones the masks use), unless its instance is reported failed
                sum_s = sum((Fraction(float(v)) for v in values[b][kept[b]]), Fraction(0))
                off_unreported += (abs(sum_s - Fraction(float(k[jj[b], cc[b]])))
                                   > Fraction(eps)
                                   and (t, int(jj[b]), int(cc[b]), m) not in failed)
                over_rung += gain > target_abs + Fraction(GAIN_LADDER[rung[b]])
                over_budget += gain > target_abs + Fraction(GAIN_LADDER[-1])
    return {"audited": audited, "over_rung": int(over_rung), "over_budget": int(over_budget),
            "skipped_kept": skipped_kept, "off_unreported": int(off_unreported),
            "per_rung": rungs}


def check_conv_bounded_gain(ctx: CheckContext) -> CheckResult:
    """The bounded-gain conv L+1 ticket: source × mask; every copy of every parameter within
    ε' or reported failed; the sampled error (x = 0 and the corners included) ≤ the certified
    bound, and ≤ the a-priori bound on tickets without failures; the masks pass the gain check
    (the certificate's a-priori bound is finite); :func:`ladder_audit` finds no subset above
    its rung's cap |K| + γ_k (a construction that drops the cap, or solves the rungs in
    another order, takes sparsest subsets of gain several times |K| where γ_1 was feasible)."""
    from lotteryproofs.certify.conv import certify_conv
    from lotteryproofs.construct import conv_bounded_gain
    from lotteryproofs.construct.conv_two_layer import construct_conv_ticket

    construction = conv_bounded_gain.CONSTRUCTION
    rng = ctx.rng
    bad, rows = [], []
    for trial in range(4 if ctx.thorough else 2):
        target = (random_l_plus_one_target(rng, dense=trial == 0) if trial % 2 == 0
                  else random_conv_target(rng, residual=True))
        box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
        ticket = construct_conv_ticket(target, eps_param=EPS_PARAM, delta=0.1, rho=RHO,
                                       rng=int(rng.integers(2**31)), domain=box,
                                       construction=construction)
        observed = _audit_l_plus_one_ticket(ticket, target, construction, box, rng,
                                            f"trial {trial}", bad)
        cert = certify_conv(ticket, target, box, rng=rng, n_samples=200, exact=False)
        bound = cert.certified_output_error
        if observed > bound:
            bad.append(f"trial {trial}: observed {observed:.3g} > certified {bound:.3g}")
        if not np.isfinite(cert.a_priori_output_error):
            bad.append(f"trial {trial}: the masks fail the gain check (no a-priori bound)")
        elif ticket.failures == 0 and observed > cert.a_priori_output_error:
            bad.append(f"trial {trial}: observed {observed:.3g} > a-priori "
                       f"{cert.a_priori_output_error:.3g}")
        audit = ladder_audit(ticket, target)
        if (audit["over_rung"] or audit["over_budget"] or audit["skipped_kept"]
                or audit["off_unreported"]):
            bad.append(f"trial {trial}: gains above the ladder: {audit}")
        rows.append({"observed": observed, "certified": bound,
                     "a_priori": cert.a_priori_output_error, "failures": ticket.failures,
                     **audit})
    worst = max(r["observed"] / r["certified"] for r in rows)
    return CheckResult(
        not bad, f"observed/certified ≤ {worst:.3g}; {sum(r['audited'] for r in rows)} "
                 f"copy-layer weights audited, {sum(r['over_rung'] for r in rows)} above their "
                 f"rung; {sum(r['failures'] for r in rows)} failed instances (reported)",
        {"problems": bad[:5], "tickets": rows})


def check_conv_recursion(ctx: CheckContext) -> CheckResult:
    """Targets moved by ε' per parameter never err more than the a-priori recursion says.

    Two kinds of move: random signs ±ε' (errors partly cancel, ~ε'√F per layer) and the same
    sign on every parameter, evaluated also at the box's two constant corners, where the
    shifts add up over the whole fan-in F (ε'·F: the term a recursion that forgets F misses).
    """
    from lotteryproofs.bounds import conv_a_priori_error

    rng = ctx.rng
    eps, worst, bad = 0.02, 0.0, []
    for trial in range(4 if ctx.thorough else 2):
        target = random_conv_target(rng, residual=trial % 2 == 1)
        box = Box.cube(-1.0, 1.0, target.layers[0].in_features)
        bound = conv_a_priori_error(target, box, eps)

        def move(layer, shift):
            if isinstance(layer, Residual):
                return Residual(tuple(move(b, shift) for b in layer.body_layers),
                                layer.body_activations)
            if isinstance(layer, Conv2d):
                return Conv2d(layer.weight + shift(layer.weight.shape),
                              layer.bias + shift(layer.bias.shape),
                              layer.stride, layer.padding, layer.input_shape)
            if isinstance(layer, Dense):
                return Dense(layer.weight + shift(layer.weight.shape),
                             layer.bias + shift(layer.bias.shape))
            return layer

        x = np.vstack((box.sample(1000, rng), box.lower[None], box.upper[None]))
        shifts = {"random signs": lambda shape: rng.choice([-eps, eps], shape),
                  "+ε' everywhere": lambda shape: np.full(shape, eps),
                  "−ε' everywhere": lambda shape: np.full(shape, -eps)}
        reference = target.forward(x)
        for how, shift in shifts.items():
            moved = Network.from_layers([move(layer, shift) for layer in target.layers],
                                        target.activations)
            observed = float(np.max(np.abs(moved.forward(x) - reference)))
            if observed > bound:
                bad.append(f"trial {trial} ({how}): observed {observed:.3g} > a-priori "
                           f"{bound:.3g}")
            worst = max(worst, observed / bound)
    return CheckResult(not bad, f"observed/a-priori ≤ {worst:.3g}", {"problems": bad})


THEOREMS = (
    Theorem(
        key="construct.conv-2l",
        title="2L construction for convolutional targets with nonzero biases",
        claim="ticket ⊆ conv source; kernel entries and biases within ε' or reported; border "
              "pixels exact as interior; error ≤ certified bound",
        theory="§4.1, §5",
        document="proofs/conv-2l-construction.md",
        code=("lotteryproofs.construct.conv_two_layer:construct_conv",
              "lotteryproofs.construct.conv_two_layer:draw_source",
              "lotteryproofs.construct.conv_two_layer:represented_layers",
              "lotteryproofs.checks.conv:check_conv_two_layer"),
        tests=("tests/test_conv_construct.py::test_random_conv_targets",
               "tests/test_conv_construct.py::test_random_residual_targets",
               "tests/test_conv_construct.py::test_border_pixels_are_as_exact_as_interior_pixels",
               "tests/test_conv_construct.py::test_border_bias_exact_single_layer",
               "tests/test_conv_construct.py::test_source_is_drawn_from_shapes_alone_and_same_seed_same_bytes"),
        check=check_conv_two_layer,
    ),
    Theorem(
        key="construct.conv-l-plus-one",
        title="L+1 construction for convolutional targets with nonzero biases",
        claim="ticket ⊆ conv source; every copy of every kernel entry and bias within ε' or "
              "reported; biases through the constant tap (P, P), exact at the border for "
              "2P ≤ k − 1; identity and 1×1-conv residual blocks copy to copy; error ≤ "
              "certified bound "
              "(gains Σ_S|v|)",
        theory="§4.3, §5",
        document="proofs/conv-l-plus-one.md",
        code=("lotteryproofs.construct.conv_l_plus_one:solve",
              "lotteryproofs.construct.conv_l_plus_one:shapes",
              "lotteryproofs.construct.conv_l_plus_one:input_layers",
              "lotteryproofs.construct.conv_l_plus_one:represented_layers",
              "lotteryproofs.construct.l_plus_one:solve_copies",
              "lotteryproofs.checks.conv:check_conv_l_plus_one"),
        tests=("tests/test_conv_l_plus_one.py::test_random_conv_targets",
               "tests/test_conv_l_plus_one.py::test_random_residual_targets",
               "tests/test_conv_l_plus_one.py::test_conv_shortcut_targets",
               "tests/test_conv_l_plus_one.py::test_border_pixels_within_the_bound",
               "tests/test_conv_l_plus_one.py::test_same_seed_same_bytes_and_other_seed_other_source",
               "tests/test_conv_l_plus_one.py::test_tampered_mask_reading_a_constant_off_its_tap_is_a_layout_error",
               "tests/test_conv_l_plus_one.py::test_refusals_one_line"),
        check=check_conv_l_plus_one,
    ),
    Theorem(
        key="construct.conv-bounded-gain",
        title="bounded-gain L+1 construction for convolutional targets",
        claim="conv L+1 whose copy-layer subsets have Σ_S|v| ≤ |K| + γ_k, γ_k the smallest "
              "feasible rung of the ladder (0.25, 0.5, 1, 2); per copy and channel "
              "Σ G ≤ ‖K_o‖₁ + γ·k_o, so the a-priori recursion holds when the masks show it; "
              "error ≤ certified bound",
        theory="§4.3, §5, §8",
        document="proofs/conv-l-plus-one.md",
        code=("lotteryproofs.construct.conv_bounded_gain:solve",
              "lotteryproofs.construct.common:solve",
              "lotteryproofs.construct.bounded_gain:engine_gain_ladder",
              "lotteryproofs.certify.conv:conv_gains_within_budget",
              "lotteryproofs.bounds:conv_a_priori_error",
              "lotteryproofs.checks.conv:ladder_audit",
              "lotteryproofs.checks.conv:check_conv_bounded_gain"),
        tests=("tests/test_conv_bounded_gain.py::test_random_conv_and_residual_targets",
               "tests/test_conv_bounded_gain.py::test_ladder_picks_the_smallest_feasible_cap",
               "tests/test_conv_bounded_gain.py::test_one_cap_is_unchanged_by_the_ladder",
               "tests/test_conv_bounded_gain.py::test_gain_check_falls_back",
               "tests/test_conv_bounded_gain.py::test_same_seed_same_bytes",
               "tests/test_conv_bounded_gain.py::test_conv_shortcut_targets"),
        check=check_conv_bounded_gain,
    ),
    Theorem(
        key="bounds.conv-recursion",
        title="§5 error recursion for convolutional and residual layers",
        claim="per-pixel certified recursion and per-output-channel ℓ1 a-priori recursion "
              "(residual gain 1 + body) bound the output error",
        theory="§5, §6",
        document="proofs/conv-error-recursion.md",
        code=("lotteryproofs.certify.bound:certified_conv_error",
              "lotteryproofs.certify.bound:certified_conv_ticket_error",
              "lotteryproofs.bounds:conv_a_priori_error",
              "lotteryproofs.bounds:conv_a_priori_rho",
              "lotteryproofs.checks.conv:check_conv_recursion"),
        tests=("tests/test_conv_construct.py::test_a_priori_recursion_bounds_perturbed_targets",
               "tests/test_conv_construct.py::test_conv_certificate_equals_dense_certificate_on_dense_targets",
               "tests/test_conv_construct.py::test_certified_below_a_priori_without_failures",
               "tests/test_conv_construct.py::test_a_priori_rho_counts_instances"),
        check=check_conv_recursion,
    ),
)
