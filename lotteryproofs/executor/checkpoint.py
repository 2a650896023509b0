"""Checkpoints: one folder per run, a manifest, one atomically written file per finished block.

The manifest (``manifest.json``) holds what the blocks depend on — the run's kind and
parameters, the lotteryproofs and numpy versions — and the sha256 of its canonical JSON. A
folder made by another kind of run, other parameters or other versions is refused with a
one-line reason, so a resumed run can never mix blocks of two different computations.

A block's result is a dict: of numpy arrays (saved as ``KEY.npz``, deterministic bytes) or of
JSON values (``KEY.json``; floats are written with ``repr`` and read back exactly). Nothing is
pickled. Every file is written to a temporary name and renamed into place, so a crash (SIGKILL,
a full disk) leaves either the whole file or none; an unreadable block file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lotteryproofs._validate import InputError

MANIFEST = "manifest.json"
FORMAT = 1
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _canonical(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def manifest_for(kind: str, params: Mapping) -> dict:
    """The manifest of a run: kind, parameters (as JSON), versions and their sha256."""
    import numpy

    from lotteryproofs._version import __version__

    try:
        params = json.loads(_canonical(dict(params)))  # tuples become lists, as when re-read
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint parameters must be JSON values: {exc}") from None
    body = {"format": FORMAT, "kind": kind, "lotteryproofs": __version__,
            "numpy": numpy.__version__, "params": params}
    return {**body, "sha256": hashlib.sha256(_canonical(body).encode()).hexdigest()}


def _difference(folder: Path, found: dict, wanted: dict) -> str | None:
    """Why the manifest ``found`` does not fit the run ``wanted`` (one line), or None."""
    if found.get("kind") != wanted["kind"]:
        return f"checkpoint {folder} belongs to a {found.get('kind')!r} run, not {wanted['kind']!r}"
    for package in ("lotteryproofs", "numpy"):
        if found.get(package) != wanted[package]:
            return (f"checkpoint {folder} was made with {package} {found.get(package)}, this is "
                    f"{wanted[package]}: its blocks may differ; use a new folder")
    there, here = found.get("params", {}), wanted["params"]
    for name in sorted(set(there) | set(here)):
        if there.get(name) != here.get(name):
            return (f"checkpoint {folder} was made with other parameters: {name} = "
                    f"{_canonical(there.get(name))} there, {_canonical(here.get(name))} now; "
                    f"use a new folder or the same parameters")
    if found != wanted:
        return f"checkpoint {folder} has another manifest ({MANIFEST} differs)"
    return None


def _writable_ancestor(folder: Path) -> None:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write checkpoint folder {folder}: {probe} is not a writable "
                         f"folder")


@dataclass(frozen=True)
class Checkpoint:
    """A run's checkpoint folder (from :func:`open_checkpoint`, which validated it)."""

    folder: Path
    manifest: Mapping

    def _path(self, key: str, suffix: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"a block key must be a plain file name, got {key!r}")
        return self.folder / f"{key}{suffix}"

    def load(self, key: str) -> dict | None:
        """The saved result of block ``key``, or None (not finished, or unreadable)."""
        import numpy as np

        path = self._path(key, ".npz")
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    return {name: data[name] for name in data.files}
            except (OSError, ValueError, EOFError):
                return None  # recomputed, then overwritten
        path = self._path(key, ".json")
        if path.is_file():
            try:
                value = json.loads(path.read_text())
            except (OSError, ValueError):
                return None
            return value if isinstance(value, dict) else None
        return None

    def save(self, key: str, result: Mapping) -> None:
        """Write block ``key``'s result atomically (the manifest first, on the first block)."""
        import numpy as np

        from lotteryproofs.io import npz_bytes, write_bytes_atomic

        if not isinstance(result, Mapping):
            raise TypeError(f"a checkpointed block must return a dict, got {type(result)}")
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / MANIFEST
        if not manifest.exists():
            write_bytes_atomic(manifest, (json.dumps(dict(self.manifest), indent=2,
                                                     sort_keys=True) + "\n").encode())
        if result and all(isinstance(v, np.ndarray) for v in result.values()):
            write_bytes_atomic(self._path(key, ".npz"), npz_bytes(dict(result)))
        else:
            text = json.dumps(dict(result), sort_keys=True, default=_json_scalar)
            write_bytes_atomic(self._path(key, ".json"), (text + "\n").encode())


def _json_scalar(value):
    item = getattr(value, "item", None)  # numpy scalars
    if item is None:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    return item()


def open_checkpoint(folder, kind: str, params: Mapping) -> Checkpoint:
    """Validate ``folder`` as the checkpoint of a ``kind`` run with ``params``.

    A missing folder is created at the first finished block (nothing is written when the run
    fails its input checks); an existing one must hold this run's manifest, or be empty.
    """
    folder = Path(folder)
    wanted = manifest_for(kind, params)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"checkpoint {folder} exists and is not a folder")
    path = folder / MANIFEST
    if path.exists():
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"checkpoint {folder}: {MANIFEST} is unreadable ({exc})") from None
        if not isinstance(found, dict):
            raise InputError(f"checkpoint {folder}: {MANIFEST} is not a manifest")
        body = {k: v for k, v in found.items() if k != "sha256"}
        if hashlib.sha256(_canonical(body).encode()).hexdigest() != found.get("sha256"):
            raise InputError(f"checkpoint {folder}: {MANIFEST} does not match its sha256 "
                             f"(edited or damaged); use a new folder")
        reason = _difference(folder, found, wanted)
        if reason:
            raise InputError(reason)
    elif folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir()):
        raise InputError(f"checkpoint folder {folder} is not empty and has no {MANIFEST}: "
                         f"not a checkpoint; use a new folder")
    _writable_ancestor(folder)
    return Checkpoint(folder, wanted)
