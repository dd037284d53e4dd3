"""Frames marked "no face" in the GUI (issue 12 §1): Shift+N marks and clears the current frame,
a dialog marks or clears a range, every change is one undo step that restores the ranges
exactly, the store's refusals (a labelled frame cannot be marked, a marked frame cannot be
labelled) reach the status bar, and the timeline, frame view and status bar show the marks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from app import absence_controller
from app.detect import Detection
from app.editing import NO_FACE_CAPTION
from core.landmarks import N_POINTS
from core.store.records import STAT_FIELDS, RunResults
from tests.app.conftest import CLIP_FRAMES, wait_frame

FRAME = 5  # no keyframe (keyframes: 0, 10, 20, 29)


def _stored(window) -> list[tuple[int, int]]:
    s = window.session
    return s.project.absences.ranges(s.video.id)


def _press_toggle(qtbot, window) -> None:
    qtbot.keyClick(window.view, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)


def _message(window) -> str:
    return window.statusBar().currentMessage()


@pytest.fixture
def at_frame(qtbot, window):
    window.session.seek(FRAME)
    wait_frame(qtbot, window, FRAME)
    return window


@pytest.fixture
def predicted(qtbot, at_frame):
    """A finished run that pseudo-labels every frame (written straight to the store)."""
    window = at_frame
    s = window.session
    base = s.project.labels.get(s.video.id, 0).points
    frames = np.arange(CLIP_FRAMES)
    points = np.stack([base + 0.3 * f for f in frames]).astype(np.float32)
    confidence = np.full((CLIP_FRAMES, N_POINTS), 0.8, dtype=np.float32)
    stats = {name: np.linspace(0.1, 0.9, CLIP_FRAMES) for name in STAT_FIELDS}
    run = s.project.runs.create(s.video.id, "interpolation")
    s.project.runs.finish(run.id, "done", results=RunResults(frames, points, confidence, stats))
    s.reload_run()
    assert window.view.layer.shown and window.view.layer.kind == "pseudo"
    return window


def test_shift_n_marks_the_current_frame_and_again_clears_it(qtbot, at_frame):
    window = at_frame
    action = window.actions_by_name["toggle_no_face"]
    assert [k.toString() for k in action.shortcuts()] == ["Shift+N"]
    assert action.isEnabled()
    _press_toggle(qtbot, window)
    assert _stored(window) == [(FRAME, FRAME)]
    assert window.session.absent_ranges == [(FRAME, FRAME)] and window.session.is_absent()
    assert window.undo_stack.count() == 1
    assert window.undo_stack.text(0) == f"Mark no face (frame {FRAME + 1})"
    assert window.frame_label.text().endswith("· no face")
    assert window.view.caption == NO_FACE_CAPTION
    assert "Marked 'no face'" in _message(window)
    _press_toggle(qtbot, window)
    assert _stored(window) == [] and window.session.absent_ranges == []
    assert window.undo_stack.count() == 2
    assert "no face" not in window.frame_label.text() and window.view.caption == ""


def test_undo_and_redo_restore_the_ranges_exactly(qtbot, at_frame):
    window = at_frame
    assert window.absences.apply(3, 7, True)
    _press_toggle(qtbot, window)  # frame 5 cleared: the range splits in two
    split = [(3, 4), (6, 7)]
    assert _stored(window) == split
    window.session.seek(15)
    window.undo_stack.undo()
    assert _stored(window) == [(3, 7)] == window.session.absent_ranges
    assert window.session.frame == FRAME  # an undo shows the frame it was made on
    window.undo_stack.undo()
    assert _stored(window) == [] == window.session.absent_ranges
    window.undo_stack.redo()
    assert _stored(window) == [(3, 7)]
    window.undo_stack.redo()
    assert _stored(window) == split == window.session.absent_ranges
    assert window.timeline.strip.absent == split


def test_marking_a_labelled_frame_is_refused_in_the_status_bar(qtbot, window, monkeypatch):
    window.session.seek(10)  # a keyframe
    wait_frame(qtbot, window, 10)
    _press_toggle(qtbot, window)
    assert _stored(window) == [] and window.undo_stack.count() == 0
    assert "hold labels" in _message(window) and "delete those labels first" in _message(window)
    assert window.view.caption == "" and window.view.layer.shown
    assert window.timeline.strip.absent == []

    def refuse_range(dialog) -> int:  # frames 8–12 hold keyframe 11 (index 10)
        dialog.first_spin.setValue(8)
        dialog.last_spin.setValue(12)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(absence_controller.RangeDialog, "exec", refuse_range)
    window.actions_by_name["mark_no_face"].trigger()
    assert _stored(window) == [] and window.undo_stack.count() == 0
    assert "frame(s) 11 hold labels" in _message(window)


def test_the_range_dialog_marks_and_clears_in_frame_numbers(qtbot, at_frame, monkeypatch):
    window = at_frame
    answers = iter([(2, 9, False), (4, 5, True)])  # 1-based numbers, clear?

    def answer(dialog) -> int:
        first, last, clear = next(answers)
        assert dialog.first_spin.value() == FRAME + 1  # it starts on the current frame
        dialog.first_spin.setValue(first)
        dialog.last_spin.setValue(last)
        dialog.clear_box.setChecked(clear)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(absence_controller.RangeDialog, "exec", answer)
    action = window.actions_by_name["mark_no_face"]
    action.trigger()
    assert _stored(window) == [(1, 8)]
    action.trigger()
    assert _stored(window) == [(1, 2), (5, 8)]
    assert window.undo_stack.text(1) == "Clear no face (frames 4–5)"
    window.undo_stack.undo()
    assert _stored(window) == [(1, 8)]


def test_labelling_a_no_face_frame_is_refused_with_the_stores_message(qtbot, predicted):
    window = predicted
    _press_toggle(qtbot, window)
    assert window.session.is_absent()
    assert not window.view.layer.shown  # the pseudo-label's points are hidden there
    assert window.frame_status.states_label.text() == ""
    for key in (Qt.Key.Key_A, Qt.Key.Key_T, Qt.Key.Key_K):
        window.statusBar().clearMessage()
        qtbot.keyClick(window.view, key)
        assert "marked 'no face'" in _message(window), key
        assert "clear the mark before labelling" in _message(window), key
        assert window.session.annotation() is None and FRAME not in window.session.keyframes
        assert window.undo_stack.count() == 1  # only the mark
        assert not window.view.layer.shown
    _press_toggle(qtbot, window)  # cleared: the points are back and A labels the frame
    assert window.view.layer.shown and window.view.layer.kind == "pseudo"
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    assert window.session.annotation() is not None


def test_a_detection_arriving_on_a_no_face_frame_is_refused(qtbot, at_frame):
    window = at_frame
    assert window.absences.apply(FRAME, FRAME, True)
    points = window.session.project.labels.get(window.session.video.id, 0).points
    window.detector._project_path = window.session.project_path
    window.detector._succeeded(Detection(window.session.video.id, FRAME, points, 0.9))
    assert window.session.annotation() is None and window.undo_stack.count() == 1
    assert "marked 'no face'" in _message(window) and "Detected" not in _message(window)


def test_the_timeline_shades_and_names_the_no_face_frames(qtbot, at_frame):
    window = at_frame
    strip = window.timeline.strip
    assert window.absences.apply(12, 17, True)
    assert strip.absent == [(12, 17)]
    tip = strip.tooltip_at((14 + 0.5) * strip.width() / strip.frame_count)
    assert tip.startswith("frame 15 · no face (marked)")
    other = strip.tooltip_at((FRAME + 0.5) * strip.width() / strip.frame_count)
    assert other.splitlines()[0] == f"frame {FRAME + 1}"
    image = strip.grab().toImage()
    y = strip.height() // 2
    shaded = {image.pixelColor(int((f + 0.5) * strip.width() / strip.frame_count), y).name()
              for f in range(13, 17)}
    plain = image.pixelColor(int((25 + 0.5) * strip.width() / strip.frame_count), y).name()
    assert plain not in shaded
    window.session.set_video(window.session.video.id)  # reloaded with the video
    assert window.session.absent_ranges == [(12, 17)] and strip.absent == [(12, 17)]



def test_suggestions_leave_no_face_frames_out_and_ask_for_a_keyframe(qtbot, predicted):
    window = predicted
    before = window.suggestions.frames()
    assert before  # the run's statistics rank some frames
    assert window.absences.apply(before[0], before[0], True)
    assert before[0] not in window.suggestions.frames()
    # frames 13..17 (numbered 14..18) between two no-face frames hold no keyframe
    assert window.absences.apply(12, 12, True) and window.absences.apply(18, 18, True)
    first = window.suggestions.model.suggestions[0]
    assert first.frame == 15 and first.reason == "no keyframe in frames 14–18: label one"
