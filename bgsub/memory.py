"""Will a run fit in memory? An estimate made before the model allocates its state.

8K frames (7680x4320) need 6 to 7 GB with the default model. Past a memory limit the first
failed allocation would be the decoder's, and it reads like a damaged file ("truncated or
damaged?"), or the kernel kills the process. :func:`check_fits` says it plainly instead.

Bytes per pixel (colour frames; ``model.bytes_per_pixel(channels)`` has each model's state):

* model state: ``gaussian`` 24, ``gmm`` 20 K + 2 (102 at K = 5: the components, their count and
  the still count), ``feedback`` 20 K + 7 (107), plus 1 for the labels;
* frames in flight: the reader's and the writer's queues hold 8 frames each, and each stage has
  one more at hand: ``(2 * 8 + 4) * C`` for the frames (60 for colour), ``(8 + 2) * 2`` for the
  masks and labels beside them (20), ``(8 + 2) * C`` more with a background output (30), and about
  8 for post-processing and the encoders.
"""

from __future__ import annotations

import resource
from typing import TYPE_CHECKING

from bgsub.errors import BgsubError

if TYPE_CHECKING:
    from bgsub.models.base import Model

_POSTPROCESS_BYTES = 8


def run_bytes(model: Model, size: tuple[int, int], channels: int, queue_depth: int, *,
              background: bool = False) -> tuple[int, int]:
    """``(model state, frame buffers)`` in bytes for a run on frames of ``size`` (w, h) whose
    two queues hold ``queue_depth`` frames each (a loaded model's state is there already)."""
    pixels = size[0] * size[1]
    state = 0 if model.shape is not None else (model.bytes_per_pixel(channels) + 1) * pixels
    in_flight = queue_depth + 2
    per_pixel = ((2 * queue_depth + 4) * channels + in_flight * 2
                 + (in_flight * channels if background else 0) + _POSTPROCESS_BYTES)
    return state, per_pixel * pixels


def available_bytes():
    """``(bytes, what limits them)``: the least of the memory the system can still give, this
    control group's limit less its use, and the address-space limit (``ulimit -v``) less this
    process's size; ``(None, None)`` when none is known."""
    limits = []
    meminfo = _read_fields("/proc/meminfo")
    if "MemAvailable" in meminfo:
        limits.append((meminfo["MemAvailable"], "of free memory"))
    cgroup_max, cgroup_used = _read_int("/sys/fs/cgroup/memory.max"), _read_int(
        "/sys/fs/cgroup/memory.current")
    if cgroup_max is not None and cgroup_used is not None:
        limits.append((cgroup_max - cgroup_used, "left under this control group's memory limit"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:  # the usual case has no limit: no need for the size
        size = _read_fields("/proc/self/status").get("VmSize")
        if size is not None:
            limits.append((soft - size, "left under the address-space limit (ulimit -v)"))
    return min(limits) if limits else (None, None)


def check_fits(model: Model, size: tuple[int, int], channels: int, queue_depth: int, *,
               background: bool = False) -> None:
    """Raise one :class:`BgsubError` line when the run cannot fit in the memory available
    (arguments as for :func:`run_bytes`)."""
    state, buffers = run_bytes(model, size, channels, queue_depth, background=background)
    available, limit = available_bytes()
    if available is None or state + buffers <= available:
        return
    raise BgsubError(
        f"frames of {size[0]}x{size[1]} need about {_gb(state + buffers)} (the {model.name} "
        f"model {_gb(state)}, frames in flight {_gb(buffers)}), more than the {_gb(available)} "
        f"{limit}; resize the input or free memory"
    )


def _gb(n):
    return f"{max(n, 0) / 1e9:.1f} GB"


def _read_fields(path):
    """``key: value in bytes`` of a ``/proc`` file whose lines read ``Key:  123 kB``."""
    fields = {}
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
                    fields[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return fields


def _read_int(path):
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
