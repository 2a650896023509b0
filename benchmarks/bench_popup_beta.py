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
``--from-checkpoint DIR --json OUT.json``: the runs of a ``popup-grid --beta … --checkpoint
DIR`` grid stopped part-way, its complete (dataset, seed) groups only (every source, β,
density and option of them; a dataset with fewer than two complete seeds is left out whole),
with the cells and comparisons popup-grid would write for them (experiments.summarise_cells,
paired_comparisons) and the list of groups left out; the same command resumed completes the
grid with the same bytes (docs/cluster.md).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from lotteryproofs.experiments import paired_comparisons, summarise_cells, t_interval

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


def from_checkpoint(folder: Path) -> dict:
    """The complete (dataset, seed) groups of a stopped grid's checkpoint (module docstring)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    spec = manifest["params"]
    per_group = (len(spec["densities"]) * len(spec["options"]) * sum(
        1 if s.endswith("zero-bias") else len(spec["betas"]) for s in spec["sources"]))
    groups: dict[tuple, list] = {}
    for path in sorted(folder.glob("block*.json")):
        for run in json.loads(path.read_text())["runs"]:
            groups.setdefault((run["dataset"], run["seed"]), []).append(run)
    complete = {k: v for k, v in groups.items() if len(v) == per_group}
    # an interval needs two seeds: a dataset with one complete seed is left out whole
    seeds = {d: sum(1 for k in complete if k[0] == d) for d, _ in complete}
    complete = {k: v for k, v in complete.items() if seeds[k[0]] >= 2}
    runs = [r for _, v in sorted(complete.items(), key=lambda kv: (
        spec["datasets"].index(kv[0][0]), kv[0][1])) for r in v]
    left_out = [[d, s] for d in spec["datasets"] for s in range(spec["seeds"])
                if (d, s) not in complete]
    return {"spec": spec, "subset": {"complete_groups": [list(k) for k in sorted(complete)],
                                     "left_out_groups": left_out,
                                     "runs_per_group": per_group},
            "cells": summarise_cells(runs), "comparisons": paired_comparisons(runs),
            "cpu_seconds": math.fsum(r["cpu_seconds"] for r in runs), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--by", choices=("source", "density"), default="source")
    parser.add_argument("--from-checkpoint", default=None, metavar="DIR")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.from_checkpoint:
        out = from_checkpoint(Path(args.from_checkpoint))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        print(f"{len(out['runs'])} runs of the complete groups; left out: "
              f"{out['subset']['left_out_groups']}")
        return
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
