"""Files as PyTorch exports them, built without torch: nn.Sequential names, torch.nn.utils.prune
names, float16 and bfloat16 tensors in ``.safetensors``.

Every expected value is computed here independently of the reader: forward passes by a direct
loop, orig × mask by ``np.where`` on the mask, bfloat16 values by zeroing the low 16 bits of a
float32 and, for every bit pattern, from the sign/exponent/mantissa fields.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

from lotteryproofs import InputError, io
from lotteryproofs.safetensors_format import read_safetensors


def _relu_forward(weights, biases, x):
    """f(x) of THEORY.md §0 by an explicit loop over neurons (ReLU between, none after)."""
    h = list(map(float, x))
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        out = []
        for j in range(w.shape[0]):
            z = float(b[j]) + sum(float(w[j, i]) * h[i] for i in range(w.shape[1]))
            out.append(max(z, 0.0) if layer < len(weights) - 1 else z)
        h = out
    return np.array(h)


def _raw_safetensors(path, tensors: dict[str, tuple[str, tuple[int, ...], bytes]],
                     metadata: dict[str, str] | None = None) -> None:
    """Write a .safetensors file byte by byte (the format's README), for dtypes numpy lacks."""
    header, offset, chunks = {}, 0, []
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def _mlp(rng, widths=(5, 7, 6, 3), dtype=np.float32):
    weights = [rng.normal(size=(n_out, n_in)).astype(dtype)
               for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)]
    biases = [rng.normal(size=n_out).astype(dtype) for n_out in widths[1:]]
    return weights, biases


# ------------------------------------------------------------------------------- nn.Sequential
def test_sequential_safetensors_is_read_as_the_relu_network_it_names(tmp_path):
    rng = np.random.default_rng(0)
    weights, biases = _mlp(rng)
    # nn.Sequential(Linear, ReLU, Linear, ReLU, Linear): modules 0, 2, 4 hold the parameters
    tensors = {}
    for module, (w, b) in zip((0, 2, 4), zip(weights, biases, strict=True), strict=True):
        tensors[f"{module}.weight"], tensors[f"{module}.bias"] = w, b
    save_file(tensors, tmp_path / "seq.safetensors")
    net, _, info = io.read_target_info(tmp_path / "seq.safetensors")
    assert net.widths == (5, 7, 6, 3)
    for got, want in zip(net.weights + net.biases, weights + biases, strict=True):
        assert got.dtype == np.float64 and np.array_equal(got, want.astype(np.float64))
    for x in rng.uniform(-1, 1, (20, 5)):
        np.testing.assert_allclose(net.forward(x), _relu_forward(weights, biases, x),
                                   rtol=1e-12, atol=1e-12)
    assert not info.activation_declared and info.activation == "relu"
    assert info.layout_assumptions == ()


def test_sequential_with_flatten_and_dropout_says_what_it_takes_them_for(tmp_path):
    rng = np.random.default_rng(1)
    weights, biases = _mlp(rng, (4, 6, 2))
    # nn.Sequential(Flatten, Linear, ReLU, Dropout, Linear): parameters at 1 and 4
    save_file({"1.weight": weights[0], "1.bias": biases[0],
               "4.weight": weights[1], "4.bias": biases[1]}, tmp_path / "drop.safetensors")
    net, _, info = io.read_target_info(tmp_path / "drop.safetensors")
    x = rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(net.forward(x), _relu_forward(weights, biases, x), atol=1e-12)
    (said,) = info.layout_assumptions
    assert "modules 0, 3" in said and said in info.assumptions and said in info.notes


@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=5),
       gaps=st.lists(st.integers(2, 4), min_size=4, max_size=4), start=st.integers(0, 2),
       pruned=st.lists(st.booleans(), min_size=4, max_size=4), seed=st.integers(0, 2**16))
