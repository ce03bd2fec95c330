"""F over the first scored frames with and without an EM start (``init_frames``), on CDnet-layout
sequences, with bgsub's own evaluation code (what ``bgsub eval --init-frames N`` runs).

    python benchmarks/em_quality.py ../shared/data/sbi_Board ../shared/data/sbi_HallAndMonitor \\
        ../shared/data/sbi_CaVignal --scored 100 --init-frames 50 100 200 all

``all`` fits every frame of the sequence. Prints a Markdown table: F per sequence and start.
"""

import argparse
import dataclasses

import yaml

from bgsub import evaluate as ev
from bgsub.config import resolve


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequences", nargs="+")
    parser.add_argument("--scored", type=int, default=100, help="score the first N scored frames")
    parser.add_argument("--init-frames", nargs="+", default=["50", "100", "200", "all"],
                        help="EM starts to compare with the online one (numbers or 'all')")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a model key, e.g. name=gmm or background_ratio=0.7 (repeatable)")
    args = parser.parse_args()
    params = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in args.param)}
    starts = ["online"] + args.init_frames
    print(f"| sequence | {' | '.join(_label(s) for s in starts)} |")
    print("|---|" + "---:|" * len(starts))
    for path in args.sequences:
        sequence = ev.load_sequence(path)
        sequence = dataclasses.replace(sequence, scored=sequence.scored[:args.scored])
        methods = {}
        for start in starts:
            count = 0 if start == "online" else (
                len(sequence.frame_numbers) if start == "all" else int(start))
            config = resolve({"preset": args.preset, "model": {"init_frames": count, **params}})
            methods[start] = ev.bgsub_factory(config)
        results = ev.evaluate_together(sequence, methods)
        cells = [f"{r.metrics['F']:.3f}" for r in results]
        print(f"| {sequence.name} | {' | '.join(cells)} |", flush=True)


def _label(start):
    return "online start" if start == "online" else f"init_frames {start}"


if __name__ == "__main__":
    main()
