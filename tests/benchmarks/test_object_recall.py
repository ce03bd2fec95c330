"""The recall-by-object-size benchmark: perfect masks find every object, empty ones none."""

import cv2
import numpy as np

from conftest import load_benchmark


def _bench():
    return load_benchmark("object_recall")


def test_ground_truth_masks_find_everything_and_empty_masks_nothing(highway_excerpt, tmp_path,
                                                                    capsys):
    bench = _bench()
    sequence = bench.load_sequence(highway_excerpt)
    perfect, empty = tmp_path / "perfect", tmp_path / "empty"
    perfect.mkdir(), empty.mkdir()
    for number in sequence.scored:
        gt = sequence.ground_truth(number)
        cv2.imwrite(str(perfect / f"bin{number:06d}.png"), np.where(gt == 255, 255, 0).astype(np.uint8))
        cv2.imwrite(str(empty / f"bin{number:06d}.png"), np.zeros_like(gt))
    counts = bench.main([str(highway_excerpt), "--masks", str(perfect), "--masks", str(empty)])
    found, missed = counts
    assert found[:, 0].sum() > 0 and np.array_equal(found[:, 0], missed[:, 0])
    assert np.array_equal(found[:, 1], found[:, 0]) and np.array_equal(found[:, 3], found[:, 2])
    assert not missed[:, 1].any() and not missed[:, 3].any()
    # the objects' pixels are the ground truth's motion pixels inside the ROI
    motion = sum(np.count_nonzero((sequence.ground_truth(n) == 255) & sequence.roi)
                 for n in sequence.scored)
    assert found[:, 2].sum() == motion
    assert "| 1.000 | 1.000 | 0.000 | 0.000 |" in capsys.readouterr().out
