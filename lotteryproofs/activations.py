"""Activation functions σ as objects: the map, its image of an interval in every arithmetic
the toolkit uses, and the properties the theory relies on (THEORY.md §0, §4).

An :class:`Activation` declares

* ``forward(x)``: σ elementwise in float64 (round to nearest);
* ``interval(lo, hi)``: the float64 image of [lo, hi] (not rigorous: interval bound
  propagation for pruning and plots);
* ``interval_outward(lo, hi)``: a rigorous enclosure of σ([lo, hi]) (every rounding outward,
  :mod:`lotteryproofs.rounding`);
* ``interval_iv(z)``: the image of an ``mpmath.iv`` interval (inside ``rounding.iv53()``);
* ``exact(v)``: σ(v) for a ``fractions.Fraction``, and ``exact_scaled(ints, e)`` the same on
  the dyadic vector ints / 2^e (the fast exact evaluation of certify.exact);
* ``derivative(z)``: an a.e. derivative (the observed search's sign-gradient ascent);
* ``kinks``: the points where σ is not affine (a cell on which no pre-activation crosses one
  lies in one linear region: branch and bound);
* the properties ``positively_homogeneous`` (σ(λz) = λσ(z) for λ > 0: the scaling lemma),
  ``odd_coefficient`` c with σ(z) − σ(−z) = c·z for every z (an exact Fraction, None if there
  is none; the looks-linear identity needs c = 1, ``odd_identity``), and ``lipschitz``.

The piecewise-linear activations (identity, ReLU, LeakyReLU) are exact on Fractions; the
smooth ones (tanh, sigmoid, softplus, ELU, GELU, SiLU) have irrational values: their rigorous
images are computed in ``mpmath.iv`` (:mod:`lotteryproofs.iv_functions`,
proofs/activations.md) and their ``exact`` raises. Every activation but GELU and SiLU is
monotone non-decreasing, so its image of [lo, hi] is [σ(lo), σ(hi)]; GELU and SiLU have one
interior minimum. Adding one is one class and its entry in :data:`ACTIVATIONS`
(docs/architecture.md).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.iv_functions import (
    expm1,
    log1p,
    lower,
    ncdf,
    to_float_down,
    to_float_up,
    upper,
)
from lotteryproofs.rounding import down, iv53, up


class Activation(abc.ABC):
    """The protocol of an activation function (module docstring)."""

    #: registry name, the value of a file's ``metadata["activation"]`` (with ``spec``)
    name: str = ""
    positively_homogeneous: bool = False
    lipschitz: float = math.inf
    #: where σ is not differentiable (for a piecewise-linear σ: where it is not affine)
    kinks: tuple[float, ...] = ()
    #: σ is affine between its kinks (branch and bound's linear regions, exact evaluation)
    piecewise_linear: bool = True
    #: σ is non-decreasing (its image of [lo, hi] is [σ(lo), σ(hi)])
    monotone: bool = True
    #: σ(−z) = −σ(z) for every z
    is_odd: bool = False
    #: σ(0) (the constant a zero pre-activation passes on: a bias channel's value), nearest float
    value_at_zero: float = 0.0

    @property
    def odd_coefficient(self) -> Fraction | None:
        """c with σ(z) − σ(−z) = c·z for every real z, exactly, or None."""
        return None

    @property
    def odd_identity(self) -> bool:
        """σ(z) − σ(−z) = z (the identity the looks-linear construction uses)."""
        return self.odd_coefficient == 1

    @property
    def spec(self) -> str:
        """The string :func:`get_activation` turns back into this activation."""
        return self.name

    # --------------------------------------------------------------- float64
    @abc.abstractmethod
    def forward(self, x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """σ(x) elementwise; ``inplace=True`` may overwrite (and return) ``x``."""

    def interval(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[σ(lo), σ(hi)] in round to nearest (σ is non-decreasing)."""
        return self.forward(lo), self.forward(hi)

    @abc.abstractmethod
    def derivative(self, z: np.ndarray) -> np.ndarray:
        """σ'(z) elementwise (a one-sided value at the kinks)."""

    # --------------------------------------------------------------- rigorous
    @abc.abstractmethod
    def interval_outward(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[l, h] ⊇ σ([lo, hi]) with every rounding outward."""

    @abc.abstractmethod
    def interval_iv(self, z):
        """σ(z) ⊆ result for an ``mpmath.iv`` interval z (called inside ``iv53()``)."""

    # --------------------------------------------------------------- exact
    @abc.abstractmethod
    def exact(self, v: Fraction) -> Fraction:
        """σ(v) exactly."""

    @abc.abstractmethod
    def exact_scaled(self, ints: list[int], exponent: int) -> tuple[list[int], int]:
        """σ of the dyadic vector ints / 2^exponent, as (ints', exponent') exactly."""


@dataclass(frozen=True)
class ReLU(Activation):
    """σ(z) = max(z, 0)."""

    name = "relu"
    positively_homogeneous = True
    lipschitz = 1.0
    kinks = (0.0,)

    @property
    def odd_coefficient(self) -> Fraction:
        return Fraction(1)

    def forward(self, x, *, inplace=False):
        return np.maximum(x, 0.0, out=x if inplace else None)

    def interval(self, lo, hi):
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)

    def derivative(self, z):
        return z > 0

    def interval_outward(self, lo, hi):
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)  # max with 0 is exact

    def interval_iv(self, z):
        iv = mpmath.iv
        zero = iv.mpf(0)
        return iv.mpf([max(z.a, zero.a), max(z.b, zero.a)])

    def exact(self, v):
        return v if v > 0 else Fraction(0)

    def exact_scaled(self, ints, exponent):
        return [v if v > 0 else 0 for v in ints], exponent


@dataclass(frozen=True)
class Identity(Activation):
    """σ(z) = z (a linear network: the abstraction's simplest non-ReLU case)."""

    name = "identity"
    positively_homogeneous = True
    lipschitz = 1.0
    kinks = ()
    is_odd = True

    @property
    def odd_coefficient(self) -> Fraction:
        return Fraction(2)

    def forward(self, x, *, inplace=False):
        return x if inplace else np.array(x, dtype=np.float64, copy=True)

    def interval(self, lo, hi):
        return lo, hi

    def derivative(self, z):
        return np.ones(np.shape(z), dtype=bool)

    def interval_outward(self, lo, hi):
        return lo, hi

    def interval_iv(self, z):
        return z

    def exact(self, v):
        return v

    def exact_scaled(self, ints, exponent):
        return list(ints), exponent


class _NonNegativeAlpha:
    """A slope α ≥ 0 on the negative side (LeakyReLU, ELU): validated once, and the
    Lipschitz constant max(1, α) it implies (both have σ' ∈ [0, max(1, α)])."""

    def __post_init__(self):
        alpha = _validate.finite_scalar(f"{self.name} alpha", self.alpha)
        if alpha < 0:
            raise _validate.InputError(f"{self.name} needs alpha ≥ 0 (monotone), got {alpha}")
        object.__setattr__(self, "alpha", alpha)

    @property
    def lipschitz(self) -> float:
        return max(1.0, self.alpha)


@dataclass(frozen=True)
class LeakyReLU(_NonNegativeAlpha, Activation):
    """σ(z) = z for z > 0, α·z otherwise, α ≥ 0 finite (α = 0 is ReLU, α = 1 the identity).

    σ(z) − σ(−z) = (1 + α)·z for every z (z > 0: z − α(−z); z < 0: αz − (−z)), so the
    looks-linear identity holds only for α = 0; σ is positively homogeneous and
    max(1, α)-Lipschitz.
    """

    alpha: float = 0.01

    name = "leaky_relu"
    positively_homogeneous = True
    kinks = (0.0,)


    @property
    def is_odd(self) -> bool:
        return self.alpha == 1.0  # the identity

    @property
    def odd_coefficient(self) -> Fraction:
        return 1 + Fraction(self.alpha)  # exact: 1 + α in floats may round

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.alpha!r}"

    def forward(self, x, *, inplace=False):
        x = np.asarray(x, dtype=np.float64)
        if inplace:
            x[x <= 0] *= self.alpha
            return x
        return np.where(x > 0, x, self.alpha * x)

    def derivative(self, z):
        return np.where(z > 0, 1.0, self.alpha)

    def interval_outward(self, lo, hi):
        # α·z is one rounded product: the next float below/above encloses the exact value
        lo = np.where(lo > 0, lo, down(self.alpha * lo))
        hi = np.where(hi > 0, hi, up(self.alpha * hi))
        return lo, hi

    def interval_iv(self, z):
        with iv53() as iv:
            alpha = iv.mpf(self.alpha)
            low = z.a if z.a > 0 else (alpha * z.a).a
            high = z.b if z.b > 0 else (alpha * z.b).b
            return iv.mpf([low, high])

    def exact(self, v):
        return v if v > 0 else Fraction(self.alpha) * v

    def exact_scaled(self, ints, exponent):
        alpha = Fraction(self.alpha)  # a float: its denominator is a power of two
        shift = alpha.denominator.bit_length() - 1
        m = alpha.numerator
        return [v << shift if v > 0 else v * m for v in ints], exponent + shift


# ====================================================================== smooth activations
_NOT_EXACT = ("activation {} has irrational values: it has no exact (Fraction) evaluation; "
              "use the mpmath.iv or outward-rounded interval images")


class _Smooth(Activation):
    """A smooth (or, ELU, piecewise smooth) activation whose values are irrational.

    A subclass gives ``forward`` (float64), ``_point_iv(iv, x)`` (an ``mpmath.iv``
    enclosure of σ at the exact point x, rigorous: :mod:`lotteryproofs.iv_functions`),
    ``derivative`` and its limits σ(−∞), σ(+∞). The images are built from these:
    the rigorous ones evaluate σ at the endpoints in ``mpmath.iv`` and round outward to
    binary64 (proofs/activations.md §3: numpy's libm is not correctly rounded, so its values
    are not used for a bound).
    """

    piecewise_linear = False
    limits: tuple[float, float] = (-math.inf, math.inf)

    def _point_iv(self, iv, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _at(self, x: float):
        """An enclosure of σ(x) for a binary64 x (±inf: the limits), at 53 bits."""
        with iv53() as iv:
            if math.isinf(x):
                limit = self.limits[x > 0]
                return iv.mpf(limit)
            return self._point_iv(iv, iv.mpf(x))

    def _endpoint_iv(self, iv, endpoint):
        value = lower(endpoint)  # a point interval: its value, exactly
        if mpmath.isinf(value):
            return iv.mpf(self.limits[value > 0])
        return self._point_iv(iv, iv.mpf(value))

    def exact(self, v):
        raise _validate.InputError(_NOT_EXACT.format(self.spec))

    def exact_scaled(self, ints, exponent):
        raise _validate.InputError(_NOT_EXACT.format(self.spec))

    # monotone activations (the unimodal ones override these three)
    def interval_outward(self, lo, hi):
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        out_lo, out_hi = np.empty(lo.shape), np.empty(hi.shape)
        for k in np.ndindex(lo.shape):
            out_lo[k] = to_float_down(self._at(float(lo[k])))
            out_hi[k] = to_float_up(self._at(float(hi[k])))
        return out_lo, out_hi

    def interval_iv(self, z):
        iv = mpmath.iv
        return iv.mpf([lower(self._endpoint_iv(iv, z.a)), upper(self._endpoint_iv(iv, z.b))])


@dataclass(frozen=True)
class Tanh(_Smooth):
    """σ(z) = tanh z: odd, increasing, 1-Lipschitz (σ' = 1 − tanh² ≤ 1, equality at 0)."""

    name = "tanh"
    lipschitz = 1.0
    is_odd = True
    limits = (-1.0, 1.0)

    def forward(self, x, *, inplace=False):
        return np.tanh(x, out=x if inplace else None)

    def derivative(self, z):
        t = np.tanh(z)
        return 1.0 - t * t

    def _point_iv(self, iv, x):
        # tanh|x| = e/(e + 2), e = e^{2|x|} − 1 ≥ 0 (no cancellation near 0)
        negative = x.a < 0
        e = expm1(2 * (-x if negative else x))
        value = iv.mpf([(e.a / (e.a + 2)).a, (e.b / (e.b + 2)).b])  # e/(e + 2) increases
        return -value if negative else value


@dataclass(frozen=True)
class Sigmoid(_Smooth):
    """σ(z) = 1/(1 + e^{−z}) (logistic): increasing, σ(0) = ½, σ' = σ(1 − σ) ≤ ¼ = σ'(0).

    σ(0) = ½, not 1: a construction's constant channel passes ½ (the bias defect of code that
    assumes σ(0) = 1). σ(z) − ½ is odd.
    """

    name = "sigmoid"
    lipschitz = 0.25
    value_at_zero = 0.5
    limits = (0.0, 1.0)

    def forward(self, x, *, inplace=False):
        x = np.asarray(x, dtype=np.float64)
        e = np.exp(-np.abs(x))  # ≤ 1: no overflow on either side
        out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        if inplace:
            x[...] = out
            return x
        return out

    def derivative(self, z):
        s = self.forward(z)
        return s * (1.0 - s)

    def _point_iv(self, iv, x):
        return 1 / (1 + iv.exp(-x))


@dataclass(frozen=True)
class Softplus(_Smooth):
    """σ(z) = log(1 + e^z): increasing, σ' = sigmoid(z) ∈ (0, 1), so 1-Lipschitz (not
    attained); σ(0) = log 2; σ(z) − σ(−z) = z, but σ is not odd."""

    name = "softplus"
    lipschitz = 1.0
    value_at_zero = math.log(2.0)
    limits = (0.0, math.inf)

    @property
    def odd_coefficient(self) -> Fraction:
        return Fraction(1)  # log(1 + e^z) − log(1 + e^{−z}) = log e^z

    def forward(self, x, *, inplace=False):
        return np.logaddexp(0.0, x, out=x if inplace else None)

    def derivative(self, z):
        return Sigmoid().forward(z)

    def _point_iv(self, iv, x):
        if x.a <= 0:
            return log1p(iv.exp(x))
        return x + log1p(iv.exp(-x))  # log(1 + e^x) = x + log(1 + e^{−x})


@dataclass(frozen=True)
class ELU(_NonNegativeAlpha, _Smooth):
    """σ(z) = z for z > 0, α(e^z − 1) otherwise, α ≥ 0: non-decreasing, σ' ≤ max(1, α)
    (σ' = α e^z < α on z < 0); differentiable at 0 only for α = 1 (``kinks``)."""

    alpha: float = 1.0
    name = "elu"


    @property
    def kinks(self) -> tuple[float, ...]:
        return () if self.alpha == 1.0 else (0.0,)

    @property
    def limits(self) -> tuple[float, float]:
        return (-self.alpha, math.inf)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.alpha!r}"

    def forward(self, x, *, inplace=False):
        x = np.asarray(x, dtype=np.float64)
        out = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))
        if inplace:
            x[...] = out
            return x
        return out

    def derivative(self, z):
        return np.where(z > 0, 1.0, self.alpha * np.exp(np.minimum(z, 0.0)))

    def _point_iv(self, iv, x):
        if x.a > 0:
            return x
        return iv.mpf(self.alpha) * expm1(x)


