"""The welcome view: what the central area shows while no project is open.

New project, Open project, Open the demo, and the recent projects with their full paths (a click
opens one; a file that no longer exists is listed disabled with a note, and "Forget missing"
drops those from the list). The view only asks: the window's project controller does the work.
Also ``canvas_hint``, the text the empty frame view shows once a project is open.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.icons import icon

MISSING_NOTE = "not found"
DEMO_NOTE = ("A temporary project with a synthetic 120-frame clip and a keyframe every 15 frames;"
             " it is removed when FaceProp closes.")
RECENT_LIST_HEIGHT = 230  # px: room for about eight projects
DROP_NOTE = "Or drop video files on this window to start a project with them."


def canvas_hint(has_project: bool, video_count: int) -> str:
    """What the frame view says while it shows no frame."""
    if not has_project:
        return "Open a project (Ctrl+O) or create one (Ctrl+N)."
    if video_count == 0:
        return "Add a video (File → Add videos, or drop files here)."
    return "Select a video in the Videos list."


class WelcomeView(QWidget):
    """Start here: emits what the user asked for; ``set_recent`` fills the recent list."""

    new_requested = Signal()
    open_requested = Signal()
    demo_requested = Signal()
    recent_requested = Signal(str)  # the project path that was clicked
    forget_missing_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        title = QLabel("FaceProp")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Label 68-point facial landmarks in video from a few keyframes.")
        self.new_button = self._button("new_project", "New project…", self.new_requested)
        self.open_button = self._button("open_project", "Open project…", self.open_requested)
        self.demo_button = self._button("open_demo", "Open the demo", self.demo_requested)
        self.demo_button.setToolTip(DEMO_NOTE)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.open_button, self.demo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.busy_label = QLabel("")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(240)
        busy = QHBoxLayout()
        busy.addWidget(self.busy_label)
        busy.addWidget(self.busy_bar)
        busy.addStretch(1)
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recent_projects")
        self.recent_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent_list.setSpacing(2)
        self.recent_list.itemClicked.connect(self._item_chosen)
        self.recent_list.itemActivated.connect(self._item_chosen)
        self.empty_label = QLabel("No recent projects yet.")
        self.forget_button = QPushButton("Forget missing")
        self.forget_button.setToolTip("Remove the projects that no longer exist from this list")
        self.forget_button.clicked.connect(self.forget_missing_requested)
        recent_head = QHBoxLayout()
        recent_head.addWidget(QLabel("<b>Recent projects</b>"))
        recent_head.addStretch(1)
        recent_head.addWidget(self.forget_button)
        column = QFrame()
        column.setMaximumWidth(760)
        layout = QVBoxLayout(column)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addWidget(self._note(DEMO_NOTE))
        layout.addLayout(busy)
        layout.addSpacing(12)
        layout.addLayout(recent_head)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.recent_list)
        layout.addSpacing(8)
        layout.addWidget(self._note(DROP_NOTE))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(column, 4)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_busy(None)
        self.set_recent([])

    def _button(self, icon_name: str, text: str, signal: object) -> QPushButton:
        button = QPushButton(icon(icon_name), text)
        button.setMinimumHeight(34)
        button.clicked.connect(signal)
        return button

    @staticmethod
    def _note(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setEnabled(False)  # drawn in the palette's muted text colour
        return label

    # -- content ------------------------------------------------------------------------------
    def set_recent(self, paths: list[str]) -> None:
        """List ``paths`` (newest first); a missing file is disabled and marked."""
        self.recent_list.clear()
        missing = 0
        for path in paths:
            item = QListWidgetItem(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            if Path(path).is_file():
                item.setToolTip(f"Open {path}")
            else:
                missing += 1
                item.setText(f"{path}  — {MISSING_NOTE}")
                item.setToolTip(f"{path} no longer exists (moved or deleted)")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.recent_list.addItem(item)
        row = self.recent_list.sizeHintForRow(0) + 2 * self.recent_list.spacing()
        rows = row * max(len(paths), 3) if paths else 0
        self.recent_list.setFixedHeight(min(rows + 2 * self.recent_list.frameWidth() + 6,
                                            RECENT_LIST_HEIGHT))
        self.recent_list.setVisible(bool(paths))
        self.empty_label.setVisible(not paths)
        self.forget_button.setVisible(missing > 0)

    def set_busy(self, text: str | None) -> None:
        """Show ``text`` with a busy bar and disable the buttons (None: idle again)."""
        busy = text is not None
        self.busy_label.setText(text or "")
        self.busy_label.setVisible(busy)
        self.busy_bar.setVisible(busy)
        for button in (self.new_button, self.open_button, self.demo_button):
            button.setEnabled(not busy)
        self.recent_list.setEnabled(not busy)

    def _item_chosen(self, item: QListWidgetItem) -> None:
        # a double click also activates: once a project opened this view is hidden
        if not self.isVisible() or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        self.recent_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))
