"""The events output of the pipeline: measures each mask, feeds the detector, draws snapshots and
writes the events file (JSON, JSON Lines or CSV); and the overlay burn-in."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bgsub.atomic import write_atomic
from bgsub.errors import ConfigError, SinkError
from bgsub.events.detector import EventDetector, timecode, union_box
from bgsub.postprocess import draw_boxes, find_blobs, roi_mask
from bgsub.sinks import prepare_folder
from bgsub.units import area_pixels, duration_frames

if TYPE_CHECKING:
    from bgsub.clips import ClipMaker


log = logging.getLogger(__name__)

EVENT_FORMATS = (".json", ".jsonl", ".csv")
DURATION_KEYS = ("min_frames", "quiet_frames", "pad_before", "pad_after")
CLIP_COLUMNS = ("clip", "clip_start_frame", "clip_frames")
CSV_COLUMNS = (
    "event", "start_frame", "end_frame", "start_time", "end_time", "start_timecode",
    "end_timecode", "duration", "frames", "peak_frame", "peak_time", "peak_percent",
    "box_x", "box_y", "box_w", "box_h", "snapshot",
)
_JPEG_QUALITY = 90



def draw_snapshot(image, blobs, label=None):
    """A BGR copy of ``image`` with each blob's box drawn and an optional label in the corner."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    thickness = max(1, min(out.shape[:2]) // 240)
    draw_boxes(out, blobs, thickness)
    if label and min(out.shape[:2]) >= 48:
        scale = max(0.35, min(out.shape[:2]) / 600)
        cv2.putText(out, label, (4, out.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, label, (4, out.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def burnt_in_overlay(boxes, show_timecode, box_min_area=1):
    """The overlay video's view with a burn-in, as DVR-Scan's output has: the blob boxes in
    green (``boxes``) and, bottom left, the frame's timecode, its number and the number of the
    event open at it (``show_timecode``).

    The blobs are the events output's (its ``min_area``) when there is one, else the mask's of
    at least ``box_min_area`` (pixels or a percentage of the frame).
    """
    from bgsub.outputs import overlay

    def view(result):
        blobs = ()
        if boxes:
            blobs = result.blobs
            if blobs is None:
                blobs = find_blobs(result.mask, max(area_pixels(box_min_area, result.mask.shape), 1))
        label = None
        if show_timecode:
            frame = result.frame
            label = f"{timecode(frame.timestamp)}  frame {frame.number}"
            if result.event is not None:
                label += f"  event {result.event}"
        return draw_snapshot(overlay(result.frame.image, result.mask), blobs, label)

    return view


class EventsOutput:
    """A pipeline output that detects motion events and writes them to ``path``.

    Args:
        path: ``.json``, ``.jsonl`` or ``.csv`` file; snapshots go to the folder beside it named
            after its stem (``events.json`` -> ``events/event_001.jpg``).
        settings: the ``events`` config section (:class:`~bgsub.config.EventsConfig`, or a
            mapping of some of its keys, the others at their defaults).
        roi: the ``postprocess.roi`` setting: the percentage is of the pixels inside it.
        fps: frame rate of the input, for durations.
        source: a description of the input, recorded in the file.
        video: the input video file, which event clips (``settings.clips``) are cut from;
            without one they are encoded from the frames as they pass
            (:class:`~bgsub.clips.FrameClips`, named after ``source``).

    The ``.json`` and ``.csv`` files are written once, atomically, by :meth:`close` (also after
    Ctrl-C, with the events found so far); :meth:`abort` writes none and removes this run's
    snapshots and clips. A ``.jsonl`` file is a log: it is emptied when the output opens and
    gets each event as one line, flushed, when the event ends, so ``tail -f`` shows events while
    the run goes on; the lines already written stay on :meth:`abort` (each is a whole event).
    """

    needs_background = False
    needs_scores = False

    def __init__(self, path, settings, *, roi=None, fps=25.0, source=None, video=None):
        self.path = Path(path)
        self.format = self.path.suffix.lower()
        if self.format not in EVENT_FORMATS:
            raise ConfigError(f"events file must end in .json, .jsonl or .csv: {self.path}")
        prepare_folder(self.path.parent)
        from bgsub.config import section_of  # loads the models: only when events are written

        self.settings = settings = section_of("events", settings)
        self.snapshot_dir = self.path.with_suffix("") if settings.snapshots else None
        self.roi = roi
        self.fps = float(fps)
        self.source = None if source is None else str(source)
        # Durations in frames at this input's rate: what the detector counts and the file records.
        self.frame_settings = {key: duration_frames(getattr(settings, key), self.fps)
                               for key in DURATION_KEYS}
        self.frame_settings["min_frames"] = max(self.frame_settings["min_frames"], 1)
        self.detector = EventDetector(
            settings.threshold, frame_period=1.0 / self.fps, **self.frame_settings)
        self.clips = self._clip_cutter(video)
        self.events = []
        self.frames = 0
        self._snapshots = []
        self._roi_shape = None
        self._roi_mask = None
        self._roi_pixels = 0
        self.min_area = 1
        self._done = False
        self._log = self._open_log() if self.format == ".jsonl" else None

    def _clip_cutter(self, video) -> ClipMaker | None:
        folder = self.settings.clips
        if not folder:
            return None
        from bgsub.clips import ClipCutter, FrameClips

        if video is not None:
            return ClipCutter(video, folder)
        keep = self.frame_settings["pad_before"] + self.frame_settings["min_frames"]
        return FrameClips(folder, input_name(self.source), self.fps, keep)

    def _open_log(self):
        try:
            return open(self.path, "w", encoding="utf-8")
        except OSError as err:
            raise SinkError(f"cannot write {self.path}: {err.strerror or err}") from None

    def _roi_for(self, shape):
        if self._roi_shape != shape:
            self._roi_mask = roi_mask(self.roi, shape)
            self._roi_pixels = (int(np.count_nonzero(self._roi_mask))
                                if self._roi_mask is not None else shape[0] * shape[1])
            self.min_area = max(area_pixels(self.settings.min_area, shape), 1)
            self._roi_shape = shape
        return self._roi_mask

    def measure(self, mask):
        """``(percent, blobs)`` of a 0/255 mask: foreground share of the ROI and its blobs."""
        roi = self._roi_for(mask.shape[:2])
        if roi is not None:
            mask = cv2.bitwise_and(mask, roi)
        foreground = cv2.countNonZero(mask)
        if foreground == 0 or self._roi_pixels == 0:
            return 0.0, []
        return 100.0 * foreground / self._roi_pixels, find_blobs(mask, self.min_area)

    def write(self, result):
        """Feed one :class:`~bgsub.frames.FrameResult`; sets its ``blobs`` and, while an
        event is open, its ``event`` number (for the overlay's burn-in)."""
        percent, blobs = self.measure(result.mask)
        box = None
        for blob in blobs:
            box = union_box(box, (blob.x, blob.y, blob.w, blob.h))
        frame = result.frame
        # The frame's image is never modified after reading, so a reference is enough.
        payload = (frame.image, blobs) if percent > self.detector.threshold else None
        self.frames += 1
        ended = self.detector.update(frame.number, frame.timestamp, percent, box, payload)
        result.blobs = blobs
        result.event = self.detector.count + 1 if self.detector.in_event else None
        if self.clips is not None:
            self.clips.add(frame.number, frame.image, self.detector.open_span)
        for event in ended:
            self._finish(event)

    def _finish(self, event):
        if self.snapshot_dir is not None and event.peak_payload is not None:
            image, blobs = event.peak_payload
            label = f"event {event.index}  frame {event.peak_frame}  {event.peak_percent:.1f}%"
            event.snapshot = self._write_snapshot(event.index, draw_snapshot(image, blobs, label))
        event.peak_payload = None
        if self.clips is not None:
            clip = self.clips.cut(event.index, event.start_frame, event.end_frame)
            event.clip = {"clip": self._relative(clip.path),
                          "clip_start_frame": clip.start_frame, "clip_frames": clip.frames}
        self.events.append(event)
        if self._log is not None:
            self._append(event)

    def _append(self, event):
        # One write per whole line: a reader never sees half an event.
        try:
            self._log.write(json.dumps(event.to_dict()) + "\n")
            self._log.flush()
        except OSError as err:
            raise SinkError(f"cannot write {self.path}: {err.strerror or err}") from None

    def _relative(self, target):
        return Path(os.path.relpath(target, self.path.parent)).as_posix()

    def _write_snapshot(self, index, image):
        if not self._snapshots:
            prepare_folder(self.snapshot_dir)
        target = self.snapshot_dir / f"event_{index:03d}.jpg"
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise SinkError(f"cannot encode snapshot {target}")
        write_atomic(target, encoded.tobytes())
        self._snapshots.append(target)
        return self._relative(target)

    def close(self):
        """Close the open event at the last frame and write the events file."""
        if self._done:
            return
        self._done = True
        try:
            for event in self.detector.finish():
                self._finish(event)
        finally:
            if self._log is not None:
                self._log.close()
        if self._log is None:
            write_atomic(self.path, self._render())
        log.info("%d motion events -> %s", len(self.events), self.path)

    def abort(self):
        """Stop without writing the events file; remove this run's snapshots and clips."""
        if self._done:
            return
        self._done = True
        if self._log is not None:
            self._log.close()
        for snapshot in self._snapshots:
            snapshot.unlink(missing_ok=True)
        if self.clips is not None:
            self.clips.abort()

    def _render(self):
        if self.format == ".csv":
            text = io.StringIO()
            columns = CSV_COLUMNS + (CLIP_COLUMNS if self.clips is not None else ())
            writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for event in self.events:
                writer.writerow(event.to_row())
            return text.getvalue().encode("utf-8")
        document = {
            "source": self.source,
            "fps": self.fps,
            "frames": self.frames,
            "settings": {"threshold": self.settings.threshold, **self.frame_settings},
            "events": [event.to_dict() for event in self.events],
        }
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def input_name(source):
    """A file-name stem for an input: the video's or folder's name, ``camera0`` for a camera,
    the last part of a URL's path (the folder above a glob's pattern)."""
    text = str(source or "input").rstrip("/\\")
    if text.isdigit():
        return f"camera{text}"
    path = Path(text.split("?")[0])
    while path.name and any(c in path.name for c in "*?["):
        path = path.parent
    return path.stem or "input"


def events_output_from(config, *, fps, source=None, video=None):
    """The :class:`EventsOutput` a resolved config asks for (``events.file``), or None.
    ``video`` is the input video file that event clips are cut from (None when the input is no
    video file: the clips are then encoded from the frames)."""
    events = config.events
    if not events.file:
        return None
    return EventsOutput(events.file, events, roi=config.postprocess.roi, fps=fps,
                        source=source, video=video)
