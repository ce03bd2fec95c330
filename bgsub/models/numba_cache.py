"""Where Numba keeps bgsub's compiled kernels, so that a warm start skips compilation.

Numba caches next to the source (``bgsub/models/__pycache__``) and, when that is read-only (a
system-wide or container install), in ``~/.cache/numba``; a service account whose home does not
exist has neither, and Numba then refuses to cache at all. :func:`configure` picks a writable user
cache directory for that case before any kernel is compiled, and leaves a user's own
``NUMBA_CACHE_DIR`` alone.
"""

import os
import sys
import tempfile
from pathlib import Path

ENV_VAR = "NUMBA_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent


def is_writable_dir(path):
    """True when ``path`` exists or can be created and a file can be written in it.

    ``os.access`` alone is not enough: it says yes to root on a read-only mount, so a file is
    really written (and removed).
    """
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            return False
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def fallback_dirs(environ=None):
    """Candidate user cache directories, best first: the XDG cache, then a per-user temp dir."""
    environ = os.environ if environ is None else environ
    home_cache = os.path.join(os.path.expanduser("~"), ".cache")
    user = getattr(os, "getuid", lambda: "user")()
    return [
        Path(environ.get("XDG_CACHE_HOME") or home_cache) / "bgsub" / "numba",
        Path(tempfile.gettempdir()) / f"bgsub-numba-{user}",
    ]


def choose_cache_dir(package_dir=PACKAGE_DIR, environ=None):
    """The cache directory to give Numba, or None to keep Numba's choice.

    None when the user set ``NUMBA_CACHE_DIR`` or the package's ``__pycache__`` is writable;
    otherwise the first writable of :func:`fallback_dirs` (None if there is none).
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR):
        return None
    if is_writable_dir(Path(package_dir) / "__pycache__"):
        return None
    for candidate in fallback_dirs(environ):
        if is_writable_dir(candidate):
            return str(candidate)
    return None


def configure(package_dir=PACKAGE_DIR):
    """Point Numba at a writable cache directory when bgsub's own is read-only.

    Call before the kernels are defined. Sets ``NUMBA_CACHE_DIR`` (read when numba is imported,
    and inherited by worker processes) and, if numba is already imported, its live config.
    Returns the directory chosen, or None when Numba's default stands.
    """
    chosen = choose_cache_dir(package_dir)
    if chosen is not None:
        os.environ[ENV_VAR] = chosen
        if "numba" in sys.modules:
            sys.modules["numba"].config.CACHE_DIR = chosen
    return chosen
