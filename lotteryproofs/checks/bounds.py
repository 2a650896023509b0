"""Checks of the symbolic bounds and of the certificate (THEORY.md §5, §6;
proofs/error-propagation.md, proofs/width-theorem.md)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lotteryproofs.theorems import CheckContext, CheckResult, Theorem


def independent_a_priori(spec, a, k, B, bbar, G, eps):
    """THEORY.md §5/§4 written out directly (not from bounds.layer_gains_and_injections):
    e_0 = 0, e_l = g_l e_{l−1} + c_l with
    g_l = a_l + k_l ε' (2L, LL, zero-bias, layer 1 of L+1), k_l G_l (L+1 copy layers),
    a_l + γ k_l (bounded-gain copy layers); c_l = ε'(k_l B_{l−1} + 1), or ε' k_l B_{l−1} + b̄_l
    when biases are dropped. Plain arithmetic on whatever numbers are given (Fractions)."""
    e = 0
    for ly in range(len(a)):
        if ly >= 1 and spec.bounded_gain:
            g = a[ly] + Fraction(spec.gain_budget) * k[ly]
        elif ly >= 1 and spec.copies:
            g = k[ly] * G[ly]
        else:
            g = a[ly] + k[ly] * eps
        c = eps * (k[ly] * B[ly] + 1) if spec.biases else eps * k[ly] * B[ly] + bbar[ly]
        e = g * e + c
    return e


def _random_layer_values(rng, depth):
    """Random rational a_l, k_l, B_l, b̄_l, G_l, ε' for :func:`independent_a_priori`."""
    def frac():
        return Fraction(int(rng.integers(1, 400)), int(rng.integers(1, 60)))
    return ([frac() for _ in range(depth)], [int(rng.integers(0, 9)) for _ in range(depth)],
            [frac() for _ in range(depth)], [frac() for _ in range(depth)],
            [frac() for _ in range(depth)], Fraction(1, int(rng.integers(2, 10**4))))


def _symbol_values(depth, a, k, B, bbar, G, eps):
    from lotteryproofs import bounds

    s = bounds.layer_symbols(depth)
    values = {bounds.EPS_PARAM: eps}
    for symbols, numbers in ((s.a, a), (s.k, k), (s.B, B), (s.bbar, bbar), (s.G, G)):
        values.update(zip(symbols, numbers, strict=True))
    return values


def check_closed_form(ctx: CheckContext) -> CheckResult:
    """sympy: the §5 closed form equals the unrolled recursion for L = 1 … 8 (10 thorough) with
    independent symbolic coefficients, and rsolve's solution for constant ones."""
    import sympy

    from lotteryproofs import bounds
    from lotteryproofs.construct.registry import CONSTRUCTIONS

    depths = range(1, 11 if ctx.thorough else 9)
    failures = []
    for depth in depths:
        closed, g, c, _ = bounds.recursion_closed_form(depth)
        if sympy.expand(closed - bounds.unrolled_recursion(g, c)) != 0:
            failures.append(depth)
        for method, construction in CONSTRUCTIONS.items():
            spec = construction.bound
            gains, injected = bounds.layer_gains_and_injections(spec, min(depth, 4))
            expr = bounds.a_priori_output_error_expr(spec, min(depth, 4))
            if sympy.expand(expr - bounds.unrolled_recursion(gains, injected)) != 0:
                failures.append((method, depth))
            # the toolkit's expression against §5 written out independently, exactly
            numbers = _random_layer_values(ctx.rng, min(depth, 4))
            subs = {sym: sympy.Rational(v.numerator, v.denominator) if isinstance(v, Fraction)
                    else sympy.Integer(v)
                    for sym, v in _symbol_values(min(depth, 4), *numbers).items()}
            exact = sympy.Rational(*_as_pair(independent_a_priori(spec, *numbers)))
            got = expr.subs(subs)  # γ enters as sympy's nsimplify of the float: compare to 1e-12
            if abs(float(got - exact)) > 1e-12 * abs(float(exact)):
                failures.append((method, depth, "independent recursion"))
    L = sympy.Symbol("L", integer=True, nonnegative=True)
    gs, cs = sympy.symbols("g c", positive=True)
    e = sympy.Function("e")
    solved = sympy.rsolve(e(L + 1) - gs * e(L) - cs, e(L), {e(0): 0})
    closed = sympy.Sum(cs * gs ** (L - sympy.Symbol("l")), (sympy.Symbol("l"), 1, L)).doit()
    rsolve_ok = all(sympy.simplify((closed - solved).subs(gs, v)) == 0 for v in (2, 3, 7))
    passed = not failures and rsolve_ok
    return CheckResult(
        passed,
        f"closed form = recursion for L ≤ {max(depths)} ({len(CONSTRUCTIONS)} methods); "
        f"rsolve {'agrees' if rsolve_ok else 'DISAGREES'}",
        {"failures": [str(f) for f in failures], "rsolve": str(solved)},
    )


