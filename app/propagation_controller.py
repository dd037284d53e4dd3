"""Propagation controller: the Propagate, Stop and Cancel actions, wired to the trainer process
(``PropagationRunner``) and its status-bar panel (``RunPanel``); when a run ends the session
reloads it and the video list is asked to refresh. It also owns the instant re-solve after each
edit (``ResolveController``); a Propagate pressed while a re-solve runs starts when that ends
(a fraction of a second), so that the re-solve's revision never lands on top of the new run."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QWidget

from app.propagation import DEFAULT_METHOD, PropagationRunner
from app.resolve_controller import ResolveController
from app.run_panel import RunPanel
from app.state import LabelSession
from core.methods import USER_METHODS

logger = logging.getLogger(__name__)

METHOD_SETTING = "propagate/method"


class PropagationController(QObject):
    """Starts one propagation of the current video at a time and reacts to its end.

    ``method`` is the propagation method (Run › Propagation method, kept in QSettings
    ``propagate/method``; the default when none or an unknown one is stored).
    """

    message = Signal(str)  # "" clears the status bar
    error = Signal(str, str)  # title, message
    run_text = Signal(str)  # what the status bar's run label says while a run starts
    busy_changed = Signal()  # a run started or ended: actions enable or disable
    videos_changed = Signal()  # a run ended: the video list's counts changed

    def __init__(self, session: LabelSession, settings: QSettings, window: QWidget) -> None:
        super().__init__(window)
        self.session, self._settings = session, settings
        stored = str(settings.value(METHOD_SETTING, DEFAULT_METHOD))
        self.method = stored if stored in USER_METHODS else DEFAULT_METHOD
        self.runner = PropagationRunner(self)
        self.panel = RunPanel(self.runner, window)  # first, so it hides before the reload
        self.runner.run_finished.connect(self._finished)
        self.runner.started.connect(self.busy_changed)
        self.resolver = ResolveController(session, self.runner, self)
        self.resolver.message.connect(self.message)
        self.resolver.drained.connect(self._resolver_idle)

    @property
    def running(self) -> bool:
        return self.runner.running

    def set_method(self, method: str) -> None:
        """Propagate with ``method`` (one of ``core.methods.USER_METHODS``) from now on."""
        if method not in USER_METHODS:
            raise ValueError(f"unknown propagation method {method!r}")
        self.method = method
        self._settings.setValue(METHOD_SETTING, method)
        self.message.emit(f"Propagate will use {method}")

    def propagate(self) -> None:
        video, path = self.session.video, self.session.project_path
        if video is None or path is None:
            self.message.emit("Open a project and select a video first.")
            return
        if self.runner.running:
            self.message.emit("A propagation is already running.")
            return
        if not self.session.keyframes:
            self.message.emit("Label at least one keyframe before propagating.")
            return
        if self.resolver.busy:
            self.resolver.hold = True
            self.message.emit("Propagating as soon as the re-solve of the last edit ends…")
            return
        self.message.emit("")
        self.runner.start(path, video.id, self.method)
        self.run_text.emit(f"propagating video {video.id} ({self.method})…")

    def _resolver_idle(self) -> None:
        if self.resolver.hold:
            self.resolver.hold = False
            self.propagate()
            if not self.runner.running:  # it did not start after all: re-solve what waited
                self.resolver.start_pending()

    def stop(self) -> None:
        """Graceful: the trainer stops at a clean point and keeps its results so far."""
        self.runner.stop()

    def cancel(self) -> None:
        """Immediate: the trainer is killed."""
        self.runner.cancel()

    def _finished(self, outcome: str, message: str) -> None:
        self.busy_changed.emit()
        if self.session.project is not None:
            self.session.project.runs.mark_abandoned()
            self.session.reload_run()
            # a separate event-loop turn, so one stall never holds every refresh and repaint
            QTimer.singleShot(0, self, self.videos_changed.emit)
        if outcome == "failed":
            self.error.emit("Propagation failed", message)
        else:
            self.message.emit(f"Propagation {outcome}" + (f": {message}" if message
                                                          and outcome != "done" else ""))

    def shutdown(self) -> None:
        """Kill a running trainer and wait for it and for a running re-solve."""
        self.runner.shutdown()
        self.resolver.shutdown()