def test_any_sequential_layout_reads_as_the_canonical_file(tmp_path_factory, widths, gaps, start,
                                                          pruned, seed):
    """Sequential indices with gaps ≥ 2, prune names or not: the canonical file's network."""
    rng = np.random.default_rng(seed)
    weights, biases = _mlp(rng, tuple(widths))
    canonical, sequential, index = {}, {}, start
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        canonical[f"layers.{layer}.weight"], canonical[f"layers.{layer}.bias"] = w, b
        if pruned[layer]:
            mask = rng.integers(0, 2, w.shape).astype(np.float32)
            sequential[f"{index}.weight_orig"], sequential[f"{index}.weight_mask"] = w, mask
            canonical[f"layers.{layer}.weight"] = np.where(mask == 1, w, np.float32(0))
        else:
            sequential[f"{index}.weight"] = w
        sequential[f"{index}.bias"] = b
        index += gaps[layer]
    folder = tmp_path_factory.mktemp("layout")
    save_file(canonical, folder / "canonical.safetensors")
    save_file(sequential, folder / "sequential.safetensors")
    a = io.load_target(folder / "canonical.safetensors")
    b = io.load_target(folder / "sequential.safetensors")
    assert a.widths == b.widths == tuple(widths)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert np.array_equal(p, q)


def test_sequential_adjacent_linear_layers_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    weights, biases = _mlp(rng, (3, 3, 3))
    save_file({"0.weight": weights[0], "0.bias": biases[0], "1.weight": weights[1],
               "1.bias": biases[1]}, tmp_path / "adj.safetensors")
    with pytest.raises(InputError, match="modules 0 and 1 are both Linear layers"):
        io.load_target(tmp_path / "adj.safetensors")


# ---------------------------------------------------------------------- torch.nn.utils.prune
def _pruned_file(path, rng, *, mask_values=(0.0, 1.0)):
    weights, biases = _mlp(rng, (6, 8, 3))
    masks = [rng.choice(mask_values, size=w.shape).astype(np.float32) for w in weights]
    bias_mask = rng.choice(mask_values, size=biases[0].shape).astype(np.float32)
    # prune.l1_unstructured(model[0], "weight"), prune.random_unstructured(model[0], "bias"),
    # prune.l1_unstructured(model[2], "weight"): state_dict() keys as torch writes them
    save_file({
        "0.weight_orig": weights[0], "0.weight_mask": masks[0],
        "0.bias_orig": biases[0], "0.bias_mask": bias_mask,
        "2.weight_orig": weights[1], "2.weight_mask": masks[1], "2.bias": biases[1],
    }, path)
    return weights, biases, masks, bias_mask


def test_pruned_state_dict_is_read_as_orig_times_mask(tmp_path):
    rng = np.random.default_rng(3)
    weights, biases, masks, bias_mask = _pruned_file(tmp_path / "pruned.safetensors", rng)
    net = io.load_target(tmp_path / "pruned.safetensors")
    want_w = [np.where(m == 1, w.astype(np.float64), 0.0)
              for w, m in zip(weights, masks, strict=True)]
    want_b = [np.where(bias_mask == 1, biases[0].astype(np.float64), 0.0),
              biases[1].astype(np.float64)]
    for got, want in zip(net.weights + net.biases, want_w + want_b, strict=True):
        assert np.array_equal(got, want)
    kept = sum(int(m.sum()) for m in masks) + int(bias_mask.sum()) + biases[1].size
    assert net.count_nonzero() == kept  # normal draws are never exactly 0
    x = rng.uniform(-1, 1, 6)
    np.testing.assert_allclose(net.forward(x), _relu_forward(want_w, want_b, x), atol=1e-12)


def test_pruned_state_dict_with_a_non_binary_mask_is_refused(tmp_path):
    _pruned_file(tmp_path / "bad.safetensors", np.random.default_rng(4), mask_values=(0.0, 0.5))
    with pytest.raises(InputError, match="0.weight_mask is not binary"):
        io.load_target(tmp_path / "bad.safetensors")


