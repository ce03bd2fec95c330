"""EM fit speed: time per pixel-frame-iteration, and the time to fit 300 frames of 1080p colour
at K = 3 next to decoding those frames.

    python benchmarks/em.py [--frames 300] [--width 1920 --height 1080] [--k 3]

1. The kernels alone on 20000 pixels drawn from 3-mode mixtures (every pixel iterates), 10
   iterations without early stop: initialisation per pixel-frame, EM per pixel-frame-iteration.
2. A synthetic clip (textured background, 20 moving squares, camera noise; MPEG-4 in a temporary
   folder) stands in for a camera recording: decoding it with OpenCV, then
   ``GaussianMixture(k=K).fit(frames)``, which also initialises, ranks and converts every pixel
   and skips the pixels that have a single colour.

Kernels are compiled (or loaded from the cache) beforehand on a tiny clip.
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
    writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 25,
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
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start, K = {args.k}")
    kernels(args.frames, args.k)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clip.mp4")
        synthetic_clip(path, args.frames, args.width, args.height)
        start = time.perf_counter()
        frames = decode(path)
        decode_s = time.perf_counter() - start
    stack = np.stack(frames)
    del frames
    start = time.perf_counter()
    model = bgsub.GaussianMixture(k=args.k).fit(stack, iterations=args.iterations)
    fit_s = time.perf_counter() - start
    print(f"clip: {len(stack)} frames of {args.width}x{args.height} colour "
          f"({stack.nbytes / 1e9:.2f} GB as uint8)")
    print(f"  decode (OpenCV, MPEG-4): {decode_s:6.1f} s  ({len(stack) / decode_s:.1f} fps)")
    print(f"  EM fit:                  {fit_s:6.1f} s  ({model.n_components.mean():.2f} components "
          f"per pixel kept)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def kernels(n_frames, k, n_pixels=20000, iterations=10):
    """Time the initialisation and EM kernels on pixels that (nearly) all iterate: with ``tol`` 0
    only a pixel whose modes merged at the start (one component) does not."""
    rng = np.random.default_rng(2)
    mode = rng.choice(3, size=(n_frames, n_pixels), p=[0.5, 0.3, 0.2])
    centre = np.array([60.0, 130.0, 200.0])[mode][..., None] + rng.normal(0, 5, (n_frames, n_pixels, 3))
    samples = np.clip(centre, 0, 255).astype(np.uint8)
    weights, means, variances = np.zeros((n_pixels, k)), np.zeros((n_pixels, k, 3)), np.ones((n_pixels, k))
    start = time.perf_counter()
    em.initialise(samples, k, 10.0, 75.0, weights, means, variances)
    init_s = time.perf_counter() - start
    done = np.zeros(n_pixels, np.int32)
    start = time.perf_counter()
    em.expectation_maximisation(samples, weights, means, variances, iterations, 0.0, 10.0, 75.0,
                                done, np.empty((n_pixels, 0)))
    em_s = time.perf_counter() - start
    print(f"kernels, {n_pixels} pixels x {n_frames} frames (3 modes each):")
    print(f"  initialisation: {init_s / (n_pixels * n_frames) * 1e9:6.1f} ns per pixel-frame")
    print(f"  EM:             {em_s / (n_frames * done.sum()) * 1e9:6.1f} ns per "
          f"pixel-frame-iteration ({done.mean():.1f} iterations per pixel)")


if __name__ == "__main__":
    main()