def _as_pair(value):
    value = Fraction(value)
    return value.numerator, value.denominator


def check_lambdify(ctx: CheckContext) -> CheckResult:
    """Every bound expression: lambdified float value within 1e-12 relative of mpmath; and the
    toolkit's numeric a-priori bound (bounds.evaluate_mpmath of the §5 expression, what the
    certificates print) within 1e-12 relative of :func:`independent_a_priori` in exact
    rationals."""
    from lotteryproofs import bounds
    from lotteryproofs.construct.registry import CONSTRUCTIONS

    rng = ctx.rng
    worst, count = 0.0, 0
    for construction in CONSTRUCTIONS.values():
        for depth in (1, 2, 3) if ctx.thorough else (2,):
            exprs = [bounds.a_priori_output_error_expr(construction.bound, depth)]
            req = bounds.width_requirements(construction.bound, depth)
            exprs += [req.instances, *req.requirements.values()]
            for expr in exprs:
                b = bounds.Bound("e", "", expr)
                fn = b.lambdified()
                for _ in range(8 if ctx.thorough else 3):
                    values = {s: _sample(s, rng) for s in b.free_symbols}
                    fast = fn(*(values[s] for s in b.free_symbols))
                    exact = float(b.evaluate(values))
                    worst = max(worst, abs(fast - exact) / abs(exact) if exact else abs(fast))
                    count += 1
    worst_independent = 0.0
    for construction in CONSTRUCTIONS.values():
        for depth in (1, 2, 3, 4):
            numbers = _random_layer_values(rng, depth)
            expr = bounds.a_priori_output_error_expr(construction.bound, depth)
            values = {sym: float(v) for sym, v in _symbol_values(depth, *numbers).items()}
            toolkit = float(bounds.evaluate_mpmath(expr, values))
            exact = float(independent_a_priori(construction.bound, *numbers))
            worst_independent = max(worst_independent, abs(toolkit - exact) / abs(exact))
    return CheckResult(
        worst <= 1e-12 and worst_independent <= 1e-12,
        f"max relative difference {worst:.2e} over {count} evaluations (bound 1e-12); "
        f"a-priori bound vs independent §5 recursion {worst_independent:.2e}",
        {"worst": worst, "n": count, "worst_independent": worst_independent},
    )


def _sample(symbol, rng):
    name = symbol.name
    if name.startswith(("n_", "k_")) or name in ("rho", "rho_in"):
        return int(rng.integers(1, 60))
    if name in ("epsilon'", "epsilon"):
        return float(10 ** rng.uniform(-5, -0.5))
    if name == "delta":
        return float(10 ** rng.uniform(-6, -0.5))
    return float(rng.uniform(0.05, 5.0))


def tightness_case(method, seed: int, dim: int, rho: int | None = None):
    """One tightness case: a (dim, 4, 3, 2) random target on [-1, 1]^dim and its ticket at
    ε' = 0.05 (ρ = 16, or 24 for a construction with copies: L+1), all from ``seed``; shared by
    the check and benchmarks/bench_certify.py. Returns (target, box, ticket)."""
    from lotteryproofs import construct, targets
    from lotteryproofs.network import Box

    construction = construct.get_construction(method)
    target = targets.random_target((dim, 4, 3, 2), np.random.default_rng(seed), zero_fraction=0.2)
    box = Box.cube(-1.0, 1.0, dim)
    ticket = construct.construct(
        target, construction, eps_param=0.05, delta=0.1, rng=seed,
        rho=rho or (24 if construction.bound.copies else 16), domain=box,
    )
    return target, box, ticket


