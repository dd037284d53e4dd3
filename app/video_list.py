"""The Videos dock: one row per video with frames, keyframes and pseudo-labelled counts."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from core.store import Project

COLUMNS = ("Video", "Frames", "Keys", "Pseudo")


class VideoListWidget(QTableWidget):
    """Lists the project's videos; selecting a row emits ``video_selected``."""

    video_selected = Signal(int)

    def __init__(self, parent: object = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
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

    def refresh(self, project: Project | None, current_id: int | None,
                pseudo_counts: dict[int, int] | None = None) -> None:
        """Re-read the list (a few short queries; the counts come from aggregate calls)."""
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
                values = (video.name, video.frame_count, keys.get(video.id, 0), pseudo)
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
