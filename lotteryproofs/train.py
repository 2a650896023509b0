"""Real target networks: an MLP trained on an embedded scikit-learn dataset.

:func:`train_target` standardises the inputs (``datasets.py``), fits scikit-learn's
``MLPClassifier`` (ReLU by default, or its tanh, logistic or identity hidden activation:
:data:`SKLEARN_ACTIVATIONS`; Adam, fixed ``random_state``) and, if asked, magnitude-prunes it:

- **pruning**: in every weight matrix separately, the ``round(prune · size)`` entries of smallest
  magnitude are set to 0 (ties broken by position, so the result is deterministic); biases are
  never pruned (nonzero biases are the subject of the toolkit);
- **re-fit**: then ``refit_epochs`` further epochs of the same Adam optimiser over the training
  data, the pruned weights put back to exactly 0 after every epoch (projected training at epoch
  granularity). The returned network satisfies the mask exactly.

The network is the MLP itself with its output non-linearity dropped: ``coefs_`` (in, out) become
weights (out, in), and the output is the logits. For a multi-class dataset the prediction is the
argmax of the logits (the argmax of the softmax); for a binary one scikit-learn has a single
logistic unit and the prediction is ``logit > 0`` (probability > ½). ``evaluate.predict`` is the
one place that rule lives.

The target file's ``metadata`` records the preprocessing ``{"preprocessing": {"mean", "scale"}}``
(the network is fed (x − mean)/scale), the input box of the standardised *training* inputs, the
split seed and the test accuracy, so that ``construct`` can re-load the dataset and compare.

``python -m lotteryproofs.train --regenerate-shipped`` rewrites the small real targets shipped
in ``lotteryproofs/data`` (:data:`SHIPPED_RECIPES`). They are shipped rather than trained on
first use and cached because (1) ``construct``/``verify`` by name then need neither
scikit-learn nor a writable cache folder, (2) a ticket's ``target_sha256`` keeps meaning the same
network on every machine, whatever scikit-learn version is installed (training is bit-for-bit
reproducible only for one version), and (3) they are small (≈ 110 kB together).

What training promises: **on one machine**, the same arguments give the same bytes. **Across
machines** it cannot: scikit-learn's matrix products go through the BLAS kernel the CPU selects
(OpenBLAS picks Haswell, SkylakeX, Zen, …), whose summation orders differ in the last bit, and
600 Adam iterations carry that on (measured: the shipped targets re-trained under the Haswell
kernel differ from the SkylakeX-made files by ≤ 3.3e-16 relative, every layer). The promise is
then the same predictions on every training and test input, and every parameter within
:data:`CROSS_MACHINE_RTOL` × max(1, max |layer|) of the other machine's; tests/test_train.py
checks both against the shipped files whenever the installed scikit-learn is the recorded one.
So a file trained here may differ from the shipped one in its last bits (and sha256): a
ticket built for one verifies against that one only.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotteryproofs import _validate, datasets
from lotteryproofs.evaluate import accuracy
from lotteryproofs.network import Network

#: MLPClassifier settings (everything not listed is scikit-learn's default).
MAX_ITER = 600
ALPHA = 1e-3  # L2 penalty: keeps weights small, which keeps the a-priori error bound small
LEARNING_RATE_INIT = 1e-3
DEFAULT_REFIT_EPOCHS = 100

#: The real targets shipped in lotteryproofs/data: name → (dataset, hidden, prune, seed).
SHIPPED_RECIPES = {
    "digits-64-32": ("digits", (64, 32), 0.0, 0),
    "breast-cancer-16-8": ("breast-cancer", (16, 8), 0.0, 0),
    "wine-16-8": ("wine", (16, 8), 0.0, 0),
}
SHIPPED_SPLIT_SEED = 0
#: MLPClassifier's hidden activations → the activation registry's names (logistic = sigmoid).
#: A non-ReLU target declares its activation in its metadata; a ReLU one does not add the key,
#: so that re-training a shipped target still gives its shipped bytes (and its files read as
#: before: ReLU, with the usual note).
SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid",
                       "identity": "identity"}
#: Across machines, parameters agree within this × max(1, max |layer|) (see the docstring).
CROSS_MACHINE_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class TrainedTarget:
    """A trained (and possibly pruned) target, its metadata and the dataset it was fitted on."""

    network: Network
    metadata: dict
    dataset: datasets.Dataset


def parse_hidden(text: str) -> tuple[int, ...]:
    """'64,32' → (64, 32): the hidden widths, a non-empty list of positive integers."""
    if not isinstance(text, str) or not text.strip():
        raise _validate.InputError(
            f"hidden widths must be positive integers separated by commas, e.g. 64,32; got {text!r}"
        )
    parts = [p.strip() for p in text.split(",")]
    values = []
    for part in parts:
        if not part.isdigit():
            raise _validate.InputError(
                f"hidden widths must be positive integers separated by commas, e.g. 64,32; "
                f"{part!r} in {text!r} is not"
            )
        values.append(int(part))
    return check_hidden(values)


def check_hidden(hidden) -> tuple[int, ...]:
    return _validate.widths("hidden widths", hidden, minimum_layers=1)


def check_prune(prune) -> float:
    """A prune fraction in [0, 1)."""
    prune = _validate.finite_scalar("prune fraction", prune)
    if not 0 <= prune < 1:
        raise _validate.InputError(f"prune fraction must lie in [0, 1), got {prune}")
    return prune


def magnitude_masks(weights, prune: float) -> list[np.ndarray]:
    """Per matrix, False at the round(prune·size) smallest |w| (stable order on ties)."""
    masks = []
    for w in weights:
        n_prune = int(round(prune * w.size))
        order = np.argsort(np.abs(w), axis=None, kind="stable")
        mask = np.ones(w.size, dtype=bool)
        mask[order[:n_prune]] = False
        masks.append(mask.reshape(w.shape))
    return masks


def check_activation(name: str) -> str:
    """An MLPClassifier hidden activation (:data:`SKLEARN_ACTIVATIONS`), or an InputError."""
    if name not in SKLEARN_ACTIVATIONS:
        raise _validate.InputError(f"--activation must be one of MLPClassifier's "
                                   f"{', '.join(SKLEARN_ACTIVATIONS)}, got {name!r}")
    return name


def _network_of(model) -> Network:
    return Network(
        tuple(np.array(c, dtype=np.float64).T for c in model.coefs_),
        tuple(np.array(b, dtype=np.float64) for b in model.intercepts_),
        activation=SKLEARN_ACTIVATIONS[model.activation],
    )


def train_target(dataset, hidden, *, seed: int, prune: float = 0.0, split_seed: int = 0,
                 refit_epochs: int = DEFAULT_REFIT_EPOCHS,
                 activation: str = "relu") -> TrainedTarget:
    """Train an MLP target on ``dataset`` (a name or a :class:`datasets.Dataset`), with
    MLPClassifier's hidden ``activation`` (relu, tanh, logistic, identity).

    Same arguments, same network and metadata (MLPClassifier runs with
    ``random_state=seed``; the split comes from ``split_seed``).
    """
    hidden = check_hidden(hidden)
    activation = check_activation(activation)
    prune = check_prune(prune)
    seed = _validate.positive_int("seed", seed, minimum=0)
    refit_epochs = _validate.positive_int("re-fit epochs", refit_epochs, minimum=0)
    if isinstance(dataset, datasets.Dataset):
        data = dataset
    else:
        data = datasets.load_dataset(dataset, split_seed=split_seed)
    widths = (data.n_features, *hidden, 1 if data.n_classes == 2 else data.n_classes)
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    _validate.fits_in_memory(8.0 * n_params * 8, f"an MLP with widths {widths}")

    sklearn = datasets.require_sklearn()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation=activation,
        solver="adam",
        alpha=ALPHA,
        learning_rate_init=LEARNING_RATE_INIT,
        max_iter=MAX_ITER,
        random_state=seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(data.x_train, data.y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    n_iter = int(model.n_iter_)
    dense_accuracy = accuracy(_network_of(model), data.x_test, data.y_test)

    if prune > 0:
        masks = magnitude_masks(model.coefs_, prune)
        for coef, mask in zip(model.coefs_, masks, strict=True):
            coef *= mask  # in place: the optimiser holds references to these arrays
        pruned_accuracy = accuracy(_network_of(model), data.x_test, data.y_test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(refit_epochs):
                model.partial_fit(data.x_train, data.y_train)
                for coef, mask in zip(model.coefs_, masks, strict=True):
                    coef *= mask

    network = _network_of(model)
    box = data.train_box()
    metadata = {
        "dataset": data.name,
        "split_seed": data.split_seed,
        "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]),
        "n_classes": data.n_classes,
        "output": "logit; class 1 iff logit > 0" if widths[-1] == 1 else "logits; argmax",
        "preprocessing": {"mean": data.mean.tolist(), "scale": data.scale.tolist()},
        "input_box": {
            "lower": box.lower.tolist(),
            "upper": box.upper.tolist(),
            "of": "standardised training inputs (constant columns widened by "
                  f"±{datasets.DEGENERATE_HALF_WIDTH})",
        },
        "test_outside_box": datasets.count_outside(data.x_test, box),
        "train_accuracy": accuracy(network, data.x_train, data.y_train),
        "test_accuracy": accuracy(network, data.x_test, data.y_test),
        "training": {
            "trainer": f"sklearn.neural_network.MLPClassifier (scikit-learn {sklearn.__version__})",
            "hidden": list(hidden),
            "seed": seed,
            "alpha": ALPHA,
            "learning_rate_init": LEARNING_RATE_INIT,
            "max_iter": MAX_ITER,
            "n_iter": n_iter,
            "converged": converged,
            "dense_test_accuracy": dense_accuracy,
            "prune": prune,
        },
    }
    if activation != "relu":
        metadata["activation"] = SKLEARN_ACTIVATIONS[activation]
    if prune > 0:
        metadata["training"].update(
            prune_rule="per-layer weight magnitude; biases kept",
            refit="Adam epochs on the surviving weights, pruned weights re-zeroed after each",
            refit_epochs=refit_epochs,
            pruned_test_accuracy_before_refit=pruned_accuracy,
        )
    return TrainedTarget(network, metadata, data)


def shipped_path(name: str) -> Path:
    return Path(__file__).parent / "data" / f"{name}.npz"


def regenerate_shipped() -> list[Path]:
    """Re-train every :data:`SHIPPED_RECIPES` target and rewrite its file in the package."""
    from lotteryproofs.io import save_target

    written = []
    for name, (dataset, hidden, prune, seed) in SHIPPED_RECIPES.items():
        trained = train_target(dataset, hidden, seed=seed, prune=prune,
                               split_seed=SHIPPED_SPLIT_SEED)
        path = shipped_path(name)
        save_target(trained.network, path, {"name": name, **trained.metadata})
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lotteryproofs.train")
    parser.add_argument("--regenerate-shipped", action="store_true", required=True,
                        help="re-train the shipped real targets into lotteryproofs/data")
    parser.parse_args(argv)
    for path in regenerate_shipped():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
