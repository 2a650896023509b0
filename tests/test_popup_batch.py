"""The batched edge-popup trainer against the reference loop, byte for byte (popup_batch.py).

The oracle is popup._train_popup_scores, the one-run numpy loop: every member of a batch must
end with the same bytes of scores, masks, λ and epoch losses as that member trained alone, for
mixed densities, options, optimisers and losses; and the grid, trained in blocks, must give
every run the reference path's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotteryproofs import _validate
from lotteryproofs.experiments import (
    GridSpec,
    _Task,
    _task_streams,
    beta_options,
    draw_named_source,
    grid_blocks,
    run_grid,
    run_on_dataset,
    source_beta,
)
from lotteryproofs.popup import PopupConfig, _train_popup_scores, single_blas_thread
from lotteryproofs.popup_batch import train_popup_batch, train_popup_batch_scores


def _same_bytes(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_identical(reference, batched):
    (ra, (ws_a, bs_a, ls_a)), (rb, (ws_b, bs_b, ls_b)) = reference, batched
    for a, b in zip(ra.weight_masks + ra.bias_masks, rb.weight_masks + rb.bias_masks,
                    strict=True):
        assert _same_bytes(a, b)
    for a, b in zip(tuple(ws_a) + tuple(bs_a), tuple(ws_b) + tuple(bs_b), strict=True):
        assert _same_bytes(a, b)
    assert np.float64(ls_a).tobytes() == np.float64(ls_b).tobytes()
    assert ra.epoch_losses == rb.epoch_losses and ra.epoch_densities == rb.epoch_densities
    assert ra.output_scale == rb.output_scale and ra.config == rb.config


MEMBER = st.fixed_dictionaries({
    "density": st.sampled_from([1.0, 0.5, 0.3, 0.1, 0.02]),
    "scaled": st.booleans(), "anneal": st.booleans(),
    "bias_ranking": st.sampled_from(["separate", "joint"]),
    "source": st.sampled_from(["uniform", "uniform-zero-bias", "looks-linear", "normal"]),
})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=st.lists(MEMBER, min_size=1, max_size=4), optimizer=st.sampled_from(["adam", "sgd"]),
       regression=st.booleans(), seed=st.integers(0, 2**16), n=st.integers(5, 40),
       batch_size=st.sampled_from([4, 7, 64]))
def test_batch_matches_the_reference_loop_byte_for_byte(members, optimizer, regression, seed, n,
                                                        batch_size):
    rng = np.random.default_rng(seed)
    widths = (3, 6, 4, 1 if regression else 3)  # even hidden widths for looks-linear
    sources, configs, xs, ys = [], [], [], []
    for m in members:
        sources.append(draw_named_source(m["source"], widths, rng=rng))
        configs.append(PopupConfig(density=m["density"], epochs=4, batch_size=batch_size,
                                   optimizer=optimizer, scaled=m["scaled"], anneal=m["anneal"],
                                   anneal_levels=2, bias_ranking=m["bias_ranking"],
                                   loss="squared-error" if regression else "cross-entropy"))
        xs.append(rng.normal(size=(n, 3)))  # every member its own training set
        ys.append(rng.normal(size=n) if regression else rng.integers(0, 3, size=n))
    seeds = [np.random.SeedSequence([seed, i]) for i in range(len(members))]
    with single_blas_thread():
        reference = [_train_popup_scores(s, x, y, c, rng=r)
                     for s, x, y, c, r in zip(sources, xs, ys, configs, seeds, strict=True)]
    batched = train_popup_batch_scores(sources, xs, ys, configs, rngs=seeds)
    for ref, bat in zip(reference, batched, strict=True):
        _assert_identical(ref, bat)


def test_a_batch_refuses_members_that_cannot_share_a_loop():
    rng = np.random.default_rng(0)
    a = draw_named_source("uniform", (3, 4, 2), rng=rng)
    b = draw_named_source("uniform", (3, 5, 2), rng=rng)
    x, y = rng.normal(size=(8, 3)), rng.integers(0, 2, size=8)
    config = PopupConfig(density=0.5, epochs=2)
    with pytest.raises(_validate.InputError, match="one shape"):
        train_popup_batch([a, b], [x, x], [y, y], [config, config], rngs=[0, 1])
    with pytest.raises(_validate.InputError, match="share epochs"):
        train_popup_batch([a, a], [x, x], [y, y], [config, PopupConfig(density=0.5, epochs=3)],
                          rngs=[0, 1])
    with pytest.raises(_validate.InputError, match="same number of rows"):
        train_popup_batch([a, a], [x, x[:5]], [y, y[:5]], [config, config], rngs=[0, 1])


def test_grid_in_blocks_equals_every_run_trained_alone():
    """The grid's block path (grid_blocks, _run_tasks) against run_on_dataset, run by run."""
    from lotteryproofs.datasets import load_dataset

    spec = GridSpec(datasets=("wine",), sources=("uniform-zero-bias", "uniform"),
                    densities=(0.5, 0.1), options=("plain", "scaled"), seeds=2, hidden=(8, 8),
                    epochs=2, betas=(0.0, 0.05))
    results = run_grid(spec, workers=1, show_progress=False)
    tasks = [_Task(spec, "wine", source, density, option, seed, beta)
             for source in spec.sources for beta in spec.source_betas(source)
             for density in spec.densities for option in spec.options
             for seed in range(spec.seeds)]
    assert len(results.runs) == len(tasks) == spec.n_runs
    blocks = grid_blocks(tasks, 3)  # blocks never mix seeds, and cover every task once
    assert sorted(i for b in blocks for i in b) == list(range(len(tasks)))
    assert all(len({tasks[i].seed for i in b}) == 1 and len(b) <= 3 for b in blocks)
    from lotteryproofs.experiments import OPTIONS

    for task, run in zip(tasks, results.runs, strict=True):
        source_seq, train_seq = _task_streams(task)
        dataset = load_dataset("wine", split_seed=task.seed)
        config = PopupConfig(density=task.density, epochs=spec.epochs, **OPTIONS[task.option])
        options = beta_options(task.source, task.beta)
        alone = run_on_dataset(dataset, spec.hidden, task.source, config, source_rng=source_seq,
                               train_rng=train_seq, source_options=options)
        assert (run["source"], run["density"], run["option"], run["seed"], run["beta"]) == (
            task.source, task.density, task.option, task.seed, source_beta(task.source, options))
        assert run["test_accuracy"] == alone.test_accuracy
        assert run["train_accuracy"] == alone.train_accuracy
        assert run["final_loss"] == alone.result.epoch_losses[-1]
        assert run["output_scale"] == alone.result.output_scale


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), levels=st.sampled_from([2, 3, 50]),
       rankings=st.lists(st.sampled_from(["separate", "joint"]), min_size=1, max_size=3),
       density=st.sampled_from([1.0, 0.5, 0.3, 0.1, 0.02]))
