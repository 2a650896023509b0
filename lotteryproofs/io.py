"""Targets and tickets on disk (DESIGN.md, "Target files" and "Ticket files").

Never unpickles: ``.npz`` files load with ``allow_pickle=False``, ``.safetensors`` files are
parsed by :mod:`lotteryproofs.safetensors_format`, and PyTorch pickles (``.pt``, ``.pth``, …) are
refused. Which arrays make a network is :mod:`lotteryproofs.state_dict`'s concern, what the
metadata declares :mod:`lotteryproofs.target_info`'s; docs/files.md documents both. Every write
is atomic (a temporary file in the same folder, then ``os.replace``; an error names the user's
path, never the temporary one), and ``.npz`` files are written with fixed zip timestamps so
that the same content gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from lotteryproofs import _validate, architecture, state_dict, targets
from lotteryproofs.activations import get_activation
from lotteryproofs.network import Box, Network, network_sha256  # noqa: F401 (re-exported)
from lotteryproofs.safetensors_format import read_safetensors
from lotteryproofs.target_info import TargetInfo, declared_box, hidden_activations, target_info
from lotteryproofs.ticket import RSSLog, SourceOrigin, Ticket

FORMAT_VERSION = 1
_TICKET_SOURCE_KEY = re.compile(r"^layers\.\d+\.(weight|bias)$")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Suffixes of files that torch.save (a pickle) writes; unpickling runs arbitrary code.
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
_PICKLE_SUFFIXES = (".pkl", ".pickle")
#: Declarations also read straight from safetensors' __metadata__ (docs/files.md).
_DIRECT_METADATA = ("activation", "output_activation", "input_box")
_TORCH_ADVICE = ("PyTorch pickles are not read; save a state dict with safetensors: "
                 "safetensors.torch.save_file(model.state_dict(), 'target.safetensors')")


# ------------------------------------------------------------------ atomic, deterministic writes
@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else vanishes."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise _validate.InputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _validate.InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    # mkstemp creates 0600; a result file gets the permissions of an ordinary new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        # The temporary name means nothing to the user: say which of their paths failed.
        if tmp in (exc.filename, exc.filename2):
            raise _validate.InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
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


def npz_bytes(arrays: dict[str, np.ndarray], *, compress: bool = False) -> bytes:
    """A ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps); uncompressed
    unless ``compress`` (deflate, which is deterministic for a given zlib)."""
    buffer = _io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def _check_npz_members(path: Path) -> None:
    """Refuse a torch.save archive, and any member whose .npy header declares more data than it
    holds, before numpy allocates what the header declares (a 20-byte header can ask for
    74.5 GiB); the total must also fit in memory."""
    total = 0
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if any(m.filename.endswith("data.pkl") for m in members):  # torch.save's zip layout
            raise _validate.InputError(
                f"{path}: a PyTorch checkpoint (torch.save); {_TORCH_ADVICE}")
        for member in members:
            if not member.filename.endswith(".npy"):
                continue  # np.load hands back its raw bytes: refused by the caller
            with archive.open(member) as handle:
                if handle.read(6) != b"\x93NUMPY":
                    continue  # not an array: refused by the caller
                handle.seek(0)
                version = np.lib.format.read_magic(handle)
                # version 3.0 is 2.0 with a UTF-8 header: the same reader parses plain dtypes
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = reader(handle)
                declared = math.prod(shape) * dtype.itemsize
                if not dtype.hasobject and member.file_size - handle.tell() != declared:
                    raise _validate.InputError(
                        f"{path}: the member {member.filename!r} declares {declared} bytes of "
                        f"data but holds {member.file_size - handle.tell()} (a damaged file)"
                    )
                total += declared
    _validate.fits_in_memory(total, f"reading {path}")


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], str | None]:
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise _validate.InputError(
            f"{path}: a single .npy array, not an .npz archive (save the layers with "
            "np.savez(path, **{'layers.0.weight': …, 'layers.0.bias': …}))"
        )
    if magic[:1] == b"\x80":
        raise _validate.InputError(f"{path}: a pickle, not an .npz archive; {_TORCH_ADVICE}")
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise _validate.InputError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        _check_npz_members(path)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, _validate.InputError):
            raise
        raise _validate.InputError(f"{path}: not a readable .npz file ({exc})") from None
    # np.load hands back the raw bytes of a zip member that is not a .npy array
    stray = sorted(key for key, value in arrays.items() if not isinstance(value, np.ndarray))
    if stray:
        raise _validate.InputError(f"{path}: the archive member {stray[0]!r} is not a .npy array")
    raw = arrays.pop("metadata", None)
    if raw is None:
        return arrays, None
    if raw.ndim != 0 or raw.dtype.kind not in "US":
        raise _validate.InputError(
            f"{path}: 'metadata' must be a JSON string (np.array(json.dumps(...))), got an "
            f"array of dtype {raw.dtype} and shape {raw.shape}"
        )
    text = raw[()]
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _validate.InputError(f"{path}: its metadata is not UTF-8 ({exc})") from None
    return arrays, str(text)


def read_arrays(path) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and the ``metadata`` JSON object of an ``.npz`` or ``.safetensors`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise _validate.InputError(f"{path}: a folder, not a file")
    if not path.is_file():
        raise _validate.InputError(f"{path}: no such file")
    if suffix == ".npz":
        arrays, metadata_text = _read_npz(path)
    elif suffix == ".safetensors":
        arrays, header_metadata = read_safetensors(path)
        metadata_text = header_metadata.get("metadata")
        direct = {k: v for k, v in header_metadata.items() if k in _DIRECT_METADATA}
    elif suffix in _TORCH_SUFFIXES:
        raise _validate.InputError(f"{path}: {_TORCH_ADVICE}")
    elif suffix in _PICKLE_SUFFIXES:
        raise _validate.InputError(
            f"{path}: pickles are not read (unpickling runs arbitrary code); save the arrays "
            "as .npz or .safetensors"
        )
    else:
        raise _validate.InputError(f"{path}: expected a .npz or .safetensors file")
    try:
        metadata = json.loads(metadata_text) if metadata_text else {}
    except json.JSONDecodeError as exc:
        raise _validate.InputError(f"{path}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise _validate.InputError(f"{path}: its metadata must be a JSON object")
    if suffix == ".safetensors":
        metadata = _merge_direct_metadata(path, metadata, direct)
    return arrays, metadata


def _merge_direct_metadata(path: Path, metadata: dict, direct: dict[str, str]) -> dict:
    """Declarations written straight into safetensors' ``__metadata__`` (str → str), as
    ``save_file(tensors, path, metadata={"activation": "tanh"})`` does: honoured, never lost."""
    merged = dict(metadata)
    for key, text in direct.items():
        if key == "input_box":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _validate.InputError(
                    f"{path}: its __metadata__ input_box is not valid JSON ({exc})") from None
        else:
            value = text
        if key in merged and merged[key] != value:
            raise _validate.InputError(
                f"{path}: {key!r} is declared twice, differently: {merged[key]!r} in the "
                f"'metadata' JSON and {value!r} in __metadata__"
            )
        merged[key] = value
    return merged


def write_arrays(path, arrays: dict[str, np.ndarray], metadata: dict, *,
                 compress: bool = False) -> None:
    """Write arrays plus a ``metadata`` JSON string, atomically, as ``.npz`` or ``.safetensors``
    (``compress``: a deflated ``.npz``; safetensors files are never compressed)."""
    path = Path(path)
    metadata_text = json.dumps(metadata, sort_keys=True)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        data = npz_bytes({**arrays, "metadata": np.array(metadata_text)}, compress=compress)
    elif suffix == ".safetensors":
        try:
            from safetensors.numpy import save
        except ImportError:
            raise _validate.InputError(
                "writing .safetensors needs the optional extra: "
                "pip install 'lotteryproofs[safetensors]'"
            ) from None
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                    {"metadata": metadata_text})
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


def _layers(arrays: dict[str, np.ndarray], origin: str) -> state_dict.Layers:
    layers = state_dict.read_layers(arrays, origin)
    try:
        Network(layers.weights, layers.biases)  # the remaining checks (finite, non-empty)
    except _validate.InputError as exc:
        raise _validate.InputError(f"{origin}: {exc}") from None
    return layers


def network_from_arrays(arrays: dict[str, np.ndarray], origin: str) -> Network:
    """The network of a target's arrays (namings and refusals: :mod:`lotteryproofs.state_dict`)."""
    layers = _layers(arrays, origin)
    return Network(layers.weights, layers.biases)


