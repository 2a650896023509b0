"""Progress bars for long work: shown on a terminal, silent otherwise (DESIGN.md conventions)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(iterable=None, *, total=None, desc: str | None = None, enabled: bool | None = None):
    """A tqdm bar on stderr when stderr is a terminal (or ``enabled`` says so), else a no-op."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, file=sys.stderr)
