"""Selecting a whole group by clicking its line, then rotating and scaling the selection with the
keyboard: each quick run of presses is one undo command, written to the database at once."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from core.editing import transform_points
from core.landmarks import GROUP_RANGES
from tests.app.test_editing import _drag, _labels

RIGHT_EYE = list(GROUP_RANGES["right_eye"])
LEFT_EYE = list(GROUP_RANGES["left_eye"])


def _edge_midpoint(window, a: int, b: int) -> QPoint:
    points = window.view.layer.positions()
    mid = (points[a] + points[b]) / 2
    return window.view.mapFromScene(QPointF(float(mid[0]), float(mid[1])))


def _click(view, pos: QPoint, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, pos)


def _zoom_to_eyes(qtbot, window) -> np.ndarray:
    before = _labels(window).get(window.session.video.id, 0).points.copy()
    window.view.zoom_to_points(before[36:48])
    qtbot.wait(20)
    return before


def test_click_on_group_line_selects_group_and_ctrl_click_adds(qtbot, window):
    view = window.view
    _zoom_to_eyes(qtbot, window)
    _click(view, _edge_midpoint(window, 37, 38))
    assert sorted(view.layer.selected_indices()) == RIGHT_EYE
    assert "right eye" in window.statusBar().currentMessage()
    _click(view, _edge_midpoint(window, 43, 44), Qt.KeyboardModifier.ControlModifier)
    assert sorted(view.layer.selected_indices()) == RIGHT_EYE + LEFT_EYE
    _click(view, _edge_midpoint(window, 43, 44))  # a plain click replaces the selection
    assert sorted(view.layer.selected_indices()) == LEFT_EYE
    assert window.undo_stack.count() == 0  # selecting is not an edit
    # a drag that starts on a line is still a rubber band, not a group click
    eye = view.layer.positions()[RIGHT_EYE]
    start = _edge_midpoint(window, 36, 37)
    end = view.mapFromScene(float(eye[:, 0].max()) + 3, float(eye[:, 1].max()) + 3)
    _drag(qtbot, view, start, end + QPoint(4, 4))
    assert set(view.layer.selected_indices()) < set(RIGHT_EYE)


def test_rotate_and_scale_selection_one_command_per_gesture(qtbot, window):
    view = window.view
    video_id = window.session.video.id
    before = _zoom_to_eyes(qtbot, window)
    _click(view, _edge_midpoint(window, 37, 38))
    _click(view, _edge_midpoint(window, 43, 44), Qt.KeyboardModifier.ControlModifier)
    selected = RIGHT_EYE + LEFT_EYE
    for _ in range(3):
        qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert window.undo_stack.count() == 1  # three quick presses: one gesture, one undo item
    assert window.undo_stack.text(0).startswith("Rotate 12 points by +6°")
    stored = _labels(window).get(video_id, 0)
    assert np.allclose(stored.points, transform_points(before, selected, "rotate", 6.0),
                       atol=1e-3)
    assert stored.source == "corrected"
    assert np.allclose(stored.points[selected].mean(axis=0), before[selected].mean(axis=0),
                       atol=1e-3)  # about the selection's centroid
    others = [i for i in range(68) if i not in selected]
    assert np.array_equal(stored.points[others], before[others])
    assert sorted(view.layer.selected_indices()) == selected  # the selection survives
    assert np.allclose(view.layer.positions(), stored.points, atol=1e-3)

    qtbot.keyClick(view, Qt.Key.Key_Equal)  # a different gesture: a second command
    assert window.undo_stack.count() == 2
    scaled = _labels(window).get(video_id, 0).points
    centre = scaled[selected].mean(axis=0)
    ratio = (np.linalg.norm(scaled[selected] - centre, axis=1)
             / np.linalg.norm(stored.points[selected] - centre, axis=1))
    assert np.allclose(ratio, 1.02, atol=1e-4)
    qtbot.keyClick(view, Qt.Key.Key_Minus)  # scaling back at once: the same gesture
    assert window.undo_stack.count() == 2
    assert np.allclose(_labels(window).get(video_id, 0).points, stored.points, atol=1e-3)
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    assert window.undo_stack.count() == 3

    while window.undo_stack.canUndo():
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    restored = _labels(window).get(video_id, 0)
    assert np.allclose(restored.points, before) and restored.source == "imported"


def test_transform_needs_a_selection(qtbot, window):
    qtbot.keyClick(window.view, Qt.Key.Key_BracketRight)
    assert window.undo_stack.count() == 0
    assert "Select two or more points" in window.statusBar().currentMessage()
    shortcuts = {a.text(): a.shortcuts() for a in window.actions_by_name.values()}
    assert [s.toString() for s in shortcuts["Rotate selection ↻ 2°"]] == ["]"]