def a_priori_lower_bound(spec, target, box, rng, n_samples: int = 2000) -> float | None:
    """A lower bound on the §5 a-priori bound of ``target`` on ``box``, computed without
    bounds.py: :func:`independent_a_priori` (monotone in every argument) with a_l, k_l, b̄_l
    read from the target by numpy and B_{l−1} replaced by the largest ‖x⁽ˡ⁻¹⁾‖_∞ seen on
    sampled inputs and the box's corners (≤ the rigorous B the toolkit uses). None for
    constructions whose a-priori bound needs the copy gains G_l."""
    if spec.needs_gains:
        return None
    x = np.vstack([box.sample(n_samples, rng), box.lower, box.upper])
    h = x
    B = []
    for t, (w, b) in enumerate(zip(target.weights, target.biases, strict=True)):
        B.append(Fraction(float(np.max(np.abs(h)))))
        h = h @ w.T + b
        if t < target.depth - 1:
            h = np.maximum(h, 0.0)
    a = [Fraction(float(np.max(np.sum(np.abs(w), axis=1)))) for w in target.weights]
    k = [int(np.max(np.count_nonzero(w, axis=1))) for w in target.weights]
    bbar = [Fraction(float(np.max(np.abs(b)))) for b in target.biases]
    eps = Fraction(0.05)
    return float(independent_a_priori(spec, a, k, B, bbar, [0] * len(a), eps))


def check_certificate(ctx: CheckContext) -> CheckResult:
    """Random tickets of every construction on 1-D/2-D targets: observed ≤ certified ≤ a-priori
    (a-priori only for tickets whose instances all succeeded) and, by branch and bound over the
    linear regions, exact sup ≤ certified; reports the tightness certified / observed."""
    from lotteryproofs import certify
    from lotteryproofs.construct.registry import CONSTRUCTIONS
    from lotteryproofs.ticket import PART_BIAS

    per_method = 50 if ctx.thorough else 2
    ratios, violations, rows, clean, low_ratio = {}, [], [], {}, {}
    for method, construction in CONSTRUCTIONS.items():
        ratios[method] = []
        for k in range(per_method):
            seed = int(ctx.rng.integers(2**31))
            dim = 1 + k % 2
            # every other ticket wide enough (ρ = 64) to have no failed instance, so the
            # certified ≤ a-priori ordering is tested (at ρ 16/24 every ticket fails some)
            target, box, ticket = tightness_case(method, seed, dim, rho=64 if k % 2 else None)
            cert = certify.certify(ticket, target, box, rng=seed, n_samples=300)
            enc = certify.sup_error_branch_and_bound(
                target,
                ticket.network,
                ticket.scale,
                box,
                threshold=cert.certified_output_error,
                max_cells=100_000,
            )
            failed = ticket.rss_log.failed
            if not construction.bound.biases:  # dropped biases fail by design (§4.4)
                failed = failed & (ticket.rss_log.part != PART_BIAS)
            ok = (
                cert.observed_output_error <= cert.certified_output_error
                and enc.converged
                and enc.lower <= cert.certified_output_error  # exact at a point
                and enc.upper <= cert.certified_output_error * (1 + 1e-8)  # oracle resolution
                and (failed.any() or cert.ordered)
            )
            clean[method] = clean.get(method, 0) + int(not failed.any())
            # the a-priori bound itself against a lower bound computed without bounds.py
            lower = a_priori_lower_bound(construction.bound, target, box, ctx.rng)
            if lower is not None and not cert.a_priori_output_error >= lower * (1 - 1e-9):
                violations.append({"method": method, "seed": seed, "a_priori":
                                   cert.a_priori_output_error, "independent_lower": lower})
            if lower is not None:
                low_ratio[method] = min(low_ratio.get(method, np.inf),
                                        cert.a_priori_output_error / lower)
            if not ok:
                violations.append(
                    {
                        "method": method,
                        "seed": seed,
                        "dim": dim,
                        "observed": cert.observed_output_error,
                        "certified": cert.certified_output_error,
                        "a_priori": cert.a_priori_output_error,
                        "exact_upper": enc.upper,
                        "converged": enc.converged,
                    }
                )
            ratios[method].append(
                cert.certified_output_error / max(cert.observed_output_error, 1e-300)
            )
            rows.append(
                (
                    method,
                    seed,
                    dim,
                    cert.observed_output_error,
                    cert.certified_output_error,
                    cert.a_priori_output_error,
                )
            )
    summary = ", ".join(f"{m} {np.median(r):.2f}/{np.max(r):.2f}" for m, r in ratios.items())
    untested = [m for m in CONSTRUCTIONS if not clean.get(m)]
    if untested:
        violations.append({"no failure-free ticket (a-priori order untested)": untested})
    return CheckResult(
        not violations,
        f"{len(rows)} tickets ({sum(clean.values())} failure-free), 0 order/soundness violations"
        if not violations
        else f"{len(violations)} violations of {len(rows)}",
        {
            "violations": violations,
            "certified_over_observed_median_max": summary,
            "a_priori_over_independent_lower_min": low_ratio,
            "tickets": [list(map(str, r)) for r in rows],
        },
    )


