"""The "Detect" action: pre-label the current frame with dlib's iBUG-68 predictor (optional).

dlib is an optional extra: ``core.propagation`` is imported only when asked, and it imports dlib
itself lazily. The detection runs in a ``JobWorker`` (loading the model and the HOG
detector take far longer than 50 ms); its result becomes one undoable ``DetectCommand`` (refused,
with the store's message, on a frame marked "no face").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from app.commands import DetectCommand
from app.state import LabelSession
from app.workers import Job, JobWorker, Progress, ShouldStop
from core.frame_numbers import frame_label
from core.store import Project

logger = logging.getLogger(__name__)

RunJob = Callable[..., JobWorker | None]  # ProjectController.run_job(title, job, refresh=...)


def dlib_status() -> tuple[bool, str]:
    """(usable, why not) for dlib and its 68-point model, asked of ``core.propagation``."""
    from core import propagation

    return propagation.dlib_available()


@dataclass(frozen=True)
class Detection:
    video_id: int
    frame: int
    points: np.ndarray  # (68, 2) float32
    confidence: float  # dlib's detection score mapped to [0, 1]


def detect_job(video_id: int, frame: int) -> Job:
    """A job that decodes one frame with its own reader and runs dlib on it."""
    def job(project: Project, progress: Progress, should_stop: ShouldStop) -> Detection:
        from core import propagation

        reader = project.videos.open_reader(video_id, cache_frames=1)
        try:
            image = reader.frame(frame)
        finally:
            reader.close()
        result = propagation.dlib_detect(lambda _i: image, 1, progress=progress,
                                       should_stop=should_stop)
        return Detection(video_id, frame, np.asarray(result.points[0], dtype=np.float32),
                         float(result.confidence[0].mean()))
    return job


class DetectController(QObject):
    """Runs one detection at a time and pushes its result as an undo command."""

    message = Signal(str)
    detected = Signal(object)  # Detection, after its command was pushed

    def __init__(self, session: LabelSession, undo_stack: QUndoStack, run_job: RunJob,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = undo_stack
        self._run_job = run_job
        self.available, self.reason = dlib_status()
        self.worker: JobWorker | None = None
        self._project_path: Path | None = None

    def detect(self) -> None:
        video = self.session.video
        if not self.available:
            self.message.emit(self.reason)
            return
        if video is None:
            self.message.emit("Open a project and select a video first.")
            return
        if self.worker is not None:
            self.message.emit("A detection is already running.")
            return
        frame = self.session.frame
        worker = self._run_job(f"Detecting the face in {frame_label(frame)} (dlib)…",
                               detect_job(video.id, frame), refresh=False)
        if worker is None:
            return
        self.worker, self._project_path = worker, self.session.project_path
        worker.succeeded.connect(self._succeeded)
        worker.finished.connect(self._finished)

    def _finished(self) -> None:
        self.worker = None

    def _succeeded(self, detection: Detection) -> None:
        if self.session.project is None or self.session.project_path != self._project_path:
            return  # the project was closed or switched meanwhile
        command = DetectCommand(self.session, detection.video_id, detection.frame,
                                detection.points)
        self.undo_stack.push(command)
        if command.refused is not None:  # e.g. the frame is marked "no face": the store said so
            return
        self.message.emit(f"Detected a face in {frame_label(detection.frame)} "
                          f"(confidence {detection.confidence:.2f}): correct it, it is a keyframe")
        self.detected.emit(detection)
