"""Concentric spheres: the matched-direction task and the zero-bias limit 1/2
(proofs/popup-zero-bias-sphere-limit.md)."""

from __future__ import annotations

import numpy as np
import pytest

from lotteryproofs.checks import popup as checks_popup
from lotteryproofs.datasets import SPHERE_RADII, concentric_spheres, load_spheres
from lotteryproofs.network import Network
from lotteryproofs.popup import accuracy
from lotteryproofs.theorems import CheckContext


@pytest.mark.parametrize("dim", [2, 3, 8, 32])
def test_spheres_have_matched_directions_and_split(dim):
    x, y = concentric_spheres(dim, 50, np.random.default_rng(dim))
    r = np.linalg.norm(x, axis=1)
    assert np.allclose(r[y == 0], SPHERE_RADII[0]) and np.allclose(r[y == 1], SPHERE_RADII[1])
    assert np.allclose(x[1::2] / SPHERE_RADII[1], x[0::2] / SPHERE_RADII[0])  # same rays
    data = load_spheres(dim, seed=3, n_directions=40)
    for xs, ys in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        # every direction in a part has both its points there: pair rows by their unit vector
        units = np.round(xs / np.linalg.norm(xs, axis=1, keepdims=True), 9)
        _, counts = np.unique(units, axis=0, return_counts=True)
        assert np.all(counts == 2) and ys.sum() * 2 == ys.size
    assert data.x_test.shape[0] == 2 * 10 and np.all(data.mean == 0) and np.all(data.scale == 1)


@pytest.mark.parametrize("dim", [2, 5, 32])
def test_any_zero_bias_relu_network_scores_exactly_one_half(dim):
    """Brute-force oracle of the lemma: random zero-bias networks, every pair decided alike."""
    rng = np.random.default_rng(dim)
    data = load_spheres(dim, seed=1, n_directions=30)
    for _ in range(20):
        widths = (dim, int(rng.integers(1, 12)), int(rng.integers(1, 12)), 2)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        net = Network(tuple(rng.normal(size=(b, a)) for a, b in pairs),
                      tuple(np.zeros(b) for b in widths[1:]))
        assert accuracy(net, data.x_train, data.y_train) == 0.5
        assert accuracy(net, data.x_test, data.y_test) == 0.5


def _l1_threshold_network(dim: int) -> Network:
    """logit₁ − logit₀ = ‖x‖₁ − 1.7: on the unit circle ‖x‖₁ ≤ √2 < 1.7, on radius 2 ≥ 2."""
    w1 = np.concatenate([np.eye(dim), -np.eye(dim)])
    w2 = np.array([[0.0] * (2 * dim), [1.0] * (2 * dim)])
    return Network((w1, w2), (np.zeros(2 * dim), np.array([0.0, -1.7])))


def test_zero_bias_tickets_never_exceed_one_half(monkeypatch):
    result = checks_popup.check_zero_bias_sphere_limit(CheckContext(np.random.default_rng(0)))
    assert result.passed and max(result.details["zero_bias"]) <= 0.5
    # the limit binds only zero biases: a one-bias network solves spheres-2 exactly ...
    data = load_spheres(2, seed=0, n_directions=40)
    net = _l1_threshold_network(2)
    assert accuracy(net, data.x_test, data.y_test) == 1.0
    # ... and the check fails when a "zero-bias" ticket scores like it
    monkeypatch.setattr(checks_popup, "sphere_ticket_accuracies",
                        lambda *a, **k: (accuracy(net, data.x_train, data.y_train), 1.0))
    assert not checks_popup.check_zero_bias_sphere_limit(
        CheckContext(np.random.default_rng(0))).passed
