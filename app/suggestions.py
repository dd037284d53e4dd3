"""Review: frames ranked by the latest run's suggestion score, each with the signal behind it.

``rank_suggestions`` is plain numpy (testable without Qt); ``SuggestionTableModel`` adapts it to
a table; ``SuggestionsPanel`` is the dock's content. Keyframes never appear in the list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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

from core.framestats import SCORE_WEIGHTS
from core.store import FrameStats

MAX_SUGGESTIONS = 30
MIN_GAP = 3  # a suggestion hides lower-ranked frames this close to it (they share the cause)
REASONS = {"jitter": "jitter", "low_confidence": "low confidence",
           "detection_tracking": "disagreement (detection vs tracking)",
           "teacher_student": "disagreement (teacher vs student)",
           "forward_backward": "disagreement (forward vs backward)"}


@dataclass(frozen=True)
class Suggestion:
    frame: int
    score: float
    reason: str


def _robust(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pool = values[mask]
    if pool.size == 0:
        return np.zeros_like(values)
    median = float(np.median(pool))
    spread = max(float(np.median(np.abs(pool - median))) * 1.4826, 1e-6, 0.05 * abs(median))
    return np.maximum(values - median, 0.0) / spread


def rank_suggestions(stats: FrameStats | None, keyframes: set[int] | dict[int, str],
                     limit: int = MAX_SUGGESTIONS, min_gap: int = MIN_GAP) -> list[Suggestion]:
    """The ``limit`` best-scoring non-keyframes (score > 0), best first, with their reason;
    a frame within ``min_gap`` of a better-ranked suggestion is left out."""
    if stats is None or len(stats.frames) == 0:
        return []
    frames = stats.frames
    score = np.asarray(stats["suggestion_score"], dtype=np.float64)
    keep = (score > 0) & ~np.isin(frames, np.fromiter(keyframes, dtype=np.int64))
    signals = {name: np.asarray(stats[name], dtype=np.float64)
               for name in ("jitter", "detection_tracking", "teacher_student",
                            "forward_backward") if name in stats.values}
    signals["low_confidence"] = 1.0 - np.asarray(stats["confidence"], dtype=np.float64)
    names = list(signals)
    contributions = np.stack([SCORE_WEIGHTS[n] * _robust(signals[n], keep | (score > 0))
                              for n in names])
    order = np.flatnonzero(keep)[np.argsort(-score[keep], kind="stable")]
    chosen: list[int] = []
    for i in order:
        if len(chosen) == limit:
            break
        if all(abs(int(frames[i]) - int(frames[j])) >= min_gap for j in chosen):
            chosen.append(int(i))
    return [Suggestion(int(frames[i]), float(score[i]),
                       REASONS[names[int(np.argmax(contributions[:, i]))]]) for i in chosen]


class SuggestionTableModel(QAbstractTableModel):
    HEADERS = ("Frame", "Score", "Reason")

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
            return (str(item.frame), f"{item.score:.1f}", item.reason)[index.column()]
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
        self.table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._activated)
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
        self.model.set_suggestions(suggestions)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
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
