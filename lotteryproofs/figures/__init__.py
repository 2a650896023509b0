"""The paper's figures: one function per figure, a package style sheet, one driver.

Every figure function has the signature ``figure_x(*, rng, quick: bool) -> Figure`` (a
``matplotlib.figure.Figure``): it computes its data through the package's public functions from
``rng`` alone (``quick`` shrinks the computation, never the meaning) and returns a figure drawn
without pyplot, so no global state is touched. :func:`lotteryproofs.figures.driver.build`
applies the style sheet, seeds each figure independently and saves PDF + PNG with fixed
metadata (same seed, same bytes).

``FIGURES`` maps each figure name to ``"module:function"``; modules are imported on first use
so that ``import lotteryproofs.figures`` stays cheap. A figure is listed only once its data
source exists in the package (a figure is never drawn from made-up numbers).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import resources

from lotteryproofs._validate import InputError

#: figure name → "module:function", in the paper's order (the order in which they are built).
FIGURES: dict[str, str] = {
    "signal": "lotteryproofs.figures.signal:figure_signal",
    "signal_activations": "lotteryproofs.figures.signal:figure_signal_activations",
    "looks_linear": "lotteryproofs.figures.looks_linear:figure_looks_linear",
    "constants": "lotteryproofs.figures.constants:figure_constants",
    "bounds": "lotteryproofs.figures.bounds:figure_bounds",
    "overparam": "lotteryproofs.figures.overparam:figure_overparam",
    "zero_bias": "lotteryproofs.figures.zero_bias:figure_zero_bias",
    "lenet": "lotteryproofs.figures.lenet:figure_lenet",
    "conv": "lotteryproofs.figures.conv:figure_conv",
    # written by the edge-popup work; its caption is in docs/figures.md
    "popup": "lotteryproofs.figures.popup:figure_popup_grid",
    "popup_bias": "lotteryproofs.figures.popup_bias:figure_popup_bias",
}


def figure_names() -> list[str]:
    """Every registered figure name, in build order."""
    return list(FIGURES)


def figure_function(name: str) -> Callable:
    """The function drawing figure ``name``; :class:`InputError` naming the known figures."""
    if name not in FIGURES:
        known = ", ".join(FIGURES) or "(none registered)"
        raise InputError(f"unknown figure {name!r}; known figures: {known}")
    module_name, _, function_name = FIGURES[name].partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def registry() -> dict[str, Callable]:
    """Figure name → figure function, for every registered figure (imports their modules)."""
    return {name: figure_function(name) for name in FIGURES}


def style_path():
    """The package style sheet ``style.mplstyle`` (a Traversable; use with resources.as_file)."""
    return resources.files(__name__).joinpath("style.mplstyle")
