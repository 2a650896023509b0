"""Targets and tickets on disk: formats, names, no pickle, atomic and deterministic writes."""

import json
from pathlib import Path

import numpy as np
import pytest

from lotteryproofs import InputError, io
from lotteryproofs.network import same_parameters
from lotteryproofs.targets import random_target
from lotteryproofs.ticket import RSSLog, Ticket

SHARED_LENET = (Path(__file__).resolve().parents[2] / "shared" / "targets"
                / "lenet300100_mnist_imp.npz")


def _ticket(rng) -> Ticket:
    source = random_target((3, 5, 2), rng)
    wm = tuple(rng.random(w.shape) < 0.5 for w in source.weights)
    bm = tuple(rng.random(b.shape) < 0.5 for b in source.biases)
    log = RSSLog(
        layer=[0, 1], row=[0, 1], col=[2, -1], part=[0, 2], copy=[0, 0], target=[0.3, -0.1],
        achieved=[0.29, -0.1], error=[0.01, 0.0], n_candidates=[4, 3], failed=[False, False],
        chosen_ptr=[0, 2, 3], chosen=[1, 3, 0],
    )
    return Ticket(source, wm, bm, 2.5, {"method": "test", "rho": 4}, log)


def test_shipped_lenet_loads_and_matches_shared_copy():
    net = io.load_target("lenet300100")
    assert net.widths == (784, 300, 100, 10)
    assert net.weights[0].dtype == np.float64
    if SHARED_LENET.exists():  # the copy in ../shared/targets beside the checkout
        assert same_parameters(net, io.load_target(SHARED_LENET))
    raw = np.load(SHARED_LENET if SHARED_LENET.exists()
                  else io.targets.shipped_target_path("lenet300100"))
    assert np.count_nonzero(raw["layers.0.weight"]) == 9966  # targets/README.md table
    _, metadata = io.read_target("lenet300100")
    assert metadata["input_box"] == {"lower": -0.4242, "upper": 2.8215}


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_target_round_trip(tmp_path, suffix):
    net = random_target((4, 6, 3), np.random.default_rng(1))
    path = tmp_path / f"t{suffix}"
    io.save_target(net, path, {"note": "x"})
    loaded, metadata = io.read_target(path)
    assert same_parameters(net, loaded) and metadata == {"note": "x"}


def test_sequential_state_dict_names(tmp_path):
    rng = np.random.default_rng(2)
    w0, b0 = rng.normal(size=(4, 3)), rng.normal(size=4)
    w1, b1 = rng.normal(size=(2, 4)), rng.normal(size=2)
    np.savez(tmp_path / "seq.npz", **{"0.weight": w0, "0.bias": b0, "2.weight": w1, "2.bias": b1})
    net = io.load_target(tmp_path / "seq.npz")
    np.testing.assert_array_equal(net.weights[1], w1)
    np.testing.assert_array_equal(net.biases[0], b0)


def test_random_names_are_deterministic():
    a, b = io.load_target("random:3-4-2:5"), io.load_target("random:3-4-2:5")
    assert same_parameters(a, b) and not same_parameters(a, io.load_target("random:3-4-2:6"))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_ticket_round_trip_is_exact_and_byte_identical(tmp_path, suffix):
    ticket = _ticket(np.random.default_rng(3))
    io.save_ticket(ticket, tmp_path / f"a{suffix}")
    io.save_ticket(_ticket(np.random.default_rng(3)), tmp_path / f"b{suffix}")
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    loaded = io.load_ticket(tmp_path / f"a{suffix}")
    assert same_parameters(loaded.source, ticket.source) and loaded.scale == ticket.scale
    assert same_parameters(loaded.network, ticket.network)
    assert loaded.metadata["rho"] == 4 and loaded.metadata["format_version"] == io.FORMAT_VERSION
    np.testing.assert_array_equal(loaded.rss_log.chosen, ticket.rss_log.chosen)
    assert loaded.rss_log.summary() == ticket.rss_log.summary()


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"layers.0.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(InputError, match="not a readable .npz"):
        io.load_target(path)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"not a zip", "bad.npz", "not a readable .npz"),
        (b"{}", "bad.safetensors", "not a readable .safetensors"),
        (b"x", "bad.txt", "expected a .npz or .safetensors"),
    ],
)
def test_files_that_are_not_targets(tmp_path, content, name, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        io.load_target(tmp_path / name)


def test_missing_parameters_and_unknown_names(tmp_path):
    np.savez(tmp_path / "x.npz", foo=np.ones(3))
    with pytest.raises(InputError, match="no network parameters"):
        io.load_target(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", **{"layers.0.weight": np.ones((2, 2))})
    with pytest.raises(InputError, match="layers.0 has no bias"):
        io.load_target(tmp_path / "y.npz")
    with pytest.raises(InputError, match="neither a file nor a built-in"):
        io.load_target("no-such-target")
    with pytest.raises(InputError, match="positive integers"):
        io.load_target("random:3-x-2")


def test_not_a_ticket(tmp_path):
    io.save_target(random_target((2, 2), np.random.default_rng(0)), tmp_path / "t.npz")
    with pytest.raises(InputError, match="not a ticket file"):
        io.load_ticket(tmp_path / "t.npz")


def test_failed_write_leaves_nothing(tmp_path):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), io.atomic_path(tmp_path / "out.npz") as tmp:
        tmp.write_bytes(b"partial")
        raise Boom
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="does not exist"):
        io.write_json_atomic(tmp_path / "missing" / "x.json", {})


