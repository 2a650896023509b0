"""Where numba keeps the compiled code of the RSS engine: a user cache directory, never the
package.

numba's default locator (``InTreeCacheLocator``) writes ``*.nbi``/``*.nbc`` files into the
``__pycache__`` folder beside the source, i.e. into ``site-packages/lotteryproofs/rss/``.
pip does not record those files, so uninstalling or reinstalling in editable mode leaves
``site-packages/lotteryproofs/`` behind without an ``__init__.py``; Python then imports that
leftover folder as an empty namespace package ahead of the editable checkout and
``lotteryproofs --version`` fails with "cannot import name '__version__'".

numba picks a cache locator when a ``@njit(cache=True)`` function is *decorated*
(``Dispatcher.enable_caching`` → ``FunctionCache`` → ``_CacheImpl.__init__`` tries
``UserProvidedCacheLocator`` first, which uses ``numba.config.CACHE_DIR`` if it is non-empty).
So :func:`configure` runs when this module is imported, before the compiled modules, and it
sets both ``numba.config.CACHE_DIR`` and the ``NUMBA_CACHE_DIR`` environment variable: numba's
``reload_config`` re-reads the environment whenever a ``NUMBA_*`` variable changes (and would
reset a config-only setting to ""), and worker processes inherit the variable.

The directory is ``$NUMBA_CACHE_DIR`` if the user set it, else
``$XDG_CACHE_HOME/lotteryproofs/numba`` (``~/.cache/lotteryproofs/numba`` without
XDG_CACHE_HOME), else, when that cannot be created, a per-user folder in the temporary
directory. numba names each entry by a hash of the source folder plus the source file's
modification time and size, so several checkouts or versions never share stale code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir(environ=None) -> Path:
    """The compiled-code cache directory for ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_CACHE_DIR"):
        return Path(environ["NUMBA_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    preferred = Path(base) / "lotteryproofs" / "numba"
    if _writable_dir(preferred):
        return preferred
    user = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"lotteryproofs-numba-{user}"


def configure() -> Path:
    """Point numba's cache at :func:`cache_dir`; call before any ``@njit(cache=True)``."""
    import numba

    directory = cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(directory)
    numba.config.CACHE_DIR = str(directory)
    return directory


#: configured on import, so that importing this module first is enough (rss/__init__.py)
CACHE_DIR = configure()
