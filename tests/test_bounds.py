"""Symbolic bounds (THEORY.md §5, §6): the §5 closed form proven by sympy, ε' solving, §6
widths, lambdify vs mpmath, and specific errors for bad input."""

import json

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import bounds, cli, laws
from lotteryproofs._validate import InputError
from lotteryproofs.construct.registry import CONSTRUCTIONS

#: method name → its BoundSpec, from the registry (the only list of methods)
SPECS = {name: c.bound for name, c in CONSTRUCTIONS.items()}
#: the methods with a closed-form sufficient ε'
SUFFICIENT = [name for name, spec in SPECS.items() if spec.has_sufficient_eps_param]

# ------------------------------------------------------------------ §5 closed form (proofs)


@pytest.mark.parametrize("depth", range(1, 9))
def test_closed_form_equals_unrolled_recursion_symbolically(depth):
    """e_L = Σ c_l Π_{m>l} g_m equals the recursion e_l = g_l e_{l−1} + c_l, e_0 = 0,
    as polynomials in independent symbols g_1…g_L, c_1…c_L (induction base and steps to L)."""
    closed, g, c, _ = bounds.recursion_closed_form(depth)
    assert sympy.expand(closed - bounds.unrolled_recursion(g, c)) == 0


def test_closed_form_for_symbolic_depth_by_rsolve():
    """For constant coefficients and a symbolic depth L, sympy's rsolve of the recursion gives
    the general closed form (its Sum/Product statement evaluated with g_m = g, c_l = c)."""
    L = sympy.Symbol("L", integer=True, nonnegative=True)
    g, c = sympy.symbols("g c", positive=True)
    e = sympy.Function("e")
    solution = sympy.rsolve(e(L + 1) - g * e(L) - c, e(L), {e(0): 0})
    general, gi, ci, Ls = bounds.recursion_closed_form(None)
    specialised = general.replace(
        lambda x: isinstance(x, sympy.Indexed) and x.base == gi, lambda x: g
    )
    specialised = specialised.replace(
        lambda x: isinstance(x, sympy.Indexed) and x.base == ci, lambda x: c
    )
    specialised = specialised.subs(Ls, L).doit()
    assert sympy.simplify(sympy.piecewise_fold(specialised - solution).subs(g, 3)) == 0
    for gv in (sympy.Rational(1, 2), 2, 5):
        assert sympy.simplify((specialised - solution).subs(g, gv)) == 0


@pytest.mark.parametrize("method", SPECS)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_method_bound_is_the_recursion_closed_form(method, depth):
    gains, injected = bounds.layer_gains_and_injections(SPECS[method], depth)
    expr = bounds.a_priori_output_error_expr(SPECS[method], depth)
    assert sympy.expand(expr - bounds.unrolled_recursion(gains, injected)) == 0


# ------------------------------------------------------------------------- ε' solving


def _random_norms(rng, depth, zero_bias_floor=0.0):
    widths = tuple(int(v) for v in rng.integers(1, 30, depth + 1))
    k = tuple(int(rng.integers(1, widths[i] + 1)) for i in range(depth))
    a = tuple(float(rng.uniform(0.1, 3.0)) for _ in range(depth))
    B = (1.0,) + tuple(float(rng.uniform(0.1, 5.0)) for _ in range(depth - 1))
    bbar = tuple(float(rng.uniform(0.0, zero_bias_floor)) for _ in range(depth))
    return bounds.TargetNorms(widths, a, k, B, bbar, 1.0, 1.0, True)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.integers(1, 4),
    eps=st.floats(1e-4, 0.9),
    method=st.sampled_from(SUFFICIENT),
)
def test_solved_eps_param_is_the_largest_admissible(seed, depth, eps, method):
    method = SPECS[method]
    norms = _random_norms(np.random.default_rng(seed), depth)
    root = bounds.solve_eps_param(method, norms, eps)
    at_root = bounds.a_priori_output_error(method, norms, root)
    with mpmath.workdps(bounds.DPS):
        above = bounds.a_priori_output_error(method, norms, root * (1 + mpmath.mpf(10) ** -20))
    assert at_root <= eps < above
    sufficient = bounds.evaluate_mpmath(
        bounds.sufficient_eps_param_expr(method, depth), {**norms.values(), bounds.EPS: eps}
    )
    if sufficient <= 1:
        with mpmath.workdps(bounds.DPS):  # the bisection returns the lower end of its bracket
            assert sufficient <= root * (1 + mpmath.mpf(10) ** -25)
        # e_L(ε / e_L(1)·…) = ε in real arithmetic; at DPS digits it may exceed ε by a rounding
        with mpmath.workdps(bounds.DPS):
            assert bounds.a_priori_output_error(method, norms, sufficient) <= eps * (
                1 + mpmath.mpf(10) ** -25)


