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
