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
    assert data["rss"]["instances"] == ticket.metadata["rss_summary"]["instances"]
    assert data["errors"]["observed_output_error"] <= data["errors"]["certified_output_error"]


@pytest.mark.parametrize("args, message", [
    (["--eps-param", "0"], "--eps-param must be > 0"),
    (["--eps-param", "-0.1"], "--eps-param must be > 0"),
    (["--delta", "1"], "--delta must lie in (0, 1)"),
    (["--delta", "0"], "--delta must lie in (0, 1)"),
    (["--domain", "1", "1"], "LO < HI"),
    (["--domain", "2", "-1"], "LO < HI"),
    (["--rho", "0"], "--rho must be an integer >= 1"),
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
    from lotteryproofs.construct import get_construction
    from lotteryproofs.io import load_target

    out = tmp_path / "t.npz"
    code, _, _ = _run(["construct", "random:4-8-3", "--method", "2l", "--rho", "8",
                       "--eps", "0.5", "--out", str(out)], capsys)
    assert code == 0
    eps_param = load_ticket(out).metadata["eps_param"]
    target = load_target("random:4-8-3")
    norms = bounds.target_norms(target, target.activation_bounds(Box.cube(-1, 1, 4)))
    spec = get_construction("2l").bound
    assert 0 < eps_param and bounds.a_priori_output_error(spec, norms, eps_param) <= 0.5
    # the zero-bias floor: no ε' reaches this ε, refused in one line
    code, _, err = _run(["construct", "random:4-8-3", "--method", "zero-bias", "--rho", "8",
                         "--eps", "0.5", "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 2 and "no ε'" in err and not (tmp_path / "z.npz").exists()


# ------------------------------------------------------------------ the command line itself
def _subparsers():
    import argparse

    from lotteryproofs.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, sub.choices


def test_every_option_has_help_its_default_and_required_mark():
    import argparse

    parser, commands = _subparsers()
    assert "%%" not in parser.format_help()
    for name, sub in commands.items():
        text = " ".join(sub.format_help().split())
        assert "%%" not in text, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            option = action.option_strings[-1]
            assert action.help, f"{name} {option} has no help text"
            shown = " ".join(sub._get_formatter()._expand_help(action).split())
            if action.required:
                assert "(required)" in shown, f"{name} {option} is not marked required"
            elif action.default not in (None, False) and action.default != argparse.SUPPRESS:
                assert "default" in shown, f"{name} {option} does not show its default"


def test_eps_is_any_positive_absolute_error(tmp_path, capsys):
    code, stdout, err = _run(["construct", "random:3-4-2", "--method", "2l", "--rho", "8",
                              "--eps", "1.0"], capsys)
    assert code == 0, err
    assert "ε' = " in stdout


def test_l_plus_one_with_eps_says_what_to_do_instead(capsys):
    code, _, err = _run(["construct", "random:3-4-2", "--method", "l+1", "--rho", "4",
                         "--eps", "0.1"], capsys)
    assert code == 2 and "give --eps-param" in err and "2l or ll" in err


def test_no_output_is_written_when_a_later_one_is_refused(tmp_path, capsys):
    out = tmp_path / "t.npz"
    out.write_bytes(b"the user's earlier ticket")
    code, _, err = _run(["construct", "random:3-4-2", "--method", "2l", "--rho", "8",
                         "--out", str(out), "--json", str(tmp_path / "no" / "c.json")], capsys)
    assert code == 2 and "does not exist" in err
    assert out.read_bytes() == b"the user's earlier ticket"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]


def test_long_phases_are_announced_on_stderr_not_stdout(monkeypatch, capsys):
    import time

    from lotteryproofs import progress

    monkeypatch.setattr(progress, "PHASE_DELAY_S", 0.05)
    monkeypatch.setenv("LOTTERYPROOFS_PROGRESS", "1")
    with progress.phase("certifying", enabled=False):
        time.sleep(0.3)
    with progress.phase("quick", enabled=False):
        pass
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["… certifying"] and captured.out == ""


# ------------------------------------------------------------------ all-or-nothing outputs
def test_staged_outputs_appear_together_or_not_at_all(tmp_path):
    from lotteryproofs import outputs

    a, b = tmp_path / "a.json", tmp_path / "b.md"
    with pytest.raises(RuntimeError):
        with outputs.staged(a, b) as (sa, sb):
            sa.write_text("1")
            raise RuntimeError("failed before b")
    assert list(tmp_path.iterdir()) == []
    with outputs.staged(a, b) as (sa, sb):
        sa.write_text("1")
        sb.write_text("2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]


def test_abort_discards_a_group_not_yet_moved(tmp_path, monkeypatch):
    import threading

    from lotteryproofs import outputs

    monkeypatch.setattr(outputs, "_ABORTED", threading.Event())
    monkeypatch.setattr(outputs, "_COMMITTED", [])
    target = tmp_path / "t.json"
    with pytest.raises(KeyboardInterrupt):
        with outputs.staged(target) as (staging,):
            staging.write_text("complete but not committed")
            assert outputs.abort() == []
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_writer_cannot_recreate_its_staging_folder(tmp_path, monkeypatch):
    # the figures command builds into a staging folder with mkdir -p; a writer thread still
    # running after Ctrl-C once re-created it between abort's last pass and the exit
    import threading

    from lotteryproofs import outputs

    monkeypatch.setattr(outputs, "_ABORTED", threading.Event())
    monkeypatch.setattr(outputs, "_COMMITTED", [])
    monkeypatch.setattr(outputs, "_EVER_STAGED", [])
    monkeypatch.setattr(outputs, "_LOCK", threading.Lock())
    final = tmp_path / "figs" / "signal.pdf"
    final.parent.mkdir()
    started, done = threading.Event(), threading.Event()
    outcome = {}

    def writer():
        try:
            with outputs.staged(final) as (staging,):
                outputs.make_folder(staging.parent)
                started.set()
                done.wait(5)  # the interrupt lands here
                outputs.make_folder(staging.parent)  # what the figure build does next
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert started.wait(5)
    assert outputs.abort() == []
    done.set()
    thread.join(5)
    assert isinstance(outcome.get("error"), KeyboardInterrupt)
    assert list(final.parent.iterdir()) == []
    # the final pass keeps the lock: a writer can no longer create a folder at all
    assert outputs.abort(final=True) == []
    blocked = threading.Thread(target=lambda: outputs.make_folder(tmp_path / "late"),
                               daemon=True)
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive() and not (tmp_path / "late").exists()


# ------------------------------------------------------------------ memory estimate
def test_memory_estimate_bounds_the_traced_peak(tmp_path):
    """The array part of the per-stage estimate (without the interpreter's baseline) is above
    the peak that tracemalloc traces for the same command (numpy buffers and Python objects,
    in a fresh process), and not absurdly (within 4×) above it. Traced, not resident: the
    resident size also counts numba compiling and allocator slack, which vary by machine."""
    import subprocess
    import sys

    from lotteryproofs import memory
    from lotteryproofs.construct import source_widths

    widths, rho = (64, 64, 32, 10), 60
    script = (
        "import sys, tracemalloc\n"
        "tracemalloc.start()\n"
        "from lotteryproofs.cli import main\n"
        f"code = main(['construct', 'random:{'-'.join(map(str, widths))}', '--method', '2l',"
        f" '--rho', '{rho}', '--out', r'{tmp_path / 't.npz'}', '--json',"
        f" r'{tmp_path / 'c.json'}'])\n"
        "print(tracemalloc.get_traced_memory()[1])\n"
        "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    traced = int(result.stdout.split()[-1])
    estimate = memory.construct_estimate(widths, source_widths("2l", widths, rho), rho,
                                         certify=True, save=True)
    arrays = estimate.peak - memory.BASELINE_BYTES
    assert traced <= arrays <= 4 * traced, (traced, estimate.stages)


def test_memory_refuses_with_the_stage_and_the_number():
    from lotteryproofs import memory

    # the target alone: 10^10 + 10^5 + 10^6 + 10 float64 parameters, held twice
    n_params = 100000 * 100000 + 100000 + 100000 * 10 + 10
    gib = (memory.BASELINE_BYTES + 2 * 8 * n_params) / 2**30
    with pytest.raises(InputError, match=rf"\(target stage\) would need about {gib:.1f} GiB"):
        memory.check_target_spec("random:100000-100000-10", method="2l", rho=None,
                                 certify=False, save=False)


# ------------------------------------------------------------------ numba's cache folder
def test_numba_cache_folder_respects_the_user_and_never_is_the_package(tmp_path):
    from pathlib import Path

    import lotteryproofs
    from lotteryproofs.rss import _exact, _numba_cache

    assert _numba_cache.cache_dir({"NUMBA_CACHE_DIR": str(tmp_path / "mine")}) == \
        tmp_path / "mine"
    assert _numba_cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == \
        tmp_path / "lotteryproofs" / "numba"
    package = Path(lotteryproofs.__file__).resolve().parent
    where = Path(_exact.fsum._cache._cache_path).resolve()
    assert not where.is_relative_to(package), where


def test_version_answers_without_the_heavy_imports():
    """``lotteryproofs --version`` prints what argparse's version action prints (the parser is
    the reference) and imports none of sympy, matplotlib, numba, scipy; nor does building the
    parser (every command module is imported lazily in what it runs)."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io; from lotteryproofs import cli; out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): status = cli.main(['--version'])\n"
            "heavy = [m for m in ('sympy', 'matplotlib', 'numba', 'scipy') if m in sys.modules]\n"
            "ref = io.StringIO()\n"
            "with contextlib.redirect_stdout(ref), contextlib.suppress(SystemExit):\n"
            "    cli.build_parser().parse_args(['--version'])\n"
            "heavy += [m for m in ('sympy', 'matplotlib', 'numba') if m in sys.modules]\n"
            "print(status, out.getvalue() == ref.getvalue(), heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split("\n")[-2] == "0 True []"


def test_a_closed_stdout_ends_quietly_with_the_sigpipe_status():
    """`lotteryproofs bounds … | head`: the reader leaves; no "error: Broken pipe", status 141."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "lotteryproofs", "bounds", "--method", "2l", "--widths", "8,16,4",
         "--eps", "0.1", "--delta", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # no reader at all: the first write fails with EPIPE
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141, stderr
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr
