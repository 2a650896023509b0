"""A-priori block multiplicity ρ from the width requirement of THEORY.md §6 (numeric form).

Union bound (§6): the construction poses M instances; it suffices that each instance fails with
probability ≤ δ_i = δ/M. One instance's requirement is the contains-a-uniform lemma (§3) in the
form bounds.py states symbolically (:func:`lotteryproofs.bounds.pool_requirement_expr`): for a
candidate law p·U[-a, a] + (1 − p)·Q and targets |z| ≤ z_max, split the pool into
K = ⌈z_max/a⌉ disjoint parts, each approximating z/K within ε'/K with failure ≤ δ_i/K:

    n_part = max{ (2/p)·C·ln(2/min(ε'/(K a), δ_i/(2K))),  (8/p)·ln(2K/δ_i) },   n = K·⌈n_part⌉.

(THEORY.md's "multiply n by ⌈K⌉" alone would give error Kε'.) The laws, with (a*, p*) the
best contained uniform of lotteryproofs.laws:

- 2L / zero-bias / the first pair of L+1: products v·u of two draws, and a neuron is in a
  given sign pool with probability ½ (usable ½: p = p*/2); ρ = n;
- constants: products v·c with c > 0 (usable ½) and the constant scaled by the bias factor β;
- looks-linear: every owner has exactly ρ/2 positive-weight neurons, each one product value
  (ρ = 2n, p = p*);
- the copy layers of L+1: single draws of the weight law.

Lueker's constant C is unpublished (§3). The default, :data:`DEFAULT_LUEKER_C` = 4.3, is the
exploratory fit n ≈ C·ln(1/min(ε', δ)) for U[-1, 1] candidates recorded in THEORY.md §3
(provisional; pass the value lotteryproofs.constants measures). The rule is conservative (union
bound, Chernoff slack); the ρ that actually suffices is far smaller and is measured
(benchmarks/README.md, "constructions").
"""

from __future__ import annotations

import math

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Network

#: Lueker's constant as fitted in THEORY.md §3 for U[-1, 1] candidates (provisional).
DEFAULT_LUEKER_C = 4.3


def pool_candidates(eps_param: float, delta_instance: float, *, p: float, a: float,
                    z_max: float, C: float, values_per_candidate: float = 1.0) -> int:
    """Candidates one instance needs (§3 lemma with the K-part split; module docstring)."""
    K = max(1, math.ceil(z_max / a))
    n_part = max((2.0 / p) * C * math.log(2.0 / min(eps_param / (K * a), delta_instance / (2 * K))),
                 (8.0 / p) * math.log(2.0 * K / delta_instance))
    return int(math.ceil(K * math.ceil(n_part) / values_per_candidate))


def _contained(law: str) -> tuple[float, float]:
    from lotteryproofs import laws

    best = laws.best_contained_uniform(law)
    return float(best.a), float(best.p)


def count_instances(method: str, target: Network, eps_param: float, negative_inputs: int,
                    copies: int = 1) -> int:
    """M: the instances a construction poses on this target (copies: ρ for L+1 hidden layers).

    Parameters with |value| ≤ ε' get no instance; the negative part of layer 1 is counted for
    the inputs that can be negative (2l, zero-bias, l+1).
    """
    total = 0
    depth = target.depth
    for t, (w, b) in enumerate(zip(target.weights, target.biases, strict=True)):
        big = np.abs(w) > eps_param
        n = int(big.sum()) + (0 if method == "zero-bias" else int((np.abs(b) > eps_param).sum()))
        if t == 0 and method != "ll":
            n += int(big[:, :negative_inputs].sum())
        total += n * (copies if method == "l+1" and t < depth - 1 else 1)
    return max(1, total)


def a_priori_rho(method: str, target: Network, eps_param: float, delta: float, *,
                 negative_inputs: int | None = None, law: str = "uniform",
                 bias_factor: float = 1.0, C: float = DEFAULT_LUEKER_C) -> int:
    """ρ such that, by the union bound of §6 and the lemma of §3, P(any failure) ≤ δ.

    ``negative_inputs``: how many inputs the box lets be negative (default: all). For l+1 the
    copies multiply M by ρ itself; ρ is then the fixed point of ρ ↦ rule(M(ρ)) (it grows only
    logarithmically in M). One ρ sizes every block (ρ_in = ρ for l+1).
    """
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    C = _validate.positive("Lueker's constant C", C)
    bias_factor = _validate.positive("bias_factor (β)", bias_factor)
    if law not in ("uniform", "normal"):
        raise _validate.InputError(
            f"a-priori sizing knows the laws uniform and normal, not {law!r}")
    negative_inputs = target.widths[0] if negative_inputs is None else negative_inputs
    a_p, p_p = _contained("product" if law == "uniform" else "normal-product")
    a_s, p_s = _contained(law)
    w_max = max(float(np.max(np.abs(w))) for w in target.weights)
    b_max = max(float(np.max(np.abs(b))) for b in target.biases)

    def rule(m: int) -> int:
        d = delta / m
        if method == "ll":
            return max(pool_candidates(eps_param, d, p=p_p, a=a_p, z_max=w_max, C=C,
                                       values_per_candidate=0.5),
                       pool_candidates(eps_param, d, p=p_p, a=a_p * bias_factor, z_max=b_max,
                                       C=C, values_per_candidate=0.5))
        need = pool_candidates(eps_param, d, p=p_p / 2, a=a_p, z_max=w_max, C=C)
        if method != "zero-bias":
            need = max(need, pool_candidates(eps_param, d, p=p_p / 2, a=a_p * bias_factor,
                                             z_max=b_max, C=C))
        if method == "l+1":
            need = max(need, pool_candidates(eps_param, d, p=p_s, a=a_s, z_max=w_max, C=C))
        return need

    if method not in ("2l", "ll", "l+1", "zero-bias"):
        raise _validate.InputError(f"unknown method {method!r}")
    rho = rule(count_instances(method, target, eps_param, negative_inputs))
    if method == "ll":
        rho += rho % 2
    if method == "l+1":
        for _ in range(100):
            nxt = rule(count_instances(method, target, eps_param, negative_inputs, rho))
            if nxt <= rho:
                break
            rho = nxt
    return rho
