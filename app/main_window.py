"""The main window: menus, toolbar, docks, status bar, and ``run_gui`` (the GUI entry point).

It wires the session (state), the frame and edit controllers, the timeline, the suggestions and
the trainer process together; the work itself lives in those modules and in core services.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSplitter,
    QUndoView,
    QWidget,
)

from app.actions import build_actions
from app.compat import install_refcount_guard, top_up_singleton_refs
from app.detect import DetectController
from app.dialogs import ExportDialog
from app.editing import EditController
from app.error_hook import install_error_hook
from app.frame_view import FrameView
from app.jobs import add_videos_job, export_300vw_job, import_300vw_job
from app.playback import FrameController
from app.propagation import DEFAULT_METHOD, PropagationRunner
from app.run_panel import RunPanel
from app.shortcuts import ShortcutsDialog
from app.state import LabelSession
from app.suggestions import SuggestionsPanel, rank_suggestions
from app.timeline import TimelinePanel
from app.trajectory import TrajectoryPanel
from app.video_list import VideoListWidget
from app.workers import Job, JobWorker
from core.errors import FacePropError
from core.frame_numbers import frame_label

logger = logging.getLogger(__name__)

PROJECT_FILTER = "FaceProp projects (*.faceprop.sqlite);;All files (*)"
MAX_RECENT = 8


class MainWindow(QMainWindow):
    """The labelling window; ``settings`` defaults to QSettings("FaceProp", "FaceProp")."""

    job_succeeded = Signal(object)  # the result of a File-menu job (add, import, export)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self._refcount_guard = install_refcount_guard(self)
        self.settings = settings if settings is not None else QSettings("FaceProp", "FaceProp")
        self.setWindowTitle("FaceProp")
        self.session = LabelSession(self)
        self.undo_stack = QUndoStack(self)
        self.view = FrameView(self)
        self.frames = FrameController(self.session, self.view, self)
        self.editor = EditController(self.session, self.view, self.undo_stack, self)
        self.detector = DetectController(self.session, self.undo_stack, self.run_job, self)
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.runner = PropagationRunner(self)
        self.timeline = TimelinePanel(self)
        self.jobs: list[JobWorker] = []
        self.last_error = ""
        self.method = str(self.settings.value("propagate/method", DEFAULT_METHOD))

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        self.timeline.setMaximumHeight(270)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self._build_docks()
        self.actions_by_name = build_actions(self)
        self.run_panel = RunPanel(self.runner, self)
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self._update_enabled()
        self.timeline.setVisible(False)
        self.suggestions.next_button.setEnabled(False)

    # -- construction -------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.video_list = VideoListWidget(self)
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
        bar = self.statusBar()
        self.frame_label = QLabel("no video")
        self.zoom_label = QLabel("")
        self.device_label = QLabel("")
        self.run_label = QLabel("")
        bar.addPermanentWidget(self.run_panel)
        # the bar keeps the panel's height, so showing it never re-lays out (and repaints) the
        # whole window when a propagation starts
        bar.setMinimumHeight(self.run_panel.sizeHint().height() + 6)
        for label in (self.frame_label, self.zoom_label, self.device_label, self.run_label):
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)

    def _connect(self) -> None:
        s = self.session
        s.project_changed.connect(self._project_changed)
        s.video_changed.connect(self._video_changed)
        s.frame_changed.connect(self._frame_changed)
        s.run_changed.connect(self._run_changed)
        s.annotation_changed.connect(self._annotation_changed)
        self.view.zoom_changed.connect(
            lambda z: self.zoom_label.setText(f"zoom {z * 100:.0f}%" if s.video else ""))
        self.view.play_requested.connect(self.frames.toggle_play)
        self.frames.message.connect(self.show_message)
        self.editor.message.connect(self.show_message)
        self.detector.message.connect(self.show_message)
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
        self.runner.run_finished.connect(self._propagation_finished)
        self.runner.started.connect(self._update_enabled)

    # -- settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self._rebuild_recent_menu()

    def recent_projects(self) -> list[str]:
        value = self.settings.value("projects/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_project(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_projects() if p != str(path)]
        self.settings.setValue("projects/recent", recent[:MAX_RECENT])
        self.settings.setValue("projects/last", str(path))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for path in self.recent_projects():
            action = menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
        menu.setEnabled(bool(self.recent_projects()))

    # -- projects and videos ------------------------------------------------------------------
    def open_project(self, path: str | Path, create: bool = False) -> bool:
        self.frames.pause()
        if self.runner.running:
            self.show_message("Stop the running propagation before switching projects.")
            return False
        try:
            self.undo_stack.clear()
            self.session.open_project(path, create=create)
        except FacePropError as exc:
            self.report_error("Cannot open project", str(exc))
            return False
        assert self.session.project_path is not None
        self._remember_project(self.session.project_path)
        self.show_message(f"Opened {self.session.project_path}")
        return True

    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", "project.faceprop.sqlite",
                                              PROJECT_FILTER)
        if path:
            if not path.endswith(".faceprop.sqlite"):
                path += ".faceprop.sqlite"
            self.open_project(path, create=True)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def _select_video(self, video_id: int) -> None:
        if self.session.video is None or self.session.video.id != video_id:
            self.session.set_video(video_id)

    def add_videos_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add videos", "", "Videos (*.avi *.mp4 *.mov *.mkv *.webm);;All files (*)")
        if paths:
            self.run_job("Adding videos (decoding each once)…", add_videos_job(paths))

    def import_300vw_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import 300VW clip folder(s)")
        if folder:
            self.run_job("Importing 300VW…", import_300vw_job(folder))

    def export_300vw_dialog(self) -> None:
        project = self.session.project
        if project is None or project.path is None:
            return
        dialog = ExportDialog(project.runs.all(), project.folder / "export_300vw", self)
        if dialog.exec():
            opts = dialog.options()
            self.run_job(f"Exporting to {opts.target}…", export_300vw_job(
                opts.target, run_id=opts.run_id, labelled_only=opts.labelled_only,
                force=opts.force), refresh=False)

    def run_job(self, title: str, job: Job, refresh: bool = True) -> JobWorker | None:
        """Run a service job in a worker thread behind a cancellable progress dialog."""
        path = self.session.project_path
        if path is None:
            self.show_message("Open or create a project first.")
            return None
        worker = JobWorker(path, job, self)
        dialog = QProgressDialog(title, "Cancel", 0, 0, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(worker.request_stop)

        def progressed(step: int, total: int) -> None:
            dialog.setMaximum(max(total, 1))
            dialog.setValue(min(step, max(total, 1)))

        def done(result: object) -> None:
            dialog.reset()
            self.show_message(f"{title.rstrip('…')}: done")
            if refresh:
                self._reload_after_job()
            self.job_succeeded.emit(result)

        def failed(message: str, cancelled: bool) -> None:
            dialog.reset()
            if cancelled:
                self.show_message(message)
            else:
                self.report_error("FaceProp", message)
            if refresh:
                self._reload_after_job()

        worker.progressed.connect(progressed)
        worker.succeeded.connect(done)
        worker.failed.connect(failed)
        worker.finished.connect(lambda: self.jobs.remove(worker) if worker in self.jobs else None)
        worker.finished.connect(worker.deleteLater)
        self.jobs.append(worker)
        worker.start()
        return worker

    def _reload_after_job(self) -> None:
        self.video_list.invalidate_counts()
        video = self.session.video
        project = self.session.project
        if project is not None and video is None:
            videos = project.videos.all()
            if videos:
                self.session.set_video(videos[0].id)
                return
        self._refresh_video_list()

    # -- propagation --------------------------------------------------------------------------
    def propagate(self) -> None:
        video, path = self.session.video, self.session.project_path
        if video is None or path is None:
            self.show_message("Open a project and select a video first.")
            return
        if self.runner.running:
            self.show_message("A propagation is already running.")
            return
        if not self.session.keyframes:
            self.show_message("Label at least one keyframe before propagating.")
            return
        self.statusBar().clearMessage()
        self.runner.start(path, video.id, self.method)
        self.run_label.setText(f"propagating video {video.id} ({self.method})…")

    def _propagation_finished(self, outcome: str, message: str) -> None:
        self._update_enabled()
        if self.session.project is not None:
            self.session.project.runs.mark_abandoned()
            self.session.reload_run()
            # a separate event-loop turn, so one stall never holds every refresh and repaint
            QTimer.singleShot(0, self._refresh_video_list)
        if outcome == "failed":
            self.report_error("Propagation failed", message)
        else:
            self.show_message(f"Propagation {outcome}" + (f": {message}" if message
                                                          and outcome != "done" else ""))

    # -- review -------------------------------------------------------------------------------
    def next_suggestion(self) -> None:
        frame = self.suggestions.next_after(self.session.frame)
        if frame is None:
            self.show_message("No suggestions: propagate first, or everything is reviewed.")
            return
        self.session.seek(frame)

    def _refresh_suggestions(self) -> None:
        self.suggestions.set_suggestions(rank_suggestions(self.session.stats,
                                                          self.session.keyframes),
                                         self.session.run is not None)
        self.suggestions.select_frame(self.session.frame)

    # -- reacting to the session --------------------------------------------------------------
    def _project_changed(self) -> None:
        path = self.session.project_path
        self.setWindowTitle(f"FaceProp — {path.name}" if path else "FaceProp")
        self._update_enabled()

    def _video_changed(self) -> None:
        self.timeline.setVisible(self.session.video is not None)
        if self.session.video is None:
            self.zoom_label.setText("")
        self._refresh_video_list()
        self._update_enabled()

    def _refresh_video_list(self) -> None:
        video, pseudo = self.session.video, self.session.pseudo
        counts = {video.id: len(pseudo.frames)} if video is not None and pseudo else None
        reviewed = {video.id: self.session.reviewed_count()} if video is not None else None
        self.video_list.refresh(self.session.project, video.id if video else None, counts,
                                reviewed)

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
        self.run_label.setText(f"run {run.id} {run.method}: {run.status}" if run else "no run")

    def _refresh_timeline_strip(self) -> None:
        self._refresh_suggestions()
        s = self.session
        self.timeline.strip.set_data(s.frame_count, s.keyframes,
                                     None if s.pseudo is None else s.pseudo.frames,
                                     self.suggestions.frames())

    def _annotation_changed(self, video_id: int, frame: int) -> None:
        if self.session.video is not None and self.session.video.id == video_id:
            self._refresh_timeline_strip()
            self._refresh_video_list()

    def _frame_changed(self, frame: int) -> None:
        s = self.session
        self.timeline.set_current(frame)
        self.suggestions.select_frame(frame)
        if s.video is None:
            self.frame_label.setText("no video")
            return
        kind = s.keyframes.get(frame)
        self.frame_label.setText(f"{frame_label(frame)} / {s.frame_count}"
                                 + (f"  · {kind} keyframe" if kind else ""))

    def _update_enabled(self) -> None:
        has_video = self.session.video is not None
        has_project = self.session.project is not None
        for name, action in self.actions_by_name.items():
            if name in ("add_videos", "import_300vw", "export_300vw"):
                action.setEnabled(has_project)
            elif name == "propagate":
                action.setEnabled(has_video and not self.runner.running)
            elif name not in ("new_project", "open_project", "quit", "shortcuts"):
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
        self.runner.shutdown()
        for worker in list(self.jobs):
            worker.request_stop()
            worker.wait()
        self.jobs.clear()
        self.frames.shutdown()
        self.session.close_project(emit=False)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.runner.running and QMessageBox.question(
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
    window = MainWindow()
    install_error_hook(window, lambda: getattr(window.session.project, "target", None))
    if demo:
        from app.demo import create_demo_project

        window.open_project(create_demo_project())
    elif project:
        window.open_project(project)
    else:
        last = window.settings.value("projects/last")
        if last and Path(str(last)).is_file():
            window.open_project(str(last))
    window.show()
    return int(app.exec())

