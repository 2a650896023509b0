"""The paper's LeNet-300-100 end to end, as a user runs it: the ``construct`` command.

Times, as a subprocess each (wall, CPU = user + system, peak RSS of the child from
``resource.getrusage(RUSAGE_CHILDREN)``, measured in a fresh helper process per run so that the
maximum is that run's):

    lotteryproofs construct lenet300100 --method 2l --eps-param 0.01 --rho 60 --seed 0 \
        --out l.npz --json l.json                    # compact ticket (default)
    … the same with --store-source                   # today's full-source ticket file
    lotteryproofs verify l.npz --target lenet300100  # compact ticket: regenerates kept values
    lotteryproofs verify l.npz --target lenet300100 --full   # + the full source's sha256

and reports the ticket sizes, the certificate's numbers and the load average. The machine is
shared: read wall time beside CPU time.

    PYTHONPATH=. python benchmarks/bench_lenet_cli.py [--out benchmarks/results/lenet_cli.json]
        [--baseline /path/to/other/checkout] [--skip-store-source]

``--baseline PATH`` runs every command a second time with ``PYTHONPATH=PATH`` (another checkout
of the package, e.g. the main branch before a change), before the current code's
runs, so that before and after are measured in one run under similar load, and records
whether the compact ticket and its certificate (time_s aside) are byte-identical to the
baseline's (``same_bytes_as_baseline``). Each checkout also constructs the compact ticket with
``NUMBA_NUM_THREADS=1`` and ``=2`` and records whether both equal its default run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CONSTRUCT = ["construct", "lenet300100", "--method", "2l", "--eps-param", "0.01", "--rho", "60",
             "--seed", "0"]

#: Runs one command as a child and prints wall, CPU and the child's peak RSS as JSON.
_TIMER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": proc.returncode, "wall_s": wall,
                  "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024.0,
                  "stdout": proc.stdout, "stderr": proc.stderr[-2000:]}))
"""


def timed(args: list[str], cwd: Path, pythonpath: str | None = None,
          extra_env: dict | None = None) -> dict:
    command = [sys.executable, "-m", "lotteryproofs", *args]
    env = {**os.environ, **(extra_env or {})}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", _TIMER, *command], cwd=cwd, capture_output=True,
                         text=True, check=True, env=env)
    result = json.loads(out.stdout)
    if result["returncode"] != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result['stderr']}")
    return result


def _construction_time(stdout: str) -> float | None:
    for line in stdout.splitlines():
        if "construction time" in line:
            return float(line.rsplit("construction time", 1)[1].split()[0])
    return None


def _run_all(tmp: Path, pythonpath: str | None, store_source: bool) -> dict:
    # numba caches compiled code per source path: a checkout's first run would time the
    # compiler, so each checkout first runs the measured command once (untimed; a tiny
    # ticket left kernels of the LeNet run to compile inside the timed baseline run)
    timed([*CONSTRUCT, "--out", "warm.npz", "--json", "warm.json"], tmp, pythonpath)
    results = {}
    variants = [("compact", [])] + ([("store_source", ["--store-source"])] if store_source else [])
    for name, extra in variants:
        ticket, cert = f"{name}.npz", f"{name}.json"
        run = timed([*CONSTRUCT, "--out", ticket, "--json", cert, *extra], tmp, pythonpath)
        certificate = json.loads((tmp / cert).read_text())
        results[name] = {
            "wall_s": round(run["wall_s"], 2), "cpu_s": round(run["cpu_s"], 2),
            "peak_rss_mb": round(run["peak_rss_mb"], 1),
            "construction_s": _construction_time(run["stdout"]),
            "certificate_time_s": certificate.get("time_s"),
            "ticket_bytes": (tmp / ticket).stat().st_size,
            "nonzero": certificate["ticket"]["params_nonzero"],
            "rss_failures": certificate["rss"]["failures"],
            "errors": {k: certificate["errors"][k] for k in (
                "max_param_error", "observed_output_error", "certified_output_error",
                "a_priori_output_error")},
        }
        print(pythonpath or "current", name, json.dumps(results[name]), file=sys.stderr)
    for name, extra in (("verify", []), ("verify_full", ["--full"])):
        run = timed(["verify", "compact.npz", "--target", "lenet300100", *extra], tmp,
                    pythonpath)
        results[name] = {"wall_s": round(run["wall_s"], 2), "cpu_s": round(run["cpu_s"], 2),
                         "peak_rss_mb": round(run["peak_rss_mb"], 1)}
        print(pythonpath or "current", name, json.dumps(results[name]), file=sys.stderr)
    run = timed(["--version"], tmp, pythonpath)
    results["version"] = {"wall_s": round(run["wall_s"], 2), "cpu_s": round(run["cpu_s"], 2)}
    # same seed, same bytes whatever numba's thread count (the default uses every core)
    for threads in ("1", "2"):
        timed([*CONSTRUCT, "--out", f"t{threads}.npz", "--json", f"t{threads}.json"], tmp,
              pythonpath, {"NUMBA_NUM_THREADS": threads})
        results[f"same_bytes_numba_threads_{threads}"] = _same_files(tmp, "compact", f"t{threads}")
    return results


def _json_without_time(path: Path) -> str:
    """The certificate's text with its wall-clock field blanked (the only field that varies)."""
    return re.sub(r'"time_s": [0-9.eE+-]+', '"time_s": null', path.read_text())


def _same_files(tmp: Path, a: str, b: str, other: Path | None = None) -> bool:
    """Whether ticket a (in tmp) and ticket b (in ``other``, default tmp) have the same bytes
    and their certificates the same text but time_s."""
    other = tmp if other is None else other
    return ((tmp / f"{a}.npz").read_bytes() == (other / f"{b}.npz").read_bytes()
            and _json_without_time(tmp / f"{a}.json") == _json_without_time(other / f"{b}.json"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/lenet_cli.json")
    parser.add_argument("--baseline", help="another checkout, run with PYTHONPATH=BASELINE")
    parser.add_argument("--skip-store-source", action="store_true")
    args = parser.parse_args(argv)
    results = {"load_average_before": os.getloadavg()}
    current = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.baseline:
            (tmp / "baseline").mkdir()
            results["baseline"] = _run_all(tmp / "baseline", str(Path(args.baseline).resolve()),
                                           not args.skip_store_source)
            results["baseline_path"] = str(Path(args.baseline).resolve())
        (tmp / "current").mkdir()
        results.update(_run_all(tmp / "current", str(Path(current).resolve()),
                                not args.skip_store_source))
        if args.baseline:  # the change must not change a byte of the ticket or certificate
            results["same_bytes_as_baseline"] = _same_files(tmp / "current", "compact",
                                                            "compact", tmp / "baseline")
    results["load_average_after"] = os.getloadavg()
    results["command"] = "lotteryproofs " + " ".join(CONSTRUCT) + " --out l.npz --json l.json"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
