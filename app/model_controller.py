"""The project model in the GUI (issue 13 §2): Run › Train project model, and Edit › Predict
keyframe, which places the current frame's 68 points with it, in the face box of the nearest
keyframe, as one undoable command (every point predicted, for the person to correct).

Both run ``main.py train-model`` / ``predict-keyframe --print-only`` in a trainer process
(:class:`app.propagation.PropagationRunner`): torch never loads in the GUI, and the window stays
responsive while the model trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from app.commands import DetectCommand
from app.propagation import PropagationRunner
from app.state import LabelSession
from core.frame_numbers import frame_label
from core.shape_model import BOX_PREDICTION_UNCERTAINTY


class ProjectModelController(QObject):
    """One project-model command at a time; results and failures go to the status bar."""

    message = Signal(str)

    def __init__(self, session: LabelSession, undo_stack: QUndoStack,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = undo_stack
        self.runner = PropagationRunner(self)
        self.runner.progressed.connect(self._progressed)
        self.runner.run_finished.connect(self._finished)
        self._pending: tuple[str, Path | None, int, int] | None = None
        self._last_percent = -1

    @property
    def running(self) -> bool:
        return self.runner.running

    def _ready(self) -> Path | None:
        path = self.session.project_path
        if path is None:
            self.message.emit("Open or create a project first.")
            return None
        if self.runner.running:
            self.message.emit("The project model is busy; wait for it to finish.")
            return None
        return Path(path)

    def train(self) -> None:
        """Train the project model on every keyframe of the project (in the background)."""
        path = self._ready()
        if path is None:
            return
        self._pending, self._last_percent = ("train", path, -1, -1), -1
        self.runner.start_command(path, ["train-model", "--project", str(path)],
                                  "project model training")
        self.message.emit("Training the project model on every video's keyframes…")

    def predict(self) -> None:
        """Predict the current frame's points with the project model."""
        path = self._ready()
        video = self.session.video
        if path is None:
            return
        if video is None:
            self.message.emit("Select a video first.")
            return
        frame = self.session.frame
        self._pending = ("predict", path, video.id, frame)
        self.runner.start_command(path, ["predict-keyframe", str(frame + 1), "--video",
                                         str(video.id), "--project", str(path), "--print-only"],
                                  "keyframe prediction")
        self.message.emit(f"Predicting {frame_label(frame)} with the project model…")

    def _progressed(self, phase: str, step: int, total: int, _eta: object) -> None:
        percent = 100 * step // max(total, 1)
        if percent // 10 != self._last_percent // 10:
            self._last_percent = percent
            self.message.emit(f"Training the project model: {phase} {percent} %")

    def _finished(self, outcome: str, message: str) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        kind, path, video_id, frame = pending
        if outcome != "done":
            self.message.emit(message or f"the project model: {outcome}")
            return
        result = self.runner.result if isinstance(self.runner.result, dict) else {}
        if kind == "train":
            self.message.emit(f"Project model trained on {result.get('keyframes', '?')} "
                              f"keyframes of {result.get('videos', '?')} video(s); new videos "
                              "start from it, and Shift+D predicts a keyframe with it")
            return
        if self.session.project_path is None or Path(self.session.project_path) != path:
            return  # the project was closed or switched meanwhile
        points = np.asarray(result.get("points", []), dtype=np.float32)
        if points.shape != (68, 2):
            self.message.emit("the project model returned no usable points")
            return
        command = DetectCommand(self.session, video_id, frame, points, "Predict keyframe",
                                BOX_PREDICTION_UNCERTAINTY)
        self.undo_stack.push(command)
        if command.refused is None:
            self.message.emit(f"Predicted {frame_label(frame)} with the project model (trained "
                              f"on {result.get('trained_on', '?')} keyframes): correct it, "
                              "then accept")

    def shutdown(self) -> None:
        self.runner.shutdown()
