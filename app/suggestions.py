"""Review: frames ranked by the latest run's suggestion score, each with the signal behind it.

The ranking lives in core.suggest (shared with ``simulate-annotator``); ``SuggestionTableModel``
adapts it to a table; ``SuggestionsPanel`` is the dock's content. Keyframes and frames marked
"no face" never appear in the list, and no suggested correction reaches across a shot cut. A
single click on a row (or Enter) seeks to its frame; a reason too long for its column shows in
full on hover, and the columns can be widened.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.frame_numbers import frame_number
from core.store import FrameStats
from core.suggest import MIN_GAP, Suggestion
from core.suggest import rank_suggestions as core_rank

MAX_SUGGESTIONS = 30


def rank_suggestions(stats: FrameStats | None, keyframes: set[int] | dict[int, str],
                     limit: int = MAX_SUGGESTIONS, min_gap: int = MIN_GAP, *,
                     absences: list[tuple[int, int]] | None = None,
                     frame_count: int | None = None,
                     cuts: list[int] | None = None,
                     transitions: list[int] | None = None) -> list[Suggestion]:
    """The panel's list: core.suggest's ``score`` ranking (keyframes and no-face frames left
    out, no correction reaching across a no-face frame or a shot cut of ``cuts``; with
    ``frame_count``, face segments without a keyframe first; then the run's shot changes
    found while tracking, ``transitions``, that are no cut yet)."""
    return core_rank(stats, keyframes, limit, min_gap, absences=absences or (),
                     frame_count=frame_count, cuts=cuts or (), transitions=transitions or ())


class SuggestionTableModel(QAbstractTableModel):
    """One row per suggestion: the frame as a person numbers it (1-based), score, reason.

    ``SORT_ROLE`` gives the frame number and score as numbers, so a sort by it (a proxy's
    ``setSortRole``) is numeric, not by text ("100" before "27").
    """

    HEADERS = ("Frame", "Score", "Reason")
    SORT_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent)
        self.suggestions: list[Suggestion] = []

    def set_suggestions(self, suggestions: list[Suggestion]) -> None:
        self.beginResetModel()
        self.suggestions = list(suggestions)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.suggestions)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        item = self.suggestions[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(frame_number(item.frame)), f"{item.score:.1f}",
                    item.reason)[index.column()]
        if role == self.SORT_ROLE:
            return (frame_number(item.frame), item.score, item.reason)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Frame {frame_number(item.frame)} · score {item.score:.1f}: {item.reason}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() < 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None


class SuggestionsPanel(QWidget):
    """The Suggestions dock: a ranked table and a "Next suggestion" button."""

    seek_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SuggestionTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.clicked.connect(self._activated)
        self.table.activated.connect(self._activated)  # Enter on a row
        self.table.resizeColumnsToContents()  # the headers' widths, until there are rows
        self.summary = QLabel("No propagation run yet.")
        self.summary.setWordWrap(True)
        self.next_button = QPushButton("Next suggestion")
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.table)

    def set_suggestions(self, suggestions: list[Suggestion], has_run: bool) -> None:
        first = not self.model.suggestions
        self.model.set_suggestions(suggestions)
        if first and suggestions:  # fit the numbers once; a width the user chose stays
            self.table.resizeColumnToContents(0)
            self.table.resizeColumnToContents(1)
        if not has_run:
            self.summary.setText("No propagation run yet.")
        else:
            self.summary.setText(f"{len(suggestions)} frames to review")
        self.next_button.setEnabled(bool(suggestions))

    def frames(self) -> list[int]:
        return [s.frame for s in self.model.suggestions]

    def next_after(self, current: int) -> int | None:
        """The suggestion after ``current`` in rank order (the top one when it is not listed)."""
        frames = self.frames()
        if not frames:
            return None
        if current in frames:
            return frames[(frames.index(current) + 1) % len(frames)]
        return frames[0]

    def select_frame(self, frame: int) -> None:
        frames = self.frames()
        if frame in frames:
            self.table.selectRow(frames.index(frame))
        else:
            self.table.clearSelection()

    def _activated(self, index: QModelIndex) -> None:
        self.seek_requested.emit(self.model.suggestions[index.row()].frame)