def test_zero_bias_floor_has_no_eps_param():
    """The dropped biases alone give e_L(0) = Σ b̄_l Π a_m: no ε' reaches ε below it."""
    norms = _random_norms(np.random.default_rng(3), 3, zero_bias_floor=1.0)
    spec = SPECS["zero-bias"]
    floor = bounds.a_priori_output_error(spec, norms, 1e-300)
    assert floor > 0
    assert bounds.solve_eps_param(spec, norms, min(0.99, float(floor) / 2)) is None
    if floor < 0.5:
        root = bounds.solve_eps_param(spec, norms, float(floor) * 1.5)
        assert root is not None and root > 0


# ------------------------------------------------------------------- §6 width theorem


@pytest.mark.parametrize("method", SPECS)
def test_source_widths_match_the_constructions(method):
    from lotteryproofs import construct

    widths, rho = (5, 7, 3, 2), 6
    req = bounds.width_requirements(SPECS[method], 3)
    values = dict(zip(bounds.layer_symbols(3).n, widths, strict=True))
    values[bounds.RHO] = rho
    values[sympy.Symbol("rho_in", positive=True, integer=True)] = rho
    ours = tuple(int(bounds.evaluate_mpmath(w, values)) for w in req.widths)
    assert ours == tuple(construct.source_widths(method, widths, rho))


def test_contained_uniform_constants_come_from_the_densities():
    """p*·U[−a*, a*] lies under the density (sampled grid) and p* is maximal over a grid of a."""
    for law in ("uniform", "product", "normal", "normal-product"):
        a_star, p_star = (float(sympy.N(v, 20)) for v in bounds.contained_uniform_constants(law))
        for z in np.linspace(1e-6, a_star, 12):
            assert p_star / (2 * a_star) <= float(laws.get_law(law).pdf(z)) * (1 + 1e-12)
        for a in np.linspace(0.05, min(a_star * 3, laws.get_law(law).support[1]), 12):
            assert float(laws.contained_uniform_weight(law, a)) <= p_star * (1 + 1e-12)


@settings(max_examples=15, deadline=None)
@given(target=st.floats(0.01, 3.0), eps_param=st.floats(1e-5, 0.1), delta=st.floats(1e-6, 0.5))
def test_pool_requirement_is_monotone(target, eps_param, delta):
    a_p, p_p = bounds.contained_uniform_constants("product")
    pool = bounds.PoolLaw("w", "product", a_p, p_p, usable=sympy.Rational(1, 2))
    expr = bounds.pool_requirement_expr(pool, bounds.DELTA)

    def n(e, d, z=target):
        return bounds.evaluate_mpmath(
            expr, {bounds.EPS_PARAM: e, bounds.DELTA: d, bounds.C: 4.0, bounds.W_MAX: z}
        )

    base = n(eps_param, delta)
    assert n(eps_param / 2, delta) >= base
    assert n(eps_param, delta / 2) >= base
    assert n(eps_param, delta, target * 2) >= base
    assert base >= 1


# ---------------------------------------------------------------- lambdify vs mpmath


def _expressions():
    out = []
    for spec in SPECS.values():
        for depth in (1, 2, 4):
            expr = bounds.a_priori_output_error_expr(spec, depth)
            out.append(bounds.Bound("a_priori", "", expr))
        req = bounds.width_requirements(spec, 2)
        out.append(bounds.Bound("M", "", req.instances))
        for expr in req.requirements.values():
            out.append(bounds.Bound("rho", "", expr))
        if spec.has_sufficient_eps_param:
            out.append(bounds.Bound("suff", "", bounds.sufficient_eps_param_expr(spec, 3)))
    return out


def _random_value(symbol, rng):
    name = symbol.name
    if name.startswith(("n_", "k_")):
        return int(rng.integers(1, 50))
    if name == "rho" or name == "rho_in":
        return int(rng.integers(2, 60))
    if name in ("epsilon'", "epsilon"):
        return float(10 ** rng.uniform(-5, -0.5))
    if name == "delta":
        return float(10 ** rng.uniform(-6, -0.5))
    if name == "C":
        return float(rng.uniform(1, 10))
    return float(rng.uniform(0.05, 3.0))


