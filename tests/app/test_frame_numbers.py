"""One frame number everywhere: after a seek to index k, every panel a person reads names frame
k + 1 (1-based, like 300VW's ``000001.pts``), while seeks and storage stay 0-based."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from core.frame_numbers import frame_number
from core.landmarks import N_POINTS
from tests.app.conftest import CLIP_FRAMES, wait_frame

K = 26  # a 0-based index; a person reads "frame 27"


def _named(text: str) -> int | None:
    """The frame number a text names: "frame 27 / 30 ..." or a bare "27" → 27."""
    match = re.search(r"\bframe (\d+)\b", text) or re.fullmatch(r"\s*(\d+)\s*", text)
    return int(match.group(1)) if match else None


@pytest.fixture
def reviewed(window):
    """A finished run written through the run service whose top suggestion is frame index K."""
    s = window.session
    runs = s.project.runs
    frames = np.arange(CLIP_FRAMES)
    base = s.project.labels.get(s.video.id, 0).points
    points = np.repeat(base[None], CLIP_FRAMES, axis=0).astype(np.float32)
    score = np.zeros(CLIP_FRAMES)
    score[[K, 15, 5]] = [9.0, 4.0, 2.0]
    confidence = np.ones(CLIP_FRAMES)
    confidence[K] = 0.3
    run = runs.create(s.video.id, "interpolation")
    runs.write_pseudo_labels(run.id, frames, points, np.ones((CLIP_FRAMES, N_POINTS)))
    runs.write_frame_stats(run.id, frames, {"jitter": np.zeros(CLIP_FRAMES),
                                            "confidence": confidence,
                                            "suggestion_score": score})
    runs.finish(run.id, "done")
    s.reload_run()
    assert window.suggestions.frames()[0] == K
    return window


def _strip_tooltip(strip, frame: int) -> str:
    """Hover the timeline strip over ``frame``'s columns and read the tooltip shown."""
    pos = QPoint(int((frame + 0.5) * strip.width() / strip.frame_count), strip.height() // 2)
    assert strip.frame_at(pos.x()) == frame  # where a click there would seek
    QApplication.sendEvent(strip, QHelpEvent(QEvent.Type.ToolTip, pos, strip.mapToGlobal(pos)))
    text = QToolTip.text()
    QToolTip.hideText()
    return text


def _detect_here(qtbot, window, monkeypatch) -> list[str]:
    """Detect (dlib replaced by a fixed shape) on the current frame; the job titles shown."""
    from core import propagation

    s = window.session
    shape = s.project.labels.get(s.video.id, 0).points + 3.0

    def fake_detect(frame, n_frames, **_kwargs):
        frame(0)
        return propagation.Propagation(shape[None], np.full((1, 68), 0.8, np.float32), "dlib")

    monkeypatch.setattr(propagation, "dlib_detect", fake_detect)
    titles: list[str] = []
    run_job = window.detector._run_job

    def recording_run_job(title, job, **kwargs):
        titles.append(title)
        return run_job(title, job, **kwargs)

    monkeypatch.setattr(window.detector, "_run_job", recording_run_job)
    window.detector.available = True
    with qtbot.waitSignal(window.detector.detected, timeout=30_000):
        window.detector.detect()
    qtbot.waitUntil(lambda: window.detector.worker is None and not window.jobs, timeout=5000)
    return titles


def test_every_panel_names_the_same_frame_number(qtbot, reviewed, monkeypatch):
    window = reviewed
    s = window.session
    s.seek(K)
    wait_frame(qtbot, window, K)
    stats_plot, trajectory_plot = window.timeline.plot, window.trajectory.plot
    selected = window.suggestions.table.selectionModel().selectedRows(0)
    assert len(selected) == 1
    texts = {
        "status bar": window.frame_label.text(),
        "suggestions table": selected[0].data(),
        "timeline tooltip": _strip_tooltip(window.timeline.strip, K),
        "stats plot cursor": stats_plot.cursor_label.toPlainText(),
        "stats plot axis at cursor": stats_plot.bottom.getAxis("bottom").tickStrings(
            [stats_plot.lines[1].value()], 1.0, 1.0)[0],
        "trajectory plot cursor": trajectory_plot.cursor_label.toPlainText(),
    }
    # an edit on this frame (Detect): its history entry, job title and message
    titles = _detect_here(qtbot, window, monkeypatch)
    texts |= {
        "undo stack": window.undo_stack.text(0),
        "history view": window.history.model().index(1, 0).data(),
        "detect job title": titles[0],
        "status-bar message": window.statusBar().currentMessage(),
        "status bar after edit": window.frame_label.text(),
    }
    assert {panel: _named(text) for panel, text in texts.items()} \
        == dict.fromkeys(texts, frame_number(K)), texts
    # inside, frames stay 0-based
    assert s.frame == K and K in s.keyframes
    assert stats_plot.lines[0].value() == K == trajectory_plot.lines[0].value()
    assert s.project.labels.get(s.video.id, K).source == "detector"


def test_suggestion_frames_sort_as_numbers(reviewed):
    model = reviewed.suggestions.model
    numbers = [model.index(row, 0).data(model.SORT_ROLE) for row in range(model.rowCount())]
    assert numbers == [frame_number(f) for f in reviewed.suggestions.frames()]
    assert all(isinstance(n, int) for n in numbers)
    # activating a row seeks to the 0-based index behind the number shown
    row = 1
    reviewed.suggestions._activated(model.index(row, 0))
    assert reviewed.session.frame == reviewed.suggestions.frames()[row]
    assert model.index(row, 0).data() == str(reviewed.session.frame + 1)


def test_frame_axis_ticks_on_round_frame_numbers(window):
    axis = window.timeline.plot.bottom.getAxis("bottom")
    levels = axis.tickValues(0, CLIP_FRAMES - 1, 600)
    spacing, values = levels[0]
    labels = axis.tickStrings(values, 1.0, spacing)
    assert labels and all(int(label) % int(spacing) == 0 for label in labels)
    assert [int(label) for label in labels] == [frame_number(int(v)) for v in values]
    # zoomed in to a few frames: no ticks between frames
    for _spacing, values in axis.tickValues(10, 12, 600):
        assert all(float(v).is_integer() for v in values)


def test_accept_text_names_the_frame_shown(qtbot, reviewed):
    window = reviewed
    window.session.seek(K)
    wait_frame(qtbot, window, K)
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    assert window.undo_stack.text(0) == f"Accept pseudo-label (frame {K + 1})"
    assert window.frame_label.text().startswith(f"frame {K + 1} / {CLIP_FRAMES}")
