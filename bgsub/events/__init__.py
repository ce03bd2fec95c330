"""Motion events: when did something move, where, and a picture of it.

Two layers:

* :class:`EventDetector` is the pure state machine. It is fed one observation per frame (frame
  number, timestamp, foreground percentage, that frame's bounding box) and says when an event
  has ended. No images, no files: it is tested frame by frame.
* :class:`EventsOutput` is a pipeline output (``write(result)`` / ``close()`` / ``abort()``): it
  measures each post-processed mask inside the region of interest, finds its blobs, feeds the
  detector, draws the blob boxes on the peak frame of each event and writes
  ``FILE.json`` or ``FILE.csv`` plus ``FILE_stem/event_NNN.jpg`` snapshots, or appends one line
  per event to ``FILE.jsonl`` as each event ends; with a clips folder it also cuts each event
  out of the input video (:mod:`bgsub.clips`).

Event rules (the ``events`` config section):

* durations (``min_frames``, ``quiet_frames``, ``pad_before``, ``pad_after``) are frames,
  seconds or timecodes (:mod:`bgsub.units`), turned into frames at the input's frame rate;
* a frame is *motion* when its foreground covers more than ``threshold`` percent of the ROI;
* an event starts at the first of ``min_frames`` consecutive motion frames;
* it ends at its last motion frame once ``quiet_frames`` frames without motion have followed;
* ``pad_before`` / ``pad_after`` frames extend it on either side, never into the previous event
  and never past the frames that were actually read;
* an event still open when the input ends (or on Ctrl-C) ends at the last frame read.

Modules: ``detector`` (the state machine), ``output`` (the pipeline output and the overlay
burn-in); their public names are re-exported here.
"""

from __future__ import annotations

from bgsub.events.detector import Event, EventDetector, timecode, union_box
from bgsub.events.output import (
    CLIP_COLUMNS,
    CSV_COLUMNS,
    DURATION_KEYS,
    EVENT_FORMATS,
    EventsOutput,
    burnt_in_overlay,
    draw_snapshot,
    events_output_from,
    input_name,
)

__all__ = ["CLIP_COLUMNS", "CSV_COLUMNS", "DURATION_KEYS", "EVENT_FORMATS", "Event",
           "EventDetector", "EventsOutput", "burnt_in_overlay", "draw_snapshot",
           "events_output_from", "input_name", "timecode", "union_box"]
