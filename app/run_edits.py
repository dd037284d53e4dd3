"""Edits made while a propagation runs: the running trainer read its keyframes when it started,
so it will not see them. The first such edit says so once (a status-bar message), and when the
run ends a status-bar prompt offers to propagate that video again (non-modal: it never blocks,
and Dismiss or a new run hides it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.propagation import PropagationRunner
from app.state import LabelSession

logger = logging.getLogger(__name__)

EDIT_DURING_RUN = ("The running propagation will not see this edit (it trains on the keyframes "
                   "it started with); you can propagate again when it ends.")


class RerunPrompt(QWidget):
    """Status-bar prompt: "N edits made during the run" · Propagate again · Dismiss."""

    propagate_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.propagate_button = QPushButton("Propagate again")
        self.propagate_button.setToolTip("Propagate the edited video again, with your edits")
        self.dismiss_button = QPushButton("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        for widget in (self.label, self.propagate_button, self.dismiss_button):
            layout.addWidget(widget)
        self.propagate_button.clicked.connect(self._propagate)
        self.dismiss_button.clicked.connect(lambda: self.setVisible(False))
        self.setVisible(False)

    def offer(self, edits: int) -> None:
        self.label.setText(f"{edits} edit{'s' if edits != 1 else ''} made during the run")
        self.setVisible(True)

    def _propagate(self) -> None:
        self.setVisible(False)
        self.propagate_requested.emit()


class EditsDuringRunWatcher(QObject):
    """Counts edits to the video a propagation runs on; tells once, then offers a new run.

    ``video_id`` is the video of the latest run that saw edits (the one to propagate again);
    ``propagate`` starts a propagation of the session's current video.
    """

    message = Signal(str)

    def __init__(self, session: LabelSession, runner: PropagationRunner, prompt: RerunPrompt,
                 propagate: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.prompt = prompt
        self._propagate = propagate
        prompt.propagate_requested.connect(self.propagate_again)
        self.video_id: int | None = None
        self.edits = 0
        runner.started.connect(self._started)
        runner.run_finished.connect(self._finished)
        session.annotation_changed.connect(self._edited)
        session.project_changed.connect(lambda: prompt.setVisible(False))

    def _started(self) -> None:
        self.prompt.setVisible(False)
        video = self.session.video
        self.video_id = None if video is None else video.id
        self.edits = 0

    def _edited(self, video_id: int, _frame: int) -> None:
        if not self.runner.running or video_id != self.video_id:
            return
        self.edits += 1
        if self.edits == 1:
            self.message.emit(EDIT_DURING_RUN)

    def propagate_again(self) -> None:
        """Propagate the video that was edited during the run (shown first if it is not)."""
        video = self.session.video
        if self.video_id is not None and (video is None or video.id != self.video_id):
            self.session.set_video(self.video_id)
        self._propagate()

    def _finished(self, outcome: str, _message: str) -> None:
        if self.edits and outcome != "failed" and self.session.project is not None:
            logger.info("%d edits during the run of video %s", self.edits, self.video_id)
            self.prompt.offer(self.edits)