# ----------------------------------------------------------------------------------- targets
def _refuse_ticket(arrays: dict[str, np.ndarray], metadata: dict, origin: str) -> None:
    evidence = state_dict.ticket_evidence(arrays)
    if evidence is None and "format_version" in metadata and "method" in metadata:
        evidence = f"its metadata names a construction method ({metadata['method']!r})"
    if evidence is not None:
        raise _validate.InputError(
            f"{origin} is a ticket file, not a target ({evidence}): give the target network it "
            "was built for (a ticket is checked by `lotteryproofs verify TICKET --target TARGET`)"
        )


def read_target_info(path_or_name, *, activation: str | None = None
                     ) -> tuple[Network, dict, TargetInfo]:
    """A target network, its metadata, and what it declares and what is assumed for it.

    TARGET is a file (``.npz``/``.safetensors``, docs/files.md) or a built-in name
    (targets.py). Built-in targets are ReLU networks by construction and say so. The network
    is built with the activations the metadata declares (any registered one), else with
    ``activation`` (the command line's ``--activation``), else ReLU, which is then a note.
    """
    name = str(path_or_name)
    box_source = "metadata"
    if name.startswith(targets.RANDOM_PREFIX):
        widths, seed = targets.parse_random_name(name)
        metadata = {"source": name, "activation": "relu"}
        network = targets.random_target(widths, np.random.default_rng(seed))
        return network, metadata, target_info(metadata, network.widths[0], name,
                                              n_hidden=network.depth - 1, activation=activation)
    if name in targets.SHIPPED:
        shipped = targets.SHIPPED[name]
        with resources_path(targets.shipped_target_path(name)) as path:
            arrays, file_metadata = read_arrays(path)
        metadata = {"source": name, "description": shipped.description,
                    "activation": shipped.activation}
        if shipped.input_lower is not None:
            metadata["input_box"] = {"lower": shipped.input_lower, "upper": shipped.input_upper}
            box_source = "built-in"
        if "architecture" in file_metadata:  # the module list declares the activations
            del metadata["activation"]
        metadata.update(file_metadata)
    elif not Path(name).exists():
        raise _validate.InputError(
            f"target {name!r} is neither a file nor a built-in name "
            f"(built-in: {', '.join(targets.builtin_names())})"
        )
    else:
        arrays, metadata = read_arrays(name)
    _refuse_ticket(arrays, metadata, name)
    if "architecture" in metadata:
        network = architecture.network_from_architecture(arrays, metadata, name)
        info = target_info(_architecture_activations(metadata, network, name),
                           network.widths[0], name, box_source=box_source,
                           n_hidden=network.depth - 1, activation=activation)
        return network, metadata, info
    layers = _layers(arrays, name)
    network = Network(layers.weights, layers.biases)  # validates the arrays
    layout = layers.parameter_free_modules()
    info = target_info(metadata, network.widths[0], name, box_source=box_source,
                       layout_assumptions=(layout,) if layout else (),
                       n_hidden=network.depth - 1, activation=activation)
    if not all(spec == "relu" for spec in info.activations):
        network = Network.from_layers(network.layers, info.activations)
    return network, metadata, info


