"""Targets and tickets on disk (DESIGN.md, "Target files" and "Ticket files").

Never unpickles: ``.npz`` files load with ``allow_pickle=False`` and ``.safetensors`` files with
the safetensors library. Every write is atomic (a temporary file in the same folder, then
``os.replace``), and ``.npz`` files are written with fixed zip timestamps so that the same
content gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from lotteryproofs import _validate, targets
from lotteryproofs.network import Box, Network, network_sha256  # noqa: F401 (re-exported)
from lotteryproofs.ticket import RSSLog, Ticket

FORMAT_VERSION = 1
_CANONICAL = re.compile(r"^layers\.(\d+)\.(weight|bias)$")
_SEQUENTIAL = re.compile(r"^(\d+)\.(weight|bias)$")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


# ------------------------------------------------------------------ atomic, deterministic writes
@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else vanishes."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise _validate.InputError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    # mkstemp creates 0600; a result file gets the permissions of an ordinary new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path, data) -> None:
    """JSON with sorted keys and a trailing newline, written atomically."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps)."""
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_arrays(path) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and the ``metadata`` JSON object of an ``.npz`` or ``.safetensors`` file."""
    path = Path(path)
    if not path.is_file():
        raise _validate.InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise _validate.InputError(f"{path}: not a readable .npz file ({exc})") from None
        raw = arrays.pop("metadata", None)
        metadata_text = None if raw is None else str(raw[()])
    elif suffix == ".safetensors":
        try:
            from safetensors import SafetensorError
            from safetensors.numpy import load_file, safe_open
        except ImportError:
            raise _validate.InputError(
                f"{path}: reading .safetensors needs the optional extra: "
                "pip install 'lotteryproofs[safetensors]'"
            ) from None
        try:
            arrays = dict(load_file(path))
            with safe_open(path, framework="np") as handle:
                metadata_text = (handle.metadata() or {}).get("metadata")
        except (SafetensorError, OSError, ValueError) as exc:
            raise _validate.InputError(f"{path}: not a readable .safetensors file ({exc})") from None
    else:
        raise _validate.InputError(f"{path}: expected a .npz or .safetensors file")
    try:
        metadata = json.loads(metadata_text) if metadata_text else {}
    except json.JSONDecodeError as exc:
        raise _validate.InputError(f"{path}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise _validate.InputError(f"{path}: its metadata must be a JSON object")
    return arrays, metadata


def write_arrays(path, arrays: dict[str, np.ndarray], metadata: dict) -> None:
    """Write arrays plus a ``metadata`` JSON string, atomically, as ``.npz`` or ``.safetensors``."""
    path = Path(path)
    metadata_text = json.dumps(metadata, sort_keys=True)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        data = npz_bytes({**arrays, "metadata": np.array(metadata_text)})
    elif suffix == ".safetensors":
        try:
            from safetensors.numpy import save
        except ImportError:
            raise _validate.InputError(
                "writing .safetensors needs the optional extra: pip install 'lotteryproofs[safetensors]'"
            ) from None
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, {"metadata": metadata_text})
    else:
        raise _validate.InputError(f"{path}: output must end in .npz or .safetensors")
    write_bytes_atomic(path, data)


# ---------------------------------------------------------------------------------- networks
def network_arrays(network: Network) -> dict[str, np.ndarray]:
    arrays = {}
    for i, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        arrays[f"layers.{i}.weight"] = w
        arrays[f"layers.{i}.bias"] = b
    return arrays


def network_from_arrays(arrays: dict[str, np.ndarray], origin: str) -> Network:
    """Read ``layers.{i}.weight|bias`` (or nn.Sequential ``N.weight|bias``) into a Network."""
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        match = _CANONICAL.match(key) or _SEQUENTIAL.match(key)
        if match:
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not layers:
        raise _validate.InputError(
            f"{origin}: no network parameters found (expected keys 'layers.0.weight', "
            f"'layers.0.bias', … or '0.weight', '0.bias', …; found {sorted(arrays)[:6]})"
        )
    weights, biases = [], []
    for index in sorted(layers):
        entry = layers[index]
        for part in ("weight", "bias"):
            if part not in entry:
                raise _validate.InputError(f"{origin}: layer {index} has no {part}")
        weights.append(entry["weight"])
        biases.append(entry["bias"])
    try:
        return Network(tuple(weights), tuple(biases))
    except _validate.InputError as exc:
        raise _validate.InputError(f"{origin}: {exc}") from None


# ----------------------------------------------------------------------------------- targets
def read_target(path_or_name) -> tuple[Network, dict]:
    """A target network and its metadata, from a file or a built-in name (targets.py)."""
    name = str(path_or_name)
    if name.startswith(targets.RANDOM_PREFIX):
        widths, seed = targets.parse_random_name(name)
        metadata = {"source": name, "input_box": {"lower": -1.0, "upper": 1.0}}
        return targets.random_target(widths, np.random.default_rng(seed)), metadata
    if name in targets.SHIPPED:
        shipped = targets.SHIPPED[name]
        with resources_path(targets.shipped_target_path(name)) as path:
            arrays, metadata = read_arrays(path)
        metadata = {
            "source": name,
            "description": shipped.description,
            **(
                {"input_box": {"lower": shipped.input_lower, "upper": shipped.input_upper}}
                if shipped.input_lower is not None
                else {}
            ),
            **metadata,
        }
        return network_from_arrays(arrays, name), metadata
    if not Path(name).exists():
        raise _validate.InputError(
            f"target {name!r} is neither a file nor a built-in name "
            f"(built-in: {', '.join(targets.builtin_names())})"
        )
    arrays, metadata = read_arrays(name)
    return network_from_arrays(arrays, name), metadata


def load_target(path_or_name) -> Network:
    """The target network of a file (``.npz``/``.safetensors``) or a built-in name, float64."""
    return read_target(path_or_name)[0]


def target_box(metadata: dict, dim: int) -> Box:
    """The input box a target's metadata names, else the default [-1, 1]^dim."""
    box = metadata.get("input_box")
    if box is None:
        return Box.cube(-1.0, 1.0, dim)
    lower = np.broadcast_to(np.asarray(box["lower"], float), dim)
    upper = np.broadcast_to(np.asarray(box["upper"], float), dim)
    return Box(lower, upper)


