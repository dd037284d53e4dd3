"""Propagation through the real trainer CLI in a QProcess, review of suggestions, failures that
leave the project as it was, and export + re-import through the jobs the dialogs run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.jobs import export_300vw_job
from core.formats.pts import read_pts
from core.formats.vw300 import import_300vw
from core.review_states import PLACED, PREDICTED
from core.store import FrameStats, Project
from tests.app.conftest import CLIP_FRAMES, wait_frame


def _propagate(qtbot, window, method: str = "interpolation") -> tuple[str, str]:
    window.method = method
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as blocker:
        qtbot.keyClick(window.view, Qt.Key.Key_P)
        assert window.runner.running
        assert window.run_panel.isVisible()
    return tuple(blocker.args)


@pytest.fixture
def propagated(qtbot, window):
    outcome, message = _propagate(qtbot, window)
    assert (outcome, message) == ("done", "")
    return window


def test_propagate_shows_pseudo_labels_and_stats(qtbot, propagated):
    window = propagated
    s = window.session
    assert s.run is not None and s.run.method == "interpolation" and s.run.status == "done"
    assert len(s.pseudo.frames) == CLIP_FRAMES
    assert not window.run_panel.isVisible() and not window.runner.running
    assert window.actions_by_name["propagate"].isEnabled()
    assert "done" in window.run_label.text() and "device" in window.device_label.text()
    # the timeline and plot draw the run's arrays
    assert len(window.timeline.strip.pseudo) == CLIP_FRAMES
    x, y = window.timeline.plot.jitter_plot.curve.getData()
    assert len(x) == CLIP_FRAMES and np.allclose(y, s.stats["jitter"])
    # a frame without keyframe now shows the pseudo-label, hollow
    s.seek(4)
    wait_frame(qtbot, window, 4)
    layer = window.view.layer
    assert layer.shown and layer.kind == "pseudo"
    assert np.allclose(layer.positions(), s.pseudo.for_frame(4)[0], atol=1e-3)
    # O hides the overlay, O again shows it
    qtbot.keyClick(window.view, Qt.Key.Key_O)
    assert not layer.shown
    qtbot.keyClick(window.view, Qt.Key.Key_O)
    assert layer.shown
    assert window.video_list.videos.text(0, 3) == str(CLIP_FRAMES)


def test_follow_suggestion_and_accept_removes_it(qtbot, propagated):
    window = propagated
    s = window.session
    suggested = window.suggestions.frames()
    assert suggested and not set(suggested) & set(s.keyframes)
    qtbot.keyClick(window.view, Qt.Key.Key_N)
    top = suggested[0]
    assert s.frame == top
    wait_frame(qtbot, window, top)
    qtbot.keyClick(window.view, Qt.Key.Key_A)  # accept the pseudo-label as a keyframe
    annotation = s.project.labels.get(s.video.id, top)
    assert annotation is not None and annotation.source == "accepted"
    assert top not in window.suggestions.frames()
    assert top in window.timeline.strip.corrected.tolist()
    window.undo_stack.undo()
    assert s.project.labels.get(s.video.id, top) is None
    assert top in window.suggestions.frames()
    # double-clicking a row seeks there
    row = 1 if len(window.suggestions.frames()) > 1 else 0
    window.suggestions._activated(window.suggestions.model.index(row, 0))
    assert s.frame == window.suggestions.frames()[row]


def test_dragging_a_pseudo_point_makes_a_corrected_keyframe(qtbot, propagated):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    window = propagated
    s = window.session
    s.seek(7)
    wait_frame(qtbot, window, 7)
    view = window.view
    view.zoom_to_points(s.pseudo.for_frame(7)[0])
    qtbot.wait(20)
    start = view.mapFromScene(view.layer.points[8].scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     start)
    QTest.mouseMove(view.viewport(), start + QPoint(10, 0))
    QTest.mouseMove(view.viewport(), start + QPoint(20, 0))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, start + QPoint(20, 0))
    annotation = s.project.labels.get(s.video.id, 7)
    assert annotation is not None and annotation.source == "corrected"
    pseudo = s.pseudo.for_frame(7)[0]
    shift = np.linalg.norm(annotation.points - pseudo, axis=1)
    # the chin is placed; the points that followed it (the jaw most) stay predicted
    assert shift[8] > 5 and np.delete(shift, 8).max() < shift[8]
    assert annotation.states[8] == PLACED and (np.delete(annotation.states, 8) == PREDICTED).all()
    assert view.layer.kind == "manual"


def test_failed_propagation_reports_and_leaves_project(qtbot, window):
    s = window.session
    before = s.project.labels.frames(s.video.id)
    outcome, message = _propagate(qtbot, window, method="no-such-method")
    assert outcome == "failed"
    assert "no-such-method" in message and "no-such-method" in window.last_error
    assert s.run is None and s.project.runs.all() == []
    assert s.project.labels.frames(s.video.id) == before
    assert not window.runner.running


def test_cancel_mid_training_ends_that_run_by_id_and_earlier_results_stay(qtbot, propagated):
    window = propagated
    s = window.session
    first_run = s.run.id
    window.method = "final"
    phases: list[str] = []
    window.runner.progressed.connect(lambda phase, *_: phases.append(phase))
    with qtbot.waitSignal(window.runner.run_created, timeout=60_000) as created:
        window.propagate()
    run_id = created.args[0]
    assert s.project.runs.get(run_id).status == "running"
    qtbot.waitUntil(lambda: "train" in phases, timeout=120_000)
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as finished:
        window.runner.cancel()
    assert finished.args[0] == "cancelled"
    cancelled = s.project.runs.get(run_id)
    assert (cancelled.status, cancelled.message) == ("cancelled", "cancelled by the user")
    assert s.run.id == first_run  # the killed run never becomes "latest"
    assert all(r.status != "running" for r in s.project.runs.all())


def test_export_job_writes_every_frame_and_reimports(qtbot, propagated, tmp_path: Path):
    window = propagated
    s = window.session
    target = tmp_path / "export"
    with qtbot.waitSignal(window.job_succeeded, timeout=30_000) as blocker:
        window.run_job("Exporting…", export_300vw_job(target), refresh=False)
    clips = blocker.args[0]
    assert len(clips) == 1 and clips[0].frames == CLIP_FRAMES
    qtbot.waitUntil(lambda: not window.jobs, timeout=5000)
    clip = clips[0].folder
    assert len(list((clip / "annot").glob("*.pts"))) == CLIP_FRAMES
    assert (clip / "provenance.csv").is_file()
    # keyframe 10 exported as labelled (+1 on disk is handled by read_pts/write_pts)
    keyframe = s.project.labels.get(s.video.id, 10).points
    assert np.allclose(read_pts(clip / "annot" / "000011.pts"), keyframe, atol=1e-3)
    with Project.create_or_open(tmp_path / "again.faceprop.sqlite") as again:
        imported = import_300vw(again, clip)
        assert imported[0].keyframes == CLIP_FRAMES
        assert np.allclose(again.labels.get(imported[0].video_id, 10).points, keyframe,
                           atol=1e-3)


def test_rank_suggestions_reasons_and_gap():
    from app.suggestions import rank_suggestions

    frames = np.arange(10)
    jitter = np.zeros(10)
    jitter[3] = 5.0
    confidence = np.ones(10)
    confidence[7] = 0.2
    score = np.zeros(10)
    score[[3, 4, 7]] = [9.0, 8.0, 6.0]
    stats = FrameStats(run_id=1, frames=frames, values={
        "jitter": jitter, "confidence": confidence, "suggestion_score": score})
    ranked = rank_suggestions(stats, {0: "manual"})
    # the review queue: correcting frame 4 removes most of the error of both 3 and 4 (and part
    # of 7's); its re-solve reaches frame 7, so the next pick lies past it, at 8, where the
    # error it removes is frame 7's low confidence
    assert [(r.frame, r.reason) for r in ranked] == [(4, "jitter"), (8, "low confidence")]
    assert rank_suggestions(stats, {3: "manual"}, min_gap=1)[0].frame == 4
    assert rank_suggestions(None, {}) == []


def test_tsal_propagate_shows_losses_and_stop_keeps_results(qtbot, window):
    """The default TSAL method through the real CLI: losses appear in the run panel, and Stop
    (SIGTERM) during training ends with the results so far shown and a resumable checkpoint."""
    window.method = "final"
    seen_training: list[dict] = []
    window.runner.losses_reported.connect(seen_training.append)
    with qtbot.waitSignal(window.runner.run_finished, timeout=240_000) as blocker:
        qtbot.keyClick(window.view, Qt.Key.Key_P)
        qtbot.waitUntil(lambda: bool(seen_training), timeout=200_000)
        assert window.run_panel.losses.text().startswith("loss t ")
        window.run_panel.stop_button.click()
    outcome, message = blocker.args
    assert outcome == "stopped" and "results so far kept" in message
    project = window.session.project
    run = project.runs.all()[-1]
    assert run.method == "final" and run.status == "stopped"
    assert Path(run.checkpoint_path).name == "resume.pt"
    assert window.session.run is not None and window.session.run.id == run.id
    assert len(project.runs.pseudo_labels(run.id).frames) == CLIP_FRAMES
