"""Dropping video files on the window: an event filter that accepts drags carrying local video
files (mime urls) and announces the dropped paths; the project controller adds them (or offers
to create a project first when none is open)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QWidget

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg",
                            ".wmv"})


def dropped_videos(mime: QMimeData | None) -> list[Path]:
    """The local video files among ``mime``'s urls, in the order they were dragged."""
    if mime is None or not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]


class VideoDropFilter(QObject):
    """Watches widgets (``watch``) for drags of video files; emits ``videos_dropped(paths)``.

    A drag without any video file is left alone (the cursor shows it cannot be dropped).
    """

    videos_dropped = Signal(list)  # list[Path]

    def watch(self, widget: QWidget) -> None:
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(
                event, (QDragEnterEvent, QDragMoveEvent)):
            if dropped_videos(event.mimeData()):
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
            paths = dropped_videos(event.mimeData())
            if not paths:
                event.ignore()
                return True
            event.acceptProposedAction()
            logger.info("dropped %d video(s)", len(paths))
            self.videos_dropped.emit(paths)
            return True
        return super().eventFilter(watched, event)
