"""GUI fixtures: a small 300VW clip imported into a temporary project, and a main window on it
that is closed (threads and processes stopped) after the test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

CLIP_FRAMES = 30
CLIP_STRIDE = 10  # keyframes 0, 10, 20, 29


@pytest.fixture(autouse=True)
def _singleton_refs():
    """PySide6 6.12 on Python 3.11 leaks references to True/None (see app/compat.py)."""
    from app.compat import top_up_singleton_refs

    top_up_singleton_refs()
    yield
    top_up_singleton_refs()


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo import write_fixture_clip

    return write_fixture_clip(tmp_path_factory.mktemp("clip") / "clip001", frames=CLIP_FRAMES,
                              stride=CLIP_STRIDE, size=(320, 240))


@pytest.fixture
def project_path(tmp_path: Path, clip_folder: Path) -> Path:
    from core.formats.vw300 import import_300vw
    from core.store import Project

    path = tmp_path / "gui.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        import_300vw(project, clip_folder)
    return path


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _activate(qtbot, window) -> None:
    from PySide6.QtWidgets import QApplication

    window.show()
    qtbot.waitExposed(window)
    window.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.view.setFocus()


@pytest.fixture
def empty_window(qtbot, settings):
    import threading

    from app.main_window import MainWindow

    baseline = {t.ident for t in threading.enumerate()}
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    _activate(qtbot, window)
    yield window
    window.close()
    # nothing this window started may outlive it: loader thread, jobs, trainer, prefetchers
    assert not window.frames.loader.isRunning()
    assert not window.runner.running and not window.jobs
    qtbot.waitUntil(lambda: {t.ident for t in threading.enumerate()} <= baseline, timeout=3000)


@pytest.fixture
def window(qtbot, empty_window, project_path: Path):
    assert empty_window.open_project(project_path)
    qtbot.waitUntil(lambda: empty_window.view.shown_frame == 0, timeout=5000)
    return empty_window


def wait_frame(qtbot, window, frame: int) -> None:
    """Wait until ``frame`` is painted (decoded off the GUI thread unless cached)."""
    qtbot.waitUntil(lambda: window.view.shown_frame == frame, timeout=5000)


def write_finished_run(window, confidence=None, metrics=None):
    """A finished run that pseudo-labels every frame (frame f: keyframe 0 moved by 0.3 f px),
    written straight to the store (no trainer process) and shown; ``confidence`` (frames, 68)
    defaults to 0.8 everywhere; ``metrics`` are the run's. Returns the points."""
    import numpy as np

    from core.landmarks import N_POINTS
    from core.store.records import STAT_FIELDS, RunResults

    s = window.session
    project, video = s.project, s.video
    base = project.labels.get(video.id, 0).points
    frames = np.arange(CLIP_FRAMES)
    points = np.stack([base + 0.3 * f for f in frames]).astype(np.float32)
    if confidence is None:
        confidence = np.full((CLIP_FRAMES, N_POINTS), 0.8, dtype=np.float32)
    stats = {name: np.linspace(0.1, 0.9, CLIP_FRAMES) for name in STAT_FIELDS}
    stats["face_lost"] = np.zeros(CLIP_FRAMES)  # 0 or 1 in a run: no frame lost here
    run = project.runs.create(video.id, "interpolation")
    project.runs.finish(run.id, "done", results=RunResults(frames, points, confidence, stats),
                        metrics=metrics)
    s.reload_run()
    return points


def show_zoomed(qtbot, window, frame: int, points) -> None:
    """Seek to ``frame``, wait for it, zoom on its face."""
    window.session.seek(frame)
    wait_frame(qtbot, window, frame)
    window.view.zoom_to_points(points[frame])
    qtbot.wait(20)
