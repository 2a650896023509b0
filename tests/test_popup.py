"""Edge-popup (issue 9): gradients, top-k masks, annealing, the scaled identity, bad input."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lotteryproofs._validate import InputError
from lotteryproofs.network import Network
from lotteryproofs.popup import (
    PopupConfig,
    density_schedule,
    distribute_scale,
    kept_count,
    layer_masks,
    loss_and_gradients,
    masked_logits,
    top_k_mask,
    train_popup,
)


def _network(rng, widths):
    return Network(
        tuple(rng.normal(size=(b, a)) for a, b in zip(widths[:-1], widths[1:], strict=True)),
        tuple(rng.normal(size=b) for b in widths[1:]),
    )


def _abs_forward(net, x):
    """Forward pass of |W|, |b| on |x| without ReLU: bounds every partial sum's magnitude, the
    quantity floating-point rounding errors are relative to."""
    h = np.abs(x)
    for w, b in zip(net.weights, net.biases, strict=True):
        h = h @ np.abs(w).T + np.abs(b)
    return h


def _preactivations(source, wm, bm, log_scale, x):
    from lotteryproofs.popup import layer_scale_factors

    c, d = layer_scale_factors(source.depth, log_scale)
    h, out = x, []
    for i in range(source.depth):
        h = h @ (c[i] * source.weights[i] * wm[i]).T + d[i] * source.biases[i] * bm[i]
        out.append(h)
        h = np.maximum(h, 0)
    return out


# ------------------------------------------------------------------------ gradient check
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-1.5, 1.5))
def test_backward_matches_central_differences(seed, log_scale):
    """Every ∂L/∂m and ∂L/∂log λ agrees with a central difference of the loss.

    Step h = 1e-5: truncation error h²·|L'''|/6 ≈ 1e-10 and rounding error ≈ 1e-16·|L|/h ≈
    1e-11, so agreement within 1e-7·(1 + max|gradient|) is 3 orders of margin, while a wrong
    factor or a missing term gives errors of the gradient's own size. Masks are real numbers in
    (0, 1) so that every entry has a nonzero gradient; inputs where a pre-activation lies
    within 1e-3 of a ReLU kink are skipped (the loss is not differentiable there).
    """
    rng = np.random.default_rng(seed)
    source = _network(rng, (4, 6, 5, 3))
    wm = [rng.uniform(0.1, 1, size=w.shape) for w in source.weights]
    bm = [rng.uniform(0.1, 1, size=b.shape) for b in source.biases]
    x = rng.normal(size=(7, 4))
    y = rng.integers(0, 3, size=7)
    pre = _preactivations(source, wm, bm, log_scale, x)
    assume(min(np.abs(z).min() for z in pre[:-1]) > 1e-3)
    grads = loss_and_gradients(source, wm, bm, log_scale, x, y)
    h = 1e-5
    scale = 1.0 + max(np.abs(g).max() for g in grads.weight_masks + grads.bias_masks)

    def loss(wm_, bm_, ls_):
        return loss_and_gradients(source, wm_, bm_, ls_, x, y).loss

    for masks, analytic in ((wm, grads.weight_masks), (bm, grads.bias_masks)):
        for i, mask in enumerate(masks):
            for index in np.ndindex(mask.shape):
                old = mask[index]
                mask[index] = old + h
                up = loss(wm, bm, log_scale)
                mask[index] = old - h
                down = loss(wm, bm, log_scale)
                mask[index] = old
                numeric = (up - down) / (2 * h)
                assert abs(numeric - analytic[i][index]) <= 1e-7 * scale, (i, index)
    numeric = (loss(wm, bm, log_scale + h) - loss(wm, bm, log_scale - h)) / (2 * h)
    assert abs(numeric - grads.log_scale) <= 1e-7 * (1 + abs(grads.log_scale))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3, 3))
def test_log_scale_gradient_is_eulers_identity(seed, log_scale):
    """∂L/∂log λ from the distributed chain rule equals Σ logits ⊙ ∂L/∂logits (the network is
    λ·f_S, so its logits are homogeneous of degree 1 in λ)."""
    from lotteryproofs.popup import _softmax_cross_entropy

    rng = np.random.default_rng(seed)
    source = _network(rng, (3, 8, 8, 8, 4))
    wm = [rng.random(w.shape) < 0.5 for w in source.weights]
    bm = [rng.random(b.shape) < 0.5 for b in source.biases]
    x, y = rng.normal(size=(9, 3)), rng.integers(0, 4, size=9)
    logits = masked_logits(source, wm, bm, log_scale, x)
    _, g = _softmax_cross_entropy(logits, y)
    euler = math.fsum((logits * g).ravel())
    chain = loss_and_gradients(source, wm, bm, log_scale, x, y).log_scale
    assert abs(chain - euler) <= 1e-12 * (1 + math.fsum(np.abs(logits * g).ravel()))


def test_straight_through_gradient_is_dL_dweff_times_w():
    """∂L/∂m = ∂L/∂(w·m)·w: checked against a finite difference in the effective weight."""
    rng = np.random.default_rng(3)
    source = _network(rng, (2, 3, 2))
    wm = [np.ones(w.shape) for w in source.weights]
    bm = [np.ones(b.shape) for b in source.biases]
    x, y = rng.normal(size=(5, 2)), rng.integers(0, 2, size=5)
    grads = loss_and_gradients(source, wm, bm, 0.0, x, y)
    h = 1e-6
    w1 = source.weights[1].copy()
    for index in np.ndindex(w1.shape):
        def loss_at(delta, index=index):
            w = w1.copy()
            w[index] += delta
            net = Network((source.weights[0], w), source.biases)
            return loss_and_gradients(net, wm, bm, 0.0, x, y).loss
        d_weff = (loss_at(h) - loss_at(-h)) / (2 * h)
        assert grads.weight_masks[1][index] == pytest.approx(d_weff * w1[index], abs=1e-8)


# ----------------------------------------------------------------------------- top-k masks
def _getsubnet_kept(numel: int, k: float) -> int:
    """How many entries hidden-networks' ``GetSubnet`` keeps of ``numel`` at kept fraction k:
    it sorts the scores, zeroes the first ``j = int((1 - k) * scores.numel())`` and keeps the
    rest. Written out here from their code, in their float64 expression on purpose: the rule
    to match is what their code computes, float rounding included, not an idealised floor."""
    j = int((1 - k) * numel)
    return numel - j


def _exact_kept(numel: int, decimal: str) -> int:
    """numel − ⌊(1 − d)·numel⌋ in exact rational arithmetic for the decimal density d as typed
    (Fraction of the text, so no float floor surprise)."""
    return numel - math.floor((1 - Fraction(decimal)) * numel)


@given(n=st.integers(1, 10**9), density=st.floats(1e-15, 1.0))
def test_kept_count_is_getsubnets_rule(n, density):
    k = kept_count(n, density)
    assert k == _getsubnet_kept(n, density) and 1 <= k <= n
    # exactly, n − ⌊(1 − d)n⌋ = ⌈d·n⌉; the float product may move it by one, never more
    assert abs(k - math.ceil(Fraction(density) * n)) <= 1


def test_kept_count_keeps_one_where_getsubnet_would_keep_none():
    assert _getsubnet_kept(1000, 2.0**-60) == 0  # 1 − d rounds to 1 in float64
    assert kept_count(1000, 2.0**-60) == 1


def _grid_tensor_sizes(spec):
    """{ranking: sizes of every ranked tensor of every dataset's network} of a grid spec."""
    from lotteryproofs.datasets import load_raw
    from lotteryproofs.experiments import OPTIONS

    rankings = {OPTIONS[o].get("bias_ranking", "separate") for o in spec.options}
    sizes = {}
    for name in spec.datasets:
        x, y = load_raw(name)
        widths = (x.shape[1], *spec.hidden, len(np.unique(y)))
        for ranking in rankings:
            layers = list(zip(widths[:-1], widths[1:], strict=True))
            sizes[(widths, ranking)] = (
                [n for a, b in layers for n in (a * b, b)] if ranking == "separate"
                else [a * b + b for a, b in layers])
    return sizes


@pytest.mark.parametrize("grid", ["default", "quick"])
def test_keep_rule_matches_getsubnet_on_every_grid_layer(grid):
    """Every tensor shape and density of the popup grid (and every annealing level): the
    toolkit's count, the masks it builds, GetSubnet's expression and the exact rational rule
    agree."""
    from lotteryproofs.experiments import OPTIONS, default_grid, quick_grid

    spec = default_grid() if grid == "default" else quick_grid()
    densities = set(spec.densities)
    for option in spec.options:
        for d in spec.densities:
            config = PopupConfig(density=d, epochs=spec.epochs, **OPTIONS[option])
            densities |= {level for _, level in density_schedule(config)}
    rng = np.random.default_rng(0)
    for (widths, ranking), sizes in _grid_tensor_sizes(spec).items():
        layers = list(zip(widths[:-1], widths[1:], strict=True))
        ws = [rng.normal(size=(b, a)) for a, b in layers]
        bs = [rng.normal(size=b) for _, b in layers]
        for d in sorted(densities):
            expected = [_getsubnet_kept(n, d) for n in sizes]
            assert [kept_count(n, d) for n in sizes] == expected
            if d in spec.densities:  # the typed decimal: the float rule is the exact one here
                assert expected == [_exact_kept(n, repr(d)) for n in sizes]
            wm, bm = layer_masks(ws, bs, d, ranking)
            kept = ([int(m.sum()) for pair in zip(wm, bm, strict=True) for m in pair]
                    if ranking == "separate"
                    else [int(a.sum() + b.sum()) for a, b in zip(wm, bm, strict=True)])
            assert kept == expected, (widths, ranking, d)


def test_digits_network_keeps_getsubnets_8502_at_density_one_tenth():
    """64-256-256-10 at d = 0.1, weights and biases ranked separately: GetSubnet keeps 8 502
    (rounding d·n per tensor kept 8 501)."""
    sizes = [64 * 256, 256, 256 * 256, 256, 256 * 10, 10]
    assert sum(_exact_kept(n, "0.1") for n in sizes) == 8502
    assert sum(kept_count(n, 0.1) for n in sizes) == 8502
    assert sum(max(1, math.floor(0.1 * n + 0.5)) for n in sizes) == 8501  # the old rule


@settings(max_examples=50)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), density=st.floats(0.001, 1.0))
def test_top_k_mask_keeps_exactly_k_largest_magnitudes(seed, n, density):
    scores = np.random.default_rng(seed).normal(size=n)
    k = kept_count(n, density)
    mask = top_k_mask(scores, k)
    assert mask.sum() == k
    if k < n:  # brute-force oracle: every kept |score| ≥ every dropped |score|
        assert np.abs(scores[mask]).min() >= np.abs(scores[~mask]).max()


@pytest.mark.parametrize("ranking", ["separate", "joint"])
def test_layer_masks_density_per_tensor(ranking):
    rng = np.random.default_rng(0)
    ws = (rng.normal(size=(7, 5)), rng.normal(size=(3, 7)))
    bs = (rng.normal(size=7), rng.normal(size=3))
    wm, bm = layer_masks(ws, bs, 0.3, ranking)
    for w, b, mw, mb in zip(ws, bs, wm, bm, strict=True):
        if ranking == "separate":
            assert mw.sum() == kept_count(w.size, 0.3) and mb.sum() == kept_count(b.size, 0.3)
        else:
            assert mw.sum() + mb.sum() == kept_count(w.size + b.size, 0.3)
            kept = np.concatenate([np.abs(w[mw]), np.abs(b[mb])])
            dropped = np.concatenate([np.abs(w[~mw]), np.abs(b[~mb])])
            assert kept.min() >= dropped.max()


# ------------------------------------------------------------------------------ annealing
@settings(max_examples=30)
@given(density=st.floats(0.001, 1.0), levels=st.integers(1, 6), epochs=st.integers(6, 40))
def test_density_schedule_ends_exactly_at_target(density, levels, epochs):
    config = PopupConfig(density=density, epochs=epochs, anneal=True, anneal_levels=levels)
    schedule = density_schedule(config)
    assert schedule[-1][1] == density
    assert sum(e for e, _ in schedule) == epochs and all(e >= 1 for e, _ in schedule)
    values = [d for _, d in schedule]
    assert values == sorted(values, reverse=True)
    if len(schedule) > 1:
        assert values[0] == pytest.approx(0.6)


def test_annealed_training_reaches_the_target_density_exactly():
    rng = np.random.default_rng(1)
    source = _network(rng, (4, 16, 16, 3))
    x = rng.normal(size=(40, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    config = PopupConfig(density=0.05, epochs=8, batch_size=16, anneal=True, anneal_levels=4)
    result = train_popup(source, x, y, config, rng=5)
    assert result.epoch_densities[0] == pytest.approx(0.6)
    assert result.epoch_densities[-1] == 0.05
    for m in result.weight_masks + result.bias_masks:
        assert m.sum() == kept_count(m.size, 0.05)


# ----------------------------------------------------------------------- scaled edge-popup
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_lam=st.floats(-7, 7), depth=st.integers(1, 5))
def test_distributed_scale_is_exactly_lambda_times_f(seed, log_lam, depth):
    """λ^{1/D} on weights, λ^{l/D} on layer-l biases: the network computes λ·f(x).

    Both sides are rounded float computations; each differs from the exact λ·f(x) by at most
    ~(depth·width)·2⁻⁵² times the absolute-value forward pass, hence the 1e-12 relative bound.
    """
    rng = np.random.default_rng(seed)
    widths = [3] + [6] * (depth - 1) + [2]
    net = _network(rng, widths)
    masks = [rng.random(w.shape) < 0.6 for w in net.weights]
    bmasks = [rng.random(b.shape) < 0.6 for b in net.biases]
    sub = net.masked(masks, bmasks)
    lam = math.exp(log_lam)
    x = rng.normal(size=(11, 3))
    scaled = distribute_scale(sub, lam)
    bound = 1e-12 * lam * _abs_forward(sub, x)
    assert np.all(np.abs(scaled.forward(x) - lam * sub.forward(x)) <= bound)
    # the training forward pass with real masks computes the same function
    assert np.all(np.abs(masked_logits(net, masks, bmasks, log_lam, x) - lam * sub(x)) <= bound)
    # and without ReLU kinks at 0 the identity is not trivial: outputs depend on λ
    assert np.any(scaled.forward(x) != sub.forward(x)) or lam == 1.0


def test_scaled_training_fits_lambda_and_ticket_scale_is_its_inverse(tmp_path):
    from lotteryproofs.io import load_ticket, save_ticket
    from lotteryproofs.popup import popup_ticket

    rng = np.random.default_rng(2)
    source = _network(rng, (4, 12, 3))
    x = rng.normal(size=(60, 4))
    y = np.argmax(x[:, :3], axis=1)
    config = PopupConfig(density=0.5, epochs=15, batch_size=20, scaled=True, learning_rate=0.05)
    result = train_popup(source, x, y, config, rng=1)
    assert result.output_scale != 1.0
    ticket = popup_ticket(source, result, mean=np.zeros(4), scale=np.ones(4), metadata={})
    path = tmp_path / "t.npz"
    save_ticket(ticket, path)
    loaded = load_ticket(path)
    logits = masked_logits(source, result.weight_masks, result.bias_masks,
                           math.log(result.output_scale), x)
    np.testing.assert_allclose(loaded.approximation(x), logits, rtol=1e-12, atol=1e-12)
    assert loaded.metadata["preprocessing"] == {"mean": [0.0] * 4, "scale": [1.0] * 4}


def test_training_is_deterministic_and_learns():
    rng = np.random.default_rng(4)
    source = _network(rng, (2, 64, 64, 2))
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)  # XOR-like: no linear map separates it
    config = PopupConfig(density=0.3, epochs=30, batch_size=32, scaled=True)
    a = train_popup(source, x, y, config, rng=9)
    b = train_popup(source, x, y, config, rng=9)
    assert all(np.array_equal(p, q) for p, q in zip(a.weight_masks, b.weight_masks, strict=True))
    assert a.epoch_losses == b.epoch_losses
    assert a.epoch_losses[-1] < 0.7 * a.epoch_losses[0]


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("density", [0, -0.1, 1.5, float("nan"), "x", True])
def test_density_outside_unit_interval_is_refused(density):
    with pytest.raises(InputError, match="density"):
        PopupConfig(density=density)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"bias_ranking": "both"}, "bias ranking"), ({"optimizer": "rmsprop"}, "optimizer"),
     ({"epochs": 0}, "epochs"), ({"momentum": 1.0}, "momentum"),
     ({"anneal": True, "anneal_levels": 9, "epochs": 3}, "anneal")],
)
def test_bad_config_is_refused(options, match):
    with pytest.raises(InputError, match=match):
        PopupConfig(density=0.1, **options)


def test_bad_training_data_is_refused():
    source = _network(np.random.default_rng(0), (3, 4, 2))
    config = PopupConfig(density=0.5, epochs=1)
    with pytest.raises(InputError, match="features"):
        train_popup(source, np.zeros((5, 4)), np.zeros(5, int), config, rng=0)
    with pytest.raises(InputError, match="labels"):
        train_popup(source, np.zeros((5, 3)), np.full(5, 2), config, rng=0)


# --------------------------------------------------------------------------------- command
def test_popup_command_ticket_is_evaluable_without_the_package(tmp_path):
    """The written ticket, read with plain numpy and scikit-learn's raw data, reproduces the
    reported test accuracy from its metadata alone (preprocessing, test rows, scale)."""
    import json

    from sklearn.datasets import load_wine

    from lotteryproofs.cli import main

    ticket_path, json_path = tmp_path / "t.npz", tmp_path / "o.json"
    code = main(["popup", "--dataset", "wine", "--hidden", "32,32", "--density", "0.2",
                 "--init", "looks-linear", "--seed", "3", "--epochs", "5", "--scaled",
                 "--out", str(ticket_path), "--json", str(json_path)])
    assert code == 0
    report = json.loads(json_path.read_text())
    with np.load(ticket_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["metadata"][()]))
    x_raw, y_raw = load_wine(return_X_y=True)
    rows = np.array(meta["test_indices"])
    h = (x_raw[rows] - np.array(meta["preprocessing"]["mean"])) / np.array(
        meta["preprocessing"]["scale"])
    depth = sum(1 for k in arrays if k.endswith(".weight_mask"))
    for i in range(depth):
        w = arrays[f"layers.{i}.weight"] * arrays[f"layers.{i}.weight_mask"]
        b = arrays[f"layers.{i}.bias"] * arrays[f"layers.{i}.bias_mask"]
        h = h @ w.T + b
        if i < depth - 1:
            h = np.maximum(h, 0)
    logits = h / arrays["scale"]
    assert np.mean(np.argmax(logits, axis=1) == y_raw[rows]) == report["test_accuracy"]
    assert meta["test_accuracy"] == report["test_accuracy"]
    assert float(arrays["scale"]) == pytest.approx(1 / report["output_scale_lambda"], rel=1e-15)
    kept = sum(int(arrays[f"layers.{i}.{p}_mask"].sum()) for i in range(depth)
               for p in ("weight", "bias"))
    assert kept == report["kept_parameters"]


def _popup_files(tmp_path, name, *extra):
    import json

    from lotteryproofs.cli import main

    ticket, out = tmp_path / f"{name}.npz", tmp_path / f"{name}.json"
    assert main(["popup", "--dataset", "wine", "--hidden", "8,8", "--density", "0.5",
                 "--init", "uniform", "--seed", "2", "--epochs", "1", *extra,
                 "--out", str(ticket), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    report.pop("time_s")
    with np.load(ticket, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return ticket.read_bytes(), report, arrays


def test_popup_beta_is_the_bias_factor_option(tmp_path):
    """--beta B draws the source --init-option bias_factor=B draws (same ticket bytes, same
    report); the source's biases are B times those of β = 1 (init.py: b = β·unit draw, the
    same draw whatever β) with the same weights, and β = 0 is a zero-bias source."""
    by_beta = _popup_files(tmp_path, "beta", "--beta", "0.05")
    by_option = _popup_files(tmp_path, "option", "--init-option", "bias_factor=0.05")
    assert by_beta[0] == by_option[0]
    assert by_beta[1] == by_option[1] and by_beta[1]["beta"] == 0.05
    one = _popup_files(tmp_path, "one")[2]
    zero = _popup_files(tmp_path, "zero", "--beta", "0")[2]
    depth = sum(1 for k in one if k.endswith(".weight_mask"))
    for i in range(depth):
        for arrays in (by_beta[2], zero):
            assert np.array_equal(arrays[f"layers.{i}.weight"], one[f"layers.{i}.weight"])
        np.testing.assert_allclose(by_beta[2][f"layers.{i}.bias"],
                                   0.05 * one[f"layers.{i}.bias"], rtol=1e-14, atol=0)
        assert np.any(one[f"layers.{i}.bias"] != 0) and not np.any(zero[f"layers.{i}.bias"])


def test_grid_beta_axis_runs_nonzero_bias_sources_at_each_beta():
    """A β axis: the zero-bias control once, the nonzero-bias source at every β, each run
    drawn as run_on_dataset draws it with bias_factor=β; β recorded in runs, cells, JSON."""
    from lotteryproofs.experiments import GridSpec, grid_table, run_grid

    spec = GridSpec(datasets=("wine",), sources=("uniform-zero-bias", "uniform"),
                    densities=(0.5,), options=("plain",), seeds=2, hidden=(8, 8), epochs=1,
                    betas=(0.0, 0.5))
    results = run_grid(spec, workers=1)
    assert spec.n_runs == len(results.runs) == 2 + 2 * 2
    assert sorted((r["source"], r["beta"]) for r in results.runs) == [
        ("uniform", 0.0), ("uniform", 0.0), ("uniform", 0.5), ("uniform", 0.5),
        ("uniform-zero-bias", 0.0), ("uniform-zero-bias", 0.0)]
    assert results.to_json()["spec"]["betas"] == [0.0, 0.5]
    assert {(c["source"], c["beta"]) for c in results.cells} == {
        ("uniform-zero-bias", 0.0), ("uniform", 0.0), ("uniform", 0.5)}
    assert {(c["source"], c["beta"]) for c in results.comparisons} == {
        ("uniform", 0.0), ("uniform", 0.5)}
    assert "uniform β=0.5" in grid_table(results)
    # the β = 0.5 runs differ from the β = 0 runs (β reaches the source)
    by = {(r["beta"], r["seed"]): r for r in results.runs if r["source"] == "uniform"}
    assert by[(0.5, 0)]["final_loss"] != by[(0.0, 0)]["final_loss"]


def test_grid_without_beta_keeps_its_keys():
    """A grid without β draws and trains from exactly the streams it used before the β axis
    (rebuilt here from the documented keys: crc32 of the names), so its bytes are unchanged;
    with β the training stream gains repr(β), the source stream does not."""
    import zlib

    from lotteryproofs.datasets import load_dataset
    from lotteryproofs.experiments import GridSpec, _run_task, _Task, run_on_dataset

    spec = GridSpec(datasets=("wine",), sources=("uniform",), densities=(0.5,),
                    options=("plain",), seeds=2, hidden=(8, 8), epochs=2, root_seed=7)

    def streams(*train_extra):
        seq = np.random.SeedSequence(7).spawn(2)[1]
        key = [zlib.crc32(n.encode()) for n in ("source", "wine", "uniform")]
        train = [zlib.crc32(n.encode())
                 for n in ("train", "wine", "uniform", "0.5", "plain", *train_extra)]
        return (np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + tuple(key)),
                np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + tuple(train)))

    dataset = load_dataset("wine", split_seed=1)
    for beta, extra, options in ((None, (), {}), (0.25, ("0.25",), {"bias_factor": 0.25})):
        source_seq, train_seq = streams(*extra)
        direct = run_on_dataset(dataset, (8, 8), "uniform", PopupConfig(density=0.5, epochs=2),
                                source_rng=source_seq, train_rng=train_seq,
                                source_options=options)
        got = _run_task(_Task(spec, "wine", "uniform", 0.5, "plain", 1, beta))
        assert got["final_loss"] == direct.result.epoch_losses[-1]
        assert got["test_accuracy"] == direct.test_accuracy
        assert got["beta"] == (1.0 if beta is None else beta)


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["--dataset", "mnist", "--density", "0.1"], "unknown dataset"),
     (["--dataset", "wine", "--density", "0"], "density"),
     (["--dataset", "wine", "--density", "1.5"], "density"),
     (["--dataset", "wine", "--density", "0.1", "--init", "xavier"], "unknown initialisation"),
     (["--dataset", "wine", "--density", "0.1", "--hidden", "32,0"], "hidden sizes"),
     (["--dataset", "wine", "--density", "0.1", "--hidden", "32,x"], "hidden sizes"),
     (["--dataset", "wine", "--density", "0.1", "--hidden", "3.5"], "hidden sizes"),
     (["--dataset", "wine", "--density", "0.1", "--init", "looks-linear-zero-bias",
       "--beta", "0.5"], "has no biases to scale")],
)
def test_popup_command_bad_input_is_a_one_line_error(argv, match, capsys):
    from lotteryproofs.cli import main

    assert main(["popup", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


# ------------------------------------------------------------------------------ experiments
def test_t_interval_matches_closed_form_quantiles():
    """Student t quantiles with 1 and 2 degrees of freedom have closed forms:
    t₁(p) = tan(π(p − ½)), t₂(p) = (2p − 1)/√(2p(1 − p))."""
    from lotteryproofs.experiments import t_interval

    p = 0.975
    for values, quantile in (([0.2, 0.6], math.tan(math.pi * (p - 0.5))),
                             ([0.1, 0.4, 0.9], (2 * p - 1) / math.sqrt(2 * p * (1 - p)))):
        n = len(values)
        mean = sum(values) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        interval = t_interval(values)
        assert interval.mean == pytest.approx(mean, rel=1e-15)
        assert interval.upper - mean == pytest.approx(quantile * sd / math.sqrt(n), rel=1e-9)
        assert mean - interval.lower == pytest.approx(quantile * sd / math.sqrt(n), rel=1e-9)


def test_paired_comparison_averages_cells_per_seed_then_intervals():
    from lotteryproofs.experiments import paired_comparisons, t_interval

    runs = []
    rng = np.random.default_rng(0)
    diffs = {0: [], 1: [], 2: []}
    for seed in range(3):
        for density in (0.1, 0.5):
            base = float(rng.random())
            delta = float(rng.normal(0.05, 0.02))
            diffs[seed].append(delta)
            for source, acc in (("uniform-zero-bias", base), ("uniform", base + delta)):
                runs.append({"dataset": "wine", "source": source, "density": density,
                             "option": "plain", "seed": seed, "test_accuracy": acc})
    (comparison,) = paired_comparisons(runs)
    assert (comparison["source"], comparison["control"]) == ("uniform", "uniform-zero-bias")
    expected = t_interval([sum(v) / 2 for v in diffs.values()])
    assert comparison["difference"]["mean"] == pytest.approx(expected.mean, abs=1e-15)
    assert comparison["difference"]["ci95"] == pytest.approx([expected.lower, expected.upper])
    assert comparison["cells_per_seed"] == 2


def test_grid_is_independent_of_the_number_of_workers():
    from lotteryproofs.experiments import GridSpec, grid_table, run_grid

    spec = GridSpec(datasets=("wine",), sources=("uniform-zero-bias", "looks-linear"),
                    densities=(0.2,), options=("plain", "joint"), seeds=2, hidden=(8, 8),
                    epochs=2)
    one, two = run_grid(spec, workers=1), run_grid(spec, workers=2)
    timings = ("seconds", "cpu_seconds")
    strip = [{k: v for k, v in r.items() if k not in timings} for r in one.runs]
    assert strip == [{k: v for k, v in r.items() if k not in timings} for r in two.runs]
    assert len(one.runs) == spec.n_runs == 8
    assert {c["density"] for c in one.cells} == {0.2} and len(one.cells) == 4
    assert all(r["kept_fraction"] > 0 for r in one.runs)
    assert "looks-linear" in grid_table(one)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"datasets": ("mnist",)}, "unknown dataset"), ({"sources": ("he",)}, "initialisation"),
     ({"options": ("fast",)}, "option"), ({"densities": (0.0,)}, "density"),
     ({"seeds": 1}, "2 seeds"), ({"hidden": (16, -1)}, "hidden"),
     ({"betas": (-0.5,)}, "must be >= 0"), ({"betas": (float("nan"),)}, "finite"),
     ({"betas": (0.1, 0.1)}, "distinct"), ({"betas": ()}, "at least one")],
)
def test_grid_spec_refuses_bad_input(change, match):
    from lotteryproofs.experiments import GridSpec

    spec = {"datasets": ("wine",), "sources": ("uniform",), "densities": (0.1,),
            "options": ("plain",), "seeds": 2, **change}
    with pytest.raises(InputError, match=match):
        GridSpec(**spec)
