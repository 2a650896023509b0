"""What the gain constraint costs: bounded-gain L+1 against plain L+1 (benchmarks/README.md).

    python benchmarks/bench_bounded_gain.py rss            # failure table of the RSS mode
    python benchmarks/bench_bounded_gain.py copy-rates     # the same, real copy-layer targets
    python benchmarks/bench_bounded_gain.py copy-rates --wide --trials 2000  # 40 vs 74, 80
    python benchmarks/bench_bounded_gain.py constructions  # l+1-bounded vs l+1, equal ρ and ε'
    python benchmarks/bench_bounded_gain.py real           # wine, breast cancer, digits
    python benchmarks/bench_bounded_gain.py real --datasets wine --rho 40 --rho-in 60
    python benchmarks/bench_bounded_gain.py lenet --rho 10 --rho-in 60 --certify
    python benchmarks/bench_bounded_gain.py real-api --datasets wine --rho 80 --rho-in 80

``rss``: per law of laws.py (uniform, normal, product), pool size n and ε', the failure rate
per instance (no subset within ε', resp. none within ε' and the gain cap) of the exact sparsest
solver unconstrained, with the absolute budget γ = 2 of the construction (c = γ/ε') and with a
fixed c = 1; targets z ~ U[-1, 1]; 95 % Clopper–Pearson intervals (lotteryproofs.stats).

``constructions``: random targets, the same seeds, ε' and ρ for both methods: failed instances
(with Clopper–Pearson intervals over all instances) and ticket nonzeros.

``real``: exactly what a user runs, one subprocess per row (so peak memory is the row's own,
from /usr/bin/time): ``lotteryproofs construct NAME --method l+1-bounded --eps 0.1 --rho R
--rho-in RI --json C.json`` (ε' chosen by the bounded-gain a-priori bound), and plain l+1 with
``--eps-param`` = that same ε' (its own a-priori ε' is ~10⁻⁹, see the real-targets section).

``real-api``: the registered l+1-bounded at the a-priori ε' for ε (as ``construct --eps``),
through the Python API in this process, with the ``allocated`` part's columns: failures per
layer and part, gain violations, certificate (certified against its a-priori bound), test
accuracy, agreement, wall/CPU and peak RSS.

``lenet``: LeNet-300-100, both methods in one process at ε' = 0.01 (the a-priori ε' is far out
of reach there), only while /proc/meminfo shows ≥ 14 GB available (plain l+1 peaked at 9.3 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"wine": "wine-16-8", "breast-cancer": "breast-cancer-16-8", "digits": "digits-64-32"}


def _interval(k: int, n: int) -> str:
    from lotteryproofs.stats import clopper_pearson

    lo, hi = clopper_pearson(k, n)
    return f"{k / n:.4f} [{lo:.4f}, {hi:.4f}]"


def rss_table(trials: int, seed: int) -> str:
    from lotteryproofs import laws
    from lotteryproofs.construct.bounded_gain import GAIN_BUDGET
    from lotteryproofs.rss import sparsest_subset_sum_batch

    rng = np.random.default_rng(seed)
    lines = ["| law | n | ε' | unconstrained | γ = 2 (c = γ/ε') | c = 1 | time s |",
             "|---|---|---|---|---|---|---|"]
    for law in ("uniform", "normal", "product"):
        for n in (20, 30, 40):
            for eps in (1e-2, 1e-3, 1e-4):
                values = laws.sample(law, rng, (trials, n))
                targets = rng.uniform(-1, 1, trials)
                start = time.perf_counter()
                cells = []
                for c in (None, GAIN_BUDGET / eps, 1.0):
                    r = sparsest_subset_sum_batch(values, targets, eps, gain_slack=c)
                    cells.append(_interval(int((~r.feasible).sum()), trials))
                lines.append(f"| {law} | {n} | {eps:g} | {' | '.join(cells)} | "
                             f"{time.perf_counter() - start:.1f} |")
                print(lines[-1], flush=True)
    return "\n".join(lines)


#: (target, n, ε', γ, instances) cells of ``copy-rates``: the pool sizes and ε' the per-layer
#: allocation gives the real targets' copy layers (benchmarks/README.md, "Per-layer allocation")
COPY_RATE_CELLS = (
    [("wine", 40, e, g, 400) for e in (1.5e-5, 3e-5, 1e-4) for g in (2.0, 0.5, 0.25)]
    + [(k, n, e, 2.0, 300) for k, es in (("wine", (1e-5, 2.2e-6)),
                                        ("breast-cancer", (2e-6, 3.5e-7)),
                                        ("digits", (1e-8,)))
       for e in es for n in (40, 46)])


def copy_rate_table(seed: int) -> str:
    """The bounded-gain mode's failure rate with targets drawn from a real target's copy-layer
    weights W_2…W_L (nonzero), values U[−1, 1], c = γ/ε'; 95 % Clopper–Pearson; CPU per
    instance. n = 46 is the largest pool the engine's memory guard admits on 2 threads."""
    from lotteryproofs import laws
    from lotteryproofs.io import read_target
    from lotteryproofs.rss import sparsest_subset_sum_batch

    rng = np.random.default_rng(seed)
    lines = ["| targets | n | ε' | γ | failed (95 % CP) | CPU ms/instance |",
             "|---|---|---|---|---|---|"]
    for key, n, eps, gamma, trials in COPY_RATE_CELLS:
        target, _ = read_target(TARGETS[key])
        pool = np.concatenate([np.ravel(w) for w in target.weights[1:]])
        pool = pool[pool != 0]
        values = laws.sample("uniform", rng, (trials, n))
        targets = rng.choice(pool, trials)
        cpu = time.process_time()
        r = sparsest_subset_sum_batch(values, targets, eps, gain_slack=gamma / eps)
        ms = 1000 * (time.process_time() - cpu) / trials
        lines.append(f"| {key} | {n} | {eps:g} | {gamma:g} | "
                     f"{_interval(int((~r.feasible).sum()), trials)} | {ms:.1f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


#: (n, search) cells of ``copy-rates --wide``: the exhaustive search at the old cap of 40, the
#: cardinality search (subsets ≤ MAX_CARD_SIZE) at 40 and at the wide pools it makes possible
WIDE_CELLS = ((40, "exhaustive"), (40, "cardinality"), (74, "cardinality"),
              (80, "cardinality"))


def wide_copy_rate_table(trials: int, seed: int, eps_params=(1e-5, 2.2e-6)) -> str:
    """``copy-rates --wide``: wine's copy-layer targets (W_2…W_L, nonzero), values U[−1, 1],
    γ = 2 (c = γ/ε'), the same instances for every search at equal n; failure rate with 95 %
    Clopper–Pearson intervals, subset sizes of the solved ones, CPU per instance."""
    from lotteryproofs import laws
    from lotteryproofs.construct.common import MAX_CARD_SIZE
    from lotteryproofs.io import read_target
    from lotteryproofs.rss import sparsest_subset_sum_batch

    target, _ = read_target(TARGETS["wine"])
    pool = np.concatenate([np.ravel(w) for w in target.weights[1:]])
    pool = pool[pool != 0]
    lines = [f"| n | search | ε' | failed / {trials} (95 % CP) | subset size mean (max) | "
             "CPU ms/instance |", "|---|---|---|---|---|---|"]
    for eps in eps_params:
        for n, search in WIDE_CELLS:
            # one draw per (n, ε'): both searches at n = 40 see the same instances
            rng = np.random.default_rng([seed, n, int(round(-np.log10(eps) * 100))])
            values = laws.sample("uniform", rng, (trials, n))
            targets = rng.choice(pool, trials)
            extra = ({"by_cardinality": True, "max_size": MAX_CARD_SIZE}
                     if search == "cardinality" else {})
            cpu = time.process_time()
            r = sparsest_subset_sum_batch(values, targets, eps, gain_slack=2.0 / eps, **extra)
            ms = 1000 * (time.process_time() - cpu) / trials
            sizes = r.size[r.feasible]
            lines.append(f"| {n} | {search} | {eps:g} | "
                         f"{_interval(int((~r.feasible).sum()), trials)} | "
                         f"{sizes.mean():.2f} ({sizes.max()}) | {ms:.1f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def construction_table(seeds: int) -> str:
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Box
    from lotteryproofs.stats import mean_interval
    from lotteryproofs.targets import random_target

    lines = ["| target | ε' | ρ = ρ_in | method | failed / instances (95 % CP) | ticket nnz "
             "(mean [95 %]) | s |", "|---|---|---|---|---|---|---|"]
    for widths in ((4, 8, 6, 3), (6, 12, 8, 4, 2)):
        for eps, rho in ((1e-2, 32), (1e-3, 40)):
            for method in ("l+1", "l+1-bounded"):
                fails = total = 0
                nnz = []
                start = time.perf_counter()
                for s in range(seeds):
                    target = random_target(widths, np.random.default_rng(s))
                    ticket = construct(target, method, eps_param=eps, delta=0.1, rng=100 + s,
                                       domain=Box.cube(-1.0, 1.0, widths[0]), rho=rho,
                                       rho_in=rho)
                    fails += int(ticket.rss_log.failed.sum())
                    total += int(ticket.rss_log.failed.size)
                    nnz.append(ticket.count_nonzero())
                m, lo, hi = mean_interval(nnz)
                lines.append(f"| {'-'.join(map(str, widths))} | {eps:g} | {rho} | {method} | "
                             f"{fails}/{total}: {_interval(fails, total)} | {m:.0f} "
                             f"[{lo:.0f}, {hi:.0f}] | {time.perf_counter() - start:.1f} |")
                print(lines[-1], flush=True)
    return "\n".join(lines)


def _bounded_eps_param(name: str, eps: float) -> float:
    from lotteryproofs.commands.construct import _eps_param_from_eps
    from lotteryproofs.io import read_target, target_box

    network, metadata = read_target(name)
    return _eps_param_from_eps(eps, "l+1-bounded", network,
                               target_box(metadata, network.widths[0]))


def run_cli(argv: list[str]) -> dict:
    """One ``lotteryproofs construct`` in a subprocess under /usr/bin/time; the certificate."""
    with tempfile.TemporaryDirectory() as folder:
        cert = Path(folder) / "c.json"
        cmd = ["/usr/bin/time", "-f", "TIME %e %U %S %M", sys.executable, "-m", "lotteryproofs",
               *argv, "--json", str(cert)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        timing = [ln for ln in proc.stderr.splitlines() if ln.startswith("TIME ")]
        wall, user, sys_, rss_kb = (float(x) for x in timing[-1].split()[1:]) if timing else (
            (float("nan"),) * 4)
        row = {"wall_s": wall, "cpu_s": user + sys_, "peak_mb": rss_kb / 1024,
               "rc": proc.returncode}
        if proc.returncode != 0:
            row["error"] = proc.stderr.strip().splitlines()[-2:]
            return row
        data = json.loads(cert.read_text())
    d, e = data.get("dataset") or {}, data["errors"]
    row.update({
        "eps_param": data["eps_param"], "target_acc": d.get("target_test_accuracy"),
        "ticket_acc": d.get("ticket_test_accuracy"), "agreement": d.get("agreement"),
        "observed": e["observed_output_error"], "certified": e["certified_output_error"],
        "a_priori": e["a_priori_output_error"], "instances": data["rss"]["instances"],
        "failures": data["rss"]["failures"], "ticket_nnz": data["ticket"]["params_nonzero"],
        "target_nnz": data["target"]["params_nonzero"],
        "source_params": data["source"]["params"], "construct_s": data["time_s"]})
    return row


def real_rows(datasets, rho: int, rho_in: int, eps: float,
              methods=("l+1-bounded", "l+1")) -> list[dict]:
    rows = []
    for key in datasets:
        name = TARGETS[key]
        eps_param = _bounded_eps_param(name, eps)
        common = ["construct", name, "--rho", str(rho), "--rho-in", str(rho_in), "--seed", "0"]
        for method, accuracy in (("l+1-bounded", ["--eps", str(eps)]),
                                 ("l+1", ["--eps-param", repr(eps_param)])):
            if method not in methods:
                continue
            row = {"target": name, "method": method, "rho": rho, "rho_in": rho_in,
                   **run_cli([*common, "--method", method, *accuracy])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def allocated_row(key: str, rho: int, rho_in: int, eps: float, budgets, shares) -> dict:
    """Bounded-gain L+1 with ε'_l, γ_l per layer (proofs/bounded-gain-l+1.md, "Per-layer
    allocation"), through the Python API: failures per layer (error > ε'_l, recomputed here
    from the log's exact errors), measured gains against |w| + γ_l and a_l + γ_l k_l, the
    allocated a-priori bound Σ ε'_l c_l, the certificate, test accuracy and agreement."""
    import dataclasses
    import resource

    from lotteryproofs import bounds
    from lotteryproofs.certify import certified_output_error, certify
    from lotteryproofs.construct import construct, represented_layers
    from lotteryproofs.construct.bounded_gain import (
        CONSTRUCTION,
        GAIN_BUDGET,
        allocated,
        allocated_build,
    )
    from lotteryproofs.evaluate import dataset_report
    from lotteryproofs.io import read_target, target_box

    target, metadata = read_target(TARGETS[key])
    box = target_box(metadata, target.widths[0])
    norms = bounds.target_norms(target, target.activation_bounds(box),
                                input_has_negative=bool(box.has_negative.any()))
    if shares is None:
        # the registered construction at the uniform a-priori ε' for ε (``real-api``)
        budgets = (0.0,) + (GAIN_BUDGET,) * (target.depth - 1)
        eps_params = (_bounded_eps_param(TARGETS[key], eps),) * target.depth
        a_priori, certifiable, record = None, True, "l+1-bounded"
    else:
        budgets = (0.0, *budgets)
        eps_params = bounds.allocate_eps_params(norms, eps, budgets, shares)
        a_priori = float(bounds.allocated_a_priori_error(norms, eps_params, budgets))
        certifiable = max(budgets[1:]) <= GAIN_BUDGET
        # γ_l above the registered γ: certify() would read the registered bound by the method
        # name, so such a ticket gets only the recursion (certified_output_error) and Σ ε'_l c_l
        record = (allocated(eps_params, budgets) if certifiable else dataclasses.replace(
            CONSTRUCTION, build=allocated_build(eps_params, budgets)))
    start, cpu = time.perf_counter(), time.process_time()
    ticket = construct(target, record, eps_param=max(eps_params),
                       delta=0.1, rng=0, domain=box, rho=rho, rho_in=rho_in)
    build_s, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    log = ticket.rss_log
    layer = np.asarray(log.layer)
    failed = np.asarray(log.error) > np.asarray(eps_params)[layer]
    assert np.array_equal(failed, np.asarray(log.failed)), "log flags differ from ε'_l"
    represented = represented_layers(ticket)
    gain_excess = 0
    for t in range(1, target.depth):
        w = target.weights[t]
        allowed = np.where(np.abs(w) > eps_params[t], np.abs(w) + budgets[t], 0.0)
        gain = np.asarray(represented[t].gain)
        row_gain = float(gain.sum(axis=2).max())
        a_l = bounds._fsum_up_rows(np.abs(w))
        k_l = int(np.count_nonzero(w, axis=1).max())
        gain_excess += int(np.count_nonzero(gain > allowed[None]))
        gain_excess += int(row_gain > a_l + budgets[t] * k_l)
    start = time.perf_counter()
    recursion = certified_output_error(target, box, represented)
    if certifiable:
        cert = certify(ticket, target, box)
        observed, certified = cert.observed_output_error, cert.certified_output_error
        if a_priori is None:
            a_priori = cert.a_priori_output_error
    else:
        observed, certified = None, recursion
    x = box.sample(10_000, np.random.default_rng(1))
    sampled = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    data = dataset_report(target, ticket, metadata) or {}
    row = {"target": TARGETS[key], "rho": rho, "rho_in": rho_in, "eps": eps,
           "budgets": budgets[1:], "shares": None if shares is None else tuple(shares),
           "eps_params": [float(f"{e:.4g}") for e in eps_params],
           "a_priori_allocated": a_priori,
           "failed_per_layer": [int(failed[layer == t].sum()) for t in range(target.depth)],
           "instances_per_layer": [int((layer == t).sum()) for t in range(target.depth)],
           "gain_violations": gain_excess,
           # (layer, part): failed, instances, candidates searched (min–max) of the failed
           "failed_by_part": _failed_by_part(log, failed),
           "observed": observed, "sampled_max_10k": sampled, "recursion": recursion,
           "certified": certified, "certifiable": certifiable,
           "target_acc": data.get("target_test_accuracy"),
           "ticket_acc": data.get("ticket_test_accuracy"), "agreement": data.get("agreement"),
           "ticket_nnz": ticket.count_nonzero(), "target_nnz": target.count_nonzero(),
           "source_params": ticket.source.n_params, "construct_s": round(build_s, 1),
           "construct_cpu_s": round(build_cpu, 1),
           "certify_s": round(time.perf_counter() - start, 1),
           "load": round(os.getloadavg()[0], 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(row), flush=True)
    return row


def _failed_by_part(log, failed) -> dict:
    """'l{layer+1}/part{p}': [failed, instances, fewest and most candidates of a failed one]."""
    layer, part = np.asarray(log.layer), np.asarray(log.part)
    n_cand = np.asarray(log.n_candidates)
    out = {}
    for t, p in sorted(set(zip(layer.tolist(), part.tolist(), strict=True))):
        here = (layer == t) & (part == p)
        bad = here & failed
        out[f"l{t + 1}/part{p}"] = [int(bad.sum()), int(here.sum()),
                                    int(n_cand[bad].min()) if bad.any() else None,
                                    int(n_cand[bad].max()) if bad.any() else None]
    return out


def available_gb() -> float:
    """MemAvailable of /proc/meminfo in GB (the LeNet rows need ≥ 14 GB; others share it)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def lenet_rows(rho: int, rho_in: int, eps_param: float, certify_too: bool) -> list[dict]:
    """LeNet-300-100, plain and bounded-gain L+1 in the same run, same seed, ε', ρ, ρ_in:
    failures, nonzeros, agreement and output error on 10⁴ box inputs, certified bound, time."""
    import gc
    import resource

    from lotteryproofs.certify import certify
    from lotteryproofs.construct import construct
    from lotteryproofs.construct.common import compact
    from lotteryproofs.io import read_target, target_box

    target, metadata = read_target("lenet300100")
    box = target_box(metadata, target.widths[0])
    x = box.sample(10_000, np.random.default_rng(1))
    exact = target.forward(x)
    rows = []
    for method in ("l+1", "l+1-bounded"):
        if available_gb() < 14:
            rows.append({"method": method, "skipped": f"{available_gb():.1f} GB available"})
            print(json.dumps(rows[-1]), flush=True)
            continue
        start, cpu = time.perf_counter(), time.process_time()
        ticket = construct(target, method, eps_param=eps_param, delta=0.1, rng=0, domain=box,
                           rho=rho, rho_in=rho_in)
        row = {"method": method, "rho": rho, "rho_in": rho_in, "eps_param": eps_param,
               "construct_s": round(time.perf_counter() - start, 1),
               "construct_cpu_s": round(time.process_time() - cpu, 1),
               "load": round(os.getloadavg()[0], 1), "source_params": ticket.source.n_params,
               "instances": ticket.rss_log.n_instances,
               "failures": int(ticket.rss_log.failed.sum()),
               "max_param_error": float(ticket.rss_log.error.max()),
               "nonzeros": ticket.count_nonzero()}
        approx = compact(ticket.network).forward(x) / ticket.scale
        err = np.max(np.abs(approx - exact), axis=1)
        row.update({"out_err_mean": float(err.mean()), "out_err_max": float(err.max()),
                    "agreement": float(np.mean(np.argmax(approx, 1) == np.argmax(exact, 1)))})
        if certify_too:
            start = time.perf_counter()
            cert = certify(ticket, target, box, n_samples=1000)
            row.update({"certified": cert.certified_output_error,
                        "a_priori": cert.a_priori_output_error,
                        "certify_s": round(time.perf_counter() - start, 1)})
        row["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
        del ticket
        gc.collect()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("rss", "copy-rates", "constructions", "real",
                                         "real-api", "allocated", "lenet"))
    parser.add_argument("--budgets", type=float, nargs="+", default=None,
                        help="allocated: γ_l of the copy layers l = 2…L")
    parser.add_argument("--shares", type=float, nargs="+", default=None,
                        help="allocated: s_l, l = 1…L, Σ s_l ≤ 1 (ε'_l = s_l ε / c_l)")
    parser.add_argument("--eps-param", type=float, default=0.01, help="lenet only")
    parser.add_argument("--certify", action="store_true", help="lenet: also certify")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--wide", action="store_true",
                        help="copy-rates: exhaustive at 40 against the cardinality search at "
                             "40, 74, 80 copies (--trials instances per cell)")
    parser.add_argument("--methods", nargs="+", default=["l+1-bounded", "l+1"],
                        choices=["l+1-bounded", "l+1"], help="real: which rows")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--rho", type=int, default=40)
    parser.add_argument("--rho-in", type=int, default=60)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--json", metavar="OUT.json")
    args = parser.parse_args(argv)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.2f}")
    start, cpu = time.perf_counter(), time.process_time()
    if args.part == "rss":
        out = rss_table(args.trials, 0)
    elif args.part == "copy-rates":
        out = wide_copy_rate_table(args.trials, 0) if args.wide else copy_rate_table(0)
    elif args.part == "constructions":
        out = construction_table(args.seeds)
    elif args.part == "real":
        out = real_rows(args.datasets, args.rho, args.rho_in, args.eps, args.methods)
    elif args.part == "real-api":
        out = [allocated_row(k, args.rho, args.rho_in, args.eps, None, None)
               for k in args.datasets]
    elif args.part == "allocated":
        out = [allocated_row(k, args.rho, args.rho_in, args.eps, args.budgets, args.shares)
               for k in args.datasets]
    else:
        out = lenet_rows(args.rho, args.rho_in, args.eps_param, args.certify)
    print(f"# wall {time.perf_counter() - start:.1f} s, CPU (this process) "
          f"{time.process_time() - cpu:.1f} s, load {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    if isinstance(out, str):
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
