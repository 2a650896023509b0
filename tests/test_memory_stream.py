"""The construction streams its subset-sum instances in blocks: the ticket does not depend on
the block size, and the memory estimate bounds what the streamed pipeline really allocates."""

from __future__ import annotations

import numpy as np
import pytest

from lotteryproofs import io
from lotteryproofs.construct import common, construct
from lotteryproofs.network import Box
from lotteryproofs.targets import random_target

CASES = [  # (method, target widths, ρ): one per solver path (sign split, copies, gain cap)
    ("2l", (5, 4, 3), 5),
    ("l+1", (4, 3, 2), 3),
    ("l+1-bounded", (4, 3, 2), 3),
]


def _ticket_bytes(tmp_path, method, widths, rho, block, monkeypatch) -> bytes:
    monkeypatch.setattr(common, "BLOCK_INSTANCES", block)
    target = random_target(widths, np.random.default_rng(3))
    ticket = construct(target, method, eps_param=0.05, delta=0.1, rng=11, rho=rho,
                       keep_source=False, domain=Box.cube(-1.0, 1.0, widths[0]))
    path = tmp_path / f"{method}-{block}.npz"
    io.save_ticket(ticket, path, store_log=True)
    return path.read_bytes(), ticket.rss_log.n_instances


@pytest.mark.parametrize(("method", "widths", "rho"), CASES)
def test_ticket_bytes_do_not_depend_on_the_block_size(tmp_path, monkeypatch, method, widths,
                                                      rho):
    """Block 1 solves every instance alone (the reference: nothing shared between
    instances); blocks of 3 and one block for all must give the same file, byte for byte
    (kept positions, values and the whole RSS log). A block boundary that drops, repeats or
    shifts an instance, or a compaction that reorders chosen neurons, changes the bytes."""
    alone, n = _ticket_bytes(tmp_path, method, widths, rho, 1, monkeypatch)
    assert n > 10  # several blocks of 3 per layer
    for block in (3, 1 << 20):
        got, _ = _ticket_bytes(tmp_path, method, widths, rho, block, monkeypatch)
        assert got == alone, (method, block)


def test_compacted_keeps_the_chosen_candidates_in_order():
    """The compacted solution lists, per instance, exactly the chosen (neuron, value) pairs of
    the full tables in their order, and the same sums (a direct loop as the reference)."""
    rng = np.random.default_rng(0)
    b, n = 30, 9
    neurons = rng.integers(0, 100, (b, n))
    lengths = rng.integers(0, n + 1, b)
    neurons[np.arange(n)[None, :] >= lengths[:, None]] = -1
    values = np.where(neurons >= 0, rng.uniform(-1, 1, (b, n)), 0.0)
    inst = common.Instances(layer=np.zeros(b, np.int64), row=np.arange(b), col=np.arange(b),
                            part=0, copy=np.zeros(b, np.int64), target=rng.uniform(-1, 1, b),
                            values=values, neurons=neurons, lengths=lengths)
    solved = common.solve(inst, 0.05)
    small = solved.compacted()
    for m in range(b):
        picked = [k for k in range(n) if solved.chosen[m, k]]
        assert small.instances.neurons[m][small.chosen[m]].tolist() == \
            [int(neurons[m, k]) for k in picked]
        assert small.instances.values[m][small.chosen[m]].tolist() == \
            [float(values[m, k]) for k in picked]
    assert small.instances.lengths.tolist() == lengths.tolist()
    assert np.array_equal(small.error, solved.error)
    for a, c in zip(solved.chosen_neurons(), small.chosen_neurons(), strict=True):
        assert np.array_equal(a, c)


def test_estimate_bounds_the_traced_peak_of_the_streamed_command(tmp_path, monkeypatch):
    """``construct TARGET --method 2l --rho R --out --json`` with blocks of 64 instances (the
    block term exercised, several blocks per layer): the traced peak (tracemalloc: numpy
    buffers and Python objects allocated by the command, after a warm-up command has imported
    and compiled everything) is below the array part of memory.construct_estimate (without
    the interpreter's baseline). Checked here at 30-20-5 (ρ = 12) and 64-24-4 (ρ = 16); by
    resident size at 784-125-125-10 and 784-1000-1000-10, ρ = 40 (benchmarks/README.md)."""
    import tracemalloc

    from lotteryproofs import memory
    from lotteryproofs.cli import main
    from lotteryproofs.construct import source_widths

    monkeypatch.setattr(common, "BLOCK_INSTANCES", 64)

    def run(name, rho):
        return main(["construct", name, "--method", "2l", "--rho", str(rho), "--out",
                     str(tmp_path / "t.npz"), "--json", str(tmp_path / "c.json")])

    assert run("random:3-4-2", 3) == 0
    for widths, rho in (((30, 20, 5), 12), ((64, 24, 4), 16)):
        tracemalloc.start()
        try:
            assert run("random:" + "-".join(map(str, widths)), rho) == 0
            traced = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        estimate = memory.method_estimate("2l", widths, source_widths("2l", widths, rho), rho,
                                          certify=True, save=True)
        arrays = estimate.peak - memory.BASELINE_BYTES
        assert traced <= arrays, (widths, traced, estimate.stages)
