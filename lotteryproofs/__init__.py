"""lotteryproofs: strong lottery tickets with nonzero biases, constructed, bounded and checked.

The public API (DESIGN.md, "Python API") is importable from here; each name is loaded from
its module on first use, so ``import lotteryproofs`` stays cheap.
"""

from __future__ import annotations

import importlib

from lotteryproofs._version import __version__

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


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lotteryproofs' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
