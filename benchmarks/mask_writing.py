"""CPU time to write one mask into a lossless video, for the formats a mask could be kept in.

    python benchmarks/mask_writing.py [--size 1920x1080] [--frames 60] [--repeats 3]

The masks are bgsub's own: the default model and post-processing run over CDnet highway frames
(``../shared/data/highway``, or the bundled clip) resized to ``--size``, after 60 frames of
learning. Every writer then takes turns writing all of them to a file, ``--repeats`` times, on one
thread (OpenCV's and the codec's): the table gives the median CPU milliseconds per mask
(``time.process_time``, encoding and file writing), the bytes per mask, and whether OpenCV reads
back every mask exactly (the test a lossless mask video must pass). Writers:

* ``bgsub mask.mov``: what ``bgsub run`` writes, :class:`bgsub.sinks.VideoSink` on ``.mov`` with
  ``binary`` (1-bit PNG frames, packed by NumPy, run-length zlib, muxed by PyAV);
* ``8-bit PNG .mov``: the same at eight bits a pixel (the mask video before the 1-bit one);
* ``OpenCV FFV1 .mkv``: the previous default, OpenCV's writer;
* ``PyAV FFV1 .mkv, 4 slices``: FFV1 with the settings that cost least here;
* ``OpenCV PNG .mov``: FFmpeg's own PNG encoder (per-row filter search) through OpenCV's writer;
* ``PyAV QuickTime RLE .mov``, ``PyAV x264 qp 0``: other lossless codecs players know;
* ``packed 1-bit + zlib``: ``np.packbits(mask > 0)`` compressed, the floor for any format (no
  player reads it, and shadows are lost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (frame loading is shared with the throughput benchmark)

import av  # noqa: E402

from bgsub.config import PostprocessConfig, resolve  # noqa: E402
from bgsub.evaluate import BgsubSubtractor  # noqa: E402
from bgsub.postprocess import PostProcessor  # noqa: E402
from bgsub.sinks import VideoSink  # noqa: E402

LEARN = 60  # frames the model learns before its masks are kept


def make_masks(size, count, data):
    """``count`` post-processed masks of the default model at ``size``."""
    frames, description = throughput.load_frames(LEARN + count, data=data)
    model = BgsubSubtractor(resolve({}))
    post = PostProcessor(PostprocessConfig())
    masks = []
    for i, frame in enumerate(frames):
        mask = post(model.apply(cv2.resize(frame, size, interpolation=cv2.INTER_AREA)))
        if i >= LEARN or len(frames) <= LEARN:
            masks.append(mask)
    return masks, description


def write_sink(binary):
    def write(path, masks):
        with VideoSink(path, 25, binary=binary) as sink:
            for number, mask in enumerate(masks, start=1):
                sink.write(number, mask)

    return write


def write_opencv(fourcc):
    def write(path, masks):
        height, width = masks[0].shape
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), 25.0,
                                 (width, height), False)
        for mask in masks:
            writer.write(mask)
        writer.release()

    return write


def write_pyav(codec, pix_fmt, options):
    def write(path, masks):
        height, width = masks[0].shape
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.options = options
            stream.codec_context.thread_count = 1
            for mask in masks:
                frame = av.VideoFrame.from_ndarray(mask, format="gray")
                if pix_fmt != "gray":
                    frame = frame.reformat(format=pix_fmt)
                container.mux(stream.encode(frame))
            container.mux(stream.encode())

    return write


def write_packed(path, masks):
    with open(path, "wb") as handle:
        for mask in masks:
            packed = zlib.compress(np.packbits(mask > 0), 1)
            handle.write(len(packed).to_bytes(4, "little") + packed)


WRITERS = {  # name -> (file suffix, writer(path, masks))
    "bgsub mask.mov (1-bit PNG, no filter, RLE zlib)": (".mov", write_sink(binary=True)),
    "8-bit PNG .mov, no filter, RLE zlib": (".mov", write_sink(binary=False)),
    "OpenCV FFV1 .mkv": (".mkv", write_opencv("FFV1")),
    "PyAV FFV1 .mkv, 4 slices": (".mkv", write_pyav("ffv1", "gray", {"slices": "4",
                                                                     "slicecrc": "0"})),
    "OpenCV PNG .mov (FFmpeg's encoder)": (".mov", write_opencv("png ")),
    "PyAV QuickTime RLE .mov": (".mov", write_pyav("qtrle", "gray", {})),
    "PyAV x264 qp 0 ultrafast .mkv": (".mkv", write_pyav("libx264", "gray",
                                                         {"qp": "0", "preset": "ultrafast"})),
    "packed 1-bit + zlib (no player)": (".bin", write_packed),
}


def reads_back(path, masks):
    """Whether OpenCV decodes ``path`` into exactly ``masks``; None for files it cannot read."""
    if path.suffix == ".bin":
        return None
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    exact = True
    for mask in masks:
        ok, frame = capture.read()
        exact = exact and ok and np.array_equal(frame[..., 0], mask)
    capture.release()
    return exact


def measure(masks, repeats, workdir):
    """``{writer: (median CPU ms per mask, bytes per mask, exact read-back)}``."""
    paths = {name: Path(workdir) / f"writer{i}{suffix}"
             for i, (name, (suffix, _)) in enumerate(WRITERS.items())}
    cpu = {name: [] for name in WRITERS}
    for _ in range(repeats):
        for name, (_, write) in WRITERS.items():
            start = time.process_time()
            write(paths[name], masks)
            cpu[name].append((time.process_time() - start) * 1000 / len(masks))
    results = {}
    for name, path in paths.items():
        results[name] = (statistics.median(cpu[name]), path.stat().st_size / len(masks),
                         reads_back(path, masks))
    return results


def main(argv=None):
    """Print the table; returns ``{writer: (ms, bytes, exact)}``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="mask size (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=60, help="masks per file (default: 60)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument("--data", default=str(throughput.DEFAULT_DATA), help="CDnet sequence folder")
    args = parser.parse_args(argv)
    masks, description = make_masks(throughput.parse_size(args.size), args.frames, args.data)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="bgsub-masks-") as tmp:
            results = measure(masks, args.repeats, tmp)
    finally:
        cv2.setNumThreads(threads)
    foreground = np.mean([np.count_nonzero(m) / m.size for m in masks])
    print(f"{len(masks)} masks of the default model on {description} at {args.size} "
          f"({100 * foreground:.1f}% foreground); one thread, median of {args.repeats}; "
          f"{os.cpu_count()} CPUs")
    print()
    print("| writer | CPU ms/mask | KiB/mask | OpenCV reads back exactly |")
    print("|---|---|---|---|")
    for name, (ms, size, exact) in results.items():
        shown = "-" if exact is None else ("yes" if exact else "no")
        print(f"| {name} | {ms:.2f} | {size / 1024:.1f} | {shown} |")
    return results


if __name__ == "__main__":
    main()
