"""Options of one construction, declared once as data and validated once (THEORY.md §4).

A construction lists its own options (``rho_in`` of L+1, ``widen`` of the 2L family, …) as
:class:`Option` records: a name, a default and the constraints a value must satisfy
(:class:`Interval`, :class:`OneOf`, :data:`BOOLEAN`, :data:`NONE`). :func:`validate_options`
checks the options a caller gave against that declaration, and every error message is
generated from it ("the l+1 construction has no option 'widen' (its options: rho_in)",
"rho_in must be None or an integer in [1, ∞), got 0"), so the allowed values are written in
one place only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from lotteryproofs import _validate


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (int or float) in [low, high] (either end may be infinite)."""

    kind: type
    low: float = -math.inf
    high: float = math.inf

    def accepts(self, value) -> bool:
        if isinstance(value, bool):
            return False
        kind = numbers.Integral if self.kind is int else numbers.Real
        return isinstance(value, kind) and math.isfinite(value) and self.low <= value <= self.high

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        high = "∞)" if math.isinf(self.high) else f"{self.high:g}]"
        low = "(-∞" if math.isinf(self.low) else f"[{self.low:g}"
        return f"{what} in {low}, {high}"


@dataclass(frozen=True)
class OneOf:
    """One of the listed values (compared with ==)."""

    values: tuple

    def accepts(self, value) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class _Boolean:
    def accepts(self, value) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class _NoneValue:
    def accepts(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


#: A bool (True or False; 0 and 1 are refused).
BOOLEAN = _Boolean()
#: None (the option's value is derived, e.g. ρ_in from ρ or from the width theorem).
NONE = _NoneValue()


@dataclass(frozen=True)
class Option:
    """One declared option: its name, its default and the constraints a value may satisfy."""

    name: str
    default: object
    constraints: tuple
    help: str = ""

    def check(self, value):
        if not any(c.accepts(value) for c in self.constraints):
            allowed = " or ".join(str(c) for c in self.constraints)
            raise _validate.InputError(f"{self.name} must be {allowed}, got {value!r}")
        return value


def validate_options(owner: str, declared: tuple[Option, ...], given: Mapping) -> dict:
    """The declared options with ``given`` values checked against their constraints, the rest
    at their defaults. ``owner`` names the declaration in messages ("the l+1 construction")."""
    by_name = {o.name: o for o in declared}
    for name in given:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise _validate.InputError(f"{owner} has no option {name!r} (its options: {known})")
    return {name: (option.check(given[name]) if name in given else option.default)
            for name, option in by_name.items()}
