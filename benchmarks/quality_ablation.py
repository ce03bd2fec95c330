"""What each mechanism of the default adds, sequence by sequence: the default configuration with
one mechanism turned off at a time, scored as ``bgsub eval`` scores it.

    python benchmarks/quality_ablation.py [--data ../shared/data]

All configurations take turns on each frame of each sequence folder under ``--data`` (same
reader, model and post-processing as ``bgsub run``; CDnet scoring); the table gives F per
sequence and the mean, then each row's change against the default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bgsub import evaluate as ev  # noqa: E402
from bgsub.config import resolve  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"

# name -> the settings that turn one mechanism off (over the default configuration)
ABLATIONS = {
    "default": {},
    "no exposure compensation": {"model": {"exposure_compensation": False}},
    "no shake compensation": {"model": {"jitter_compensation": False}},
    "no ghost absorption": {"model": {"ghost_frames": 0}},
    "no threshold feedback": {"model": {"max_threshold_scale": 1.0}},
    "no feedback at all (model gmm)": {"model": {"name": "gmm"}},
    "none of the above (gmm, stages off)": {
        "model": {"name": "gmm", "exposure_compensation": False, "jitter_compensation": False,
                  "ghost_frames": 0},
    },
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of sequence folders")
    args = parser.parse_args(argv)
    folders = sorted(p for p in Path(args.data).iterdir() if p.is_dir())
    scores = {name: {} for name in ABLATIONS}
    names = []
    for folder in folders:
        seq = ev.load_sequence(folder)
        names.append(seq.name)
        print(f"{seq.name}: {len(ABLATIONS)} configurations", file=sys.stderr, flush=True)
        methods = {name: ev.bgsub_factory(resolve(settings)) for name, settings in ABLATIONS.items()}
        for result in ev.evaluate_together(seq, methods):
            scores[result.method][seq.name] = result.metrics["F"]
    base = scores["default"]
    print("| configuration | " + " | ".join(names) + " | mean |")
    print("|---|" + "---:|" * (len(names) + 1))
    for name, row in scores.items():
        mean = statistics.fmean(row.values())
        if name == "default":
            cells = [f"{row[n]:.3f}" for n in names] + [f"**{mean:.3f}**"]
        else:
            cells = [f"{row[n] - base[n]:+.3f}" for n in names]
            cells.append(f"{mean - statistics.fmean(base.values()):+.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
