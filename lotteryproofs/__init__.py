"""lotteryproofs: strong lottery tickets with nonzero biases, constructed, bounded and checked.

The public API (DESIGN.md, "Python API") is importable from here; each name is loaded from
its module on first use, so ``import lotteryproofs`` stays cheap.

Two public functions share their name with the module that defines them: ``construct``
(the subpackage lotteryproofs.construct) and ``certify`` (lotteryproofs.certify). Python sets
a package's attribute to its submodule when the submodule is imported, so a plain function
export would flip to the module after ``import lotteryproofs.construct.common``. Here the
attribute is therefore always the module, and that module is callable: calling
``lotteryproofs.construct(...)`` calls ``lotteryproofs.construct.construct(...)`` (and the
same for ``certify``), whatever was imported first. Both orders are tested
(tests/test_architecture.py); docs/architecture.md records the choice.
"""

from __future__ import annotations

import importlib
import sys
import types

from lotteryproofs._version import __version__ as __version__

_EXPORTS = {
    # networks and files
    "Network": "lotteryproofs.network",
    "Box": "lotteryproofs.network",
    "Ticket": "lotteryproofs.ticket",
    "RSSLog": "lotteryproofs.ticket",
    "InputError": "lotteryproofs._validate",
    "load_target": "lotteryproofs.io",
    "save_target": "lotteryproofs.io",
    "load_ticket": "lotteryproofs.io",
    "save_ticket": "lotteryproofs.io",
    "random_target": "lotteryproofs.targets",
    # random subset sum
    "closest_subset_sum": "lotteryproofs.rss",
    "sparsest_subset_sum": "lotteryproofs.rss",
    "fixed_size_subset_sum": "lotteryproofs.rss",
    "coverage_certificate": "lotteryproofs.rss",
    # RSS laws and measured constants
    "get_law": "lotteryproofs.laws",
    "contained_uniform_weight": "lotteryproofs.laws",
    "best_contained_uniform": "lotteryproofs.laws",
    "estimate_constants": "lotteryproofs.constants",
    "clopper_pearson": "lotteryproofs.stats",
    "closest_subset_sum_batch": "lotteryproofs.rss",
    "sparsest_subset_sum_batch": "lotteryproofs.rss",
    "fixed_size_subset_sum_batch": "lotteryproofs.rss",
    # initialisation, construction, certification
    "draw_network": "lotteryproofs.init",
    "unit_scale": "lotteryproofs.init",
    "from_unit_scale": "lotteryproofs.init",
    "draw_source": "lotteryproofs.init",
    "measure_signal_propagation": "lotteryproofs.signal",
    "construct": "lotteryproofs.construct",
    "represented_layers": "lotteryproofs.construct",
    "certify": "lotteryproofs.certify",
    "Certificate": "lotteryproofs.certify",
    # real targets on scikit-learn's embedded datasets (optional extra "train")
    "load_dataset": "lotteryproofs.datasets",
    "train_target": "lotteryproofs.train",
    "dataset_report": "lotteryproofs.evaluate",
    # edge-popup (THEORY.md §7)
    "PopupConfig": "lotteryproofs.popup",
    "train_popup": "lotteryproofs.popup",
}

__all__ = sorted(_EXPORTS)

#: Exports whose name is also the name of the module defining them (see the docstring).
_CALLABLE_MODULES = frozenset(
    name for name, module in _EXPORTS.items() if module == f"{__name__}.{name}")


class _CallableModule(types.ModuleType):
    """A module that, called, calls its own function of the same name."""

    def _function(self):
        return getattr(self, self.__name__.rpartition(".")[2])

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(self._function())


class _Package(types.ModuleType):
    """The package module: a submodule named like its function becomes callable when the
    import system binds it here (which it does with setattr, in every import order)."""

    def __setattr__(self, name, value):
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


def __getattr__(name: str):
    if name in _CALLABLE_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lotteryproofs' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)


sys.modules[__name__].__class__ = _Package