class _Unimodal(_Smooth):
    """A σ that decreases on (−∞, z*] and increases on [z*, ∞) (GELU, SiLU).

    Its image of [lo, hi] is [σ(hi), σ(lo)] left of z*, [σ(lo), σ(hi)] right of it, and
    [σ(z*), max(σ(lo), σ(hi))] when [lo, hi] contains z*. The rigorous images use an
    enclosure Z = [z⁻, z⁺] ∋ z* (binary64 neighbours of z*, checked by the sign change of σ'
    in ``mpmath.iv``) and a lower bound of min σ from σ's interval extension on Z
    (:meth:`critical`, proofs/activations.md §4).
    """

    monotone = False

    def _solve(self) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:  # pragma: no cover
        """(z*, min σ = σ(z*), sup |σ'|) at mp.dps = 50."""
        raise NotImplementedError

    def _derivative_iv(self, iv, x):  # pragma: no cover
        """An enclosure of (a positive multiple of) σ'(x): its sign is σ'(x)'s."""
        raise NotImplementedError

    def _extension_iv(self, iv, z):  # pragma: no cover
        """σ's interval extension on an interval z (⊇ σ(z))."""
        raise NotImplementedError

    @property
    def lipschitz(self) -> float:
        return _critical(type(self)).lipschitz

    @property
    def critical(self) -> _Critical:
        return _critical(type(self))

    def interval(self, lo, hi):
        c = self.critical
        f_lo, f_hi = self.forward(lo), self.forward(hi)
        left, right = np.asarray(hi) <= c.z_star, np.asarray(lo) >= c.z_star
        low = np.where(left, f_hi, np.where(right, f_lo, c.minimum))
        high = np.where(left, f_lo, np.where(right, f_hi, np.maximum(f_lo, f_hi)))
        return low, high

    def interval_outward(self, lo, hi):
        c = self.critical
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        out_lo, out_hi = np.empty(lo.shape), np.empty(hi.shape)
        for k in np.ndindex(lo.shape):
            a, b = self._at(float(lo[k])), self._at(float(hi[k]))
            if hi[k] <= c.z_lower:  # decreasing on [lo, hi]
                out_lo[k], out_hi[k] = to_float_down(b), to_float_up(a)
            elif lo[k] >= c.z_upper:  # increasing
                out_lo[k], out_hi[k] = to_float_down(a), to_float_up(b)
            else:  # [lo, hi] may contain z*: the minimum, and the larger endpoint
                out_lo[k] = c.minimum_lower
                out_hi[k] = max(to_float_up(a), to_float_up(b))
        return out_lo, out_hi

    def interval_iv(self, z):
        iv = mpmath.iv
        c = self.critical
        a, b = self._endpoint_iv(iv, z.a), self._endpoint_iv(iv, z.b)
        if upper(z) <= c.z_lower:
            return iv.mpf([lower(b), upper(a)])
        if lower(z) >= c.z_upper:
            return iv.mpf([lower(a), upper(b)])
        return iv.mpf([c.minimum_lower, max(upper(a), upper(b))])


