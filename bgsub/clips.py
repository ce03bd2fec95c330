"""Event clips: one video per motion event, cut out of the input video file, or written from
the frames as they pass when the input is no file (a camera, a stream, an image folder).

A clip copies the input's compressed packets (no re-encoding: the picture is the input's, bit
for bit, and cutting is fast) when the stream allows it: a copy must start on a keyframe, so a
copied clip starts at the last keyframe at or before the event's first frame and can hold a few
frames more than the event at its start (at most one keyframe interval; none for intra-only
codecs such as FFV1 or MJPEG). Its end is exact. Where the copy is not possible the clip is
decoded and re-encoded (MPEG-4 in ``.mp4``, FFV1 in ``.mkv``/``.avi``) and covers the event
exactly:

* streams that reorder frames (B-frames: most camera H.264), whose packets cannot be cut at a
  frame without breaking the frames around the cut;
* streams whose timestamps do not number the frames one by one (variable frame rate);
* codecs that the input's container format cannot take back.

Frames are numbered as :class:`bgsub.sources.VideoSource` numbers them (1 for the first), here
from the packets' timestamps at the stream's frame rate. Each clip starts at time 0 and runs at
the input's frame rate; what it holds is recorded with the event (``clip``,
``clip_start_frame``, ``clip_frames``). PyAV (FFmpeg's libraries) does the demuxing and muxing:
OpenCV can only decode and re-encode.

Without a video file (:class:`FrameClips`) each clip is encoded from the frames the run reads
(MPEG-4 in ``.mp4`` at the input's frame rate) and covers the event exactly. The frames that may
start an event (``pad_before`` plus ``min_frames``) and those that may end it (``quiet_frames``)
are held in memory meanwhile: 2 s of padding at 25 fps holds 50 frames, 300 MB at 1080p.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from bgsub.errors import SinkError
from bgsub.sinks import DEFAULT_CODECS, VideoSink, prepare_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """A written clip: its ``path``, the input frames it starts at and holds, and whether the
    compressed stream was ``copied`` (else re-encoded)."""

    path: Path
    start_frame: int
    frames: int
    copied: bool


class ClipMaker(Protocol):
    """What the events output asks of its clips (:class:`ClipCutter`, :class:`FrameClips`):
    every frame to :meth:`add` once the detector has seen it, each event to :meth:`cut` as it
    ends, and :meth:`abort` to remove the clips after an error."""

    def path_for(self, index: int) -> Path:
        """Where the clip of event ``index`` goes."""

    def add(self, number: int, image: np.ndarray, span: tuple[int, int, int] | None) -> None:
        """Frame ``number``; ``span`` is the detector's open event, ``(index, start_frame,
        last_motion_frame)``, or None."""

    def cut(self, index: int, start_frame: int, end_frame: int) -> Clip:
        """Write the clip of event ``index`` (input frames ``start_frame``..``end_frame``)."""

    def abort(self) -> None:
        """Remove the clips written."""


class _NotCopyable(Exception):
    """The packets of this range cannot be copied into a clip as they are."""


class ClipCutter:
    """Cuts event clips out of ``video`` into ``folder`` as ``STEM.eventNNNN.EXT``.

    ``EXT`` is the input's when bgsub can also write it (``.mp4``, ``.mkv``, ``.avi``,
    ``.mov``, ``.m4v``), else ``.mp4``. :meth:`abort` removes the clips written so far.
    """

    def __init__(self, video, folder):
        self.video = Path(video)
        self.folder = Path(folder)
        prepare_folder(self.folder)
        suffix = self.video.suffix.lower()
        self.suffix = suffix if suffix in DEFAULT_CODECS else ".mp4"
        self.written = []

    def path_for(self, index: int) -> Path:
        """Where the clip of event ``index`` goes."""
        return self.folder / f"{self.video.stem}.event{index:04d}{self.suffix}"

    def add(self, number: int, image: np.ndarray, span: tuple[int, int, int] | None) -> None:
        """Nothing to keep: the clips are read back from the file (:class:`FrameClips` keeps
        frames)."""

    def cut(self, index: int, start_frame: int, end_frame: int) -> Clip:
        """Write the clip of event ``index`` (input frames ``start_frame``..``end_frame``)."""
        import av

        target = self.path_for(index)
        partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        try:
            try:
                clip = self._copy(partial, target, start_frame, end_frame)
            except (_NotCopyable, av.FFmpegError) as why:
                log.debug("event %d: re-encoding the clip (%s)", index, why)
                partial.unlink(missing_ok=True)
                clip = self._reencode(target, start_frame, end_frame)
        except (_NotCopyable, av.FFmpegError, OSError) as err:
            partial.unlink(missing_ok=True)
            raise SinkError(f"cannot write event clip {target}: "
                            f"{getattr(err, 'strerror', None) or err}") from None
        self.written.append(target)
        return clip

    def abort(self) -> None:
        """Remove the clips this cutter wrote."""
        for path in self.written:
            path.unlink(missing_ok=True)

    def _copy(self, partial, target, start_frame, end_frame):
        """The clip as the input's own packets, from the keyframe at or before ``start_frame``.
        Packets go to the clip as they are read: only those from that keyframe to the event's
        first frame are held."""
        import av

        with av.open(str(self.video)) as source, contextlib.ExitStack() as opened:
            stream = source.streams.video[0]
            if stream.codec_context.has_b_frames:
                raise _NotCopyable("the stream reorders frames (B-frames)")
            numbering = _Numbering(stream)
            source.seek(numbering.pts(start_frame), stream=stream, backward=True,
                        any_frame=False)
            head, clip, last, copied = [], None, None, 0
            for packet in source.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                number = numbering.number(packet.pts)
                if number > end_frame:
                    break
                if last is not None and number != last + 1:
                    raise _NotCopyable("timestamps do not number the frames one by one")
                if packet.dts is not None and packet.dts != packet.pts:
                    raise _NotCopyable("decode order differs from display order")
                last = number
                if clip is None:
                    if packet.is_keyframe and number <= start_frame:
                        head = []  # seeking may land on an earlier keyframe (Matroska's cues)
                    head.append(packet)
                    if number < start_frame:
                        continue
                    if not head[0].is_keyframe:
                        raise _NotCopyable("no keyframe at or before the event's first frame")
                    clip = opened.enter_context(av.open(str(partial), "w"))
                    out = clip.add_stream_from_template(stream)
                    shift, first = head[0].pts, number - len(head) + 1  # the clip starts at 0
                    packets, head = head, []
                else:
                    packets = [packet]
                for copy in packets:
                    copy.pts -= shift
                    copy.dts = copy.pts
                    copy.stream = out
                    clip.mux(copy)
                    copied += 1
            if last != end_frame or clip is None:
                raise _NotCopyable(f"the video ends at frame {last}, before frame {end_frame}")
        os.replace(partial, target)
        return Clip(target, first, copied, True)

    def _reencode(self, target, start_frame, end_frame):
        """The clip decoded and encoded again, exactly ``start_frame``..``end_frame``."""
        import av

        with av.open(str(self.video)) as source:
            stream = source.streams.video[0]
            numbering = _Numbering(stream)
            source.seek(numbering.pts(start_frame), stream=stream, backward=True,
                        any_frame=False)
            with VideoSink(target, float(numbering.fps)) as sink:
                expected = start_frame
                for frame in source.decode(stream):
                    number = numbering.number(frame.pts)
                    if number < start_frame:
                        continue
                    if number > end_frame:
                        break
                    if number != expected:
                        raise _NotCopyable(f"its timestamps skip frame {expected}")
                    sink.write(number, frame.to_ndarray(format="bgr24"))
                    expected += 1
                if expected != end_frame + 1:
                    raise _NotCopyable(f"the video ends at frame {expected - 1}, before "
                                       f"frame {end_frame}")
        return Clip(target, start_frame, end_frame - start_frame + 1, False)


class _Numbering:
    """Frame numbers (1-based) of a stream's timestamps at its average frame rate."""

    def __init__(self, stream):
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise _NotCopyable("the stream has no frame rate")
        self.fps = Fraction(rate)
        self.time_base = Fraction(stream.time_base)
        self.origin = stream.start_time or 0

    def number(self, pts):
        return int(round((pts - self.origin) * self.time_base * self.fps)) + 1

    def pts(self, number):
        return self.origin + int(round((number - 1) / (self.fps * self.time_base)))


