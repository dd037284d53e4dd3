"""Project controller: open, create and reopen projects (the recent list and the last-project
setting), and the File-menu jobs (add videos, import, export) that run as ``JobWorker`` threads
behind a cancellable progress dialog."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFileDialog, QMenu, QProgressDialog, QWidget

from app.dialogs import ExportDialog
from app.jobs import add_videos_job, export_300vw_job, import_300vw_job
from app.playback import FrameController
from app.state import LabelSession
from app.workers import Job, JobWorker
from core.errors import FacePropError

logger = logging.getLogger(__name__)

PROJECT_FILTER = "FaceProp projects (*.faceprop.sqlite);;All files (*)"
VIDEO_FILTER = "Videos (*.avi *.mp4 *.mov *.mkv *.webm);;All files (*)"
MAX_RECENT = 8


class ProjectController(QObject):
    """Opens projects into the session and runs the long File-menu jobs.

    ``window`` parents the dialogs; ``is_busy`` says whether a propagation runs (a project is
    not switched under it).
    """

    message = Signal(str)
    error = Signal(str, str)  # title, message
    job_succeeded = Signal(object)  # the result of a File-menu job (add, import, export)
    videos_changed = Signal()  # a job ended: the project's videos or labels may have changed

    def __init__(self, session: LabelSession, undo_stack: QUndoStack, frames: FrameController,
                 settings: QSettings, is_busy: Callable[[], bool], window: QWidget) -> None:
        super().__init__(window)
        self.session = session
        self.undo_stack = undo_stack
        self.frames = frames
        self.settings = settings
        self._is_busy = is_busy
        self._window = window
        self.jobs: list[JobWorker] = []
        self.recent_menu: QMenu | None = None

    # -- recent projects ----------------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self.settings.value("projects/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def attach_recent_menu(self, menu: QMenu) -> None:
        """File → Open recent: filled now and whenever a project is opened."""
        self.recent_menu = menu
        self._rebuild_recent_menu()

    def _remember_project(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_projects() if p != str(path)]
        self.settings.setValue("projects/recent", recent[:MAX_RECENT])
        self.settings.setValue("projects/last", str(path))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        for path in self.recent_projects():
            action = menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
        menu.setEnabled(bool(self.recent_projects()))

    # -- opening ------------------------------------------------------------------------------
    def open_project(self, path: str | Path, create: bool = False) -> bool:
        self.frames.pause()
        if self._is_busy():
            self.message.emit("Stop the running propagation before switching projects.")
            return False
        try:
            self.undo_stack.clear()
            self.session.open_project(path, create=create)
        except FacePropError as exc:
            self.error.emit("Cannot open project", str(exc))
            return False
        assert self.session.project_path is not None
        self._remember_project(self.session.project_path)
        self.message.emit(f"Opened {self.session.project_path}")
        return True

    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self._window, "New project",
                                              "project.faceprop.sqlite", PROJECT_FILTER)
        if path:
            if not path.endswith(".faceprop.sqlite"):
                path += ".faceprop.sqlite"
            self.open_project(path, create=True)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    # -- jobs ---------------------------------------------------------------------------------
    def add_videos_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Add videos", "", VIDEO_FILTER)
        if paths:
            self.run_job("Adding videos (decoding each once)…", add_videos_job(paths))

    def import_300vw_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Import 300VW clip folder(s)")
        if folder:
            self.run_job("Importing 300VW…", import_300vw_job(folder))

    def export_300vw_dialog(self) -> None:
        project = self.session.project
        if project is None or project.path is None:
            return
        dialog = ExportDialog(project.runs.all(), project.folder / "export_300vw", self._window)
        if dialog.exec():
            opts = dialog.options()
            self.run_job(f"Exporting to {opts.target}…", export_300vw_job(
                opts.target, run_id=opts.run_id, labelled_only=opts.labelled_only,
                force=opts.force), refresh=False)

    def run_job(self, title: str, job: Job, refresh: bool = True) -> JobWorker | None:
        """Run a service job in a worker thread behind a cancellable progress dialog."""
        path = self.session.project_path
        if path is None:
            self.message.emit("Open or create a project first.")
            return None
        worker = JobWorker(path, job, self)
        dialog = QProgressDialog(title, "Cancel", 0, 0, self._window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(worker.request_stop)

        def progressed(step: int, total: int) -> None:
            dialog.setMaximum(max(total, 1))
            dialog.setValue(min(step, max(total, 1)))

        def done(result: object) -> None:
            dialog.reset()
            self.message.emit(f"{title.rstrip('…')}: done")
            if refresh:
                self._reload_after_job()
            self.job_succeeded.emit(result)

        def failed(message: str, cancelled: bool) -> None:
            dialog.reset()
            if cancelled:
                self.message.emit(message)
            else:
                self.error.emit("FaceProp", message)
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
        """Show the first video when none was shown (a job added some), else refresh the list."""
        project = self.session.project
        if project is not None and self.session.video is None:
            videos = project.videos.all()
            if videos:
                self.session.set_video(videos[0].id)
                return
        self.videos_changed.emit()

    def shutdown(self) -> None:
        """Stop every job thread and wait for it."""
        for worker in list(self.jobs):
            worker.request_stop()
            worker.wait()
        self.jobs.clear()
