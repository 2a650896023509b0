"""The seed paper's own construction target: LeNet-300-100 (benchmarks/README.md, "constructions").

    python benchmarks/bench_lenet.py                 # 2l, ll, l+1 at the recorded ρ + 2l trade-off
    python benchmarks/bench_lenet.py --quick         # 2l at ρ = 60 only
    python benchmarks/bench_lenet.py --compare 200   # ll vs 2l on small random targets, 200 seeds

Per construction: construction time (wall, this process), source widths and size, ρ, RSS
instances and failures, ticket nonzeros, max per-parameter error, and on 10⁴ inputs drawn
uniformly from the box [-0.4242, 2.8215]^784 the output error (mean and max of ‖·‖∞) and the
argmax agreement with the target. Baseline in the same process: the same instances of one
layer solved one by one (``sparsest_subset_sum`` in a Python loop), timed on a sample and
extrapolated. ``--compare`` measures the ll-versus-2l claim of THEORY.md §4.2 at equal source
width with Clopper–Pearson 95 % intervals.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from lotteryproofs.construct import construct
from lotteryproofs.construct.common import compact
from lotteryproofs.io import read_target, target_box

EPS_PARAM = 0.01


def evaluate(ticket, target, box, n=10_000, seed=1):
    x = box.sample(n, np.random.default_rng(seed))
    approx = compact(ticket.network).forward(x) / ticket.scale
    exact = target.forward(x)
    err = np.max(np.abs(approx - exact), axis=1)
    agree = float(np.mean(np.argmax(approx, axis=1) == np.argmax(exact, axis=1)))
    return float(err.mean()), float(err.max()), agree


def run_one(target, box, method, rho, rho_in=None, seed=0):
    start, cpu = time.perf_counter(), time.process_time()
    ticket = construct(target, method, eps_param=EPS_PARAM, delta=0.1, rng=seed, domain=box,
                       rho=rho, rho_in=rho_in)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    mean_err, max_err, agree = evaluate(ticket, target, box)
    log = ticket.rss_log
    return ticket, {
        "method": method, "rho": rho, "rho_in": rho_in, "time_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2), "load_average_1min": round(os.getloadavg()[0], 1),
        "source_widths": list(ticket.source.widths), "source_params": ticket.source.n_params,
        "instances": log.n_instances, "failures": int(log.failed.sum()),
        "max_param_error": float(log.error.max()),
        "mean_subset_size": float(log.subset_sizes.mean()),
        "nonzeros": ticket.count_nonzero(),
        "output_error_mean": mean_err, "output_error_max": max_err, "argmax_agreement": agree,
    }


def baseline_loop(ticket, sample=2000):
    """Seconds per instance of the unbatched solver on instances of target layer 0."""
    from lotteryproofs.construct import univariate  # noqa: F401  (same layout as construct)
    from lotteryproofs.rss import sparsest_subset_sum

    rng = np.random.default_rng(0)
    log = ticket.rss_log
    unit = [w / s for w, s in zip(ticket.source.weights, ticket.metadata["layer_scales"],
                                  strict=True)]
    rows = rng.choice(np.flatnonzero((log.layer == 0) & (log.part == 0)), sample, replace=False)
    start = time.perf_counter()
    for m in rows:
        i, j = log.col[m], log.row[m]
        u = unit[0][:, i]
        # the positive pool of input i: block i's neurons with u > 0
        rho = ticket.metadata["rho"]
        block = np.arange(i * rho, (i + 1) * rho)
        pool = block[u[block] > 0]
        sparsest_subset_sum(unit[1][j, pool] * u[pool], log.target[m], EPS_PARAM)
    return (time.perf_counter() - start) / sample


def _failed_parameters(ticket) -> tuple[int, int]:
    """(effective target parameters with an instance, those with any failed instance)."""
    log = ticket.rss_log
    keys = np.stack([log.layer, log.row, log.col], axis=1)
    params, inverse = np.unique(keys, axis=0, return_inverse=True)
    failed = np.zeros(len(params), bool)
    np.logical_or.at(failed, inverse.ravel(), log.failed)
    return len(params), int(failed.sum())


def compare(n_seeds: int, rhos=(16, 32)) -> dict:
    """ll vs 2l at equal source width on random targets 8-16-8-4, ε' = 0.01, box [-1, 1].

    Per effective target parameter (a first-layer weight of 2l fails if its positive or its
    negative part fails), per seed (any failure), and the max per-parameter error per seed.
    """
    from lotteryproofs.stats import clopper_pearson
    from lotteryproofs.targets import random_target

    out = {}
    eps = 0.01
    for rho in rhos:
        for method in ("2l", "ll"):
            params = failed = seeds_failed = 0
            max_errs = []
            for seed in range(n_seeds):
                target = random_target((8, 16, 8, 4), np.random.default_rng(seed))
                t = construct(target, method, eps_param=eps, delta=0.1, rng=10_000 + seed,
                              rho=rho)
                n, f = _failed_parameters(t)
                params, failed, seeds_failed = params + n, failed + f, seeds_failed + (f > 0)
                max_errs.append(float(t.rss_log.error.max()))
            out[f"{method} rho={rho}"] = {
                "source_widths": list(t.source.widths),
                "parameters": params, "failed_parameters": failed,
                "failure_rate": failed / params,
                "failure_rate_ci95": clopper_pearson(failed, params),
                "seeds": n_seeds, "seeds_with_a_failure": seeds_failed,
                "seeds_with_a_failure_ci95": clopper_pearson(seeds_failed, n_seeds),
                "median_max_param_error": float(np.median(max_errs)),
                "mean_max_param_error": float(np.mean(max_errs)),
                "mean_max_param_error_ci95": _mean_ci(max_errs),
            }
    return out


def _mean_ci(values) -> list[float]:
    from lotteryproofs.stats import mean_interval

    mean, lo, hi = mean_interval(values)
    return [lo, hi]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compare", type=int, default=0, metavar="SEEDS")
    args = parser.parse_args()
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "python": platform.python_version()}))
    if args.compare:
        print(json.dumps(compare(args.compare), indent=1))
        return
    target, meta = read_target("lenet300100")
    box = target_box(meta, target.widths[0])
    runs = [("2l", 60, None)] if args.quick else [
        ("2l", 60, None), ("ll", 60, None), ("l+1", 10, 60),
        ("2l", 30, None), ("2l", 40, None), ("2l", 50, None), ("2l", 80, None)]
    for method, rho, rho_in in runs:
        ticket, row = run_one(target, box, method, rho, rho_in)
        if method == "2l" and rho == 60:
            per = baseline_loop(ticket)
            row["baseline_loop_s_per_instance"] = per
            row["baseline_loop_extrapolated_s"] = round(per * row["instances"], 1)
        print(json.dumps(row), flush=True)
        del ticket


if __name__ == "__main__":
    main()
