"""Rigorous enclosures of the elementary functions the smooth activations need, in ``mpmath.iv``.

``mpmath.iv`` rounds ``+ − × ÷``, ``sqrt``, ``exp``, ``log`` and ``pi`` outward, but its
``expm1``/``log1p`` truncate a series without a remainder term for tiny arguments and its
``erf``/``erfc``/``ncdf`` do not converge on intervals. This module builds what is missing
from the outward-rounded operations only, each series with an explicit bound on its
remainder (proofs/activations.md, §2):

* :func:`expm1` e^y − 1: Σ_{k≥1} y^k/k! for |y| ≤ 1/2 (remainder ≤ 2|y|^{N+1}/(N+1)!),
  ``exp(y) − 1`` otherwise;
* :func:`log1p` log(1 + u) for 0 ≤ u: the alternating series for u ≤ 1/2 (remainder ≤ the
  next term), ``log(1 + u)`` otherwise;
* :func:`erfc` for t ≥ 0: 1 − erf(t) with erf(t) = 2/√π e^{−t²} Σ_{n≥0} 2ⁿ t^{2n+1}/(2n+1)!!
  (positive terms; once 2t²/(2n+3) ≤ 1/2 the remainder is ≤ the last term) at a precision
  raised by the 1.443·t² bits the subtraction cancels, for t ≤ 6; for t > 6 the bounds
  2e^{−t²}/(√π(t + √(t²+2))) < erfc(t) ≤ 2e^{−t²}/(√π(t + √(t²+4/π))) (Abramowitz–Stegun
  7.1.13);
* :func:`ncdf` Φ(x) = erfc(−x/√2)/2.

Every function takes and returns ``mpmath.iv`` intervals and works at the caller's
``iv.prec``, raising it internally where a cancellation needs guard bits; the result is
rounded outward back to the caller's precision. :func:`to_float_down` / :func:`to_float_up`
turn an endpoint into the nearest binary64 below / above it (underflow and overflow
included).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import mpmath
import numpy as np
from mpmath.libmp import from_float, mpf_cmp, to_float

#: above this t, erfc uses the Abramowitz–Stegun bounds (relative gap < 0.6 %, absolute
#: < 1e-18: below a binary64 ulp of anything erfc is added to)
_ERFC_SERIES_MAX = 6


@contextmanager
def _precision(bits: int):
    """``iv.prec = bits`` inside, the caller's precision restored after."""
    iv = mpmath.iv
    old = iv.prec
    iv.prec = max(old, bits)
    try:
        yield iv, old
    finally:
        iv.prec = old


def _narrow(x, prec: int):
    """x rounded outward to ``prec`` bits (the iv constructor rounds endpoints outward)."""
    iv = mpmath.iv
    old = iv.prec
    iv.prec = prec
    try:
        return iv.mpf([x.a, x.b])
    finally:
        iv.prec = old


def lower(x) -> mpmath.mpf:
    """The lower endpoint of an ``mpmath.iv`` interval, exactly (``mpmath.mpf(x.a)`` would
    round it to the mp context's precision, to nearest)."""
    return mpmath.mp.make_mpf(x._mpi_[0])


def upper(x) -> mpmath.mpf:
    """The upper endpoint of an ``mpmath.iv`` interval, exactly."""
    return mpmath.mp.make_mpf(x._mpi_[1])


def _magnitude(x) -> mpmath.mpf:
    """max |x| over the interval x, exactly (an endpoint with its sign cleared)."""
    lo, hi = x._mpi_
    big = lo if mpf_cmp((0, *lo[1:]), (0, *hi[1:])) > 0 else hi
    return mpmath.mp.make_mpf((0, *big[1:]))


def expm1(y):
    """An enclosure of e^y − 1 over the interval y."""
    iv = mpmath.iv
    if _magnitude(y) > 0.5:
        return iv.exp(y) - 1
    with _precision(iv.prec + 20) as (iv, old):
        term, total, k = y, y, 1
        bound = iv.mpf(_magnitude(y))
        while True:
            k += 1
            term = term * y / k
            total = total + term
            # |remainder after term k| ≤ |y|^{k+1}/(k+1)! · 1/(1 − |y|) ≤ 2|term|·|y|/(k+1)
            tail = upper(2 * iv.mpf(_magnitude(term)) * bound / (k + 1))
            if tail <= mpmath.ldexp(_magnitude(total), -(iv.prec + 4)):
                break
        return _narrow(total + iv.mpf([-tail, tail]), old)


def log1p(u):
    """An enclosure of log(1 + u) over the interval u ⊆ [0, ∞)."""
    iv = mpmath.iv
    if u.a < 0:
        raise ValueError("log1p is used on u ≥ 0 only")
    if _magnitude(u) > 0.5:
        return iv.log(1 + u)
    if _magnitude(u) == 0:
        return iv.mpf(0)
    with _precision(iv.prec + 20) as (iv, old):
        power, total, k = u, u, 1
        umax = iv.mpf(_magnitude(u))
        while True:
            k += 1
            power = power * u
            total = total + (power / k if k % 2 else -(power / k))
            # alternating with decreasing terms (u ≤ 1/2): |remainder| ≤ the next term
            nxt = upper(iv.mpf(_magnitude(power)) * umax / (k + 1))
            if nxt <= mpmath.ldexp(_magnitude(total), -(iv.prec + 4)):
                break
        return _narrow(total + iv.mpf([-nxt, nxt]), old)


