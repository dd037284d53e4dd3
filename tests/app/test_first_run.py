"""First run: the welcome view (new, open, demo, recent projects with missing ones marked), the
canvas hint that follows the state, video files dropped on the window (with and without an open
project), and the demo project built from the GUI that is never remembered and is removed when
the window closes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.demo import DEMO_PREFIX, create_demo_project
from app.welcome import MISSING_NOTE, canvas_hint


def _mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _drop(widget, mime: QMimeData) -> bool:
    """Drag ``mime`` over ``widget`` and drop it there; returns whether the drag was accepted."""
    pos = QPointF(widget.rect().center())
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def _save_dialog(monkeypatch, target: Path) -> list[tuple]:
    """QFileDialog.getSaveFileName answers ``target``; returns the calls' arguments."""
    calls: list[tuple] = []

    def fake(*args, **_kwargs):
        calls.append(args)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake)
    return calls


@pytest.fixture
def recent_settings(settings, project_path: Path, tmp_path: Path):
    """Settings that remember the fixture project and one that was deleted since."""
    gone = tmp_path / "deleted.faceprop.sqlite"
    settings.setValue("projects/recent", [str(project_path), str(gone)])
    return settings


def test_welcome_lists_recent_projects_with_full_paths_and_opens_on_click(
        qtbot, recent_settings, empty_window, project_path: Path, tmp_path: Path):
    window = empty_window
    welcome = window.welcome
    assert window.central.currentWidget() is welcome and welcome.isVisible()
    assert not window.view.isVisible()
    items = [welcome.recent_list.item(i) for i in range(welcome.recent_list.count())]
    assert [item.text() for item in items] == [
        str(project_path), f"{tmp_path / 'deleted.faceprop.sqlite'}  — {MISSING_NOTE}"]
    assert items[0].flags() & Qt.ItemFlag.ItemIsEnabled
    assert not items[1].flags() & Qt.ItemFlag.ItemIsEnabled  # missing: disabled, with a note
    assert "no longer exists" in items[1].toolTip()
    # File → Open recent says the same
    recent_actions = window.recent_menu.actions()
    assert [a.isEnabled() for a in recent_actions] == [True, False]
    # Forget missing drops the deleted one
    assert welcome.forget_button.isVisible()
    qtbot.mouseClick(welcome.forget_button, Qt.MouseButton.LeftButton)
    assert window.projects.recent_projects() == [str(project_path)]
    assert welcome.recent_list.count() == 1 and not welcome.forget_button.isVisible()
    # a single click on a recent project opens it and replaces the welcome view
    rect = welcome.recent_list.visualItemRect(welcome.recent_list.item(0))
    qtbot.mouseClick(welcome.recent_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=rect.center())
    assert window.session.project_path == project_path
    assert window.central.currentWidget() is window.editing_area
    qtbot.waitUntil(lambda: window.view.shown_frame == 0, timeout=5000)


def test_new_project_from_welcome_then_hint_then_drop_a_video(
        qtbot, empty_window, clip_folder: Path, tmp_path: Path, monkeypatch):
    window = empty_window
    calls = _save_dialog(monkeypatch, tmp_path / "fresh")  # the suffix is added
    qtbot.mouseClick(window.welcome.new_button, Qt.MouseButton.LeftButton)
    assert calls and calls[0][1] == "New project"
    path = tmp_path / "fresh.faceprop.sqlite"
    assert window.session.project_path == path
    assert window.central.currentWidget() is window.editing_area
    # the canvas hint matches the state: a project without a video
    hint = "Add a video (File → Add videos, or drop files here)."
    assert window.view.placeholder == hint == canvas_hint(True, 0)
    assert canvas_hint(False, 0).startswith("Open a project")
    # a file that is not a video is refused by the drag itself
    note = tmp_path / "notes.txt"
    note.write_text("not a video")
    assert not _drop(window.view.viewport(), _mime(note))
    # dropping a video on the frame view adds it to the open project, and shows it
    with qtbot.waitSignal(window.job_succeeded, timeout=30_000) as blocker:
        assert _drop(window.view.viewport(), _mime(clip_folder / "vid.avi"))
    assert len(blocker.args[0]) == 1
    qtbot.waitUntil(lambda: window.session.video is not None, timeout=5000)
    assert window.video_list.videos.rowCount() == 1
    qtbot.waitUntil(lambda: not window.jobs, timeout=5000)


