"""The preview's state and what each action does, independent of any window."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bgsub.errors import SinkError
from bgsub.live.controls import NOTICE_SECONDS, THRESHOLD_LIMITS, THRESHOLD_STEP
from bgsub.live.reader import RateMeter
from bgsub.live.view import (
    BOX_MIN_AREA,
    add_status,
    as_bgr,
    describe_model,
    draw_help,
    status_lines,
    tile,
)
from bgsub.models.base import Model, has_scores
from bgsub.models.scores import heat_map
from bgsub.outputs import Output, overlay
from bgsub.frames import FrameChain, FrameResult
from bgsub.postprocess import draw_boxes, find_blobs
from bgsub.sinks import write_image
from bgsub.sources import Frame


class LiveSession:
    """The preview's state and what each action does, independent of any window.

    Args:
        model: a bgsub model; replaced (learned state kept) when a parameter changes.
        postprocess: callable mask -> mask.
        gray: feed the model grayscale frames.
        outputs: recording outputs (:class:`~bgsub.outputs.Output`), e.g. from
            :func:`bgsub.outputs.build_outputs`.
        snapshot_dir: where ``snapshot`` writes PNG files.
        show_background: start with the background pane shown.
        min_area: blobs smaller than this get no box (at least :data:`BOX_MIN_AREA`).
        source_fps: the source's frame rate, shown beside the measured one.
        need_background: compute the background every frame even when its pane is hidden (an
            output records it).
    """

    def __init__(self, model: Model, postprocess: Callable[[np.ndarray], np.ndarray], *,
                 gray: bool = False, outputs: Sequence[Output] = (),
                 snapshot_dir: str | os.PathLike = "snapshots", show_background: bool = False,
                 min_area: int = 0, source_fps: float | None = None,
                 need_background: bool = False, show_scores: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.chain = FrameChain(model, postprocess, gray=gray)
        self.outputs = list(outputs)
        self.snapshot_dir = Path(snapshot_dir)
        self.show_background = show_background
        self.show_scores = show_scores
        self.box_min_area = max(min_area, BOX_MIN_AREA)
        self.source_fps = source_fps
        self.paused = False
        self.show_help = False
        self.frames = 0
        self.dropped = 0  # frames the reader dropped, shown in the status strip
        self.result: FrameResult | None = None
        self.blobs: list = []
        self.meter = RateMeter(clock=clock)
        self._clock = clock
        self.messages: list[str] = []
        self._notice: tuple[str, float] | None = None
        self._need_background = need_background

    @property
    def model(self) -> Model:
        """The model frames go through; replaced (learned state kept) when a parameter changes."""
        return self.chain.model

    @model.setter
    def model(self, model: Model) -> None:
        self.chain.model = model

    # per frame
    def process(self, frame: Frame) -> FrameResult:
        """Run one frame through the model and post-processing, and record it."""
        self.chain.need_background = self.show_background or self._need_background
        self.chain.need_scores = self.show_scores
        self.result = self.chain(frame)
        mask = self.result.mask
        self.blobs = find_blobs(mask, self.box_min_area)
        for output in self.outputs:
            output.write(self.result)
        self.frames += 1
        self.meter.tick()
        return self.result

    @property
    def foreground(self) -> float:
        """Share of foreground pixels in the last mask, in percent."""
        if self.result is None:
            return 0.0
        mask = self.result.mask
        return 100.0 * np.count_nonzero(mask) / mask.size

    # actions
    def handle(self, action: str) -> bool:
        """Carry out a key action; False means quit."""
        if action == "quit":
            return False
        if action == "pause":
            self.paused = not self.paused
            # the status strip says PAUSED itself: only the terminal needs telling
            self.messages.append("paused" if self.paused else "resumed")
        elif action == "reset":
            self.model.reset()
            self.notify("model reset")
        elif action == "snapshot":
            self.snapshot()
        elif action == "background":
            self.show_background = not self.show_background
            if self.show_background and self.result is not None:
                self.result.background = self.model.background_image()
            self.notify(f"background pane {'on' if self.show_background else 'off'}")
        elif action == "scores":
            self._toggle_scores()
        elif action == "threshold_up":
            self.set_threshold(self.model.params.threshold + THRESHOLD_STEP)
        elif action == "threshold_down":
            self.set_threshold(self.model.params.threshold - THRESHOLD_STEP)
        elif action == "help":
            self.show_help = not self.show_help
        return True

    def _toggle_scores(self) -> None:
        if not has_scores(self.model):
            self.notify(f"no score map for model {self.model.name!r}")
            return
        self.show_scores = not self.show_scores
        # Shown from the next frame on: the map is computed before the model learns a frame.
        self.notify(f"score pane {'on' if self.show_scores else 'off'}")

    def set_threshold(self, value: float) -> float:
        """Change the model's threshold (clamped to :data:`THRESHOLD_LIMITS`), keeping what it
        learned; returns the value set."""
        low, high = THRESHOLD_LIMITS
        value = round(min(max(value, low), high), 2)
        if value != self.model.params.threshold:
            self.model = self.model.with_params(threshold=value)
            self.notify(f"threshold {value:.2f}")
        return value

    def set_learning_rate(self, value: float | None) -> None:
        """Change the model's learning rate (None: automatic schedule), keeping what it learned."""
        if value != self.model.params.learning_rate:
            self.model = self.model.with_params(learning_rate=value)
            self.notify(f"learning rate {'auto' if value is None else f'{value:.2g}'}")

    def notify(self, text: str) -> None:
        """Show ``text`` in the status strip for a moment and queue it for the terminal."""
        self._notice = (text, self._clock() + NOTICE_SECONDS)
        self.messages.append(text)

    def take_messages(self) -> list[str]:
        """The terminal lines queued since the last call (what changed, files written)."""
        messages, self.messages = self.messages, []
        return messages

    def snapshot(self) -> list[Path]:
        """Write the current input, mask, overlay (and background, when shown) and the whole view
        as PNG files named ``<date>-<time>_f<frame>_<pane>.png``; returns their paths."""
        if self.result is None:
            return []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        prefix = f"{stamp}_f{self.result.frame.number:06d}"
        images = {name: image for name, image in self.panes()}
        images["view"] = self.render()
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SinkError(f"cannot create snapshot folder {self.snapshot_dir}: "
                            f"{err.strerror or err}") from None
        paths = []
        for name, image in images.items():
            path = self.snapshot_dir / f"{prefix}_{name}.png"
            write_image(path, image)  # atomically: a watcher never reads half a file
            paths.append(path)
        self.notify(f"snapshot saved ({len(paths)} files)")
        self.messages.extend(f"snapshot: {path}" for path in paths)
        return paths

    # drawing
    def panes(self) -> list[tuple[str, np.ndarray]]:
        """The panes of the view at full resolution: input, mask, overlay, [background],
        [score]."""
        r = self.result
        assert r is not None  # drawn once a frame was shown
        boxed = draw_boxes(overlay(r.frame.image, r.mask), self.blobs)
        panes = [("input", as_bgr(r.frame.image)), ("mask", r.mask), ("overlay", boxed)]
        if self.show_background and r.background is not None:
            panes.append(("background", as_bgr(r.background)))
        if self.show_scores and r.scores is not None:
            panes.append(("score", heat_map(r.scores, self.model.params.threshold, inside=True)))
        return panes

    def flags(self) -> list[str]:
        """State words for the status strip (PAUSED, REC, a passing notice)."""
        words = ["PAUSED"] if self.paused else []
        if self.outputs:
            words.append("REC")
        if self._notice and self._clock() < self._notice[1]:
            words.append(self._notice[0])
        return words

    def render(self) -> np.ndarray:
        """The whole view: tiled panes, the status strip and, when on, the help box."""
        assert self.result is not None  # drawn once a frame was shown
        lines = status_lines(describe_model(self.model), self.meter.rate, self.source_fps,
                             self.foreground, len(self.blobs), self.dropped,
                             self.result.frame.number, self.flags())
        canvas = add_status(tile(self.panes()), lines)
        return draw_help(canvas) if self.show_help else canvas

    def close_outputs(self) -> None:
        """Finish the recording files (every output is closed before the first error is raised)."""
        errors = []
        for output in self.outputs:
            try:
                output.close()
            except Exception as err:  # close the others before reporting
                errors.append(err)
        if errors:
            raise errors[0]

    def abort_outputs(self) -> None:
        """Remove partial recording files after a failure."""
        for output in self.outputs:
            output.abort()
