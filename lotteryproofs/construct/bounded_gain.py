"""The bounded-gain L+1 construction (proofs/bounded-gain-l+1.md; THEORY.md §4.3, §5).

The L+1 construction (:mod:`lotteryproofs.construct.l_plus_one`: same source widths, layout
and read-back) with one change: every weight instance of a copy layer (target layer l ≥ 2,
candidates the single draws v_r of the ρ copies of the input neuron) is solved by the RSS
engine's bounded-gain sparsest mode — the fewest copies S with |w − Σ_S v_r| ≤ ε' **and**
Σ_{r∈S}|v_r| ≤ |w| + γ. So the gain of a represented weight, which THEORY.md §5 multiplies
the previous layer's error by, is bounded a priori, and the whole layer's gain is

    g_l = max_j Σ_i Σ_{r∈S_ji} |v_r| ≤ a_l + γ·k_l        (l ≥ 2)

instead of k_l·ρ·max|v|. A failed instance keeps the empty subset (it satisfies the
constraint; its error is |w| and the ticket reports it failed).

γ = :data:`GAIN_BUDGET` = 2, an absolute budget (the engine's c = γ/ε'): a budget that
vanishes with ε' (c fixed) leaves almost only same-sign subsets, and those cannot reach
small |w| — measured failure rates of 28–89 % per instance for c = 1 at pools of 20–30,
against ≤ 0.8 % for γ = 2 at pools of 30–40 (proofs/bounded-gain-l+1.md).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import common, l_plus_one
from lotteryproofs.construct.base import BuildInput, Built, Construction

#: γ of Σ_{r∈S}|v_r| ≤ |w| + γ (the a-priori gain of layer l ≥ 2 is a_l + γ·k_l).
GAIN_BUDGET = 2.0


def engine_gain_slack(eps_param: float, budget: float = GAIN_BUDGET) -> float:
    """The engine's c for the solver tolerance tol = ε'(1 − margin): the largest float c with
    c·tol ≤ γ exactly (so the engine's cap |w| + c·tol never exceeds |w| + γ)."""
    tol = eps_param * (1 - common.SOLVER_MARGIN)
    c = budget / tol
    while Fraction(c) * Fraction(tol) > Fraction(budget):
        c = float(np.nextafter(c, 0.0))
    return c


def engine_gain_ladder(eps_param: float, budgets) -> tuple[float, ...]:
    """The engine's caps of a gain ladder γ_1 < … < γ_K (``common.solve`` with a tuple):
    :func:`engine_gain_slack` of each budget, so every cap c_k·tol ≤ γ_k exactly."""
    from lotteryproofs import _validate

    budgets = tuple(_validate.positive("gain budget γ", g) for g in budgets)
    if not budgets or any(a >= b for a, b in zip(budgets[:-1], budgets[1:], strict=True)):
        raise _validate.InputError(f"a gain ladder needs increasing budgets, got {budgets}")
    return tuple(engine_gain_slack(eps_param, g) for g in budgets)


def _build(inp: BuildInput) -> Built:
    return l_plus_one.build_from_input(inp, gain_slack=engine_gain_slack(inp.eps_param))


def allocated_build(eps_params, budgets):
    """The ``build`` of the per-layer allocation (see :func:`allocated`), for any γ_l > 0.

    Its tickets carry the method name l+1-bounded, whose registered bound assumes γ; with
    γ_l above :data:`GAIN_BUDGET` that name does not back it, so ``certify.certify`` checks
    the bound's gain hypothesis on the masks (``certify.certificate.gains_within_budget``:
    every copy layer's read-back gain ≤ a_l + γ·k_l) and drops the a-priori bound where it
    fails; the allocation's own bound is ``bounds.allocated_a_priori_error``."""
    from lotteryproofs import _validate

    eps_params = tuple(_validate.positive("ε'_l", e) for e in eps_params)
    budgets = tuple(budgets)
    if len(budgets) != len(eps_params):
        raise _validate.InputError(
            f"need one γ_l per layer ({len(eps_params)}), got {len(budgets)}")
    budgets = (0.0,) + tuple(_validate.positive("gain budget γ_l", g) for g in budgets[1:])

    def build(inp: BuildInput) -> Built:
        if len(eps_params) != inp.target.depth:
            raise _validate.InputError(f"the allocation has {len(eps_params)} layers, the "
                                       f"target {inp.target.depth}")
        if inp.eps_param != max(eps_params):
            raise _validate.InputError(f"eps_param must be max_l ε'_l = {max(eps_params)!r}, "
                                       f"got {inp.eps_param!r}")
        slacks = [None] + [engine_gain_slack(e, g) for e, g in
                           zip(eps_params[1:], budgets[1:], strict=True)]
        return l_plus_one.build_from_input(inp, gain_slack=slacks, layer_eps=eps_params)

    return build


def allocated(eps_params, budgets) -> Construction:
    """The bounded-gain L+1 construction with ε'_l and γ_l per target layer l (1-based l ↔
    index l − 1; γ of the first layer is unused), e_L ≤ Σ_l ε'_l c_l
    (``bounds.allocated_a_priori_error``; proofs/bounded-gain-l+1.md, "Per-layer allocation").

    An unregistered record for the Python API (``construct(target, allocated(...),
    eps_param=max(eps_params), …)``): its log marks a layer-l instance failed when its error
    exceeds ε'_l, and ``eps_param`` must be max_l ε'_l (the ticket's ε' is the largest
    per-parameter error its construction allows). γ_l ≤ :data:`GAIN_BUDGET`: a certificate
    reads the registered bound (γ, at ε' = max_l ε'_l), a valid, looser bound on the same
    ticket."""
    from lotteryproofs import _validate

    if any(g > GAIN_BUDGET for g in tuple(budgets)[1:]):
        # a certificate finds the bound spec by the method name (the registered γ) and uses
        # the a-priori bound when every parameter is within ε': sound only while γ_l ≤ γ
        raise _validate.InputError(
            f"gain budgets must be ≤ {GAIN_BUDGET}, got {tuple(budgets)[1:]}")
    build = allocated_build(eps_params, budgets)
    return dataclasses.replace(
        CONSTRUCTION, label="L+1 (bounded gain, per-layer ε', γ)",
        summary=f"{CONSTRUCTION.summary}; ε'_l = {tuple(eps_params)}, γ_l = "
                f"{tuple(budgets)[1:]}",
        build=build)


CONSTRUCTION = Construction(
    "l+1-bounded", "L+1 (bounded gain)",
    "§4.3 L+1 with copy subsets of bounded gain Σ|v| ≤ |w| + γ (a-priori bound)",
    default_init="uniform",
    bound=BoundSpec("l+1-bounded", copies=True, gain_budget=GAIN_BUDGET),
    source_widths=l_plus_one.widths_from_options, build=_build,
    represent=l_plus_one.represent_from_metadata,
    expected_layout=l_plus_one.expected_layout, options=(l_plus_one.RHO_IN,))