def _architecture_activations(metadata: dict, network: Network, origin: str) -> dict:
    """The metadata with the activations its architecture list declares (the activation
    modules, Identity between adjacent layers), refusing an ``activation`` key that says
    otherwise."""
    specs = tuple(a.spec for a in network.activations)
    if "activation" in metadata:
        given = hidden_activations(origin, metadata["activation"], len(specs))
        if given != specs:
            raise _validate.InputError(
                f"{origin}: metadata activation {metadata['activation']!r} contradicts its "
                f"architecture's activations {list(specs)} (drop the activation key)")
    return {**metadata, "activation": list(specs) if specs else "relu"}


def read_target(path_or_name, *, activation: str | None = None) -> tuple[Network, dict]:
    """A target network and its metadata (:func:`read_target_info` without the record)."""
    network, metadata, _ = read_target_info(path_or_name, activation=activation)
    return network, metadata


def load_target(path_or_name, *, activation: str | None = None) -> Network:
    """The target network of a file (``.npz``/``.safetensors``) or a built-in name, float64,
    with its declared activations (else ``activation``, else ReLU)."""
    return read_target_info(path_or_name, activation=activation)[0]


def target_box(metadata: dict, dim: int, origin: str = "the target") -> Box:
    """The input box a target's metadata names, else the default [-1, 1]^dim."""
    return declared_box(metadata, dim, origin) or Box.cube(-1.0, 1.0, dim)


