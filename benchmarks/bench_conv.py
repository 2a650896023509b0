"""Convolutional tickets (conv 2L, or L+1 with ``--method l+1``, bounded-gain L+1 with
``--method l+1-bounded``) of the shipped digits-cnn target: accuracy, agreement, size, time.

    PYTHONPATH=$PWD python benchmarks/bench_conv.py [--method 2l] [--rho 40] [--eps 0.01] [--seed 0]
    PYTHONPATH=$PWD python benchmarks/bench_conv.py --method l+1-bounded [--ladder 0.5] ...
    PYTHONPATH=$PWD python benchmarks/bench_conv.py --cli [--target digits-cnn] [--rho 80]
    PYTHONPATH=$PWD python benchmarks/bench_conv.py --cli --target shortcut-random --rho 40

``--cli`` instead runs the user's commands, each in its own process:
``lotteryproofs construct TARGET --method M --rho R --out t.npz --json c.json``, then
``lotteryproofs verify t.npz --target TARGET``, then ``lotteryproofs export t.npz --format
network --out n.npz``, and prints per command its wall time, CPU time
(user + system of the child) and peak RSS (the child's ru_maxrss), with the ticket file's size.

``--target shortcut-random`` is a residual target with a 1×1 stride-2 convolutional
shortcut on the digits geometry, Conv(1→8, 3×3, pad 1)–ReLU–Residual[Conv(8→16, 3×3,
stride 2, pad 1)–ReLU–Conv(16→16, 3×3, pad 1); shortcut Conv(8→16, 1×1, stride 2)]–ReLU–
Flatten–Linear(→10), its parameters drawn uniformly on ±1/√fan-in (seed ``--seed``): no
trained shortcut target ships, so it measures time, memory and errors, not accuracy.

Prints one JSON object per run: the target's and the ticket's test accuracy, the fraction of
test images whose predictions agree, failed instances, nonzeros, source size, CPU and wall
time of the construction and peak RSS (resource.getrusage, the whole process). Results in
benchmarks/README.md ("convolutional tickets").
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import numpy as np

from lotteryproofs import datasets, io
from lotteryproofs.construct.conv_two_layer import construct_conv
from lotteryproofs.construct.registry import get_conv_construction
from lotteryproofs.network import Box


def _run_child(argv: list[str], cwd: str) -> dict:
    """One command in a fresh process: wall, CPU (user + system) and peak RSS of that child
    alone (os.wait4's rusage)."""
    import os
    import subprocess
    import sys

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        wall = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "lotteryproofs", *argv], cwd=cwd,
                                 stdout=out, stderr=err, env=dict(os.environ))
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - wall
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({child.returncode}): {stderr.strip()}")
    return {"command": "lotteryproofs " + " ".join(argv), "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "stdout": [line for line in stdout.strip().splitlines() if len(line) < 200]}


def shortcut_target(seed: int):
    """The ``shortcut-random`` target (module docstring)."""
    from lotteryproofs.activations import IDENTITY, RELU
    from lotteryproofs.conv_layers import Conv2d, Flatten
    from lotteryproofs.layers import Dense
    from lotteryproofs.network import Network
    from lotteryproofs.residual import Residual

    rng = np.random.default_rng(seed)

    def conv(c_out, shape, k, stride, padding):
        bound = 1 / np.sqrt(shape[0] * k * k)
        return Conv2d(rng.uniform(-bound, bound, (c_out, shape[0], k, k)),
                      rng.uniform(-bound, bound, c_out), stride, padding, shape)

    first = conv(8, (1, 8, 8), 3, 1, 1)
    a = conv(16, first.output_shape, 3, 2, 1)
    b = conv(16, a.output_shape, 3, 1, 1)
    block = Residual((a, b), (RELU,), conv(16, first.output_shape, 1, 2, 0))
    flat = Flatten(block.output_shape)
    bound = 1 / np.sqrt(flat.out_features)
    dense = Dense(rng.uniform(-bound, bound, (10, flat.out_features)),
                  rng.uniform(-bound, bound, 10))
    return Network.from_layers([first, block, flat, dense], [RELU, RELU, IDENTITY])


def cli(args) -> int:
    import os

    with tempfile.TemporaryDirectory() as tmp:
        if args.target == "shortcut-random":
            io.save_target(shortcut_target(args.seed), os.path.join(tmp, "shortcut.npz"))
            args.target = "shortcut.npz"
        rows = [_run_child(["construct", args.target, "--method", args.method,
                            "--rho", str(args.rho), "--eps-param", str(args.eps),
                            "--seed", str(args.seed),
                            "--out", "t.npz", "--json", "c.json"], tmp)]
        size = os.path.getsize(os.path.join(tmp, "t.npz"))
        rows.append(_run_child(["verify", "t.npz", "--target", args.target], tmp))
        rows.append(_run_child(["export", "t.npz", "--format", "network", "--out", "n.npz"],
                               tmp))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(json.dumps({"ticket_file_bytes": size}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="digits-cnn")
    parser.add_argument("--method", default="2l",
                        help="a convolutional construction: 2l, l+1, l+1-bounded")
    parser.add_argument("--rho", type=int, default=40)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ladder", type=float, nargs="+", default=None,
                        help="l+1-bounded on this gain ladder (one value: a single cap; "
                             "construct.conv_bounded_gain.with_ladder)")
    parser.add_argument("--cli", action="store_true",
                        help="measure the construct and verify commands instead")
    args = parser.parse_args(argv)
    if args.cli:
        return cli(args)
    target, meta = io.read_target(args.target)
    box_meta = meta.get("input_box") or meta.get("metadata", {}).get("input_box")
    box = Box(np.asarray(box_meta["lower"]), np.asarray(box_meta["upper"]))
    data = datasets.load_dataset("digits", split_seed=int(meta.get("split_seed", 0)))
    wall, cpu = time.perf_counter(), time.process_time()
    construction = get_conv_construction(args.method)
    if args.ladder is not None:
        from lotteryproofs.construct import conv_bounded_gain

        if construction is not conv_bounded_gain.CONSTRUCTION:
            raise SystemExit("--ladder needs --method l+1-bounded")
        construction = conv_bounded_gain.with_ladder(args.ladder)
    ticket = construct_conv(target, eps_param=args.eps, rho=args.rho, rng=args.seed, domain=box,
                            construction=construction)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    y_t = target.forward(data.x_test).argmax(axis=1)
    y_s = ticket.approximation(data.x_test).argmax(axis=1)
    out = {
        "target": args.target, "method": args.method, "ladder": args.ladder, "rho": args.rho,
        "eps_param": args.eps,
        "seed": args.seed,
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