def erfc(t):
    """An enclosure of erfc(t) over the interval t ⊆ [0, ∞).

    erfc is decreasing, so the enclosure joins the endpoints' (an interval argument in the
    series would widen the result by the dependency of e^{−t²} and the sum, relative to erf
    rather than to the small erfc).
    """
    iv = mpmath.iv
    if t.a < 0:
        raise ValueError("erfc is used on t ≥ 0 only")
    lo, hi = lower(t), upper(t)
    at_lo = _erfc_point(lo)
    if hi == lo:
        return at_lo
    if hi - lo > mpmath.ldexp(max(lo, 1), -30):
        return iv.mpf([_erfc_point(hi).a, at_lo.b])
    # a narrow t (a rounded quotient): mean value theorem, |erfc'| ≤ 2/√π e^{−lo²} on [lo, hi]
    slope = 2 / iv.sqrt(iv.pi) * iv.exp(-iv.mpf(lo) ** 2)
    return iv.mpf([(at_lo - slope * (iv.mpf(hi) - lo)).a, at_lo.b])


def _erfc_point(value):
    """An enclosure of erfc at the exact point ``value`` ≥ 0 (an mpf)."""
    iv = mpmath.iv
    t = iv.mpf(value)
    if value > _ERFC_SERIES_MAX:
        rt = iv.sqrt(iv.pi)
        below = 2 * iv.exp(-t * t) / (rt * (t + iv.sqrt(t * t + 2)))
        above = 2 * iv.exp(-t * t) / (rt * (t + iv.sqrt(t * t + 4 / iv.pi)))
        return iv.mpf([below.a, above.b])
    tmax = float(value)
    guard = 1.4427 * tmax * tmax + 40  # log2 e^{t²}: the bits 1 − erf(t) cancels, and guards
    with _precision(iv.prec + math.ceil(guard)) as (iv, old):
        t = iv.mpf(value)
        t2 = t * t
        twice = 2 * t2
        term, total, n = t, t, 0
        while True:
            term = term * twice / (2 * n + 3)
            total = total + term
            n += 1
            # the stopping test only decides tightness; 0.49 < ½ absorbs its float rounding
            ratio_ok = 2 * tmax * tmax / (2 * n + 3) <= 0.49
            if ratio_ok and _magnitude(term) <= mpmath.ldexp(lower(total), -(iv.prec + 4)):
                break
        # remaining terms: each ≤ ½ the one before, so their sum ≤ the last term
        total = total + iv.mpf([0, term.b])
        erf = 2 / iv.sqrt(iv.pi) * iv.exp(-t2) * total
        return _narrow(1 - erf, old)


def ncdf(x):
    """An enclosure of Φ(x) = (1 + erf(x/√2))/2 over the interval x (Φ is increasing)."""
    iv = mpmath.iv

    def at(point):
        with _precision(iv.prec + 20) as (ivx, old):
            p = ivx.mpf(point)
            value = (erfc(-p / ivx.sqrt(2)) / 2 if p.a < 0
                     else 1 - erfc(p / ivx.sqrt(2)) / 2)
            return _narrow(value, old)

    lo = at(x.a)
    if lower(x) == upper(x):
        return lo
    return iv.mpf([lo.a, at(x.b).b])


def _as_tuple(value, end: int):
    """The raw mpf tuple of an mpf, or of an iv interval's lower (end 0) / upper (1) end."""
    if hasattr(value, "_mpi_"):
        return value._mpi_[end]
    if hasattr(value, "_mpf_"):  # an mpf as it is (mpmath.mpf() would round it)
        return value._mpf_
    return from_float(float(value)) if isinstance(value, float) else mpmath.mpf(value)._mpf_


_MAX = float(np.finfo(np.float64).max)


def to_float_down(value) -> float:
    """The largest binary64 ≤ value (an mpf, or an iv interval's lower end), exactly: the
    nearest float, stepped down if it lies above (underflow and overflow included)."""
    v = _as_tuple(value, 0)
    f = to_float(v)  # round to nearest; ±inf beyond the range
    if f == math.inf and mpf_cmp(v, from_float(math.inf)) < 0:
        f = _MAX
    if not math.isinf(f) and mpf_cmp(from_float(f), v) > 0:
        f = float(np.nextafter(f, -np.inf))
    return f


def to_float_up(value) -> float:
    """The smallest binary64 ≥ value (an mpf, or an iv interval's upper end), exactly."""
    v = _as_tuple(value, 1)
    f = to_float(v)
    if f == -math.inf and mpf_cmp(v, from_float(-math.inf)) > 0:
        f = -_MAX
    if not math.isinf(f) and mpf_cmp(from_float(f), v) < 0:
        f = float(np.nextafter(f, np.inf))
    return f
