"""Tickets of real tanh and logistic targets by the general L+1 construction
(proofs/l-plus-one-general.md; benchmarks/README.md, "activations").

    python benchmarks/bench_activations.py                       # 3 datasets × tanh, logistic
    python benchmarks/bench_activations.py --datasets wine --activations tanh

For every (dataset, activation) this trains the target exactly as a user does,

    lotteryproofs train-target --dataset D --hidden H --activation A --seed 0 --out T.npz

then, in this process, builds the ticket with ``construct(…, "l+1-general", rho=ρ,
init_options={"bias_factor": β, "weight_scale": S})`` for both source scales S, in the same
run: ``unit`` (σ_l = 1, the construction's default for these targets, β = 1) against the
He-scaled source it used before (``he``, β = 10: the φ-layer constants near saturation, where
their pools reach biases of order 1 at Λ = 1), and certifies it (``certify``: the Lipschitz
path). It reports the target's and the ticket's test accuracy
(the ticket is never trained), their agreement on the test inputs, observed / certified
error, RSS failures, nonzeros and CPU / wall time of the construction. A run that exceeds
``--time-limit`` seconds of construction is reported as such (exponential subset-sum search
on pools whose reach is below the target: the scale limit of proofs/l-plus-one-general.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import signal
import tempfile
import time
from pathlib import Path

from lotteryproofs import cli

HIDDEN = {"digits": "64,32", "breast-cancer": "16,8", "wine": "16,8"}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Timeout(Exception):
    pass


def run_one(dataset: str, activation: str, *, eps_param: float, rho: int, beta: float,
            weight_scale: str, time_limit: float) -> dict:
    from lotteryproofs import io
    from lotteryproofs.certify import certify
    from lotteryproofs.construct import construct
    from lotteryproofs.evaluate import dataset_report

    row = {"dataset": dataset, "activation": activation, "hidden": HIDDEN[dataset],
           "eps_param": eps_param, "rho": rho, "bias_factor": beta,
           "weight_scale": weight_scale}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "t.npz")
        code = cli.main(["train-target", "--dataset", dataset, "--hidden", HIDDEN[dataset],
                         "--activation", activation, "--seed", "0", "--out", path])
        if code:
            return {**row, "error": f"train-target exit {code}"}
        target, metadata = io.read_target(path)
        cpu, wall = _cpu(), time.perf_counter()

        def alarm(*_):
            raise _Timeout

        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(int(time_limit))
        try:
            ticket = construct(target, "l+1-general", eps_param=eps_param, delta=0.1, rng=0,
                               rho=rho, domain=io.target_box(metadata, target.widths[0]),
                               init_options={"bias_factor": beta,
                                             "weight_scale": weight_scale})
        except _Timeout:
            return {**row, "error": f"construction over {time_limit:.0f} s"}
        finally:
            signal.alarm(0)
        row["construct_cpu_s"] = round(_cpu() - cpu, 2)
        row["construct_wall_s"] = round(time.perf_counter() - wall, 2)
        cert = certify(ticket, target, io.target_box(metadata, target.widths[0]), rng=0,
                       n_samples=10_000)
        report = dataset_report(target, ticket, metadata) or {}
    e = cert.to_json()["errors"]
    return {**row, "target_acc": report.get("target_test_accuracy"),
            "ticket_acc": report.get("ticket_test_accuracy"),
            "agreement": report.get("agreement"), "n_test": report.get("n_test"),
            "observed": e["observed_output_error"], "certified": e["certified_output_error"],
            "failures": cert.rss["failures"], "instances": cert.rss["instances"],
            "ticket_nnz": cert.ticket_params_nonzero, "target_nnz": cert.target_params_nonzero}


def table(rows) -> str:
    head = ("| dataset | φ | hidden | source (β) | ε' | ρ | target acc | ticket acc | agree | "
            "observed / certified | failed/instances | ticket nnz (target) | "
            "construct CPU s (wall) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['activation']} | {r['hidden']} | "
                         f"{r['weight_scale']} ({r['bias_factor']:g}) | {r['eps_param']} | "
                         f"{r['rho']} | {r['error']} |" + " |" * 6)
            continue
        lines.append(
            f"| {r['dataset']} | {r['activation']} | {r['hidden']} | "
            f"{r['weight_scale']} ({r['bias_factor']:g}) | {r['eps_param']} | "
            f"{r['rho']} | {100 * r['target_acc']:.2f} % | {100 * r['ticket_acc']:.2f} % | "
            f"{100 * r['agreement']:.2f} % | {r['observed']:.2g} / {float(r['certified']):.2g}"
            f" | {r['failures']}/{r['instances']} | {r['ticket_nnz']} ({r['target_nnz']}) | "
            f"{r['construct_cpu_s']} ({r['construct_wall_s']}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(HIDDEN), choices=list(HIDDEN))
    parser.add_argument("--activations", nargs="+", default=["tanh", "logistic"],
                        choices=["tanh", "logistic"])
    parser.add_argument("--eps-param", type=float, default=0.02)
    parser.add_argument("--rho", type=int, default=30)
    parser.add_argument("--scales", nargs="+", default=["unit", "he"], choices=["unit", "he"])
    parser.add_argument("--bias-factor", type=float, default=None,
                        help="β (default: 1 for the unit-scale source, 10 for the He-scaled)")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--json", metavar="OUT.json")
    args = parser.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, {platform.python_version()}")
    rows = []
    for dataset in args.datasets:
        for activation in args.activations:
            for scale in args.scales:
                beta = args.bias_factor
                beta = (1.0 if scale == "unit" else 10.0) if beta is None else beta
                row = run_one(dataset, activation, eps_param=args.eps_param, rho=args.rho,
                              beta=beta, weight_scale=scale, time_limit=args.time_limit)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
