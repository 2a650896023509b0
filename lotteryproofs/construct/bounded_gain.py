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


def _build(inp: BuildInput) -> Built:
    return l_plus_one.build_from_input(inp, gain_slack=engine_gain_slack(inp.eps_param))


CONSTRUCTION = Construction(
    "l+1-bounded", "L+1 (bounded gain)",
    "§4.3 L+1 with copy subsets of bounded gain Σ|v| ≤ |w| + γ (a-priori bound)",
    default_init="uniform",
    bound=BoundSpec("l+1-bounded", copies=True, gain_budget=GAIN_BUDGET),
    source_widths=l_plus_one.widths_from_options, build=_build,
    represent=l_plus_one.represent_from_metadata,
    expected_layout=l_plus_one.expected_layout, options=(l_plus_one.RHO_IN,))
