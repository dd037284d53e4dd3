"""Help → Shortcuts: every action's keys, read from the actions themselves, and an editor.

Pick an action, press the new key combination in the key field and press Assign. A combination
another action already uses is refused with a message naming that action. Accepted keys are
stored in QSettings under ``shortcuts/<name>`` (portable text), which ``build_actions`` reads at
start; Reset goes back to the built-in keys and forgets the stored ones.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

PORTABLE = QKeySequence.SequenceFormat.PortableText
NATIVE = QKeySequence.SequenceFormat.NativeText


def settings_key(name: str) -> str:
    return f"shortcuts/{name}"


def action_label(action: QAction) -> str:
    return action.text().replace("&", "").rstrip("…")


def keys_text(action: QAction) -> str:
    return ", ".join(s.toString(NATIVE) for s in action.shortcuts())


def find_conflict(actions: dict[str, QAction], name: str,
                  sequences: list[QKeySequence]) -> str | None:
    """The name of another (visible) action that already uses one of ``sequences``, or None.
    Hidden actions (Detect without dlib) cannot fire, so their keys are free."""
    wanted = {s.toString(PORTABLE) for s in sequences if not s.isEmpty()}
    for other, action in actions.items():
        if other != name and action.isVisible() \
                and wanted & {s.toString(PORTABLE) for s in action.shortcuts()}:
            return other
    return None


def refresh_tooltip(action: QAction) -> None:
    """Tooltips show the action's current first key, so they follow the editor."""
    tip = action.statusTip()
    if tip:
        keys = action.shortcuts()
        key = f" ({keys[0].toString(NATIVE)})" if keys else ""
        action.setToolTip(f"{action_label(action)}{key}: {tip}")


class ShortcutsDialog(QDialog):
    """The shortcut list with an editor under it; changes apply at once and persist."""

    shortcut_changed = Signal(str)  # action name

    def __init__(self, actions: dict[str, QAction], defaults: dict[str, list[QKeySequence]],
                 settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.actions_by_name = actions
        self.defaults = defaults
        self.settings = settings
        self.names = [n for n, a in actions.items() if a.isVisible() and a.text()]
        table = QTableWidget(len(self.names), 2, self)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().setVisible(False)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, name in enumerate(self.names):
            table.setItem(row, 0, QTableWidgetItem(action_label(actions[name])))
            table.setItem(row, 1, QTableWidgetItem(keys_text(actions[name])))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(1)
        table.currentCellChanged.connect(lambda row, *_: self._row_changed(row))
        self.table = table

        self.editing_label = QLabel("Select an action to change its key.")
        self.key_edit = QKeySequenceEdit(self)
        self.key_edit.setMaximumSequenceLength(1)
        self.key_edit.setClearButtonEnabled(True)
        self.key_edit.setToolTip("Click here and press the new key combination")
        self.assign_button = QPushButton("Assign")
        self.assign_button.clicked.connect(self.assign)
        self.reset_button = QPushButton("Reset to default")
        self.reset_button.clicked.connect(self.reset)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        editor = QHBoxLayout()
        editor.addWidget(self.key_edit, 1)
        editor.addWidget(self.assign_button)
        editor.addWidget(self.reset_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(self.editing_label)
        layout.addLayout(editor)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(500, 620)
        self._set_editable(False)

    # -- selection ----------------------------------------------------------------------------
    @property
    def current_name(self) -> str | None:
        row = self.table.currentRow()
        return self.names[row] if 0 <= row < len(self.names) else None

    def select(self, name: str) -> None:
        self.table.setCurrentCell(self.names.index(name), 0)

    def _set_editable(self, editable: bool) -> None:
        for widget in (self.key_edit, self.assign_button, self.reset_button):
            widget.setEnabled(editable)

    def _row_changed(self, row: int) -> None:
        name = self.current_name
        self._set_editable(name is not None)
        self.message.clear()
        if name is None:
            return
        action = self.actions_by_name[name]
        keys = action.shortcuts()
        self.key_edit.setKeySequence(keys[0] if keys else QKeySequence())
        self.editing_label.setText(f"Key for “{action_label(action)}”:")

    # -- changes ------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")
        self.message.setText(text)

    def _apply(self, name: str, sequences: list[QKeySequence]) -> bool:
        other = find_conflict(self.actions_by_name, name, sequences)
        if other is not None:
            keys = ", ".join(s.toString(NATIVE) for s in sequences)
            taken = action_label(self.actions_by_name[other])
            self._say(f"“{keys}” is already used by “{taken}”. Choose another key, or give "
                      f"“{taken}” a different key first.", error=True)
            return False
        action = self.actions_by_name[name]
        action.setShortcuts(sequences)
        refresh_tooltip(action)
        self.table.item(self.names.index(name), 1).setText(keys_text(action))
        self.shortcut_changed.emit(name)
        return True

    def assign(self) -> None:
        name, sequence = self.current_name, self.key_edit.keySequence()
        if name is None:
            return
        if sequence.isEmpty():
            self._say("Press a key combination in the key field first.", error=True)
            return
        if self._apply(name, [sequence]):
            self.settings.setValue(settings_key(name), sequence.toString(PORTABLE))
            self._say(f"“{action_label(self.actions_by_name[name])}” is now "
                      f"{sequence.toString(NATIVE)}.")

    def reset(self) -> None:
        name = self.current_name
        if name is None:
            return
        if self._apply(name, self.defaults.get(name, [])):
            self.settings.remove(settings_key(name))
            self._row_changed(self.table.currentRow())
            self._say("Back to the built-in key.")
