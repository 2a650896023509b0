"""Forward passes through the shared propagation routine against the loops they replaced.

    python benchmarks/bench_forward.py [--rev 1dd6477] [--repeats 7]

On a LeNet-300-100-sized ReLU network (784-300-100-10) and a sparse ticket-sized one, times
(min over repeats) ``Network.forward`` (batch 1 000 and a single input), the float interval
bound propagation, the observed search's column-layout forward (``Pair.errors``) and
edge-popup's ``masked_logits``, each beside the pre-redesign loop written out as it stood at
``--rev`` (read with ``git show``; same arithmetic, same order), interleaved. Exits 1 unless
the outputs are bit-for-bit equal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import timeit
import types
from pathlib import Path

import numpy as np

from lotteryproofs.certify import exact_forward, rigorous_preactivation_bounds
from lotteryproofs.certify.observed import Pair
from lotteryproofs.network import Box, Network
from lotteryproofs.popup import masked_logits

ROOT = Path(__file__).resolve().parent.parent


def _old_module(rev: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(name)
    module.__file__ = f"<{rev}:{path}>"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 (our own file)
    return module


def _times(fns, repeats: int) -> list[float]:
    """min over ``repeats`` rounds, the functions interleaved in every round (a busy machine's
    load then hits both alike)."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            # CPU time of this process: less sensitive to other jobs on a shared machine
            best[k] = min(best[k], timeit.timeit(fn, number=1, timer=time.process_time))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="1dd6477")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    old_net = _old_module(args.rev, "lotteryproofs/network.py", "_old_network")
    old_cert = _old_module(args.rev, "lotteryproofs/certify.py", "_old_certify")
    old_popup = _old_module(args.rev, "lotteryproofs/popup.py", "_old_popup")

    rng = np.random.default_rng(0)
    widths = (784, 300, 100, 10)
    weights = [rng.normal(size=(b, a)) / np.sqrt(a)
               for a, b in zip(widths, widths[1:], strict=False)]
    biases = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    new, old = Network(weights, biases), old_net.Network(weights, biases)
    x = rng.uniform(-1, 1, (1000, widths[0]))
    box = Box.cube(-1.0, 1.0, widths[0])
    old_box = old_net.Box.cube(-1.0, 1.0, widths[0])
    masks_w = [rng.random(w.shape) < 0.5 for w in weights]
    masks_b = [rng.random(b.shape) < 0.5 for b in biases]
    ticket = new.masked(masks_w, masks_b)

    rows = []

    def compare(label, new_fn, old_fn):
        a, b = new_fn(), old_fn()
        same = np.array_equal(a, b)
        t_new, t_old = _times([new_fn, old_fn], args.repeats)
        rows.append((label, t_old, t_new, same))

    compare("forward batch 1000", lambda: new.forward(x), lambda: old.forward(x))
    compare("forward single", lambda: new.forward(x[0]), lambda: old.forward(x[0]))
    compare("float IBP", lambda: np.concatenate([np.concatenate(p) for p in
                                                new.preactivation_bounds(box)]),
            lambda: np.concatenate([np.concatenate(p) for p in old.preactivation_bounds(old_box)]))
    compare("rigorous IBP", lambda: np.concatenate([np.concatenate(p) for p in
                                                   rigorous_preactivation_bounds(new, box)]),
            lambda: np.concatenate([np.concatenate(p) for p in
                                    old_cert.rigorous_preactivation_bounds(new, box)]))
    small = Network([w[:, :20] for w in weights[:1]] + weights[1:], biases)
    x0 = x[0, :20]
    compare("exact forward (20-300-100-10)", lambda: np.array(exact_forward(small, x0)),
            lambda: np.array(old_cert.exact_forward(small, x0)))
    new_pair, old_pair = Pair(new, ticket, 2.0), old_cert._Pair(new, ticket, 2.0)
    compare("observed errors 1000", lambda: new_pair.errors(x), lambda: old_pair.errors(x))
    compare("popup masked_logits", lambda: masked_logits(new, masks_w, masks_b, 0.3, x),
            lambda: old_popup.masked_logits(new, masks_w, masks_b, 0.3, x))

    print(f"{'pass':30s} {'before (ms)':>12s} {'after (ms)':>12s} {'ratio':>7s}  bit-equal")
    for label, t_old, t_new, same in rows:
        print(f"{label:30s} {1e3 * t_old:12.3f} {1e3 * t_new:12.3f} {t_new / t_old:7.3f}  {same}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
