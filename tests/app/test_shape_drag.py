"""Shape-aware drag in the window: a lone dragged point takes the points that must move with it
(its face part strongly, the rest weakly), live and on release, as one undo entry; the dragged
point becomes placed, the followers keep their states, placed and accepted points never move;
Alt-drag and the toggle move one point alone; group drags stay rigid; a fresh template follows."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.shape_drag import SETTING, fresh_template_drags
from core.landmarks import GROUP_RANGES, N_POINTS
from core.review_states import ACCEPTED, PLACED, PREDICTED
from core.shape_prior import FACE_PARTS
from tests.app.conftest import show_zoomed, wait_frame, write_finished_run

FRAME = 5  # no keyframe: only the run's pseudo-label
CORNER = 48  # the right mouth corner
MOUTH = list(FACE_PARTS["mouth"])
ELSEWHERE = [i for i in range(N_POINTS) if i not in MOUTH]
LEFT = Qt.MouseButton.LeftButton
NO_MOD, ALT = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.AltModifier


@pytest.fixture
def predicted(qtbot, window):
    """The window showing frame ``FRAME`` with only a pseudo-label: a finished run written
    straight to the store (no trainer process), zoomed on the face."""
    points = write_finished_run(window)
    show_zoomed(qtbot, window, FRAME, points)
    return window


def _send(view, kind: QEvent.Type, pos: QPoint, button, buttons, modifiers) -> None:
    viewport = view.viewport()
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(viewport.mapToGlobal(pos)), button, buttons,
                        modifiers)
    QApplication.sendEvent(viewport, event)


def _drag(qtbot, window, index: int, offset: QPoint | None = None, modifiers=NO_MOD,
          during=None) -> None:
    """Press on point ``index``, move in steps (each move carries ``modifiers``), release;
    ``during()`` is called before the release."""
    view, offset = window.view, QPoint(24, 12) if offset is None else offset
    start = view.mapFromScene(view.layer.points[index].scenePos())
    _send(view, QEvent.Type.MouseButtonPress, start, LEFT, LEFT, modifiers)
    for k in range(1, 7):
        _send(view, QEvent.Type.MouseMove, start + offset * k / 6, Qt.MouseButton.NoButton,
              LEFT, modifiers)
        qtbot.wait(20)
    if during is not None:
        during()
    _send(view, QEvent.Type.MouseButtonRelease, start + offset, LEFT, Qt.MouseButton.NoButton,
          modifiers)


def _stored(window, frame: int = FRAME):
    s = window.session
    return s.project.labels.get(s.video.id, frame)


def _shift(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(after, np.float64) - before, axis=1)


def test_a_mouth_corner_drag_takes_the_mouth_along_and_the_rest_less(qtbot, predicted):
    window = predicted
    before = window.session.pseudo_label()[0].copy()
    seen: dict[str, np.ndarray] = {}
    _drag(qtbot, window, CORNER, during=lambda: seen.update(live=window.view.layer.positions()))
    # the followers moved while the mouse was still down
    live = _shift(seen["live"], before)
    assert (live[[i for i in MOUTH if i != CORNER]] > 0.5).sum() >= 6
    assert window.undo_stack.count() == 1
    text = window.undo_stack.text(0)
    assert text.startswith("Move ") and "following" in text and text.endswith("(frame 6)")
    annotation = _stored(window)
    shift = _shift(annotation.points, before)
    dragged = shift[CORNER]
    mouth = shift[[i for i in MOUTH if i != CORNER]]
    assert dragged > 5
    # the mouth comes along, its points next to the corner most...
    assert (mouth > 0.5).sum() >= 6 and shift[[49, 59]].min() > 0.15 * dragged
    # ...and the rest of the face a little
    assert shift[ELSEWHERE].mean() < 0.3 * mouth.mean()
    # the dragged point is placed; the followers stay predicted (nobody vouched for them)
    assert annotation.states[CORNER] == PLACED
    assert (np.delete(annotation.states, CORNER) == PREDICTED).all()
    assert np.allclose(window.view.layer.positions(), annotation.points, atol=1e-3)
    # one undo entry restores everything exactly (the frame had only a pseudo-label)
    window.undo_stack.undo()
    assert _stored(window) is None
    assert np.array_equal(window.view.layer.positions(), before)
    window.undo_stack.redo()
    assert np.array_equal(_stored(window).points, annotation.points)
    assert np.array_equal(_stored(window).states, annotation.states)


def test_placed_and_accepted_points_never_move_and_undo_is_exact(qtbot, predicted):
    window = predicted
    _drag(qtbot, window, 54, QPoint(-6, 4), modifiers=ALT)  # the other corner, alone: placed
    window.editor.accept([51, 57])  # two lip points accepted as they are
    before = _stored(window)
    assert before.states[54] == PLACED and (before.states[[51, 57]] == ACCEPTED).all()
    _drag(qtbot, window, CORNER)
    assert window.undo_stack.count() == 3
    after = _stored(window)
    for i in (54, 51, 57):
        assert np.array_equal(after.points[i], before.points[i])
    assert _shift(after.points, before.points)[[59, 60, 67]].min() > 0.1  # free mouth points
    assert after.states[CORNER] == PLACED and after.states[54] == PLACED
    assert (after.states[[51, 57]] == ACCEPTED).all()
    others = [i for i in range(N_POINTS) if i not in (CORNER, 54, 51, 57)]
    assert (after.states[others] == PREDICTED).all()
    window.undo_stack.undo()  # the whole drag, followers and all, is one step back
    restored = _stored(window)
    assert np.array_equal(restored.points, before.points)
    assert np.array_equal(restored.states, before.states)
    assert np.array_equal(restored.visible, before.visible) and restored.source == before.source


def test_alt_drag_moves_one_point_alone(qtbot, predicted):
    window = predicted
    before = window.session.pseudo_label()[0].copy()
    seen: dict[str, np.ndarray] = {}
    _drag(qtbot, window, CORNER, modifiers=ALT,
          during=lambda: seen.update(live=window.view.layer.positions()))
    moved = np.flatnonzero(_shift(_stored(window).points, before) > 0)
    assert moved.tolist() == [CORNER]
    assert np.flatnonzero(_shift(seen["live"], before) > 1e-3).tolist() == [CORNER]
    assert window.undo_stack.text(0) == "Move mouth right corner (frame 6)"


def test_the_toggle_off_moves_one_point_alone_and_is_remembered(qtbot, predicted):
    window = predicted
    action = window.actions_by_name["shape_drag"]
    assert action.isCheckable() and action.isChecked() and window.editor.shape_drag.enabled
    action.trigger()  # off
    assert not window.editor.shape_drag.enabled
    assert window.settings.value(SETTING, type=bool) is False
    before = window.session.pseudo_label()[0].copy()
    _drag(qtbot, window, CORNER)
    assert np.flatnonzero(_shift(_stored(window).points, before) > 0).tolist() == [CORNER]
    action.trigger()  # on again
    assert window.settings.value(SETTING, type=bool) is True


def test_the_toggle_starts_as_the_settings_say(qtbot, settings):
    from app.main_window import MainWindow

    settings.setValue(SETTING, False)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    try:
        assert not window.editor.shape_drag.enabled
        assert not window.actions_by_name["shape_drag"].isChecked()
    finally:
        window.close()


def test_a_group_drag_stays_rigid(qtbot, predicted):
    window = predicted
    before = window.session.pseudo_label()[0].copy()
    eye = list(GROUP_RANGES["right_eye"])
    window.view.layer.select_group("right_eye")
    _drag(qtbot, window, eye[0])
    after = _stored(window)
    delta = after.points - before
    assert np.flatnonzero(np.abs(delta).max(axis=1) > 0).tolist() == eye
    assert np.allclose(delta[eye], delta[eye[0]], atol=1e-3)  # one rigid translation
    assert (after.states[eye] == PLACED).all()


def test_a_fresh_template_follows_until_its_points_are_dragged(qtbot, window):
    s = window.session
    s.seek(4)
    wait_frame(qtbot, window, 4)
    window.editor.place_template()
    template = _stored(window, 4).points.copy()
    window.view.zoom_to_points(template[MOUTH])  # the template's inner and outer corners are close
    qtbot.wait(20)
    assert fresh_template_drags(window.undo_stack, s.video.id, 4) == set()
    _drag(qtbot, window, CORNER)
    first = _stored(window, 4)
    assert (first.states == PLACED).all()  # a template is placed; following keeps that
    assert _shift(first.points, template)[[i for i in MOUTH if i != CORNER]].max() > 0.5
    assert fresh_template_drags(window.undo_stack, s.video.id, 4) == {CORNER}
    _drag(qtbot, window, 54, QPoint(-10, 6))  # the corner dragged before now stays put
    second = _stored(window, 4)
    assert np.array_equal(second.points[CORNER], first.points[CORNER])
    assert _shift(second.points, first.points)[[i for i in MOUTH if i not in (CORNER, 54)]
                                               ].max() > 0.2
    # an accept or a copy ends the template: then placed points never move
    window.undo_stack.undo()
    window.undo_stack.undo()
    window.editor.copy_previous_keyframe()
    assert fresh_template_drags(window.undo_stack, s.video.id, 4) is None
    copied = _stored(window, 4).points.copy()
    _drag(qtbot, window, CORNER)
    assert np.flatnonzero(_shift(_stored(window, 4).points, copied) > 0).tolist() == [CORNER]


def test_a_predicted_keyframe_follows_as_far_as_its_uncertainty_says(qtbot, window):
    """A Predict-keyframe shape (the project model's, as uncertain as the template) takes more
    of the face along on a drag than a dlib detection (a pseudo-label's uncertainty)."""
    from app.commands import DetectCommand
    from app.shape_drag import fresh_detection_uncertainty
    from core.shape_model import BOX_PREDICTION_UNCERTAINTY, PREDICTION_UNCERTAINTY

    s = window.session
    s.seek(4)
    wait_frame(qtbot, window, 4)
    window.editor.place_template()
    shape = _stored(window, 4).points.copy()
    window.undo_stack.undo()
    window.view.zoom_to_points(shape[MOUTH])
    followers = [i for i in MOUTH if i != CORNER]
    moved = {}
    for uncertainty in (PREDICTION_UNCERTAINTY, BOX_PREDICTION_UNCERTAINTY):
        start = window.undo_stack.index()
        window.undo_stack.push(DetectCommand(s, s.video.id, 4, shape, "Predict keyframe",
                                             uncertainty))
        qtbot.wait(20)
        assert fresh_detection_uncertainty(window.undo_stack, s.video.id, 4) == uncertainty
        _drag(qtbot, window, CORNER)
        after = _stored(window, 4)
        assert (after.states[followers] == PREDICTED).all()  # nobody vouched for them
        moved[uncertainty] = _shift(after.points, shape)[followers].mean()
        assert fresh_detection_uncertainty(window.undo_stack, s.video.id, 4) == uncertainty
        window.editor.accept()  # an accept ends the fresh detection
        assert fresh_detection_uncertainty(window.undo_stack, s.video.id, 4) is None
        window.undo_stack.setIndex(start)
    assert moved[BOX_PREDICTION_UNCERTAINTY] > 1.5 * moved[PREDICTION_UNCERTAINTY]