def test_pruned_state_dict_with_a_misshapen_mask_is_refused(tmp_path):
    rng = np.random.default_rng(5)
    save_file({"0.weight_orig": rng.normal(size=(3, 2)).astype(np.float32),
               "0.weight_mask": np.ones((2, 3), np.float32),
               "0.bias": np.zeros(3, np.float32)}, tmp_path / "shape.safetensors")
    with pytest.raises(InputError, match=r"0.weight_mask has shape \(2, 3\)"):
        io.load_target(tmp_path / "shape.safetensors")


# ------------------------------------------------------------------------ bfloat16 / float16
def _bfloat16_by_fields(bits: np.ndarray) -> np.ndarray:
    """The value of each bfloat16 bit pattern from its fields: 1 sign, 8 exponent, 7 mantissa."""
    bits = bits.astype(np.int64)
    sign = np.where(bits >> 15, -1.0, 1.0)
    exponent, mantissa = (bits >> 7) & 0xFF, bits & 0x7F
    normal = np.ldexp(1.0 + mantissa / 128.0, exponent - 127)
    subnormal = np.ldexp(mantissa / 128.0, -126)
    value = sign * np.where(exponent == 0, subnormal, normal)
    infinite, nan = (exponent == 0xFF) & (mantissa == 0), (exponent == 0xFF) & (mantissa != 0)
    value[infinite] = sign[infinite] * np.inf
    value[nan] = np.nan
    return value


def test_every_bfloat16_bit_pattern_reads_as_its_value(tmp_path):
    bits = np.arange(2**16, dtype="<u2")
    _raw_safetensors(tmp_path / "all.safetensors", {"x": ("BF16", bits.shape, bits.tobytes())})
    arrays, _ = read_safetensors(tmp_path / "all.safetensors")
    with np.errstate(invalid="ignore"):  # widening a signalling NaN raises the invalid flag
        got = arrays["x"].astype(np.float64)
    want = _bfloat16_by_fields(bits)
    assert np.array_equal(got, want, equal_nan=True)


def test_bfloat16_target_is_read_by_truncating_float32(tmp_path):
    rng = np.random.default_rng(6)
    weights, biases = _mlp(rng, (4, 5, 2))
    names = {"0.weight": weights[0], "0.bias": biases[0],
             "2.weight": weights[1], "2.bias": biases[1]}
    # bfloat16 keeps the upper 16 bits of a float32 (truncation: round toward zero)
    tensors, truncated = {}, {}
    for name, value in names.items():
        upper = (value.view("<u4") >> 16).astype("<u2")
        tensors[name] = ("BF16", value.shape, upper.tobytes())
        truncated[name] = (value.view("<u4") & np.uint32(0xFFFF0000)).view("<f4").astype(np.float64)
    _raw_safetensors(tmp_path / "bf16.safetensors", tensors,
                     {"metadata": json.dumps({"activation": "relu"})})
    net, _, info = io.read_target_info(tmp_path / "bf16.safetensors")
    assert info.activation_declared
    got = dict(zip(("0.weight", "2.weight", "0.bias", "2.bias"), net.weights + net.biases,
                   strict=True))
    for name, want in truncated.items():
        assert np.array_equal(got[name], want), name
        assert not np.array_equal(want, names[name].astype(np.float64))  # truncation did happen


def test_the_raw_writer_is_the_format_the_library_reads(tmp_path):
    """The hand-built files above follow the format: the safetensors library reads one back."""
    value = np.random.default_rng(7).normal(size=(3, 4)).astype("<f4")
    _raw_safetensors(tmp_path / "f32.safetensors", {"w": ("F32", value.shape, value.tobytes())},
                     {"metadata": "{}"})
    np.testing.assert_array_equal(load_file(tmp_path / "f32.safetensors")["w"], value)


