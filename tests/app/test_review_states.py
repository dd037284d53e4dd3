"""Per-point review states in the GUI: a drag places only the dragged points, A accepts the rest
(or the selection), undo/redo restores states exactly, the three states draw differently (also
when occluded), and the timeline, status bar and video list count them."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.commands import DetectCommand
from app.landmark_items import POINT_LEGEND
from core.landmarks import GROUP_RANGES, N_POINTS
from core.review_states import ACCEPTED, PLACED, PREDICTED
from tests.app.conftest import show_zoomed, wait_frame, write_finished_run

FRAME = 5  # no keyframe: only the run's pseudo-label
EYE = list(GROUP_RANGES["right_eye"])


@pytest.fixture
def predicted(qtbot, window):
    """The window with a finished run that pseudo-labels every frame (written straight to the
    store, no trainer process), showing frame ``FRAME``."""
    points = write_finished_run(window)
    show_zoomed(qtbot, window, FRAME, points)
    return window


def _stored(window, frame: int = FRAME):
    s = window.session
    return s.project.labels.get(s.video.id, frame)


def _drag_point(qtbot, window, index: int) -> None:
    view, offset = window.view, QPoint(20, 10)
    start = view.mapFromScene(view.layer.points[index].scenePos())
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, 5):
        QTest.mouseMove(viewport, start + offset * k / 4)
        qtbot.wait(5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       start + offset)


def _snapshot(window) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    a = _stored(window)
    return None if a is None else (a.points.copy(), a.visible.copy(), a.states.copy(), a.source)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
            and np.array_equal(a[2], b[2]) and a[3] == b[3])


def _strip_tooltip(strip, frame: int) -> str:
    return strip.tooltip_at((frame + 0.5) * strip.width() / strip.frame_count)


def test_dragging_one_point_of_a_predicted_frame_leaves_the_other_67_predicted(qtbot, predicted):
    window = predicted
    assert _stored(window) is None and window.view.layer.kind == "pseudo"
    assert window.frame_status.states_label.text() == "0 placed · 0 accepted · 68 predicted"
    _drag_point(qtbot, window, 30)
    assert window.undo_stack.count() == 1
    annotation = _stored(window)
    assert annotation is not None and annotation.source == "corrected"
    assert annotation.states[30] == PLACED
    others = np.delete(annotation.states, 30)
    assert len(others) == 67 and (others == PREDICTED).all()
    assert not annotation.fully_reviewed
    # the view, the status bar, the timeline and the video list say so too
    layer = window.view.layer
    assert layer.kind == "manual" and layer.points[30].state == PLACED
    assert all(layer.points[i].state == PREDICTED for i in range(N_POINTS) if i != 30)
    assert window.frame_status.states_label.text() == "1 placed · 0 accepted · 67 predicted"
    strip = window.timeline.strip
    assert strip.review[FRAME] == "partly"
    assert "1 placed, 0 accepted, 67 predicted" in _strip_tooltip(strip, FRAME)
    assert window.video_list.videos.text(0, 4) == "4 (+1 partly)"
    # undo removes the annotation it created; redo puts the same states back
    window.undo_stack.undo()
    assert _stored(window) is None and FRAME not in window.session.keyframe_states
    window.undo_stack.redo()
    assert np.array_equal(_stored(window).states, annotation.states)


def test_a_accepts_every_remaining_point_and_placed_points_stay_placed(qtbot, predicted):
    window = predicted
    _drag_point(qtbot, window, 30)
    assert window.view.layer.selected_indices() == [30]  # a drag selects the point...
    qtbot.keyClick(window.view, Qt.Key.Key_A)  # ...which does not limit the accept
    annotation = _stored(window)
    assert annotation.states[30] == PLACED
    assert (np.delete(annotation.states, 30) == ACCEPTED).all()
    assert annotation.fully_reviewed and annotation.source == "corrected"
    assert window.undo_stack.text(1) == f"Accept pseudo-label (frame {FRAME + 1})"
    assert window.timeline.strip.review[FRAME] == "fully"
    assert window.video_list.videos.text(0, 4) == "5"
    assert window.frame_status.states_label.text() == "1 placed · 67 accepted · 0 predicted"
    # nothing left to accept: no command, a message says why
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    assert window.undo_stack.count() == 2
    assert "Nothing to accept" in window.statusBar().currentMessage()


def test_selection_and_a_accepts_only_the_selected_points(qtbot, predicted):
    window = predicted
    layer = window.view.layer
    layer.select_group("right_eye")
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    annotation = _stored(window)
    assert annotation.source == "accepted"
    assert (annotation.states[EYE] == ACCEPTED).all()
    assert (np.delete(annotation.states, EYE) == PREDICTED).all()
    assert np.allclose(annotation.points, window.session.pseudo_label()[0])
    assert window.undo_stack.text(0) == f"Accept 6 points (frame {FRAME + 1})"
    assert "62 still predicted" in window.statusBar().currentMessage()
    window.undo_stack.undo()
    assert _stored(window) is None
    window.undo_stack.redo()
    assert np.array_equal(_stored(window).states, annotation.states)
    # with nothing selected, A accepts the rest; the eye stays accepted
    window.view.scene().clearSelection()
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    assert (_stored(window).states == ACCEPTED).all()


def test_undo_and_redo_restore_points_visibility_and_states_exactly(qtbot, predicted):
    window = predicted
    view, layer = window.view, window.view.layer
    snapshots = [_snapshot(window)]
    _drag_point(qtbot, window, 30)  # 30 placed
    snapshots.append(_snapshot(window))
    view.scene().clearSelection()
    layer.select_group("right_eye")
    qtbot.keyClick(view, Qt.Key.Key_A)  # the eye accepted
    snapshots.append(_snapshot(window))
    qtbot.keyClick(view, Qt.Key.Key_V)  # the eye occluded: states unchanged
    snapshots.append(_snapshot(window))
    assert np.array_equal(snapshots[-1][2], snapshots[-2][2]) and not snapshots[-1][1][EYE].any()
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)  # the eye rotated: placed
    snapshots.append(_snapshot(window))
    assert (snapshots[-1][2][EYE] == PLACED).all()
    view.scene().clearSelection()
    qtbot.keyClick(view, Qt.Key.Key_A)  # the rest accepted
    snapshots.append(_snapshot(window))
    expected = np.full(N_POINTS, ACCEPTED)
    expected[EYE + [30]] = PLACED
    assert np.array_equal(snapshots[-1][2], expected)
    assert window.undo_stack.count() == len(snapshots) - 1
    for back in range(len(snapshots) - 2, -1, -1):
        window.undo_stack.undo()
        assert _same(_snapshot(window), snapshots[back]), back
    for forward in range(1, len(snapshots)):
        window.undo_stack.redo()
        assert _same(_snapshot(window), snapshots[forward]), forward
    # the edit log records the states each edit wrote
    s = window.session
    logged = [r.detail["states"] for r in s.project.labels.history(s.video.id)
              if r.action == "set_annotation"]
    assert logged[-1] == expected.tolist()


def test_template_copy_and_detect_set_states_and_accepting_a_detection(qtbot, window):
    s = window.session
    s.seek(FRAME)
    wait_frame(qtbot, window, FRAME)
    qtbot.keyClick(window.view, Qt.Key.Key_T)
    assert (_stored(window).states == PLACED).all()
    window.undo_stack.undo()
    qtbot.keyClick(window.view, Qt.Key.Key_C)
    assert (_stored(window).states == PLACED).all() and _stored(window).source == "manual"
    window.undo_stack.undo()
    window.undo_stack.push(DetectCommand(s, s.video.id, FRAME, _stored(window, 0).points))
    detected = _stored(window)
    assert detected.source == "detector" and (detected.states == PREDICTED).all()
    assert window.timeline.strip.review[FRAME] == "predicted"
    assert window.video_list.videos.text(0, 4) == "4"  # neither fully nor partly reviewed
    assert window.frame_status.states_label.text() == "0 placed · 0 accepted · 68 predicted"
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    accepted = _stored(window)
    assert accepted.source == "accepted" and (accepted.states == ACCEPTED).all()
    assert np.allclose(accepted.points, detected.points)
    window.undo_stack.undo()
    assert _same(_snapshot(window), (detected.points, detected.visible, detected.states,
                                     "detector"))


def _style(item) -> tuple:
    """What the eye sees of a point: fill, outline, ring, centre dot."""
    return (item.brush().style(), round(item.pen().widthF(), 2), item.pen().style(),
            None if item.ring is None else item.ring.style(),
            None if item.centre is None else item.centre[1], round(item.rect().width(), 2))


def test_each_state_draws_differently_also_when_occluded(qtbot, predicted):
    window = predicted
    view, layer = window.view, window.view.layer
    _drag_point(qtbot, window, 30)
    view.scene().clearSelection()
    layer.select_group("right_eye")
    qtbot.keyClick(view, Qt.Key.Key_A)
    view.scene().clearSelection()
    placed, accepted, predicted_ = layer.points[30], layer.points[36], layer.points[48]
    assert (placed.state, accepted.state, predicted_.state) == (PLACED, ACCEPTED, PREDICTED)
    visible_styles = {_style(p) for p in (placed, accepted, predicted_)}
    assert len(visible_styles) == 3
    assert placed.brush().style() == Qt.BrushStyle.SolidPattern  # a filled disc
    assert accepted.centre is not None and accepted.brush().style() == Qt.BrushStyle.NoBrush
    assert predicted_.centre is None and predicted_.brush().style() == Qt.BrushStyle.NoBrush
    # the tooltip names the state and explains the styles
    assert "accepted" in accepted.toolTip() and POINT_LEGEND in accepted.toolTip()
    assert window.frame_status.states_label.tip == POINT_LEGEND
    # occluded: every state keeps the dashed ring over a dark outline, and its centre
    for item in (placed, accepted, predicted_):
        item.setSelected(True)
    qtbot.keyClick(view, Qt.Key.Key_V)
    view.scene().clearSelection()
    occluded = [layer.points[i] for i in (30, 36, 48)]
    assert not _stored(window).visible[[30, 36, 48]].any()
    for item in occluded:
        assert item.ring is not None and item.ring.style() == Qt.PenStyle.DashLine
        assert item.pen().widthF() >= 4 and item.pen().color().alpha() >= 200
    assert len({_style(p) for p in occluded}) == 3
    assert {_style(p) for p in occluded}.isdisjoint(visible_styles)
    assert occluded[0].centre[1] > occluded[1].centre[1] and occluded[2].centre is None
    # and the centres are painted: the middle of an occluded placed or accepted point is its
    # colour (within what antialiasing and overlays blend in)
    image = view.viewport().grab().toImage()
    for item in occluded[:2]:
        pixel = image.pixelColor(view.mapFromScene(item.scenePos()))
        colour = item.centre[0]
        assert max(abs(pixel.red() - colour.red()), abs(pixel.green() - colour.green()),
                   abs(pixel.blue() - colour.blue())) < 64, (pixel.name(), colour.name())
