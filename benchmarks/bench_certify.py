"""Certificate: speed of the rigorous bound (fast float+γ_n path vs pure mpmath.iv) and the
tightness certified / exact sup over random tickets of every construction (issue 5).

    python benchmarks/bench_certify.py speed
    python benchmarks/bench_certify.py tightness --tickets 200 \
        [--out benchmarks/results/certificate_tightness.json]
    python benchmarks/bench_certify.py lenet TICKET.npz
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from lotteryproofs import certify, construct, io, targets
from lotteryproofs.checks.bounds import tightness_case
from lotteryproofs.network import Box


def speed() -> dict:
    """Fast path vs the pure mpmath.iv reference on the same represented layers."""
    out = {}
    for widths in [(4, 8, 8, 2), (16, 32, 16, 4)]:
        target = targets.random_target(widths, np.random.default_rng(0))
        box = Box.cube(-1.0, 1.0, widths[0])
        ticket = construct.construct(target, "2l", eps_param=0.05, delta=0.1, rng=0, rho=16)
        rep = construct.represented_layers(ticket)
        t0 = time.perf_counter()
        fast = certify.certified_output_error(target, box, rep)
        t1 = time.perf_counter()
        ref = certify.certified_output_error_iv(target, box, rep)
        t2 = time.perf_counter()
        out["-".join(map(str, widths))] = {
            "fast_s": t1 - t0,
            "iv_s": t2 - t1,
            "fast": fast,
            "iv": ref,
            "speedup": (t2 - t1) / (t1 - t0),
        }
    return out


def tightness(n_tickets: int, seed: int = 0) -> dict:
    """certified / exact sup (enclosed by branch and bound over linear regions, rtol 1e-2)."""
    rng = np.random.default_rng(seed)
    result = {}
    for method in construct.METHODS:
        ratios_upper, ratios_lower, failures, unconverged = [], [], 0, 0
        for k in range(n_tickets):
            s = int(rng.integers(2**31))
            target, box, ticket = tightness_case(method, s, 1 + k % 2)
            cert = certify.certify(ticket, target, box, rng=s, n_samples=500)
            enc = certify.sup_error_branch_and_bound(
                target, ticket.network, ticket.scale, box, rtol=1e-2, max_cells=200_000
            )
            unconverged += not enc.converged
            if enc.upper > cert.certified_output_error:
                failures += 1
            ratios_upper.append(cert.certified_output_error / enc.upper)
            ratios_lower.append(cert.certified_output_error / enc.lower)
        result[method] = {
            "tickets": n_tickets,
            "exact_sup_above_certified": failures,
            "unconverged_enclosures": unconverged,
            "certified_over_exact_median": [
                float(np.median(ratios_upper)),
                float(np.median(ratios_lower)),
            ],
            "certified_over_exact_worst": [
                float(np.max(ratios_upper)),
                float(np.max(ratios_lower)),
            ],
            "certified_over_exact_best": [float(np.min(ratios_upper)), float(np.min(ratios_lower))],
        }
        print(method, json.dumps(result[method]), flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("speed", "tightness", "lenet"))
    parser.add_argument("ticket", nargs="?")
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    meta = {
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
    }
    t0 = time.perf_counter()
    if args.what == "speed":
        data = speed()
    elif args.what == "tightness":
        data = tightness(args.tickets)
    else:
        target, tmeta = io.read_target("lenet300100")
        ticket = io.load_ticket(args.ticket)
        box = io.target_box(tmeta, target.widths[0])
        data = certify.certify(ticket, target, box, rng=0).to_json()
    data = {"meta": {**meta, "seconds": time.perf_counter() - t0}, "result": data}
    print(json.dumps(data, indent=1))
    if args.out:
        io.write_json_atomic(args.out, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
