"""Figure ``signal``: pre-activation scale and bias/weight-term ratio across depth."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.signal import BIAS_RULES, measure_signal_propagation

_LABELS = {"zero": "zero biases", "constant": "constant biases (b ~ β·D)",
           "product": "product rule (b ~ β·Π$_{k≤l}$σ$_k$·D)"}


def _measure(activation, rng, quick: bool):
    """Per bias rule: the measurement of normal He-scaled sources with φ = ``activation``,
    one child generator per rule, and the sizes used."""
    width, depth, n_inputs, n_networks = (64, 10, 128, 1) if quick else (256, 20, 512, 4)
    results = {
        rule: measure_signal_propagation(law="normal", bias_rule=rule, bias_factor=1.0,
                                         width=width, depth=depth, n_inputs=n_inputs,
                                         n_networks=n_networks, rng=child,
                                         activation=activation)
        for rule, child in zip(BIAS_RULES, rng.spawn(len(BIAS_RULES)), strict=True)
    }
    return results, (width, depth, n_inputs, n_networks)


def _panels(left, right, results, depth: int, prefix: str, letters=("a", "b")) -> None:
    """(a) q_l and (b) r_l per bias rule on two axes, measured (markers) and predicted
    (dashed)."""
    layers = np.arange(1, depth + 1)
    for i, (rule, r) in enumerate(results.items()):
        colour = f"C{i}"
        left.plot(layers, r.mean_sq_preactivation, "o-", color=colour, label=_LABELS[rule])
        left.plot(layers, r.mean_field_mean_sq, "--", color=colour, linewidth=1.0)
        if rule != "zero":
            right.plot(layers, r.ratio, "o-", color=colour, label=_LABELS[rule])
            right.plot(layers, r.predicted_ratio, "--", color=colour, linewidth=1.0)
    left.plot([], [], "--", color="0.4", linewidth=1.0,
              label=f"prediction: mean field in ({letters[0]}), given the measured inputs in "
                    f"({letters[1]})")
    left.set(yscale="log", xlabel="layer $l$", ylabel="mean squared pre-activation $q_l$",
             title=f"({letters[0]}) {prefix}pre-activation scale")
    right.set(yscale="log", xlabel="layer $l$", ylabel="bias term / weight term $r_l$",
              title=f"({letters[1]}) {prefix}bias-to-weight ratio")
    right.annotate("zero biases: $r_l$ = 0 (not on a log axis)", (0.03, 0.03),
                   xycoords="axes fraction", ha="left", va="bottom", fontsize=7)
    for ax in (left, right):
        ax.set_xticks(layers if depth <= 10 else layers[::2] + 1)
        ax.set_xlim(0.5, depth + 0.5)


def figure_signal(*, rng, quick: bool) -> Figure:
    """Signal propagation through He-scaled random sources with zero, constant and product-rule
    biases (THEORY.md §1, proofs/signal-propagation.md).

    Left: mean squared pre-activation q_l = mean (W_l x⁽ˡ⁻¹⁾ + b_l)² by layer. Right: the
    bias-to-weight ratio r_l = mean b_l² / mean (W_l x⁽ˡ⁻¹⁾)² (zero for zero biases, so not
    drawn on the log axis). Dashed: the mean-field prediction of the same quantity.

    Data: :func:`lotteryproofs.signal.measure_signal_propagation` with law ``normal``, β = 1,
    constant width 256, depth 20, 4 networks × 512 inputs U[-1, 1]^256 per rule (quick: width
    64, depth 10, 1 network × 128 inputs); one child generator per bias rule.
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only signal``.
    """
    results, (width, depth, n_inputs, n_networks) = _measure("relu", rng, quick)
    fig = Figure(figsize=(7.5, 3.6))
    left, right = fig.subplots(1, 2)
    _panels(left, right, results, depth, "")
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    fig.suptitle(f"He-scaled normal sources, width {width}, β = 1 "
                 f"({n_networks} network{'s' if n_networks > 1 else ''} × {n_inputs} inputs)",
                 fontsize=9)
    return fig


def figure_signal_activations(*, rng, quick: bool) -> Figure:
    """Signal propagation through He-scaled tanh and sigmoid sources (THEORY.md §1, §9;
    proofs/signal-propagation.md): the panels of :func:`figure_signal`, one row per φ.

    Data: :func:`lotteryproofs.signal.measure_signal_propagation` with ``activation`` tanh
    and sigmoid, law ``normal``, β = 1, the sizes of ``signal``; one child generator per φ.
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only signal_activations``.
    """
    activations = ("tanh", "sigmoid")
    fig = Figure(figsize=(7.5, 6.6))
    axes = fig.subplots(len(activations), 2)
    for row, ((left, right), activation, child) in enumerate(zip(
            axes, activations, rng.spawn(len(activations)), strict=True)):
        results, (width, depth, n_inputs, n_networks) = _measure(activation, child, quick)
        _panels(left, right, results, depth, f"{activation}: ", "abcd"[2 * row:2 * row + 2])
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    fig.suptitle(f"He-scaled normal sources with tanh and sigmoid, width {width}, β = 1 "
                 f"({n_networks} network{'s' if n_networks > 1 else ''} × {n_inputs} inputs)",
                 fontsize=9)
    return fig
