"""The narrow-state benchmark: its rounding is a uint16 store's, and its baseline is the default."""

import numpy as np

from conftest import load_benchmark

from bgsub import evaluate as ev
from bgsub.config import resolve


def test_rounding_keeps_only_what_sixteen_bits_hold_and_moves_by_half_a_step_at_most():
    bench = load_benchmark("narrow_state")
    rng = np.random.default_rng(0)
    planes = np.empty((3, 50, 5), np.float32)
    planes[..., 0] = rng.random((3, 50))  # weights
    planes[..., 1] = rng.uniform(4, 75, (3, 50))  # variances
    planes[..., 2:] = rng.uniform(0, 255, (3, 50, 3))  # means
    before = planes.astype(np.float64)
    bench.round_state(planes, 8)
    for values, steps in ((planes[..., :1], 65535), (planes[..., 1:], 256)):
        codes = values.astype(np.float64) * steps
        # whole codes (a weight's k / 65535 is the nearest float32, not exact) that a uint16 holds
        assert np.abs(codes - np.round(codes)).max() < 1e-2 and codes.max() < 65535.5
    again = planes.copy()
    bench.round_state(again, 8)
    assert np.array_equal(again, planes)  # what it keeps, it keeps
    assert np.abs(planes[..., :1] - before[..., :1]).max() <= 0.5 / 65535 + 1e-7
    assert np.abs(planes[..., 1:] - before[..., 1:]).max() <= 0.5 / 256 + 1e-5
    assert 0 < np.abs(planes - before).max()  # it did round


def test_float32_column_is_the_default_model_and_uint16_state_stays_rounded(highway_excerpt,
                                                                            capsys):
    bench = load_benchmark("narrow_state")
    rows = bench.main(["--data", str(highway_excerpt.parent), highway_excerpt.name])
    (f,) = rows.values()
    sequence = ev.load_sequence(highway_excerpt)
    (default,) = ev.evaluate_together(sequence, {"d": ev.bgsub_factory(resolve({}))})
    assert f["float32"] == default.metrics["F"]
    assert 0 < f["uint16"] <= 1
    assert "| mean |" in capsys.readouterr().out
    rounded = bench.RoundedState(resolve({}), 8)
    for _, frame in sequence.frames():
        rounded.apply(frame)
    means = rounded.model._planes[..., 2:].astype(np.float64) * 256
    assert np.array_equal(means, np.round(means))
