"""The executor layer: the same bytes on every executor, checkpoints that survive SIGKILL and
refuse other parameters, workers lost mid-block, bounded retries, the command-line options.

Expected values are independent: a reference run on one worker (in this process), or the
trial indices a block is known to own (block i owns trials 10 i … 10 i + 9).
"""

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lotteryproofs._validate import InputError
from lotteryproofs.cli import main
from lotteryproofs.executor import BlockFailed, open_checkpoint, open_executor, run_blocks
from lotteryproofs.executor.checkpoint import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
TRIALS_PER_BLOCK = 10


# ------------------------------------------------------------------ block functions (module
# level, so that worker processes can import them by name)
def _drawn_block(task):
    """A block with its own SeedSequence child; late blocks finish first when run in parallel."""
    entropy, block, blocks = task
    time.sleep(0.02 * (blocks - block))
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(block,)))
    return {"values": rng.standard_normal(5), "block": np.array([block])}


def _owned_trials(block: int) -> np.ndarray:
    return np.arange(TRIALS_PER_BLOCK * block, TRIALS_PER_BLOCK * (block + 1))


def _die_once(task):
    """Block ``victim`` kills its own worker process the first time (a marker file remembers)."""
    block, victim, folder = task
    with open(Path(folder) / "calls.log", "a") as log:
        log.write(f"{block}\n")
    marker = Path(folder) / "killed"
    if block == victim and not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(0.2)  # let the other worker be mid-block too
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return {"trials": _owned_trials(block)}


def _always_fails(task):
    with open(Path(task) / "calls.log", "a") as log:
        log.write("call\n")
    raise RuntimeError("disk on fire")


def _user_mistake(task):
    with open(Path(task) / "calls.log", "a") as log:
        log.write("call\n")
    raise InputError("n_max too large")


@pytest.fixture(scope="module")
def cluster_address():
    """One two-worker loopback LocalCluster for the module, made as ``--scheduler dask`` makes
    it (its start and the workers' first imports cost seconds): its scheduler's address."""
    distributed = pytest.importorskip("distributed")
    from lotteryproofs.executor.cluster import _local_cluster

    with _local_cluster(distributed, 2) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def dask_pair(cluster_address):
    with open_executor(workers=1, scheduler="dask", address=cluster_address) as executor:
        yield executor


# ------------------------------------------------------------------ identity across executors
def test_results_are_in_block_order_on_every_executor(dask_pair):
    tasks = [(12345, b, 6) for b in range(6)]
    reference = [_drawn_block(t) for t in tasks]
    with open_executor(workers=1) as one, open_executor(workers=2) as two:
        for executor in (one, two, dask_pair):
            results = run_blocks(_drawn_block, tasks, executor=executor)
            assert [int(r["block"][0]) for r in results] == list(range(6)), executor.name
            for got, want in zip(results, reference, strict=True):
                assert got["values"].tobytes() == want["values"].tobytes(), executor.name