def save_target(network: Network, path, metadata: dict | None = None) -> None:
    """Write a target file (``layers.{i}.weight|bias`` + ``metadata`` JSON), atomically; a
    network with other layers than Dense is written as nn.Sequential tensors with its
    ``architecture`` and ``input_shape`` (:mod:`lotteryproofs.architecture`).

    A network with other activations than ReLU declares them (``metadata["activation"]``:
    one spec, or one per hidden layer), so that it reads back as itself; a declaration in
    ``metadata`` that contradicts the network is refused. ReLU networks are written as before.
    """
    metadata = dict(metadata or {})
    if not network.is_dense:  # conv, pooling, flatten, residual: the nn.Sequential format
        arrays, declared = architecture.architecture_arrays(network)
        metadata.pop("activation", None)  # the architecture list says it
        metadata.update(declared)
        write_arrays(path, arrays, metadata)
        return
    if not network.is_relu:
        specs = tuple(a.spec for a in network.activations)
        declared = specs[0] if len(set(specs)) == 1 else list(specs)
        if "activation" in metadata:
            given = hidden_activations(
                "save_target metadata", metadata["activation"], len(specs))
            if given != specs:
                raise _validate.InputError(
                    f"save_target: metadata activation {metadata['activation']!r} contradicts "
                    f"the network's {declared!r}")
        metadata["activation"] = declared
    write_arrays(path, network_arrays(network), metadata)


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


def full_source_ticket(ticket: Ticket) -> Ticket:
    """The same ticket holding its whole source (a compact ticket's source regenerated)."""
    if not ticket.compact:
        return ticket
    source = ticket.origin.spec.network()
    if not ticket.source.is_relu:  # the support carries the layout's activations
        source = Network(source.weights, source.biases, activations=ticket.source.activations)
    weight_masks = [np.zeros(w.shape, bool) for w in source.weights]
    bias_masks = [np.zeros(b.shape, bool) for b in source.biases]
    for layer, (wpos, _, bpos, _) in enumerate(ticket.kept()):
        weight_masks[layer].flat[wpos] = True
        bias_masks[layer][bpos] = True
    origin = SourceOrigin(ticket.origin.spec, tuple(np.arange(n) for n in source.widths),
                          ticket.origin.source_sha256, whole=True)
    return Ticket(source, tuple(weight_masks), tuple(bias_masks), ticket.scale, ticket.metadata,
                  ticket.rss_log, origin)


def _narrow(positions: np.ndarray) -> np.ndarray:
    return positions.astype(np.uint32 if positions.max(initial=0) < 2**32 else np.int64)


def compact_ticket_arrays(ticket: Ticket, *, store_log: bool = True) -> dict[str, np.ndarray]:
    """Kept positions (ascending flat indices into the full source, uint32 where they fit) and
    values per layer, Λ and (``store_log``) the log (docs/files.md, "Compact tickets")."""
    arrays = {}
    for i, (wpos, wval, bpos, bval) in enumerate(ticket.kept()):
        arrays[f"layers.{i}.weight_kept"] = _narrow(wpos)
        arrays[f"layers.{i}.weight_values"] = np.asarray(wval, np.float64)
        arrays[f"layers.{i}.bias_kept"] = _narrow(bpos)
        arrays[f"layers.{i}.bias_values"] = np.asarray(bval, np.float64)
    arrays["scale"] = np.array(ticket.scale, dtype=np.float64)
    if ticket.rss_log is not None and store_log:
        for name, column in ticket.rss_log.columns().items():
            arrays[f"rss.{name}"] = column
    return arrays


