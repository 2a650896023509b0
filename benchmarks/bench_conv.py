"""Convolutional 2L tickets of the shipped digits-cnn target: accuracy, agreement, size, time.

    PYTHONPATH=$PWD python benchmarks/bench_conv.py [--rho 40] [--eps 0.01] [--seed 0]

Prints one JSON object per run: the target's and the ticket's test accuracy, the fraction of
test images whose predictions agree, failed instances, nonzeros, source size, CPU and wall
time of the construction and peak RSS (resource.getrusage, the whole process). Results in
benchmarks/README.md ("convolutional tickets").
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from lotteryproofs import datasets, io
from lotteryproofs.construct.conv_two_layer import construct_conv
from lotteryproofs.network import Box


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="digits-cnn")
    parser.add_argument("--rho", type=int, default=40)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    target, meta = io.read_target(args.target)
    box_meta = meta.get("input_box") or meta.get("metadata", {}).get("input_box")
    box = Box(np.asarray(box_meta["lower"]), np.asarray(box_meta["upper"]))
    data = datasets.load_dataset("digits", split_seed=int(meta.get("split_seed", 0)))
    wall, cpu = time.perf_counter(), time.process_time()
    ticket = construct_conv(target, eps_param=args.eps, rho=args.rho, rng=args.seed, domain=box)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    y_t = target.forward(data.x_test).argmax(axis=1)
    y_s = ticket.approximation(data.x_test).argmax(axis=1)
    out = {
        "target": args.target, "rho": args.rho, "eps_param": args.eps, "seed": args.seed,
        "target_test_accuracy": float(np.mean(y_t == data.y_test)),
        "ticket_test_accuracy": float(np.mean(y_s == data.y_test)),
        "agreement": float(np.mean(y_s == y_t)),
        "max_logit_error_test": float(np.max(np.abs(
            ticket.approximation(data.x_test) - target.forward(data.x_test)))),
        "failed_instances": ticket.failures, "instances": int(ticket.log.failed.size),
        "nonzeros": ticket.count_nonzero(), "source_parameters": int(ticket.source.n_params),
        "target_parameters": int(target.n_params),
        "construct_cpu_s": round(cpu, 2), "construct_wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
