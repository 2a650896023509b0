"""The record of a registered claim: what it states, where it is proved, how it is checked.

A topic module of ``lotteryproofs/checks/`` (or another package, through the entry-point group
``lotteryproofs.theorems``) builds :class:`Theorem` records; the registry in
:mod:`lotteryproofs.checks` collects them, and ``lotteryproofs check`` runs every
``Theorem.check`` (lotteryproofs/report.py). This module imports no check and no registry, so
a check module and a third-party plugin can both import it (docs/testing.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from lotteryproofs import _validate

#: The distribution name of the theorems shipped with the toolkit itself.
BUILTIN_PACKAGE = "lotteryproofs"


@dataclass(frozen=True)
class CheckContext:
    """What a check receives: its own random stream and whether to run the long version."""

    rng: np.random.Generator
    thorough: bool = False


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one numeric check: a verdict, a one-line measurement, JSON details."""

    passed: bool
    measured: str
    details: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Theorem:
    """One registered claim.

    ``code`` names the implementing objects as ``module:qualname``; ``tests`` names the tests
    that verify it as pytest node ids (``tests/test_x.py::test_y``); ``document`` is the
    proofs/ file (relative to the root of the project that registers it) that states and
    proves it. ``package`` is the distribution that registered it; the registry sets it for
    theorems that come from an entry point, so a plugin need not (and cannot) claim another's.
    """

    key: str
    title: str
    claim: str
    theory: str
    document: str
    code: tuple[str, ...]
    tests: tuple[str, ...]
    check: Callable[[CheckContext], CheckResult]
    package: str = BUILTIN_PACKAGE


def check_seed(seed, name: str = "seed") -> int:
    """The root seed of a check run: an integer >= 0 (numpy's SeedSequence refuses others)."""
    return _validate.positive_int(name, seed, minimum=0)


def theorem_rng(seed: int, key: str) -> np.random.Generator:
    """An independent stream per theorem, stable when other theorems are added or removed."""
    seed = check_seed(seed)
    spawn_key = (zlib.crc32(key.encode()),)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))
