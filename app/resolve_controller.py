"""Instant local re-solve after an edit (issue 11 §3), off the GUI thread.

Every change to a frame's constraints (its points or review states: a move, an accept, a
template, a deletion, and the undo or redo of any of them) of a video with a finished run starts
``core.propagation.edits.resolve_edit`` in a ``JobWorker`` with its own ``Project``: the frames
between the edited frame's neighbouring constraints are recomputed without training and stored
as a derived ``resolve`` revision of the latest run. One re-solve runs at a time; edits made
meanwhile accumulate and one more re-solve runs after it with all their frames. When one
finishes the session shows the latest run (now that revision; the worker read its arrays too,
so the GUI thread only swaps them in), so the view, timeline, plots and suggestions update, and
the status bar says which frames were re-solved and how long it took. A visibility toggle
changes no constraint and re-solves nothing. Nothing is re-solved while a propagation runs (it
replaces the run anyway; ``app.run_edits`` tells the person) or for a video without a finished
run; a failure is one status-bar message, never a traceback. Propagate (with training) stays
the way to relearn.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.propagation import PropagationRunner
from app.state import LabelSession
from app.workers import Job, JobWorker, Progress, ShouldStop
from core.errors import FacePropError
from core.frame_numbers import frame_number
from core.propagation.edits import resolve_edit
from core.store import FrameStats, Project, PseudoLabels, RunRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolveOutcome:
    """One re-solve: the video, the edited frames it answered, the derived revision it stored
    (None: nothing to revise, e.g. a partial run, or it failed) with its pseudo-labels and
    statistics, its seconds in the worker, and what went wrong (``error`` for the status bar,
    ``details`` the traceback)."""

    video_id: int
    frames: tuple[int, ...]
    run: RunRecord | None
    seconds: float
    pseudo: PseudoLabels | None = None
    stats: FrameStats | None = None
    error: str = ""
    details: str = ""

    @property
    def spans(self) -> list[tuple[int, int]]:
        """The recomputed frames as merged inclusive (first, last) spans, 0-based."""
        gaps = [] if self.run is None else self.run.config.get("gaps", [])
        spans: list[tuple[int, int]] = []
        for lo, hi in sorted((int(a), int(b)) for a, b in gaps):
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
            else:
                spans.append((lo, hi))
        return spans


def resolve_job(video_id: int, frames: list[int]) -> Job:
    """The worker's job: re-solve around ``frames`` of ``video_id`` and time it. A failure is
    returned, not raised: the GUI thread reports it (logging from a Qt thread would leave a
    dummy ``threading`` entry behind)."""
    def job(project: Project, _progress: Progress, _should_stop: ShouldStop) -> ResolveOutcome:
        started = time.perf_counter()
        try:
            run = resolve_edit(project, video_id, frames)
            seconds = time.perf_counter() - started
            if run is None:
                return ResolveOutcome(video_id, tuple(frames), None, seconds)
            return ResolveOutcome(video_id, tuple(frames), run, seconds,
                                  project.runs.pseudo_labels(run.id),
                                  project.runs.frame_stats(run.id))
        except Exception as exc:  # every failure becomes a status-bar line
            error = str(exc) if isinstance(exc, FacePropError) else f"{type(exc).__name__}: {exc}"
            return ResolveOutcome(video_id, tuple(frames), None, time.perf_counter() - started,
                                  error=error, details=traceback.format_exc())
    return job


def describe(outcome: ResolveOutcome, seconds: float) -> str:
    """``"Re-solved frames 11–19 (0.12 s)"`` (frame numbers as a person reads them)."""
    spans = ", ".join(f"{frame_number(lo)}–{frame_number(hi)}" for lo, hi in outcome.spans)
    return f"Re-solved frames {spans} ({seconds:.2f} s)"


class ResolveController(QObject):
    """Starts a re-solve after each constraint edit, one at a time, coalescing the rest.

    ``resolved(ResolveOutcome)`` after each re-solve that succeeded (once the session shows
    it), ``drained`` when no re-solve runs any more, ``message`` for the status bar.
    """

    message = Signal(str)
    resolved = Signal(object)
    drained = Signal()

    def __init__(self, session: LabelSession, runner: PropagationRunner,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.worker: JobWorker | None = None
        self._job: tuple[Path, float] | None = None  # the running one's project, start time
        self._pending: dict[int, set[int]] = {}  # video id -> edited frames not yet re-solved
        self._constraints: dict[int, bytes] = {}  # frame -> points and states, current video
        self.hold = False  # a propagation waits for the running re-solve: start no other
        session.video_changed.connect(self._video_changed)
        session.annotation_changed.connect(self._edited)
        session.project_changed.connect(self._pending.clear)
        runner.started.connect(self._pending.clear)  # the run will see those edits

    @property
    def busy(self) -> bool:
        return self.worker is not None

    @property
    def pending(self) -> dict[int, list[int]]:
        """Edited frames waiting for the next re-solve, by video."""
        return {video: sorted(frames) for video, frames in self._pending.items()}

    def _signature(self, frame: int) -> bytes | None:
        points = self.session.keyframe_points.get(frame)
        states = self.session.keyframe_states.get(frame)
        if points is None or states is None:
            return None
        return (np.asarray(points, dtype=np.float32).tobytes()
                + np.asarray(states, dtype=np.uint8).tobytes())

    def _video_changed(self) -> None:
        self._constraints = {}
        for frame in self.session.keyframe_points:
            signature = self._signature(frame)
            if signature is not None:
                self._constraints[frame] = signature

    def _edited(self, video_id: int, frame: int) -> None:
        s = self.session
        if s.video is None or s.video.id != video_id:
            return  # an edit lands on the shown video (an undo shows its video first)
        signature = self._signature(frame)
        if signature == self._constraints.get(frame):
            return  # visibility only: no constraint changed
        if signature is None:
            self._constraints.pop(frame, None)
        else:
            self._constraints[frame] = signature
        if self.runner.running or s.run is None:
            return
        self._pending.setdefault(video_id, set()).add(frame)
        self.start_pending()

    def start_pending(self) -> None:
        """Re-solve the edited frames that wait, unless one runs or a propagation holds it."""
        path = self.session.project_path
        if self.worker is not None or not self._pending or self.hold:
            return
        if path is None or self.runner.running:
            self._pending.clear()
            return
        video_id = next(iter(self._pending))
        frames = sorted(self._pending.pop(video_id))
        worker = JobWorker(path, resolve_job(video_id, frames), self)
        worker.succeeded.connect(self._succeeded)
        worker.failed.connect(self._failed)
        worker.finished.connect(self._worker_finished)
        self.worker, self._job = worker, (path, time.perf_counter())
        logger.debug("re-solving video %d around frames %s", video_id, frames)
        worker.start()

    def _succeeded(self, outcome: ResolveOutcome) -> None:
        s = self.session
        if self._job is None or s.project_path != self._job[0]:
            return  # the project was closed or switched meanwhile
        seconds = time.perf_counter() - self._job[1]
        if outcome.error:
            self._report_failure(outcome)
            return
        if outcome.run is not None and outcome.pseudo is not None:
            if s.video is not None and s.video.id == outcome.video_id:
                s.show_run(outcome.run, outcome.pseudo, outcome.stats)
            self.message.emit(describe(outcome, seconds))
        self.resolved.emit(outcome)

    def _report_failure(self, outcome: ResolveOutcome) -> None:
        """An edit made while the re-solve read the labels can make it fail: then the edits
        that wait are re-solved with its frames, and only a failure of that one is shown."""
        if outcome.video_id in self._pending:
            logger.info("re-solve of frames %s failed (%s); retried with the edits that "
                        "followed", outcome.frames, outcome.error)
            self._pending[outcome.video_id].update(outcome.frames)
            return
        logger.warning("re-solve of frames %s failed: %s", outcome.frames, outcome.details)
        self._failed(outcome.error, False)

    def _failed(self, message: str, _cancelled: bool) -> None:
        first = message.splitlines()[0] if message else "unknown error"
        self.message.emit(f"Re-solving after the edit failed: {first}")

    def _worker_finished(self) -> None:
        worker, self.worker, self._job = self.worker, None, None
        if worker is not None:
            worker.deleteLater()
        self.start_pending()
        if self.worker is None:
            self.drained.emit()

    def shutdown(self) -> None:
        """Forget pending edits and wait for a running re-solve (it takes a fraction of a
        second)."""
        self._pending.clear()
        if self.worker is not None:
            self.worker.wait()
