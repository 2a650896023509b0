"""The theorem registry: the toolkit's own checks plus those other packages register.

Each topic module here exports ``THEOREMS``, a tuple of :class:`~lotteryproofs.theorems.Theorem`
records, and imports nothing from this registry (only the records in lotteryproofs.theorems),
so the dependency runs one way: registry → check modules → records. :data:`BUILTIN` lists them
in layer order. Another distribution adds theorems through the entry-point group
:data:`ENTRY_POINT_GROUP` (docs/testing.md); an entry point names a ``Theorem``, a sequence of
them, or a module with ``THEOREMS``. An entry point that cannot be loaded, gives something
else, or reuses a key is a :class:`PluginError`, reported as such by ``lotteryproofs check``
and never as a failed theorem.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import types
from collections.abc import Iterable
from dataclasses import dataclass

from lotteryproofs.checks import (
    activations,
    bounded_gain,
    bounds,
    constants,
    construct,
    conv,
    init,
    popup,
    rss,
)
from lotteryproofs.theorems import BUILTIN_PACKAGE, Theorem

#: The entry-point group other packages register their theorems in.
ENTRY_POINT_GROUP = "lotteryproofs.theorems"

#: The toolkit's own theorems, lowest layer first.
BUILTIN: tuple[Theorem, ...] = (
    *init.THEOREMS, *construct.THEOREMS, *bounded_gain.THEOREMS, *activations.THEOREMS,
    *popup.THEOREMS,
    *rss.THEOREMS, *bounds.THEOREMS, *constants.THEOREMS, *conv.THEOREMS,
)


@dataclass(frozen=True)
class PluginError:
    """An entry point of :data:`ENTRY_POINT_GROUP` that gave no usable theorem."""

    entry_point: str  # "name = module:attr"
    package: str
    error: str  # one line: the exception or the mistake

    @property
    def key(self) -> str:
        """The row label of the error in tables and reports."""
        return f"plugin:{self.package}"


@dataclass(frozen=True)
class Registry:
    """Every theorem that loaded, in registration order, and every plugin that did not."""

    theorems: tuple[Theorem, ...]
    errors: tuple[PluginError, ...] = ()

    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.theorems)


def _unique(theorems: Iterable[Theorem]) -> tuple[Theorem, ...]:
    theorems = tuple(theorems)
    keys = [t.key for t in theorems]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise RuntimeError(f"theorem keys registered twice: {duplicated}")
    return theorems


def _package(entry_point) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is not None and dist.metadata is not None and dist.metadata.get("Name"):
        return dist.metadata["Name"]
    return entry_point.value.split(":")[0].split(".")[0]


def _theorems_of(obj) -> tuple[Theorem, ...]:
    """What an entry point names, as Theorem records (TypeError for anything else)."""
    if isinstance(obj, Theorem):
        return (obj,)
    if isinstance(obj, types.ModuleType):
        if not hasattr(obj, "THEOREMS"):
            raise TypeError(f"module {obj.__name__} has no THEOREMS")
        obj = obj.THEOREMS
    if isinstance(obj, str | bytes) or not isinstance(obj, Iterable):
        raise TypeError(f"expected a Theorem or a sequence of them, got {type(obj).__name__}")
    items = tuple(obj)
    wrong = [type(item).__name__ for item in items if not isinstance(item, Theorem)]
    if wrong:
        raise TypeError(f"expected lotteryproofs.theorems.Theorem records, got {wrong[0]}")
    if not items:
        raise TypeError("registers no theorem")
    return items


def plugin_entry_points() -> tuple:
    """The installed entry points of :data:`ENTRY_POINT_GROUP`, sorted by name (stable order)."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in found}  # a path listed twice is one plugin
    return tuple(sorted(unique.values(), key=lambda ep: (ep.name, ep.value)))


def registry(entry_points=None) -> Registry:
    """The built-in theorems followed by every plugin's (``entry_points`` defaults to the
    installed ones). A plugin theorem whose key is taken is refused as a PluginError."""
    theorems = list(_unique(BUILTIN))
    taken = {t.key: t.package for t in theorems}
    errors = []
    for ep in plugin_entry_points() if entry_points is None else tuple(entry_points):
        package = _package(ep)
        label = f"{ep.name} = {ep.value}"
        try:
            loaded = _theorems_of(ep.load())
        except Exception as exc:  # a broken plugin must not stop the toolkit's own checks
            message = " ".join(str(exc).split()) or "(no message)"
            errors.append(PluginError(label, package, f"{type(exc).__name__}: {message}"))
            continue
        clashes = [t.key for t in loaded if t.key in taken] + sorted(
            {t.key for t in loaded if [u.key for u in loaded].count(t.key) > 1})
        if clashes:
            owner = taken.get(clashes[0], package)
            errors.append(PluginError(label, package,
                                      f"theorem key {clashes[0]!r} is already registered by "
                                      f"{owner}; its theorems were not loaded"))
            continue
        for theorem in loaded:
            theorem = dataclasses.replace(theorem, package=package)
            taken[theorem.key] = package
            theorems.append(theorem)
    return Registry(tuple(theorems), tuple(errors))


__all__ = ["BUILTIN", "BUILTIN_PACKAGE", "ENTRY_POINT_GROUP", "PluginError", "Registry",
           "registry"]
