"""Figure ``conv``: convolutional tickets of the shipped digits-cnn target (THEORY.md §8)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs import datasets
from lotteryproofs.construct.conv_two_layer import construct_conv, param_layers
from lotteryproofs.construct.registry import get_conv_construction
from lotteryproofs.io import read_target, target_box

#: ε' of every ticket; the ρ of panel (a); the ρ swept in (b)–(c) (quick: a subset).
EPS_PARAM, RHO_FILTERS = 0.01, 40
RHOS, RHOS_QUICK = (8, 12, 16, 20, 24, 32, 40, 48, 64), (8, 16, 32)


def figure_conv(*, rng, quick: bool) -> Figure:
    """The conv 2L construction (proofs/conv-2l-construction.md: a 1×1 univariate layer, then
    a k×k layer of subset sums, biases through constant channels, border-correct) on the
    built-in target ``digits-cnn`` (Conv(1→8, 3×3, pad 1)–ReLU–Conv(8→16, 3×3, stride 2,
    pad 1)–ReLU–Flatten–Linear(→10), trained on scikit-learn's digits).

    (a) The target's eight first-layer filters K (top), the filters the ρ = 40 ticket
    represents, read back from its masks alone (middle: the positive part P̃ of each pair, the
    kernel applied to the non-negative pixels), and their difference in units of ε' = 0.01
    (bottom; |P̃ − K| ≤ ε' wherever the entry's instance did not fail, and |K| ≤ ε' entries are
    not built). (b) Against ρ, the largest logit error max|f_T(x) − Λ⁻¹f_S(x)| over the
    digits test images, and the number of failed subset-sum instances (recorded in the
    ticket's log, never hidden). (c) The ticket's test accuracy and its argmax agreement with
    the target, the target's accuracy dashed.

    Data: :func:`lotteryproofs.io.read_target` ``digits-cnn``, its input box and split seed;
    :func:`lotteryproofs.construct.conv_two_layer.construct_conv` (conv method 2l, ε' =
    0.01), one source seed for every ρ; :func:`lotteryproofs.datasets.load_dataset`
    ``digits`` (the target's test split). Quick: ρ ∈ {8, 16, 32} only.
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0) draws the
    source seed.
    Command: ``lotteryproofs figures --only conv``.
    """
    target, metadata = read_target("digits-cnn")
    box = target_box(metadata, target.layers[0].in_features)
    data = datasets.load_dataset("digits", split_seed=int(metadata.get("split_seed", 0)))
    construction = get_conv_construction("2l")
    seed = int(rng.integers(2**31))
    reference = target.forward(data.x_test)
    predicted_target = reference.argmax(axis=1)
    target_accuracy = float(np.mean(predicted_target == data.y_test))

    kernel = param_layers(target.layers)[0].weight
    rows = []
    for rho in sorted({*(RHOS_QUICK if quick else RHOS), RHO_FILTERS}):
        ticket = construct_conv(target, eps_param=EPS_PARAM, rho=rho, rng=seed, domain=box,
                                construction=construction)
        approximation = ticket.approximation(data.x_test)
        predicted = approximation.argmax(axis=1)
        rows.append({"rho": rho, "failed": int(ticket.failures),
                     "error": float(np.max(np.abs(approximation - reference))),
                     "accuracy": float(np.mean(predicted == data.y_test)),
                     "agreement": float(np.mean(predicted == predicted_target))})
        if rho == RHO_FILTERS:
            # the pair's positive part: the kernel applied to the non-negative pixels
            represented = construction.represent(ticket)[0].positive[0].reshape(kernel.shape)
            failed = ticket.failures

    fig = Figure(figsize=(11.0, 4.4))
    left, right = fig.subfigures(1, 2, width_ratios=(1.15, 1.0))
    n = kernel.shape[0]
    grid = left.subplots(3, n)
    scale = float(np.max(np.abs(kernel)))
    diff = (represented - kernel) / EPS_PARAM
    names = ("target K", f"ticket P̃ (ρ = {RHO_FILTERS})", "(P̃ − K) / ε'")
    for row, (values, limit, cmap) in enumerate(((kernel, scale, "RdBu_r"),
                                                 (represented, scale, "RdBu_r"),
                                                 (diff, 1.0, "PuOr_r"))):
        for o in range(n):
            ax = grid[row, o]
            image = ax.imshow(values[o, 0], cmap=cmap, vmin=-limit, vmax=limit,
                              interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if o == 0:
                ax.set_ylabel(names[row], fontsize=7)
            if row == 0:
                ax.set_title(f"filter {o}", fontsize=7)
        left.colorbar(image, ax=list(grid[row]), shrink=0.8, pad=0.02)
    plural = "" if failed == 1 else "s"
    left.suptitle(f"digits-cnn, conv 2L, ε' = {EPS_PARAM}: (a) first-layer filters, 3×3\n"
                  f"(the ρ = {RHO_FILTERS} ticket has {failed} failed instance{plural})",
                  fontsize=9)

    ax_err, ax_acc = right.subplots(2, 1, sharex=True)
    rhos = [r["rho"] for r in rows]
    ax_err.semilogy(rhos, [r["error"] for r in rows], "o-", color="C0",
                    label="max logit error on the test images")
    ax_err.set(ylabel="max |f_T − Λ⁻¹f_S|", title="(b) error and failed instances against ρ")
    ax_fail = ax_err.twinx()
    ax_fail.plot(rhos, [max(r["failed"], 0.5) for r in rows], "s--", color="C3",
                 label="failed instances (0 drawn at 0.5)")
    ax_fail.set_yscale("log")
    ax_fail.set_ylabel("failed instances", color="C3")
    ax_fail.grid(False)
    handles = ax_err.get_legend_handles_labels()[0] + ax_fail.get_legend_handles_labels()[0]
    ax_err.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=7)
    ax_acc.plot(rhos, [100 * r["accuracy"] for r in rows], "o-", color="C0",
                label="ticket test accuracy")
    ax_acc.plot(rhos, [100 * r["agreement"] for r in rows], "^-", color="C2",
                label="agreement with the target")
    ax_acc.axhline(100 * target_accuracy, color="0.2", linestyle="--", linewidth=1.0,
                   label=f"target test accuracy ({100 * target_accuracy:.2f} %)")
    ax_acc.set(xlabel="ρ (copies per subset-sum pool)", ylabel="%",
               title="(c) test accuracy and agreement")
    ax_acc.legend(loc="lower right", fontsize=7)
    swept = ", ".join(str(r) for r in rhos)
    right.suptitle(f"ρ = {swept} (one source seed{', quick' if quick else ''})",
                   fontsize=9)
    return fig
