"""Opening a project, stepping with the keyboard, dragging points with the mouse, undo/redo and
keyframe actions, all checked against the database."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.landmarks import N_POINTS
from core.store import Project
from tests.app.conftest import CLIP_FRAMES, wait_frame


def _labels(window):
    return window.session.project.labels


def _point_pos(window, index: int) -> QPoint:
    return window.view.mapFromScene(window.view.layer.points[index].scenePos())


def _drag(qtbot, view, start: QPoint, end: QPoint,
          modifier=Qt.KeyboardModifier.NoModifier) -> None:
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, start)
    steps = 6
    for k in range(1, steps + 1):
        QTest.mouseMove(viewport, start + (end - start) * k / steps)
        qtbot.wait(5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifier, end)


def test_open_project_shows_first_frame_and_keyframe(window):
    s = window.session
    assert s.video is not None and s.video.frame_count == CLIP_FRAMES
    assert sorted(s.keyframes) == [0, 10, 20, 29]
    assert window.view.layer.shown and window.view.layer.kind == "manual"
    stored = _labels(window).get(s.video.id, 0)
    assert np.allclose(window.view.layer.positions(), stored.points, atol=1e-3)
    assert window.video_list.videos.rowCount() == 1
    assert window.video_list.videos.text(0, 2) == "4"
    assert window.frame_label.text().startswith("frame 1 / 30")
    assert window.settings.value("projects/last").endswith("gui.faceprop.sqlite")


def test_keyboard_steps_frames_and_keyframes(qtbot, window):
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_Right)
    wait_frame(qtbot, window, 1)
    assert not window.view.layer.shown  # frame 1: no label, no run yet
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    wait_frame(qtbot, window, 11)
    qtbot.keyClick(view, Qt.Key.Key_Left)
    wait_frame(qtbot, window, 10)
    assert window.view.layer.shown
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    wait_frame(qtbot, window, 20)
    qtbot.keyClick(view, Qt.Key.Key_Period)
    wait_frame(qtbot, window, 29)
    qtbot.keyClick(view, Qt.Key.Key_Right)  # clamps at the end
    qtbot.keyClick(view, Qt.Key.Key_Comma)
    wait_frame(qtbot, window, 20)
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    wait_frame(qtbot, window, 10)
    assert window.session.frame == 10
    assert window.timeline.strip.current == 10


def test_drag_point_writes_one_command_and_undo_redo(qtbot, window):
    s = window.session
    video_id = s.video.id
    before = _labels(window).get(video_id, 0).points.copy()
    window.view.zoom_to_points(before)
    qtbot.wait(20)
    start = _point_pos(window, 30)
    _drag(qtbot, window.view, start, start + QPoint(25, 15))
    assert window.undo_stack.count() == 1
    assert window.undo_stack.text(0).startswith("Move nose tip")
    after = _labels(window).get(video_id, 0)
    moved = np.flatnonzero(np.abs(after.points - before).max(axis=1) > 1e-3)
    assert moved.tolist() == [30]
    delta = after.points[30] - before[30]
    zoom = window.view.zoom
    assert np.allclose(delta, [25 / zoom, 15 / zoom], atol=1.5 / zoom)
    assert after.source == "corrected"  # an imported keyframe that was edited

    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    restored = _labels(window).get(video_id, 0)
    assert np.allclose(restored.points, before) and restored.source == "imported"
    assert np.allclose(window.view.layer.positions(), before, atol=1e-3)
    qtbot.keyClick(window.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.allclose(_labels(window).get(video_id, 0).points, after.points)
    assert _labels(window).get(video_id, 0).source == "corrected"


def test_rubber_band_selection_moves_group_together(qtbot, window):
    s = window.session
    video_id = s.video.id
    before = _labels(window).get(video_id, 0).points.copy()
    view = window.view
    view.zoom_to_points(before)
    qtbot.wait(20)
    # a box around the right eye (36-41) only
    eye = before[36:42]
    top_left = view.mapFromScene(float(eye[:, 0].min()) - 2, float(eye[:, 1].min()) - 2)
    bottom_right = view.mapFromScene(float(eye[:, 0].max()) + 2, float(eye[:, 1].max()) + 2)
    _drag(qtbot, view, top_left + QPoint(-3, -3), bottom_right + QPoint(3, 3))
    assert sorted(view.layer.selected_indices()) == list(range(36, 42))
    assert window.undo_stack.count() == 0  # selecting is not an edit
    start = _point_pos(window, 38)
    _drag(qtbot, view, start, start + QPoint(0, 20))
    assert window.undo_stack.count() == 1
    after = _labels(window).get(video_id, 0).points
    moved = np.flatnonzero(np.abs(after - before).max(axis=1) > 1e-3)
    assert moved.tolist() == list(range(36, 42))
    assert np.allclose(after[36:42, 1] - before[36:42, 1], 20 / view.zoom, atol=1.5 / view.zoom)
    # V toggles the visibility of the selection, one command
    qtbot.keyClick(view, Qt.Key.Key_V)
    vis = _labels(window).get(video_id, 0).visible
    assert (~vis).sum() == 6 and not vis[36:42].any()
    window.undo_stack.undo()
    assert _labels(window).get(video_id, 0).visible.all()


def test_keyframe_actions_and_history(qtbot, window):
    s = window.session
    video_id = s.video.id
    view = window.view
    s.seek(5)
    wait_frame(qtbot, window, 5)
    qtbot.keyClick(view, Qt.Key.Key_K)  # no run yet: copies keyframe 0
    copied = _labels(window).get(video_id, 5)
    assert copied is not None and copied.source == "manual"
    assert np.allclose(copied.points, _labels(window).get(video_id, 0).points)
    assert 5 in s.keyframes and window.timeline.strip.keyframes.tolist().count(5) == 1
    qtbot.keyClick(view, Qt.Key.Key_K)  # unmark
    assert _labels(window).get(video_id, 5) is None and 5 not in s.keyframes
    qtbot.keyClick(view, Qt.Key.Key_T)  # template around the neighbouring keyframe's box
    template = _labels(window).get(video_id, 5)
    assert template is not None and template.points.shape == (N_POINTS, 2)
    assert window.undo_stack.count() == 3
    assert window.history.model().rowCount() == 4  # "(project opened)" + 3 commands
    # undo everything from another frame: the view jumps back to frame 5
    s.seek(12)
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert s.frame == 5
    assert _labels(window).get(video_id, 5) is None
    with Project.open(s.project_path) as other:  # another connection sees the same state
        assert other.labels.frames(video_id) == [0, 10, 20, 29]


def test_place_template_in_drawn_box(qtbot, window):
    s = window.session
    s.seek(3)
    wait_frame(qtbot, window, 3)
    view = window.view
    view.fit()
    qtbot.keyClick(view, Qt.Key.Key_B)
    a, b = view.mapFromScene(100, 60), view.mapFromScene(200, 190)
    _drag(qtbot, view, a, b)
    annotation = _labels(window).get(s.video.id, 3)
    assert annotation is not None
    lo, hi = annotation.points.min(axis=0), annotation.points.max(axis=0)
    assert np.allclose(lo, [100, 60], atol=3) and np.allclose(hi, [200, 190], atol=3)


def test_space_plays_at_the_video_frame_rate_and_pauses(qtbot, window):
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert window.frames.playing
    assert window.frames.timer.interval() == round(1000 / window.session.fps)  # 25 fps: 40 ms
    qtbot.waitUntil(lambda: window.session.frame >= 4, timeout=3000)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert not window.frames.playing
    stopped_at = window.session.frame
    qtbot.wait(150)
    assert window.session.frame == stopped_at


def test_wheel_and_fit_zoom_and_shortcuts_dialog(qtbot, window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    from app.shortcuts import ShortcutsDialog

    view = window.view
    zoom = view.zoom
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(centre, view.mapToGlobal(centre.toPoint()), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(wheel)
    assert view.zoom > zoom  # one notch of the wheel zooms in
    zoom = view.zoom
    view.zoom_to_points(window.editor.current_shape())
    assert view.zoom != zoom
    assert "zoom" in window.zoom_label.text()
    dialog = ShortcutsDialog(window.actions_by_name, window.default_shortcuts, window.settings,
                             window)
    texts = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert {"Propagate", "Next suggestion", "Play / pause", "Undo"} <= texts
    dialog.close()
