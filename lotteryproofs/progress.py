"""Progress bars for long work: shown on a terminal, silent otherwise (DESIGN.md conventions)."""

from __future__ import annotations

import contextlib
import sys
import threading

from tqdm.auto import tqdm


def progress(iterable=None, *, total=None, desc: str | None = None, enabled: bool | None = None):
    """A tqdm bar on stderr when stderr is a terminal (or ``enabled`` says so), else a no-op."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, file=sys.stderr)


@contextlib.contextmanager
def phase(description: str, *, enabled: bool | None = None):
    """Announce a long phase on stderr: a running tqdm timer on a terminal, else one line
    (so a CI log shows what a silent minute is spent on). Output stays on stdout."""
    terminal = sys.stderr.isatty() if enabled is None else enabled
    if not terminal:
        print(f"… {description}", file=sys.stderr, flush=True)
        yield
        return
    bar = tqdm(total=None, desc=description, bar_format="{desc}: {elapsed}", leave=False,
               file=sys.stderr)
    stop = threading.Event()

    def tick():  # refresh the elapsed time while compiled code holds the thread
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        bar.close()
