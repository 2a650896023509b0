"""Edge-popup hot paths against their baselines, in one process (issue 9).

1. One full run on digits (64-256-256-10, density 0.1, 30 epochs): one BLAS thread (what
   ``train_popup`` does) against the library's default thread count (baseline).
2. The per-step top-k masks: ``np.argpartition`` (ours, O(n)) against a full ``np.argsort``
   (baseline, O(n log n)), for the 256×256 layer — checked to select the same entries.
3. One forward + backward minibatch step (64 samples) of the same network.

Run: ``python benchmarks/bench_popup.py`` (prints a Markdown table).
"""

from __future__ import annotations

import platform
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from lotteryproofs.datasets import load_dataset
from lotteryproofs.experiments import draw_named_source
from lotteryproofs.popup import (
    PopupConfig,
    _train_popup,
    initial_scores,
    kept_count,
    layer_masks,
    loss_and_gradients,
    top_k_mask,
    train_popup,
)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def argsort_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    flat = np.abs(scores.ravel())
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(flat, kind="stable")[flat.size - k:]] = True
    return mask.reshape(scores.shape)


def main() -> None:
    dataset = load_dataset("digits", split_seed=0)
    source = draw_named_source("uniform", (64, 256, 256, 10), rng=1)
    config = PopupConfig(density=0.1, epochs=30, scaled=True)
    rows = []

    one_thread = best_of(2, lambda: train_popup(source, dataset.x_train, dataset.y_train,
                                                config, rng=2))
    threads = max(info["num_threads"] for info in threadpool_info())
    default = best_of(2, lambda: _train_popup(source, dataset.x_train, dataset.y_train,
                                              config, rng=2))
    rows.append(("digits run, 30 epochs (1 BLAS thread vs default)", one_thread,
                 f"{threads} threads", default))

    scores = np.random.default_rng(0).normal(size=(256, 256))
    k = kept_count(scores.size, 0.1)
    assert np.array_equal(top_k_mask(scores, k), argsort_top_k(scores, k))
    ours = best_of(50, lambda: top_k_mask(scores, k))
    base = best_of(50, lambda: argsort_top_k(scores, k))
    rows.append(("top-k mask 256×256 (argpartition vs argsort)", ours, "argsort", base))

    ws, bs = initial_scores(source, 3)
    wm, bm = layer_masks(ws, bs, 0.1)
    x, y = dataset.x_train[:64], dataset.y_train[:64]
    with threadpool_limits(1):
        step = best_of(50, lambda: loss_and_gradients(source, wm, bm, 0.0, x, y))
    rows.append(("forward + backward, batch 64", step, "—", float("nan")))

    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"numpy {np.__version__}")
    print("| operation | ours (s) | baseline | baseline (s) | speed-up |")
    print("|---|---|---|---|---|")
    for name, ours_s, base_name, base_s in rows:
        speedup = "—" if np.isnan(base_s) else f"{base_s / ours_s:.1f}×"
        base_text = "—" if np.isnan(base_s) else f"{base_s:.4g}"
        print(f"| {name} | {ours_s:.4g} | {base_name} | {base_text} | {speedup} |")


if __name__ == "__main__":
    main()
