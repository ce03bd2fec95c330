"""EM fit speed: time per pixel-frame-iteration, and the time to fit 300 frames of 1080p colour
at K = 3 next to decoding those frames.

    python benchmarks/em.py [--frames 300] [--width 1920 --height 1080] [--k 3]

A synthetic 1080p clip (textured background, moving squares, camera noise; FFV1 in a temporary
folder) stands in for a camera recording; decoding it is timed with OpenCV, then
``GaussianMixture(k=K).fit(frames)`` (kernels compiled beforehand on a tiny clip).
"""

import argparse
import os
import tempfile
import time

import cv2
import numpy as np

import bgsub
from bgsub.models import em


def synthetic_clip(path, frames, width, height):
    """Write ``frames`` of a textured scene with 20 moving squares and camera noise to ``path``."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    background = np.stack([base, base * 0.8 + 20, base * 0.6 + 40], axis=2)
    writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 25,
                             (width, height), True)
    starts = rng.integers(0, [width - 120, height - 120], size=(20, 2))
    for i in range(frames):
        frame = background + rng.normal(0, 3, (1, width, 3)).astype(np.float32)  # row noise: cheap
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        for j, (x, y) in enumerate(starts):
            x = (x + 7 * i * (1 + j % 3)) % (width - 120)
            frame[y:y + 120, x:x + 120] = (40 + 9 * j, 200, 240 - 9 * j)
        writer.write(frame)
    writer.release()


def decode(path):
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=em.ITERATIONS)
    args = parser.parse_args()
    tiny = np.random.default_rng(1).integers(0, 255, (8, 4, 4, 3), dtype=np.uint8)
    bgsub.GaussianMixture(k=args.k).fit(tiny)  # compile (or load from the cache) first
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clip.mkv")
        synthetic_clip(path, args.frames, args.width, args.height)
        start = time.perf_counter()
        frames = decode(path)
        decode_s = time.perf_counter() - start
    stack = np.stack(frames)
    del frames
    pixels = args.width * args.height
    # The iterations EM actually ran (it stops a pixel early once converged).
    sample = stack[:, :, :64].reshape(len(stack), -1, 3)
    *_, n_iterations, _ = em.fit_pixels(np.ascontiguousarray(sample), args.k, 10.0, 75.0,
                                        args.iterations, em.TOLERANCE)
    start = time.perf_counter()
    model = bgsub.GaussianMixture(k=args.k).fit(stack, iterations=args.iterations)
    fit_s = time.perf_counter() - start
    mean_iterations = float(n_iterations.mean())
    per = fit_s / (pixels * len(stack) * mean_iterations)
    print(f"clip: {len(stack)} frames of {args.width}x{args.height} colour "
          f"({stack.nbytes / 1e9:.2f} GB as uint8), {os.cpu_count()} CPUs, K = {args.k}")
    print(f"decode (OpenCV, FFV1): {decode_s:6.1f} s  ({len(stack) / decode_s:.1f} fps)")
    print(f"EM fit:                {fit_s:6.1f} s  (about {mean_iterations:.1f} iterations per "
          f"pixel; {per * 1e9:.2f} ns per pixel-frame-iteration)")
    print(f"components per pixel after the fit: {model.n_components.mean():.2f}")


if __name__ == "__main__":
    main()
