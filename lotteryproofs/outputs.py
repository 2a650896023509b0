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


def abort(*, final: bool = False) -> list[Path]:
    """Stop every group not yet moved into place; the files already complete. Call it again
    with ``final=True`` just before exiting: a writer still running may have re-created its
    staging folder after the first pass; the final pass keeps the lock until the process
    ends, so no writer can create a folder (:func:`make_folder`) or move a file into place
    between it and the exit."""
    _LOCK.acquire()
    _ABORTED.set()
    for folder in _EVER_STAGED:
        # a writer may add a file while the tree is removed (rmtree then cannot remove the
        # folder); it cannot re-create the folder itself any more (make_folder), so retry
        for _ in range(5):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                break
    _STAGING.clear()
    complete = list(_COMMITTED)
    if not final:
        _LOCK.release()
    return complete


def make_folder(path) -> Path:
    """``mkdir -p`` for a writer, refused (KeyboardInterrupt) once :func:`abort` has run, so
    that an interrupted writer does not re-create a staging folder abort removed."""
    path = Path(path)
    with _LOCK:
        if _ABORTED.is_set():
            raise KeyboardInterrupt
        path.mkdir(parents=True, exist_ok=True)
    return path


def user_path(path) -> str:
    """The path a user gave for a file inside one of our staging folders (for messages)."""
    path = Path(path)
    for part in path.parents:
        if part.name.startswith(".") and part.name.endswith(".staging"):
            return str(part.parent / path.relative_to(part).parts[0])
    return str(path)
