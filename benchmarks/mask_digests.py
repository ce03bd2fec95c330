"""Digests of the masks that ``bgsub run`` writes for each sequence, to show that a change which
should not touch the masks (a refactoring, a new writer, a faster kernel) leaves them
bit-identical.

    python benchmarks/mask_digests.py ../shared/data/*/ -o before.json      # on the old commit
    python benchmarks/mask_digests.py ../shared/data/*/ --against before.json  # on the new one

Each sequence (a CDnet folder, whose frames are in ``input/``, or a folder of images) goes
through a real ``bgsub run`` process with the default options plus any given after ``--``; the
mask video is decoded with OpenCV and hashed frame by frame, so the digest is that of the masks,
not of the container they were written in. Exits 1 when a digest differs from ``--against``.
"""

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2


def sequence_input(folder):
    """What ``bgsub run`` reads for a sequence folder: CDnet's ``input/`` or the folder itself."""
    folder = Path(folder)
    return folder / "input" if (folder / "input").is_dir() else folder


def mask_video(out_dir):
    """The one mask video a run wrote in ``out_dir`` (``mask.*``, whatever its container)."""
    videos = sorted(p for p in Path(out_dir).glob("mask.*") if not p.name.startswith("."))
    if len(videos) != 1:
        raise SystemExit(f"{out_dir}: expected one mask video, found {[p.name for p in videos]}")
    return videos[0]


def digest(video):
    """sha256 over the decoded frames' first channel, and the frame count."""
    capture = cv2.VideoCapture(str(video))
    sha, frames = hashlib.sha256(), 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        sha.update(frame[:, :, 0].tobytes())
        frames += 1
    capture.release()
    return sha.hexdigest(), frames


def run_sequence(folder, extra):
    with tempfile.TemporaryDirectory() as out:
        command = ["bgsub", "run", str(sequence_input(folder)), "-o", out, "-q", *extra]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{folder}: bgsub run failed: {done.stderr.strip()}")
        return digest(mask_video(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequences", nargs="+", help="sequence folders")
    parser.add_argument("-o", "--output", help="write the digests to this JSON file")
    parser.add_argument("--against", help="compare with digests written by an earlier run")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]  # options for bgsub run
    expected = json.loads(Path(args.against).read_text()) if args.against else {}
    digests, differ = {}, 0
    for folder in args.sequences:
        name = Path(folder).resolve().name
        sha, frames = run_sequence(folder, extra)
        digests[name] = {"sha256": sha, "frames": frames}
        verdict = ""
        if name in expected:
            same = expected[name] == digests[name]
            differ += not same
            verdict = "  same" if same else "  DIFFERENT"
        print(f"{name:20s} {frames:5d} frames  {sha[:16]}{verdict}", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(digests, indent=2) + "\n")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
