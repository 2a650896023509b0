"""``lotteryproofs construct`` and construct()'s input validation: one-line errors, no files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lotteryproofs._validate import InputError
from lotteryproofs.cli import main
from lotteryproofs.construct import a_priori_rho, construct, represented_layers
from lotteryproofs.io import load_ticket, write_arrays
from lotteryproofs.network import Box
from lotteryproofs.targets import random_target


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_ticket_and_certificate(tmp_path, capsys):
    out, cert = tmp_path / "t.npz", tmp_path / "c.json"
    code, stdout, _ = _run(["construct", "random:3-5-2:1", "--method", "2l", "--rho", "12",
                            "--eps-param", "0.05", "--out", str(out), "--json", str(cert)],
                           capsys)
    assert code == 0 and "nonzero parameters" in stdout
    ticket = load_ticket(out)
    assert ticket.metadata["method"] == "2l" and ticket.metadata["rho"] == 12
    assert len(represented_layers(ticket)) == 2
    data = json.loads(cert.read_text())
    assert data["rss"]["instances"] == ticket.rss_log.n_instances
    assert data["errors"]["observed_output_error"] <= data["errors"]["certified_output_error"]


@pytest.mark.parametrize("args, message", [
    (["--eps-param", "0"], "--eps-param: must be > 0"),
    (["--eps-param", "-0.1"], "--eps-param: must be > 0"),
    (["--delta", "1"], "--delta: must lie in (0, 1)"),
    (["--delta", "0"], "--delta: must lie in (0, 1)"),
    (["--domain", "1", "1"], "LO < HI"),
    (["--domain", "2", "-1"], "LO < HI"),
    (["--rho", "0"], "--rho: must be an integer >= 1"),
    (["--rho", "100000000"], "GiB"),
    (["--init", "nonsense"], "scheme"),
])
def test_cli_bad_input(args, message, tmp_path, capsys):
    out = tmp_path / "t.npz"
    code, _, err = _run(["construct", "random:3-5-2", "--method", "2l", "--rho", "8",
                         "--out", str(out), *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_refuses_ll_with_odd_rho(tmp_path, capsys):
    code, _, err = _run(["construct", "random:3-4-2", "--method", "ll", "--rho", "7",
                         "--out", str(tmp_path / "t.npz")], capsys)
    assert code == 2 and "even rho" in err and list(tmp_path.iterdir()) == []


def _bad_target(path, weights, biases):
    arrays = {}
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        arrays[f"layers.{i}.weight"] = np.asarray(w, float)
        arrays[f"layers.{i}.bias"] = np.asarray(b, float)
    write_arrays(path, arrays, {})


@pytest.mark.parametrize("kind, message", [("nan", "non-finite"), ("inf", "non-finite"),
                                           ("shapes", "expects")])
def test_cli_bad_target_file(kind, message, tmp_path, capsys):
    w1, b1, w2, b2 = np.ones((4, 3)), np.zeros(4), np.ones((2, 4)), np.zeros(2)
    if kind == "nan":
        w1[1, 2] = np.nan
    elif kind == "inf":
        b2[0] = np.inf
    else:
        w2 = np.ones((2, 5))
    target = tmp_path / "target.npz"
    _bad_target(target, [w1, w2], [b1, b2])
    out = tmp_path / "t.npz"
    code, _, err = _run(["construct", str(target), "--method", "2l", "--rho", "8",
                         "--out", str(out)], capsys)
    assert code == 2 and message in err and not out.exists()


def test_api_validation():
    target = random_target((3, 4, 2), np.random.default_rng(0))
    with pytest.raises(InputError, match="unknown method"):
        construct(target, "3l", eps_param=0.1, delta=0.1, rng=0, rho=4)
    with pytest.raises(InputError, match="eps_param"):
        construct(target, "2l", eps_param=float("nan"), delta=0.1, rng=0, rho=4)
    with pytest.raises(InputError, match="dimension"):
        construct(target, "2l", eps_param=0.1, delta=0.1, rng=0, rho=4,
                  domain=Box.cube(-1, 1, 5))
    with pytest.raises(InputError, match="rng is required"):
        construct(target, "2l", eps_param=0.1, delta=0.1, rng=None, rho=4)
    with pytest.raises(InputError, match="widen"):
        construct(target, "l+1", eps_param=0.1, delta=0.1, rng=0, rho=4, widen=True)


def test_a_priori_rho_follows_the_rule():
    """ρ grows as ε' and δ shrink, ll's is even, and the default sizing is used by construct."""
    target = random_target((3, 4, 2), np.random.default_rng(0))
    r1 = a_priori_rho("2l", target, 0.05, 0.1)
    assert a_priori_rho("2l", target, 0.01, 0.1) > r1
    assert a_priori_rho("2l", target, 0.05, 0.001) > r1
    assert a_priori_rho("ll", target, 0.05, 0.1) % 2 == 0
    assert a_priori_rho("2l", target, 0.05, 0.1, C=2.0) < r1
    ticket = construct(target, "2l", eps_param=0.2, delta=0.5, rng=0)
    assert ticket.metadata["rho"] == a_priori_rho("2l", target, 0.2, 0.5)
    assert ticket.metadata["rho_source"] == "a_priori"


def test_cli_eps_chooses_eps_param_by_the_a_priori_bound(tmp_path, capsys):
    from lotteryproofs import bounds
    from lotteryproofs.io import load_target

    out = tmp_path / "t.npz"
    code, _, _ = _run(["construct", "random:4-8-3", "--method", "2l", "--rho", "8",
                       "--eps", "0.5", "--out", str(out)], capsys)
    assert code == 0
    eps_param = load_ticket(out).metadata["eps_param"]
    target = load_target("random:4-8-3")
    norms = bounds.target_norms(target, target.activation_bounds(Box.cube(-1, 1, 4)))
    assert 0 < eps_param and bounds.a_priori_output_error("2l", norms, eps_param) <= 0.5
    # the zero-bias floor: no ε' reaches this ε, refused in one line
    code, _, err = _run(["construct", "random:4-8-3", "--method", "zero-bias", "--rho", "8",
                         "--eps", "0.5", "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 2 and "no ε'" in err and not (tmp_path / "z.npz").exists()
