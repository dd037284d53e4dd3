"""The doubtful points of a predicted frame are marked (issue 11 §4): the run's per-point
confidence names the points likely wrong (``core.suggest.suspect_points``); only predicted points
are marked, and the status bar counts them."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.landmarks import GROUP_RANGES, N_POINTS
from core.review_states import PLACED
from tests.app.conftest import CLIP_FRAMES, show_zoomed, wait_frame, write_finished_run
from tests.app.test_review_states import _drag_point

FRAME = 5
MOUTH = set(GROUP_RANGES["outer_lips"]) | set(GROUP_RANGES["inner_lips"])


@pytest.fixture
def doubtful_mouth(qtbot, window):
    """A finished run, confident (0.8) everywhere but on the mouth of frame ``FRAME`` (0.02)."""
    confidence = np.full((CLIP_FRAMES, N_POINTS), 0.8, dtype=np.float32)
    confidence[FRAME, sorted(MOUTH)] = 0.02
    points = write_finished_run(window, confidence)
    show_zoomed(qtbot, window, FRAME, points)
    return window


def _marked(window) -> set[int]:
    return {item.index for item in window.view.layer.points if item.doubtful}


def test_the_doubtful_points_are_marked_and_counted(qtbot, doubtful_mouth):
    window = doubtful_mouth
    layer = window.view.layer
    assert set(layer.doubtful.tolist()) == MOUTH == _marked(window)
    assert window.frame_status.states_label.text() == (
        "0 placed · 0 accepted · 68 predicted (20 doubtful)")
    mouth, eye = layer.points[min(MOUTH)], layer.points[GROUP_RANGES["right_eye"][0]]
    assert mouth.boundingRect().width() > eye.boundingRect().width()  # the red ring
    assert "doubtful: check it" in mouth.toolTip()
    assert "doubtful: check it" not in eye.toolTip()

    # a frame the run is sure of has none
    window.session.seek(FRAME + 1)
    wait_frame(qtbot, window, FRAME + 1)
    assert _marked(window) == set() and "doubtful" not in (
        window.frame_status.states_label.text())


def test_a_placed_or_accepted_point_is_never_doubtful(qtbot, doubtful_mouth):
    window = doubtful_mouth
    corner = min(MOUTH)
    _drag_point(qtbot, window, corner)
    qtbot.waitUntil(lambda: window.view.layer.states[corner] == PLACED, timeout=3000)
    assert _marked(window) == MOUTH - {corner}
    assert window.frame_status.states_label.text().endswith("(19 doubtful)")
    qtbot.keyClick(window.view, Qt.Key.Key_A)  # accept the rest
    assert _marked(window) == set()
    assert "doubtful" not in window.frame_status.states_label.text()
