"""Input validation shared by every module: one-line messages a user can act on.

Every user mistake raises :class:`InputError` (a ``ValueError``), which the command line turns
into a one-line message and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Refuse any single allocation estimated above this many bytes unless told otherwise.
#: Half of the 24 GiB reference machine: leaves room for the copies numpy makes on the way.
DEFAULT_MEMORY_LIMIT_BYTES = int(os.environ.get("LOTTERYPROOFS_MEMORY_LIMIT", 12 * 2**30))


class InputError(ValueError):
    """A user mistake: bad arguments, a file that is not what it claims, an infeasible size."""


def finite_array(name: str, values, *, ndim: int | None = None, dtype=np.float64) -> np.ndarray:
    """``values`` as a float64 array, refusing NaN/inf, wrong dimension and empty arrays."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from None
    if ndim is not None and array.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise InputError(
            f"{name} has a non-finite entry ({array[tuple(bad)]}) at index {tuple(bad)}")
    return array


def finite_scalar(name: str, value) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    return value


def positive(name: str, value) -> float:
    """A finite number > 0 (tolerances, ε, ε')."""
    value = finite_scalar(name, value)
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    return value


def non_negative(name: str, value) -> float:
    """A finite number >= 0 (bias factors)."""
    value = finite_scalar(name, value)
    if value < 0:
        raise InputError(f"{name} must be >= 0, got {value}")
    return value


def open_unit(name: str, value) -> float:
    """A number in the open interval (0, 1) (δ, failure probabilities)."""
    value = finite_scalar(name, value)
    if not 0 < value < 1:
        raise InputError(f"{name} must lie in (0, 1), got {value}")
    return value


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """An integer >= ``minimum``; floats such as 3.0 are refused (widths are counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def widths(name: str, values, *, minimum_layers: int = 2) -> tuple[int, ...]:
    """Layer widths (n_0, ..., n_L): at least ``minimum_layers`` positive integers."""
    try:
        items = list(values)
    except TypeError:
        raise InputError(
            f"{name} must be a sequence of positive integers, got {values!r}") from None
    if len(items) < minimum_layers:
        raise InputError(f"{name} needs at least {minimum_layers} entries, got {items}")
    return tuple(positive_int(f"{name}[{i}]", w) for i, w in enumerate(items))


def parse_widths(name: str, text: str, *, minimum_layers: int = 1) -> tuple[int, ...]:
    """Parse '8,16,4' or '8-16-4' into widths, with a message naming the bad part."""
    parts = [p.strip() for p in text.replace("-", ",").split(",")]
    try:
        numbers_ = [int(p) for p in parts]
    except ValueError:
        raise InputError(
            f"{name} must be positive integers separated by commas, got {text!r}"
        ) from None
    return widths(name, numbers_, minimum_layers=minimum_layers)


def rng(value) -> np.random.Generator:
    """Normalise an rng argument; ``None`` is refused so that no randomness is implicit."""
    if value is None:
        raise InputError("rng is required: pass a numpy Generator, SeedSequence or integer seed")
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, np.random.SeedSequence | numbers.Integral) and not isinstance(value, bool):
        return np.random.default_rng(value)
    raise InputError(f"rng must be a numpy Generator, SeedSequence or int, got {value!r}")


def fits_in_memory(n_bytes: float, what: str, *, limit: int | None = None) -> None:
    """Refuse, with the number, an allocation estimated above the memory limit."""
    limit = DEFAULT_MEMORY_LIMIT_BYTES if limit is None else limit
    if n_bytes > limit:
        raise InputError(
            f"{what} would need about {n_bytes / 2**30:.1f} GiB, more than the limit of "
            f"{limit / 2**30:.1f} GiB (set LOTTERYPROOFS_MEMORY_LIMIT in bytes to change it)"
        )


# ------------------------------------------------------------------ seeds and intervals
def seed(value, name: str = "seed") -> int:
    """A root seed: an integer >= 0 (numpy's SeedSequence refuses negative entropy)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InputError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def interval(name: str, lower, upper) -> tuple[float, float]:
    """A finite interval [lower, upper] with lower < upper (an input box side, a z range)."""
    lower = finite_scalar(f"{name} LO", lower)
    upper = finite_scalar(f"{name} HI", upper)
    if not lower < upper:
        raise InputError(f"{name} needs LO < HI, got {lower:g} {upper:g}")
    return lower, upper


# ------------------------------------------------------------------------- output paths
@dataclass(frozen=True)
class OutputFile:
    """Constraint on an output file option: one of ``suffixes``, its folder exists and is
    writable, it is not a folder. ``what`` names it in messages ("a ticket file")."""

    suffixes: tuple[str, ...]
    what: str


@dataclass(frozen=True)
class OutputFolder:
    """Constraint on an output folder option: created if missing, so it must not be a file
    and its nearest existing ancestor must be a writable folder."""

    what: str = "an output folder"


TICKET_FILE = OutputFile((".npz", ".safetensors"), "a ticket file")
TARGET_FILE = OutputFile((".npz", ".safetensors"), "a target file")
JSON_FILE = OutputFile((".json",), "a JSON file")
MARKDOWN_FILE = OutputFile((".md",), "a Markdown file")
FOLDER = OutputFolder()


def _writable_folder(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, since ``os.access`` says yes to
    root everywhere (also in /proc), and the probe vanishes at once."""
    import tempfile

    if not folder.is_dir():
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def output_path(option: str, path, constraint) -> Path:
    """``path`` checked against ``constraint`` (:class:`OutputFile` or :class:`OutputFolder`)
    before any work, so that a command never fails after its computation for a bad path."""
    path = Path(path)
    if isinstance(constraint, OutputFolder):
        if path.exists() and not path.is_dir():
            raise InputError(f"{option} {path}: exists and is not a folder")
        existing = path
        while not existing.exists():
            existing = existing.parent if str(existing.parent) else Path(".")
        if not _writable_folder(existing):
            raise InputError(f"{option} {path}: folder {existing} is not writable")
        return path
    if path.suffix.lower() not in constraint.suffixes:
        raise InputError(f"{option} {path}: {constraint.what} ends in "
                         f"{' or '.join(constraint.suffixes)}")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder, not {constraint.what}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option} {path}: folder {folder} does not exist")
    if not _writable_folder(folder):
        raise InputError(f"{option} {path}: folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path}: exists and is not writable")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_paths(values: dict, outputs: dict, inputs: tuple[str, ...] = ()) -> None:
    """Validate every given output option of a command (``outputs``: option → constraint,
    the declaration each command module makes as ``OUTPUTS``) and refuse an output that is
    one of the inputs (``inputs``: option names whose values may be files) or another output.

    ``values`` maps option names (``"--out"``, ``"TARGET"``) to what the user gave (or None).
    """
    given = {option: Path(values[option]) for option in outputs if values.get(option)}
    for option, path in given.items():
        for source in inputs:
            value = values.get(source)
            if value and Path(str(value)).exists() and _same_file(path, Path(str(value))):
                raise InputError(f"{option} {path}: is the input {source}; refusing to "
                                 "overwrite it")
    for option, path in given.items():
        output_path(option, path, outputs[option])
    seen: dict[Path, str] = {}
    for option, path in given.items():
        key = path.resolve()
        if key in seen:
            raise InputError(f"{option} {path}: also given as {seen[key]}")
        seen[key] = option
