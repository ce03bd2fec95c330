"""Reading model checkpoints (the ``.npz`` files :meth:`BackgroundModel.save` writes) without
trusting them: every metadata field is checked for its type and range, each state array's header
is checked against the layout the model needs before anything is allocated or decompressed, only
the entries the format defines are read, and a state holding NaN or infinity is refused. Every
failure is one :class:`~bgsub.errors.BgsubError` line.
"""

import json
import os
import zipfile

import numpy as np

from bgsub.errors import BgsubError, ConfigError
from bgsub.models.base import CHECKPOINT_FORMAT

_META_KEYS = ("format", "model", "params", "frames_seen", "shape")
_MAX_META_BYTES = 1 << 20  # the metadata is a few hundred bytes of JSON


def load_checkpoint(path, models):
    """The model saved at ``path``, its learned state restored; ``models`` maps names to classes."""
    path = os.fspath(path)
    with _open(path) as data:
        meta = _read_meta(path, data)
        model = _build(path, meta, models)
        arrays = _read_state(path, data, model, meta["shape"]) if meta["shape"] else {}
    model.restore(meta, arrays)
    return model


def _open(path):
    not_ours = f"not a bgsub model checkpoint: {path}"
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BgsubError(f"model checkpoint not found: {path}") from None
    except (ValueError, EOFError, zipfile.BadZipFile):
        raise BgsubError(f"{not_ours} (not an .npz archive, or a truncated one)") from None
    except OSError as err:
        raise BgsubError(f"cannot read model checkpoint {path}: {err.strerror or err}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise BgsubError(f"{not_ours} (a single .npy array)")
    return data


def _entry(path, data, key, read):
    """``read(data)`` for the archive entry ``key``, any failure being one line."""
    try:
        return read(data)
    except (OSError, ValueError, KeyError, EOFError, RecursionError, zipfile.BadZipFile) as err:
        raise BgsubError(f"not a bgsub model checkpoint: {path} ({key}: {err})") from None


def _read_meta(path, data):
    not_ours = f"not a bgsub model checkpoint: {path}"
    if "meta" not in data.files:
        raise BgsubError(f"{not_ours} (no metadata)")
    if data.zip.getinfo("meta.npy").file_size > _MAX_META_BYTES:
        raise BgsubError(f"{not_ours} (its metadata is over {_MAX_META_BYTES} bytes)")
    meta = _entry(path, data, "meta", lambda d: json.loads(str(d["meta"])))
    if not isinstance(meta, dict):
        raise BgsubError(f"{not_ours} (no metadata)")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise BgsubError(
            f"{path}: checkpoint format {meta.get('format')!r} is not supported "
            f"(this bgsub reads format {CHECKPOINT_FORMAT})"
        )
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise BgsubError(f"{not_ours} (its metadata lacks {', '.join(missing)})")
    frames_seen, shape = meta["frames_seen"], meta["shape"]
    if not _is_count(frames_seen, 0):
        raise BgsubError(f"{path}: checkpoint frames_seen must be a whole number of at least 0, "
                         f"got {frames_seen!r}")
    if shape is not None and not (isinstance(shape, list) and len(shape) in (2, 3)
                                  and all(_is_count(n, 1) for n in shape)
                                  and (len(shape) == 2 or shape[2] <= 4)):
        raise BgsubError(f"{path}: checkpoint shape must be [height, width] or [height, width, "
                         f"channels] (1 to 4 channels), got {shape!r}")
    return meta


def _is_count(value, lowest):
    return isinstance(value, int) and not isinstance(value, bool) and value >= lowest


def _build(path, meta, models):
    name, params = meta["model"], meta["params"]
    if not isinstance(name, str) or name not in models:
        raise BgsubError(f"{path}: checkpoint model must be one of {', '.join(models)}, "
                         f"got {name!r}")
    if not isinstance(params, dict):
        raise BgsubError(f"{path}: checkpoint params must be a mapping, got {params!r}")
    try:
        return models[name](**params)
    except ConfigError as err:
        raise BgsubError(f"{path}: checkpoint parameter {err}") from None


def _read_state(path, data, model, shape):
    """The state arrays ``model`` needs for frames of ``shape``, checked before they are read."""
    n_pixels = shape[0] * shape[1]
    arrays = {}
    for key, (tail, dtype) in model.state_layout(shape).items():
        expected = (n_pixels, *tail)
        found = _header(path, data, key)
        if found is None and key in model.optional_state():
            continue  # restored as it starts: see the model's optional_state
        if found != (expected, dtype):
            raise BgsubError(f"{path}: checkpoint state {key!r} is missing or has the wrong "
                             f"shape for {'x'.join(map(str, shape))} frames")
        array = _entry(path, data, key, lambda d: d[key])
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise BgsubError(f"{path}: checkpoint state {key!r} holds NaN or infinite values")
        arrays[key] = array
    counts = arrays.get("n_components")
    if counts is not None and (counts.min() < 1 or counts.max() > model.params.k):
        # The kernel indexes components by these counts: out of range would be out of bounds.
        raise BgsubError(f"{path}: checkpoint state 'n_components' must lie in "
                         f"[1, {model.params.k}]")
    return arrays


def _header(path, data, key):
    """``(shape, dtype)`` of archive entry ``key`` from its .npy header (None if absent)."""
    if key not in data.files:
        return None

    def read(d):
        with d.zip.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            array_shape, _, dtype = read_header(fh)
        return tuple(array_shape), dtype

    return _entry(path, data, key, read)
