"""The motion-event state machine: fed one observation per frame, it says when an event has
ended. No images, no files."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bgsub.errors import ConfigError


def timecode(seconds):
    """``HH:MM:SS.mmm`` for a time in seconds (the format DVR-Scan and video editors show)."""
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def union_box(a, b):
    """The smallest ``(x, y, w, h)`` box holding boxes ``a`` and ``b`` (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


@dataclass
class Event:
    """One motion event. Frames are the source's frame numbers, times its timestamps (seconds).

    ``duration`` counts the end frame as lasting one frame period, so an event of one frame at
    25 fps lasts 0.04 s. ``box`` is the union ``(x, y, w, h)`` of the blob boxes from the first
    to the last motion frame (None if no blob reached the minimum area). ``peak_payload`` is
    whatever the caller attached to the peak frame (the output keeps the image there).
    """

    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    frames: int
    peak_frame: int
    peak_time: float
    peak_percent: float
    duration: float
    box: tuple | None = None
    snapshot: str | None = None
    clip: dict | None = None  # with clips: CLIP_COLUMNS, the clip's path relative to the file
    peak_payload: object = field(default=None, repr=False, compare=False)

    def to_dict(self):
        """The event as the JSON file writes it."""
        return {
            "event": self.index,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
            "start_timecode": timecode(self.start_time),
            "end_timecode": timecode(self.end_time),
            "duration": round(self.duration, 3),
            "frames": self.frames,
            "peak_frame": self.peak_frame,
            "peak_time": round(self.peak_time, 3),
            "peak_percent": round(self.peak_percent, 3),
            "box": list(self.box) if self.box is not None else None,
            "snapshot": self.snapshot,
            **(self.clip or {}),
        }

    def to_row(self):
        """The event as one CSV row (``CSV_COLUMNS``, then ``CLIP_COLUMNS`` with clips)."""
        row = self.to_dict()
        box = row.pop("box") or ("", "", "", "")
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), box))
        row["snapshot"] = row["snapshot"] or ""
        return row


@dataclass
class _Observation:
    index: int  # position in the input (0-based), so frame counts survive gaps in numbering
    number: int
    time: float
    percent: float
    box: tuple | None
    payload: object = None


class _OpenEvent:
    """The event being built: its start, motion frames seen so far and the quiet tail."""

    def __init__(self, start, observations):
        self.start = start
        self.box = None
        self.peak = None
        self.last_motion = None
        self.quiet = []
        for obs in observations:
            self.add_motion(obs)

    def add_motion(self, obs):
        # Quiet frames between two motion frames belong to the event, their blobs too.
        for quiet in self.quiet:
            self.box = union_box(self.box, quiet.box)
        self.quiet = []
        self.box = union_box(self.box, obs.box)
        if self.peak is None or obs.percent > self.peak.percent:
            self.peak = obs
        self.last_motion = obs


class EventDetector:
    """The event state machine; feed it every frame with :meth:`update`, then :meth:`finish`.

    Args:
        threshold: a frame is motion when its foreground percentage is above this.
        min_frames: consecutive motion frames that start an event (>= 1).
        quiet_frames: frames without motion that end an event.
        pad_before: frames added before an event (from the frames already seen).
        pad_after: frames added after an event's last motion frame.
        frame_period: seconds one frame lasts (1 / fps), for durations.
    """

    def __init__(self, threshold=0.5, min_frames=3, quiet_frames=15, pad_before=0, pad_after=0,
                 frame_period=0.04):
        if min_frames < 1:
            raise ConfigError(f"min_frames: must be at least 1, got {min_frames}")
        if min(quiet_frames, pad_before, pad_after) < 0:
            raise ConfigError("quiet_frames, pad_before and pad_after must not be negative")
        self.threshold = float(threshold)
        self.min_frames = int(min_frames)
        self.quiet_frames = int(quiet_frames)
        self.pad_before = int(pad_before)
        self.pad_after = int(pad_after)
        self.frame_period = float(frame_period)
        # An event can only be closed once its padded end has been read.
        self._close_after = max(self.quiet_frames, self.pad_after, 1)
        self._run = []
        self._before = deque(maxlen=self.pad_before)
        self._open = None
        self._last = None
        self.count = 0

    @property
    def in_event(self):
        """True while an event is open."""
        return self._open is not None

    @property
    def open_span(self):
        """``(index, start_frame, last_motion_frame)`` of the open event, or None."""
        if self._open is None:
            return None
        return self.count + 1, self._open.start.number, self._open.last_motion.number

    def update(self, number, time, percent, box=None, payload=None):
        """Feed one frame; returns the events that ended with it (a list of 0 or 1).

        ``box`` is the frame's blob bounding box ``(x, y, w, h)`` or None; ``payload`` is kept
        for the peak frame of an event and handed back as ``Event.peak_payload``.
        """
        index = self._last.index + 1 if self._last is not None else 0
        obs = _Observation(index, number, float(time), float(percent), box, payload)
        self._last = obs
        motion = obs.percent > self.threshold
        if self._open is not None:
            return self._update_open(obs, motion)
        if motion:
            self._run.append(obs)
            if len(self._run) >= self.min_frames:
                start = self._before[0] if self._before else self._run[0]
                self._open = _OpenEvent(start, self._run)
                self._run = []
                self._before.clear()
            return []
        self._before.extend(_bare(o) for o in self._run)
        self._before.append(obs)
        self._run = []
        return []

    def _update_open(self, obs, motion):
        event = self._open
        if motion:
            event.add_motion(obs)
            return []
        event.quiet.append(obs)
        if len(event.quiet) < self._close_after:
            return []
        end = event.quiet[self.pad_after - 1] if self.pad_after else event.last_motion
        self._before.extend(_bare(o) for o in event.quiet[self.pad_after:])
        self._open = None
        return [self._make(event, end)]

    def finish(self):
        """End of input: close the open event at the last frame read; returns it (or [])."""
        event, self._open = self._open, None
        self._run = []
        if event is None:
            return []
        if self.pad_after and len(event.quiet) >= self.pad_after:
            end = event.quiet[self.pad_after - 1]
        elif self.pad_after:
            end = self._last
        else:
            end = event.last_motion
        return [self._make(event, end)]

    def _make(self, event, end):
        self.count += 1
        peak = event.peak
        return Event(
            index=self.count,
            start_frame=event.start.number,
            end_frame=end.number,
            start_time=event.start.time,
            end_time=end.time,
            frames=end.index - event.start.index + 1,
            peak_frame=peak.number,
            peak_time=peak.time,
            peak_percent=peak.percent,
            duration=end.time - event.start.time + self.frame_period,
            box=event.box,
            peak_payload=peak.payload,
        )


def _bare(obs):
    """``obs`` without its payload: frames kept only for padding must not hold images."""
    return _Observation(obs.index, obs.number, obs.time, obs.percent, obs.box)
