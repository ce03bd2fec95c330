"""The outputs of a run: which views of each processed frame (mask, overlay, background, labels,
score map, PNG masks) go to which sink, under the output folder."""

import logging
from pathlib import Path

import cv2
import numpy as np

from bgsub.errors import SinkError
from bgsub.sinks import ImageSequenceSink, VideoSink, prepare_folder

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



class SinkOutput:
    """Feeds one view of each :class:`FrameResult` (mask, overlay, ...) to a sink.

    A video keeps the size of its first frame: when the input changes resolution mid-stream (a
    camera reconnecting in another mode), later frames are resized to it (nearest neighbour, so
    masks stay 0/255) and the file stays one playable video. Image folders keep every size.
    Videos have even sizes (OpenCV's encoders crop odd ones): an odd last row or column is left
    out, with a warning, and never resampled.
    """

    _odd_sizes_reported: set[tuple[int, int]] = set()  # warn once per size, not once per video

    def __init__(self, sink, view):
        self.sink = sink
        self.view = view
        self.path = getattr(sink, "path", None) or getattr(sink, "directory", None)
        self._video = isinstance(sink, VideoSink)
        self._first = None  # size of the first frame
        self._size = None   # size of the video: the first frame's, made even

    def write(self, result):
        image = self.view(result)
        if self._video:
            image = self._conform(image)
        self.sink.write(result.frame.number, image)

    def _conform(self, image):
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

    def close(self):
        self.sink.close()

    def abort(self):
        self.sink.abort()


VIEWS = {
    "mask_video": ("mask.mov", lambda r: r.mask),
    "overlay_video": ("overlay.mp4", lambda r: overlay(r.frame.image, r.mask)),
    "background_video": ("background.mp4", lambda r: r.background),
    "shadow_video": ("labels.mkv", lambda r: r.labels),
}


def build_outputs(outdir, outputs, fps, threshold=None, box_min_area=1):
    """The outputs the ``outputs`` config section (:class:`~bgsub.config.OutputsConfig`) asks
    for, writing under ``outdir``.

    The mask video is PNG frames in QuickTime and the label video FFV1 (both lossless, so no codec
    blurs them; PNG costs a mask a quarter of FFV1's CPU time); overlay and background are
    MPEG-4 to stay small. ``masks_dir: true`` writes ``OUTDIR/masks/binNNNNNN.png``.
    ``score_video`` writes the score map's heat map (:func:`bgsub.models.scores.heat_map`) with
    ``threshold`` (the model's) marked on its colour bar. ``overlay_boxes`` / ``overlay_timecode``
    burn the blob boxes (blobs of ``box_min_area``, pixels or a share of the frame, when no
    events output found them) / the timecode, frame and event number into the overlay video,
    which they turn on.
    """
    outdir = Path(outdir)
    prepare_folder(outdir)
    made = []
    burn_in = outputs.overlay_boxes or outputs.overlay_timecode
    for key, (name, view) in VIEWS.items():
        if key == "overlay_video" and burn_in:
            from bgsub.events import burnt_in_overlay

            made.append(SinkOutput(VideoSink(outdir / name, fps), burnt_in_overlay(
                outputs.overlay_boxes, outputs.overlay_timecode, box_min_area)))
        elif getattr(outputs, key):
            made.append(SinkOutput(VideoSink(outdir / name, fps), view))
    if outputs.score_video:
        from bgsub.models.scores import heat_map

        made.append(SinkOutput(VideoSink(outdir / "score.mkv", fps),
                               lambda r: heat_map(r.scores, threshold)))
        made[-1].scores = True
    folder = masks_folder(outdir, outputs)
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
