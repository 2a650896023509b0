"""Hot path of `lotteryproofs constants`: deciding q (one random target) per trial.

Baseline: the exact closest subset sum per trial (`closest_subset_sum_batch`, meet in the middle,
O(2^{n/2}) per row). Ours: read q off the exact coverage certificate that p(n) needs anyway
(target strictly inside a gap = failure; constants._single_from_gaps). Both are run in this
process on the same pools; the verdicts must agree exactly.

    python benchmarks/bench_constants.py [--trials 200] [--eps 1e-3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from lotteryproofs.constants import _single_from_gaps
from lotteryproofs.rss import closest_subset_sum_batch, coverage_certificate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--eps", type=float, default=1e-3)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    rng = np.random.default_rng(0)
    # warm the compiled code once outside the timings
    closest_subset_sum_batch(rng.uniform(-1, 1, (2, 8)), np.zeros(2), tol=args.eps)
    coverage_certificate(rng.uniform(-1, 1, 8), args.eps)
    print("| n | closest_subset_sum_batch s | certificate + gaps s | speed-up | agree |")
    print("|---|---|---|---|---|")
    for n in (16, 22, 28, 32):
        values = rng.uniform(-1, 1, (args.trials, n)) * rng.uniform(-1, 1, (args.trials, n))
        targets = rng.uniform(-1, 1, args.trials)
        t0 = time.perf_counter()
        base = closest_subset_sum_batch(values, targets, tol=args.eps).feasible
        t1 = time.perf_counter()
        ours = np.empty(args.trials, dtype=bool)
        for i in range(args.trials):
            cert = coverage_certificate(values[i], args.eps)
            ours[i] = cert.covered or _single_from_gaps(values[i], targets[i], args.eps, cert.gaps)
        t2 = time.perf_counter()
        print(f"| {n} | {t1 - t0:.3f} | {t2 - t1:.3f} | {(t1 - t0) / (t2 - t1):.1f}× | "
              f"{bool(np.array_equal(base, ours))} |", flush=True)


if __name__ == "__main__":
    main()
