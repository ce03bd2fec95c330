"""What a 16-bit mixture state would cost in mask quality, before any kernel stores one.

    python benchmarks/narrow_state.py [--data ../shared/data] [--fraction-bits 8] [SEQUENCE ...]

The default model runs twice over each sequence, taking turns on the same frames: as it is
(float32 weights, means and variances), and with its state rounded after every frame to what a
uint16 per value would hold: means and variances in fixed point with ``--fraction-bits`` bits
after the point (8: steps of 1/256 of a level, up to 255.996, which holds ``var_max`` = 75), and
weights in steps of 1/65535. Each frame's kernel then reads only values such a store could hold,
as it would if it stored them, so F shows how much the narrower state loses (the feedback's D
and the other per-pixel arrays stay as they are). Scored as ``bgsub eval`` scores (CDnet rule).
Results: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bgsub import evaluate as ev  # noqa: E402
from bgsub.config import resolve  # noqa: E402
from bgsub.models import kernels  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
WEIGHT_STEPS = 65535  # a weight in [0, 1] as a uint16


def round_state(mixture, fraction_bits):
    """Round a mixture state in place to a uint16 store's values: ``mixture`` is any array whose
    last axis holds a component's slots (weight, variance, means), as ``model.mixture`` does."""
    scale = np.float32(2 ** fraction_bits)
    for first, last, steps in ((kernels.WEIGHT, kernels.VARIANCE, np.float32(WEIGHT_STEPS)),
                               (kernels.VARIANCE, mixture.shape[-1], scale)):
        values = mixture[..., first:last]
        values[...] = np.rint(values * steps) / steps


class RoundedState(ev.BgsubSubtractor):
    """The default model whose state is rounded to 16-bit values after every frame."""

    def __init__(self, config, fraction_bits):
        super().__init__(config)
        self.fraction_bits = fraction_bits

    def apply(self, frame):
        mask = super().apply(frame)
        round_state(self.model.mixture, self.fraction_bits)
        return mask


def methods(fraction_bits):
    config = resolve({})
    rounded = functools.partial(RoundedState, fraction_bits=fraction_bits)
    return {"float32": ev.bgsub_factory(config), "uint16": ev.bgsub_factory(config, rounded)}


def main(argv=None):
    """Print the F table; returns ``{sequence: {"float32": F, "uint16": F}}``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", help="sequence folder names (default: all)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of sequence folders")
    parser.add_argument("--fraction-bits", type=int, default=8,
                        help="bits after the point for means and variances (default: 8)")
    args = parser.parse_args(argv)
    data = Path(args.data)
    names = args.sequences or sorted(p.name for p in data.iterdir() if p.is_dir())
    rows = {}
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        results = ev.evaluate_together(ev.load_sequence(data / name), methods(args.fraction_bits))
        rows[name] = {r.method: r.metrics["F"] for r in results}
    print(f"F with the default model; uint16: means and variances with {args.fraction_bits} "
          f"fraction bits, weights in 1/{WEIGHT_STEPS} steps, rounded after every frame")
    print()
    print("| sequence | float32 | uint16 | difference |")
    print("|---|---:|---:|---:|")
    for name, f in rows.items():
        print(f"| {name} | {f['float32']:.4f} | {f['uint16']:.4f} | {f['uint16'] - f['float32']:+.4f} |")
    means = {m: float(np.mean([f[m] for f in rows.values()])) for m in ("float32", "uint16")}
    print(f"| mean | {means['float32']:.4f} | {means['uint16']:.4f} | "
          f"{means['uint16'] - means['float32']:+.4f} |")
    return rows


if __name__ == "__main__":
    main()
