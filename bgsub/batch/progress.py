"""What a batch shows while it runs: an overall bar, a bar per running recording, a line per
finished one."""

from __future__ import annotations

import itertools
import os
import sys
import time

from tqdm import tqdm

from bgsub.progress import frame_bar


class BatchProgress:
    """Progress on stderr: one line per finished recording and, when stderr is a terminal, tqdm
    bars: the recordings done (with the frames and fps of the whole batch), and a line per
    running recording (its frames, fps and ETA). ``names`` maps recording indices to their
    inputs, which name the running recordings' bars."""

    def __init__(self, total, stream=None, bar=None, lines=True, names=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.lines = lines
        self.names = names or {}
        self.finished_count = 0
        self.failed = 0
        self.frames = 0
        self.frame_totals = {}
        self._start = time.perf_counter()
        self._overall = tqdm(total=total, file=self.stream, disable=not self.bar, position=0,
                             dynamic_ncols=True, mininterval=0.2,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} recordings{postfix} "
                                        "[{elapsed}]")
        self._jobs = {}  # index -> the bar of a running recording

    def message(self, message):
        kind, index, value = message
        if kind == "open":
            self.frame_totals[index] = value
            self._job_bar(index, value)
        elif kind == "frames":
            self.frames += value
            if index in self._jobs:
                self._jobs[index].update(value)
        self.draw()

    def _job_bar(self, index, total):
        if not self.bar:
            return
        if index in self._jobs:  # a retry after a worker died: the recording starts again
            self._jobs.pop(index).close()
        taken = {bar.pos for bar in self._jobs.values()}
        position = next(p for p in itertools.count(1) if p not in taken and -p not in taken)
        self._jobs[index] = frame_bar(total, self.stream, True, interval=0.2,
                                               position=position, leave=False,
                                               desc=f"{shown_path(self.names.get(index, f'#{index}'))}: ")

    def note(self, text):
        self._print(text)

    def finished(self, rec, result):
        self.finished_count += 1
        self.failed += result["status"] == "failed"
        if rec.index in self._jobs:
            self._jobs.pop(rec.index).close()
        if self.lines:
            self._print(self._line(rec, result))
        self._overall.update(1)
        self.draw(force=True)

    def _line(self, rec, result):
        head = f"{result['status']:<8} {self.finished_count}/{self.total}  {shown_path(rec.input)}"
        if result["status"] == "done":
            return (f"{head} -> {shown_path(rec.output)}: {result['frames']} frames, "
                    f"{result['fps']:.1f} fps, foreground {result['foreground_pct']:.2f}%, "
                    f"{result['wall_s']:.1f} s")
        if result["status"] == "skipped":
            return f"{head}: up to date in {shown_path(rec.output)}"
        return f"{head}: {result['error']}" if result["error"] else head

    def _print(self, text):
        if self.bar:
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def draw(self, force=False):
        """Refresh the overall bar's figures (tqdm limits how often it redraws)."""
        if not self.bar:
            return
        elapsed = time.perf_counter() - self._start
        known = sum(v for v in self.frame_totals.values() if v)
        frames = f"{self.frames}/{known}" if known else str(self.frames)
        failed = f"{self.failed} failed | " if self.failed else ""
        fps = self.frames / elapsed if elapsed > 0 else 0.0
        self._overall.set_postfix_str(f"{failed}{frames} frames | {fps:.0f} fps", refresh=force)

    def close(self):
        for bar in self._jobs.values():
            bar.close()
        self._jobs.clear()
        self._overall.close()


def shown_path(path):
    """``path`` relative to the current folder when it is below it, else as is."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


class Results:
    """Collects results by recording and forwards every event to the progress display."""

    def __init__(self, progress):
        self.progress = progress
        self.by_index = {}

    def message(self, message):
        self.progress.message(message)

    def note(self, text):
        self.progress.note(text)

    def finished(self, rec, result):
        self.by_index[rec.index] = result
        self.progress.finished(rec, result)
