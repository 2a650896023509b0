"""RSS laws (THEORY.md §3): densities, samplers, pools and contained-uniform weights.

Expected values come from independent computations: sympy integration and convolution,
mpmath quadrature, brute-force grids for the infimum and the argmax, and the closed forms
THEORY.md states (which are the claims under test).
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.laws import (
    LAWS,
    best_contained_uniform,
    contained_uniform_weight,
    contained_uniform_weight_expr,
    density_is_decreasing_in_abs,
    get_law,
    uniform_product_law,
    z,
)
from lotteryproofs.stats import chi_square_test

ALL_VALUE_LAWS = ["uniform", "product", "product3", "normal", "normal-product"]


@pytest.mark.parametrize("name", ALL_VALUE_LAWS)
def test_density_integrates_to_one_sympy(name):
    s = z()
    mass = sympy.integrate(get_law(name).density_expr(), (s, -sympy.oo, sympy.oo))
    assert sympy.simplify(mass - 1) == 0


@pytest.mark.parametrize("k", [2, 3, 4])
def test_uniform_product_density_is_the_convolution_of_its_factors(k):
    """f_k(z) = ∫_z^1 f_{k-1}(z/u)/u du for 0 < z < 1 (Z = X·U, U ~ U[-1,1]), sympy exact."""
    s = sympy.Symbol("z", positive=True)
    u = sympy.Symbol("u", positive=True)
    previous = get_law("uniform" if k == 2 else f"product{k - 1}").density_expr()
    previous = previous.args[0][0] if isinstance(previous, sympy.Piecewise) else previous
    integrand = previous.subs(z(), s / u).subs(sympy.Abs(s / u), s / u) / u
    derived = sympy.integrate(integrand, (u, s, 1))
    typed = uniform_product_law(k).density_expr().args[0][0].subs(z(), s).subs(sympy.Abs(s), s)
    assert sympy.simplify(sympy.expand_log(derived - typed, force=True)) == 0


@pytest.mark.parametrize("value", [0.05, 0.3, 1.0, 2.5])
def test_normal_product_density_is_the_product_convolution(value):
    """f(z) = 2∫_0^∞ φ(x) φ(z/x) / x dx, by mpmath quadrature, equals K_0(|z|)/π."""
    with mpmath.workdps(30):
        integral = 2 * mpmath.quad(lambda x: mpmath.npdf(x) * mpmath.npdf(value / x) / x,
                                   [0, value, 1, mpmath.inf])
        assert mpmath.almosteq(integral, get_law("normal-product").pdf(value), rel_eps=1e-20)


def _bin_probabilities(law, edges):
    with mpmath.workdps(20):
        pairs = zip(edges[:-1], edges[1:], strict=True)
        probs = [mpmath.quad(law.pdf, [lo, hi]) for lo, hi in pairs]
        # the tails beyond the outer edges go into the outer bins
        mass = mpmath.fsum(probs)
        tail = (1 - mass) / 2
        probs[0] += tail
        probs[-1] += tail
    return probs


@pytest.mark.parametrize("name", list(LAWS) + ["product3"])
def test_sampler_matches_density_chi_square(name):
    """Pearson χ² of 200 000 draws against bin masses from quadrature of the density; the
    critical value at α = 1e-6 comes from the χ² law with bins − 1 degrees of freedom."""
    law = get_law(name)
    samples = law.sample(np.random.default_rng(12345), 200_000)
    # outer edges where the outer bins still expect >= 5 draws; the tails join them
    hi = {"product3": 0.8, "normal": 4.0, "normal-product": 4.0}.get(name, 1.0)
    edges = list(np.linspace(-hi, hi, 41))
    counts, _ = np.histogram(np.clip(samples, -hi, hi), bins=edges)
    result = chi_square_test(counts, _bin_probabilities(law, edges), alpha=1e-6)
    assert result.passed, result


def test_chi_square_detects_a_wrong_density():
    """The same test rejects uniform samples against the product density (it can fail)."""
    samples = get_law("uniform").sample(np.random.default_rng(1), 200_000)
    edges = list(np.linspace(-1, 1, 41))
    counts, _ = np.histogram(samples, bins=edges)
    assert not chi_square_test(counts, _bin_probabilities(get_law("product"), edges)).passed


@pytest.mark.parametrize("name", ALL_VALUE_LAWS)
def test_density_decreases_in_abs_proved_by_sympy(name):
    assert density_is_decreasing_in_abs(name) is True


def _grid_weight(law, a, points=4001):
    """2a·min_{|z| <= a} f(z) on a grid (no monotonicity assumed), z ≠ 0."""
    grid = [a * (i + 1) / points for i in range(points)]
    return 2 * a * min(law.pdf(-x) for x in grid[::-1] + grid) if grid else 0


@pytest.mark.parametrize("name", ALL_VALUE_LAWS)
def test_contained_weight_equals_grid_infimum(name):
    law = get_law(name)
    for a in (0.1, 0.37, 0.8, 1.0):
        derived = contained_uniform_weight(law, a)
        assert mpmath.almosteq(derived, _grid_weight(law, a, 200), rel_eps=1e-12, abs_eps=1e-25)


@pytest.mark.parametrize("name", ALL_VALUE_LAWS)
def test_best_contained_uniform_beats_a_grid_search(name):
    law = get_law(name)
    best = best_contained_uniform(law)
    hi = min(law.support[1], 6.0)
    grid = [hi * i / 600 for i in range(1, 601)]
    grid_best = max(grid, key=lambda a: contained_uniform_weight(law, a))
    assert best.p >= contained_uniform_weight(law, grid_best)
    assert abs(best.a - grid_best) <= hi / 300
    assert mpmath.almosteq(best.p, contained_uniform_weight(law, best.a))


def test_theory_numbers_for_the_contained_uniforms():
    """THEORY.md §3's numbers, recomputed from their closed forms by mpmath."""
    with mpmath.workdps(30):
        assert contained_uniform_weight("uniform", 1) == 1
        assert best_contained_uniform("uniform").a == 1
        assert mpmath.almosteq(contained_uniform_weight("product", 0.5), mpmath.log(2) / 2)
        best = best_contained_uniform("product")
        assert mpmath.almosteq(best.a, mpmath.exp(-1)) and mpmath.almosteq(best.p, mpmath.exp(-1))
        assert best.a_expr == sympy.exp(-1)
        assert mpmath.almosteq(contained_uniform_weight("normal", 1), 2 * mpmath.npdf(1))
        assert mpmath.almosteq(best_contained_uniform("normal").a, 1)
        nn_at_1 = contained_uniform_weight("normal-product", 1)
        assert mpmath.almosteq(nn_at_1, 2 * mpmath.besselk(0, 1) / mpmath.pi)
        # the weight at a = 1 is right, but it is not the best uniform inside N·N:
        nn = best_contained_uniform("normal-product")
        assert nn.p > nn_at_1 * mpmath.mpf("1.1") and nn.a < mpmath.mpf("0.6")
        assert mpmath.almosteq(mpmath.besselk(0, nn.a), nn.a * mpmath.besselk(1, nn.a))


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_products_of_k_uniforms_best_weight_closed_form(k):
    """p(a) = a ln(1/a)^{k-1}/(k-1)!, maximal at a = e^{-(k-1)}, p = (k-1)^{k-1}e^{1-k}/(k-1)!."""
    best = best_contained_uniform(uniform_product_law(k))
    with mpmath.workdps(30):
        assert mpmath.almosteq(best.a, mpmath.exp(1 - k))
        assert mpmath.almosteq(best.p, (k - 1) ** (k - 1) * mpmath.exp(1 - k)
                               / mpmath.factorial(k - 1))
    assert sympy.simplify(contained_uniform_weight_expr(uniform_product_law(k))
                          - sympy.Symbol("a", positive=True)
                          * sympy.log(1 / sympy.Symbol("a", positive=True)) ** (k - 1)
                          / sympy.factorial(k - 1)) == 0