@dataclass(frozen=True)
class _Critical:
    """The interior minimum of a unimodal σ: z* and min σ (nearest floats), the enclosure
    [z_lower, z_upper] ∋ z*, a binary64 lower bound of min σ, and sup |σ'| rounded up."""

    z_star: float
    minimum: float
    z_lower: float
    z_upper: float
    minimum_lower: float
    lipschitz: float


@cache
def _critical(cls) -> _Critical:
    """Solve for z*, min σ and sup |σ'| at 50 digits, then prove the enclosures (raises if a
    sign check fails: it cannot, z* being the unique zero of σ')."""
    act = cls()
    with mpmath.workdps(50):
        z_star, minimum, slope = act._solve()
    zf = float(z_star)
    z_lower, z_upper = float(np.nextafter(zf, -np.inf)), float(np.nextafter(zf, np.inf))
    with iv53() as iv:
        iv.prec = 120
        if not (upper(act._derivative_iv(iv, iv.mpf(z_lower))) < 0
                < lower(act._derivative_iv(iv, iv.mpf(z_upper)))):
            raise ArithmeticError(f"{act.name}: σ' does not change sign around {zf}")
        bound = act._extension_iv(iv, iv.mpf([z_lower, z_upper]))
    return _Critical(z_star=zf, minimum=float(minimum), z_lower=z_lower, z_upper=z_upper,
                     minimum_lower=to_float_down(bound), lipschitz=to_float_up(slope))


