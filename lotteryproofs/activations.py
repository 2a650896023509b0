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

Every activation here is monotone non-decreasing, so the image of [lo, hi] is
[σ(lo), σ(hi)]. Adding one is one class in this module and its entry in
:data:`ACTIVATIONS` (docs/architecture.md).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from lotteryproofs import _validate
from lotteryproofs.rounding import down, iv53, up


class Activation(abc.ABC):
    """The protocol of an activation function (module docstring)."""

    #: registry name, the value of a file's ``metadata["activation"]`` (with ``spec``)
    name: str = ""
    positively_homogeneous: bool = False
    lipschitz: float = math.inf
    kinks: tuple[float, ...] = ()

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


@dataclass(frozen=True)
class LeakyReLU(Activation):
    """σ(z) = z for z > 0, α·z otherwise, α ≥ 0 finite (α = 0 is ReLU, α = 1 the identity).

    σ(z) − σ(−z) = (1 + α)·z for every z (z > 0: z − α(−z); z < 0: αz − (−z)), so the
    looks-linear identity holds only for α = 0; σ is positively homogeneous and
    max(1, α)-Lipschitz.
    """

    alpha: float = 0.01

    name = "leaky_relu"
    positively_homogeneous = True
    kinks = (0.0,)

    def __post_init__(self):
        alpha = _validate.finite_scalar("leaky_relu alpha", self.alpha)
        if alpha < 0:
            raise _validate.InputError(f"leaky_relu needs alpha ≥ 0 (monotone), got {alpha}")
        object.__setattr__(self, "alpha", alpha)

    @property
    def lipschitz(self) -> float:
        return max(1.0, self.alpha)

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
            lower = z.a if z.a > 0 else (alpha * z.a).a
            upper = z.b if z.b > 0 else (alpha * z.b).b
            return iv.mpf([lower, upper])

    def exact(self, v):
        return v if v > 0 else Fraction(self.alpha) * v

    def exact_scaled(self, ints, exponent):
        alpha = Fraction(self.alpha)  # a float: its denominator is a power of two
        shift = alpha.denominator.bit_length() - 1
        m = alpha.numerator
        return [v << shift if v > 0 else v * m for v in ints], exponent + shift


RELU = ReLU()
IDENTITY = Identity()

#: name → factory (keyword parameters from the spec)
ACTIVATIONS = {"relu": ReLU, "identity": Identity, "leaky_relu": LeakyReLU}


def get_activation(spec) -> Activation:
    """An Activation from an instance, a name (``"relu"``, ``"identity"``,
    ``"leaky_relu"``), a name with its parameter (``"leaky_relu:0.1"``) or a mapping
    ``{"name": "leaky_relu", "alpha": 0.1}``."""
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
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    if name not in ACTIVATIONS:
        raise _validate.InputError(
            f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}"
        )
    if arg:
        if name != "leaky_relu":
            raise _validate.InputError(f"activation {name!r} takes no parameter, got {spec!r}")
        try:
            params["alpha"] = float(arg)
        except ValueError:
            raise _validate.InputError(f"leaky_relu alpha must be a number, got {arg!r}") from None
    try:
        return ACTIVATIONS[name](**params)
    except TypeError:
        raise _validate.InputError(
            f"activation {name!r} does not take parameters {sorted(params)}"
        ) from None
