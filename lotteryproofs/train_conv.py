"""Small convolutional targets trained in numpy on scikit-learn's digits (8×8×1 images).

:data:`RECIPES` names the architectures (PyTorch's ``nn.Sequential`` order):

* ``digits-cnn``: Conv(1→8, 3×3, pad 1)–ReLU–Conv(8→16, 3×3, stride 2, pad 1)–ReLU–Flatten–
  Linear(256→10);
* ``digits-resnet``: Conv(1→8, 3×3, pad 1)–ReLU–Residual[Conv(8→8, 3×3, pad 1)–ReLU–
  Conv(8→8, 3×3, pad 1)], identity shortcut–ReLU–Conv(8→16, 3×3, stride 2, pad 1)–ReLU–
  Flatten–Linear(256→10).

Training minimises the mean softmax cross-entropy of the logits plus ``WEIGHT_DECAY``·Σ‖W‖²/2
(weights only, biases free) with Adam (``LEARNING_RATE``, β = (0.9, 0.999)) on minibatches of
``BATCH`` over ``EPOCHS`` epochs; He-normal weights and zero biases. Every draw (initial
weights, the shuffles) comes from ``numpy.random.default_rng(SeedSequence(seed))``. The
gradients are the exact backward pass of the float64 forward (tests/test_train_conv.py checks
them against finite differences). Inputs are the standardised digits of
:func:`lotteryproofs.datasets.load_dataset` (split seed 0), one 8×8 image per row in C order;
the file records the preprocessing, the input box of the standardised training images and the
accuracies. The trained network is read back through :mod:`lotteryproofs.architecture` (the
one reader of module lists), so the shipped file is what ``load_target`` gives.

``python -m lotteryproofs.train_conv --regenerate-shipped`` rewrites
``lotteryproofs/data/digits-cnn.npz`` and ``digits-resnet.npz``. Same seed, same machine:
same bytes; across machines the BLAS summation order may change the last bits (as for
:mod:`lotteryproofs.train`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotteryproofs import _validate, datasets
from lotteryproofs.architecture import network_from_architecture
from lotteryproofs.conv_layers import image_windows
from lotteryproofs.evaluate import accuracy
from lotteryproofs.network import Network

EPOCHS = 40
BATCH = 32
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
SPLIT_SEED = 0
INPUT_SHAPE = (1, 8, 8)

_CNN_TAIL = [{"type": "conv2d", "out": 16, "kernel": 3, "stride": 2, "padding": 1},
             {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "out": 10}]
#: name → module list (conv2d/linear entries carry "out" and "kernel", dropped in the file).
RECIPES = {
    "digits-cnn": [{"type": "conv2d", "out": 8, "kernel": 3, "stride": 1, "padding": 1},
                   {"type": "relu"}, *_CNN_TAIL],
    "digits-resnet": [
        {"type": "conv2d", "out": 8, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"},
        {"type": "residual", "shortcut": None, "body": [
            {"type": "conv2d", "out": 8, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "relu"},
            {"type": "conv2d", "out": 8, "kernel": 3, "stride": 1, "padding": 1}]},
        {"type": "relu"}, *_CNN_TAIL],
}
SHIPPED_SEEDS = {"digits-cnn": 0, "digits-resnet": 0}


# ------------------------------------------------------------------------------ the model
def _init(recipe, shape, rng, prefix="") -> list[dict]:
    """Trainable nodes with He-normal weights (std √(2/fan-in)) and zero biases."""
    nodes = []
    for i, entry in enumerate(recipe):
        kind = entry["type"]
        node = {"kind": kind, "key": f"{prefix}{i}"}
        if kind == "conv2d":
            c, h, w = shape
            k, s, p = entry["kernel"], entry["stride"], entry["padding"]
            node.update(W=rng.normal(0, np.sqrt(2 / (c * k * k)), (entry["out"], c, k, k)),
                        b=np.zeros(entry["out"]), stride=s, padding=p, in_shape=shape)
            shape = (entry["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif kind == "linear":
            node.update(W=rng.normal(0, np.sqrt(2 / shape[0]), (entry["out"], shape[0])),
                        b=np.zeros(entry["out"]))
            shape = (entry["out"],)
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "residual":
            node["body"] = _init(entry["body"], shape, rng, f"{prefix}{i}.body.")
        nodes.append(node)
    return nodes


def _forward(nodes, x, caches):
    for node in nodes:
        kind = node["kind"]
        if kind == "conv2d":
            c, h, w = node["in_shape"]
            p, s = node["padding"], node["stride"]
            win = image_windows(x.reshape(-1, c, h, w), node["W"].shape[2:], (s, s), (p, p))
            z = np.tensordot(win, node["W"], axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
            z = z + node["b"][None, :, None, None]
            caches.append(win)
            x = z.reshape(z.shape[0], -1)
        elif kind == "linear":
            caches.append(x)
            x = x @ node["W"].T + node["b"]
        elif kind == "relu":
            caches.append(x > 0)
            x = np.where(x > 0, x, 0.0)
        elif kind == "residual":
            inner: list = []
            x = _forward(node["body"], x, inner) + x
            caches.append(inner)
        else:  # flatten: the identity on flat rows
            caches.append(None)
    return x


def _backward(nodes, caches, dy, grads):
    """dL/dx from dL/dy; grads[key] = (dL/dW, dL/db) of every layer with parameters."""
    for node, cache in zip(reversed(nodes), reversed(caches), strict=True):
        kind = node["kind"]
        if kind == "conv2d":
            win = cache
            w = node["W"]
            out_c, c_in, kh, kw = w.shape
            c, h, wd = node["in_shape"]
            p, s = node["padding"], node["stride"]
            batch, _, ho, wo = win.shape[0], None, win.shape[2], win.shape[3]
            dz = dy.reshape(batch, out_c, ho, wo)
            grads[node["key"]] = (np.tensordot(dz, win, axes=([0, 2, 3], [0, 2, 3])),
                                  dz.sum(axis=(0, 2, 3)))
            dx = np.zeros((batch, c_in, h + 2 * p, wd + 2 * p))
            for i in range(kh):
                for j in range(kw):
                    part = np.tensordot(dz, w[:, :, i, j], axes=([1], [0]))  # (B, Ho, Wo, C)
                    dx[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] += \
                        part.transpose(0, 3, 1, 2)
            dy = dx[:, :, p:p + h, p:p + wd].reshape(batch, -1)
        elif kind == "linear":
            grads[node["key"]] = (dy.T @ cache, dy.sum(axis=0))
            dy = dy @ node["W"]
        elif kind == "relu":
            dy = dy * cache
        elif kind == "residual":
            dy = _backward(node["body"], cache, dy, grads) + dy
    return dy


def _flat_nodes(nodes):
    for node in nodes:
        if "W" in node:
            yield node
        if node["kind"] == "residual":
            yield from _flat_nodes(node["body"])


def loss_and_grads(nodes, x, y, weight_decay: float = WEIGHT_DECAY):
    """(mean cross-entropy + weight_decay·Σ‖W‖²/2, {key: (dW, db)})."""
    caches: list = []
    logits = _forward(nodes, x, caches)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_p[np.arange(n), y].mean()
    d = np.exp(log_p)
    d[np.arange(n), y] -= 1.0
    grads: dict = {}
    _backward(nodes, caches, d / n, grads)
    for node in _flat_nodes(nodes):
        loss += weight_decay * 0.5 * float(np.sum(node["W"] ** 2))
        dw, db = grads[node["key"]]
        grads[node["key"]] = (dw + weight_decay * node["W"], db)
    return loss, grads


# --------------------------------------------------------------------------- to a file
def _architecture(recipe) -> list:
    out = []
    for entry in recipe:
        e = {k: v for k, v in entry.items() if k not in ("out", "kernel") or
             entry["type"] not in ("conv2d", "linear")}
        if entry["type"] == "residual":
            e["body"] = _architecture(entry["body"])
        out.append(e)
    return out


def _arrays(nodes) -> dict[str, np.ndarray]:
    arrays = {}
    for node in _flat_nodes(nodes):
        arrays[f"{node['key']}.weight"] = node["W"]
        arrays[f"{node['key']}.bias"] = node["b"]
    return arrays


def network_of(recipe, nodes) -> Network:
    """The trained nodes as a Network, read through the architecture reader."""
    meta = {"architecture": _architecture(recipe), "input_shape": list(INPUT_SHAPE)}
    return network_from_architecture(_arrays(nodes), meta, "the trained network")


@dataclass(frozen=True, eq=False)
class TrainedConv:
    network: Network
    metadata: dict


def train_conv_target(name: str, *, seed: int, epochs: int = EPOCHS) -> TrainedConv:
    """Train the :data:`RECIPES` network ``name`` on digits; same seed, same network."""
    if name not in RECIPES:
        raise _validate.InputError(f"unknown convolutional recipe {name!r} "
                                   f"(known: {', '.join(RECIPES)})")
    seed = _validate.positive_int("seed", seed, minimum=0)
    epochs = _validate.positive_int("epochs", epochs)
    data = datasets.load_dataset("digits", split_seed=SPLIT_SEED)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    recipe = RECIPES[name]
    nodes = _init(recipe, INPUT_SHAPE, rng)
    params = [(node, part) for node in _flat_nodes(nodes) for part in ("W", "b")]
    m = [np.zeros_like(node[part]) for node, part in params]
    v = [np.zeros_like(node[part]) for node, part in params]
    b1, b2, step = 0.9, 0.999, 0
    n = data.x_train.shape[0]
    losses = []
    for _ in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            loss, grads = loss_and_grads(nodes, data.x_train[idx], data.y_train[idx])
            total += loss * idx.size
            step += 1
            for k, (node, part) in enumerate(params):
                g = grads[node["key"]][0 if part == "W" else 1]
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g * g
                m_hat, v_hat = m[k] / (1 - b1 ** step), v[k] / (1 - b2 ** step)
                node[part] = node[part] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
        losses.append(total / n)
    network = network_of(recipe, nodes)
    box = data.train_box()
    metadata = {
        "dataset": "digits", "split_seed": SPLIT_SEED,
        "n_train": int(n), "n_test": int(data.x_test.shape[0]), "n_classes": data.n_classes,
        "output": "logits; argmax",
        "preprocessing": {"mean": data.mean.tolist(), "scale": data.scale.tolist()},
        "input_box": {"lower": box.lower.tolist(), "upper": box.upper.tolist(),
                      "of": "standardised training images (constant pixels widened by "
                            f"±{datasets.DEGENERATE_HALF_WIDTH})"},
        "test_outside_box": datasets.count_outside(data.x_test, box),
        "train_accuracy": accuracy(network, data.x_train, data.y_train),
        "test_accuracy": accuracy(network, data.x_test, data.y_test),
        "training": {"trainer": "lotteryproofs.train_conv (numpy Adam)", "recipe": name,
                     "seed": seed, "epochs": epochs, "batch": BATCH,
                     "learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY,
                     "final_train_loss": losses[-1],
                     "command": "python -m lotteryproofs.train_conv --regenerate-shipped"},
    }
    return TrainedConv(network, metadata)


def shipped_path(name: str) -> Path:
    return Path(__file__).parent / "data" / f"{name}.npz"


def regenerate_shipped() -> list[Path]:
    from lotteryproofs.io import save_target

    written = []
    for name, seed in SHIPPED_SEEDS.items():
        trained = train_conv_target(name, seed=seed)
        save_target(trained.network, shipped_path(name), {"name": name, **trained.metadata})
        written.append(shipped_path(name))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lotteryproofs.train_conv")
    parser.add_argument("--regenerate-shipped", action="store_true", required=True,
                        help="re-train digits-cnn and digits-resnet into lotteryproofs/data")
    parser.parse_args(argv)
    for path in regenerate_shipped():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
