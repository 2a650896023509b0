"""Convolutional edge-popup (popup_conv.py): the unrolled forward against a direct loop, every
gradient against central finite differences, the masks against GetSubnet's count, the source
law and its β pairing."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs.popup import PopupConfig, accuracy, kept_count
from lotteryproofs.popup_conv import (
    conv_loss_and_gradients,
    draw_conv_source,
    train_conv_popup,
)
from tests.references import conv_image


def small_source(beta=1.0, seed=0):
    # 1×5×5 → conv 2 (pad 1) → conv 3 (stride 2, pad 1) → dense 4
    return draw_conv_source((1, 5, 5), (2, 3), 4, beta=beta, seed=seed)


def direct_logits(source, weight_masks, bias_masks, log_scale, x):
    """Direct loops (tests/references.conv_image) on the scaled masked source, image by image."""
    depth = source.depth
    c = math.exp(log_scale / depth)
    outs = []
    for row in x:
        h = row.reshape(1, 5, 5)
        for i, layer in enumerate(source.layers):
            w = c * (layer.weight * weight_masks[i])
            b = math.exp(log_scale * (i + 1) / depth) * (layer.bias * bias_masks[i])
            if i < depth - 1:
                h = np.maximum(conv_image(h, w, b, layer.stride[0], layer.padding[0]), 0.0)
            else:
                h = np.array([b[o] + sum(w[o, j] * v for j, v in enumerate(h.ravel()))
                              for o in range(w.shape[0])])
        outs.append(h)
    return np.array(outs)


@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-1, 1))
@settings(max_examples=8, deadline=None)
def test_forward_matches_direct_loops_and_gradients_match_finite_differences(seed, log_scale):
    rng = np.random.default_rng(seed)
    source = small_source(seed=seed)
    # real-valued masks in (0, 1): the gradients are those of a smooth function of them
    wm = [rng.uniform(0.2, 1.0, w.shape) for w in source.weights]
    bm = [rng.uniform(0.2, 1.0, b.shape) for b in source.biases]
    x = rng.standard_normal((3, 25))
    y = rng.integers(0, 4, 3)
    grads = conv_loss_and_gradients(source, wm, bm, log_scale, x, y)
    logits = direct_logits(source, wm, bm, log_scale, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    direct = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(3), y])
    assert grads.loss == pytest.approx(direct, rel=1e-12, abs=1e-12)

    def loss(wm_, bm_, s):
        return conv_loss_and_gradients(source, wm_, bm_, s, x, y).loss

    h = 1e-6
    for tensors, analytic, other in ((wm, grads.weight_masks, "w"), (bm, grads.bias_masks, "b")):
        for i, t in enumerate(tensors):
            for j in rng.choice(t.size, size=min(4, t.size), replace=False):
                up, down = [a.copy() for a in tensors], [a.copy() for a in tensors]
                up[i].flat[j] += h
                down[i].flat[j] -= h
                pair = (up, bm, down, bm) if other == "w" else (wm, up, wm, down)
                numeric = (loss(pair[0], pair[1], log_scale)
                           - loss(pair[2], pair[3], log_scale)) / (2 * h)
                assert analytic[i].flat[j] == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    numeric = (loss(wm, bm, log_scale + h) - loss(wm, bm, log_scale - h)) / (2 * h)
    assert grads.log_scale == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_source_law_and_beta_pairing():
    a, b, z = small_source(1.0, 3), small_source(0.05, 3), small_source(0.0, 3)
    for la, lb, lz in zip(a.layers, b.layers, z.layers, strict=True):
        fan_in = int(np.prod(la.weight.shape[1:]))
        bound = math.sqrt(6 / fan_in)  # He uniform: λ_l·U[−1, 1]
        assert np.abs(la.weight).max() <= bound
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.weight, lz.weight)
        assert not np.any(lz.bias)
        np.testing.assert_allclose(lb.bias, 0.05 * la.bias, rtol=1e-15)
    assert not np.array_equal(small_source(1.0, 4).layers[0].weight, a.layers[0].weight)


@pytest.mark.parametrize("density", [0.5, 0.1])
def test_training_keeps_getsubnet_counts_and_learns(density):
    source = draw_conv_source((1, 8, 8), (4, 4), 2, beta=1.0, seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 64))
    y = (x[:, :32].sum(axis=1) > x[:, 32:].sum(axis=1)).astype(np.int64)
    result = train_conv_popup(source, x, y, PopupConfig(density=density, epochs=6, scaled=True),
                              rng=1)
    for m in result.weight_masks + result.bias_masks:
        # GetSubnet: n − ⌊(1 − d)·n⌋ kept, computed here independently of kept_count
        assert int(m.sum()) == m.size - math.floor((1 - density) * m.size) == kept_count(
            m.size, density)
    ticket = result.subnetwork(source)
    # the ticket is the source times its masks, evaluated by Conv2d's own forward
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert accuracy(ticket, x, y) > 0.5


def test_cli_conv_reports_what_the_library_computes(tmp_path):
    """``popup --arch conv``: the JSON's accuracies are those of the library's conv source,
    trained by train_conv_popup with the CLI's streams, evaluated by Conv2d's forward."""
    import json

    from lotteryproofs.cli import main
    from lotteryproofs.datasets import load_dataset

    out = tmp_path / "o.json"
    assert main(["popup", "--dataset", "digits", "--arch", "conv", "--hidden", "4,4",
                 "--density", "0.2", "--epochs", "2", "--beta", "0.05", "--seed", "5",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    dataset = load_dataset("digits", split_seed=0)
    source_seq, train_seq = np.random.SeedSequence(5).spawn(2)
    source = draw_conv_source((1, 8, 8), (4, 4), 10, beta=0.05, seed=source_seq)
    result = train_conv_popup(source, dataset.x_train, dataset.y_train,
                              PopupConfig(density=0.2, epochs=2), rng=train_seq)
    ticket = result.subnetwork(source)
    assert report["arch"] == "conv" and report["beta"] == 0.05
    assert report["test_accuracy"] == accuracy(ticket, dataset.x_test, dataset.y_test)
    assert report["kept_parameters"] == sum(
        kept_count(p.size, 0.2) for p in source.weights + source.biases)
