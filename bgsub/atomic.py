"""Atomic file writes, the one way bgsub writes a file whole (events, snapshots, summaries,
manifests, checkpoints, images).

The data goes to a hidden partial name beside the target (``.NAME.XXXXXXXX.partial``, unique per
writer) and is renamed over it when complete, so a reader sees the old file or the whole new one,
and a killed process leaves only a partial name. The file is created with mode 0666 less the
user's umask, like every file bgsub's videos and OpenCV create (``tempfile.mkstemp`` would give
0600 whatever the umask).
"""

import contextlib
import os
import secrets
from pathlib import Path

from bgsub.errors import SinkError


@contextlib.contextmanager
def atomic_file(path, mode="wb", *, sync=False):
    """A handle on a partial file that replaces ``path`` when the block ends without an
    exception (removed otherwise). ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text); ``sync``
    flushes it to the disk before the rename. OS errors propagate as they are."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomic(path, data, *, sync=False):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically; any OS error is one
    :class:`~bgsub.errors.SinkError` line naming the file."""
    try:
        with atomic_file(path, "wb" if isinstance(data, bytes) else "w", sync=sync) as handle:
            handle.write(data)
    except OSError as err:
        raise SinkError(f"cannot write {path}: {err.strerror or err}") from None