def test_float16_and_mixed_dtypes_are_upcast_exactly(tmp_path):
    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(3, 2)).astype(np.float16)
    b0 = rng.normal(size=3).astype(np.float64)
    w1 = rng.integers(-5, 5, size=(1, 3)).astype(np.int32)
    b1 = rng.normal(size=1).astype(np.float32)
    save_file({"layers.0.weight": w0, "layers.0.bias": b0, "layers.1.weight": w1,
               "layers.1.bias": b1}, tmp_path / "mixed.safetensors")
    net = io.load_target(tmp_path / "mixed.safetensors")
    # float16 → float64 is exact: every float16 is a float64; compare through Python floats
    assert [float(v) for v in net.weights[0].ravel()] == [float(v) for v in w0.ravel()]
    assert net.weights[1].tolist() == [[float(v) for v in w1[0]]]
    assert net.biases[0].tolist() == b0.tolist() and net.biases[1].tolist() == [float(b1[0])]


@pytest.mark.parametrize("dtype",
                         [np.float16, np.float32, np.float64, np.int32, np.uint8, np.bool_])
def test_reader_agrees_with_the_safetensors_library(tmp_path, dtype):
    value = (np.random.default_rng(9).normal(size=(2, 3, 4)) * 10).astype(dtype)
    save_file({"a": value, "b": value[0].copy()}, tmp_path / "x.safetensors", {"k": "v"})
    ours, metadata = read_safetensors(tmp_path / "x.safetensors")
    theirs = load_file(tmp_path / "x.safetensors")
    assert metadata == {"k": "v"} and set(ours) == set(theirs)
    for key, array in theirs.items():
        assert ours[key].dtype == array.dtype and np.array_equal(ours[key], array)


# ------------------------------------------------------------------------- malformed files
def _file(entry: dict | None = None, *, data: bytes = np.ones(2, "<f4").tobytes(),
          header: bytes | None = None, length: int | None = None) -> bytes:
    """A one-tensor file: ``entry`` overrides the header fields of tensor 'w'."""
    if header is None:
        fields = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **(entry or {})}
        header = json.dumps({"w": fields}).encode()
    return struct.pack("<Q", len(header) if length is None else length) + header + data


@pytest.mark.parametrize(("content", "message"), [
    (_file()[:5], "shorter than the 8-byte header"),
    (_file(length=10**9), "does not fit the file"),
    (_file(data=np.ones(3, "<f4").tobytes()), "4 bytes after the last tensor"),
    (_file({"data_offsets": [4, 8]}), "needs 8 bytes"),
    (_file({"data_offsets": [0, 12]}), "outside the data"),
    (_file({"dtype": "F8_E4M3"}), "dtype F8_E4M3, which is not read"),
    (_file({"shape": "2"}), "has shape"),
    (_file({"shape": [True]}), "has shape"),
    (_file(header=b'["w"]'), "not a JSON object"),
    (_file(header=b'{"w": '), "not JSON"),
    (_file(header=b'{"__metadata__": {"a": 1}}', data=b""), "map strings to strings"),
])
def test_malformed_safetensors_are_refused(tmp_path, content, message):
    (tmp_path / "ok.safetensors").write_bytes(_file())
    assert read_safetensors(tmp_path / "ok.safetensors")[0]["w"].tolist() == [1.0, 1.0]
    (tmp_path / "bad.safetensors").write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_safetensors(tmp_path / "bad.safetensors")


