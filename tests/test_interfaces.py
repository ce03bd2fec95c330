"""The declared interfaces (typing Protocols) hold: the type checker accepts every model, sink,
output, clip maker and eval subtractor as what the commands take, and refuses classes that
break the contract."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bgsub.models import FeedbackMixture, GaussianMixture, SingleGaussian
from bgsub.models.base import can_fit, has_scores
from bgsub.models.downscaled import Downscaled

ROOT = Path(__file__).resolve().parents[1]

CONFORMING = """
from pathlib import Path

from bgsub.clips import ClipCutter, ClipMaker, FrameClips
from bgsub.evaluate import BgsubSubtractor, Subtractor
from bgsub.events import EventsOutput
from bgsub.models import FeedbackMixture, GaussianMixture, SingleGaussian
from bgsub.models.base import BackgroundModel, FittableModel, Model, ScoredModel
from bgsub.models.downscaled import Downscaled
from bgsub.outputs import Output, SinkOutput
from bgsub.sinks import ImageSequenceSink, Sink, VideoSink

models: list[Model] = [SingleGaussian(), GaussianMixture(), FeedbackMixture(),
                       Downscaled(GaussianMixture(), 2)]
classes: list[type[Model]] = [BackgroundModel, SingleGaussian, GaussianMixture, FeedbackMixture,
                              Downscaled]
scored: list[ScoredModel] = [GaussianMixture(), FeedbackMixture()]
fittable: list[FittableModel] = [GaussianMixture(), FeedbackMixture()]
sinks: list[type[Sink]] = [VideoSink, ImageSequenceSink]
outputs: list[type[Output]] = [SinkOutput, EventsOutput]
clips: list[type[ClipMaker]] = [ClipCutter, FrameClips]
subtractors: list[type[Subtractor]] = [BgsubSubtractor]
"""

BROKEN = """
import numpy as np

from bgsub.models import SingleGaussian
from bgsub.models.base import Model, ScoredModel
from bgsub.outputs import Output


class NoSave(SingleGaussian):
    save = None  # type: ignore[assignment]


class WrongApply(SingleGaussian):
    def apply(  # type: ignore[override]
            self, frame: np.ndarray, learning_rate: float | None = None) -> None:
        return None


class NotAnOutput:
    path = None
    needs_background = needs_scores = False

    def write(self, result: int) -> None: ...
    def close(self) -> None: ...


a: Model = NoSave()  # refused
b: Model = WrongApply()  # refused
c: ScoredModel = SingleGaussian()  # refused
d: Output = NotAnOutput()  # refused
"""


def _mypy(tmp_path, source):
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(snippet)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_every_model_sink_output_and_clip_maker_satisfies_its_protocol(tmp_path):
    result = _mypy(tmp_path, CONFORMING)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_checker_refuses_classes_that_break_a_protocol(tmp_path):
    result = _mypy(tmp_path, BROKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    refused = [number for number, line in enumerate(textwrap.dedent(BROKEN).splitlines(), 1)
               if line.endswith("# refused")]
    assert len(refused) == 4 and lines == refused, result.stdout
    assert "save: expected" in result.stdout and "def apply(" in result.stdout
    assert "compute_scores" in result.stdout and "abort" in result.stdout


@pytest.mark.parametrize("model, scores, fits", [
    (SingleGaussian(), False, False),
    (GaussianMixture(), True, True),
    (FeedbackMixture(), True, True),
    (Downscaled(SingleGaussian(), 2), False, False),
    (Downscaled(FeedbackMixture(), 2), True, True),
])
def test_optional_capabilities_are_answered_as_the_model_has_them(model, scores, fits):
    # A wrapper answers as the model it wraps: the commands refuse a score video or an EM fit
    # for the single Gaussian, downscaled or not, with one line instead of failing later.
    assert has_scores(model) is scores
    assert can_fit(model) is fits
