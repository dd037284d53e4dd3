"""The Videos dock: one row per video with frames, keyframes, pseudo-labelled and reviewed counts.

"Reviewed" counts the frames whose annotation source is in ``REVIEWED_SOURCES`` ("corrected" or
"accepted"): the annotator fixed a machine label there (an edited pseudo-label, detector or
imported label) or accepted a pseudo-label as it was. That is what the label service records
when such a frame is edited (see ``app.commands.edited_source``); frames labelled from scratch
stay "manual" and are keyframes, not reviews.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from app.state import REVIEWED_SOURCES
from core.store import Project

COLUMNS = ("Video", "Frames", "Keys", "Pseudo", "Reviewed")


class VideoListWidget(QTableWidget):
    """Lists the project's videos; selecting a row emits ``video_selected``."""

    video_selected = Signal(int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.horizontalHeaderItem(COLUMNS.index("Reviewed")).setToolTip(
            "Frames where you corrected or accepted a machine label (pseudo-label, detector)")
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.itemSelectionChanged.connect(self._selection_changed)
        self._filling = False
        self._reviewed: dict[int, int] = {}  # video id -> reviewed frames, for other videos
        self._reviewed_project: Project | None = None

    def invalidate_counts(self) -> None:
        """Forget cached reviewed counts (after a job may have changed other videos' labels)."""
        self._reviewed.clear()

    def _reviewed_count(self, project: Project, video_id: int) -> int:
        if project is not self._reviewed_project:
            self._reviewed, self._reviewed_project = {}, project
        if video_id not in self._reviewed:
            sources = project.labels.arrays(video_id)[3]
            self._reviewed[video_id] = sum(s in REVIEWED_SOURCES for s in sources)
        return self._reviewed[video_id]

    def refresh(self, project: Project | None, current_id: int | None,
                pseudo_counts: dict[int, int] | None = None,
                reviewed_counts: dict[int, int] | None = None) -> None:
        """Re-read the list (a few short queries; the counts come from aggregate calls).

        ``pseudo_counts`` / ``reviewed_counts`` give live counts (the current video's, from the
        session); other videos' reviewed counts are read once and cached.
        """
        self._filling = True
        self.setRowCount(0)
        if project is not None:
            videos = project.videos.all()
            keys = project.labels.count()
            self.setRowCount(len(videos))
            for row, video in enumerate(videos):
                run = project.runs.latest(video.id)
                pseudo = (pseudo_counts or {}).get(video.id)
                if pseudo is None:
                    pseudo = video.frame_count if run is not None and run.status == "done" else 0
                reviewed = (reviewed_counts or {}).get(video.id)
                if reviewed is None:
                    reviewed = self._reviewed_count(project, video.id)
                values = (video.name, video.frame_count, keys.get(video.id, 0), pseudo, reviewed)
                for col, value in enumerate(values):
                    item = QTableWidgetItem(str(value))
                    item.setData(Qt.ItemDataRole.UserRole, video.id)
                    if col:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                              | Qt.AlignmentFlag.AlignVCenter)
                    item.setToolTip(video.path)
                    self.setItem(row, col, item)
                if video.id == current_id:
                    self.selectRow(row)
        self._filling = False

    def _selection_changed(self) -> None:
        if self._filling:
            return
        items = self.selectedItems()
        if items:
            self.video_selected.emit(int(items[0].data(Qt.ItemDataRole.UserRole)))
