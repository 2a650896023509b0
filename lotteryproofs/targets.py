"""Built-in targets by name: random targets ``random:8-16-16-4[:SEED]`` and shipped real ones.

A random target has weights and biases i.i.d. U[-1, 1] scaled by 1/√(fan-in) for the weights
(so the activation bounds B_l of THEORY.md §5 stay of order one across depth), with the seed
fixing every byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Network

RANDOM_PREFIX = "random:"


@dataclass(frozen=True)
class ShippedTarget:
    """A real target shipped in ``lotteryproofs/data`` with its provenance."""

    file: str
    description: str
    #: None: the file's own metadata carries a per-coordinate ``input_box`` (real targets
    #: trained by lotteryproofs.train).
    input_lower: float | None = None
    input_upper: float | None = None
    #: the activation between the Linear layers (target_info.KNOWN_ACTIVATIONS); every shipped
    #: target is a ReLU network with none after the last layer
    activation: str = "relu"


SHIPPED = {
    "lenet300100": ShippedTarget(
        file="lenet300100_mnist_imp.npz",
        description=(
            "LeNet-300-100 (784-300-100-10, ReLU) trained on MNIST and pruned by iterative "
            "magnitude pruning; the seed paper's own construction target (RelationalML/"
            "NonZeroBiases, commit 31716d4, Construction/model_ep40_it0.pth)"
        ),
        # MNIST normalised as (pixel - 0.1307) / 0.3081 by the Synaptic-Flow pipeline.
        input_lower=-0.4242,
        input_upper=2.8215,
    ),
    # Trained on scikit-learn's embedded datasets by `python -m lotteryproofs.train
    # --regenerate-shipped` (lotteryproofs/train.py, SHIPPED_RECIPES); the input box of the
    # standardised training inputs is in each file's metadata.
    **{
        name: ShippedTarget(file=f"{name}.npz", description=description)
        for name, description in (
            ("digits-64-32", "MLP 64-64-32-10 (ReLU) trained on scikit-learn's digits"),
            ("breast-cancer-16-8", "MLP 30-16-8-1 (ReLU) trained on scikit-learn's breast cancer"),
            ("wine-16-8", "MLP 13-16-8-3 (ReLU) trained on scikit-learn's wine"),
        )
    },
    # Convolutional targets trained in numpy by `python -m lotteryproofs.train_conv
    # --regenerate-shipped` (lotteryproofs/train_conv.py); their files declare the
    # architecture, the input shape (1, 8, 8) and the input box.
    "digits-cnn": ShippedTarget(
        file="digits-cnn.npz",
        description=("CNN Conv(1→8, 3×3, pad 1)–ReLU–Conv(8→16, 3×3, stride 2, pad 1)–ReLU–"
                     "Flatten–Linear(256→10) trained on scikit-learn's digits (8×8)")),
    "digits-resnet": ShippedTarget(
        file="digits-resnet.npz",
        description=("CNN Conv(1→8, 3×3, pad 1)–ReLU–Residual[Conv(8→8)–ReLU–Conv(8→8), 3×3, "
                     "pad 1; identity shortcut]–ReLU–Conv(8→16, 3×3, stride 2, pad 1)–ReLU–"
                     "Flatten–Linear(256→10) trained on scikit-learn's digits (8×8)")),
}


def random_target(widths, rng, *, zero_fraction: float = 0.0) -> Network:
    """A random target: W_l ~ U[-1, 1]/√n_{l−1}, b_l ~ U[-1, 1], a fraction set exactly to 0."""
    widths = _validate.widths("target widths", widths)
    rng = _validate.rng(rng)
    weights, biases = [], []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        w = rng.uniform(-1.0, 1.0, (n_out, n_in)) / np.sqrt(n_in)
        b = rng.uniform(-1.0, 1.0, n_out)
        if zero_fraction > 0:
            w[rng.random(w.shape) < zero_fraction] = 0.0
        weights.append(w)
        biases.append(b)
    return Network(tuple(weights), tuple(biases))


def parse_random_name(name: str) -> tuple[tuple[int, ...], int]:
    """'random:8-16-4' → ((8, 16, 4), 0); 'random:8-16-4:7' → ((8, 16, 4), 7)."""
    spec = name[len(RANDOM_PREFIX) :]
    widths_text, _, seed_text = spec.partition(":")
    widths = _validate.parse_widths(f"target {name!r}", widths_text, minimum_layers=2)
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError:
        raise _validate.InputError(
            f"target {name!r}: the seed after ':' must be an integer"
        ) from None
    return widths, seed


def shipped_target_path(name: str):
    """Path (importlib Traversable) of a shipped target's file."""
    return resources.files("lotteryproofs") / "data" / SHIPPED[name].file


def is_builtin(name: str) -> bool:
    return name.startswith(RANDOM_PREFIX) or name in SHIPPED


def builtin_names() -> list[str]:
    return ["random:W0-W1-...-WL[:SEED]", *sorted(SHIPPED)]
