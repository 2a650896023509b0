"""Random-subset-sum laws by name, their densities, and the uniform law each one contains.

THEORY.md §3 ("Contains-a-uniform lemma", "Products of uniforms"); proofs/contains-uniform.md
and proofs/product-densities.md.

A *value law* is the law of one candidate X of a random-subset-sum instance:

    uniform          X ~ U[-1, 1]                 f(z) = 1/2                      on |z| <= 1
    product          X = U·U'                     f(z) = (1/2) ln(1/|z|)          on 0 < |z| <= 1
    product<k>       X = U_1 ⋯ U_k (k >= 2)       f(z) = (1/2) ln(1/|z|)^{k-1}/(k-1)!
    normal           X ~ N(0, 1)                  f(z) = φ(z)
    normal-product   X = N·N'                     f(z) = K_0(|z|)/π

A *pool law* models the candidates of one RSS instance of a construction drawn from n source
neurons (n = ρ, the block width):

    sign-split       2L construction (§4.1): n products v_k·u_k, usable only where u_k > 0,
                     so the pool holds Binomial(n, 1/2) values of the ``product`` law
    looks-linear     LL construction (§4.2): n neurons form ⌊n/2⌋ mirror pairs, every pair
                     usable, value s_k v_k |u_k| = v_k u_k, again of the ``product`` law

The *contained-uniform weight* of a law at half-width a is the largest p with
law >= p·U[-a, a] (as measures), i.e.

    p(a) = 2a · inf_{|z| <= a} f(z),

and :func:`best_contained_uniform` maximises it over a. Both are derived here from the sympy
density (monotonicity in |z| checked, critical points solved by sympy or mpmath), never typed
in. For a pool law the weight is that of one usable value; a source candidate is usable with
probability :attr:`Law.usable_per_candidate` (1/2 for both pools, random for sign-split and
deterministic for looks-linear).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs._limits import MPMATH_DPS

#: Working precision (decimal digits) of every mpmath computation here.
DPS = MPMATH_DPS


@dataclass(frozen=True)
class PoolBatch:
    """``trials`` RSS pools drawn from ``n`` source candidates each.

    ``values`` has shape (trials, m); ``usable`` marks the genuine candidates. Unusable slots
    hold exactly 0.0, which leaves every subset-sum value unchanged, but they must not be
    counted as candidates (use :meth:`pool` or ``usable``).
    """

    values: np.ndarray
    usable: np.ndarray

    def pool(self, i: int) -> np.ndarray:
        """The usable values of pool ``i`` (1-D, in draw order)."""
        return self.values[i][self.usable[i]]

    @property
    def sizes(self) -> np.ndarray:
        return self.usable.sum(axis=1)


@dataclass(frozen=True)
class Law:
    """One RSS law: sampler, sympy density and pool structure (see the module docstring)."""

    name: str
    description: str
    #: law of one usable value: ``sample_values(rng, shape) -> ndarray``
    sample_values: Callable[[np.random.Generator, tuple], np.ndarray]
    #: sympy density of one usable value in the symbol ``z`` (builder, to keep sympy lazy)
    density_builder: Callable[[], object]
    #: ``(lo, hi)`` of the support of one value (``math.inf`` when unbounded)
    support: tuple[float, float]
    #: "iid" (n values), "sign-split" (Binomial(n, 1/2) values) or "paired" (⌊n/2⌋ values)
    pool_kind: str = "iid"
    #: for the pool laws: the law of each of the two factors v, u of a candidate's value v·u
    #: (its sampler draws them, so a pool is made of the very draws the construction sees)
    factor: Law | None = None
    #: for a law whose sampler turns the generator's 64-bit word i into value i and uses no
    #: other word (``uniform``): that map, ``from_words(words) -> values``, so a value can be
    #: computed from its word alone (proofs/lazy-source.md); None for the others (the normal
    #: ziggurat rejects words, so value i depends on the words before it)
    from_words: Callable[[np.ndarray], np.ndarray] | None = None

    # ------------------------------------------------------------------ values
    def sample(self, rng, shape) -> np.ndarray:
        """``shape`` i.i.d. draws of one usable value."""
        shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
        return self.sample_values(_validate.rng(rng), shape)

    @property
    def usable_per_candidate(self) -> Fraction:
        """Expected usable values per source candidate (1 for value laws, 1/2 for pools)."""
        return Fraction(1) if self.pool_kind == "iid" else Fraction(1, 2)

    def density_expr(self):
        """The density of one usable value as a sympy expression in ``z`` (see :func:`z`)."""
        return self.density_builder()

    def pdf(self, z) -> mpmath.mpf:
        """The density at ``z`` in mpmath (0 outside the support, +inf at a log singularity)."""
        return _density_mpmath(self)(z)

    # ------------------------------------------------------------------ pools
    def pool_size_max(self, n: int) -> int:
        return n // 2 if self.pool_kind == "paired" else n

    def sample_pools(self, rng, n: int, trials: int) -> PoolBatch:
        """``trials`` pools of the construction drawn from ``n`` source candidates each.

        sign-split draws (v, u) for every candidate and keeps v·u where u > 0 — the candidates
        are genuinely those of §4.1, not a resampled pool of fixed size.
        """
        rng = _validate.rng(rng)
        n = _validate.positive_int("n", n)
        trials = _validate.positive_int("trials", trials)
        _validate.fits_in_memory(3 * 8 * n * trials, f"{trials} pools of {n} candidates")
        if self.pool_kind == "iid":
            values = self.sample_values(rng, (trials, n))
            return PoolBatch(values, np.ones(values.shape, dtype=bool))
        draw = self.factor.sample_values
        if self.pool_kind == "sign-split":
            v = draw(rng, (trials, n))
            u = draw(rng, (trials, n))
            usable = u > 0
            return PoolBatch(np.where(usable, v * u, 0.0), usable)
        if self.pool_kind == "paired":
            m = n // 2
            v = draw(rng, (trials, m))
            u = draw(rng, (trials, m))
            # the pair member with positive weight has |u| and outgoing weight sign(u)·v
            values = np.sign(u) * v * np.abs(u)
            return PoolBatch(values, np.ones(values.shape, dtype=bool))
        raise AssertionError(self.pool_kind)


# ---------------------------------------------------------------------- sympy densities
def z():
    """The real symbol ``z`` every density is written in."""
    import sympy

    return sympy.Symbol("z", real=True)


def _uniform_density():
    import sympy

    s = z()
    return sympy.Piecewise((sympy.Rational(1, 2), sympy.Abs(s) <= 1), (0, True))


def _uniform_product_density(k: int):
    import sympy

    s = z()
    # -ln|Z| ~ Gamma(k, 1) and sign(Z) is an independent fair sign (THEORY.md §3)
    body = sympy.Rational(1, 2) * sympy.log(1 / sympy.Abs(s)) ** (k - 1) / sympy.factorial(k - 1)
    return sympy.Piecewise((body, (sympy.Abs(s) <= 1) & sympy.Ne(s, 0)), (0, True))


def _normal_density():
    import sympy

    s = z()
    return sympy.exp(-s**2 / 2) / sympy.sqrt(2 * sympy.pi)


def _normal_product_density():
    import sympy

    s = z()
    return sympy.besselk(0, sympy.Abs(s)) / sympy.pi


def _uniform_sampler(rng, shape):
    return rng.uniform(-1.0, 1.0, shape)


def _uniform_from_words(words: np.ndarray) -> np.ndarray:
    """What ``rng.uniform(-1, 1)`` makes of one 64-bit word w: numpy's ``random_uniform``,
    off + scale·d with off = −1, scale = 2 and d = (w >> 11)·2⁻⁵³ (``next_double``), one word
    per value and no other (tests/test_lazy_source.py compares it with the sampler)."""
    d = (np.asarray(words, np.uint64) >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)
    return -1.0 + 2.0 * d


def _uniform_product_sampler(k: int):
    def sample(rng, shape):
        out = _uniform_sampler(rng, shape)
        for _ in range(k - 1):
            out = out * _uniform_sampler(rng, shape)
        return out

    return sample


def _normal_sampler(rng, shape):
    return rng.standard_normal(shape)


def _normal_product_sampler(rng, shape):
    return _normal_sampler(rng, shape) * _normal_sampler(rng, shape)


def uniform_product_law(k: int) -> Law:
    """The law of a product of ``k`` independent U[-1, 1] (k = 1 is the uniform law)."""
    k = _validate.positive_int("k", k)
    if k == 1:
        return LAWS["uniform"]
    return Law(
        name="product" if k == 2 else f"product{k}",
        description=f"product of {k} independent U[-1, 1]",
        sample_values=_uniform_product_sampler(k),
        density_builder=lambda: _uniform_product_density(k),
        support=(-1.0, 1.0),
    )


#: The laws of `lotteryproofs constants --law`, by name.
LAWS: dict[str, Law] = {}
_UNBOUNDED = (-math.inf, math.inf)
LAWS["uniform"] = Law("uniform", "U[-1, 1]", _uniform_sampler, _uniform_density, (-1.0, 1.0),
                      from_words=_uniform_from_words)
LAWS["product"] = uniform_product_law(2)
LAWS["normal"] = Law("normal", "N(0, 1)", _normal_sampler, _normal_density, _UNBOUNDED)
LAWS["normal-product"] = Law("normal-product", "product of two independent N(0, 1)",
                             _normal_product_sampler, _normal_product_density, _UNBOUNDED)


def _pool_law(name: str, pool_kind: str, description: str) -> Law:
    """A pool law of the 2L constructions: candidates v·u of two U[-1, 1] factors, of which
    ``pool_kind`` says how many are usable (the values follow the product law)."""
    return Law(name=name, description=description, sample_values=_uniform_product_sampler(2),
               density_builder=lambda: _uniform_product_density(2), support=(-1.0, 1.0),
               pool_kind=pool_kind, factor=LAWS["uniform"])


LAWS["sign-split"] = _pool_law(
    "sign-split", "sign-split",
    "2L positive pool: products v·u of n candidates, usable where u > 0 (Binomial(n, 1/2) "
    "values of the product law)")
LAWS["looks-linear"] = _pool_law(
    "looks-linear", "paired",
    "LL paired pool: n candidates form n//2 mirror pairs, each usable with value s·v·|u| "
    "(product law)")


def sample(law, rng: np.random.Generator, shape) -> np.ndarray:
    """``shape`` i.i.d. draws of ``law`` (a name or a :class:`Law`) from ``rng``.

    The one sampler of each law: initialisation schemes, widening, the constants' Monte Carlo
    and the checks all draw through it, so the same rng state gives the same numbers
    everywhere.
    """
    return get_law(law).sample_values(rng, shape)


def from_words(law, words) -> np.ndarray | None:
    """The values ``law``'s sampler makes of these generator words, one word each
    (:attr:`Law.from_words`), or None for a law that cannot be drawn word by word."""
    transform = get_law(law).from_words
    return None if transform is None else transform(words)


def get_law(name) -> Law:
    """A law by name (``LAWS`` or ``product<k>``), or an :class:`InputError` listing them."""
    if isinstance(name, Law):
        return name
    if isinstance(name, str) and name in LAWS:
        return LAWS[name]
    if isinstance(name, str) and name.startswith("product") and name[7:].isdigit():
        return uniform_product_law(int(name[7:]))
    raise _validate.InputError(
        f"unknown law {name!r}; choose one of {', '.join(LAWS)} or product<k> (k >= 2)"
    )


# ---------------------------------------------------------------------- contained uniform
@cache
def _density_mpmath(law: Law):
    import sympy

    expr = law.density_builder()
    fn = sympy.lambdify(z(), expr, modules="mpmath")

    def pdf(value):
        with mpmath.workdps(DPS):
            value = mpmath.mpf(value)
            if value == 0 and expr.has(sympy.log, sympy.besselk):
                return mpmath.inf
            return mpmath.mpf(fn(value))

    return pdf


@cache
def _weight_analysis(law: Law):
    """sympy: the weight function g(a) = 2a·f(a) and the proof that f decreases in |z|.

    Returns (g as a sympy expression in the positive symbol a, the derivative of f on
    (0, support_hi), whether sympy proved f' < 0 there).
    """
    import sympy

    a = sympy.Symbol("a", positive=True)
    support_hi = law.support[1]
    expr = law.density_builder().subs(z(), a)
    # on 0 < a < support_hi the Piecewise reduces to its first branch
    if isinstance(expr, sympy.Piecewise):
        expr = expr.args[0][0]
    expr = sympy.simplify(expr.subs(sympy.Abs(a), a))
    derivative = sympy.simplify(sympy.diff(expr, a))
    proved = _negative_on(derivative, a, support_hi)
    return a, expr, derivative, proved


def _negative_on(expr, a, hi) -> bool | None:
    """True if sympy shows ``expr`` <= 0 for 0 < a < hi; None when it cannot decide."""
    import sympy

    if expr == 0:
        return True  # constant density: non-increasing is all the infimum needs
    if math.isfinite(hi):
        t = sympy.Symbol("t", positive=True)
        # a = hi·exp(-t) maps t ∈ (0, ∞) onto a ∈ (0, hi) and turns ln(hi/a) into t > 0
        verdict = sympy.expand_log(expr.subs(a, sympy.nsimplify(hi) * sympy.exp(-t)),
                                   force=True).is_nonpositive
    else:
        verdict = expr.is_nonpositive
    if verdict is None:
        # K_0' = -K_1 and sympy knows K_1 > 0 only through its integral form; decide by the
        # identity K_ν(x) > 0 for x > 0 (DLMF 10.32.8), recognised term by term
        factored = sympy.factor_terms(expr)
        coeff, rest = factored.as_coeff_Mul()
        if coeff < 0 and all(isinstance(f, sympy.besselk) or f.is_positive
                             for f in sympy.Mul.make_args(rest)):
            return True
    return verdict


def density_is_decreasing_in_abs(law) -> bool | None:
    """Whether sympy proves f'(a) <= 0 on the positive part of the support (None: undecided)."""
    law = get_law(law)
    return _weight_analysis(law)[3]


def contained_uniform_weight_expr(law):
    """p(a) = 2a·f(a) as a sympy expression in the positive symbol ``a``, valid for
    0 < a <= support end (f decreases in |z|, so the infimum over |z| <= a sits at |z| = a)."""
    law = get_law(law)
    a, expr, _, _ = _weight_analysis(law)
    return 2 * a * expr


def contained_uniform_weight(law, a) -> mpmath.mpf:
    """The largest p with law >= p·U[-a, a]: p(a) = 2a·inf_{|z| <= a} f(z) (THEORY.md §3).

    For a pool law this is the weight inside one usable value's law (multiply by
    ``usable_per_candidate`` for the weight per source candidate).
    """
    law = get_law(law)
    a = _validate.positive("a", a)
    if law.support[1] < a:
        return mpmath.mpf(0)  # U[-a, a] charges |z| > support end, where the law has no mass
    if density_is_decreasing_in_abs(law) is not True:
        raise RuntimeError(f"cannot certify that the density of {law.name} decreases in |z|")
    with mpmath.workdps(DPS):
        return +(2 * mpmath.mpf(a) * law.pdf(a))


@dataclass(frozen=True)
class ContainedUniform:
    """The best contained uniform U[-a*, a*] of a law, with weight p* = p(a*)."""

    law: str
    a: mpmath.mpf
    p: mpmath.mpf
    #: sympy expression of a* when sympy solved the critical-point equation, else None
    a_expr: object
    #: "critical point" (p'(a*) = 0) or "support end" (p increases up to the support's end)
    kind: str


def best_contained_uniform(law) -> ContainedUniform:
    """argmax_a p(a) with p(a) = 2a·f(a): solve p'(a) = 0 (sympy, else mpmath findroot),
    compare with the support's end, and return the best."""
    return _best_contained_uniform(get_law(law))


@cache
def _best_contained_uniform(law: Law) -> ContainedUniform:
    import sympy

    name, hi = law.name, law.support[1]
    if density_is_decreasing_in_abs(law) is not True:
        raise RuntimeError(f"cannot certify that the density of {name} decreases in |z|")
    a = sympy.Symbol("a", positive=True)
    weight = contained_uniform_weight_expr(law)
    derivative = sympy.simplify(sympy.diff(weight, a))
    candidates: list[tuple[mpmath.mpf, object, str]] = []
    with mpmath.workdps(DPS):
        exact_roots = None
        try:
            sol = sympy.solveset(derivative, a, domain=sympy.Interval.open(0, sympy.nsimplify(hi))
                                 if math.isfinite(hi) else sympy.Interval.open(0, sympy.oo))
            if isinstance(sol, sympy.FiniteSet):
                exact_roots = list(sol)
        except NotImplementedError:
            exact_roots = None
        if exact_roots is not None:
            for root in exact_roots:
                candidates.append((mpmath.mpf(sympy.N(root, DPS)), root, "critical point"))
        else:
            dfn = sympy.lambdify(a, derivative, modules="mpmath")
            # geometric grid over (0, hi) — or (0, 20] for unbounded support, where every
            # density here has p(20) < 1e-6, far below the maxima found
            grid_hi = mpmath.mpf(hi if math.isfinite(hi) else 20.0)
            grid = [grid_hi * mpmath.mpf(10) ** (-4 * (1 - mpmath.mpf(i) / 80)) for i in range(80)]
            values = [dfn(x) for x in grid]
            for left, right, fl, fr in zip(grid, grid[1:], values, values[1:], strict=False):
                if fl * fr < 0:
                    root = mpmath.findroot(dfn, (left, right), solver="anderson")
                    candidates.append((mpmath.mpf(root), None, "critical point"))
        if math.isfinite(hi):
            candidates.append((mpmath.mpf(hi), sympy.nsimplify(hi), "support end"))
        scored = [(contained_uniform_weight(law, c[0]), c) for c in candidates]
        if not scored:
            raise RuntimeError(f"no maximiser of the contained-uniform weight found for {name}")
        p, (a_star, a_expr, kind) = max(scored, key=lambda item: item[0])
    return ContainedUniform(law=name, a=a_star, p=p, a_expr=a_expr, kind=kind)