def save_ticket(ticket: Ticket, path, *, store_source: bool = False,
                store_log: bool = True) -> None:
    """Write a ticket file (DESIGN.md "Ticket files"), atomically; same ticket, same bytes.

    A compact ticket is written compact (its source as scheme, widths, options, seed, numpy
    version and the full source's sha256 in the metadata's ``source``; the kept positions and
    values; a deflated ``.npz``) unless ``store_source``, which writes the whole source and
    its masks. ``store_log=False`` leaves the RSS log out of a compact ticket (its summary stays
    in the metadata's ``rss_summary``; the log is the deterministic by-product of re-running
    the construction with the same seed).
    """
    if not isinstance(ticket, Ticket):  # a convolutional ticket: its own file layout
        save_conv_ticket(ticket, path, store_source=store_source, store_log=store_log)
        return
    if ticket.origin is not None and not store_source:
        source = {**ticket.origin.spec.to_json(), "sha256": ticket.origin.source_sha256}
        metadata = {"format_version": FORMAT_VERSION, **ticket.metadata, "source": source}
        if ticket.rss_log is not None and not store_log:
            metadata["rss_summary"] = ticket.rss_log.summary()
        write_arrays(path, compact_ticket_arrays(ticket, store_log=store_log), metadata,
                     compress=True)
        return
    ticket = full_source_ticket(ticket)
    metadata = {"format_version": FORMAT_VERSION, **ticket.metadata}
    write_arrays(path, ticket_arrays(ticket), metadata)


_COMPACT_KEY = re.compile(r"^layers\.\d+\.(weight|bias)_(kept|values)$")


def _kept_arrays(path, arrays, spec, layer: int, part: str):
    n = spec.widths[layer + 1] * (spec.widths[layer] if part == "weight" else 1)
    return _kept_positions(path, arrays, (f"layers.{layer}.{part}_kept",
                                          f"layers.{layer}.{part}_values"), n, "compact ticket")


def _kept_positions(path, arrays, names: tuple[str, str], n: int, what: str):
    """The (positions, values) pair stored under ``names``: ascending int positions in [0, n)
    and one float64 value each; anything else is a damaged file (one-line InputError)."""
    for name in names:
        if name not in arrays:
            raise _validate.InputError(f"{path}: not a complete {what} (missing {name})")
    pos, values = arrays[names[0]], arrays[names[1]]
    if pos.ndim != 1 or pos.dtype.kind not in "iu":
        raise _validate.InputError(f"{path}: {names[0]} must be a 1-D array of integers")
    if values.shape != pos.shape or values.dtype != np.float64:
        raise _validate.InputError(
            f"{path}: {names[1]} must be float64 with one value per position of {names[0]}")
    pos = pos.astype(np.int64)
    if pos.size and (pos[0] < 0 or pos[-1] >= n or np.any(np.diff(pos) <= 0)):
        raise _validate.InputError(
            f"{path}: {names[0]} must be ascending positions in [0, {n}) (a damaged file?)")
    return pos, values


def _regenerate_check(path, spec, kept) -> None:
    """Every kept value must be the seed's: byte-equal to its position's regenerated value."""
    drawn = None if spec.tiled else spec.network()
    streams = spec.streams
    for layer, (wpos, wval, bpos, bval) in enumerate(kept):
        cols = spec.widths[layer]
        rows, cc = wpos // cols, wpos % cols
        if drawn is None:
            weights, biases = spec.values_at(layer, rows, cc, streams), spec.biases(layer, streams)
        else:
            weights, biases = drawn.weights[layer][rows, cc], drawn.biases[layer]
        checks = (("weight", wval, weights, [rows, cc]), ("bias", bval, biases[bpos], [bpos]))
        for what, got, want, index in checks:
            bad = np.flatnonzero(got.view(np.uint64) != want.view(np.uint64))
            if bad.size:
                where = ", ".join(str(int(i[bad[0]])) for i in index)
                raise _validate.InputError(
                    f"{path}: kept value at layers.{layer}.{what}[{where}] does not "
                    "regenerate from the seed (another numpy, or a damaged file; a ticket written "
                    "with --store-source holds its source)")


