"""Convolutional and residual target files: nn.Sequential tensors + architecture metadata.

Files are written by hand here in PyTorch's state-dict naming (not by the package's writer)
and their forward is compared with direct loops; the writer is checked to read back as the
same network (same parameters, same digest) in .npz and .safetensors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from references import conv_image

from lotteryproofs import _validate, io
from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.conv_layers import AvgPool2d, Conv2d, Flatten, MaxPool2d
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network, network_sha256, same_parameters
from lotteryproofs.residual import Residual


def _save(path, arrays, meta):
    if path.suffix == ".npz":
        np.savez(path, metadata=np.array(json.dumps(meta)), **arrays)
    else:
        from safetensors.numpy import save_file
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path),
                  {"metadata": json.dumps(meta)})


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_hand_written_sequential_cnn_reads_and_computes_like_loops(tmp_path, suffix):
    rng = np.random.default_rng(1)
    w0, b0 = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    w2, b2 = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    w6, b6 = rng.normal(size=(5, 4 * 2 * 2)), rng.normal(size=5)
    arrays = {"0.weight": w0.astype(np.float32), "0.bias": b0.astype(np.float32),
              "2.weight": w2, "2.bias": b2, "6.weight": w6, "6.bias": b6}
    meta = {"architecture": [
        {"type": "conv2d", "stride": 1, "padding": 1}, {"type": "relu"},
        {"type": "conv2d", "stride": 2, "padding": 1}, {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}, {"type": "linear"}],
        "input_shape": [2, 7, 7]}
    path = tmp_path / f"cnn{suffix}"
    _save(path, arrays, meta)
    net, _, info = io.read_target_info(path)
    assert net.input_shape == (2, 7, 7) and info.activations == (
        "relu", "relu", "identity", "identity")
    x = rng.uniform(-1, 1, size=(3, 2, 7, 7))
    w0, b0 = w0.astype(np.float32).astype(float), b0.astype(np.float32).astype(float)
    for image, got in zip(x, net.forward(x.reshape(3, -1)), strict=True):
        h = np.maximum(conv_image(image, w0, b0, 1, 1), 0)
        h = np.maximum(conv_image(h, w2, b2, 2, 1), 0)  # (4, 4, 4)
        h = h.reshape(4, 2, 2, 2, 2).max(axis=(2, 4))  # 2×2 max pool by reshaping
        np.testing.assert_allclose(got, w6 @ h.ravel() + b6, rtol=0, atol=1e-12)


def test_residual_block_names_body_and_shortcut(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {"0.weight": rng.normal(size=(2, 1, 3, 3)), "0.bias": rng.normal(size=2),
              "2.body.0.weight": rng.normal(size=(3, 2, 3, 3)), "2.body.0.bias": rng.normal(size=3),
              "2.body.2.weight": rng.normal(size=(4, 3, 3, 3)), "2.body.2.bias": rng.normal(size=4),
              "2.shortcut.weight": rng.normal(size=(4, 2, 1, 1)),
              "2.shortcut.bias": rng.normal(size=4),
              "5.weight": rng.normal(size=(3, 4 * 25)), "5.bias": rng.normal(size=3)}
    meta = {"architecture": [
        {"type": "conv2d", "padding": 1}, {"type": "relu"},
        {"type": "residual", "body": [{"type": "conv2d", "padding": 1}, {"type": "relu"},
                                      {"type": "conv2d", "padding": 1}],
         "shortcut": {"type": "conv2d", "padding": 0}},
        {"type": "relu"}, {"type": "flatten"}, {"type": "linear"}], "input_shape": [1, 5, 5]}
    path = tmp_path / "res.npz"
    _save(path, arrays, meta)
    net = io.load_target(path)
    x = rng.uniform(-1, 1, size=(1, 5, 5))
    a = {k: v for k, v in arrays.items()}
    h = np.maximum(conv_image(x, a["0.weight"], a["0.bias"], 1, 1), 0)
    g = conv_image(np.maximum(conv_image(h, a["2.body.0.weight"], a["2.body.0.bias"], 1, 1), 0),
                   a["2.body.2.weight"], a["2.body.2.bias"], 1, 1)
    s = conv_image(h, a["2.shortcut.weight"], a["2.shortcut.bias"], 1, 0)
    want = a["5.weight"] @ np.maximum(g + s, 0).ravel() + a["5.bias"]
    np.testing.assert_allclose(net.forward(x.ravel()), want, rtol=0, atol=1e-12)


def _random_network(rng):
    c1 = Conv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 2, 1, (1, 7, 7))  # → 3×4×4
    block = Residual((Conv2d(rng.normal(size=(3, 3, 3, 3)), rng.normal(size=3), 1, 1, (3, 4, 4)),
                      Conv2d(rng.normal(size=(3, 3, 1, 1)), rng.normal(size=3), 1, 0, (3, 4, 4))),
                     (RELU,))
    pool = AvgPool2d((2, 1), None, (3, 4, 4))  # → 3×2×4
    return Network.from_layers(
        [c1, block, pool, Flatten((3, 2, 4)), Dense(rng.normal(size=(2, 24)), rng.normal(size=2))],
        [RELU, RELU, IDENTITY, IDENTITY])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_writer_reads_back_as_the_same_network(tmp_path, suffix):
    net = _random_network(np.random.default_rng(3))
    io.save_target(net, tmp_path / f"t{suffix}", {"description": "a test"})
    back, meta, _ = io.read_target_info(tmp_path / f"t{suffix}")
    assert same_parameters(net, back) and network_sha256(net) == network_sha256(back)
    assert meta["input_shape"] == [1, 7, 7] and meta["description"] == "a test"
    assert meta["architecture"][0] == {"type": "conv2d", "stride": 2, "padding": 1}
    assert meta["architecture"][4] == {"type": "avgpool2d", "kernel": [2, 1]}


def test_digest_and_equality_see_the_geometry():
    rng = np.random.default_rng(4)
    conv = Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), 1, 1, (1, 4, 4))
    dense = Dense(rng.normal(size=(2, 8)), rng.normal(size=2))
    nets = [Network.from_layers([conv, pool((2, 2), None, (2, 4, 4)), Flatten((2, 2, 2)), dense],
                                [RELU, IDENTITY, IDENTITY]) for pool in (AvgPool2d, MaxPool2d)]
    assert network_sha256(nets[0]) != network_sha256(nets[1])
    assert not same_parameters(*nets)


def test_pruned_conv_names_read_as_orig_times_mask(tmp_path):
    rng = np.random.default_rng(5)
    orig, mask = rng.normal(size=(2, 1, 3, 3)), rng.random((2, 1, 3, 3)) < 0.5
    arrays = {"0.weight_orig": orig, "0.weight_mask": mask, "0.bias": np.zeros(2),
              "3.weight": rng.normal(size=(1, 2 * 9)), "3.bias": np.zeros(1)}
    _save(tmp_path / "p.npz", arrays, {"architecture": [
        {"type": "conv2d"}, {"type": "relu"}, {"type": "flatten"}, {"type": "linear"}],
        "input_shape": [1, 5, 5]})
    net = io.load_target(tmp_path / "p.npz")
    np.testing.assert_array_equal(net.layers[0].weight, orig * mask)


def test_contradicting_activation_and_flat_input_shape(tmp_path):
    arrays = {"0.weight": np.ones((3, 4)), "0.bias": np.zeros(3),
              "2.weight": np.ones((2, 3)), "2.bias": np.zeros(2)}
    arch = [{"type": "linear"}, {"type": "tanh"}, {"type": "linear"}]
    _save(tmp_path / "a.npz", arrays, {"architecture": arch, "input_shape": [4]})
    net = io.load_target(tmp_path / "a.npz")
    assert [a.spec for a in net.activations] == ["tanh"] and net.widths == (4, 3, 2)
    _save(tmp_path / "b.npz", arrays, {"architecture": arch, "input_shape": [4],
                                       "activation": "relu"})
    with pytest.raises(_validate.InputError, match="contradicts its architecture"):
        io.load_target(tmp_path / "b.npz")
    _save(tmp_path / "c.npz", arrays, {"architecture": arch})
    with pytest.raises(_validate.InputError, match="no input_shape"):
        io.load_target(tmp_path / "c.npz")


def _conv_ticket(rng, scale=4.0):
    from lotteryproofs.ticket import Ticket

    conv1 = Conv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 1, 1, (1, 5, 5))
    conv2 = Conv2d(rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4), 2, 1, (3, 5, 5))
    dense = Dense(rng.normal(size=(2, 4 * 9)), rng.normal(size=2))  # reads the flat image
    source = Network.from_layers([conv1, conv2, dense], RELU)
    wm = [rng.random(w.shape) < 0.6 for w in source.weights]
    bm = [rng.random(b.shape) < 0.6 for b in source.biases]
    return Ticket(source, wm, bm, scale, {"method": "test"})


def test_export_network_of_a_conv_ticket_computes_its_approximation(tmp_path):
    from lotteryproofs import export

    rng = np.random.default_rng(6)
    ticket = _conv_ticket(rng)
    net = export.standalone_network(ticket)
    x = rng.uniform(-1, 1, size=(20, 25))
    # Λ = 4 is a power of two: dividing the last layer by it is exact
    np.testing.assert_array_equal(net.forward(x), ticket.network.forward(x) / 4.0)
    io.save_target(net, tmp_path / "n.safetensors", export.network_metadata(ticket))
    back, meta = io.read_target(tmp_path / "n.safetensors")
    assert [e["type"] for e in meta["architecture"]] == [
        "conv2d", "relu", "conv2d", "relu", "flatten", "linear"]
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def test_export_torch_prune_of_a_conv_ticket_names_modules_by_architecture(tmp_path):
    from lotteryproofs import export

    rng = np.random.default_rng(7)
    ticket = _conv_ticket(rng)
    arrays = export.torch_prune_arrays(ticket)
    meta = export.torch_prune_metadata(ticket)
    # what torch.nn.utils.prune computes: module.weight = weight_orig * weight_mask
    pruned = ticket.network
    for index, layer in zip((0, 2, 5), pruned.layers, strict=True):
        np.testing.assert_array_equal(
            arrays[f"{index}.weight_orig"] * arrays[f"{index}.weight_mask"], layer.weight)
        np.testing.assert_array_equal(
            arrays[f"{index}.bias_orig"] * arrays[f"{index}.bias_mask"], layer.bias)
    assert meta["architecture"][4] == {"type": "flatten"} and meta["input_shape"] == [1, 5, 5]
    scale = arrays.pop(export.OUTPUT_SCALE_KEY)
    assert scale[0] == 4.0
    io.write_arrays(tmp_path / "p.npz", arrays, meta)
    read = io.load_target(tmp_path / "p.npz")
    x = rng.uniform(-1, 1, size=(10, 25))
    np.testing.assert_array_equal(read.forward(x), pruned.forward(x))
