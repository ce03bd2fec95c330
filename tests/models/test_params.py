"""Model parameters are validated at construction with one-line ValueErrors."""

import numpy as np
import pytest

import bgsub
from bgsub.models import make_model


@pytest.mark.parametrize(
    "cls, params, message",
    [
        (bgsub.GaussianMixture, {"k": 0}, "k: must be in [1, 8], got 0"),
        (bgsub.GaussianMixture, {"k": 2.5}, "k: must be an integer"),
        (bgsub.GaussianMixture, {"background_ratio": 1.5}, "background_ratio: must be in (0.0, 1.0]"),
        (bgsub.SingleGaussian, {"learning_rate": 0}, "learning_rate: must be in (0.0, 1.0]"),
        (bgsub.SingleGaussian, {"threshold": True}, "threshold: must be a number"),
        (bgsub.SingleGaussian, {"var_min": 9.0, "var_max": 4.0}, "var_min (9.0) must not exceed"),
        (bgsub.SingleGaussian, {"var_init": 1.0, "var_min": 2.0}, "var_init: must lie in [var_min"),
        (bgsub.SingleGaussian, {"k": 3}, "unknown parameter 'k'"),
    ],
)
def test_bad_parameters_raise_value_error(cls, params, message):
    with pytest.raises(ValueError) as err:
        cls(**params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_make_model_by_name():
    assert isinstance(make_model("gmm", k=3), bgsub.GaussianMixture)
    assert isinstance(make_model("gaussian"), bgsub.SingleGaussian)
    with pytest.raises(ValueError, match="unknown model 'mog'"):
        make_model("mog")


@pytest.mark.parametrize("frame", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 5), np.uint8),
                                   np.zeros((0, 4), np.uint8), [[1, 2]]])
def test_bad_frames_are_refused(frame):
    with pytest.raises(ValueError):
        bgsub.GaussianMixture().apply(frame)


def test_learning_rate_schedule_is_fast_then_steady():
    model = bgsub.SingleGaussian(history=100)
    assert model.learning_rate_at(1) == 1.0
    assert model.learning_rate_at(10) == pytest.approx(0.1)
    assert model.learning_rate_at(1000) == pytest.approx(0.01)
    fixed = bgsub.SingleGaussian(learning_rate=0.05)
    assert fixed.learning_rate_at(2) == 0.5 and fixed.learning_rate_at(100) == 0.05