def test_duplicate_and_overlapping_tensors_are_refused(tmp_path):
    data = np.ones(2, "<f4").tobytes()
    header = (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
              b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}')
    (tmp_path / "dup.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    with pytest.raises(InputError, match="names 'a' twice"):
        read_safetensors(tmp_path / "dup.safetensors")
    _raw_safetensors(tmp_path / "ok.safetensors",
                     {"a": ("F32", (2,), data), "b": ("F32", (2,), data)})
    # b claims a's bytes (same header length: JSON allows the trailing space)
    raw = (tmp_path / "ok.safetensors").read_bytes().replace(b"[8, 16]", b"[0, 8] ")
    (tmp_path / "overlap.safetensors").write_bytes(raw)
    with pytest.raises(InputError, match="starts at byte 0, expected 8"):
        read_safetensors(tmp_path / "overlap.safetensors")


# ------------------------------------------------------- declarations in safetensors' header
def _two_layers(path, header_metadata: dict[str, str]):
    rng = np.random.default_rng(10)
    weights, biases = _mlp(rng, (3, 4, 2))
    save_file({"0.weight": weights[0], "0.bias": biases[0], "2.weight": weights[1],
               "2.bias": biases[1]}, path, header_metadata)


def test_declarations_straight_in_the_safetensors_header_are_honoured(tmp_path):
    _two_layers(tmp_path / "tanh.safetensors", {"activation": "tanh", "format": "pt"})
    assert io.load_target(tmp_path / "tanh.safetensors").activations[0].name == "tanh"
    _two_layers(tmp_path / "relu.safetensors",
                {"activation": "relu", "input_box": json.dumps({"lower": 0, "upper": 2})})
    _, metadata, info = io.read_target_info(tmp_path / "relu.safetensors")
    assert info.activation_declared and info.assumptions == ()
    assert info.box_line() == "input box [0, 2]^3 (from the file's input_box metadata)"
    _two_layers(tmp_path / "both.safetensors",
                {"activation": "relu", "metadata": json.dumps({"activation": "gelu"})})
    with pytest.raises(InputError, match="'activation' is declared twice, differently"):
        io.load_target(tmp_path / "both.safetensors")


def test_keras_layout_weights_get_a_transposition_hint(tmp_path):
    rng = np.random.default_rng(11)
    weights, biases = _mlp(rng, (3, 4, 2))
    save_file({"0.weight": weights[0].T.copy(), "0.bias": biases[0],
               "2.weight": weights[1].T.copy(), "2.bias": biases[1]}, tmp_path / "k.safetensors")
    with pytest.raises(InputError, match=r"saved as \(in, out\)\?"):
        io.load_target(tmp_path / "k.safetensors")


def test_a_declared_tanh_sequential_is_constructed_as_tanh_and_an_undeclared_one_assumed(
        tmp_path):
    """nn.Sequential(Linear, Tanh, Linear) with "activation": "tanh" in its metadata: the
    general L+1 ticket (saved and read back) computes the tanh target within its certificate,
    which the ReLU reading of the same weights would not; without the key the file is read as
    ReLU with the assumption recorded (never silently)."""
    from lotteryproofs.certify import certify
    from lotteryproofs.construct import construct

    _two_layers(tmp_path / "tanh.safetensors", {"metadata": json.dumps({"activation": "tanh"})})
    target = io.load_target(tmp_path / "tanh.safetensors")
    assert [a.name for a in target.activations] == ["tanh"]
    ticket = construct(target, "l+1-general", eps_param=0.02, delta=0.1, rng=3, rho=24,
                       init_options={"bias_factor": 10.0})
    io.save_ticket(ticket, tmp_path / "t.npz")
    loaded = io.load_ticket(tmp_path / "t.npz")
    assert [a.name for a in loaded.network.activations] == ["identity", "tanh"]
    cert = certify(loaded, target, (-1.0, 1.0), rng=0, n_samples=2000)
    x = np.random.default_rng(4).uniform(-1.0, 1.0, (10_000, 3))
    error = np.max(np.abs(loaded.approximation(x) - target.forward(x)))
    assert error <= cert.certified_output_error + 1e-12
    as_relu = io.Network(target.weights, target.biases)
    assert np.max(np.abs(as_relu.forward(x) - target.forward(x))) > cert.certified_output_error
    _two_layers(tmp_path / "plain.safetensors", {})
    _, _, info = io.read_target_info(tmp_path / "plain.safetensors")
    assert not info.activation_declared and info.activation == "relu"
    assert any("relu" in a.lower() for a in info.assumptions)
