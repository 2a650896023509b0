"""Work overlapped in threads (lotteryproofs.background) gives the sequential results.

The reference is the same code with every :class:`Background` run at once in its starter's
thread (``background.sequential()``, or ``LOTTERYPROOFS_SEQUENTIAL=1`` for a subprocess):
the certificate, the ticket file and the certificate file must be the same, byte for byte
(time fields aside), and an exception raised in a thread must reach the caller.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lotteryproofs import background
from lotteryproofs.background import Background

ROOT = Path(__file__).resolve().parents[1]


def _thread_name():
    return threading.current_thread().name


def test_background_runs_in_another_thread_and_returns_its_value():
    work = Background(lambda a, b=0: (a + b, _thread_name()), 2, b=3, name="adder")
    value, name = work.result()
    assert value == 5 and name == "adder" != _thread_name()
    assert work.done() and work.result()[0] == 5  # result() again: the same value


def test_sequential_runs_in_the_callers_thread():
    with background.sequential():
        assert Background(_thread_name).result() == _thread_name()
    assert Background(_thread_name).result() != _thread_name()


@pytest.mark.parametrize("sequential", [False, True])
def test_an_exception_in_the_thread_is_raised_in_the_caller(sequential):
    class Boom(RuntimeError):
        pass

    def fail():
        raise Boom("no such luck")

    with background.sequential() if sequential else _nothing():
        work = Background(fail)  # not raised at the start: only at result()
    for _ in range(2):  # every call
        with pytest.raises(Boom, match="no such luck"):
            work.result()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _small_ticket(target_spec="random:4-8-8-2:3", rho=16):
    from lotteryproofs.construct import construct
    from lotteryproofs.io import read_target

    target, _ = read_target(target_spec)
    return target, construct(target, "2l", eps_param=0.02, delta=0.1, rng=5, rho=rho,
                             keep_source=False)


def _certificate(target, ticket, **options):
    from lotteryproofs.certify import certify

    cert = certify(ticket, target, (-1.0, 1.0), rng=7, **options)
    data = cert.to_json()
    data.pop("time_s")
    return data, cert.worst_input


@pytest.mark.parametrize("restarts", [None, 0])
def test_certificate_with_the_search_beside_the_bounds_equals_the_sequential_one(restarts):
    target, ticket = _small_ticket()
    overlapped = _certificate(target, ticket, observed_restarts=restarts)
    _, fresh = _small_ticket()  # a fresh ticket: nothing kept from the first read-back
    with background.sequential():
        sequential = _certificate(target, fresh, observed_restarts=restarts)
    assert json.dumps(overlapped[0], sort_keys=True) == json.dumps(sequential[0], sort_keys=True)
    assert overlapped[1].tobytes() == sequential[1].tobytes()


def test_an_error_of_the_observed_search_reaches_the_certificates_caller(monkeypatch):
    from lotteryproofs.certify import certificate

    def broken(*args, **kwargs):
        raise ValueError("the search broke")

    monkeypatch.setattr(certificate, "observed_output_error", broken)
    target, ticket = _small_ticket()
    with pytest.raises(ValueError, match="the search broke"):
        certificate.certify(ticket, target, (-1.0, 1.0))


def _cli(args, cwd, sequential: bool):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOTTERYPROOFS_PROGRESS": "0"}
    env.pop("LOTTERYPROOFS_SEQUENTIAL", None)
    if sequential:
        env["LOTTERYPROOFS_SEQUENTIAL"] = "1"
    out = subprocess.run([sys.executable, "-m", "lotteryproofs", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out


def _without_times(text: str) -> str:
    text = re.sub(r'"time_s": [0-9.eE+-]+', '"time_s": null', text)
    return re.sub(r"construction time [0-9.]+ s", "construction time … s", text)


def test_construct_and_verify_files_are_the_same_overlapped_or_sequential(tmp_path):
    """The command line end to end (the worker thread, the source's sha256 beside the
    construction, the sampled error beside the certificate, the search beside the bounds,
    verify --full's sha256 beside the checks): the same ticket bytes, certificate and
    printed lines."""
    construct = ["construct", "random:6-12-8-3:2", "--method", "2l", "--rho", "12",
                 "--seed", "4"]
    runs = {}
    for sequential in (False, True):
        d = tmp_path / ("sequential" if sequential else "overlapped")
        d.mkdir()
        made = _cli([*construct, "--out", "t.npz", "--json", "c.json"], d, sequential)
        checked = _cli(["verify", "t.npz", "--target", "random:6-12-8-3:2", "--full",
                        "--json", "v.json"], d, sequential)
        runs[sequential] = ((d / "t.npz").read_bytes(),
                            _without_times((d / "c.json").read_text()),
                            _without_times((d / "v.json").read_text()),
                            _without_times(made.stdout), checked.stdout)
    assert "matches" in runs[False][4]
    for a, b in zip(runs[False], runs[True], strict=True):
        assert a == b