@settings(max_examples=60)
@given(name=st.sampled_from(ALL_VALUE_LAWS), a=st.floats(0.01, 1.0), frac=st.floats(-1, 1))
def test_contained_weight_is_the_largest_feasible(name, a, frac):
    """law >= p(a)·U[-a,a]: f(z) >= p/(2a) on |z| <= a, and any larger p violates it at |z|=a."""
    law = get_law(name)
    p = contained_uniform_weight(law, a)
    assert law.pdf(frac * a) >= p / (2 * a) * (1 - mpmath.mpf(10) ** -12)
    larger = p * (1 + mpmath.mpf(10) ** -9) + mpmath.mpf(10) ** -30
    assert law.pdf(a) < larger / (2 * a)


def test_weight_beyond_the_support_is_zero():
    assert contained_uniform_weight("uniform", 1.5) == 0
    assert contained_uniform_weight("product", 2) == 0


def test_sign_split_pool_sizes_are_binomial():
    n, trials = 12, 40_000
    batch = get_law("sign-split").sample_pools(np.random.default_rng(7), n, trials)
    sizes = np.bincount(batch.sizes, minlength=n + 1)
    pmf = [Fraction(math.comb(n, j), 2**n) for j in range(n + 1)]
    # merge the thin tails so every bin expects >= 5
    counts = [sizes[:3].sum(), *sizes[3:10], sizes[10:].sum()]
    probs = [sum(pmf[:3]), *pmf[3:10], sum(pmf[10:])]
    assert chi_square_test(counts, probs).passed
    assert np.all(batch.values[~batch.usable] == 0.0)
    assert np.all(np.abs(batch.values[batch.usable]) <= 1)


