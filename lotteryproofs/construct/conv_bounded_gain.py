"""The bounded-gain L+1 construction for convolutional targets (proofs/conv-l-plus-one.md,
"Bounded gain"; THEORY.md §4.3, §5, §8).

The conv L+1 construction (:mod:`lotteryproofs.construct.conv_l_plus_one`: the same source,
layout, bias instances and read-back) with one change: every weight instance of a copy layer
(target parameter layer t ≥ 2, kernel entry K[j, i, p, q] of copy m, candidates the single
draws v_r of the ρ copies of channel i at tap (p, q)) is solved by the RSS engine's
bounded-gain sparsest mode over a **gain ladder** γ_1 < … < γ_K = :data:`GAIN_LADDER`: the
fewest copies S with

    |K − Σ_S v_r| ≤ ε'   and   G = Σ_{r∈S} |v_r| ≤ |K| + γ_k,

k the smallest rung under which such an S exists (``common.solve`` with a tuple of caps). So
every represented entry has G ≤ |K| + γ_K, and per copy and output channel o

    Σ_{i,p,q} G  ≤  ‖K_o‖₁ + γ_K·k_o,    k_o = #{|K_o| > ε'},

which replaces the plain construction's unbounded gains in the §5 recursion
(:func:`lotteryproofs.bounds.conv_a_priori_error` with ``gain_budget``). The sparsest subset
alone has G several times |K| (digits-resnet at ρ 80: Σ G = 2.8–8.4 × ‖K_o‖₁), and the error
of a layer's input is multiplied by it at every copy layer; the ladder's smaller rungs take,
where they can, a subset whose gain is little more than |K|. An instance feasible under no
rung is solved as ``common.solve``'s single cap γ_K (doubling the tolerance, same cap) and
reported failed: its gain still obeys the cap.

The certificate claims the a-priori bound only when the masks show the gain hypothesis
(``certify.conv:conv_gains_within_budget``); the certified bound uses the read-back gains
whatever they are.
"""

from __future__ import annotations

import dataclasses

from lotteryproofs.construct import bounded_gain, conv_l_plus_one

#: γ_1 < … < γ_K of the ladder; the a-priori bound uses γ_K (every subset obeys it).
GAIN_LADDER = (0.25, 0.5, 1.0, 2.0)


def solve(target, source, unit_w, unit_b, signs, rho, eps_param):
    """:func:`conv_l_plus_one.solve` with the copy-layer weight instances on the ladder."""
    ladder = bounded_gain.engine_gain_ladder(eps_param, GAIN_LADDER)
    return conv_l_plus_one.solve(target, source, unit_w, unit_b, signs, rho, eps_param,
                                 gain_slack=ladder)


def with_ladder(budgets):
    """This construction on another ladder γ_1 < … < γ_K (one rung: a single cap), an
    unregistered record for the Python API and the benchmarks. Its tickets carry the method
    name l+1-bounded, whose certificate uses γ = GAIN_LADDER[-1]: so γ_K ≤ that γ (a looser,
    valid bound on the same ticket), and the gain check still reads the masks."""
    from lotteryproofs import _validate

    budgets = tuple(float(g) for g in budgets)
    if not budgets or budgets[-1] > GAIN_LADDER[-1]:
        raise _validate.InputError(
            f"the top rung must be ≤ {GAIN_LADDER[-1]}, got {budgets}")
    bounded_gain.engine_gain_ladder(1.0, budgets)  # refuses unordered or non-positive rungs

    def solve_on(target, source, unit_w, unit_b, signs, rho, eps_param):
        return conv_l_plus_one.solve(target, source, unit_w, unit_b, signs, rho, eps_param,
                                     gain_slack=bounded_gain.engine_gain_ladder(eps_param,
                                                                                budgets))

    return dataclasses.replace(CONSTRUCTION, summary=f"{CONSTRUCTION.summary}; ladder {budgets}",
                               solve=solve_on)


def _construct(target, **kwargs):
    from lotteryproofs.construct.conv_two_layer import construct_conv

    return construct_conv(target, construction=CONSTRUCTION, **kwargs)


CONSTRUCTION = dataclasses.replace(
    conv_l_plus_one.CONSTRUCTION, name="l+1-bounded", label="L+1 (conv, bounded gain)",
    summary="conv L+1 with copy-layer subsets of gain Σ|v| ≤ |K| + γ_k on the ladder "
            f"γ = {GAIN_LADDER} (a-priori bound with γ = {GAIN_LADDER[-1]})",
    build=_construct, solve=solve, gain_budget=GAIN_LADDER[-1])

__all__ = ["CONSTRUCTION", "GAIN_LADDER", "solve", "with_ladder"]
