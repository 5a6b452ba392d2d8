"""Progress of long jobs on stderr, for the command line (standard library only).

On a terminal one line is rewritten in place (at most every
``min_interval_s``); anywhere else (a log file, CI, a pipe) a new line is
printed each time the job passes another ``every_pct`` percent, with the
elapsed time, the rate and an estimate of the time left, so that a job run
under ``nohup`` still shows how far it is. A job of unknown length prints a
line every ``heartbeat_s`` seconds instead.

The global flags set the level once for the whole process (:func:`configure`):
``--quiet`` prints nothing, ``--verbose`` prints every percent.

    with Progress("sweep", total=len(cells), unit="cell") as bar:
        for cell in cells:
            ...
            bar.update(1, note=cell.name)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

QUIET, NORMAL, VERBOSE = 0, 1, 2
_level = NORMAL


def configure(quiet: bool = False, verbose: int = 0) -> None:
    """Set the process-wide level from the global ``--quiet``/``--verbose`` flags."""
    global _level
    _level = QUIET if quiet else (VERBOSE if verbose > 0 else NORMAL)


def level() -> int:
    return _level


def format_duration(seconds: float) -> str:
    """``1:02:03`` or ``02:03``; ``?`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """A progress report for one job; see the module docstring."""

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        *,
        unit: str = "step",
        every_pct: float | None = None,
        heartbeat_s: float = 60.0,
        min_interval_s: float = 0.1,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool | None = None,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.every_pct = every_pct if every_pct is not None else (1.0 if _level >= VERBOSE else 5.0)
        self.heartbeat_s, self.min_interval_s = heartbeat_s, min_interval_s
        self.enabled = (_level > QUIET) if enabled is None else enabled
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.note = ""
        self._last_step = -1  # the last every_pct multiple reported
        self._last_print = -math.inf
        self._dirty = False

    def set_total(self, total: int | None) -> None:
        self.total = total

    def update(self, n: int = 1, note: str = "") -> None:
        """Count ``n`` more units done (``note``: what was just done, shown on the line)."""
        self.done += n
        if note:
            self.note = note
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if now - self._last_print >= self.min_interval_s or self._finished():
                self._write("\r" + self.line(now) + "\x1b[K", now)
                self._dirty = True
            return
        if self.total:
            step = int(100.0 * min(self.done, self.total) / self.total // self.every_pct)
            if step > self._last_step:
                self._last_step = step
                self._write(self.line(now) + "\n", now)
        elif now - self._last_print >= self.heartbeat_s:
            self._write(self.line(now) + "\n", now)

    def line(self, now: float | None = None) -> str:
        """The report as of ``now``: percent, count, elapsed, rate, time left."""
        now = self.clock() if now is None else now
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else math.nan
        parts = [f"{self.desc}:"]
        if self.total:
            parts.append(
                f"{100.0 * self.done / self.total:3.0f}% {self.done}/{self.total} {self.unit}s"
            )
            left = (self.total - self.done) / rate if rate > 0 else math.nan
            parts.append(f"{format_duration(elapsed)} elapsed, ETA {format_duration(left)}")
        else:
            parts.append(f"{self.done} {self.unit}s, {format_duration(elapsed)} elapsed")
        if rate > 0:
            parts.append(
                f"({rate:.3g} {self.unit}/s)" if rate >= 1 else f"({1 / rate:.3g} s/{self.unit})"
            )
        if self.note:
            parts.append(f"- {self.note[-40:]}")
        return " ".join(parts)

    def close(self) -> None:
        """End the report: finish the terminal line, or print the last state if
        the job ended between two reported steps."""
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if self._dirty or self.done:
                self._write("\r" + self.line(now) + "\x1b[K\n", now)
        elif (self.total is None or self._last_step < 0 or not self._finished()) and (
            self.done or self.total
        ):
            self._write(self.line(now) + "\n", now)
        self.enabled = False

    def _finished(self) -> bool:
        return self.total is not None and self.done >= self.total

    def _write(self, text: str, now: float) -> None:
        self.stream.write(text)
        self.stream.flush()
        self._last_print = now

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        elif self.tty and self._dirty and self.enabled:
            self.stream.write("\n")  # leave the error message its own line
            self.enabled = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