def _closed_form_cases():
    """(name, target, box, represented, sup by hand) of proofs/certificate-differential.md,
    Lemma 6: both hidden neurons stably active (difference −0.0625x − 0.5 on [−1, 1], sup
    0.5625), and one unstable neuron whose difference straddles 0 (ẑ = 1.25x + 0.125 against
    z = x: Δ ∈ [−0.125, 0.375], error σ(1.25x + 0.125) − σ(x) ∈ [0, 0.375], sup 0.375 at
    x = 1, where the chord δ ≤ 0.75·(Δ + 0.125) is exact)."""
    from lotteryproofs.network import Box, Network
    from lotteryproofs.ticket import RepresentedLayer

    def layers(p1, b1, p2, b2):
        p1, p2 = np.array(p1), np.array(p2)
        return (RepresentedLayer(p1[None], -p1[None], np.array([b1]), np.abs(p1)[None]),
                RepresentedLayer(p2[None], -p2[None], np.array([b2]), np.abs(p2)[None]))

    box = Box(np.array([-1.0]), np.array([1.0]))
    active = Network((np.array([[1.0], [1.0]]), np.array([[1.0, 1.0]])),
                     (np.array([2.0, 3.0]), np.array([0.0])))
    unstable = Network((np.array([[1.0]]), np.array([[1.0]])), (np.zeros(1), np.zeros(1)))
    return (
        ("stably active", active, box,
         layers([[1.25], [1.0]], [2.0, 3.0], [[0.75, 1.0]], [0.0]), 0.5625),
        ("unstable, straddling", unstable, box, layers([[1.25]], [0.125], [[1.0]], [0.0]),
         0.375),
    )


def check_differential(ctx: CheckContext) -> CheckResult:
    """Every differential bound on its own (intervals, forward affine, back-substitution),
    not only the smallest: ≥ the exact sup on random tickets of every construction (1-D/2-D
    inputs; branch and bound over the linear regions with the bound as threshold, exact at
    the corners), and equal to closed forms computed by hand. A bound that
    does not apply (back-substitution without per-copy weights) is counted, not skipped."""
    from lotteryproofs import certify
    from lotteryproofs.certify.candidates import rigorous_bounds, ticket_copies, ticket_layers
    from lotteryproofs.construct.registry import CONSTRUCTIONS

    names = ("differential", "linear-differential", "back-substitution")
    per_method = 12 if ctx.thorough else 2
    violations, checked, missing = [], 0, 0
    for method in CONSTRUCTIONS:
        for k in range(per_method):
            seed = int(ctx.rng.integers(2**31))
            dim = 1 + k % 2
            target, box, ticket = tightness_case(method, seed, dim)
            rep, slack = ticket_layers(ticket)
            table = rigorous_bounds(target, box, rep, slack,
                                    copies=ticket_copies(ticket, rep))
            for name in names:
                value = table[name]
                if value is None:
                    missing += 1
                    continue
                enc = certify.sup_error_branch_and_bound(
                    target, ticket.network, ticket.scale, box, threshold=value,
                    max_cells=100_000)
                checked += 1
                if not (enc.lower <= value and (
                        enc.upper <= value * (1 + (1e-8 if enc.converged else 1e-2)))):
                    violations.append({"method": method, "seed": seed, "dim": dim,
                                       "bound": name, "value": value,
                                       "exact_lower": enc.lower, "exact_upper": enc.upper})
    closed = {}
    for case, target, box, rep, exact in _closed_form_cases():
        closed[case] = certify.crown_output_error(target, box, rep)
        if not exact <= closed[case] <= exact * (1 + 1e-14):
            violations.append({"case": case, "bound": "back-substitution",
                               "value": closed[case], "exact": exact})
    return CheckResult(
        not violations and missing == 0,
        f"{checked} bounds ≥ the exact sup; closed forms {closed}"
        if not violations and missing == 0
        else f"{len(violations)} violations, {missing} bounds that did not apply",
        {"violations": violations, "bounds_checked": checked, "not_applicable": missing},
    )


