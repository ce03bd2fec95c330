"""The outputs of a run: which views of each processed frame (mask, overlay, background, labels,
score map, PNG masks) go to which sink, under the output folder."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from bgsub.errors import SinkError
from bgsub.frames import FrameResult
from bgsub.sinks import ImageSequenceSink, Sink, VideoSink, prepare_folder

if TYPE_CHECKING:  # the config imports the models, which an output never needs
    from bgsub.config import OutputsConfig

log = logging.getLogger(__name__)


def overlay(image, mask, color=(0, 0, 255), strength=0.5):
    """``image`` (gray or BGR) with the foreground of ``mask`` tinted by ``color``."""
    bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    tint = np.empty_like(bgr)
    tint[:] = color
    blended = cv2.addWeighted(bgr, 1.0 - strength, tint, strength, 0.0)
    out = bgr.copy()
    np.copyto(out, blended, where=(mask > 0)[:, :, None])
    return out



class Output(Protocol):
    """What a run (:func:`bgsub.pipeline.run`) and the live preview feed each
    :class:`~bgsub.frames.FrameResult` to: :class:`SinkOutput` and the events output.
    ``needs_background`` / ``needs_scores``: the results must carry the learned background /
    the score map. ``close`` finishes the files (also after Ctrl-C); ``abort`` removes what is
    partial after an error."""

    @property
    def path(self) -> Path | None:
        """The file or folder written, reported at the end of a run (None: none to name)."""

    @property
    def needs_background(self) -> bool:
        """Whether the results must carry the learned background."""

    @property
    def needs_scores(self) -> bool:
        """Whether the results must carry the score map."""

    def write(self, result: FrameResult) -> None:
        """Take one frame's result."""

    def close(self) -> None:
        """Finish what was written."""

    def abort(self) -> None:
        """Remove what is partial."""


View = Callable[[FrameResult], np.ndarray]


class SinkOutput:
    """Feeds one view of each :class:`FrameResult` (mask, overlay, ...) to a sink.

    A video keeps the size of its first frame: when the input changes resolution mid-stream (a
    camera reconnecting in another mode), later frames are resized to it (nearest neighbour, so
    masks stay 0/255) and the file stays one playable video. Image folders keep every size.
    Videos have even sizes (OpenCV's encoders crop odd ones): an odd last row or column is left
    out, with a warning, and never resampled.
    """

    _odd_sizes_reported: set[tuple[int, int]] = set()  # warn once per size, not once per video

    def __init__(self, sink: Sink, view: View, *, needs_background: bool = False,
                 needs_scores: bool = False):
        self.sink = sink
        self.view = view
        self.path: Path | None = sink.path
        self.needs_background = needs_background
        self.needs_scores = needs_scores
        self._first: tuple[int, int] | None = None  # size of the first frame
        self._size: tuple[int, int] = (0, 0)  # size of the video: the first frame's, made even

    def write(self, result: FrameResult) -> None:
        """The view of ``result`` to the sink."""
        image = self.view(result)
        if self.sink.fixed_size:
            image = self._conform(image)
        self.sink.write(result.frame.number, image)

    def _conform(self, image: np.ndarray) -> np.ndarray:
        size = (image.shape[1], image.shape[0])
        if self._first is None:
            if min(size) < 2:
                raise SinkError(f"frames of {size[0]}x{size[1]} are too small for a video "
                                f"(at least 2x2; write PNG masks instead): {self.path}")
            self._first = size
            self._size = (size[0] & ~1, size[1] & ~1)
            if self._size != size and size not in SinkOutput._odd_sizes_reported:
                SinkOutput._odd_sizes_reported.add(size)
                log.warning("frames are %dx%d but videos need even sizes: videos are written "
                            "at %dx%d", *size, *self._size)
        if size != self._first:
            return cv2.resize(image, self._size, interpolation=cv2.INTER_NEAREST)
        return image[:self._size[1], :self._size[0]]

    def close(self) -> None:
        """Commit the sink."""
        self.sink.close()

    def abort(self) -> None:
        """Abort the sink."""
        self.sink.abort()


def _background(result: FrameResult) -> np.ndarray:
    assert result.background is not None  # computed for an output that needs_background
    return result.background


VIEWS: dict[str, tuple[str, View]] = {
    "mask_video": ("mask.mov", lambda r: r.mask),
    "overlay_video": ("overlay.mp4", lambda r: overlay(r.frame.image, r.mask)),
    "background_video": ("background.mp4", _background),
    "shadow_video": ("labels.mkv", lambda r: r.labels),
}


def build_outputs(outdir: str | Path, outputs: OutputsConfig | Mapping[str, Any], fps: float,
                  threshold: float | None = None, box_min_area: int | str = 1) -> list[Output]:
    """The outputs the ``outputs`` config section (:class:`~bgsub.config.OutputsConfig`, or a
    mapping of some of its keys) asks for, writing under ``outdir``.

    The mask video is 1-bit PNG frames in QuickTime and the label video FFV1 (both lossless, so
    no codec blurs them; the 1-bit PNG costs a mask a tenth of FFV1's CPU time); overlay and
    background are MPEG-4 to stay small. ``masks_dir: true`` writes
    ``OUTDIR/masks/binNNNNNN.png``.
    ``score_video`` writes the score map's heat map (:func:`bgsub.models.scores.heat_map`) with
    ``threshold`` (the model's) marked on its colour bar. ``overlay_boxes`` / ``overlay_timecode``
    burn the blob boxes (blobs of ``box_min_area``, pixels or a share of the frame, when no
    events output found them) / the timecode, frame and event number into the overlay video,
    which they turn on.
    """
    from bgsub.config import section_of  # loads the models: only when outputs are built

    wanted: OutputsConfig = section_of("outputs", outputs)
    outdir = Path(outdir)
    prepare_folder(outdir)
    made: list[Output] = []
    burn_in = wanted.overlay_boxes or wanted.overlay_timecode
    for key, (name, view) in VIEWS.items():
        if key == "overlay_video" and burn_in:
            from bgsub.events import burnt_in_overlay

            made.append(SinkOutput(VideoSink(outdir / name, fps), burnt_in_overlay(
                wanted.overlay_boxes, wanted.overlay_timecode, box_min_area)))
        elif getattr(wanted, key):
            made.append(SinkOutput(VideoSink(outdir / name, fps, binary=key == "mask_video"),
                                   view, needs_background=key == "background_video"))
    if wanted.score_video:
        from bgsub.models.scores import heat_map

        made.append(SinkOutput(VideoSink(outdir / "score.mkv", fps),
                               lambda r: heat_map(r.scores, threshold), needs_scores=True))
    folder = masks_folder(outdir, wanted)
    if folder is not None:
        prepare_folder(folder)
        sink = ImageSequenceSink(folder)
        # The folder then holds this run's masks only, never the tail of a longer earlier run.
        removed = sink.clear()
        if removed:
            log.info("removed %d masks of an earlier run from %s", removed, folder)
        made.append(SinkOutput(sink, lambda r: r.mask))
    return made


def masks_folder(outdir, outputs):
    """The folder of the PNG masks the ``outputs`` config section asks for (None: no PNGs)."""
    masks_dir = outputs.masks_dir
    if not masks_dir:
        return None
    return Path(outdir) / "masks" if masks_dir is True else Path(masks_dir)
