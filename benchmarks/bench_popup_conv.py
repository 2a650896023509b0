"""Convolutional edge-popup on digits 8×8: nonzero- against zero-bias sources, paired.

Source (popup_conv.draw_conv_source): 1×8×8 → conv 3×3 ×16 (pad 1) → ReLU → conv 3×3 ×16
(stride 2, pad 1) → ReLU → dense 256→10, He uniform, product-rule biases at β ∈ {0, 0.05, 1}.
Scaled edge-popup (Adam lr 0.01, cosine decay, batch 64, 30 epochs) at densities 0.5, 0.2,
0.1, 0.05, seeds 0 … S−1. **Paired:** per seed, every β sees the same split (split seed = the
seed), the same weights and unit bias draw (β scales the biases only), and per density the same
score initialisation and minibatch order. Each entry: mean test accuracy over the seeds, and
the per-seed difference against β = 0 with a two-sided 95 % Student-t interval. The ticket's
accuracy is Conv2d's own forward of source × masks (not the training loop's unrolled one).

Run: ``python benchmarks/bench_popup_conv.py [--seeds 8] [--epochs 30] [--betas 0 0.05 1]
[--workers 2] [--json OUT.json]`` (β = 0 first: the control).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

DENSITIES = (0.5, 0.2, 0.1, 0.05)
BETAS = (0.0, 0.05, 1.0)


def one_seed(seed: int, epochs: int, betas=BETAS) -> list[dict]:
    from lotteryproofs.datasets import load_dataset
    from lotteryproofs.popup import PopupConfig, accuracy
    from lotteryproofs.popup_conv import DIGITS_CHANNELS, draw_conv_source, train_conv_popup

    dataset = load_dataset("digits", split_seed=seed)
    source_seq, train_seq = np.random.SeedSequence([0, seed]).spawn(2)
    rows = []
    for j, density in enumerate(DENSITIES):
        for beta in betas:
            cpu = time.process_time()
            source = draw_conv_source((1, 8, 8), DIGITS_CHANNELS, 10, beta=beta,
                                      seed=np.random.SeedSequence(source_seq.entropy,
                                                                  spawn_key=(seed,)))
            config = PopupConfig(density=density, epochs=epochs, scaled=True)
            result = train_conv_popup(source, dataset.x_train, dataset.y_train, config,
                                      rng=np.random.SeedSequence(train_seq.entropy,
                                                                 spawn_key=(seed, j)))
            ticket = result.subnetwork(source)
            rows.append({"seed": seed, "density": density, "beta": beta,
                         "test_accuracy": accuracy(ticket, dataset.x_test, dataset.y_test),
                         "train_accuracy": accuracy(ticket, dataset.x_train, dataset.y_train),
                         "output_scale": result.output_scale,
                         "kept_fraction": result.kept_fraction(),
                         "cpu_seconds": time.process_time() - cpu})
    return rows


def table(runs, seeds: int, betas=BETAS) -> str:
    from lotteryproofs.experiments import t_interval

    at = {(r["seed"], r["density"], r["beta"]): r["test_accuracy"] for r in runs}
    lines = ["| density | β = 0 | " + " | ".join(
        f"β = {b:g} | β = {b:g} − β = 0 [95 % CI]" for b in betas[1:]) + " |",
        "|---|---|" + "---|---|" * (len(betas) - 1)]
    for density in DENSITIES:
        cells = [f"{100 * t_interval([at[s, density, 0.0] for s in range(seeds)]).mean:.1f}"]
        for beta in betas[1:]:
            mean = t_interval([at[s, density, beta] for s in range(seeds)]).mean
            diff = t_interval([at[s, density, beta] - at[s, density, 0.0] for s in range(seeds)])
            cells += [f"{100 * mean:.1f}",
                      f"{100 * diff.mean:+.1f} [{100 * diff.lower:+.1f}, {100 * diff.upper:+.1f}]"]
        lines.append(f"| {density} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--betas", type=float, nargs="+", default=list(BETAS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.betas[0] != 0.0:
        raise SystemExit("error: the first β is the control and must be 0")
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = [r for rows in pool.map(one_seed, range(args.seeds), [args.epochs] * args.seeds,
                                       [tuple(args.betas)] * args.seeds) for r in rows]
    wall = time.perf_counter() - start
    print(table(runs, args.seeds, tuple(args.betas)))
    cpu = sum(r["cpu_seconds"] for r in runs)
    print(f"\n{len(runs)} runs, {wall:.1f} s wall, {cpu:.1f} CPU-s in the runs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": f"python benchmarks/bench_popup_conv.py --seeds {args.seeds} "
                                  f"--epochs {args.epochs} --betas "
                                  + " ".join(map(repr, args.betas))
                                  + f" --workers {args.workers}",
                       "densities": DENSITIES, "betas": args.betas, "seeds": args.seeds,
                       "wall_seconds": wall, "cpu_seconds": cpu, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