def test_every_lambdified_bound_agrees_with_mpmath():
    rng = np.random.default_rng(20251125)
    checked = 0
    expressions = _expressions()
    for bound in expressions:
        fn = bound.lambdified()
        for _ in range(5):
            values = {s: _random_value(s, rng) for s in bound.free_symbols}
            fast = fn(*(values[s] for s in bound.free_symbols))
            exact = bound.evaluate(values)
            assert abs(fast - float(exact)) <= 1e-12 * abs(float(exact)), (bound.expr, values)
            checked += 1
    assert checked == 5 * len(expressions) >= 100


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight_law": "cauchy"}, "unknown weight law 'cauchy'"),
        ({"eps": 0.0}, "ε must be > 0"),
        ({"eps": -1.5}, "ε must be > 0"),
        ({"delta": 1.0}, "δ must lie in (0, 1)"),
        ({"delta": -0.1}, "δ must lie in (0, 1)"),
        ({"C_value": -2.0}, "Lueker's constant C must be > 0"),
    ],
)
def test_summarize_refuses_bad_input(kwargs, message):
    args = {"method": "2l", "eps": 0.1, "delta": 0.1, **kwargs}
    method = args.pop("method")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bounds.summarize(SPECS[method], bounds.worst_case_norms((3, 4, 2)), **args)


def test_worst_case_norms_refuse_negative_widths():
    with pytest.raises(InputError, match=r"target widths\[1\] must be an integer >= 1"):
        bounds.worst_case_norms((3, -4, 2))


def test_bounds_cli_method_choices_are_the_registry(capsys):
    """--method takes exactly the registered names (argparse refuses the rest, exit 2)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(["bounds", "--method", "4l", "--widths", "3,4,2", "--eps", "0.1",
                  "--delta", "0.1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice: '4l'" in err
    assert all(repr(name) in err for name in CONSTRUCTIONS)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "2l", "--widths", "3,-4,2"], "must be positive integers"),
        (["--method", "2l", "--widths", "3,0,2"], "--widths[1] must be an integer >= 1"),
        (["--method", "2l", "--widths", "3,4,2", "--law", "laplace"], "unknown weight law"),
        (["--method", "2l", "--widths", "3,4,2", "--C", "nofile.json"], "--C must be a positive"),
    ],
)
def test_bounds_cli_specific_errors(argv, message, capsys):
    code = cli.main(["bounds", *argv, "--eps", "0.1", "--delta", "0.1"])
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("eps, delta, message", [("0", "0.1", "must be > 0"),
                                                 ("0.1", "0", "must lie in (0, 1)"),
                                                 ("0.1", "2", "must lie in (0, 1)")])
def test_bounds_cli_refuses_eps_delta_outside_their_range(eps, delta, message, capsys):
    code = cli.main(
        ["bounds", "--method", "2l", "--widths", "3,4,2", "--eps", eps, "--delta", delta]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_bounds_cli_prints_expressions_values_and_C_provenance(tmp_path, capsys):
    constants = tmp_path / "c.json"
    constants.write_text(json.dumps({"C": 4.5, "law": "uniform", "trials": 100, "seed": 1}))
    code = cli.main(
        [
            "bounds",
            "--method",
            "2l",
            "--target",
            "random:3-5-2",
            "--eps",
            "0.1",
            "--delta",
            "0.1",
            "--C",
            str(constants),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "C = 4.5 measured by `lotteryproofs constants`" in out and "law=uniform" in out
    assert "epsilon'*(a_2 + epsilon'*k_2)*(B_0*k_1 + 1)" in out
    assert "source_widths" in out and "(3, " in out
    code = cli.main(
        [
            "bounds",
            "--method",
            "l+1",
            "--widths",
            "3,5,5,2",
            "--eps",
            "0.1",
            "--delta",
            "0.1",
            "--latex",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and r"\varepsilon'" in out and "needs a value of C" in out


def test_cli_value_of_eps_param_is_the_mpmath_root(capsys):
    norms = bounds.worst_case_norms((3, 5, 2), w_max=0.5, b_max=0.5)
    root = bounds.solve_eps_param(SPECS["2l"], norms, 0.2)
    cli.main(
        [
            "bounds",
            "--method",
            "2l",
            "--widths",
            "3,5,2",
            "--w-max",
            "0.5",
            "--b-max",
            "0.5",
            "--eps",
            "0.2",
            "--delta",
            "0.1",
        ]
    )
    out = capsys.readouterr().out
    assert mpmath.nstr(root, 12) in out