_CODE_CLOSED = (
    "lotteryproofs.bounds:recursion_closed_form",
    "lotteryproofs.bounds:a_priori_output_error_expr",
    "lotteryproofs.bounds:solve_eps_param",
)
THEOREMS = (
    Theorem(
        key="error-propagation-closed-form",
        title="§5 closed form of the error recursion",
        claim="e_L = Σ_l c_l Π_{m>l} g_m solves e_l = g_l e_{l−1} + c_l, e_0 = 0 (sympy)",
        theory="§5",
        document="proofs/error-propagation.md",
        code=_CODE_CLOSED,
        tests=(
            "tests/test_bounds.py::test_closed_form_equals_unrolled_recursion_symbolically",
            "tests/test_bounds.py::test_closed_form_for_symbolic_depth_by_rsolve",
            "tests/test_bounds.py::test_method_bound_is_the_recursion_closed_form",
            "tests/test_bounds.py::test_solved_eps_param_is_the_largest_admissible",
        ),
        check=check_closed_form,
    ),
    Theorem(
        key="bounds-lambdify-agrees",
        title="lambdified bounds equal their mpmath values",
        claim="every bound expression's float lambdify agrees with mpmath to 1e-12 relative",
        theory="§5, §6",
        document="proofs/width-theorem.md",
        code=(
            "lotteryproofs.bounds:Bound",
            "lotteryproofs.bounds:width_requirements",
            "lotteryproofs.bounds:pool_requirement_expr",
        ),
        tests=(
            "tests/test_bounds.py::test_every_lambdified_bound_agrees_with_mpmath",
            "tests/test_bounds.py::test_source_widths_match_the_constructions",
            "tests/test_bounds.py::test_contained_uniform_constants_come_from_the_densities",
        ),
        check=check_lambdify,
    ),
    Theorem(
        key="certificate-soundness",
        title="observed ≤ exact sup ≤ certified ≤ a-priori",
        claim="the certified bound is a rigorous upper bound of sup_D ‖f_T − Λ⁻¹ f_S‖_∞ and "
        "lies below the a-priori bound of §5 for successful tickets",
        theory="§5",
        document="proofs/certificate-soundness.md",
        code=(
            "lotteryproofs.certify:certify",
            "lotteryproofs.certify:certified_output_error",
            "lotteryproofs.certify:certified_output_error_iv",
            "lotteryproofs.certify:rigorous_preactivation_bounds",
            "lotteryproofs.certify:observed_output_error",
            "lotteryproofs.certify:sup_error_branch_and_bound",
        ),
        tests=(
            "tests/test_certify.py::test_fixture_observed_le_certified_le_a_priori",
            "tests/test_certify.py::test_fast_certified_bound_agrees_with_pure_mpmath_iv",
            "tests/test_certify.py::test_certified_bounds_exact_sup_on_fixtures",
            "tests/test_certify.py::test_certified_bounds_exact_sup_on_constructions",
            "tests/test_certify.py::test_constructions_observed_le_certified_le_a_priori",
        ),
        check=check_certificate,
    ),
    Theorem(
        key="certificate-differential",
        title="each differential bound ≥ the exact sup",
        claim="the interval, forward-affine and back-substituted bounds of the difference "
        "ticket − target are each rigorous upper bounds of sup_D ‖f_T − Λ⁻¹ f_S‖_∞",
        theory="§11",
        document="proofs/certificate-differential.md",
        code=(
            "lotteryproofs.certify:differential_output_error",
            "lotteryproofs.certify:linear_differential_output_error",
            "lotteryproofs.certify:crown_output_error",
            "lotteryproofs.certify:sup_error_branch_and_bound",
        ),
        tests=(
            "tests/test_certify_crown.py::test_back_substitution_is_above_the_exact_sup",
            "tests/test_certify_crown.py::test_float_backward_pass_encloses_the_exact_rational_pass",
            "tests/test_certify_crown.py::test_differential_check_fails_under_mutants",
            "tests/test_certify_differential.py::test_differential_bounds_are_above_the_exact_sup",
        ),
        check=check_differential,
    ),
)
