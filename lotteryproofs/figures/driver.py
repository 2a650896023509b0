"""Build the figures: style sheet, per-figure seeds, PDF + PNG with fixed metadata.

Same seed, same bytes: each figure draws its data from its own generator
``SeedSequence(seed, spawn_key=(crc32(name),))`` (so building one figure with ``only`` gives
the same file as building all of them), it is drawn with the Agg renderer under the package
style sheet, and both files carry fixed metadata (no creation date, no version strings).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lotteryproofs import figures as _figures
from lotteryproofs import outputs
from lotteryproofs._validate import InputError
from lotteryproofs.io import atomic_path
from lotteryproofs.progress import progress

#: Output formats, in the order they are written.
FORMATS = ("pdf", "png")


def _metadata(name: str, fmt: str) -> dict:
    """Fixed metadata: nothing that depends on the date, the machine or the library version."""
    if fmt == "pdf":
        return {"Title": f"lotteryproofs figure {name}", "Creator": "lotteryproofs figures",
                "Producer": "lotteryproofs figures (matplotlib)", "CreationDate": None,
                "ModDate": None}
    if fmt == "png":
        return {"Title": f"lotteryproofs figure {name}", "Software": "lotteryproofs figures"}
    raise InputError(f"unknown figure format {fmt!r}; known: {', '.join(FORMATS)}")


@dataclass(frozen=True)
class BuiltFigure:
    """One built figure: its name, the files written and the wall-clock time it took."""

    name: str
    paths: tuple[Path, ...]
    seconds: float


def figure_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of figure ``name``: independent of every other figure's, fixed by seed."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(key,)))


def prepare_output_folder(out) -> Path:
    """``out`` as an existing, writable folder (created if missing), else :class:`InputError`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is not a folder")
    try:
        outputs.make_folder(out)  # not once an interrupt has removed the staging folders
    except OSError as exc:
        raise InputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} is not writable")
    return out


def select(names: Iterable[str] | None, known: Mapping[str, Callable]) -> list[str]:
    """The figures to build, in registry order; every unknown name is reported at once."""
    if names is None:
        return list(known)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(known) or "(none registered)"
        raise InputError(f"unknown figure name(s) {', '.join(map(repr, unknown))}; known: {listed}")
    if not names:
        raise InputError("no figure names given")
    wanted = set(names)
    return [n for n in known if n in wanted]


def save_figure(fig, out: Path, name: str, formats=FORMATS) -> tuple[Path, ...]:
    """Write ``out/name.<fmt>`` for each format, atomically, with fixed metadata."""
    paths = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=_metadata(name, fmt))
        paths.append(path)
    return tuple(paths)


def render(function: Callable, *, rng, quick: bool):
    """Call a figure function (inside the style context :func:`build` sets); its Figure."""
    import matplotlib.figure

    fig = function(rng=rng, quick=quick)
    if not isinstance(fig, matplotlib.figure.Figure):
        raise TypeError(f"{function.__qualname__} returned {type(fig).__name__}, not a Figure")
    return fig


def build(out="figures", *, only=None, quick: bool = False, seed: int = 0,
          figures: Mapping[str, Callable] | None = None, formats=FORMATS,
          show_progress: bool | None = None) -> list[BuiltFigure]:
    """Build the selected figures into ``out`` (PDF + PNG); returns what was written.

    ``figures`` defaults to the package registry (:func:`lotteryproofs.figures.registry`);
    ``only`` is a name or a list of names; ``quick`` asks each figure for its small version.
    Inputs are all checked before any figure is computed.
    """
    import matplotlib
    import matplotlib.style

    # the registry's modules are imported only for the figures asked for
    known = dict.fromkeys(_figures.figure_names()) if figures is None else dict(figures)
    names = select(only, known)
    for fmt in formats:
        _metadata("check", fmt)
    figure_rng(seed, "check")
    out = prepare_output_folder(out)
    if not names:
        raise InputError("no figures are registered")
    matplotlib.use("Agg")
    built = []
    for name in progress(names, desc="figures", enabled=show_progress):
        start = time.perf_counter()
        # The style must also be active while saving (savefig.* and pdf.* are read then).
        with resources.as_file(_figures.style_path()) as style, \
                matplotlib.style.context(str(style)):
            function = known[name] or _figures.figure_function(name)
            fig = render(function, rng=figure_rng(seed, name), quick=quick)
            paths = save_figure(fig, out, name, formats)
        fig.clear()
        built.append(BuiltFigure(name, paths, time.perf_counter() - start))
    return built
