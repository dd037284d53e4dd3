"""Progress and results for CLI commands: a bar on a terminal, JSON lines with ``--json``.

Ctrl-C (SIGINT) and SIGTERM set a flag that long work polls through ``should_stop``, so a
command stops at a clean point instead of dying mid-write.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from core.progress import EtaEstimator, Progress
from core.protocol import Done, ErrorEvent, Event, MessageEvent, encode, progress_events


class Reporter:
    """Reports progress and results of one CLI command."""

    def __init__(self, as_json: bool, stream: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = stream or sys.stdout
        self.err = err or sys.stderr
        self.stop_requested = False
        self._last_draw = 0.0
        self._started: dict[str, float] = {}

    # -- cancellation ------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            if self.stop_requested:  # a second Ctrl-C ends at once
                raise KeyboardInterrupt
            self.stop_requested = True
            self.message(f"stopping ({signal.Signals(signum).name}); press Ctrl-C again to abort")

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

    def should_stop(self) -> bool:
        return self.stop_requested

    # -- output -------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """One event of the trainer protocol (``core.protocol``), as a JSON line with --json."""
        if self.as_json:
            self.out.write(encode(event) + "\n")
            self.out.flush()

    def message(self, text: str) -> None:
        if self.as_json:
            self.emit(MessageEvent(text))
        else:
            self.err.write(text + "\n")
            self.err.flush()

    def progress(self, task: str) -> Progress:
        """A ``progress(step, total, phase=None, losses=None)`` callback for one task; a
        trainer names its current phase and latest losses, which JSON lines carry along. The
        ETA comes from the current phase's smoothed rate (:class:`core.progress.EtaEstimator`);
        a terminal shows the finished line once, however often the last step is reported."""
        if self.as_json:
            return progress_events(task, self.emit)
        self._started.setdefault(task, time.monotonic())
        estimator = EtaEstimator()
        finished = False

        def report(step: int, total: int, phase: str | None = None,
                   losses: Mapping[str, float] | None = None) -> None:
            nonlocal finished
            eta = estimator.update(step, total, phase or task)
            now = time.monotonic()
            done = step >= total
            skip = finished if done else now - self._last_draw < 0.1  # the last line once
            finished = done
            if skip:
                return
            self._last_draw = now
            elapsed = now - self._started[task]
            if not self.err.isatty():
                if step >= total:
                    self.err.write(f"{task}: {step}/{total} done in {elapsed:.1f}s\n")
                return
            width = 30
            filled = int(width * step / total) if total else width
            bar = "#" * filled + "-" * (width - filled)
            eta_text = f" ETA {eta:.0f}s" if eta is not None and step < total else ""
            label = f"{task} {phase}" if phase else task
            self.err.write(f"\r{label:>18} [{bar}] {step}/{total}{eta_text}   ")
            if step >= total:
                self.err.write("\n")
            self.err.flush()

        return report

    def result(self, payload: Any, text: str | None = None) -> None:
        """The command's result: JSON on stdout with ``--json``, else ``text`` (or JSON)."""
        if self.as_json:
            self.emit(Done(payload))
        else:
            self.out.write((text if text is not None
                            else json.dumps(payload, indent=2, default=str)) + "\n")

    def error(self, text: str) -> None:
        if self.as_json:
            self.emit(ErrorEvent(text))
        self.err.write(f"error: {text}\n")
        self.err.flush()
