"""The numpy CNN trainer: its gradients against central finite differences, its forward
against the package's layers, and the shipped convolutional targets against their records."""

from __future__ import annotations

import numpy as np
import pytest

from lotteryproofs import io
from lotteryproofs.datasets import load_dataset
from lotteryproofs.evaluate import predict
from lotteryproofs.train_conv import (
    INPUT_SHAPE,
    RECIPES,
    SPLIT_SEED,
    _flat_nodes,
    _forward,
    _init,
    loss_and_grads,
    network_of,
)


def _small_recipe():
    """Every node kind, stride 2 and padding 1 included, at a size finite differences afford."""
    return [{"type": "conv2d", "out": 2, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "relu"},
            {"type": "residual", "shortcut": None, "body": [
                {"type": "conv2d", "out": 3, "kernel": 2, "stride": 1, "padding": 1},
                {"type": "relu"},
                {"type": "conv2d", "out": 2, "kernel": 2, "stride": 1, "padding": 0}]},
            {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "out": 3}]


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_equal_central_differences(seed):
    rng = np.random.default_rng(seed)
    recipe = _small_recipe()
    nodes = _init(recipe, INPUT_SHAPE, rng)
    for node in _flat_nodes(nodes):
        node["b"] = rng.normal(size=node["b"].shape)  # nonzero biases: kinks move
    x, y = rng.normal(size=(4, 64)), rng.integers(0, 3, size=4)
    _, grads = loss_and_grads(nodes, x, y, weight_decay=0.1)
    h = 1e-6
    for node in _flat_nodes(nodes):
        for k, part in enumerate(("W", "b")):
            array = node[part]
            for flat in rng.choice(array.size, size=min(6, array.size), replace=False):
                index = np.unravel_index(flat, array.shape)
                old = array[index]
                array[index] = old + h
                up = loss_and_grads(nodes, x, y, weight_decay=0.1)[0]
                array[index] = old - h
                down = loss_and_grads(nodes, x, y, weight_decay=0.1)[0]
                array[index] = old
                numeric = (up - down) / (2 * h)
                assert abs(grads[node["key"]][k][index] - numeric) <= 1e-6 * max(1, abs(numeric))


def test_trainer_forward_is_the_networks():
    rng = np.random.default_rng(3)
    for recipe in (_small_recipe(), *RECIPES.values()):
        nodes = _init(recipe, INPUT_SHAPE, rng)
        for node in _flat_nodes(nodes):
            node["b"] = rng.normal(size=node["b"].shape)
        x = rng.normal(size=(5, 64))
        np.testing.assert_allclose(network_of(recipe, nodes).forward(x), _forward(nodes, x, []),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_conv_targets_match_their_records(name):
    network, metadata = io.read_target(name)
    data = load_dataset("digits", split_seed=SPLIT_SEED)
    acc = float(np.mean(predict(network.forward(data.x_test)) == data.y_test))
    assert acc == metadata["test_accuracy"] and acc >= 0.95
    assert network.input_shape == (1, 8, 8)
    kinds = [layer.kind for layer in network.layers]
    assert kinds[0] == "conv2d" and kinds[-2:] == ["flatten", "dense"]
    assert ("residual" in kinds) == (name == "digits-resnet")
