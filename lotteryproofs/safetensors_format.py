"""Reading ``.safetensors`` files with numpy alone, bfloat16 and float16 included.

The format (github.com/huggingface/safetensors, "Format"): 8 bytes N (little-endian unsigned
64-bit), N bytes of a UTF-8 JSON header

    {"NAME": {"dtype": "F32", "shape": [out, in], "data_offsets": [BEGIN, END]}, …,
     "__metadata__": {"KEY": "string value", …}}

padded with spaces, then the byte buffer. Offsets are relative to the buffer; the tensors tile
it exactly (no holes, no overlaps); data are little-endian and row-major.

The safetensors library's numpy API has no bfloat16 (``TypeError: data type 'bfloat16' not
understood``), the dtype PyTorch exports most often. A bfloat16 is the upper 16 bits of a
float32, so shifting its bits 16 places left gives the float32 of exactly the same value; the
reader returns that float32 array (float64 upcasting happens in the Network, exactly).
Everything here refuses a malformed file with an :class:`~lotteryproofs._validate.InputError`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lotteryproofs._validate import InputError, fits_in_memory

#: The safetensors library refuses larger headers too (a guard against hostile files).
MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype → numpy dtype (little-endian). BF16 is widened to float32 (see above).
NUMPY_DTYPES = {
    "BOOL": np.dtype("|b1"),
    "U8": np.dtype("|u1"), "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),  # read so that the caller can refuse it as complex, by name
}


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """The float32 values of bfloat16 bit patterns (uint16): exact, NaN and ±inf included."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"its header names {duplicate!r} twice")
    return dict(pairs)


def _header(path: Path, data: bytes) -> tuple[dict, int]:
    if len(data) < 8:
        raise InputError("shorter than the 8-byte header length")
    size = int.from_bytes(data[:8], "little")
    if size > MAX_HEADER_BYTES or 8 + size > len(data):
        raise InputError(f"header length {size} does not fit the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise InputError("its header is not a JSON object")
    return header, 8 + size


def _naturals(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)


def _entry(name: str, entry, buffer_size: int) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise InputError(f"tensor {name!r} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        raise InputError(f"tensor {name!r} has dtype {dtype!r}")
    if dtype not in NUMPY_DTYPES:
        raise InputError(
            f"tensor {name!r} has dtype {dtype}, which is not read (read: "
            f"{', '.join(d for d in NUMPY_DTYPES if d != 'C64')}); save it as float32"
        )
    if not _naturals(shape):
        raise InputError(f"tensor {name!r} has shape {shape!r}")
    if not _naturals(offsets) or len(offsets) != 2 or not offsets[0] <= offsets[1] <= buffer_size:
        raise InputError(f"tensor {name!r} has data_offsets {offsets!r} outside the data")
    expected = math.prod(shape) * NUMPY_DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != expected:
        raise InputError(
            f"tensor {name!r}: shape {shape} of {dtype} needs {expected} bytes, its offsets "
            f"span {offsets[1] - offsets[0]}"
        )
    return dtype, tuple(shape), offsets[0], offsets[1]


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors of a ``.safetensors`` file (numpy, read-only) and its ``__metadata__``."""
    path = Path(path)
    try:
        fits_in_memory(path.stat().st_size, f"reading {path}")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        header, start = _header(path, data)
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise InputError("its __metadata__ must map strings to strings")
        buffer = memoryview(data)[start:]
        entries = {name: _entry(name, entry, len(buffer)) for name, entry in header.items()}
        # The tensors must tile the buffer: sorted by offset, each starts where the last ended.
        end = 0
        for name, (_, _, begin, stop) in sorted(entries.items(), key=lambda e: e[1][2:]):
            if begin != end:
                raise InputError(f"tensor {name!r} starts at byte {begin}, expected {end}")
            end = stop
        if end != len(buffer):
            raise InputError(f"{len(buffer) - end} bytes after the last tensor belong to none")
    except InputError as exc:
        raise InputError(f"{path}: not a readable .safetensors file ({exc})") from None
    arrays = {}
    for name, (dtype, shape, begin, stop) in entries.items():
        array = np.frombuffer(buffer[begin:stop], dtype=NUMPY_DTYPES[dtype]).reshape(shape)
        arrays[name] = bfloat16_to_float32(array) if dtype == "BF16" else array
    return arrays, metadata