@dataclass(frozen=True)
class GELU(_Unimodal):
    """σ(z) = z Φ(z), Φ the standard normal CDF (the exact, erf form: z(1 + erf(z/√2))/2).

    σ'(z) = Φ(z) + zφ(z) vanishes once, at z* ≈ −0.75179 (min σ ≈ −0.16997);
    σ''(z) = φ(z)(2 − z²), so sup |σ'| = σ'(√2) = Φ(√2) + √2 φ(√2) ≈ 1.12897
    (|σ'(−√2)| ≈ 0.129 is smaller). σ(z) − σ(−z) = z, σ is not odd.
    """

    name = "gelu"

    @property
    def odd_coefficient(self) -> Fraction:
        return Fraction(1)  # zΦ(z) + zΦ(−z) = z

    def forward(self, x, *, inplace=False):
        x = np.asarray(x, dtype=np.float64)
        # Φ(z) = erfc(−z/√2)/2: no cancellation for z ≪ 0
        out = 0.5 * x * _erfc_np(-x / math.sqrt(2.0))
        if inplace:
            x[...] = out
            return x
        return out

    def derivative(self, z):
        z = np.asarray(z, dtype=np.float64)
        return 0.5 * _erfc_np(-z / math.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / math.sqrt(
            2.0 * math.pi)

    def _point_iv(self, iv, x):
        return x * ncdf(x)

    def _derivative_iv(self, iv, x):
        return ncdf(x) + x * iv.exp(-x * x / 2) / iv.sqrt(2 * iv.pi)

    def _extension_iv(self, iv, z):
        return z * ncdf(z)

    def _solve(self):
        mp = mpmath.mp
        z_star = mp.findroot(lambda z: mp.ncdf(z) + z * mp.npdf(z), mp.mpf("-0.75"))
        root2 = mp.sqrt(2)
        return z_star, z_star * mp.ncdf(z_star), mp.ncdf(root2) + root2 * mp.npdf(root2)


@dataclass(frozen=True)
class SiLU(_Unimodal):
    """σ(z) = z·sigmoid(z) = z/(1 + e^{−z}) (Swish with β = 1).

    σ'(z) = s(1 + z(1 − s)), s = sigmoid(z), has the sign of e^z + 1 + z: one zero at
    z* = −1 − W(1/e) ≈ −1.27846 with min σ = 1 + z* = −W(1/e) ≈ −0.27846 (W the Lambert
    function); sup |σ'| ≈ 1.09984 at the zero of σ''/s(1−s) = 2 + z(1 − 2s) near 2.3994.
    σ(z) − σ(−z) = z, σ is not odd.
    """

    name = "silu"

    @property
    def odd_coefficient(self) -> Fraction:
        return Fraction(1)  # z s(z) + z s(−z) = z

    def forward(self, x, *, inplace=False):
        x = np.asarray(x, dtype=np.float64)
        out = x * Sigmoid().forward(x)
        if inplace:
            x[...] = out
            return x
        return out

    def derivative(self, z):
        z = np.asarray(z, dtype=np.float64)
        s = Sigmoid().forward(z)
        return s * (1.0 + z * (1.0 - s))

    def _point_iv(self, iv, x):
        return x / (1 + iv.exp(-x))

    def _derivative_iv(self, iv, x):
        return iv.exp(x) + 1 + x  # σ' = s(1 − s)(e^z + 1 + z), s(1 − s) > 0

    def _extension_iv(self, iv, z):
        return z / (1 + iv.exp(-z))

    def _solve(self):
        mp = mpmath.mp
        z_star = -1 - mp.lambertw(mp.exp(-1)).real
        s = lambda z: 1 / (1 + mp.exp(-z))  # noqa: E731
        peak = mp.findroot(lambda z: 2 + z * (1 - 2 * s(z)), mp.mpf("2.4"))
        return z_star, z_star * s(z_star), s(peak) * (1 + peak * (1 - s(peak)))


def _erfc_np(x: np.ndarray) -> np.ndarray:
    """erfc elementwise in binary64 (the C library's, through math.erfc)."""
    return np.frompyfunc(math.erfc, 1, 1)(x).astype(np.float64)


RELU = ReLU()
IDENTITY = Identity()

#: name → factory (keyword parameters from the spec)
ACTIVATIONS = {"relu": ReLU, "identity": Identity, "leaky_relu": LeakyReLU, "tanh": Tanh,
               "sigmoid": Sigmoid, "softplus": Softplus, "elu": ELU, "gelu": GELU,
               "silu": SiLU}
#: other spellings (PyTorch class names lower-cased without "_", scikit-learn's names)
ALIASES = {"leakyrelu": "leaky_relu", "linear": "identity", "none": "identity",
           "logistic": "sigmoid", "swish": "silu"}
#: the activations that take a parameter, and its name
PARAMETERS = {"leaky_relu": "alpha", "elu": "alpha"}


def scaling_lemma_holds(activations) -> bool:
    """Whether the scaling lemma (THEORY.md §1) applies to a network with these hidden
    activations: φ(λz) = λφ(z) for λ > 0 holds for every one (ReLU, LeakyReLU, identity), so
    the source equals Λ times its unit-scale form and masks can be chosen on that form;
    otherwise they are chosen on the actual values (layer scales 1, Λ = 1)."""
    return all(a.positively_homogeneous for a in activations)


def canonical_name(name: str) -> str | None:
    """The registry name of ``name`` ("ReLU", "Tanh", "LeakyReLU", "logistic", "swish"),
    or None."""
    squeezed = name.strip().lower().replace("-", "").replace("_", "")
    by_squeezed = {k.replace("_", ""): k for k in ACTIVATIONS}
    return by_squeezed.get(squeezed, ALIASES.get(squeezed))


def get_activation(spec) -> Activation:
    """An Activation from an instance, a name (``"relu"``, ``"tanh"``, ``"GELU"``,
    ``"logistic"``: :func:`canonical_name`), a name with its parameter (``"leaky_relu:0.1"``,
    ``"elu:0.5"``) or a mapping ``{"name": "leaky_relu", "alpha": 0.1}``."""
    if isinstance(spec, Activation):
        return spec
    params: dict = {}
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        spec = spec.get("name")
    if not isinstance(spec, str):
        raise _validate.InputError(
            f"an activation is a name ({', '.join(ACTIVATIONS)}), got {spec!r}"
        )
    given, _, arg = spec.partition(":")
    name = canonical_name(given)
    if name is None:
        raise _validate.InputError(
            f"unknown activation {given.strip()!r}; known: {', '.join(ACTIVATIONS)}"
        )
    if arg:
        if name not in PARAMETERS:
            raise _validate.InputError(f"activation {name!r} takes no parameter, got {spec!r}")
        try:
            params[PARAMETERS[name]] = float(arg)
        except ValueError:
            raise _validate.InputError(
                f"{name} {PARAMETERS[name]} must be a number, got {arg!r}") from None
    try:
        return ACTIVATIONS[name](**params)
    except TypeError:
        raise _validate.InputError(
            f"activation {name!r} does not take parameters {sorted(params)}"
        ) from None
