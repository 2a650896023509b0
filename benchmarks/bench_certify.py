"""Certificate: speed of the rigorous bound (fast float+γ_n path vs pure mpmath.iv) and the
tightness certified / exact sup over random tickets of every construction (issue 5).

    python benchmarks/bench_certify.py speed
    python benchmarks/bench_certify.py tightness --tickets 200 \
        [--out benchmarks/results/certificate_tightness.json]
    python benchmarks/bench_certify.py lenet TICKET.npz [--restarts 4]
    python benchmarks/bench_certify.py compare TICKET.npz --before TREE [--rounds 2]

``compare`` times ``certify(ticket, lenet300100, its box)`` with the default observed search
(what ``construct --json`` runs) in fresh processes, alternating the code in TREE (e.g. an
exported older commit) and this checkout, so both see the same machine load; wall and CPU
(user + system of the child) per run, and the bounds.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _ratio_summary(ratios) -> dict:
    r = np.asarray(ratios)
    return {"median": float(np.median(r)), "worst": float(np.max(r)), "best": float(np.min(r))}


def tightness(n_tickets: int, seed: int = 0, methods=None) -> dict:
    """certified / exact sup over the same tickets as always (``tightness_case``, the same seed
    stream): the exact sup is enclosed by branch and bound over linear regions (rtol 1e-2),
    and soundness is *proved* per ticket by branch and bound with the certified value as
    threshold (sup ≤ certified to the oracle's 1e-8 resolution; an exact corner value above it
    is a violation). "before" is the bound the certificate reported before the differential
    bounds existed (the smaller of the recursion and, under its hypothesis, the a-priori bound),
    recomputed on the same tickets. ``methods`` restricts the run to some constructions; the
    seeds of the others are still drawn, so every ticket is the one of a full run."""
    rng = np.random.default_rng(seed)
    result = {}
    for method in construct.METHODS:
        if methods is not None and method not in methods:
            rng.integers(2**31, size=n_tickets)  # the same stream as a full run
            continue
        after, before, after_upper, winners, before_crown = [], [], [], {}, []
        violations, unproven, unconverged = 0, 0, 0
        for k in range(n_tickets):
            s = int(rng.integers(2**31))
            target, box, ticket = tightness_case(method, s, 1 + k % 2)
            cert = certify.certify(ticket, target, box, rng=s, n_samples=500)
            enc = certify.sup_error_branch_and_bound(
                target, ticket.network, ticket.scale, box, rtol=1e-2, max_cells=200_000
            )
            unconverged += not enc.converged
            proof = certify.sup_error_branch_and_bound(
                target, ticket.network, ticket.scale, box,
                threshold=cert.certified_output_error, max_cells=400_000,
            )
            value = cert.certified_output_error
            violations += proof.lower > value
            unproven += not (proof.converged and proof.upper <= value * (1 + 1e-8))
            table = cert.certified_bounds
            old = min(v for k2, v in table.items() if k2 in ("recursion", "a-priori")
                      and v is not None)
            # the certificate before the back-substituted bound: the smallest of the others
            previous = min(v for k2, v in table.items() if k2 != "back-substitution"
                           and v is not None)
            winners[cert.certified_method] = winners.get(cert.certified_method, 0) + 1
            before_crown.append(previous / enc.lower)
            after.append(value / enc.lower)
            after_upper.append(value / enc.upper)
            before.append(old / enc.lower)
        result[method] = {
            "tickets": n_tickets,
            "exact_value_above_certified": violations,
            "sup_le_certified_not_proved": unproven,
            "unconverged_enclosures": unconverged,
            "certified_over_exact": _ratio_summary(after),
            "certified_over_exact_upper_enclosure": _ratio_summary(after_upper),
            "before_certified_over_exact": _ratio_summary(before),
            "without_back_substitution_over_exact": _ratio_summary(before_crown),
            "certified_method_counts": winners,
        }
        print(method, json.dumps(result[method]), flush=True)
    return result


def lenet(ticket_path: str, restarts: int) -> dict:
    """The paper's LeNet-300-100 ticket: the certificate (with ``restarts`` rounds of the
    observed search) and its time."""
    target, tmeta = io.read_target("lenet300100")
    ticket = io.load_ticket(ticket_path)
    box = io.target_box(tmeta, target.widths[0])
    t0 = time.perf_counter()
    cert = certify.certify(ticket, target, box, rng=0, observed_restarts=restarts)
    data = cert.to_json()
    data["certify_seconds"] = time.perf_counter() - t0
    return data


_CHILD = """
import json, resource, sys, time
from lotteryproofs import certify, io
target, tmeta = io.read_target("lenet300100")
ticket = io.load_ticket(sys.argv[1])
box = io.target_box(tmeta, target.widths[0])
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cert = certify.certify(ticket, target, box)
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
errors = cert.to_json()["errors"]
print(json.dumps({"wall_s": t1 - t0,
                  "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
                  "peak_rss_mb": r1.ru_maxrss / 1024,
                  "certified": errors["certified_output_error"],
                  "certified_method": errors["certified_method"],
                  "certified_bounds": errors["certified_bounds"],
                  "observed": errors["observed_output_error"],
                  "observed_search": errors["observed_search"]}))
"""


def compare(ticket_path: str, before: str, rounds: int) -> dict:
    """Before (the code in ``before``) and after (this checkout), alternating, fresh processes."""
    import subprocess
    from pathlib import Path

    here = str(Path(__file__).resolve().parent.parent)
    runs = {"before": [], "after": []}
    for _ in range(rounds):
        for name, tree in (("before", before), ("after", here)):
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run([sys.executable, "-c", _CHILD, ticket_path], env=env,
                                 capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout.splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("speed", "tightness", "lenet", "compare"))
    parser.add_argument("ticket", nargs="?")
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=4,
                        help="lenet: rounds of the restarted observed search (default 4)")
    parser.add_argument("--methods", nargs="+", help="tightness: only these constructions")
    parser.add_argument("--before", help="compare: the source tree of the code before")
    parser.add_argument("--rounds", type=int, default=2, help="compare: runs of each")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    meta = {
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
        "load_average_before": list(os.getloadavg()),
    }
    t0 = time.perf_counter()
    if args.what == "speed":
        data = speed()
    elif args.what == "tightness":
        data = tightness(args.tickets, methods=args.methods)
    elif args.what == "compare":
        data = compare(args.ticket, args.before, args.rounds)
    else:
        data = lenet(args.ticket, args.restarts)
    meta["load_average_after"] = list(os.getloadavg())
    data = {"meta": {**meta, "seconds": time.perf_counter() - t0}, "result": data}
    print(json.dumps(data, indent=1))
    if args.out:
        io.write_json_atomic(args.out, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