def test_metadata_must_be_a_json_object(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **{"layers.0.weight": np.ones((1, 1)), "layers.0.bias": np.ones(1),
                      "metadata": np.array(json.dumps([1, 2]))})
    with pytest.raises(InputError, match="JSON object"):
        io.read_target(path)


# ------------------------------------------------------------------ foreign and malformed files
def _canonical(rng, widths=(3, 4, 2)) -> dict[str, np.ndarray]:
    arrays = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        arrays[f"layers.{i}.weight"] = rng.uniform(-1, 1, (n_out, n_in))
        arrays[f"layers.{i}.bias"] = rng.uniform(-1, 1, n_out)
    return arrays


@pytest.mark.parametrize(("change", "message"), [
    ({"layers.0.bias": None}, "layers.0 has no bias"),
    ({"layers.0.weight": None}, "layers.0 has a bias but no weight"),
    ({"norm.weight": np.ones(3)}, r"keys 'norm.weight' are not parameters of a Linear layer"),
    ({"0.weight": np.ones((2, 2)), "0.bias": np.ones(2)}, "mixes layers.{i} names"),
    ({"layers.0.weight": np.ones((4, 3), dtype=np.longdouble)}, "extended precision"),
    ({"layers.0.weight": np.full((4, 3), 2**60, dtype=np.int64)}, "above 2\\^53"),
    ({"layers.0.weight": np.array([["a"] * 3] * 4)}, "is not numeric"),
    ({"layers.0.weight": np.ones((4, 3), bool)}, "is not numeric"),
    ({"layers.0.weight": np.zeros((4, 3), "V2")}, "raw bytes"),
    ({"layers.1.weight": np.ones((2, 5))}, "layers.0 has 4 outputs but layers.1 expects 5 inputs"),
    ({"layers.1.bias": np.ones((2, 1))}, "layers.1.bias must be 1-dimensional"),
    ({"layers.1.weight": np.full((2, 4), np.nan)}, "non-finite"),
    ({"layers.0.weight_orig": np.ones((4, 3)), "layers.0.weight_mask": np.ones((4, 3))},
     "has both layers.0.weight and layers.0.weight_orig"),
    ({"layers.0.weight": None, "layers.0.weight_orig": np.ones((4, 3))},
     "weight_orig but no layers.0.weight_mask"),
    ({"layers.0.weight_ih_l0": np.ones((4, 3))}, "looks like a recurrent layer"),
    ({"layers.0.weight_g": np.ones((4, 1))}, "weight-normalised or parametrized"),
    ({"layers.0.in_proj_weight": np.ones((4, 3))}, "looks like attention"),
])
def test_malformed_target_arrays_are_refused(tmp_path, change, message):
    arrays = {**_canonical(np.random.default_rng(0)), **change}
    np.savez(tmp_path / "t.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(InputError, match=message):
        io.load_target(tmp_path / "t.npz")


def test_sequential_gap_whose_shapes_do_not_chain_names_the_missing_module(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "t.npz", **{"0.weight": rng.normal(size=(4, 3)), "0.bias": np.ones(4),
                                    "3.weight": rng.normal(size=(2, 6)), "3.bias": np.ones(2)})
    with pytest.raises(InputError, match="module 0 has 4 outputs but module 3 expects 6 inputs "
                                         r"\(is a module with parameters missing"):
        io.load_target(tmp_path / "t.npz")


def test_nested_sequential_prefix_is_named(tmp_path):
    np.savez(tmp_path / "t.npz", **{"model.0.weight": np.ones((2, 2)), "model.0.bias": np.ones(2)})
    with pytest.raises(InputError, match="strip the prefix 'model.'"):
        io.load_target(tmp_path / "t.npz")


def test_ticket_metadata_alone_marks_a_ticket(tmp_path):
    io.save_target(random_target((2, 3, 1), np.random.default_rng(0)), tmp_path / "t.npz",
                   {"format_version": 1, "method": "2l"})
    with pytest.raises(InputError, match=r"is a ticket file, not a target \(its metadata names"):
        io.load_target(tmp_path / "t.npz")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("model.pth", b"\x80\x02", "PyTorch pickles are not read"),
    ("pytorch_model.bin", b"\x80\x02", "PyTorch pickles are not read"),
    ("model.pkl", b"\x80\x02", "pickles are not read"),
    ("pickled.npz", b"\x80\x02}q\x00.", "a pickle, not an .npz archive"),
])
def test_pickles_are_never_opened(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        io.load_target(tmp_path / name)


def test_a_folder_and_a_non_string_metadata_are_refused(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(InputError, match="a folder, not a file"):
        io.load_target(tmp_path / "dir.npz")
    np.savez(tmp_path / "m.npz", **_canonical(np.random.default_rng(0)), metadata=np.ones(3))
    with pytest.raises(InputError, match="'metadata' must be a JSON string"):
        io.load_target(tmp_path / "m.npz")


# ----------------------------------------------------------------- declarations and assumptions
def _with_metadata(tmp_path, metadata: dict) -> Path:
    path = tmp_path / "t.npz"
    np.savez(path, **_canonical(np.random.default_rng(0)), metadata=np.array(json.dumps(metadata)))
    return path


def test_undeclared_activation_and_box_are_assumptions(tmp_path):
    _, _, info = io.read_target_info(_with_metadata(tmp_path, {}))
    assert (info.activation, info.activation_declared, info.output_activation) == \
        ("relu", False, "identity")
    assert info.input_box_source == "default"
    assert np.array_equal(info.input_box.lower, [-1, -1, -1])
    assert info.box_line() == "input box [-1, 1]^3 (default)"
    assert len(info.notes) == 1 and "declares no activation; assuming ReLU" in info.notes[0]
    assert [a.split(":")[0] for a in info.assumptions] == ["activation", "input box"]
    domain = info.with_box(io.Box.cube(0.0, 2.0, 3), "--domain")
    assert domain.box_line() == "input box [0, 2]^3 (from --domain)"
    assert [a.split(":")[0] for a in domain.assumptions] == ["activation"]
    with pytest.raises(InputError, match="dimension 2"):
        info.with_box(io.Box.cube(0.0, 2.0, 2), "--domain")


@pytest.mark.parametrize("spelling", ["relu", "ReLU", " RELU "])
def test_declared_relu_and_box_leave_nothing_assumed(tmp_path, spelling):
    box = {"lower": [-1.0, 0.0, -2.0], "upper": 3.0}
    _, _, info = io.read_target_info(_with_metadata(tmp_path, {"activation": spelling,
                                                               "input_box": box}))
    assert info.activation == "relu" and info.activation_declared
    assert info.assumptions == () and info.notes == ()
    assert info.input_box.lower.tolist() == [-1.0, 0.0, -2.0]
    assert info.input_box.upper.tolist() == [3.0, 3.0, 3.0]
    assert "(from the file's input_box metadata)" in info.box_line()


@pytest.mark.parametrize(("metadata", "message"), [
    ({"activation": ["relu", "tanh"]}, "lists 2 activations but the target has 1 hidden"),
    ({"activation": "tanh:2"}, "takes no parameter"),
    ({"activation": "mish"}, "'mish', not a known activation"),
    ({"activation": 1}, "must be a name"),
    ({"output_activation": "Softmax"}, "output_activation 'Softmax' is declared"),
    ({"input_box": [0, 1]}, "must be an object with lower and upper"),
    ({"input_box": {"lower": 0}}, "must be an object with lower and upper"),
    ({"input_box": {"lower": 1, "upper": 0}}, "lower < upper"),
    ({"input_box": {"lower": "0", "upper": 1}}, "must be a number or a list of 3 numbers"),
    ({"input_box": {"lower": 0, "upper": [1, 2]}}, "'upper' has 2 entries but the target has 3"),
    ({"input_box": {"lower": 0, "upper": 1, "dim": 4}}, "dim 4 but the target has 3 inputs"),
])
def test_declarations_that_cannot_be_honoured_are_refused(tmp_path, metadata, message):
    with pytest.raises(InputError, match=message):
        io.read_target_info(_with_metadata(tmp_path, metadata))


def test_builtin_targets_declare_relu():
    for name in ("random:3-4-2", "wine-16-8", "lenet300100"):
        _, _, info = io.read_target_info(name)
        assert info.activation_declared and info.notes == ()
    assert io.read_target_info("lenet300100")[2].input_box_source == "built-in"
    assert io.read_target_info("wine-16-8")[2].input_box_source == "metadata"


def test_write_errors_name_the_users_path_not_the_temporary_one(tmp_path):
    target = Path("/proc/lotteryproofs-out.npz")
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc (a folder where no file can be created)")
    with pytest.raises(InputError) as error:
        io.write_bytes_atomic(target, b"x")
    message = str(error.value)
    assert message.startswith(f"cannot write {target}: ") and ".tmp" not in message
    (tmp_path / "folder.npz").mkdir()  # os.replace onto a folder fails after the write
    with pytest.raises(InputError) as error:
        io.write_bytes_atomic(tmp_path / "folder.npz", b"x")
    assert f"cannot write {tmp_path / 'folder.npz'}" in str(error.value)
    assert ".tmp" not in str(error.value) and sorted(p.name for p in tmp_path.iterdir()) == \
        ["folder.npz"]


def test_cli_notes_the_assumption_and_records_it_in_the_certificates(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    np.savez(tmp_path / "tgt.npz", **_canonical(np.random.default_rng(0)))

    def run(*argv):
        result = subprocess.run([sys.executable, "-m", "lotteryproofs", *argv], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result

    note = ("note: tgt.npz declares no activation; assuming ReLU between the linear layers and "
            "none after the last")
    built = run("construct", "tgt.npz", "--method", "2l", "--rho", "8", "--out", "t.npz",
                "--json", "c.json")
    checked = run("verify", "t.npz", "--target", "tgt.npz", "--json", "v.json")
    bounded = run("bounds", "--method", "2l", "--target", "tgt.npz", "--eps", "0.5",
                  "--delta", "0.1")
    for command, result in (("construct", built), ("verify", checked), ("bounds", bounded)):
        assert result.stderr.splitlines() == [f"lotteryproofs {command}: {note}"]
        assert "note:" not in result.stdout
    assert "input box [-1, 1]^3 (default)" in built.stdout.splitlines()
    assert "input box [-1, 1]^3 (from the ticket's domain)" in checked.stdout.splitlines()
    assert "input box [-1, 1]^3 (default)" in bounded.stdout.splitlines()
    constructed = json.loads((tmp_path / "c.json").read_text())["assumptions"]
    verified = json.loads((tmp_path / "v.json").read_text())["assumptions"]
    assert constructed[0].startswith("activation: tgt.npz declares none; assumed ReLU")
    assert constructed[1] == "input box: tgt.npz declares no input_box; assumed the default " \
        "[-1, 1]^3"
    assert verified == constructed[:1]  # verify's box is the ticket's, not an assumption
    # a file that declares both: no note, nothing assumed
    np.savez(tmp_path / "tgt.npz", **_canonical(np.random.default_rng(0)), metadata=np.array(
        json.dumps({"activation": "relu", "input_box": {"lower": -1, "upper": 1}})))
    declared = run("construct", "tgt.npz", "--method", "2l", "--rho", "8", "--json", "d.json")
    assert declared.stderr == ""
    assert "input box [-1, 1]^3 (from the file's input_box metadata)" in declared.stdout
    assert json.loads((tmp_path / "d.json").read_text())["assumptions"] == []


def test_metadata_stored_as_an_array_is_pointed_to_the_metadata_string(tmp_path):
    np.savez(tmp_path / "t.npz", **_canonical(np.random.default_rng(0)),
             activation=np.array("tanh"))
    with pytest.raises(InputError, match="'activation' is an array, but it is a metadata key"):
        io.load_target(tmp_path / "t.npz")


def test_indices_are_read_as_written(tmp_path):
    arrays = _canonical(np.random.default_rng(0))
    np.savez(tmp_path / "zero.npz", **arrays, **{"layers.01.weight": np.ones((2, 4))})
    with pytest.raises(InputError, match="'layers.01.weight' has the index '01' with a leading"):
        io.load_target(tmp_path / "zero.npz")
    huge = 10**20  # a gap this wide must be reported, not enumerated
    np.savez(tmp_path / "gap.npz", **{
        "layers.0.weight": np.ones((2, 2)), "layers.0.bias": np.ones(2),
        f"layers.{huge}.weight": np.ones((2, 2)), f"layers.{huge}.bias": np.ones(2)})
    with pytest.raises(InputError, match="layers.1 is missing"):
        io.load_target(tmp_path / "gap.npz")
    np.savez(tmp_path / "seq.npz", **{
        "0.weight": np.ones((2, 2)), "0.bias": np.ones(2),
        f"{huge}.weight": np.ones((2, 2)), f"{huge}.bias": np.ones(2)})
    (said,) = io.read_target_info(tmp_path / "seq.npz")[2].layout_assumptions
    assert f"modules 2–{huge - 1} hold no parameters" in said


@pytest.mark.parametrize(("metadata", "message"), [
    ({"dataset": ["wine"]}, "'dataset' must be a dataset name"),
    ({"split_seed": -1}, "'split_seed' must be an integer >= 0"),
    ({"split_seed": 1.5}, "'split_seed' must be an integer >= 0"),
    ({"preprocessing": {"mean": [0, 0, 0]}}, "'preprocessing' must hold 'mean' and 'scale'"),
    ({"preprocessing": {"mean": [0], "scale": [1]}}, "3 numbers each"),
])
def test_provenance_the_toolkit_reads_back_is_type_checked(tmp_path, metadata, message):
    with pytest.raises(InputError, match=message):
        io.read_target_info(_with_metadata(tmp_path, metadata))


def test_npz_member_declaring_more_data_than_it_holds_is_refused_before_allocation(tmp_path):
    import io as _io
    import zipfile

    header = _io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as archive:  # 74.5 GiB declared, 64 B held
        archive.writestr("layers.0.weight.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(InputError, match="declares 80000000000 bytes of data but holds 64"):
        io.load_target(tmp_path / "bomb.npz")
    # np.savez_compressed members are checked on their uncompressed size and read as usual
    arrays = _canonical(np.random.default_rng(0))
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    assert np.array_equal(io.load_target(tmp_path / "c.npz").weights[1], arrays["layers.1.weight"])


@pytest.mark.parametrize(("change", "metadata", "message"), [
    ({"layers.5.weight_mask": np.ones((2, 2))}, None, "'layers.5.weight_mask' is not part of a"),
    ({"layers.0.weight_mask": None}, None, "missing layers.0.weight_mask"),
    ({"scale": np.array(1 + 2j)}, None, "'scale' has complex values"),
    ({"layers.0.bias_mask": np.array(["1"] * 5)}, None, "'layers.0.bias_mask' is not numeric"),
    ({}, {"domain": {"lower": -1}}, "its metadata 'domain' is not an input box"),
    ({}, {"domain": "cube"}, "its metadata 'domain' is not an input box"),
    ({}, {"domain": {"lower": -1, "upper": 1, "dim": 7}},
     "'domain' has dimension 7 but its source"),
])
def test_malformed_tickets_are_refused(tmp_path, change, metadata, message):
    ticket = _ticket(np.random.default_rng(3))
    arrays = {**io.ticket_arrays(ticket), **change}
    io.write_arrays(tmp_path / "t.npz", {k: v for k, v in arrays.items() if v is not None},
                    {"format_version": 1, **(metadata or {})})
    with pytest.raises(InputError, match=message):
        io.load_ticket(tmp_path / "t.npz")
