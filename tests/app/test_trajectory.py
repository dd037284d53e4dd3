"""The trajectory plot of the selected points (keyframes and the latest run's pseudo-labels, the
current frame, click to seek) and the video list's reviewed count."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from core.landmarks import N_POINTS
from tests.app.conftest import CLIP_FRAMES, wait_frame
from tests.app.test_group_transform import RIGHT_EYE, _click, _edge_midpoint, _zoom_to_eyes


@pytest.fixture
def with_run(window):
    """A finished run written straight through the run service: frame f = keyframe 0 + (f, 2f)."""
    s = window.session
    runs = s.project.runs
    base = s.project.labels.get(s.video.id, 0).points
    frames = np.arange(CLIP_FRAMES)
    points = base[None] + np.stack([frames, 2 * frames], axis=1)[:, None, :].astype(np.float32)
    run = runs.create(s.video.id, "interpolation")
    runs.write_pseudo_labels(run.id, frames, points, np.ones((CLIP_FRAMES, N_POINTS)))
    runs.write_frame_stats(run.id, frames, {"jitter": np.zeros(CLIP_FRAMES),
                                            "confidence": np.ones(CLIP_FRAMES)})
    runs.finish(run.id, "done")
    s.reload_run()
    return window, points


def _show_trajectories(qtbot, window):
    window.timeline.tabs.setCurrentWidget(window.trajectory)
    qtbot.waitUntil(window.trajectory.isVisible, timeout=2000)
    return window.trajectory.plot


def test_trajectory_plot_follows_selection_and_edits_and_seeks(qtbot, with_run):
    window, pseudo = with_run
    s = window.session
    plot = _show_trajectories(qtbot, window)
    assert plot.indices == [] and "Select points" in window.trajectory.caption.text()
    _zoom_to_eyes(qtbot, window)
    _click(window.view, _edge_midpoint(window, 37, 38))  # select the right eye
    qtbot.waitUntil(lambda: plot.indices == RIGHT_EYE, timeout=2000)
    x, y = plot.tracks["x"][0].getData()
    assert np.array_equal(x, np.arange(CLIP_FRAMES)) and np.allclose(y, pseudo[:, 36, 0])
    x, y = plot.tracks["y"][5].getData()
    assert np.allclose(y, pseudo[:, 41, 1])
    kx, ky = plot.keys["y"][0].getData()
    keyframes = s.project.labels.all(s.video.id)
    assert kx.tolist() == [0, 10, 20, 29]
    assert np.allclose(ky, [keyframes[f].points[36, 1] for f in (0, 10, 20, 29)])
    unused = plot.tracks["x"][len(RIGHT_EYE)].getData()[0]
    assert unused is None or len(unused) == 0  # tracks beyond the selection are empty
    assert "run" in window.trajectory.caption.text()

    # an edit shows at once: accept the pseudo-label of frame 4, a new keyframe dot
    s.seek(4)
    wait_frame(qtbot, window, 4)
    assert plot.lines[0].value() == 4
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: plot.keys["x"][0].getData()[0].tolist() == [0, 4, 10, 20, 29],
                    timeout=2000)

    # a click in the plot seeks there
    target = plot.x_plot.vb.mapViewToScene(QPointF(17, float(np.mean(pseudo[:, 36, 0]))))
    pos = plot.mapFromScene(target)
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, QPoint(pos.x(), pos.y()))
    qtbot.waitUntil(lambda: s.frame == 17, timeout=2000)
    wait_frame(qtbot, window, 17)
    assert plot.lines[1].value() == 17


def test_video_list_counts_reviewed_frames(qtbot, with_run):
    window, _pseudo = with_run
    s = window.session
    videos = window.video_list.videos
    header = [videos.headerData(c, Qt.Orientation.Horizontal)
              for c in range(videos.columnCount())]
    assert header == ["Video", "Frames", "Keys", "Pseudo", "Reviewed"]
    reviewed = header.index("Reviewed")
    # every point of the 4 imported keyframes was placed by a person: all reviewed
    assert videos.text(0, reviewed) == "4"
    s.seek(4)
    wait_frame(qtbot, window, 4)
    qtbot.keyClick(window.view, Qt.Key.Key_A)  # accept the pseudo-label: reviewed
    assert videos.text(0, reviewed) == "5"
    s.seek(5)
    wait_frame(qtbot, window, 5)
    window.view.layer.points[RIGHT_EYE[0]].setSelected(True)
    window.view.layer.points[RIGHT_EYE[1]].setSelected(True)
    qtbot.keyClick(window.view, Qt.Key.Key_Equal)  # two points placed, 66 still predicted
    assert s.keyframes[5] == "corrected"
    assert videos.text(0, reviewed) == "5 (+1 partly)"
    assert videos.text(0, 2) == "6"
    window.undo_stack.undo()
    assert videos.text(0, reviewed) == "5"
