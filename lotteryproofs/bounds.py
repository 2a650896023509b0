"""The theorems' bounds as sympy expressions, evaluated in mpmath and lambdified.

THEORY.md §3, §5, §6.

Three families, all built symbolically and evaluated by substitution:

* **Error propagation (§5).** With per-layer gain g_l and per-layer injected error c_l, the
  recursion e_l ≤ g_l e_{l−1} + c_l, e_0 = 0, has the closed form

      e_L = Σ_{l=1}^{L} c_l Π_{m=l+1}^{L} g_m                       (proofs/error-propagation.md)

  (:func:`recursion_closed_form`; proven by sympy in tests/test_bounds.py). Each construction
  instantiates (g_l, c_l) (:func:`a_priori_output_error_expr`): for 2L, looks-linear and the
  zero-bias baseline g_l = a_l + k_l ε'; c_l = ε'(k_l B_{l−1} + 1), or ε' k_l B_{l−1} + b̄_l
  for the zero-bias baseline whose target biases are dropped (b̄_l = ‖b_l‖_∞); for L+1 the gain
  of layer l ≥ 2 is k_l G_l with G_l an a-priori bound on Σ_{r∈S}|v_r| (THEORY.md gives none;
  we use G_l = ρ·v_max, proofs/width-theorem.md); for bounded-gain L+1 (subsets with
  Σ|v| ≤ |w| + γ) g_l = a_l + γ k_l for l ≥ 2 (proofs/bounded-gain-l+1.md).
* **Per-parameter accuracy.** ε' is the unique positive root of e_L(ε') = ε (the closed form is
  a polynomial in ε' with non-negative coefficients, so it increases): :func:`solve_eps_param`.
  A closed-form sufficient value, valid for ε' ≤ 1, is
  ε'_suff = ε / Σ_l c̃_l Π_{m>l}(a_m + k_m) with c̃_l = c_l/ε' (:func:`sufficient_eps_param_expr`).
* **Width (§3, §6).** The contained-uniform lemma with the weights p* of :mod:`lotteryproofs.laws`
  (derived there by sympy/mpmath from the densities), the union bound over the M RSS instances
  of a construction, and the block multiplicity ρ and source widths that follow
  (:func:`width_requirements`). Lueker's constant stays the symbol C unless a value is given.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import mpmath
import numpy as np
import sympy

from lotteryproofs import _validate
from lotteryproofs._limits import MPMATH_DPS
from lotteryproofs.a_priori import TargetNorms, _fsum_up_rows, target_norms  # noqa: F401
from lotteryproofs.bound_spec import DEFAULT_LUEKER_C, BoundSpec

#: The weight law D_w of the source (THEORY.md §1): it fixes every RSS law of a construction.
WEIGHT_LAWS = ("uniform", "normal")
#: Working precision (decimal digits) of every mpmath evaluation here.
DPS = MPMATH_DPS

# ----------------------------------------------------------------------------- symbols
EPS = sympy.Symbol("epsilon", positive=True)
DELTA = sympy.Symbol("delta", positive=True)
EPS_PARAM = sympy.Symbol("epsilon'", positive=True)
C = sympy.Symbol("C", positive=True)  # Lueker's unspecified constant (THEORY.md §3)
BETA = sympy.Symbol("beta", positive=True)  # bias factor β of the initialisation (§1)
W_MAX = sympy.Symbol("w_max", positive=True)  # max |target weight|
B_MAX = sympy.Symbol("b_max", positive=True)  # max |target bias|
RHO = sympy.Symbol("rho", positive=True, integer=True)
RHO_IN = sympy.Symbol("rho_in", positive=True, integer=True)
M = sympy.Symbol("M", positive=True, integer=True)  # the number of RSS instances (§6)

def check_weight_law(law) -> str:
    if law not in WEIGHT_LAWS:
        raise _validate.InputError(
            f"unknown weight law {law!r}; choose one of {', '.join(WEIGHT_LAWS)}"
        )
    return law


@dataclass(frozen=True)
class LayerSymbols:
    """The symbols of a depth-L target: n_0…n_L, a_1…a_L, k_1…k_L, B_0…B_{L−1}, b̄_1…b̄_L, G_2…G_L.

    ``a[l-1]`` is a_l (so lists are 0-based while names follow THEORY.md's 1-based layers).
    """

    depth: int
    n: tuple
    a: tuple
    k: tuple
    B: tuple
    bbar: tuple
    G: tuple


@cache
def layer_symbols(depth: int) -> LayerSymbols:
    depth = _validate.positive_int("depth L", depth)
    nonneg = {"nonnegative": True, "real": True}
    return LayerSymbols(
        depth=depth,
        n=tuple(sympy.Symbol(f"n_{i}", positive=True, integer=True) for i in range(depth + 1)),
        a=tuple(sympy.Symbol(f"a_{i}", **nonneg) for i in range(1, depth + 1)),
        k=tuple(
            sympy.Symbol(f"k_{i}", nonnegative=True, integer=True) for i in range(1, depth + 1)
        ),
        B=tuple(sympy.Symbol(f"B_{i}", **nonneg) for i in range(depth)),
        bbar=tuple(sympy.Symbol(f"bbar_{i}", **nonneg) for i in range(1, depth + 1)),
        G=tuple(sympy.Symbol(f"G_{i}", **nonneg) for i in range(1, depth + 1)),
    )


# ------------------------------------------------------------------ §5 error propagation
def recursion_closed_form(depth=None):
    """e_L = Σ_{l=1}^{L} c_l Π_{m=l+1}^{L} g_m for e_l = g_l e_{l−1} + c_l, e_0 = 0.

    With ``depth=None`` the depth is the symbol L and g, c are sympy IndexedBase objects (the
    general statement); with an integer depth the sum is expanded over symbols g_1…, c_1….
    Returns (expression, g, c, L).
    """
    if depth is None:
        L = sympy.Symbol("L", positive=True, integer=True)
        ly, m = sympy.symbols("l m", positive=True, integer=True)
        g, c = sympy.IndexedBase("g"), sympy.IndexedBase("c")
        return sympy.Sum(c[ly] * sympy.Product(g[m], (m, ly + 1, L)), (ly, 1, L)), g, c, L
    depth = _validate.positive_int("depth L", depth)
    g = sympy.symbols(f"g_1:{depth + 1}")
    c = sympy.symbols(f"c_1:{depth + 1}")
    expr = sympy.Add(*(c[ly] * sympy.Mul(*g[ly + 1 :]) for ly in range(depth)))
    return expr, g, c, depth


def unrolled_recursion(gains: Sequence, injected: Sequence):
    """e_L by iterating e_l = g_l e_{l−1} + c_l from e_0 = 0 (the definition, for the proof)."""
    e = sympy.Integer(0)
    for g, c in zip(gains, injected, strict=True):
        e = g * e + c
    return e


def layer_gains_and_injections(spec: BoundSpec, depth: int, *, eps_param=EPS_PARAM):
    """(g_l, c_l), l = 1…L, of the per-layer recursion of a construction (THEORY.md §5, §4).

    2L / looks-linear: g_l = a_l + k_l ε', c_l = ε'(k_l B_{l−1} + 1) (each represented weight
    and bias within ε', zeros stay zero, |A σ(t̂) + B σ(−t̂) − w t| ≤ (|w| + ε')|t̂ − t| + ε'|t|).
    zero-bias: biases dropped, c_l = ε' k_l B_{l−1} + b̄_l. L+1: g_l = k_l G_l for l ≥ 2 (G_l an
    a-priori bound on the gain Σ_{r∈S}|v_r| of one represented weight), layer 1 as 2L.
    Bounded-gain L+1 (``spec.gain_budget`` = γ): g_l = a_l + γ·k_l for l ≥ 2, since
    Σ_i Σ_{r∈S_ji}|v_r| ≤ Σ_{i: |w_ji|>ε'} (|w_ji| + γ) ≤ a_l + γ k_l
    (proofs/bounded-gain-l+1.md).
    """
    s = layer_symbols(depth)
    gains, injected = [], []
    for ly in range(depth):
        if spec.bounded_gain and ly >= 1:
            gains.append(s.a[ly] + _gain_budget(spec) * s.k[ly])
        elif spec.copies and ly >= 1:
            gains.append(s.k[ly] * s.G[ly])
        else:
            gains.append(s.a[ly] + s.k[ly] * eps_param)
        if spec.biases:
            injected.append(eps_param * (s.k[ly] * s.B[ly] + 1))
        else:
            injected.append(eps_param * s.k[ly] * s.B[ly] + s.bbar[ly])
    return gains, injected


def _gain_budget(spec: BoundSpec):
    """γ of a bounded-gain spec as an exact sympy number (a float is converted exactly)."""
    return sympy.nsimplify(spec.gain_budget, rational=True)


@functools.lru_cache(maxsize=64)
def a_priori_output_error_expr(spec: BoundSpec, depth: int, *, eps_param=EPS_PARAM):
    """The a-priori bound on sup_D ‖f_T − Λ⁻¹ f_S‖_∞ (THEORY.md §5) as a sympy expression."""
    closed, g, c, _ = recursion_closed_form(depth)
    gains, injected = layer_gains_and_injections(spec, depth, eps_param=eps_param)
    return closed.subs(dict(zip(g + c, gains + injected, strict=True)), simultaneous=True)


def sufficient_eps_param_expr(spec: BoundSpec, depth: int):
    """A closed-form ε' that guarantees output error ≤ ε when ε' ≤ 1 (not for zero-bias/L+1).

    Since k_m ε' ≤ k_m for ε' ≤ 1, e_L(ε') ≤ ε' Σ_l (k_l B_{l−1} + 1) Π_{m>l}(a_m + k_m); so
    ε' = ε / that sum works whenever it is ≤ 1 (:func:`solve_eps_param` gives the exact root).
    Bounded-gain L+1: the gains of layers m ≥ 2 are a_m + γ k_m (free of ε'), so e_L is
    linear in ε' and ε / Σ_l (k_l B_{l−1} + 1) Π_{m>l}(a_m + γ k_m) is the root itself.
    """
    if not spec.has_sufficient_eps_param:
        raise _validate.InputError(
            f"no closed-form sufficient ε' for {spec.name!r}: its bound does not vanish as "
            "ε' → 0 (biases dropped) or depends on ρ (copies); use solve_eps_param"
        )
    s = layer_symbols(depth)
    total = sympy.Integer(0)
    for ly in range(depth):
        tail = sympy.Mul(*(s.a[m] + _sufficient_k_factor(spec, m) * s.k[m]
                           for m in range(ly + 1, depth)))
        total += (s.k[ly] * s.B[ly] + 1) * tail
    return EPS / total


def bounded_gain_contributions(norms: TargetNorms, budgets) -> tuple:
    """c_l = (k_l B_{l−1} + 1) Π_{m=l+1}^{L} (a_m + γ_m k_m), l = 1…L (mpmath).

    Bounded-gain L+1 with its own ε'_l and γ_l per target layer (γ_1 unused: layer 1 is the
    2L layer, whose gain multiplies e_0 = 0) has e_L ≤ Σ_l ε'_l c_l (proofs/bounded-gain-l+1.md,
    "Per-layer allocation": the recursion (2) with ε'_l, γ_l in layer l). ``budgets``: one γ_l
    per layer (entry 0 ignored)."""
    depth = norms.depth
    budgets = tuple(budgets)
    if len(budgets) != depth:
        raise _validate.InputError(f"need {depth} gain budgets (one per layer), got {len(budgets)}")
    gammas = [None] + [_validate.positive("gain budget γ", g) for g in budgets[1:]]
    with mpmath.workdps(DPS):
        gains = [None] + [mpmath.mpf(norms.a[m]) + mpmath.mpf(gammas[m]) * norms.k[m]
                          for m in range(1, depth)]
        out = []
        for ly in range(depth):
            tail = mpmath.mpf(1)
            for m in range(ly + 1, depth):
                tail *= gains[m]
            out.append(+((mpmath.mpf(norms.k[ly]) * mpmath.mpf(norms.B[ly]) + 1) * tail))
    return tuple(out)


def allocated_a_priori_error(norms: TargetNorms, eps_params, budgets) -> mpmath.mpf:
    """Σ_l ε'_l c_l (:func:`bounded_gain_contributions`), the a-priori output error of a
    bounded-gain L+1 ticket whose layer-l instances are all within ε'_l under budget γ_l."""
    eps_params = tuple(_validate.positive("ε'_l", e) for e in eps_params)
    contrib = bounded_gain_contributions(norms, budgets)
    if len(eps_params) != len(contrib):
        raise _validate.InputError(f"need {len(contrib)} per-layer ε', got {len(eps_params)}")
    with mpmath.workdps(DPS):
        return +mpmath.fsum(mpmath.mpf(e) * c for e, c in zip(eps_params, contrib, strict=True))


def allocate_eps_params(norms: TargetNorms, eps, budgets, shares) -> tuple[float, ...]:
    """Per-layer ε'_l = s_l ε / c_l (rounded down to a float), s_l ≥ 0, Σ s_l ≤ 1, so that
    :func:`allocated_a_priori_error` ≤ ε. Shares s_l ∝ c_l give the uniform ε' = ε / Σ c_l of
    :func:`sufficient_eps_param_expr`; any other shares satisfy the same recursion."""
    eps = open_eps(eps)
    shares = tuple(float(s) for s in shares)
    if any(not (s > 0 and math.isfinite(s)) for s in shares) or math.fsum(shares) > 1:
        raise _validate.InputError(f"shares must be > 0 with sum ≤ 1, got {shares}")
    contrib = bounded_gain_contributions(norms, budgets)
    if len(shares) != len(contrib):
        raise _validate.InputError(f"need {len(contrib)} shares, got {len(shares)}")
    out = []
    with mpmath.workdps(DPS):
        for s, c in zip(shares, contrib, strict=True):
            exact = mpmath.mpf(s) * mpmath.mpf(eps) / c
            value = float(exact)
            while mpmath.mpf(value) > exact:  # round down: the bound stays ≤ ε
                value = float(np.nextafter(value, 0.0))
            out.append(value)
    return tuple(out)


def _sufficient_k_factor(spec: BoundSpec, layer: int):
    """The factor of k_m in the gain bound a_m + (factor)·k_m used for ε' ≤ 1 (1; γ on the
    bounded-gain copy layers, whose gain is exactly a_m + γ k_m)."""
    return _gain_budget(spec) if spec.bounded_gain and layer >= 1 else sympy.Integer(1)


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Bound:
    """A named sympy expression with the provenance of what it bounds, ready to evaluate."""

    name: str
    description: str
    expr: object

    @property
    def free_symbols(self) -> tuple:
        return tuple(sorted(self.expr.free_symbols, key=lambda s: s.name))

    def evaluate(self, values: Mapping) -> mpmath.mpf:
        """The value in mpmath at :data:`DPS` digits (every free symbol must be given)."""
        return evaluate_mpmath(self.expr, values)

    def lambdified(self):
        """A float function of the free symbols in :attr:`free_symbols` order (math module)."""
        return _float_function(self.expr, self.free_symbols)

    def latex(self) -> str:
        return latex(self.expr)


def latex(expr) -> str:
    """LaTeX of a bound, with ε' printed as \\varepsilon'."""
    return sympy.latex(expr, symbol_names={EPS_PARAM: r"\varepsilon'", EPS: r"\varepsilon"})


def _values_by_symbol(expr, values: Mapping) -> dict:
    by_name = {(k.name if isinstance(k, sympy.Symbol) else str(k)): v for k, v in values.items()}
    out = {}
    for symbol in expr.free_symbols:
        if symbol.name not in by_name:
            raise _validate.InputError(f"no value given for the symbol {symbol.name}")
        out[symbol] = by_name[symbol.name]
    return out


@functools.lru_cache(maxsize=512)
def _float_function(expr, symbols: tuple):
    return sympy.lambdify(symbols, expr, modules=["math"])


@functools.lru_cache(maxsize=512)
def _mpmath_function(expr, symbols: tuple):
    return sympy.lambdify(symbols, expr, modules="mpmath")


def evaluate_mpmath(expr, values: Mapping) -> mpmath.mpf:
    """Evaluate a sympy expression with mpmath at :data:`DPS` digits."""
    bound = _values_by_symbol(expr, values)
    symbols = tuple(sorted(bound, key=lambda s: s.name))
    fn = _mpmath_function(expr, symbols)
    with mpmath.workdps(DPS):
        return +mpmath.mpf(
            fn(
                *(
                    mpmath.mpf(bound[s]) if not isinstance(bound[s], mpmath.mpf) else bound[s]
                    for s in symbols
                )
            )
        )


def a_priori_output_error(spec: BoundSpec, norms: TargetNorms, eps_param, *,
                          gains=None) -> mpmath.mpf:
    """Evaluate :func:`a_priori_output_error_expr` for a concrete target (mpmath).

    ``gains`` (L+1 only): the a-priori bounds G_l on Σ_{r∈S}|v_r|, one per layer (entries for
    l = 1 are ignored); ``math.inf`` yields an infinite bound.
    """
    if not isinstance(eps_param, mpmath.mpf):
        eps_param = _validate.positive("ε'", eps_param)
    elif not eps_param > 0:
        raise _validate.InputError(f"ε' must be > 0, got {eps_param}")
    expr = a_priori_output_error_expr(spec, norms.depth)
    values = {**norms.values(), EPS_PARAM: eps_param}
    if spec.needs_gains:
        if gains is None:
            raise _validate.InputError(f"the {spec.name} a-priori bound needs the gain bounds G_l")
        if any(math.isinf(g) for g in list(gains)[1:]) and norms.depth > 1:
            return mpmath.inf
        values.update(zip(layer_symbols(norms.depth).G, gains, strict=True))
    return evaluate_mpmath(expr, values)


def solve_eps_param(spec: BoundSpec, norms: TargetNorms, eps, *,
                    gains=None) -> mpmath.mpf | None:
    """The largest ε' with a-priori output error ≤ ε: the unique root of e_L(ε') = ε.

    e_L is a polynomial in ε' with non-negative coefficients (for fixed gains), hence
    non-decreasing; bisection in mpmath to :data:`DPS` digits, returning the lower end (so the
    bound at the returned ε' is ≤ ε). None when even ε' → 0 exceeds ε (the zero-bias floor).
    """
    eps = open_eps(eps)

    def error(x):
        return a_priori_output_error(spec, norms, x, gains=gains)

    with mpmath.workdps(DPS):
        floor = error(mpmath.mpf(10) ** -300)
        if floor >= eps:
            return None
        lo, hi = mpmath.mpf(0), mpmath.mpf(1)
        while error(hi) <= eps:
            lo, hi = hi, 2 * hi
            if hi > 2**60:
                return hi
        for _ in range(200):
            mid = (lo + hi) / 2
            if error(mid) <= eps:
                lo = mid
            else:
                hi = mid
            if hi - lo <= hi * mpmath.mpf(10) ** (-DPS + 2):
                break
        return lo


def open_eps(eps) -> float:
    """ε > 0, the output accuracy: an absolute error, so any positive value (a regression
    output may range over hundreds; DESIGN.md, bounds and construct commands)."""
    return _validate.positive("ε", eps)


# ----------------------------------------------------------------------- §3 and §6 width
@dataclass(frozen=True)
class PoolLaw:
    """One kind of RSS pool of a construction: the value law, its contained uniform, usability.

    A candidate's value contains U[−a*·scale, a*·scale] with weight p*; it is usable with
    probability ``usable`` (1/2 under a sign split); ``values_per_candidate`` is 1/2 for mirror
    pairs (looks-linear: ⌊ρ/2⌋ values from ρ neurons).
    """

    name: str
    law: str
    a_star: object
    p_star: object
    scale: object = sympy.Integer(1)
    usable: object = sympy.Integer(1)
    values_per_candidate: object = sympy.Integer(1)
    target: object = W_MAX


@cache
def contained_uniform_constants(law: str) -> tuple:
    """(a*, p*) as sympy numbers, from laws.best_contained_uniform (derived from the density)."""
    from lotteryproofs import laws

    best = laws.best_contained_uniform(law)
    weight = laws.contained_uniform_weight_expr(law)
    a = next(iter(weight.free_symbols))
    a_star = best.a_expr if best.a_expr is not None else sympy.Float(best.a, DPS)
    p_star = (
        sympy.nsimplify(weight.subs(a, a_star))
        if best.a_expr is not None
        else sympy.Float(best.p, DPS)
    )
    return a_star, p_star


def pool_requirement_expr(pool: PoolLaw, delta_instance, *, eps_param=EPS_PARAM, c=C):
    """Candidates that make one RSS instance fail with probability ≤ δ_inst (THEORY.md §3).

    Contained-uniform lemma applied to targets |z| ≤ K·a with K = ⌈z_max/a⌉ parts (disjoint
    sub-pools), each part within ε'/K with failure ≤ δ_inst/K, so the whole sum is within ε'
    with failure ≤ δ_inst (proofs/width-theorem.md; THEORY.md's "multiply n by ⌈K⌉" alone
    would give error Kε' and failure Kδ):

        n_part = max{ (2/p) C ln(2 / min(ε'/(K a), δ_inst/(2K))), (8/p) ln(2K/δ_inst) },
        n = K ⌈n_part⌉ values,  candidates = n / values_per_candidate,

    with p = p*·usable (each candidate independently usable and drawn from the uniform part).
    """
    a = pool.a_star * pool.scale
    K = sympy.Max(1, sympy.ceiling(pool.target / a))
    p = pool.p_star * pool.usable
    n_part = sympy.Max(
        2 / p * c * sympy.log(2 / sympy.Min(eps_param / (K * a), delta_instance / (2 * K))),
        8 / p * sympy.log(2 * K / delta_instance),
    )
    return K * sympy.ceiling(n_part) / pool.values_per_candidate


def construction_pools(spec: BoundSpec, weight_law: str) -> dict[str, tuple[PoolLaw, ...]]:
    """The pools of a construction, grouped by the width they size ("rho", "rho_in")."""
    weight_law = check_weight_law(weight_law)
    product_law = "product" if weight_law == "uniform" else "normal-product"
    a_p, p_p = contained_uniform_constants(product_law)
    half = sympy.Rational(1, 2)
    if spec.mirror_pairs:
        weights = PoolLaw("weights (mirror pairs)", product_law, a_p, p_p,
                          values_per_candidate=half)
        biases = PoolLaw("biases (mirror pairs)", product_law, a_p, p_p, scale=BETA,
                         values_per_candidate=half, target=B_MAX)
    else:
        weights = PoolLaw("weights (products, sign split)", product_law, a_p, p_p, usable=half)
        biases = PoolLaw("biases (products v·c, c > 0)", product_law, a_p, p_p, scale=BETA,
                         usable=half, target=B_MAX)
    if spec.bounded_gain:
        # PROVISIONAL: the L+1 pool's requirement; the gain constraint removes subsets, so the
        # contained-uniform lemma does not cover it as stated — its failure rate is measured
        # (proofs/bounded-gain-l+1.md, table), not proven
        a_s, p_s = contained_uniform_constants(weight_law)
        single = PoolLaw("hidden weights (single values, gain-bounded; provisional)",
                         weight_law, a_s, p_s)
        return {"rho_in": (weights, biases), "rho": (single, biases)}
    if spec.copies:
        a_s, p_s = contained_uniform_constants(weight_law)
        single = PoolLaw("hidden weights (single values)", weight_law, a_s, p_s)
        first = (weights, biases)
        if spec.linear_first_layer:
            # u·x and the constant c are exact for either sign over a linear first layer:
            # every candidate of the block (u ≠ 0) and of the constants (c ≠ 0) is usable
            first = (PoolLaw("weights (products v·u, linear first layer)", product_law, a_p,
                             p_p),
                     PoolLaw("biases (products v·c, linear first layer)", product_law, a_p,
                             p_p, scale=BETA, target=B_MAX))
        return {"rho_in": first, "rho": (single, biases)}
    return {"rho": (weights, biases) if spec.biases else (weights,)}


def _split(spec: BoundSpec, layer: int, input_has_negative: bool) -> int:
    """s_l: 2 for layer 1 when it builds a negative part (inputs can be < 0), else 1."""
    return 2 if (spec.negative_split and input_has_negative and layer == 0) else 1


def _copies(spec: BoundSpec, layer: int, depth: int, rho):
    """Copies per target neuron of a layer: ρ for the hidden layers of L+1, else 1."""
    return rho if (spec.copies and layer < depth - 1) else 1


def instances_expr(spec: BoundSpec, depth: int, *, input_has_negative: bool = True, rho=RHO):
    """M, the number of RSS instances (an upper bound: parameters with |w| ≤ ε' may be skipped).

    Σ_l copies_l · n_l (s_l k_l + [biases]), s_1 = 2 when layer 1 builds a negative part and
    the input box has negative coordinates, else 1: 2L Σ_l n_l (s_l k_l + 1); looks-linear
    Σ_l n_l (k_l + 1); zero-bias Σ_l n_l s_l k_l; L+1 ρ n_1 (s_1 k_1 + 1) +
    Σ_{l=2}^{L−1} ρ n_l (k_l + 1) + n_L (k_L + 1). :func:`count_instances` is the exact count.
    """
    s = layer_symbols(depth)
    bias = 1 if spec.biases else 0
    return sympy.Add(*(
        _copies(spec, ly, depth, rho) * s.n[ly + 1]
        * (_split(spec, ly, input_has_negative) * s.k[ly] + bias)
        for ly in range(depth)))


def count_instances(spec: BoundSpec, target, eps_param: float, negative_inputs, *,
                    rho: int = 1) -> int:
    """The exact M of :func:`instances_expr` for a concrete target (at least 1).

    Parameters with |value| ≤ ε' get no instance; the negative part of layer 1 is counted for
    the inputs ``negative_inputs`` (a boolean mask over the inputs) marks as able to be < 0.
    """
    negative_inputs = np.asarray(negative_inputs, dtype=bool)
    total = 0
    for ly, (w, b) in enumerate(zip(target.weights, target.biases, strict=True)):
        big = np.abs(w) > eps_param
        n = int(big.sum()) + (int((np.abs(b) > eps_param).sum()) if spec.biases else 0)
        if ly == 0 and spec.negative_split:
            n += int(big[:, negative_inputs].sum())
        total += n * _copies(spec, ly, target.depth, rho)
    return max(1, total)


def source_widths_expr(spec: BoundSpec, depth: int, *, rho=RHO, rho_in=None) -> tuple:
    """The source widths of THEORY.md §4 in the target widths and ρ (and ρ_in for L+1)."""
    n = layer_symbols(depth).n
    if spec.copies:
        rho_in = RHO_IN if rho_in is None else rho_in
        return (n[0], rho_in * (n[0] + 1), *(rho * (n[ly] + 1) for ly in range(1, depth)), n[depth])
    widths = [n[0]]
    for ly in range(depth):
        widths.append(rho * (n[ly] + 1) if spec.biases else rho * n[ly])
        if spec.mirror_pairs and ly < depth - 1:
            # looks-linear hidden layers need mirror twins: widths rounded up to even
            widths.append(2 * sympy.ceiling(n[ly + 1] / 2))
        else:
            widths.append(n[ly + 1])
    return tuple(widths)


@dataclass(frozen=True)
class WidthRequirement:
    """§6 for one construction: M, per-pool candidate counts, ρ (and ρ_in), source widths.

    ``per_instance[width]`` is the requirement in the symbol :data:`M` (δ_inst = δ/M);
    ``requirements[width]`` the same with M = :attr:`instances` substituted (for printing).
    """

    spec: BoundSpec
    weight_law: str
    instances: object
    pools: Mapping
    per_instance: Mapping
    widths: tuple
    notes: tuple = field(default_factory=tuple)

    @property
    def requirements(self) -> dict:
        return {w: e.subs(M, self.instances) for w, e in self.per_instance.items()}


@functools.lru_cache(maxsize=64)
def width_requirements(
    spec: BoundSpec, depth: int, *, weight_law: str = "uniform", input_has_negative: bool = True
) -> WidthRequirement:
    """The §6 width theorem for a construction: each width symbol ≥ the max over its pools of
    :func:`pool_requirement_expr` with δ_inst = δ/M (union bound over the M instances).

    For L+1, M itself grows with ρ, so the requirement on ρ is implicit
    (ρ ≥ n(δ/M(ρ))); :func:`evaluate_widths` solves it by monotone fixed-point iteration.
    """
    weight_law = check_weight_law(weight_law)
    instances = instances_expr(spec, depth, input_has_negative=input_has_negative)
    pools = construction_pools(spec, weight_law)
    per_instance = {
        width: sympy.Max(*(pool_requirement_expr(p, DELTA / M) for p in group))
        for width, group in pools.items()
    }
    notes = ()
    if spec.copies:
        notes = ("M depends on rho: the requirement rho >= n(delta/M(rho)) is implicit",)
    return WidthRequirement(spec, weight_law, instances, pools, per_instance,
                            source_widths_expr(spec, depth), notes)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def evaluate_widths(req: WidthRequirement, values: Mapping, *, instances=None) -> dict:
    """Numbers for a WidthRequirement: M, ρ (ρ_in), source widths (needs C, δ, ε', β, …).

    ``instances(rho) -> M`` replaces the symbolic upper bound :attr:`WidthRequirement.instances`
    by an exact count (:func:`count_instances`; the construction sizes its source this way).
    ρ is rounded up to a multiple of ``spec.rho_multiple``.
    """
    values = dict(values)
    if instances is None:
        def instances(rho):
            return int(evaluate_mpmath(req.instances, {**values, RHO: rho}))

    def requirement(width, rho):
        return int(evaluate_mpmath(req.per_instance[width], {**values, M: instances(rho)}))

    out = {}
    if req.spec.copies:
        rho = 1
        for _ in range(100):
            new = requirement("rho", rho)
            if new <= rho:
                break
            rho = new
    else:
        rho = requirement("rho", 1)
    rho = _round_up(rho, req.spec.rho_multiple)
    out["rho"] = values[RHO] = rho
    if "rho_in" in req.per_instance:
        out["rho_in"] = values[RHO_IN] = requirement("rho_in", rho)
    out["instances"] = instances(rho)
    out["widths"] = tuple(int(evaluate_mpmath(w, values)) for w in req.widths)
    return out


def a_priori_widths(spec: BoundSpec, target, eps_param: float, delta: float, *,
                    negative_inputs=None, weight_law: str = "uniform", beta: float = 1.0,
                    lueker_c: float = DEFAULT_LUEKER_C) -> dict:
    """ρ (and ρ_in) such that, by the union bound of §6 and the lemma of §3, P(any failure) ≤ δ
    for this target: :func:`evaluate_widths` with the exact instance count.

    ``negative_inputs``: a boolean mask of the inputs the box lets be negative (default: all).
    The rule is conservative (union bound, Chernoff slack); the ρ that actually suffices is far
    smaller and is measured (benchmarks/README.md, "constructions"). Returns the dict of
    :func:`evaluate_widths` (``rho``, ``rho_in`` for L+1, ``instances``, ``widths``).
    """
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    lueker_c = _validate.positive("Lueker's constant C", lueker_c)
    beta = _validate.positive("bias_factor (β)", beta)
    widths = tuple(target.widths)
    negative_inputs = (np.ones(widths[0], bool) if negative_inputs is None
                       else np.asarray(negative_inputs, bool))
    req = width_requirements(spec, target.depth, weight_law=weight_law,
                             input_has_negative=bool(negative_inputs.any()))
    values = {
        **dict(zip(layer_symbols(target.depth).n, widths, strict=True)),
        EPS_PARAM: eps_param, DELTA: delta, C: lueker_c, BETA: beta,
        W_MAX: max(float(np.max(np.abs(w))) for w in target.weights),
        B_MAX: max(float(np.max(np.abs(b))) for b in target.biases),
    }
    return evaluate_widths(req, values, instances=lambda rho: count_instances(
        spec, target, eps_param, negative_inputs, rho=rho))


# ------------------------------------------------------------------------ the summary (CLI)
@dataclass(frozen=True)
class SummaryRow:
    """One printed line of ``lotteryproofs bounds``: a named expression and its value."""

    name: str
    description: str
    expr: object
    value: object  # mpmath number, int, tuple, or None when a symbol (C) has no value


@dataclass(frozen=True)
class Summary:
    spec: BoundSpec
    weight_law: str
    widths: tuple
    eps: float
    delta: float
    C_value: float | None
    C_provenance: str
    norms: TargetNorms
    rows: tuple

    @property
    def method(self) -> str:
        return self.spec.name


def worst_case_norms(
    widths, *, w_max: float = 1.0, b_max: float = 1.0, box_bound: float = 1.0
) -> TargetNorms:
    """Norms valid for every target of these widths with |w| ≤ w_max, |b| ≤ b_max on a box with
    |x_i| ≤ box_bound: k_l = n_{l−1}, a_l = n_{l−1} w_max, B_l = a_l B_{l−1} + b_max."""
    widths = _validate.widths("target widths", widths)
    w_max = _validate.positive("w_max", w_max)
    b_max = _validate.positive("b_max", b_max)
    box_bound = _validate.positive("box bound", box_bound)
    depth = len(widths) - 1
    k = tuple(widths[:-1])
    a = tuple(n * w_max for n in k)
    B = [box_bound]
    for ly in range(depth - 1):
        B.append(a[ly] * B[-1] + b_max)
    return TargetNorms(
        widths=widths,
        a=a,
        k=k,
        B=tuple(B),
        bbar=(b_max,) * depth,
        w_max=w_max,
        b_max=b_max,
        input_has_negative=True,
    )


def _copy_gain_bound(weight_law: str):
    """v_max, the bound on one unit-scale source weight: 1 for U[-1, 1], none (∞) for N(0, 1)."""
    return 1.0 if weight_law == "uniform" else math.inf


def _eps_param_with_copies(spec, norms, eps, widths_for, v_max):
    """For L+1, ε' and ρ depend on each other (G_l = ρ·v_max): iterate
    ε' ← root(e_L(·; G(ρ(ε'))) = ε) from ε' = ε to a fixed point. ``widths_for`` is None
    without a value of C; then, or without a finite v_max, there is no value (None)."""
    if widths_for is None or math.isinf(v_max):
        return None
    eps_param = mpmath.mpf(eps)
    for _ in range(50):
        rho = widths_for(float(eps_param))["rho"]
        gains = [0.0] + [rho * v_max] * (norms.depth - 1)
        new = solve_eps_param(spec, norms, eps, gains=gains)
        if new is None or abs(new - eps_param) <= eps_param * 1e-12:
            return new
        eps_param = new
    return eps_param


def _contained_uniform_rows(req: WidthRequirement) -> list[SummaryRow]:
    rows = []
    for law in sorted({p.law for group in req.pools.values() for p in group}):
        a_star, p_star = contained_uniform_constants(law)
        rows.append(SummaryRow(
            f"contained_uniform[{law}]", "law ≥ p*·U[−a*, a*] (laws.best_contained_uniform)",
            sympy.Tuple(a_star, p_star),
            (mpmath.mpf(sympy.N(a_star, DPS)), mpmath.mpf(sympy.N(p_star, DPS)))))
    return rows


def _width_rows(req: WidthRequirement, numbers) -> list[SummaryRow]:
    def value(key):
        return None if numbers is None else numbers[key]

    rows = [SummaryRow("instances", "M, RSS instances (union bound over them)", req.instances,
                       value("instances"))]
    for width, expr in req.requirements.items():
        rows.append(SummaryRow(width, f"{width} ≥ this (failure ≤ δ by the union bound)", expr,
                               value(width)))
    rows.append(SummaryRow("source_widths", "source widths (THEORY.md §4)",
                           sympy.Tuple(*req.widths), value("widths")))
    return rows


def summarize(
    spec: BoundSpec,
    norms: TargetNorms,
    *,
    eps,
    delta,
    weight_law: str = "uniform",
    beta: float = 1.0,
    C_value: float | None = None,
    C_provenance: str = "symbol (Lueker's constant, unpublished)",
) -> Summary:
    """Every bound of THEORY.md §5–§6 for one construction and target: expressions and values
    (the a-priori error, ε', the contained uniforms, M, the widths)."""
    weight_law = check_weight_law(weight_law)
    eps, delta = open_eps(eps), _validate.open_unit("δ", delta)
    beta = _validate.positive("bias factor β", beta)
    if C_value is not None:
        C_value = _validate.positive("Lueker's constant C", C_value)
    depth = norms.depth
    a_priori = a_priori_output_error_expr(spec, depth)
    values = {**norms.values(), EPS: eps, DELTA: delta, BETA: beta}
    req = width_requirements(
        spec, depth, weight_law=weight_law, input_has_negative=norms.input_has_negative
    )

    def widths_for(eps_param):
        return evaluate_widths(req, {**values, EPS_PARAM: eps_param, C: C_value})

    if C_value is None:
        widths_for = None

    rows = []
    if spec.needs_gains:
        v_max = _copy_gain_bound(weight_law)
        rows.append(SummaryRow(
            "G_l", "a-priori bound on Σ_{r∈S}|v_r| (ρ·v_max; THEORY.md gives none)",
            RHO * (1 if weight_law == "uniform" else sympy.oo), None))
        eps_param = _eps_param_with_copies(spec, norms, eps, widths_for, v_max)
    else:
        eps_param = solve_eps_param(spec, norms, eps)
    rows.append(SummaryRow("a_priori_output_error", "§5 closed form e_L(ε')", a_priori, None))
    rows.append(SummaryRow("eps_param", "largest ε' with e_L(ε') ≤ ε (root of the closed form)",
                           sympy.Eq(a_priori, EPS), eps_param))
    if spec.has_sufficient_eps_param:
        suff = sufficient_eps_param_expr(spec, depth)
        rows.append(SummaryRow("sufficient_eps_param", "closed-form ε' ≤ the root (valid if ≤ 1)",
                               suff, evaluate_mpmath(suff, values)))
    rows += _contained_uniform_rows(req)
    numbers = None if eps_param is None or widths_for is None else widths_for(float(eps_param))
    rows += _width_rows(req, numbers)
    return Summary(
        spec, weight_law, norms.widths, eps, delta, C_value, C_provenance, norms, tuple(rows)
    )


# ------------------------------------------------------------ convolutional and residual targets
def _recursion_layers(layers, activations, lo, hi, e: float, eps_param: float,
                      gain_budget: float | None = None) -> float:
    """The §5 recursion through ``layers`` (proofs/conv-error-recursion.md), float intervals
    for the target's values: per parameter layer with patch matrix K (out, F),

        e ← ε'·(F·max_i(B⁺_i + B⁻_i) + 1) + (max_o ‖K_o‖₁ + F·ε')·e,

    ‖K_o‖₁ the ℓ1 norm of output channel o's kernel (every row of the unrolled map of channel
    o has at most these entries); pools and Flatten have gain 1; a residual block
    y = S(x) + g(x) has e ← gain(S)·e + e_g, the body's recursion started at e.

    ``gain_budget`` = γ (bounded-gain conv L+1, proofs/conv-l-plus-one.md "Bounded gain"):
    the gain is max_o (‖K_o‖₁ + γ·k_o), k_o = #{entries of K_o with |K| > ε'}, in place of
    max_o ‖K_o‖₁ + F·ε' (the first parameter layer multiplies e = 0)."""
    from lotteryproofs.conv_params import shortcut_activations, shortcut_layers
    from lotteryproofs.propagation import FLOAT_INTERVAL, propagate

    for t, layer in enumerate(layers):
        if getattr(layer, "kind", "") == "residual":
            e_body = _recursion_layers(layer.body_layers, layer.body_activations, lo, hi, e,
                                       eps_param, gain_budget)
            e_short = e if layer.shortcut is None else _recursion_layers(
                shortcut_layers(layer), shortcut_activations(layer), lo, hi, e, eps_param,
                gain_budget)
            e = e_short + e_body
            lo, hi = propagate((layer,), (), (lo, hi), FLOAT_INTERVAL)
        elif hasattr(layer, "weight"):
            k = np.asarray(layer.weight).reshape(layer.weight.shape[0], -1)
            fan = k.shape[1]
            m = float(np.max(np.maximum(hi, 0.0) + np.maximum(-lo, 0.0)))
            if gain_budget is None:
                l1 = float(np.max(np.abs(k).sum(axis=1)))
                e = eps_param * (fan * m + 1.0) + (l1 + fan * eps_param) * e
            else:
                gain = float(np.max(np.abs(k).sum(axis=1) + gain_budget
                                    * np.count_nonzero(np.abs(k) > eps_param, axis=1)))
                e = eps_param * (fan * m + 1.0) + gain * e
            lo, hi = propagate((layer,), (), (lo, hi), FLOAT_INTERVAL)
        else:
            lo, hi = propagate((layer,), (), (lo, hi), FLOAT_INTERVAL)
        if t < len(layers) - 1:
            lo, hi = activations[t].interval(lo, hi)
    return e


def conv_a_priori_error(target, box, eps_param: float, *,
                        gain_budget: float | None = None) -> float:
    """The a-priori §5 bound of a ticket whose every represented parameter is within ε' of the
    target's (P̃ − K, Ñ + K, b̃ − b), for targets of Conv2d, Dense, pooling, Flatten and
    residual layers with 1-Lipschitz activations (proofs/conv-error-recursion.md).

    ``gain_budget`` = γ: the bounded-gain conv L+1 form, whose gains are
    max_o (‖K_o‖₁ + γ·k_o) (proofs/conv-l-plus-one.md, "Bounded gain"; sound only for a
    ticket whose read-back gains satisfy it: certify.conv:conv_gains_within_budget)."""
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    if gain_budget is not None:
        gain_budget = _validate.positive("gain budget γ", gain_budget)
    return _recursion_layers(target.layers, target.activations, box.lower, box.upper, 0.0,
                             eps_param, gain_budget)


def conv_count_instances(target, eps_param: float, negative_inputs) -> int:
    """M of the convolutional 2L construction: per parameter layer (residual bodies and
    shortcuts included) the kernel entries and biases with |value| > ε', plus the negative
    parts of the entries whose input channel can be negative
    (:func:`lotteryproofs.conv_params.count_instances`, the construction's own walk)."""
    from lotteryproofs.conv_params import count_instances

    return count_instances(target.layers, target.activations, negative_inputs, eps_param)


def conv_a_priori_rho(target, box, eps_param: float, delta: float, *,
                      weight_law: str = "uniform", beta: float = 1.0,
                      lueker_c: float = DEFAULT_LUEKER_C) -> dict:
    """ρ of the §6 width theorem for the convolutional 2L construction: every instance's pool
    (ρ channels of one owner, products v·|u| or v·c with a sign split) is that of the dense 2L
    construction, so ρ ≥ the dense per-instance requirement at δ_inst = δ/M, M the exact
    count (:func:`conv_count_instances`). Returns {"rho", "instances"}."""
    eps_param = _validate.positive("eps_param (ε')", eps_param)
    delta = _validate.open_unit("delta (δ)", delta)
    req = width_requirements(BoundSpec("2l"), 1, weight_law=weight_law)
    from lotteryproofs.conv_params import param_layers

    params = param_layers(target.layers)
    m = max(1, conv_count_instances(target, eps_param, box.has_negative))
    values = {EPS_PARAM: eps_param, DELTA: delta, C: lueker_c, BETA: beta, M: m,
              W_MAX: max(float(np.max(np.abs(p.weight))) for p in params),
              B_MAX: max(float(np.max(np.abs(p.bias))) for p in params)}
    rho = int(evaluate_mpmath(req.per_instance["rho"], values))
    return {"rho": rho, "instances": m}
