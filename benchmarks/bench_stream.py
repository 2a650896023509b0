"""Stage by stage: time (wall and CPU) and peak resident size of ``construct`` on a dense target.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_stream.py random:784-125-125-10 --rho 40

Runs the stages of ``lotteryproofs construct TARGET --method 2l --eps-param 0.01 --rho R
--seed 0 --out … --json …`` in one process (the same calls as commands/construct.py) and
prints, per stage, the wall and CPU seconds and the peak resident size *of that stage* (the
kernel's high-water mark, reset before each stage through /proc/self/clear_refs), beside
memory.construct_estimate's figure for the stage. ``--block N`` sets the number of RSS
instances solved at a time (construct.common.BLOCK_INSTANCES).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--rho", type=int, default=40)
    ap.add_argument("--eps-param", type=float, default=0.01)
    ap.add_argument("--block", type=int, default=None)
    args = ap.parse_args(argv)

    import numpy as np

    from lotteryproofs import io, memory
    from lotteryproofs.certify import certify
    from lotteryproofs.construct import common, construct, source_widths

    if args.block is not None:
        common.BLOCK_INSTANCES = args.block
    rows = []

    def stage(name, fn):
        _reset_peak()
        w0, c0 = time.perf_counter(), _cpu()
        out = fn()
        rows.append((name, time.perf_counter() - w0, _cpu() - c0, _peak_bytes()))
        print(f"{name:24s} wall {rows[-1][1]:8.1f} s  cpu {rows[-1][2]:8.1f} s  "
              f"peak {rows[-1][3] / 2**30:6.2f} GiB", flush=True)
        return out

    target, metadata, info = stage("target", lambda: io.read_target_info(args.target))
    domain = info.input_box
    widths = source_widths("2l", target.widths, args.rho)
    est = memory.method_estimate(
        "2l", target.widths, widths, args.rho, certify=True, save=True,
        nonzeros=[int(np.count_nonzero(w)) for w in target.weights])
    ticket = stage("construct", lambda: construct(
        target, "2l", eps_param=args.eps_param, delta=0.1, rng=np.random.SeedSequence(0),
        domain=domain, rho=args.rho, keep_source=False))
    x = domain.sample(10_000, np.random.default_rng(1))
    observed = stage("sampled error", lambda: float(
        np.max(np.abs(ticket.approximation(x) - target.forward(x)))))
    cert = stage("certificate", lambda: certify(ticket, target, domain).to_json())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.npz")
        stage("ticket file", lambda: io.save_ticket(ticket, path))
        size = os.path.getsize(path)
    log = ticket.rss_log
    print(f"target {args.target}, ρ = {args.rho}, block {common.BLOCK_INSTANCES}: source "
          f"{ticket.source_params} parameters, support widths {list(ticket.source.widths)}; "
          f"{log.n_instances} instances, {int(log.failed.sum())} failed; "
          f"{ticket.count_nonzero()} nonzeros; sampled {observed:.4g}, observed "
          f"{cert['errors']['observed_output_error']:.4g}, certified "
          f"{cert['errors']['certified_output_error']:.4g}; ticket {size} bytes")
    print("estimate (GiB): " + ", ".join(f"{k} {v / 2**30:.2f}"
                                         for k, v in est.stages.items()))
    print(f"whole process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f}"
          f" GiB, cpu {_cpu():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
