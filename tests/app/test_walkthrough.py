"""Details found in a walkthrough: a single click on a suggestion seeks, box mode says it is on
and Esc leaves it, occluded points are easy to see and drag, the status bar's widgets never
overlap or move, file dialogs open in the project's folder, elided names show in full on hover
and columns widen, the trajectory plot has a legend, Help → About, and edits made while a
propagation runs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QHeaderView, QToolTip, QWidget

from app.about import DEVICE_UNKNOWN
from app.run_edits import EDIT_DURING_RUN
from app.status_bar import BOX_MODE_TEXT
from core.landmarks import GROUP_RANGES, POINT_NAMES
from core.suggest import Suggestion
from tests.app.conftest import wait_frame

LONG_REASON = "teacher-student disagreement and forward-backward flow error on the jaw line"


def _tooltip(view, index) -> str:
    """Hover ``index`` of an item view and read the tooltip shown."""
    pos = view.visualRect(index).center()
    viewport = view.viewport()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, pos,
                                                viewport.mapToGlobal(pos)))
    text = QToolTip.text()
    QToolTip.hideText()
    return text


def _drag(view, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     start)
    QTest.mouseMove(view.viewport(), (start + end) / 2)
    QTest.mouseMove(view.viewport(), end)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, end)


def test_single_click_on_a_suggestion_seeks(qtbot, window):
    panel = window.suggestions
    panel.set_suggestions([Suggestion(13, 9.0, "jitter"), Suggestion(22, 5.0, LONG_REASON)],
                          True)
    table = panel.table
    rect = table.visualRect(panel.model.index(1, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.session.frame == 22
    rect = table.visualRect(panel.model.index(0, 2))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.session.frame == 13


def test_box_mode_says_it_is_on_and_esc_leaves_it(qtbot, window):
    view, action = window.view, window.actions_by_name["draw_template"]
    window.session.seek(5)
    wait_frame(qtbot, window, 5)
    assert action.isCheckable() and not action.isChecked() and not window.mode_label.isVisible()
    qtbot.keyClick(view, Qt.Key.Key_B)
    assert view.box_mode and action.isChecked()
    assert window.mode_label.isVisible() and window.mode_label.text() == BOX_MODE_TEXT
    assert view.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.box_mode and not action.isChecked() and not window.mode_label.isVisible()
    assert view.viewport().cursor().shape() != Qt.CursorShape.CrossCursor
    # B again leaves it too
    qtbot.keyClick(view, Qt.Key.Key_B)
    qtbot.keyClick(view, Qt.Key.Key_B)
    assert not view.box_mode and not action.isChecked()
    # a drawn box places the template and leaves the mode
    qtbot.keyClick(view, Qt.Key.Key_B)
    centre = view.viewport().rect().center()
    _drag(view, centre - QPoint(60, 70), centre + QPoint(60, 70))
    assert not view.box_mode and not action.isChecked() and not window.mode_label.isVisible()
    assert window.session.annotation(5) is not None


def test_occluded_points_are_opaque_hollow_rings_that_can_be_dragged(qtbot, window):
    s, view = window.session, window.view
    s.seek(10)  # a keyframe
    wait_frame(qtbot, window, 10)
    view.zoom_to_points(s.annotation().points)
    qtbot.wait(20)
    point = view.layer.points[30]
    point.setSelected(True)
    qtbot.keyClick(view, Qt.Key.Key_V)
    assert not s.annotation().visible[30]
    point = view.layer.points[30]
    assert point.brush().style() == Qt.BrushStyle.NoBrush  # hollow
    assert point.pen().color().alpha() >= 200 and point.pen().widthF() >= 4  # dark outline
    assert point.ring is not None and point.ring.color().alpha() == 255  # coloured ring
    # the ring is drawn: the pixels on it differ from those just inside and outside it
    image = view.viewport().grab().toImage()
    centre = view.mapFromScene(point.scenePos())
    ring_pixel = image.pixelColor(centre + QPoint(int(point.rect().width() / 2), 0))
    assert ring_pixel.alpha() == 255
    # a drag from the hollow centre moves it (one undo entry), and it stays occluded
    view.scene().clearSelection()
    before = s.annotation().points[30].copy()
    _drag(view, centre, centre + QPoint(25, 0))
    annotation = s.annotation()
    assert annotation.points[30][0] > before[0] + 1 and not annotation.visible[30]
    assert window.undo_stack.undoText().startswith("Move")


def _status_rects(window) -> list[tuple[QWidget, QRect]]:
    bar = window.statusBar()
    widgets = (window.frame_status.states_label, window.mode_label, window.rerun_prompt,
               window.run_panel, window.frame_label, window.zoom_label, window.device_label,
               window.run_label)
    return [(w, QRect(w.mapTo(bar, QPoint(0, 0)), w.size())) for w in widgets if w.isVisible()]


def _assert_no_overlap(window) -> None:
    rects = _status_rects(window)
    for i, (widget, a) in enumerate(rects):
        assert window.statusBar().rect().contains(a), widget
        for other, b in rects[i + 1:]:
            assert not a.intersects(b), (widget, other)


def test_status_bar_widgets_neither_overlap_nor_shift(qtbot, window):
    labels = (window.frame_label, window.zoom_label, window.device_label, window.run_label)
    panel = window.run_panel

    def geometries() -> list[QRect]:
        qtbot.wait(30)
        return [label.geometry() for label in labels]

    before = geometries()
    # long texts neither move nor resize anything: they elide, in full as the tooltip
    window.frame_label.setText("frame 123456 / 123456  · corrected keyframe and more text")
    window.zoom_label.setText("zoom 12345%")
    window.run_label.setText("propagating video 12345 (a very long method name)…")
    assert geometries() == before
    assert window.run_label.toolTip().startswith("propagating video 12345")
    assert window.run_label.text().endswith("name)…")
    # with room for it (a 1500 px window), the run panel appears without moving the labels,
    # and its changing progress and losses move nothing either
    window.resize(1500, 700)
    before = geometries()
    panel.setVisible(True)
    assert geometries() == before
    panel._progressed("train", 5, 10_000, 1234.5)
    panel._losses({"t_loss": 0.000123456, "s_loss": 1234567.0})
    assert geometries() == before
    _assert_no_overlap(window)
    # in a narrow window with everything shown at once, widgets shrink instead of overlapping
    window.resize(1000, 700)
    window.rerun_prompt.offer(3)
    window.mode_label.setVisible(True)
    qtbot.wait(30)
    _assert_no_overlap(window)
    panel.setVisible(False)
    window.rerun_prompt.setVisible(False)
    window.mode_label.setVisible(False)


def test_file_dialogs_open_in_the_project_folder(qtbot, window, monkeypatch):
    folder = str(window.session.project.folder)
    starts: dict[str, str] = {}

    def record(name: str, answer: object):
        def fake(_parent, _title, start="", *_args, **_kwargs):
            starts[name] = str(Path(start).parent if name == "save" else start)
            return answer
        return fake

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", record("add", ([], "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", record("open", ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", record("folder", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", record("save", ("", "")))
    actions = window.actions_by_name
    for name in ("add_videos", "open_project", "import_300vw", "new_project"):
        actions[name].trigger()
    assert starts == {"add": folder, "open": folder, "folder": folder, "save": folder}

    from app import project_controller

    seen: list[str] = []

    class NoExport(project_controller.ExportDialog):
        def exec(self) -> int:
            seen.append(self.target_edit.text())
            starts.pop("folder")
            self._browse()  # Browse… starts in the project folder too (the target is new)
            return 0

    monkeypatch.setattr(project_controller, "ExportDialog", NoExport)
    actions["export_300vw"].trigger()
    assert Path(seen[0]).parent == Path(folder) and starts["folder"] == folder


def test_names_show_in_full_on_hover_and_columns_widen(qtbot, window):
    videos = window.video_list
    video = window.session.video
    assert video.name in _tooltip(videos, videos.videos.index(0, 0))
    assert video.path in _tooltip(videos, videos.videos.index(0, 0))
    header = videos.horizontalHeader()
    assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Interactive
    assert header.stretchLastSection()
    header.resizeSection(0, 260)
    assert videos.columnWidth(0) == 260
    panel = window.suggestions
    panel.set_suggestions([Suggestion(13, 9.0, LONG_REASON)], True)
    assert LONG_REASON in _tooltip(panel.table, panel.model.index(0, 2))
    header = panel.table.horizontalHeader()
    assert all(header.sectionResizeMode(c) == QHeaderView.ResizeMode.Interactive
               for c in range(3))
    assert header.stretchLastSection()
    header.resizeSection(1, 90)
    assert panel.table.columnWidth(1) == 90


def test_trajectory_plot_has_a_legend_naming_each_point(qtbot, window):
    window.timeline.tabs.setCurrentWidget(window.trajectory)
    window.view.layer.select_group("right_eye")
    window.trajectory.refresh()
    legend = window.trajectory.plot.legend
    eye = list(GROUP_RANGES["right_eye"])
    assert legend.isVisible()
    assert window.trajectory.plot.legend_names() == [f"{i} {POINT_NAMES[i]}" for i in eye]
    window.view.scene().clearSelection()
    window.trajectory.refresh()
    assert window.trajectory.plot.legend_names() == [] and not legend.isVisible()


def test_about_shows_version_torch_device_and_licence(qtbot, window):
    window.actions_by_name["about"].trigger()
    box = window.about_box
    assert box is not None and box.isVisible()
    text = box.text()
    assert version("faceprop") in text and version("torch") in text
    assert "MIT" in text and DEVICE_UNKNOWN in text  # no run yet
    box.accept()
    project, video = window.session.project, window.session.video
    run = project.runs.create(video.id, "interpolation", device="cuda:0")
    project.runs.finish(run.id, "done")
    window.show_about()
    assert f"cuda:0 (recorded by run {run.id}" in window.about_box.text()
    window.about_box.accept()


def test_about_does_not_import_torch():
    code = ("import sys; from app.about import about_lines; about_lines(None); "
            "import app.main_window; assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert result.returncode == 0, result.stderr


def test_edits_during_a_run_are_announced_once_then_propagate_again_is_offered(qtbot, window):
    s = window.session
    window.method = "interpolation"
    notices: list[str] = []
    window.run_edits.message.connect(notices.append)
    s.seek(4)
    wait_frame(qtbot, window, 4)
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as finished:
        qtbot.keyClick(window.view, Qt.Key.Key_P)
        assert window.runner.running
        qtbot.keyClick(window.view, Qt.Key.Key_K)  # a new keyframe while the trainer runs
        assert window.statusBar().currentMessage() == EDIT_DURING_RUN
        window.undo_stack.undo()  # a second edit: no second notice
    assert finished.args[0] == "done"
    assert notices == [EDIT_DURING_RUN]
    prompt = window.rerun_prompt
    assert prompt.isVisible() and prompt.label.text() == "2 edits made during the run"
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as again:
        qtbot.mouseClick(prompt.propagate_button, Qt.MouseButton.LeftButton)
        assert window.runner.running and not prompt.isVisible()
    assert again.args[0] == "done" and not prompt.isVisible()  # no edits this time
    assert len(s.project.runs.all()) == 2
    assert np.isfinite(s.pseudo.points).all()


def test_dismissing_the_prompt_hides_it(qtbot, window):
    prompt = window.rerun_prompt
    prompt.offer(1)
    assert prompt.isVisible() and prompt.label.text() == "1 edit made during the run"
    qtbot.mouseClick(prompt.dismiss_button, Qt.MouseButton.LeftButton)
    assert not prompt.isVisible()
