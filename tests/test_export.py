"""``lotteryproofs export``: the standalone network, the torch pruning state dict, the source.

Expected values are independent of the export code: the ticket's own function Λ⁻¹·f_S
(Ticket.approximation on its support), the full source regenerated from the seed, and the
names torch.nn.utils.prune gives (it renames parameter ``name`` to ``name + "_orig"`` and
registers the buffer ``name + "_mask"``; nn.Sequential names its modules 0, 1, 2, …).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lotteryproofs import io
from lotteryproofs.network import network_sha256

ROOT = Path(__file__).resolve().parents[1]
TARGET = "random:4-8-8-2:3"


def _cli(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lotteryproofs", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True, timeout=300)


@pytest.fixture(scope="module")
def ticket_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    _cli("construct", TARGET, "--method", "2l", "--rho", "16", "--out", "t.npz", cwd=d)
    return d


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_network_export_is_the_tickets_function(ticket_dir, suffix):
    out = f"net{suffix}"
    _cli("export", "t.npz", "--format", "network", "--out", out, cwd=ticket_dir)
    ticket = io.load_ticket(ticket_dir / "t.npz")
    exported, metadata = io.read_target(str(ticket_dir / out))
    box = io.target_box(metadata, exported.widths[0])
    x = box.sample(10_000, np.random.default_rng(1))
    want = io.full_source_ticket(ticket).approximation(x)   # on the regenerated full source
    assert np.max(np.abs(exported.forward(x) - want)) <= 1e-12
    assert exported.widths[0] == ticket.source_widths[0]
    assert exported.widths[-1] == ticket.source_widths[-1]
    assert sum(exported.widths[1:-1]) < sum(ticket.source_widths[1:-1])  # unused neurons gone
    # loadable by the commands: construct a ticket for it
    _cli("construct", out, "--method", "2l", "--rho", "4", cwd=ticket_dir)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_torch_prune_export(ticket_dir, suffix):
    out = f"prune{suffix}"
    _cli("export", "t.npz", "--format", "torch-prune", "--out", out, cwd=ticket_dir)
    arrays, metadata = io.read_arrays(ticket_dir / out)
    ticket = io.load_ticket(ticket_dir / "t.npz")
    depth = len(ticket.source_widths) - 1
    expected = {"lotteryproofs.output_scale"}
    for k in range(depth):
        module = str(2 * k)  # Linear, ReLU, Linear, … in an nn.Sequential
        for name in ("weight", "bias"):
            expected |= {f"{module}.{name}_orig", f"{module}.{name}_mask"}
    assert set(arrays) == expected
    full = ticket.origin.spec.network()  # the source, regenerated independently of the export
    f_s = io.full_source_ticket(ticket).network
    for k in range(depth):
        for name, source, pruned in (("weight", full.weights[k], f_s.weights[k]),
                                     ("bias", full.biases[k], f_s.biases[k])):
            orig, mask = arrays[f"{2 * k}.{name}_orig"], arrays[f"{2 * k}.{name}_mask"]
            assert orig.tobytes() == source.tobytes()
            assert mask.dtype == orig.dtype and set(np.unique(mask)) <= {0.0, 1.0}
            assert np.array_equal(orig * mask, pruned)
    assert float(arrays["lotteryproofs.output_scale"][0]) == ticket.scale
    assert metadata["output_scale_key"] == "lotteryproofs.output_scale"


def test_source_export_is_the_store_source_ticket(ticket_dir):
    _cli("export", "t.npz", "--format", "source", "--out", "s.npz", cwd=ticket_dir)
    _cli("construct", TARGET, "--method", "2l", "--rho", "16", "--out", "f.npz",
         "--store-source", cwd=ticket_dir)
    exported, stored = io.load_ticket(ticket_dir / "s.npz"), io.load_ticket(ticket_dir / "f.npz")
    compact = io.load_ticket(ticket_dir / "t.npz")
    assert not exported.compact and not stored.compact
    assert network_sha256(exported.source) == network_sha256(stored.source) \
        == compact.origin.source_sha256
    for a, b in zip(exported.weight_masks + exported.bias_masks,
                    stored.weight_masks + stored.bias_masks, strict=True):
        assert np.array_equal(a, b)


def test_verify_full_matches_the_sha256(ticket_dir):
    out = _cli("verify", "t.npz", "--target", TARGET, "--full", cwd=ticket_dir)
    assert "sha256" in out.stdout and "matches" in out.stdout


def test_network_export_of_a_compact_tanh_ticket(tmp_path):
    """A general-L+1 ticket (identity, tanh), compact on disk: its network export is read
    back with those activations and computes the ticket's function to 1e-12 on 10⁴ inputs
    (the reference: the ticket regenerated whole from its seed, evaluated by Network)."""
    from lotteryproofs.cli import main
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Network
    from lotteryproofs.targets import random_target

    drawn = random_target((3, 4, 2), np.random.default_rng(8))
    target = Network(drawn.weights, drawn.biases, activation="tanh")
    io.save_ticket(construct(target, "l+1-general", eps_param=0.1, delta=0.1, rng=2, rho=8,
                             keep_source=False), tmp_path / "t.npz", store_log=False)
    assert main(["export", str(tmp_path / "t.npz"), "--format", "network", "--out",
                 str(tmp_path / "n.npz")]) == 0
    exported, _ = io.read_target(str(tmp_path / "n.npz"))
    assert [a.spec for a in exported.activations] == ["identity", "tanh"]
    full = io.full_source_ticket(io.load_ticket(tmp_path / "t.npz"))
    assert not full.compact
    x = np.random.default_rng(9).uniform(-1, 1, (10_000, 3))
    assert np.max(np.abs(exported.forward(x) - full.network.forward(x) / full.scale)) <= 1e-12
