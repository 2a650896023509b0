"""The edge-popup grid's bias-scale axis: every β against β = 0 of the same source, paired.

Reads a ``lotteryproofs popup-grid --beta 0 ... --json OUT.json`` result (default:
``benchmarks/results/popup_grid_beta.json``) and prints, per dataset, nonzero-bias source and
β ≠ 0, the paired difference of test accuracy against the same source at β = 0: per seed, the
mean over every (density, option) cell of acc(β) − acc(0), then a two-sided 95 % Student-t
interval over the seeds (experiments.t_interval). Paired: a seed fixes the data split, and the
source's weights and unit bias draw do not depend on β (β scales the biases only), so the
β = 0 run has the same weights with every bias 0; the score initialisation and minibatch order
are keyed by β (experiments._task_streams) and differ. ``--by density`` splits the cells by
density instead (mean over the options and the nonzero-bias sources per seed).

Run: ``python benchmarks/bench_popup_beta.py [PATH] [--by source|density]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from lotteryproofs.experiments import t_interval

DEFAULT = Path(__file__).resolve().parent / "results" / "popup_grid_beta.json"


def paired_against_zero(runs, by: str) -> list[tuple]:
    """(dataset, group, β, Interval of the per-seed mean difference, cells per seed)."""
    at = {(r["dataset"], r["source"], r["beta"], r["density"], r["option"], r["seed"]): r
          for r in runs}
    betas = sorted({r["beta"] for r in runs} - {0.0})
    # the sources that ran at β = 0 (the nonzero-bias ones; a zero-bias source ran once)
    sources = sorted({r["source"] for r in runs if r["beta"] == 0.0}
                     & {r["source"] for r in runs if r["beta"] != 0.0})
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        groups = sources if by == "source" else sorted({r["density"] for r in runs}, reverse=True)
        for group in groups:
            for beta in betas:
                per_seed: dict[int, list[float]] = {}
                for (d, s, b, density, option, seed), run in at.items():
                    if d != dataset or b != beta or s not in sources:
                        continue
                    if (s if by == "source" else density) != group:
                        continue
                    zero = at[(d, s, 0.0, density, option, seed)]
                    per_seed.setdefault(seed, []).append(
                        run["test_accuracy"] - zero["test_accuracy"])
                diffs = [math.fsum(v) / len(v) for _, v in sorted(per_seed.items())]
                out.append((dataset, group, beta, t_interval(diffs),
                            len(next(iter(per_seed.values())))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--by", choices=("source", "density"), default="source")
    args = parser.parse_args()
    runs = json.loads(Path(args.path).read_text())["runs"]
    rows = paired_against_zero(runs, args.by)
    betas = sorted({b for _, _, b, _, _ in rows})
    print(f"| dataset | {args.by} | " + " | ".join(f"β = {b:g} − β = 0" for b in betas)
          + " | cells per seed |")
    print("|---|---|" + "---|" * (len(betas) + 1))
    keyed = {(d, g, b): (i, n) for d, g, b, i, n in rows}
    for dataset, group in dict.fromkeys((d, g) for d, g, _, _, _ in rows):
        entries = []
        for beta in betas:
            i, n = keyed[dataset, group, beta]
            entries.append(f"{100 * i.mean:+.2f} [{100 * i.lower:+.2f}, {100 * i.upper:+.2f}]")
        print(f"| {dataset} | {group} | " + " | ".join(entries) + f" | {n} |")
    print(f"\npercentage points; 95 % t-interval over {rows[0][3].n} seeds")


if __name__ == "__main__":
    main()
