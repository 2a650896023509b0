"""Bad input, by class: every case exits 2 with one stderr error line naming the problem
(``lotteryproofs CMD: error: …``; notes may precede it), no traceback, and leaves the working directory exactly as it was (nothing written, nothing
changed).

Each case runs the real command line in a subprocess (``python -m lotteryproofs``) inside a
fresh directory that its ``setup`` prepares. To add a case, append a :class:`Case` to
``CASES`` under its class; ``setup(directory)`` writes the files the command needs and returns
the argument list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    klass: str                               # "numbers", "paths", "files", "memory", …
    name: str
    setup: Callable[[Path], list[str]]       # prepares the directory, returns argv
    message: str                             # a substring the one stderr line must contain


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lotteryproofs", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns,
                                             p.read_bytes() if p.is_file() else b"")
            for p in sorted(directory.rglob("*"))}


def _small_target(directory: Path, name: str = "tgt.npz", **arrays) -> str:
    """A 3-4-2 target in canonical names, with ``arrays`` overriding or adding keys."""
    rng = np.random.default_rng(0)
    data = {"layers.0.weight": rng.uniform(-1, 1, (4, 3)), "layers.0.bias": rng.uniform(-1, 1, 4),
            "layers.1.weight": rng.uniform(-1, 1, (2, 4)), "layers.1.bias": rng.uniform(-1, 1, 2)}
    data.update(arrays)
    data = {k: v for k, v in data.items() if v is not None}
    np.savez(directory / name, **data)
    return name


def _construct(*extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["construct", _small_target(d), "--method", "2l", "--rho", "8", *extra]


CASES: list[Case] = [
    # ---------------------------------------------------------------- numbers
    Case("numbers", "eps-param-zero", _construct("--eps-param", "0"), "eps_param"),
    Case("numbers", "delta-one", _construct("--delta", "1"), "delta"),
    # ---------------------------------------------------------------- files
    Case("files", "missing-target", lambda d: ["construct", "nope.npz", "--method", "2l"],
         "nope.npz"),
    # ---------------------------------------------------------------- check
    Case("check", "seed-negative", lambda d: ["check", "--seed", "-1", "--only",
                                              "init.scaling-lemma"], "--seed"),
    Case("check", "seed-not-integer", lambda d: ["check", "--seed", "1.5", "--only",
                                                 "init.scaling-lemma"], "--seed"),
    Case("check", "unknown-key", lambda d: ["check", "--only", "no.such.key"], "no.such.key"),
    Case("check", "junit-missing-folder", lambda d: ["check", "--only", "init.scaling-lemma",
                                                     "--junit", "no/dir/j.xml"], "no/dir"),
    Case("check", "out-is-a-file", lambda d: (d / "r").write_text("x") and
         ["check", "--only", "init.scaling-lemma", "--out", "r"], "not a folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.klass}:{c.name}" for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, tmp_path: Path):
    argv = case.setup(tmp_path)
    before = _snapshot(tmp_path)
    result = _run(argv, tmp_path)
    # notes ("assuming ReLU …") may precede it; exactly one line is the error
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(errors) == 1, result.stderr
    assert case.message in errors[0], errors[0]
    assert _snapshot(tmp_path) == before, "the command wrote or changed a file"
