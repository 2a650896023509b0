"""argparse ``type=`` converters: a bad number is refused while parsing, before any work,
with the one-line message of :mod:`lotteryproofs._validate` (exit status 2)."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate


def _as(convert, parse, text: str):
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {'an integer' if parse is int else 'a number'}, got {text!r}") from None
    try:
        return convert(value)
    except _validate.InputError as exc:  # the validators' "NAME must …" without a name
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def seed(text: str) -> int:
    """A root seed: an integer >= 0."""
    return _as(lambda v: _validate.seed(v, ""), int, text)


def positive_int(text: str) -> int:
    """An integer >= 1 (ρ, trials, samples, workers, epochs)."""
    return _as(lambda v: _validate.positive_int("", v), int, text)


def positive_float(text: str) -> float:
    """A finite number > 0 (ε, ε', C, learning rates)."""
    return _as(lambda v: _validate.positive("", v), float, text)


def unit_open(text: str) -> float:
    """A number in (0, 1) (δ)."""
    return _as(lambda v: _validate.open_unit("", v), float, text)


def finite_float(text: str) -> float:
    """Any finite number (a side of an input box)."""
    return _as(lambda v: _validate.finite_scalar("", v), float, text)


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (β)."""
    return _as(lambda v: _validate.non_negative("", v), float, text)
