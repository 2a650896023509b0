"""All-or-nothing result files: a command's outputs appear together, complete, or not at all.

Each output is first written into a private staging folder beside its final path (so the
final ``os.replace`` stays on one file system); :func:`staged` then moves every file of the
group into place while holding one lock. :func:`abort` (called by the command line on
Ctrl-C) takes the same lock, so it either runs before a group's moves — and deletes the
staging folders, leaving no result that was not finished — or after them, and then reports
the files that were already complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

_LOCK = threading.Lock()
_STAGING: set[Path] = set()
_EVER_STAGED: list[Path] = []  # every staging folder made, for abort's passes
_COMMITTED: list[Path] = []
_ABORTED = threading.Event()


@contextlib.contextmanager
def staged(*paths):
    """Yield one staging path per final path (files of one folder share one staging folder,
    under their own names); on success move them all into place together."""
    finals = [Path(p) for p in paths]
    folders: dict[Path, Path] = {}
    try:
        for final in finals:
            parent = final.parent if str(final.parent) else Path(".")
            if parent not in folders:
                with _LOCK:  # no new staging folder once aborted
                    if _ABORTED.is_set():
                        raise KeyboardInterrupt
                    folders[parent] = Path(tempfile.mkdtemp(prefix=f".{final.name}.",
                                                            suffix=".staging", dir=parent))
                    _STAGING.add(folders[parent])
                    _EVER_STAGED.append(folders[parent])
        staging = [folders[f.parent if str(f.parent) else Path(".")] / f.name for f in finals]
        yield staging
        with _LOCK:
            if _ABORTED.is_set():
                raise KeyboardInterrupt
            for path, final in zip(staging, finals, strict=True):
                os.replace(path, final)
                _COMMITTED.append(final)
    finally:
        with _LOCK:
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
                _STAGING.discard(folder)


def abort() -> list[Path]:
    """Stop every group not yet moved into place; the files already complete. Call it again
    just before exiting: a writer still running may have re-created its staging folder (a
    figure's folder is made with ``mkdir(parents=True)``) after the first pass."""
    with _LOCK:
        _ABORTED.set()
        for folder in _EVER_STAGED:
            shutil.rmtree(folder, ignore_errors=True)
        _STAGING.clear()
        return list(_COMMITTED)


def user_path(path) -> str:
    """The path a user gave for a file inside one of our staging folders (for messages)."""
    path = Path(path)
    for part in path.parents:
        if part.name.startswith(".") and part.name.endswith(".staging"):
            return str(part.parent / path.relative_to(part).parts[0])
    return str(path)
