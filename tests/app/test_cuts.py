"""Shot cuts in the GUI (issue 12 §2): Shift+C adds a cut at the current frame and again removes
it, every change is one undo step that restores the cuts exactly, frame 1 is refused in the
status bar, the timeline draws and names the cuts, the status bar says "new shot", the
suggestions never reach across a cut, and a shot change found while tracking is suggested
until it is one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.shortcuts import find_conflict
from app.timeline import CUT_COLOUR
from tests.app.conftest import wait_frame, write_finished_run

FRAME = 15  # no keyframe (keyframes: 0, 10, 20, 29)


def _stored(window) -> list[int]:
    s = window.session
    return s.project.cuts.frames(s.video.id)


def _press_toggle(qtbot, window) -> None:
    qtbot.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)


def _message(window) -> str:
    return window.statusBar().currentMessage()


def _x(strip, frame: float) -> float:
    return frame * strip.width() / strip.frame_count


@pytest.fixture
def at_frame(qtbot, window):
    assert _stored(window) == []  # the fixture clip has a single shot
    window.session.seek(FRAME)
    wait_frame(qtbot, window, FRAME)
    return window


@pytest.fixture
def predicted(at_frame):
    write_finished_run(at_frame)
    return at_frame


def test_shift_c_adds_a_cut_at_the_current_frame_and_again_removes_it(qtbot, at_frame):
    window = at_frame
    action = window.actions_by_name["toggle_cut"]
    assert [k.toString() for k in action.shortcuts()] == ["Shift+C"]
    assert find_conflict(window.actions_by_name, "toggle_cut", action.shortcuts()) is None
    assert action.isEnabled() and not action.icon().isNull()
    _press_toggle(qtbot, window)
    assert _stored(window) == [FRAME] == window.session.cut_frames
    assert window.session.is_cut()
    assert window.undo_stack.count() == 1
    assert window.undo_stack.text(0) == f"Add shot cut (frame {FRAME + 1})"
    assert window.frame_label.text().endswith("· new shot")
    assert "Shot cut added" in _message(window)
    assert window.timeline.strip.cuts == [FRAME]
    _press_toggle(qtbot, window)
    assert _stored(window) == [] == window.session.cut_frames
    assert window.undo_stack.count() == 2
    assert window.undo_stack.text(1) == f"Remove shot cut (frame {FRAME + 1})"
    assert "new shot" not in window.frame_label.text()
    assert window.timeline.strip.cuts == []


def test_undo_and_redo_restore_the_cuts_exactly(qtbot, at_frame):
    window = at_frame
    s = window.session
    s.replace_cuts(s.video.id, [4, 25])  # e.g. found when the video was added
    assert window.cuts.apply(8, True) and window.cuts.apply(FRAME, True)
    window.session.seek(25)
    wait_frame(qtbot, window, 25)
    _press_toggle(qtbot, window)  # removes the detected cut at 25
    final = [4, 8, FRAME]
    assert _stored(window) == final
    window.undo_stack.undo()
    assert _stored(window) == [4, 8, FRAME, 25] == s.cut_frames
    window.undo_stack.undo()
    assert _stored(window) == [4, 8, 25]
    assert s.frame == FRAME  # an undo shows the frame it was made on
    window.undo_stack.undo()
    assert _stored(window) == [4, 25] == s.cut_frames
    assert window.timeline.strip.cuts == [4, 25]
    for _ in range(3):
        window.undo_stack.redo()
    assert _stored(window) == final == s.cut_frames == window.timeline.strip.cuts
    assert s.frame == 25


def test_a_cut_at_frame_1_is_refused_in_the_status_bar(qtbot, window):
    assert window.session.frame == 0
    _press_toggle(qtbot, window)
    assert _stored(window) == [] and window.undo_stack.count() == 0
    assert "a cut at frame 1 means nothing" in _message(window)
    assert QApplication.activeModalWidget() is None  # no dialog
    assert window.timeline.strip.cuts == [] and "new shot" not in window.frame_label.text()


def test_the_timeline_draws_and_names_the_cuts(qtbot, at_frame):
    window = at_frame
    strip = window.timeline.strip
    assert window.cuts.apply(12, True)
    assert strip.cuts == [12]
    tip = strip.tooltip_at(_x(strip, 12) + 1)
    assert tip.splitlines()[0] == "frame 13 · shot cut (frame 13)"
    before = strip.tooltip_at(_x(strip, 12) - 1)  # the last frame of the shot before
    assert before.startswith("frame 12 · shot cut (frame 13)")
    far = strip.tooltip_at(_x(strip, 6.5))
    assert far.splitlines()[0] == "frame 7" and "shot cut" in far.splitlines()[-1]  # legend
    image = strip.grab().toImage()
    x = strip._cut_x(12)
    assert image.pixelColor(x, strip.height() // 2) == CUT_COLOUR
    assert image.pixelColor(x, 1) == CUT_COLOUR  # the notch at the top
    assert image.pixelColor(x - 3, 1) == CUT_COLOUR
    assert image.pixelColor(int(_x(strip, 6.5)), strip.height() // 2) != CUT_COLOUR
    window.session.set_video(window.session.video.id)  # reloaded with the video
    assert window.session.cut_frames == [12] and strip.cuts == [12]


def test_suggestions_respect_the_cuts(qtbot, predicted):
    window = predicted
    before = window.suggestions.model.suggestions
    assert before and all(s.reason != "no keyframe in frames 13–18: label one" for s in before)
    # frames 12..17 (numbered 13..18) between two cuts hold no keyframe: a shot to label first
    assert window.cuts.apply(12, True) and window.cuts.apply(18, True)
    after = window.suggestions.model.suggestions
    assert after[0].frame == 14 and after[0].reason == "no keyframe in frames 13–18: label one"
    for suggestion in after:
        first, last = suggestion.reach
        assert not any(first < cut <= last for cut in (12, 18)), suggestion
    assert 14 in window.timeline.strip.suggested.tolist()
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert window.suggestions.model.suggestions == before


def test_a_shot_change_found_while_tracking_is_suggested_until_it_is_a_cut(qtbot, at_frame):
    window = at_frame
    write_finished_run(window, metrics={"transitions": [FRAME]})
    first = window.suggestions.model.suggestions[0]
    assert (first.frame, first.reason) == (FRAME, "shot change? (Shift+C)")
    assert first.reach == (10, 20)  # the keyframe gap it splits
    assert window.run_label.text().endswith(f"shot change? {FRAME + 1}")
    _press_toggle(qtbot, window)  # the person agrees: a cut at the current frame
    assert _stored(window) == [FRAME]
    assert all(s.frame != FRAME or not s.reason.startswith("shot change")
               for s in window.suggestions.model.suggestions)
