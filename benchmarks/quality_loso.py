"""How much of the default's mask quality is fit: a parameter grid scored on every sequence, with
leave-one-sequence-out choices beside the all-in one.

    python benchmarks/quality_loso.py [--data ../shared/data] [--grid threshold=4.5,5,5.5 ...]
                                      [--json results.json]

Every combination of the ``--grid`` values (model parameters over the default configuration)
runs on every sequence folder under ``--data``, all combinations taking turns on each frame, as
``bgsub eval`` runs them (same reader, model and post-processing; CDnet scoring). Then:

* all-in: the combination with the best mean F over all sequences, and its F on each;
* leave-one-out: for each sequence, the combination with the best mean F over the *other*
  sequences, and the F it gets on the one left out. The gap between the two rows is what the
  choice of parameters fits to the sequences at hand.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bgsub import evaluate as ev  # noqa: E402
from bgsub.config import resolve  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_GRID = ["threshold=4.5,5.0,5.5", "ghost_frames=3,5,10", "still_threshold=1.5,2.0,3.0"]


def parse_grid(items):
    """``["threshold=4.5,5", "ghost_frames=3"]`` -> ``{"threshold": [4.5, 5.0], ...}``."""
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        grid[key] = [json.loads(v) for v in values.split(",")]
    return grid


def combinations(grid):
    """Every combination of the grid's values, as model-parameter dicts."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def label(params):
    return " ".join(f"{k}={v}" for k, v in params.items())


def score_grid(sequences, grid):
    """``{combination label: {sequence: F}}`` with every combination run on every sequence."""
    combos = {label(p): p for p in combinations(grid)}
    scores = {name: {} for name in combos}
    for seq in sequences:
        print(f"{seq.name}: {len(combos)} combinations on {len(seq.frame_numbers)} frames",
              file=sys.stderr, flush=True)
        methods = {name: ev.bgsub_factory(resolve({"model": p})) for name, p in combos.items()}
        for result in ev.evaluate_together(seq, methods):
            scores[result.method][seq.name] = result.metrics["F"]
    return scores


def best(scores, names):
    """The combination with the best mean F over the sequences ``names``."""
    return max(scores, key=lambda c: statistics.fmean(scores[c][n] for n in names))


def report(scores, names):
    """Markdown: the all-in choice and the leave-one-out choices, F per sequence."""
    all_in = best(scores, names)
    lines = ["| sequence | F, all-in | F, left out | parameters chosen without it |",
             "|---|---:|---:|---|"]
    left_out = []
    for name in names:
        others = [n for n in names if n != name]
        choice = best(scores, others)
        left_out.append(scores[choice][name])
        lines.append(f"| {name} | {scores[all_in][name]:.3f} | {scores[choice][name]:.3f} | {choice} |")
    mean_all = statistics.fmean(scores[all_in][n] for n in names)
    lines.append(f"| **mean** | **{mean_all:.3f}** | **{statistics.fmean(left_out):.3f}** | |")
    return f"all-in choice: {all_in}\n\n" + "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of sequence folders")
    parser.add_argument("--grid", nargs="+", default=DEFAULT_GRID, metavar="KEY=V1,V2",
                        help="model parameters and their values (default: %(default)s)")
    parser.add_argument("--json", help="also write every combination's F per sequence here")
    args = parser.parse_args(argv)
    folders = sorted(p for p in Path(args.data).iterdir() if p.is_dir())
    sequences = [ev.load_sequence(p) for p in folders]
    scores = score_grid(sequences, parse_grid(args.grid))
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=1) + "\n")
    names = [s.name for s in sequences]
    ranked = sorted(scores, key=lambda c: -statistics.fmean(scores[c].values()))
    print("| parameters | " + " | ".join(names) + " | mean |")
    print("|---|" + "---:|" * (len(names) + 1))
    for c in ranked:
        row = " | ".join(f"{scores[c][n]:.3f}" for n in names)
        print(f"| {c} | {row} | {statistics.fmean(scores[c].values()):.3f} |")
    print()
    print(report(scores, names))


if __name__ == "__main__":
    main()