class FrameClips:
    """Event clips written from the frames as the run reads them, ``name.eventNNNN.mp4`` in
    ``folder``, for inputs that are no video file.

    Feed every frame with :meth:`add` after the event detector has seen it, then :meth:`cut`
    each event as it ends. ``keep`` is how many recent frames may begin an event (its
    ``pad_before`` plus ``min_frames``).
    """

    def __init__(self, folder, name, fps, keep):
        self.folder = Path(folder)
        prepare_folder(self.folder)
        self.name = name
        self.fps = float(fps)
        self.recent = deque(maxlen=max(int(keep), 1))  # (number, image) of the last frames
        self.pending = []  # frames of the open event not yet known to be in it (quiet ones)
        self.sink = None
        self.written = []

    def path_for(self, index: int) -> Path:
        """Where the clip of event ``index`` goes."""
        return self.folder / f"{self.name}.event{index:04d}.mp4"

    def add(self, number: int, image: np.ndarray, span: tuple[int, int, int] | None) -> None:
        """Frame ``number`` after the detector has seen it; ``span`` is the detector's open
        event, ``(index, start_frame, last_motion_frame)``, or None."""
        self.recent.append((number, image))
        if self.sink is not None:
            self.pending.append((number, image))
        if span is None:
            return
        index, start, last_motion = span
        if self.sink is None:  # the event opened with this frame: its start is among the recent
            self.sink = VideoSink(self.path_for(index), self.fps)
            self.pending = [(n, frame) for n, frame in self.recent if n >= start]
        self._write_until(last_motion)  # up to its last motion frame a frame is in the event

    def _write_until(self, last):
        while self.pending and self.pending[0][0] <= last:
            self.sink.write(*self.pending.pop(0))

    def cut(self, index: int, start_frame: int, end_frame: int) -> Clip:
        """Finish the clip of the event that just ended (frames ``start_frame``..``end_frame``)."""
        self._write_until(end_frame)
        sink, self.sink, self.pending = self.sink, None, []
        sink.close()
        self.written.append(sink.path)
        return Clip(sink.path, start_frame, sink.frames_written, False)

    def abort(self) -> None:
        """Remove the clip being written and the clips written so far."""
        if self.sink is not None:
            self.sink.abort()
        for path in self.written:
            path.unlink(missing_ok=True)