def _load_compact(path, arrays, metadata) -> Ticket:
    from lotteryproofs.init import SourceSpec

    source = metadata.get("source")
    if not isinstance(source, dict):
        raise _validate.InputError(f"{path}: a compact ticket needs its metadata 'source'")
    spec = SourceSpec.from_json(source, str(path))
    sha = source.get("sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise _validate.InputError(f"{path}: its source sha256 is not a sha256 hex digest")
    stray = sorted(key for key in arrays if not (_COMPACT_KEY.match(key) or key == "scale"
                                                 or key.startswith("rss.")))
    if stray or any(int(k.split(".")[1]) >= spec.depth for k in arrays if _COMPACT_KEY.match(k)):
        bad = stray[0] if stray else next(k for k in arrays if _COMPACT_KEY.match(k)
                                          and int(k.split(".")[1]) >= spec.depth)
        raise _validate.InputError(
            f"{path}: {bad!r} is not part of a compact ticket of {spec.depth} layers")
    kept = [(*_kept_arrays(path, arrays, spec, i, "weight"),
             *_kept_arrays(path, arrays, spec, i, "bias")) for i in range(spec.depth)]
    _regenerate_check(path, spec, kept)
    scale, rss_log = _scale_and_log(path, arrays)
    from lotteryproofs.ticket import droppable_levels, support_ticket

    specs = _layout_activation_specs(path, metadata, spec.depth)
    try:
        ticket = support_ticket(spec, kept, scale, metadata, rss_log,
                                droppable=droppable_levels(metadata.get("layout")),
                                source_sha256=sha, activations=None if specs is None else
                                [get_activation(a) for a in specs])
    except _validate.InputError as exc:
        raise _validate.InputError(f"{path}: {exc}") from None
    _check_ticket_domain(path, metadata, spec.widths[0])
    return ticket


def _scale_and_log(path, arrays):
    if "scale" not in arrays:
        raise _validate.InputError(f"{path}: not a ticket file (missing scale)")
    scale = state_dict.real_array(str(path), "scale", arrays["scale"]).reshape(-1)
    if scale.shape != (1,):  # safetensors has no 0-d tensors: accept any single element
        raise _validate.InputError(f"{path}: 'scale' must hold one number, got shape {scale.shape}")
    rss_columns = {k[len("rss.") :]: v for k, v in arrays.items() if k.startswith("rss.")}
    try:
        rss_log = RSSLog(**rss_columns) if rss_columns else None
    except TypeError as exc:
        raise _validate.InputError(f"{path}: its RSS log is malformed ({exc})") from None
    return float(scale[0]), rss_log


def _check_ticket_domain(path, metadata, n_inputs: int) -> None:
    if "domain" in metadata:
        try:
            domain = Box.from_json(metadata["domain"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _validate.InputError(
                f"{path}: its metadata 'domain' is not an input box ({exc!r})") from None
        if domain.dim != n_inputs:
            raise _validate.InputError(
                f"{path}: its metadata 'domain' has dimension {domain.dim} but its source has "
                f"{n_inputs} inputs"
            )


def _layout_activation_specs(path, metadata, depth: int):
    """The hidden activations a ticket's layout records (``layout.activations``: constructions
    for activations other than ReLU), checked to be depth − 1 of them; None when none are."""
    layout = metadata.get("layout") if isinstance(metadata, dict) else None
    specs = layout.get("activations") if isinstance(layout, dict) else None
    if specs is not None and (not isinstance(specs, list) or len(specs) != depth - 1):
        raise _validate.InputError(
            f"{path}: layout.activations must list {depth - 1} activations, got {specs!r}")
    return specs


def _with_source_activations(path, source: Network, metadata) -> Network:
    """The source with the hidden activations its layout records; ReLU when none are."""
    specs = _layout_activation_specs(path, metadata, source.depth)
    if specs is None:
        return source
    return Network(source.weights, source.biases,
                   activations=[get_activation(a) for a in specs])


def load_ticket(path) -> Ticket:
    """Read a ticket file written by :func:`save_ticket` (or by anyone following the contract).

    A compact ticket's kept values are checked to regenerate from its seed (one line naming
    the first that does not); a ticket holding its whole source is read as it is.
    """
    arrays, metadata = read_arrays(path)
    if _is_conv_ticket_file(metadata):
        return load_conv_ticket(path, arrays, metadata)
    if any(_COMPACT_KEY.match(key) for key in arrays):
        return _load_compact(path, arrays, metadata)
    if not any(key.endswith("_mask") for key in arrays) and "scale" not in arrays:
        raise _validate.InputError(
            f"{path}: not a ticket file (no masks 'layers.{{i}}.weight_mask' and no scale; a "
            "target? tickets are written by `lotteryproofs construct --out`)"
        )
    # the source's parameters; the masks, Λ and the RSS log are read below
    source = _with_source_activations(path, network_from_arrays(
        {k: v for k, v in arrays.items() if _TICKET_SOURCE_KEY.match(k)}, str(path)), metadata)
    mask_keys = [f"layers.{i}.{part}_mask"
                 for i in range(source.depth) for part in ("weight", "bias")]
    missing = [key for key in (*mask_keys, "scale") if key not in arrays]
    if missing:
        raise _validate.InputError(f"{path}: not a ticket file (missing {missing[0]})")
    stray = sorted(key for key in arrays if not (_TICKET_SOURCE_KEY.match(key) or key == "scale"
                                                 or key in mask_keys or key.startswith("rss.")))
    if stray:
        raise _validate.InputError(
            f"{path}: {stray[0]!r} is not part of a ticket of {source.depth} layers (a damaged "
            "or hand-edited file?)"
        )
    masks = {key: state_dict.real_array(str(path), key, arrays[key], mask=True)
             for key in mask_keys}
    weight_masks = tuple(masks[f"layers.{i}.weight_mask"] for i in range(source.depth))
    bias_masks = tuple(masks[f"layers.{i}.bias_mask"] for i in range(source.depth))
    scale, rss_log = _scale_and_log(path, arrays)
    _check_ticket_domain(path, metadata, source.widths[0])
    try:
        return Ticket(source, weight_masks, bias_masks, scale, metadata, rss_log)
    except _validate.InputError as exc:
        raise _validate.InputError(f"{path}: {exc}") from None


# ------------------------------------------------------------------ convolutional tickets
#: Array names of a convolutional ticket file: kept positions/values per source parameter
#: array (``parameter_arrays`` order), the source's own tensors when stored, Λ and the log.
_CONV_KEPT_KEY = re.compile(r"^params\.(\d+)\.(kept|values)$")
_CONV_SOURCE_PREFIX = "source."


def _is_conv_ticket_file(metadata) -> bool:
    source = metadata.get("source") if isinstance(metadata, dict) else None
    return isinstance(source, dict) and source.get("kind") == "conv"


def save_conv_ticket(ticket, path, *, store_source: bool = False,
                     store_log: bool = True) -> None:
    """Write a :class:`~lotteryproofs.ticket.ConvTicket` (docs/files.md, "Convolutional
    tickets"): the source's spec and sha256 in the metadata's ``source``, per source parameter
    array k the ascending flat positions ``params.{k}.kept`` and the source values
    ``params.{k}.values`` of the kept entries, Λ, and the log unless ``store_log`` is False
    (its summary stays in ``rss_summary``); ``store_source`` adds the source's tensors under
    ``source.{name}`` (the nn.Sequential names of its architecture). Deflated, atomic; same
    ticket, same bytes."""
    if ticket.origin is None:
        raise _validate.InputError("a convolutional ticket without its seeded source cannot be "
                                   "written (build it with construct_conv)")
    arrays: dict[str, np.ndarray] = {}
    for k, (pos, values) in enumerate(ticket.kept()):
        arrays[f"params.{k}.kept"] = _narrow(pos)
        arrays[f"params.{k}.values"] = np.asarray(values, np.float64)
    if store_source:
        named, _ = architecture.architecture_arrays(ticket.source)
        arrays.update({_CONV_SOURCE_PREFIX + name: value for name, value in named.items()})
    arrays["scale"] = np.array(ticket.scale, dtype=np.float64)
    metadata = {"format_version": FORMAT_VERSION, **ticket.metadata,
                "source": {**ticket.origin.spec.to_json(),
                           "sha256": ticket.origin.source_sha256}}
    if ticket.rss_log is not None and store_log:
        for name, column in ticket.rss_log.columns().items():
            arrays[f"rss.{name}"] = column
    elif ticket.rss_log is not None:
        metadata["rss_summary"] = ticket.rss_log.summary()
    write_arrays(path, arrays, metadata, compress=True)


def _conv_layout(path, metadata) -> tuple:
    layout = metadata.get("layout")
    # kinds: conv 2L's pairs; the conv L+1's first pair and copy layers (with their copies).
    # Verify compares the entries with the construction's own layout for the target.
    kinds = {"pair": (), "l+1 block": ("copies",), "l+1 copies": ("copies",)}
    ok = isinstance(layout, list) and all(
        isinstance(e, dict) and e.get("kind") in kinds and all(
            isinstance(e.get(k), int) and not isinstance(e.get(k), bool) and e[k] >= 0
            for k in ("parameter_index", "n_in", "n_out", *kinds[e["kind"]])) for e in layout)
    if not ok:
        raise _validate.InputError(f"{path}: its metadata 'layout' must list the pairs "
                                   "(kind, parameter_index, n_in, n_out) of the construction")
    return tuple(dict(e) for e in layout)


def load_conv_ticket(path, arrays, metadata):
    """Read a convolutional ticket file (:func:`save_conv_ticket`): the source is drawn again
    from its spec (or read from ``source.*`` when stored), its sha256 must be the recorded one,
    and every kept value must be byte-equal to the source's value at its position."""
    from lotteryproofs.conv_source import ConvSourceSpec
    from lotteryproofs.ticket import ConvOrigin, ConvTicket

    source_meta = metadata["source"]
    spec = ConvSourceSpec.from_json(source_meta, str(path))
    sha = source_meta.get("sha256")
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise _validate.InputError(f"{path}: its source sha256 is not a sha256 hex digest")
    stored = {k[len(_CONV_SOURCE_PREFIX):]: v for k, v in arrays.items()
              if k.startswith(_CONV_SOURCE_PREFIX)}
    n = len(spec.parameters)
    stray = sorted(k for k in arrays if not (
        k == "scale" or k.startswith("rss.") or k.startswith(_CONV_SOURCE_PREFIX)
        or (_CONV_KEPT_KEY.match(k) and int(_CONV_KEPT_KEY.match(k).group(1)) < n)))
    if stray:
        raise _validate.InputError(
            f"{path}: {stray[0]!r} is not part of a convolutional ticket of {n} parameter arrays")
    if stored:
        source = architecture.network_from_architecture(
            {k: state_dict.real_array(str(path), k, v) for k, v in stored.items()},
            dict(spec.architecture), str(path))
        what = "its stored source"
    else:
        source = spec.network()
        what = "the source regenerated from its seed"
    params = source.parameter_arrays
    if [tuple(p.shape) for p in params] != [tuple(s) for _, s in spec.parameters]:
        raise _validate.InputError(f"{path}: the source's parameter shapes differ from the "
                                   "shapes its metadata 'source.parameters' lists")
    digest = network_sha256(source)
    if digest != sha:
        raise _validate.InputError(f"{path}: {what} has sha256 {digest}, the ticket records "
                                   f"{sha} (another numpy, or a damaged file)")
    masks = []
    for k, p in enumerate(params):
        pos, values = _kept_positions(path, arrays, (f"params.{k}.kept", f"params.{k}.values"),
                                      p.size, "convolutional ticket")
        want = np.ascontiguousarray(p.reshape(-1)[pos])
        bad = np.flatnonzero(np.ascontiguousarray(values).view(np.uint64) != want.view(np.uint64))
        if bad.size:
            raise _validate.InputError(
                f"{path}: kept value at params.{k}[{int(pos[bad[0]])}] does not regenerate from "
                f"the seed ({what} holds another value there: a damaged or hand-edited file)")
        mask = np.zeros(p.size, bool)
        mask[pos] = True
        masks.append(mask.reshape(p.shape))
    scale, rss_log = _scale_and_log(path, arrays)
    _check_ticket_domain(path, metadata, source.widths[0])
    try:
        return ConvTicket(source, tuple(masks), scale, spec.layer_scales, rss_log,
                          _conv_layout(path, metadata), metadata, ConvOrigin(spec, sha))
    except _validate.InputError as exc:
        raise _validate.InputError(f"{path}: {exc}") from None