def test_fused_threshold_masks_equal_the_reference_masks_even_with_ties(seed, levels, rankings,
                                                                      density):
    # scores from a few levels (ties at the threshold are likely) and continuous ones; the fused
    # threshold path must give c·(W ⊙ m) with m = popup.layer_masks' mask, tie-breaking included
    from lotteryproofs.popup import layer_masks
    from lotteryproofs.popup_batch import _masked_layer

    rng = np.random.default_rng(seed)
    size, shape = len(rankings), (5, 7)
    weight, bias = rng.normal(size=(size, *shape)), rng.normal(size=(size, shape[0]))
    w_score = rng.integers(-levels, levels + 1, size=(size, *shape)) / levels
    b_score = rng.integers(-levels, levels + 1, size=(size, shape[0])) / levels
    c, d = rng.uniform(0.5, 2, size=size), rng.uniform(0.5, 2, size=size)
    w_eff, b_eff = np.empty_like(weight), np.empty_like(bias)
    _masked_layer(weight, bias, w_score, b_score, c, d, [density] * size, rankings, w_eff,
                  b_eff, {})
    for s in range(size):
        (wm,), (bm,) = layer_masks([w_score[s]], [b_score[s]], density, rankings[s])
        assert w_eff[s].tobytes() == (c[s] * (weight[s] * wm)).tobytes()
        assert b_eff[s].tobytes() == (d[s] * (bias[s] * bm)).tobytes()
