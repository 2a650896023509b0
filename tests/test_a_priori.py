"""The a-priori §5 bound evaluated without sympy (lotteryproofs.a_priori) equals the sympy
closed form of bounds.py (the oracle: its expression, lambdified into mpmath), for every
registered construction's bound, random depths, norms, ε' and gains."""

from __future__ import annotations

import math

import mpmath
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import a_priori, bounds
from lotteryproofs._limits import MPMATH_DPS as DPS
from lotteryproofs.construct.registry import CONSTRUCTIONS

#: every registered bound
SPECS = sorted({c.bound for c in CONSTRUCTIONS.values()}, key=lambda s: s.name)
positive = st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def norms_and_gains(draw):
    depth = draw(st.integers(1, 4))
    widths = tuple(draw(st.integers(1, 50)) for _ in range(depth + 1))
    a = tuple(draw(positive) for _ in range(depth))
    k = tuple(draw(st.integers(1, 50)) for _ in range(depth))
    B = tuple(draw(positive) for _ in range(depth))
    bbar = tuple(draw(positive) for _ in range(depth))
    norms = bounds.TargetNorms(widths, a, k, B, bbar, max(a), max(bbar), draw(st.booleans()))
    gains = tuple(draw(positive) for _ in range(depth))
    return norms, gains


@settings(max_examples=60, deadline=None)
@given(spec=st.sampled_from(SPECS), case=norms_and_gains(),
       eps_param=st.floats(1e-9, 1.0, allow_nan=False))
def test_value_equals_the_sympy_closed_form(spec, case, eps_param):
    norms, gains = case
    want = bounds.a_priori_output_error(spec, norms, eps_param, gains=gains)
    got = a_priori.a_priori_output_error(spec, norms, eps_param, gains=gains)
    assert float(got) == float(want)
    # the same sum in another order: equal to a few units in the last of DPS digits
    with mpmath.workdps(DPS + 10):
        assert abs(got - want) <= abs(want) * mpmath.mpf(10) ** (3 - DPS)


def test_infinite_gain_and_refusals_as_bounds():
    """An infinite gain bound gives an infinite bound (depth > 1); a missing one and ε' ≤ 0
    are refused, as bounds.py refuses them."""
    spec = next(s for s in SPECS if s.needs_gains)
    norms = bounds.TargetNorms((3, 4, 2), (1.0, 2.0), (2, 3), (1.0, 1.5), (0.1, 0.2), 2.0, 0.2,
                               True)
    assert a_priori.a_priori_output_error(spec, norms, 0.01, gains=(1.0, math.inf)) == \
        bounds.a_priori_output_error(spec, norms, 0.01, gains=(1.0, math.inf)) == mpmath.inf
    for module in (a_priori, bounds):
        for args in ((spec, norms, 0.01), (SPECS[0], norms, -1.0)):
            try:
                module.a_priori_output_error(*args)
            except ValueError as exc:
                message = str(exc)
            else:
                raise AssertionError("not refused")
            assert message
