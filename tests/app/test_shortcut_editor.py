"""Help → Shortcuts edits key sequences: the new key works at once, persists in QSettings and is
restored by the next window; a key another action uses is refused with a message."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.store import Project
from tests.app.conftest import wait_frame


def _open_editor(qtbot, window):
    qtbot.keyClick(window.view, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def _type_key(qtbot, dialog, key: Qt.Key) -> None:
    dialog.key_edit.clear()
    dialog.key_edit.setFocus()
    qtbot.keyClick(dialog.key_edit, key)


def test_change_shortcut_persist_restore_and_refuse_conflict(qtbot, window, settings):
    actions = window.actions_by_name
    dialog = _open_editor(qtbot, window)
    assert dialog.isVisible() and dialog.names[dialog.table.rowCount() - 2:] == ["shortcuts",
                                                                                "about"]
    dialog.select("toggle_keyframe")
    assert dialog.key_edit.keySequence().toString() == "K"
    _type_key(qtbot, dialog, Qt.Key.Key_J)
    qtbot.mouseClick(dialog.assign_button, Qt.MouseButton.LeftButton)
    assert [s.toString() for s in actions["toggle_keyframe"].shortcuts()] == ["J"]
    assert settings.value("shortcuts/toggle_keyframe") == "J"
    row = dialog.names.index("toggle_keyframe")
    assert dialog.table.item(row, 1).text() == "J"
    assert "(J)" in actions["toggle_keyframe"].toolTip()

    # P belongs to Propagate: refused, with a message naming it; nothing changes
    _type_key(qtbot, dialog, Qt.Key.Key_P)
    qtbot.mouseClick(dialog.assign_button, Qt.MouseButton.LeftButton)
    assert "already used by “Propagate”" in dialog.message.text()
    assert [s.toString() for s in actions["toggle_keyframe"].shortcuts()] == ["J"]
    assert [s.toString() for s in actions["propagate"].shortcuts()] == ["P"]
    assert settings.value("shortcuts/toggle_keyframe") == "J"
    dialog.close()

    # the new key works in the window at once; the old one is free
    s = window.session
    window.activateWindow()
    window.view.setFocus()
    s.seek(5)
    wait_frame(qtbot, window, 5)
    qtbot.keyClick(window.view, Qt.Key.Key_K)
    assert 5 not in s.keyframes
    qtbot.keyClick(window.view, Qt.Key.Key_J)
    assert 5 in s.keyframes
    with Project.open(s.project_path) as other:
        assert 5 in other.labels.frames(s.video.id)


def test_stored_shortcuts_restored_and_reset(qtbot, settings):
    from app.main_window import MainWindow

    settings.setValue("shortcuts/toggle_keyframe", "J")
    settings.setValue("shortcuts/next_suggestion", "P")  # stale: clashes with Propagate
    window = MainWindow(settings)
    qtbot.addWidget(window)
    try:
        actions = window.actions_by_name
        assert [s.toString() for s in actions["toggle_keyframe"].shortcuts()] == ["J"]
        assert [s.toString() for s in actions["next_suggestion"].shortcuts()] == ["N"]
        window.show_shortcuts()
        dialog = window.shortcuts_dialog
        dialog.select("toggle_keyframe")
        qtbot.mouseClick(dialog.reset_button, Qt.MouseButton.LeftButton)
        assert [s.toString() for s in actions["toggle_keyframe"].shortcuts()] == ["K"]
        assert settings.value("shortcuts/toggle_keyframe") is None
        dialog.close()
    finally:
        window.close()
