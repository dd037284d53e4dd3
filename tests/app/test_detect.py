"""The Detect action: dlib pre-labels the current frame off the GUI thread as one undoable edit;
it is hidden when dlib (or its model) is missing."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.formats.pts import read_pts
from core.landmarks import inter_ocular_distance
from tests.app.conftest import wait_frame


def _detect_frame(qtbot, window, frame: int) -> None:
    window.session.seek(frame)
    wait_frame(qtbot, window, frame)
    with qtbot.waitSignal(window.detector.detected, timeout=30_000):
        qtbot.keyClick(window.view, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: window.detector.worker is None and not window.jobs, timeout=5000)
    # the job's progress dialog (shown when dlib loads slowly) was window-modal: give the
    # keyboard back to the main window, as a window manager does when a modal dialog closes
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.view.setFocus()


def test_detect_prelabels_frame_with_dlib_and_undo(qtbot, window, clip_folder):
    from core.propagation import dlib_available

    available, reason = dlib_available()
    if not available:
        pytest.skip(reason)
    s = window.session
    assert window.actions_by_name["detect"].isVisible()
    _detect_frame(qtbot, window, 12)
    labels = s.project.labels
    detected = labels.get(s.video.id, 12)
    assert detected is not None and detected.source == "detector"
    assert window.undo_stack.count() == 1
    assert window.undo_stack.text(0) == "Detect face (frame 13)"  # index 12, 1-based on screen
    assert 12 in s.keyframes and window.view.layer.kind == "manual"
    truth = read_pts(clip_folder / "gt" / "000013.pts")  # 300VW files count from 1
    error = np.linalg.norm(detected.points - truth, axis=1).mean()
    assert error < 0.5 * inter_ocular_distance(truth)  # a usable start for the annotator
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels.get(s.video.id, 12) is None and 12 not in s.keyframes
    # a frame where dlib finds no face: the message is shown, nothing is written
    s.seek(3)
    wait_frame(qtbot, window, 3)
    qtbot.keyClick(window.view, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: "no face" in window.last_error, timeout=30_000)
    qtbot.waitUntil(lambda: window.detector.worker is None, timeout=5000)
    assert labels.get(s.video.id, 3) is None and window.undo_stack.index() == 0


def test_detect_goes_through_the_job_and_one_command(qtbot, window, monkeypatch):
    """The same path with dlib replaced, so it runs where the extra is not installed."""
    from core import propagation

    s = window.session
    shape = s.project.labels.get(s.video.id, 0).points + 5.0
    calls = []

    def fake_detect(frame, n_frames, **_kwargs):
        image = frame(0)
        calls.append((image.shape, n_frames))
        return propagation.Propagation(shape[None], np.full((1, 68), 0.8, np.float32), "dlib")

    monkeypatch.setattr(propagation, "dlib_detect", fake_detect)
    window.detector.available = True
    window.actions_by_name["detect"].setVisible(True)  # hidden at start where dlib is absent
    _detect_frame(qtbot, window, 7)
    assert calls == [((240, 320, 3), 1)]  # one decoded frame of the clip
    stored = s.project.labels.get(s.video.id, 7)
    assert np.allclose(stored.points, shape) and stored.source == "detector"
    assert "confidence 0.80" in window.statusBar().currentMessage()
    window.undo_stack.undo()
    assert s.project.labels.get(s.video.id, 7) is None
    window.undo_stack.redo()
    assert np.allclose(s.project.labels.get(s.video.id, 7).points, shape)


def test_detect_hidden_without_dlib(qtbot, settings, monkeypatch):
    from app.main_window import MainWindow
    from core import propagation

    monkeypatch.setattr(propagation, "dlib_available", lambda: (False, "dlib is not installed."))
    window = MainWindow(settings)
    qtbot.addWidget(window)
    try:
        action = window.actions_by_name["detect"]
        assert not action.isVisible()
        assert action not in [a for a in window.toolbar.actions() if a.isVisible()]
        window.show_shortcuts()
        dialog = window.shortcuts_dialog
        names = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
        assert "Detect face (dlib)" not in names and "Propagate" in names
        dialog.close()
        window.detector.detect()  # even if triggered some other way: a message, no job
        assert not window.jobs and "not installed" in window.statusBar().currentMessage()
    finally:
        window.close()
