"""The registry: every claim the toolkit checks, its proofs/ document, code, tests and check.

Each topic module in ``lotteryproofs/checks/`` exposes ``THEOREMS``, a tuple of
:class:`Theorem`; :data:`CHECK_MODULES` lists them. ``lotteryproofs check`` runs every check
(report.py); tests/test_theorems.py keeps the registry and proofs/ in step (every document
exists and every code and test it names exists).
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Modules whose ``THEOREMS`` make up the registry, lowest layer first.
CHECK_MODULES: tuple[str, ...] = ("lotteryproofs.checks.init", "lotteryproofs.checks.construct", "lotteryproofs.checks.popup", "lotteryproofs.checks.rss", "lotteryproofs.checks.bounds", "lotteryproofs.checks.constants", "lotteryproofs.checks.bounded_gain",)


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
    proofs/ file (relative to the repository root) that states and proves it.
    """

    key: str
    title: str
    claim: str
    theory: str
    document: str
    code: tuple[str, ...]
    tests: tuple[str, ...]
    check: Callable[[CheckContext], CheckResult]


def registry() -> tuple[Theorem, ...]:
    """Every registered theorem, in the order of CHECK_MODULES; keys are unique."""
    theorems: list[Theorem] = []
    for module_name in CHECK_MODULES:
        theorems.extend(importlib.import_module(module_name).THEOREMS)
    keys = [t.key for t in theorems]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise RuntimeError(f"theorem keys registered twice: {duplicated}")
    return tuple(theorems)


def theorem_rng(seed: int, key: str) -> np.random.Generator:
    """An independent stream per theorem, stable when other theorems are added or removed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(key.encode()),)))
