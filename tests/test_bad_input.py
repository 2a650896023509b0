"""Bad input, by class: every case exits 2 with one stderr error line naming the problem
(``lotteryproofs CMD: error: …``; notes may precede it), no traceback, and leaves the working directory exactly as it was (nothing written, nothing
changed).

Each case runs the real command line in a subprocess (``python -m lotteryproofs``) inside a
fresh directory that its ``setup`` prepares. To add a case, append a :class:`Case` to
``CASES`` under its class; ``setup(directory)`` writes the files the command needs and returns
the argument list.
"""

from __future__ import annotations

import json
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


def _write(directory: Path, name: str, content: bytes | None, **arrays) -> str:
    """``content`` as the file's bytes, else ``arrays`` saved with np.savez."""
    if content is None:
        np.savez(directory / name, **arrays)
    else:
        (directory / name).write_bytes(content)
    return name


def _sequential(directory: Path, linear: dict[int, tuple[int, int]], extra=None) -> str:
    """An nn.Sequential state dict: Linear layers of the given shapes at the given indices."""
    arrays = {}
    for index, shape in linear.items():
        arrays[f"{index}.weight"], arrays[f"{index}.bias"] = np.ones(shape), np.zeros(shape[0])
    return _write(directory, "tgt.npz", None, **arrays, **(extra or {}))


def _ticket_file(directory: Path) -> str:
    from lotteryproofs.io import save_ticket
    from lotteryproofs.targets import random_target
    from lotteryproofs.ticket import Ticket

    source = random_target((3, 4, 2), np.random.default_rng(0))
    masks = [np.ones(w.shape, bool) for w in source.weights]
    bias_masks = [np.ones(b.shape, bool) for b in source.biases]
    save_ticket(Ticket(source, masks, bias_masks, 1.0, {"method": "2l"}), directory / "ticket.npz")
    return "ticket.npz"


def _torch_zip(directory: Path) -> str:
    """The zip layout torch.save writes (a pickle inside), under an .npz name."""
    import zipfile

    with zipfile.ZipFile(directory / "tgt.npz", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/version", b"3\n")
    return "tgt.npz"


def _npy_as_npz(directory: Path) -> str:
    with (directory / "tgt.npz").open("wb") as handle:
        np.save(handle, np.ones((4, 3)))
    return "tgt.npz"


def _construct_on(make_target: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    return lambda d: ["construct", make_target(d), "--method", "2l", "--rho", "8"]


def _construct(*extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["construct", _small_target(d), "--method", "2l", "--rho", "8", *extra]


CASES: list[Case] = [
    # ---------------------------------------------------------------- numbers
    Case("numbers", "eps-param-zero", _construct("--eps-param", "0"), "eps_param"),
    Case("numbers", "delta-one", _construct("--delta", "1"), "delta"),
    # ---------------------------------------------------------------- files
    Case("files", "missing-target", lambda d: ["construct", "nope.npz", "--method", "2l"],
         "nope.npz"),
    Case("files", "complex-weights",
         _construct_on(lambda d: _small_target(d, **{"layers.0.weight": np.ones((4, 3)) + 1j})),
         "'layers.0.weight' has complex values"),
    Case("files", "layer-gap",
         _construct_on(lambda d: _small_target(
             d, **{"layers.1.weight": None, "layers.1.bias": None,
                   "layers.2.weight": np.ones((2, 4)), "layers.2.bias": np.ones(2)})),
         "layers.1 is missing"),
    Case("files", "ticket-as-target", _construct_on(_ticket_file), "ticket.npz is a ticket file"),
    Case("files", "ticket-as-verify-target",
         lambda d: ["verify", _ticket_file(d), "--target", _ticket_file(d)], "is a ticket file"),
    Case("files", "adjacent-sequential-indices",
         _construct_on(lambda d: _sequential(d, {0: (4, 3), 1: (2, 4)})),
         "modules 0 and 1 are both Linear layers"),
    Case("files", "batchnorm-keys",
         _construct_on(lambda d: _sequential(d, {0: (4, 3), 3: (2, 4)}, {
             "1.weight": np.ones(4), "1.bias": np.zeros(4), "1.running_mean": np.zeros(4),
             "1.running_var": np.ones(4), "1.num_batches_tracked": np.array(7)})),
         "module 1 looks like BatchNorm (running_mean)"),
    Case("files", "layernorm-keys",
         _construct_on(lambda d: _sequential(d, {0: (4, 3), 3: (2, 4)}, {
             "1.weight": np.ones(4), "1.bias": np.zeros(4)})),
         "module 1 looks like LayerNorm"),
    Case("files", "conv-weight",
         _construct_on(lambda d: _sequential(d, {2: (2, 4)}, {
             "0.weight": np.ones((4, 3, 3, 3)), "0.bias": np.zeros(4)})),
         "module 0 looks like Conv2d"),
    Case("files", "declared-tanh", _construct_on(lambda d: _small_target(
        d, metadata=np.array(json.dumps({"activation": "tanh"})))),
         "activation 'tanh' is declared by tgt.npz but only ReLU targets are supported yet"),
    Case("files", "declared-tanh-bounds", lambda d: [
        "bounds", "--method", "2l", "--target", _small_target(
            d, metadata=np.array(json.dumps({"activation": "Tanh"}))),
        "--eps", "0.1", "--delta", "0.1"], "activation 'Tanh' is declared"),
    Case("files", "declared-softmax-output", _construct_on(lambda d: _small_target(
        d, metadata=np.array(json.dumps({"activation": "relu", "output_activation": "softmax"})))),
         "output_activation 'softmax' is declared"),
    Case("files", "bad-prune-mask",
         _construct_on(lambda d: _sequential(d, {2: (2, 4)}, {
             "0.weight_orig": np.ones((4, 3)), "0.weight_mask": np.full((4, 3), 0.5),
             "0.bias": np.zeros(4)})),
         "0.weight_mask is not binary"),
    Case("files", "pytorch-pickle",
         _construct_on(lambda d: _write(d, "model.pt", b"\x80\x02}q\x00.")),
         "PyTorch pickles are not read; save a state dict with safetensors"),
    Case("files", "torch-save-renamed-npz", _construct_on(_torch_zip), "a PyTorch checkpoint"),
    Case("files", "npy-as-npz", _construct_on(_npy_as_npz), "a single .npy array"),
    Case("files", "metadata-not-json",
         _construct_on(lambda d: _small_target(d, metadata=np.array("{activation: relu"))),
         "its metadata is not valid JSON"),
    Case("files", "input-box-wrong-dimension", _construct_on(lambda d: _small_target(
        d, metadata=np.array(json.dumps({"input_box": {"lower": [0, 0], "upper": [1, 1]}})))),
         "input_box 'lower' has 2 entries but the target has 3 inputs"),
    Case("files", "no-layers",
         _construct_on(lambda d: _write(d, "tgt.npz", None, metadata=np.array("{}"))),
         "no network parameters found"),
    Case("files", "attribute-names",
         _construct_on(lambda d: _write(d, "tgt.npz", None, **{
             "fc1.weight": np.ones((4, 3)), "fc1.bias": np.ones(4),
             "fc2.weight": np.ones((2, 4)), "fc2.bias": np.ones(2)})),
         "name modules by attribute"),
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
