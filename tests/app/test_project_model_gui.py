"""Run › Train project model and Edit › Predict keyframe: both run in a trainer process, the
prediction lands as one undoable edit with every point predicted."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from core.review_states import PREDICTED
from tests.app.conftest import wait_frame


def test_train_then_predict_a_keyframe_and_undo(qtbot, window) -> None:
    s = window.session
    messages: list[str] = []
    window.model.message.connect(messages.append)
    # before any training: a clear message, nothing written
    s.seek(5)
    wait_frame(qtbot, window, 5)
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.model.running, timeout=60_000)
    assert any("no project model yet" in m for m in messages)
    assert s.project.labels.get(s.video.id, 5) is None
    window.actions_by_name["train_model"].trigger()
    assert window.model.running
    qtbot.waitUntil(lambda: not window.model.running, timeout=240_000)
    assert any("Project model trained on 4 keyframes" in m for m in messages), messages
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.model.running, timeout=60_000)
    label = s.project.labels.get(s.video.id, 5)
    assert label is not None and label.source == "detector", messages
    assert np.all(label.states == PREDICTED) and 5 in s.keyframes
    assert window.undo_stack.text(window.undo_stack.index() - 1) == "Predict keyframe (frame 6)"
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert s.project.labels.get(s.video.id, 5) is None