def test_drop_without_a_project_offers_to_create_one_first(
        qtbot, empty_window, clip_folder: Path, tmp_path: Path, monkeypatch):
    window = empty_window
    target = tmp_path / "dropped.faceprop.sqlite"
    calls = _save_dialog(monkeypatch, target)
    with qtbot.waitSignal(window.job_succeeded, timeout=30_000):
        assert _drop(window, _mime(clip_folder / "vid.avi"))  # on the welcome view
        assert "create one" in window.statusBar().currentMessage()
    title, start = calls[0][1], calls[0][2]
    assert title == "New project for 1 dropped video(s)"
    assert Path(start).parent == clip_folder  # suggested beside the video
    assert window.session.project_path == target
    qtbot.waitUntil(lambda: window.session.video is not None, timeout=5000)
    qtbot.waitUntil(lambda: not window.jobs, timeout=5000)


def test_drop_declined_leaves_no_project(qtbot, empty_window, clip_folder: Path, monkeypatch):
    window = empty_window
    calls: list[tuple] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **_kw: calls.append(args) or ("", ""))
    assert _drop(window, _mime(clip_folder / "vid.avi"))
    qtbot.waitUntil(lambda: bool(calls), timeout=3000)
    assert window.session.project is None and window.central.currentWidget() is window.welcome


def test_open_the_demo_from_the_welcome_view_is_temporary_and_never_recent(
        qtbot, empty_window, settings, project_path: Path):
    window = empty_window
    assert window.projects.demo_factory is create_demo_project  # the same as main.py --demo
    window.open_project(project_path)  # a real project first: it stays the "last" one
    assert settings.value("projects/last") == str(project_path)
    window.session.close_project()  # back to the welcome view
    assert window.central.currentWidget() is window.welcome
    qtbot.mouseClick(window.welcome.demo_button, Qt.MouseButton.LeftButton)
    assert window.welcome.busy_bar.isVisible() and not window.welcome.demo_button.isEnabled()
    qtbot.waitUntil(lambda: window.session.project is not None, timeout=90_000)
    demo = window.session.project_path
    assert demo is not None and demo.parent.name.startswith(DEMO_PREFIX)
    assert window.session.video is not None and len(window.session.keyframes) > 1
    assert not window.welcome.busy_bar.isVisible()
    assert settings.value("projects/last") == str(project_path)
    assert str(demo) not in window.projects.recent_projects()
    assert window.projects.start_folder() == str(project_path.parent)  # not the temp folder
    qtbot.waitUntil(lambda: window.projects.demo_worker is None, timeout=5000)
    window.close()
    assert not demo.parent.exists()  # removed with the window
    assert settings.value("projects/last") == str(project_path)


def test_recent_list_forgets_old_demo_entries(qtbot, empty_window, settings, project_path,
                                              tmp_path: Path):
    window = empty_window
    stale = tmp_path / f"{DEMO_PREFIX}old" / "demo.faceprop.sqlite"
    settings.setValue("projects/recent", [str(stale)])
    window.open_project(project_path)
    assert window.projects.recent_projects() == [str(project_path)]


def test_demo_folders_of_killed_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from app.demo import DEMO_PREFIX, remove_stale_demo_folders

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{DEMO_PREFIX}{gone.pid}-abc"
    mine = tmp_path / f"{DEMO_PREFIX}{os.getpid()}-def"
    old_style = tmp_path / f"{DEMO_PREFIX}xyz"  # no pid: not ours to judge
    for folder in (stale, mine, old_style):
        (folder / "demo_clip").mkdir(parents=True)
    assert remove_stale_demo_folders(tmp_path) == [stale]
    assert mine.is_dir() and old_style.is_dir()
