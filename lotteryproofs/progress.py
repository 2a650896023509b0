"""Progress bars for long work: shown on a terminal, silent otherwise (DESIGN.md conventions)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from tqdm.auto import tqdm


def progress(iterable=None, *, total=None, desc: str | None = None, enabled: bool | None = None):
    """A tqdm bar on stderr when stderr is a terminal (or ``enabled`` says so), else a no-op."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, file=sys.stderr)


#: a phase shorter than this is not announced (errors in quick checks stay a single line)
PHASE_DELAY_S = 1.0


@contextlib.contextmanager
def phase(description: str, *, enabled: bool | None = None):
    """Announce a long phase on stderr: a running tqdm timer on a terminal, else one line
    (so a CI log shows what a silent minute is spent on). Either appears only once the phase
    has lasted :data:`PHASE_DELAY_S`; results stay on stdout. ``LOTTERYPROOFS_PROGRESS=0`` in
    the environment turns the announcements off."""
    if os.environ.get("LOTTERYPROOFS_PROGRESS") == "0":
        yield  # asked for silence (the test suite compares stderr line by line)
        return
    terminal = sys.stderr.isatty() if enabled is None else enabled
    stop = threading.Event()
    state = {}

    def announce():  # in a thread: compiled code may hold the main one
        if stop.wait(PHASE_DELAY_S):
            return
        if not terminal:
            print(f"… {description}", file=sys.stderr, flush=True)
            return
        state["bar"] = tqdm(total=None, desc=description, bar_format="{desc}: {elapsed}",
                            leave=False, file=sys.stderr)
        while not stop.wait(0.5):
            state["bar"].refresh()

    ticker = threading.Thread(target=announce, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        if "bar" in state:
            state["bar"].close()