def save_target(network: Network, path, metadata: dict | None = None) -> None:
    """Write a target file (``layers.{i}.weight|bias`` + ``metadata`` JSON), atomically."""
    write_arrays(path, network_arrays(network), dict(metadata or {}))


@contextlib.contextmanager
def resources_path(traversable):
    from importlib import resources

    with resources.as_file(traversable) as path:
        yield path


# ----------------------------------------------------------------------------------- tickets
def ticket_arrays(ticket: Ticket) -> dict[str, np.ndarray]:
    arrays = network_arrays(ticket.source)
    for i, (wm, bm) in enumerate(zip(ticket.weight_masks, ticket.bias_masks, strict=True)):
        arrays[f"layers.{i}.weight_mask"] = wm
        arrays[f"layers.{i}.bias_mask"] = bm
    arrays["scale"] = np.array(ticket.scale, dtype=np.float64)
    if ticket.rss_log is not None:
        for name, column in ticket.rss_log.columns().items():
            arrays[f"rss.{name}"] = column
    return arrays


def save_ticket(ticket: Ticket, path) -> None:
    """Write a ticket file (DESIGN.md "Ticket files"), atomically; same ticket, same bytes."""
    metadata = {"format_version": FORMAT_VERSION, **ticket.metadata}
    write_arrays(path, ticket_arrays(ticket), metadata)


def load_ticket(path) -> Ticket:
    """Read a ticket file written by :func:`save_ticket` (or by anyone following the contract)."""
    arrays, metadata = read_arrays(path)
    source = network_from_arrays(arrays, str(path))
    try:
        weight_masks = tuple(arrays[f"layers.{i}.weight_mask"] for i in range(source.depth))
        bias_masks = tuple(arrays[f"layers.{i}.bias_mask"] for i in range(source.depth))
        scale = np.asarray(arrays["scale"], dtype=np.float64).reshape(-1)
    except KeyError as exc:
        raise _validate.InputError(f"{path}: not a ticket file (missing {exc.args[0]})") from None
    if scale.shape != (1,):  # safetensors has no 0-d tensors: accept any single element
        raise _validate.InputError(f"{path}: 'scale' must hold one number, got shape {scale.shape}")
    scale = float(scale[0])
    rss_columns = {k[len("rss.") :]: v for k, v in arrays.items() if k.startswith("rss.")}
    try:
        rss_log = RSSLog(**rss_columns) if rss_columns else None
    except TypeError as exc:
        raise _validate.InputError(f"{path}: its RSS log is malformed ({exc})") from None
    try:
        return Ticket(source, weight_masks, bias_masks, scale, metadata, rss_log)
    except _validate.InputError as exc:
        raise _validate.InputError(f"{path}: {exc}") from None
