"""The main window: menus, toolbar, docks, status bar, and ``run_gui`` (the GUI entry point).

It lays out the widgets and wires the session (state) to the controllers that do the work:
frames (playback), edits, "no face" marks, shot cuts, detection, projects and jobs,
propagation; the work itself lives in those modules and in core services. While no project is
open the central area shows the welcome view; video files dropped on the window are added to
the open project.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, SignalInstance
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QUndoView,
    QWidget,
)

from app.about import show_about
from app.absence_controller import AbsenceController
from app.actions import build_actions
from app.compat import install_refcount_guard, top_up_singleton_refs
from app.cut_controller import CutController
from app.detect import DetectController
from app.drop import VideoDropFilter
from app.editing import EditController
from app.error_hook import install_error_hook
from app.frame_status import FrameStatus
from app.frame_view import FrameView
from app.main_thread_gc import MainThreadCollector
from app.model_controller import ProjectModelController
from app.playback import FrameController
from app.project_controller import ProjectController
from app.propagation_controller import PropagationController
from app.run_edits import EditsDuringRunWatcher, RerunPrompt
from app.shortcuts import ShortcutsDialog
from app.state import LabelSession
from app.status_bar import build_status_bar, run_text
from app.suggestions import SuggestionsPanel, rank_suggestions
from app.timeline import TimelinePanel
from app.trajectory import TrajectoryPanel
from app.video_list import VideoListView
from app.welcome import WelcomeView, canvas_hint
from app.workers import Job, JobWorker

logger = logging.getLogger(__name__)

#: Actions that need only an open project, and those that need nothing open.
PROJECT_ACTIONS = ("add_videos", "import_300vw", "export_300vw")
ALWAYS_ACTIONS = ("new_project", "open_project", "open_demo", "quit", "shortcuts", "about")


class MainWindow(QMainWindow):
    """The labelling window; ``settings`` defaults to QSettings("FaceProp", "FaceProp")."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self._refcount_guard = install_refcount_guard(self)
        self.collector = MainThreadCollector(self)
        self.settings = settings if settings is not None else QSettings("FaceProp", "FaceProp")
        self.setWindowTitle("FaceProp")
        self.session = LabelSession(self)
        self.undo_stack = QUndoStack(self)
        self.view = FrameView(self)
        self.frames = FrameController(self.session, self.view, self)
        self.editor = EditController(self.session, self.view, self.undo_stack, self.settings, self)
        self.propagation = PropagationController(self.session, self.settings, self)
        self.runner = self.propagation.runner
        self.run_panel = self.propagation.panel
        self.projects = ProjectController(self.session, self.undo_stack, self.frames,
                                          self.settings, lambda: self.propagation.running, self)
        self.detector = DetectController(self.session, self.undo_stack, self.projects.run_job,
                                         self)
        self.model = ProjectModelController(self.session, self.undo_stack, self)
        self.absences = AbsenceController(self.session, self.undo_stack, self)
        self.cuts = CutController(self.session, self.undo_stack, self)
        self.rerun_prompt = RerunPrompt(self)
        self.run_edits = EditsDuringRunWatcher(self.session, self.runner, self.rerun_prompt,
                                               self.propagation.propagate, self)
        self.drop = VideoDropFilter(self)
        self.about_box: QMessageBox | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.timeline = TimelinePanel(self)
        self.last_error = ""

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        self.timeline.setMaximumHeight(270)
        splitter.setChildrenCollapsible(False)
        self.editing_area = splitter
        self.welcome = WelcomeView(self)
        self.central = QStackedWidget(self)
        self.central.addWidget(self.welcome)
        self.central.addWidget(splitter)
        self.setCentralWidget(self.central)
        self.drop.watch(self)
        self.drop.watch(self.view.viewport())  # the view accepts drops itself: filter there
        self._build_docks()
        self.actions_by_name = build_actions(self)
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self._update_enabled()
        self.timeline.setVisible(False)
        self.suggestions.next_button.setEnabled(False)

    # -- what callers (tests, run_gui, benchmarks) reach through the window -------------------
    def open_project(self, path: str | Path, create: bool = False) -> bool:
        return self.projects.open_project(path, create=create)

    def run_job(self, title: str, job: Job, refresh: bool = True) -> JobWorker | None:
        return self.projects.run_job(title, job, refresh=refresh)

    def propagate(self) -> None:
        self.propagation.propagate()

    @property
    def jobs(self) -> list[JobWorker]:
        return self.projects.jobs

    @property
    def job_succeeded(self) -> SignalInstance:
        return self.projects.job_succeeded

    @property
    def method(self) -> str:
        return self.propagation.method

    @method.setter
    def method(self, method: str) -> None:
        self.propagation.method = method

    # -- construction -------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.video_list = VideoListView(self)
        self.videos_dock = self._dock("Videos", self.video_list,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)
        self.suggestions = SuggestionsPanel(self)
        self.suggestions_dock = self._dock("Suggestions", self.suggestions,
                                           Qt.DockWidgetArea.RightDockWidgetArea)
        self.history = QUndoView(self.undo_stack, self)
        self.history.setEmptyLabel("(project opened)")
        self.history_dock = self._dock("Edit history", self.history,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.trajectory = TrajectoryPanel(self.session, self.view.scene(),
                                          self.view.layer.selected_indices, self)
        self.timeline.tabs.addTab(self.trajectory, "Trajectories of selected points")

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        widgets = build_status_bar(self.statusBar(), self.rerun_prompt, self.run_panel)
        self.mode_label = widgets.mode
        self.frame_label, self.zoom_label = widgets.frame, widgets.zoom
        self.frame_status = FrameStatus(self.session, widgets.frame, widgets.states, self)
        self.device_label, self.run_label = widgets.device, widgets.run

    def _connect(self) -> None:
        s = self.session
        s.project_changed.connect(self._project_changed)
        s.video_changed.connect(self._video_changed)
        s.frame_changed.connect(self._frame_changed)
        s.run_changed.connect(self._run_changed)
        s.annotation_changed.connect(self._annotation_changed)
        for changed in (s.absences_changed, s.cuts_changed):
            changed.connect(lambda video_id: self._annotation_changed(video_id, s.frame))
        s.edit_refused.connect(self.show_message)
        self.view.zoom_changed.connect(
            lambda z: self.zoom_label.setText(f"zoom {z * 100:.0f}%" if s.video else ""))
        self.view.play_requested.connect(self.frames.toggle_play)
        for controller in (self.frames, self.editor, self.detector, self.model, self.projects,
                           self.propagation, self.run_edits, self.absences, self.cuts):
            controller.message.connect(self.show_message)
        self._connect_first_run()
        for controller in (self.projects, self.propagation):
            controller.error.connect(self.report_error)
            controller.videos_changed.connect(self._refresh_video_list)
        self.propagation.busy_changed.connect(self._update_enabled)
        self.propagation.run_text.connect(self.run_label.setText)
        self.view.group_selected.connect(
            lambda group: self.show_message(f"Selected {group.replace('_', ' ')}: drag to move, "
                                            "[ ] rotate, - = scale"))
        self.trajectory.seek_requested.connect(s.seek)
        self.frames.playing_changed.connect(
            lambda playing: self.actions_by_name["play"].setChecked(playing))
        self.timeline.seek_requested.connect(s.seek)
        self.suggestions.seek_requested.connect(s.seek)
        self.suggestions.next_button.clicked.connect(self.next_suggestion)
        self.video_list.video_selected.connect(self._select_video)

    def _connect_first_run(self) -> None:
        """The welcome view, dropped videos, box mode and the re-propagate prompt."""
        p, w = self.projects, self.welcome
        w.new_requested.connect(p.new_project_dialog)
        w.open_requested.connect(p.open_project_dialog)
        w.demo_requested.connect(p.open_demo)
        w.recent_requested.connect(p.open_project)
        w.forget_missing_requested.connect(p.forget_missing)
        p.recent_changed.connect(lambda: w.set_recent(p.recent_projects()))
        p.busy.connect(w.set_busy)
        self.drop.videos_dropped.connect(p.add_dropped_videos)
        box = self.actions_by_name["draw_template"]
        box.setCheckable(True)
        self.view.box_mode_changed.connect(box.setChecked)
        self.view.box_mode_changed.connect(self.mode_label.setVisible)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        else:  # room for the Videos columns on a first run
            self.resizeDocks([self.videos_dock], [330], Qt.Orientation.Horizontal)
        self.projects.attach_recent_menu(self.recent_menu)

    # -- review -------------------------------------------------------------------------------
    def next_suggestion(self) -> None:
        frame = self.suggestions.next_after(self.session.frame)
        if frame is None:
            self.show_message("No suggestions: propagate first, or everything is reviewed.")
            return
        self.session.seek(frame)

    def _refresh_suggestions(self) -> None:
        s = self.session
        found = (s.run.metrics or {}).get("transitions") if s.run is not None else None
        self.suggestions.set_suggestions(rank_suggestions(s.stats, s.keyframes,
                                                          absences=s.absent_ranges,
                                                          frame_count=s.frame_count,
                                                          cuts=s.cut_frames,
                                                          transitions=found or []),
                                         s.run is not None)
        self.suggestions.select_frame(self.session.frame)

    # -- reacting to the session --------------------------------------------------------------
    def _select_video(self, video_id: int) -> None:
        if self.session.video is None or self.session.video.id != video_id:
            self.session.set_video(video_id)

    def _project_changed(self) -> None:
        path = self.session.project_path
        self.setWindowTitle(f"FaceProp — {path.name}" if path else "FaceProp")
        self.central.setCurrentWidget(self.editing_area if path else self.welcome)
        if path:
            self.view.setFocus()
        self.welcome.set_recent(self.projects.recent_projects())
        self._update_enabled()

    def _video_changed(self) -> None:
        self.timeline.setVisible(self.session.video is not None)
        if self.session.video is None:
            self.zoom_label.setText("")
        self._refresh_video_list()
        self._update_enabled()

    def _refresh_video_list(self) -> None:
        video = self.session.video
        self.video_list.refresh(self.session.project, video.id if video else None)
        self.view.set_placeholder(canvas_hint(self.session.project is not None,
                                              self.video_list.videos.rowCount()))

    def _run_changed(self) -> None:
        s = self.session
        stats = s.stats
        self.timeline.plot.set_data(
            s.frame_count, None if stats is None else stats.frames,
            None if stats is None else stats["jitter"],
            None if stats is None else stats["confidence"])
        self._refresh_timeline_strip()
        run = s.last_run
        self.device_label.setText(f"device: {run.device or '?'}" if run else "")
        text, self.run_label.tip = run_text(run)
        self.run_label.setText(text)

    def _refresh_timeline_strip(self) -> None:
        self._refresh_suggestions()
        s = self.session
        self.timeline.strip.set_data(s.frame_count, s.keyframes,
                                     None if s.pseudo is None else s.pseudo.frames,
                                     self.suggestions.frames(), s.keyframe_states,
                                     s.absent_ranges, s.cut_frames)

    def _annotation_changed(self, video_id: int, frame: int) -> None:
        if self.session.video is not None and self.session.video.id == video_id:
            self._refresh_timeline_strip()
            self._refresh_video_list()

    def _frame_changed(self, frame: int) -> None:
        self.timeline.set_current(frame)
        self.suggestions.select_frame(frame)

    def _update_enabled(self) -> None:
        has_video = self.session.video is not None
        has_project = self.session.project is not None
        for name, action in self.actions_by_name.items():
            if name in PROJECT_ACTIONS:
                action.setEnabled(has_project)
            elif name == "propagate":
                action.setEnabled(has_video and not self.propagation.running)
            elif name not in ALWAYS_ACTIONS:
                action.setEnabled(has_video or name in ("undo", "redo"))

    def report_error(self, title: str, message: str) -> None:
        """Show an error without blocking the event loop (the dialog is window-modal)."""
        self.last_error = message
        self.show_message(f"{title}: {message.splitlines()[0] if message else ''}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message,
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def show_about(self) -> None:
        """Help → About: version, torch and device, licence (does not block the loop)."""
        self.about_box = show_about(self, self.session.project)

    def show_shortcuts(self) -> None:
        """Help → Shortcuts: the list and editor (window-modal, does not block the loop)."""
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.deleteLater()
        self.shortcuts_dialog = ShortcutsDialog(self.actions_by_name, self.default_shortcuts,
                                                self.settings, self)
        self.shortcuts_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.shortcuts_dialog.open()

    # -- closing ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every thread and process this window started, close the project."""
        self.propagation.shutdown()
        self.model.shutdown()
        self.projects.shutdown()
        self.frames.shutdown()
        self.session.close_project(emit=False)
        self.projects.remove_demo_folders()
        self.collector.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.propagation.running and QMessageBox.question(
                self, "Propagation running", "A propagation is running. Cancel it and quit?"
                ) != QMessageBox.StandardButton.Yes:
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.shutdown()
        super().closeEvent(event)

def run_gui(project: str | None = None, demo: bool = False) -> int:
    """Start the GUI: on ``project``, on a new demo project, or on the last project opened."""
    top_up_singleton_refs()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("FaceProp")
    app.setApplicationName("FaceProp")
    from app.icons import apply_look  # style sheet and window icon, from resources/

    apply_look(app)
    window = MainWindow()
    install_error_hook(window, lambda: getattr(window.session.project, "target", None))
    window.show()
    if demo:
        window.projects.open_demo()  # built off the GUI thread; the welcome view says so
    elif project:
        window.open_project(project)
    else:
        last = window.settings.value("projects/last")
        if last and Path(str(last)).is_file():
            window.open_project(str(last))
    return int(app.exec())

