"""Edge-popup where biases must matter: nonzero- vs zero-bias sources, paired (popup_tasks.py).

Runs :func:`lotteryproofs.popup_tasks.default_bias_spec` (6 tasks × 3 sources × 4 densities ×
16 seeds), prints the paired-comparison table and the zero-bias limit checks, and writes every
run, cell and comparison to ``benchmarks/results/popup_bias.json``.

Run: ``python benchmarks/bench_popup_bias.py [--quick] [--workers N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

from lotteryproofs.popup_tasks import (
    comparison_table,
    default_bias_spec,
    quick_bias_spec,
    run_bias_experiment,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    spec = quick_bias_spec() if args.quick else default_bias_spec()
    start = time.perf_counter()
    results = run_bias_experiment(spec, workers=args.workers, show_progress=True)
    wall = time.perf_counter() - start
    print(comparison_table(results))
    print()
    for limit in results.limits:
        print(limit)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\n{spec.n_runs} runs, {wall:.1f} s wall, {results.extra['cpu_seconds']:.1f} CPU s in "
          f"the runs ({children.ru_utime:.1f} s user in worker processes), load average "
          f"{os.getloadavg()[0]:.1f}, {platform.processor() or platform.machine()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**results.to_json(), "command": "python benchmarks/bench_popup_bias.py"
                       + (" --quick" if args.quick else "") + f" --workers {args.workers}"},
                      f, indent=1)


if __name__ == "__main__":
    main()
