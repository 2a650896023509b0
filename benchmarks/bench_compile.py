"""The first run's cost: compiling the RSS engine into an empty numba cache.

numba compiles every ``@njit(cache=True)`` kernel the first time a process calls it and writes
the machine code to its cache (lotteryproofs/rss/_numba_cache.py); a fresh install, a new
checkout or an edited kernel starts from an empty cache. This times the user's command,
``lotteryproofs construct random:3-4-2 --method 2l --rho 8 --seed 0 --out t.npz`` (a target so
small that the run is almost all compiling), in a child process with an empty cache ("cold")
and again with the cache it wrote ("warm"), for this checkout and for a baseline checkout given
with ``--before`` (e.g. ``git worktree add /tmp/before <commit>``), alternating, so both see the
same load. Wall time and the child's CPU time (user + system) per run; the tickets of the two
checkouts must be byte-identical (the kernels' results do not depend on their compilation).

    python benchmarks/bench_compile.py --before /tmp/before --rounds 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ARGV = ["construct", "random:3-4-2", "--method", "2l", "--rho", "8", "--seed", "0"]


def _run(tree: Path, cache: Path, out: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache))
    # cwd outside both checkouts: ``python -m`` puts the working directory first on sys.path
    where = subprocess.run([sys.executable, "-c", "import lotteryproofs as m; print(m.__file__)"],
                           env=env, check=True, capture_output=True, text=True, cwd=out.parent)
    assert Path(where.stdout.strip()).is_relative_to(tree), (tree, where.stdout)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lotteryproofs", *ARGV, "--out", str(out)], env=env,
                   check=True, capture_output=True, cwd=out.parent)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="baseline checkout")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": HERE}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for r in range(args.rounds):
            for name, tree in trees.items():
                cache = scratch / f"cache-{name}-{r}"
                for phase in ("cold", "warm"):
                    out = scratch / f"{name}-{r}-{phase}.npz"
                    wall, cpu = _run(tree, cache, out)
                    rows.append((name, r, phase, wall, cpu))
                    print(f"{name:6s} round {r} {phase}: {wall:6.2f} s wall, {cpu:6.2f} s CPU",
                          flush=True)
        tickets = {(n, p): (scratch / f"{n}-0-{p}.npz").read_bytes()
                   for n in trees for p in ("cold", "warm")}
        assert len(set(tickets.values())) == 1, "the checkouts' tickets differ"
    for phase in ("cold", "warm"):
        cpu = {n: [c for (m, _, p, _, c) in rows if m == n and p == phase] for n in trees}
        mean = {n: sum(v) / len(v) for n, v in cpu.items()}
        print(f"{phase}: CPU before {mean['before']:.2f} s, after {mean['after']:.2f} s, "
              f"ratio {mean['before'] / mean['after']:.2f}x")
    print("tickets byte-identical across checkouts and runs")


if __name__ == "__main__":
    main()
