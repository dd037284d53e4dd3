"""The Videos dock: a table model over ``VideoService.summaries`` (one query per refresh) and the
view that shows it, one row per video with frames, keyframes, pseudo-labelled and reviewed counts.

"Reviewed" counts the annotated frames whose every point a person vouches for: placed (put or
moved) or accepted as predicted (``core.review_states``); such a frame is a keyframe for
training. Frames where some points are pinned and others still predicted (a pseudo-label with a
few points moved) are partly reviewed and shown beside it: "12 (+3 partly)". A detection nobody
has touched yet counts as neither.

Every cell's tooltip names the video in full with its path (a name elided in a narrow dock
stays readable), and every column can be widened by dragging its header edge.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from core.store import Project, VideoSummary

COLUMNS = ("Video", "Frames", "Keys", "Pseudo", "Reviewed")
HEADER_TIPS = {"Reviewed": "Frames whose every point is placed or accepted (a keyframe for "
                           "training); (+N partly): frames with some points still predicted"}
MAX_NAME_WIDTH = 220  # px: a longer name is elided (its tooltip shows it in full)
MIN_NAME_WIDTH = 110  # px: a narrower dock scrolls sideways instead
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

Index = QModelIndex | QPersistentModelIndex


def reviewed_text(video: VideoSummary) -> str:
    """The Reviewed cell: fully reviewed frames, and the partly reviewed ones when any."""
    partly = f" (+{video.partly_reviewed} partly)" if video.partly_reviewed else ""
    return f"{video.fully_reviewed}{partly}"


def _cells(video: VideoSummary) -> tuple[object, ...]:
    return (video.name, video.frame_count, video.keyframes, video.pseudo_frames,
            reviewed_text(video))


class VideoListModel(QAbstractTableModel):
    """The project's videos as rows of ``COLUMNS``; ``UserRole`` holds the video id."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._videos: list[VideoSummary] = []

    def refresh(self, project: Project | None) -> None:
        """Re-read every row with one service call; the same videos update in place (the
        selection stays), a different list resets the model."""
        videos = [] if project is None else project.videos.summaries()
        if [v.id for v in videos] == [v.id for v in self._videos]:
            self._videos = videos
            if videos:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(videos) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._videos = videos
        self.endResetModel()

    def video(self, row: int) -> VideoSummary:
        return self._videos[row]

    def row_of(self, video_id: int | None) -> int | None:
        for row, video in enumerate(self._videos):
            if video.id == video_id:
                return row
        return None

    def text(self, row: int, column: int) -> str:
        """The text shown in a cell."""
        return str(_cells(self._videos[row])[column])

    # -- QAbstractTableModel ------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._videos)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            video = self._videos[row]
            if COLUMNS[column] == "Reviewed":
                return (f"{video.fully_reviewed} frames fully reviewed (every point placed or "
                        f"accepted), {video.partly_reviewed} partly reviewed\n"
                        f"{video.name}\n{video.path}")
            return f"{video.name}\n{video.path}"
        if role == Qt.ItemDataRole.UserRole:
            return self._videos[row].id
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section])
        return None


class VideoListView(QTableView):
    """Shows a ``VideoListModel``; selecting a row emits ``video_selected``."""

    video_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.videos = VideoListModel(self)
        self.setModel(self.videos)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.videos.modelReset.connect(self._fit_columns)
        self._fit_columns()
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        self._filling = False

    def refresh(self, project: Project | None, current_id: int | None) -> None:
        """Re-read the list (one query) and select the row of ``current_id``."""
        self._filling = True
        try:
            self.videos.refresh(project)
            row = self.videos.row_of(current_id)
            if row is None:
                self.clearSelection()
            else:
                self.selectRow(row)
        finally:
            self._filling = False

    def _fit_columns(self) -> None:
        """Size the columns to a new list's contents; the name gets what the counts leave of
        the dock (at least its header, at most MAX_NAME_WIDTH). Afterwards the widths are the
        user's."""
        self.resizeColumnsToContents()
        counts = sum(self.columnWidth(c) for c in range(1, len(COLUMNS)))
        header = self.horizontalHeader().sectionSizeHint(0)
        room = self.viewport().width() - counts
        room = max(room, MIN_NAME_WIDTH)  # below that the dock scrolls rather than hide names
        self.setColumnWidth(0, max(header, min(self.columnWidth(0), room, MAX_NAME_WIDTH)))

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._filling:
            return
        rows = self.selectionModel().selectedRows()
        if rows:
            self.video_selected.emit(self.videos.video(rows[0].row()).id)