def test_sign_split_keeps_exactly_the_products_with_positive_u():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    batch = get_law("sign-split").sample_pools(rng_a, 9, 5)
    v = rng_b.uniform(-1, 1, (5, 9))
    u = rng_b.uniform(-1, 1, (5, 9))
    for i in range(5):
        assert np.array_equal(batch.pool(i), (v * u)[i][u[i] > 0])


def test_looks_linear_pool_has_all_pairs():
    batch = get_law("looks-linear").sample_pools(np.random.default_rng(3), 11, 100)
    assert batch.values.shape == (100, 5) and np.all(batch.sizes == 5)
    assert get_law("looks-linear").usable_per_candidate == Fraction(1, 2)


@pytest.mark.parametrize("name", list(LAWS))
def test_pools_are_deterministic_under_a_seed(name):
    law = get_law(name)
    one = law.sample_pools(np.random.default_rng(99), 8, 50)
    two = law.sample_pools(np.random.default_rng(99), 8, 50)
    assert one.values.tobytes() == two.values.tobytes()
    assert np.array_equal(one.usable, two.usable)


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="unknown law 'gamma'"):
        get_law("gamma")
    with pytest.raises(InputError, match="a must be > 0"):
        contained_uniform_weight("uniform", 0)
    with pytest.raises(InputError, match="rng is required"):
        get_law("uniform").sample(None, 3)
    with pytest.raises(InputError, match="n must be an integer"):
        get_law("uniform").sample_pools(np.random.default_rng(0), 0, 3)


def test_pools_draw_their_factors_through_the_factor_law():
    """sign-split and paired pools are the factor law's own draws (v first, then u), so the
    constants' Monte Carlo sees the numbers the initialisation would draw from the same rng."""
    n, trials = 9, 4
    batch = get_law("sign-split").sample_pools(np.random.default_rng(11), n, trials)
    rng = np.random.default_rng(11)
    v, u = rng.uniform(-1.0, 1.0, (trials, n)), rng.uniform(-1.0, 1.0, (trials, n))
    assert np.array_equal(batch.usable, u > 0)
    assert np.array_equal(batch.values, np.where(u > 0, v * u, 0.0))
    paired = get_law("looks-linear").sample_pools(np.random.default_rng(12), n, trials)
    rng = np.random.default_rng(12)
    v, u = rng.uniform(-1.0, 1.0, (trials, n // 2)), rng.uniform(-1.0, 1.0, (trials, n // 2))
    assert np.array_equal(paired.values, np.sign(u) * v * np.abs(u))
    assert get_law("sign-split").factor is get_law("uniform")