def _constants_cli(tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    code = main(["constants", "--law", "uniform", "--eps", "0.1", "--delta", "0.1",
                 "--trials", "300", "--seed", "9", "--json", str(out), *extra])
    assert code == 0
    return out.read_bytes()


def test_constants_gives_the_same_bytes_on_a_two_worker_local_cluster(tmp_path,
                                                                      cluster_address):
    one = _constants_cli(tmp_path, "one", "--workers", "1")
    dask = _constants_cli(tmp_path, "dask", "--scheduler", "dask", "--address", cluster_address)
    assert dask == one


def test_scheduler_dask_starts_its_own_loopback_cluster():
    pytest.importorskip("distributed")
    with open_executor(workers=2, scheduler="dask") as executor:
        assert executor.workers == 2 and "LocalCluster" in executor.name
        assert run_blocks(math.sqrt, [1.0, 4.0, 9.0], executor=executor) == [1.0, 2.0, 3.0]
    assert executor.name.startswith("Dask")


def test_the_cluster_at_address_reports_its_workers(dask_pair):
    assert dask_pair.workers == 2


def _grid_spec():
    from lotteryproofs.experiments import GridSpec

    return GridSpec(datasets=("wine",), sources=("uniform-zero-bias", "uniform"),
                    densities=(0.2,), options=("plain",), seeds=2, hidden=(8, 8), epochs=2)


def _without_timings(results) -> bytes:
    data = json.loads(json.dumps(results.to_json()))  # a copy: the runs are shared dicts
    for key in ("wall_seconds", "workers", "cpu_seconds", "load_average_at_end"):
        data.pop(key)
    for run in data["runs"]:
        run.pop("seconds"), run.pop("cpu_seconds")
    return json.dumps(data, sort_keys=True).encode()


def test_small_popup_grid_gives_the_same_bytes_on_a_local_cluster(dask_pair, tmp_path):
    from lotteryproofs.experiments import grid_table, run_grid

    spec = _grid_spec()
    one = run_grid(spec, workers=1)
    two = run_grid(spec, executor=dask_pair)
    assert grid_table(two) == grid_table(one)
    assert _without_timings(two) == _without_timings(one)
    # checkpointed and read back (JSON blocks) it is still the same
    run_grid(spec, executor=dask_pair, checkpoint=tmp_path / "grid")
    resumed = run_grid(spec, workers=1, checkpoint=tmp_path / "grid")
    assert _without_timings(resumed) == _without_timings(one)
    # one file per block: the runs of one (dataset, seed) are trained together
    assert len(list((tmp_path / "grid").glob("block*.json"))) == len(spec.datasets) * spec.seeds
    assert len(resumed.runs) == spec.n_runs


# ------------------------------------------------------------------ checkpoints
def _command(out, checkpoint, workers):
    return [sys.executable, "-m", "lotteryproofs", "constants", "--law", "uniform", "--eps",
            "0.01", "--delta", "0.05", "--trials", "1200", "--seed", "4", "--workers", workers,
            "--checkpoint", str(checkpoint), "--json", str(out)]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(
        f"/proc/{pid}/status").read_text().lower()


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_run_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path):
    """Killed on 2 local processes (whose workers must end with it), resumed in-process."""
    reference = tmp_path / "reference.json"
    assert main(["constants", "--law", "uniform", "--eps", "0.01", "--delta", "0.05",
                 "--trials", "1200", "--seed", "4", "--workers", "1",
                 "--json", str(reference)]) == 0
    out, checkpoint = tmp_path / "out.json", tmp_path / "ckpt"
    process = subprocess.Popen(_command(out, checkpoint, "2"), env=_env(), cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(checkpoint.glob("*/n*-b*.npz")):
            assert process.poll() is None, "the run ended before any block was checkpointed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        workers = _children(process.pid)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not out.exists()
    assert workers  # the pool was running
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "worker processes outlived the killed run"
    finished = len(list(checkpoint.glob("*/n*-b*.npz")))
    resumed = subprocess.run(_command(out, checkpoint, "1"), env=_env(), cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert "from the checkpoint" in resumed.stderr
    computed = resumed.stderr.count(" done (")
    assert computed + finished == len(list(checkpoint.glob("*/n*-b*.npz")))


def test_a_checkpoint_of_other_parameters_or_versions_is_refused(tmp_path, capsys):
    checkpoint, out = tmp_path / "ckpt", tmp_path / "out.json"
    args = ["constants", "--law", "uniform", "--eps", "0.1", "--delta", "0.1", "--seed", "4",
            "--workers", "1", "--checkpoint", str(checkpoint)]
    assert main([*args, "--trials", "300"]) == 0
    capsys.readouterr()
    assert main([*args, "--trials", "600", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other parameters: trials = 300 there, 600 now" in err
    assert not out.exists()
    # the same parameters under another package version: refused before any work
    (cell,) = [p for p in checkpoint.iterdir() if p.is_dir()]
    manifest = json.loads((cell / MANIFEST).read_text())
    manifest["lotteryproofs"] = "0.0.1"
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    manifest["sha256"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (cell / MANIFEST).write_text(json.dumps(manifest))
    assert main([*args, "--trials", "300", "--json", str(out)]) == 2
    assert "lotteryproofs 0.0.1" in capsys.readouterr().err and not out.exists()
    # an edited manifest (hash no longer matches) is refused too
    (cell / MANIFEST).write_text(json.dumps({**manifest, "kind": "constants "}))
    assert main([*args, "--trials", "300"]) == 2
    assert "sha256" in capsys.readouterr().err


def test_a_grid_checkpoint_of_another_spec_is_refused(tmp_path):
    from dataclasses import replace

    from lotteryproofs.experiments import run_grid

    spec = _grid_spec()
    first = run_grid(spec, workers=1, checkpoint=tmp_path / "grid")
    with pytest.raises(InputError, match="other parameters: epochs = 2 there, 3 now"):
        run_grid(replace(spec, epochs=3), workers=1, checkpoint=tmp_path / "grid")
    again = run_grid(spec, workers=1, checkpoint=tmp_path / "grid")
    assert again.runs == first.runs  # read back, timings included: nothing was rerun


def test_popup_grid_refuses_a_checkpoint_of_another_grid(tmp_path, capsys):
    from lotteryproofs.experiments import quick_grid

    other = open_checkpoint(tmp_path / "ckpt", "popup-grid", quick_grid(root_seed=1).to_json())
    other.save("run00000", {"test_accuracy": 0.5})
    out = tmp_path / "grid.json"
    assert main(["popup-grid", "--quick", "--workers", "1", "--checkpoint",
                 str(tmp_path / "ckpt"), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "root_seed = 1 there, 0 now" in err
    assert not out.exists()


def test_checkpoint_folder_checks(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and has no manifest"):
        open_checkpoint(tmp_path / "busy", "test", {"a": 1})
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        open_checkpoint(tmp_path / "file", "test", {"a": 1})
    fresh = open_checkpoint(tmp_path / "new" / "deeper", "test", {"a": 1})
    assert not (tmp_path / "new").exists()  # nothing is written before a block finishes
    fresh.save("b0", {"x": 1})
    assert (tmp_path / "new" / "deeper" / MANIFEST).is_file()
    with pytest.raises(InputError, match="belongs to a 'test' run, not 'other'"):
        open_checkpoint(tmp_path / "new" / "deeper", "other", {"a": 1})


def test_checkpointed_blocks_read_back_exactly(tmp_path):
    store = open_checkpoint(tmp_path / "c", "test", {"n": 3})
    arrays = {"covered": np.array([True, False]), "x": np.array([0.1 + 0.2, -0.0, 1e-310])}
    values = {"accuracy": 0.1 + 0.2, "name": "wine", "seed": 3, "loss": float("nan")}
    store.save("a", arrays)
    store.save("b", values)
    again = open_checkpoint(tmp_path / "c", "test", {"n": 3})
    got = again.load("a")
    assert set(got) == set(arrays)
    for key, value in arrays.items():
        assert got[key].dtype == value.dtype and got[key].tobytes() == value.tobytes()
    got = again.load("b")
    assert got["accuracy"] == 0.1 + 0.2 and got["name"] == "wine" and got["seed"] == 3
    assert np.isnan(got["loss"])
    assert again.load("missing") is None
    (tmp_path / "c" / "a.npz").write_bytes(b"truncated")
    assert again.load("a") is None  # unreadable: recomputed, not trusted


def test_finished_blocks_are_not_run_again(tmp_path):
    store = open_checkpoint(tmp_path / "c", "test", {})
    tasks = [(7, b, 4) for b in range(4)]
    first = run_blocks(_drawn_block, tasks[:2], checkpoint=store, keys=["b0", "b1"])
    calls = []

    def counted(task):
        calls.append(task[1])
        return _drawn_block(task)

    results = run_blocks(counted, tasks, checkpoint=store, keys=["b0", "b1", "b2", "b3"])
    assert calls == [2, 3]
    assert results[0]["values"].tobytes() == first[0]["values"].tobytes()
    assert [int(r["block"][0]) for r in results] == [0, 1, 2, 3]


# ------------------------------------------------------------------ failures
def _check_no_trial_lost_or_duplicated(results, checkpoint: Path, blocks: int):
    trials = np.concatenate([r["trials"] for r in results])
    assert np.array_equal(trials, np.arange(TRIALS_PER_BLOCK * blocks))
    assert sorted(p.name for p in checkpoint.glob("*.npz")) == [f"{b:05d}.npz"
                                                                for b in range(blocks)]


def test_a_local_worker_killed_mid_block_loses_and_duplicates_nothing(tmp_path):
    blocks = 6
    store = open_checkpoint(tmp_path / "ckpt", "test", {"blocks": blocks})
    with open_executor(workers=2) as executor:
        results = run_blocks(_die_once, [(b, 2, str(tmp_path)) for b in range(blocks)],
                             executor=executor, checkpoint=store)
    assert (tmp_path / "killed").exists()
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls.count("2") == 2  # block 2 ran twice: once killed, once to the end
    _check_no_trial_lost_or_duplicated(results, tmp_path / "ckpt", blocks)


def test_a_dask_worker_killed_mid_block_loses_and_duplicates_nothing(dask_pair, tmp_path):
    blocks = 6
    store = open_checkpoint(tmp_path / "ckpt", "test", {"blocks": blocks})
    results = run_blocks(_die_once, [(b, 3, str(tmp_path)) for b in range(blocks)],
                         executor=dask_pair, checkpoint=store)
    assert (tmp_path / "killed").exists()
    assert (tmp_path / "calls.log").read_text().split().count("3") == 2
    _check_no_trial_lost_or_duplicated(results, tmp_path / "ckpt", blocks)


def test_failing_blocks_are_retried_a_bounded_number_of_times(tmp_path):
    with pytest.raises(BlockFailed, match=r"block 00000 failed 3 times .*disk on fire"):
        run_blocks(_always_fails, [str(tmp_path)], retries=2, label="test")
    assert (tmp_path / "calls.log").read_text().split() == ["call"] * 3
    (tmp_path / "calls.log").unlink()
    with pytest.raises(InputError, match="n_max too large"):  # a user mistake: no retry
        run_blocks(_user_mistake, [str(tmp_path)], retries=2)
    assert (tmp_path / "calls.log").read_text().split() == ["call"]


def test_one_progress_line_per_block_off_a_terminal(capsys):
    run_blocks(_drawn_block, [(1, b, 3) for b in range(3)], label="demo")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"demo: block {b:05d} done ({b + 1}/3, {line.split(', ')[-1]}"
                     for b, line in enumerate(lines)]
    run_blocks(_drawn_block, [(1, b, 3) for b in range(3)])
    assert capsys.readouterr().err == ""


def test_a_progress_bar_on_a_terminal(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_blocks(_drawn_block, [(1, b, 3) for b in range(3)], label="demo")
    shown = terminal.getvalue()
    assert "demo:" in shown and "/3 [" in shown and "done (" not in shown


# ------------------------------------------------------------------ command-line options
@pytest.mark.parametrize(("extra", "message"), [
    (["--address", "tcp://127.0.0.1:8786"], "--address needs --scheduler dask"),
    (["--scheduler", "dask", "--address", "127.0.0.1:8786"], "tcp://HOST:PORT"),
    (["--workers", "0"], "workers must be an integer >= 1"),
    (["--checkpoint", "ckpt"], "--checkpoint needs --seed"),
])
def test_bad_executor_options_exit_2(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    argv = ["constants", "--law", "uniform", "--eps", "0.1", "--delta", "0.1", "--trials", "10"]
    if "--checkpoint" not in extra:
        argv += ["--seed", "1"]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_scheduler_dask_without_the_extra_names_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    for command in (["constants", "--law", "uniform", "--eps", "0.1", "--delta", "0.1"],
                    ["popup-grid", "--quick"]):
        assert main([*command, "--scheduler", "dask"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "pip install 'lotteryproofs[cluster]'" in err


def test_a_block_failing_for_good_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    import lotteryproofs.constants as constants

    def broken(task):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(constants, "_solve_block", broken)  # in-process: --workers 1
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as stop:
        main(["constants", "--law", "uniform", "--eps", "0.1", "--delta", "0.1", "--trials",
              "10", "--seed", "1", "--workers", "1", "--json", str(out)])
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lotteryproofs constants: error: uniform eps=0.1 n=")
    assert "failed 3 times" in err[-1] and "engine exploded" in err[-1]
    assert not out.exists()
