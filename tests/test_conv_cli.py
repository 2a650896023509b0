"""Convolutional targets on the command line: construct → ticket file → verify → export.

Oracles: the ticket file read back is source × mask of the source drawn again from the seed
(recomputed here by direct multiplication); the exported networks, rebuilt from their own
tensors, compute Λ⁻¹·f_S; the observed error of the exported network on fresh inputs (border
pixels included) stays below the certificate the command wrote; a file whose metadata lies
is rejected by ``verify`` (exit 1) and one whose kept values are not the seed's is refused
on reading (exit 2, tests/test_bad_input.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import io
from lotteryproofs.activations import IDENTITY, RELU
from lotteryproofs.architecture import network_from_architecture
from lotteryproofs.cli import main
from lotteryproofs.conv_layers import Conv2d, Flatten
from lotteryproofs.layers import Dense
from lotteryproofs.network import Box, Network, network_sha256
from lotteryproofs.residual import Residual
from lotteryproofs.ticket import ConvTicket

RHO = "20"


def small_conv_target(rng, *, residual: bool = False) -> Network:
    """Conv(1→2, 3×3, pad 1)–ReLU–[residual]–Conv(2→2, 3×3, stride 2, pad 1)–ReLU–Flatten–Linear."""
    c1 = Conv2d(rng.uniform(-0.5, 0.5, (2, 1, 3, 3)), rng.uniform(-0.5, 0.5, 2), stride=1,
                padding=1, input_shape=(1, 4, 4))
    layers, acts = [c1], [RELU]
    if residual:
        body = (Conv2d(rng.uniform(-0.3, 0.3, (2, 2, 3, 3)), rng.uniform(-0.3, 0.3, 2),
                       stride=1, padding=1, input_shape=c1.output_shape),)
        layers.append(Residual(body, ()))
        acts.append(RELU)
    c2 = Conv2d(rng.uniform(-0.5, 0.5, (2, 2, 3, 3)), rng.uniform(-0.5, 0.5, 2), stride=2,
                padding=1, input_shape=c1.output_shape)
    flat = Flatten(input_shape=c2.output_shape)
    dense = Dense(rng.uniform(-0.3, 0.3, (2, flat.out_features)), rng.uniform(-0.3, 0.3, 2))
    return Network.from_layers([*layers, c2, flat, dense], [*acts, RELU, IDENTITY])


@pytest.fixture(scope="module", params=[False, True], ids=["cnn", "residual"])
def built(request, tmp_path_factory):
    """A conv target file, and construct's ticket and certificate for it."""
    directory = tmp_path_factory.mktemp("conv")
    target = small_conv_target(np.random.default_rng(3), residual=request.param)
    io.save_target(target, directory / "tgt.npz")
    argv = ["construct", str(directory / "tgt.npz"), "--method", "2l", "--rho", RHO,
            "--seed", "5", "--out", str(directory / "t.npz"), "--json",
            str(directory / "c.json")]
    assert main(argv) == 0
    return directory, target


def _ticket(directory: Path) -> ConvTicket:
    ticket = io.load_ticket(directory / "t.npz")
    assert isinstance(ticket, ConvTicket)
    return ticket


def test_ticket_file_is_source_times_mask_of_the_seeded_source(built):
    directory, target = built
    ticket = _ticket(directory)
    # the file holds only the kept entries: far fewer values than the source has
    with np.load(directory / "t.npz") as data:
        stored = sum(data[k].size for k in data.files if k.endswith(".values"))
        assert not any(k.startswith("source.") for k in data.files)
    assert stored == sum(int(m.sum()) for m in ticket.masks) < ticket.source_params / 10
    # the source read back is the construction's own draw for this target and seed
    from lotteryproofs.construct.conv_two_layer import draw_source

    drawn = draw_source(target, int(RHO), rng=np.random.SeedSequence(5))
    assert network_sha256(drawn.network) == network_sha256(ticket.source)
    for p, m, q in zip(ticket.source.parameter_arrays, ticket.masks,
                       ticket.network.parameter_arrays, strict=True):
        assert np.array_equal(q, p * m)
        assert m.dtype == bool
    # the same command again writes the same bytes
    assert main(["construct", str(directory / "tgt.npz"), "--method", "2l", "--rho", RHO,
                 "--seed", "5", "--out", str(directory / "again.npz")]) == 0
    assert (directory / "again.npz").read_bytes() == (directory / "t.npz").read_bytes()


def test_verify_accepts_and_the_certificate_bounds_fresh_inputs(built, capsys):
    directory, target = built
    assert main(["verify", str(directory / "t.npz"), "--target", str(directory / "tgt.npz"),
                 "--samples", "500", "--json", str(directory / "v.json")]) == 0
    cert = json.loads((directory / "v.json").read_text())["errors"]
    written = json.loads((directory / "c.json").read_text())["errors"]
    assert cert["certified_output_error"] == written["certified_output_error"]
    assert cert["observed_output_error"] <= cert["certified_output_error"]
    ticket = _ticket(directory)
    box = Box.cube(-1.0, 1.0, target.widths[0])
    # the constant corners light up every border pixel's padding taps
    x = np.vstack([box.sample(2000, np.random.default_rng(11)), box.lower, box.upper])
    observed = np.max(np.abs(ticket.approximation(x, compact=False) - target.forward(x)))
    assert observed <= cert["certified_output_error"]
    assert "certified output error" in capsys.readouterr().out


def _rewrite_metadata(src: Path, dst: Path, **changes) -> None:
    arrays, metadata = io.read_arrays(src)
    io.write_arrays(dst, arrays, {**metadata, **changes}, compress=True)


@pytest.mark.parametrize("change, field", [
    ({"eps_param": 1e-6, "rss_failures": 0}, "off by"),  # no failure claimed at a smaller ε'
    ({"rho": 19}, "not the source"),            # ρ decides the source's shapes
    ({"bias_factor": 2.0}, "not the source"),   # β decides its biases
])
def test_verify_rejects_metadata_that_disagrees_with_the_file(built, tmp_path, capfd, change,
                                                              field):
    directory, _ = built
    _rewrite_metadata(directory / "t.npz", tmp_path / "bad.npz", **change)
    code = main(["verify", str(tmp_path / "bad.npz"), "--target", str(directory / "tgt.npz"),
                 "--samples", "200"])
    assert code == 1
    assert field in capfd.readouterr().err


def test_verify_refuses_another_target(built, tmp_path, capfd):
    directory, _ = built
    other = small_conv_target(np.random.default_rng(4))
    io.save_target(other, tmp_path / "other.npz")
    assert main(["verify", str(directory / "t.npz"), "--target",
                 str(tmp_path / "other.npz")]) == 2
    assert "not this target" in capfd.readouterr().err


def test_export_network_and_torch_prune_compute_the_approximation(built, tmp_path):
    directory, target = built
    ticket = _ticket(directory)
    x = Box.cube(-1.0, 1.0, target.widths[0]).sample(300, np.random.default_rng(2))
    want = ticket.approximation(x, compact=False)
    assert main(["export", str(directory / "t.npz"), "--format", "network", "--out",
                 str(tmp_path / "n.npz")]) == 0
    exported = io.load_target(tmp_path / "n.npz")
    np.testing.assert_allclose(exported.forward(x), want, rtol=1e-9, atol=1e-12)
    assert exported.count_nonzero() == ticket.count_nonzero()

    assert main(["export", str(directory / "t.npz"), "--format", "torch-prune", "--out",
                 str(tmp_path / "p.npz")]) == 0
    arrays, meta = io.read_arrays(tmp_path / "p.npz")
    scale = float(arrays.pop("lotteryproofs.output_scale")[0])
    assert scale == ticket.scale
    # what torch.nn.utils.prune computes: weight = weight_orig * weight_mask, per module
    pruned = {k[: -len("_orig")]: v * arrays[k[: -len("_orig")] + "_mask"]
              for k, v in arrays.items() if k.endswith("_orig")}
    assert all(set(np.unique(v)) <= {0.0, 1.0} for k, v in arrays.items() if k.endswith("_mask"))
    module = network_from_architecture(pruned, meta, "torch-prune export")
    np.testing.assert_allclose(module.forward(x) / scale, want, rtol=1e-9, atol=1e-12)

    assert main(["export", str(directory / "t.npz"), "--format", "source", "--out",
                 str(tmp_path / "s.npz")]) == 0
    full = io.load_ticket(tmp_path / "s.npz")  # read from its stored tensors, not redrawn
    with np.load(tmp_path / "s.npz") as data:
        assert any(k.startswith("source.") for k in data.files)
    assert network_sha256(full.network) == network_sha256(ticket.network)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(0, 1), st.integers(3, 6), st.floats(0.05, 1.0), st.integers(0, 2**16))
def test_unrolled_sparse_convolution_is_the_convolution(c, o, k, s, p, size, density, seed):
    """The sparse matrix a ticket multiplies by equals a direct loop over output pixels and
    taps (padding taps read 0), on kernels with most entries pruned."""
    from lotteryproofs.ticket import _unrolled

    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(o, c, k, k)) * (rng.random((o, c, k, k)) < density)
    layer = Conv2d(kernel, np.zeros(o), stride=s, padding=p, input_shape=(c, size, size))
    h = rng.normal(size=(2, c, size, size))
    _, ho, wo = layer.output_shape
    want = np.zeros((2, o, ho, wo))
    for oo in range(o):
        for y in range(ho):
            for x in range(wo):
                for cc in range(c):
                    for dy in range(k):
                        for dx in range(k):
                            iy, ix = s * y + dy - p, s * x + dx - p
                            if 0 <= iy < size and 0 <= ix < size:
                                want[:, oo, y, x] += kernel[oo, cc, dy, dx] * h[:, cc, iy, ix]
    got = _unrolled(layer).dot(h.reshape(2, -1).T).T
    np.testing.assert_allclose(got, want.reshape(2, -1), rtol=1e-12, atol=1e-12)


def test_sparse_approximation_equals_the_masked_network(built):
    directory, target = built
    ticket = _ticket(directory)
    x = Box.cube(-1.0, 1.0, target.widths[0]).sample(700, np.random.default_rng(8))
    np.testing.assert_allclose(ticket.approximation(x), ticket.approximation(x, compact=False),
                               rtol=1e-10, atol=1e-12)
