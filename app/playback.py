"""Frame navigation and display: asks the loader thread for the current frame (latest request
wins, cached frames are shown at once), plays at the video's fps, steps between keyframes."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from app.frame_view import FrameView
from app.state import LabelSession
from app.workers import FrameLoaderWorker, bgr_to_qimage
from core.errors import FacePropError

logger = logging.getLogger(__name__)


class FrameController(QObject):
    """Owns the video reader of the current video and the loader thread that decodes from it."""

    frame_shown = Signal(int)
    playing_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, session: LabelSession, view: FrameView,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = view
        self.reader = None
        self._token = 0
        self.last_paint_ms = 0.0
        self._requested_at = 0.0
        self.loader = FrameLoaderWorker()
        self.loader.frame_loaded.connect(self._frame_loaded)
        self.loader.failed.connect(self._load_failed)
        self.loader.start()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        session.video_changed.connect(self._video_changed)
        session.frame_changed.connect(self.request_frame)

    # -- reader -------------------------------------------------------------------------------
    def _video_changed(self) -> None:
        self.pause()
        old = self.loader.set_reader(None)
        if old is not None:
            old.close()
        self.reader = None
        video, project = self.session.video, self.session.project
        if video is None or project is None:
            self.view.set_image(None, None)
            return
        try:
            self.reader = project.videos.open_reader(video.id)
        except FacePropError as exc:
            self.view.set_image(None, None)
            self.message.emit(str(exc))
            return
        self.loader.set_reader(self.reader)

    def request_frame(self, frame: int) -> None:
        """Show ``frame``: at once when cached, else when the loader thread has decoded it."""
        if self.reader is None:
            return
        self._token += 1
        self._requested_at = time.perf_counter()
        if self.reader.is_cached(frame):
            try:
                self._show(bgr_to_qimage(self.reader.frame(frame)), frame)
            except FacePropError as exc:
                self.message.emit(str(exc))
            self.reader.prefetch(frame, before=8, after=24)
            return
        self.loader.request(self._token, frame)

    def _frame_loaded(self, token: int, frame: int, image: QImage) -> None:
        if token == self._token:  # drop results that were overtaken by newer requests
            self._show(image, frame)

    def _load_failed(self, token: int, message: str) -> None:
        if token == self._token:
            self.message.emit(message)

    def _show(self, image: QImage, frame: int) -> None:
        self.view.set_image(image, frame)
        self.last_paint_ms = (time.perf_counter() - self._requested_at) * 1000
        self.frame_shown.emit(frame)

    # -- navigation ---------------------------------------------------------------------------
    def step(self, delta: int) -> None:
        self.session.seek(self.session.frame + delta)

    def keyframe(self, direction: int) -> None:
        target = self.session.neighbour_keyframe(self.session.frame, direction)
        if target is None:
            self.message.emit("No keyframe " + ("after" if direction > 0 else "before")
                              + " this frame.")
            return
        self.session.seek(target)

    # -- playback -----------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        elif self.session.video is not None:
            if self.session.frame >= self.session.frame_count - 1:
                self.session.seek(0)
            self.timer.start(max(1, round(1000 / self.session.fps)))
            self.playing_changed.emit(True)

    def pause(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.playing_changed.emit(False)

    def _tick(self) -> None:
        if self.session.frame >= self.session.frame_count - 1:
            self.pause()
            return
        self.step(1)

    def shutdown(self) -> None:
        """Stop playback and the loader thread, close the reader."""
        self.pause()
        self.loader.stop()
        old = self.loader.set_reader(None)
        if old is not None:
            old.close()
        self.reader = None
