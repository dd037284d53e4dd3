"""Project controller: open, create and reopen projects (the recent list and the last-project
setting), the demo project (built off the GUI thread in a temporary folder that is removed when
the window closes, never remembered as recent or last), videos dropped on the window, and the
File-menu jobs (add videos, import, export) that run as ``JobWorker`` threads behind a
cancellable progress dialog. File dialogs start in the open project's folder."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFileDialog, QMenu, QProgressDialog, QWidget

from app.demo import DEMO_PREFIX, create_demo_project, new_demo_folder
from app.dialogs import ExportDialog
from app.jobs import add_videos_job, export_300vw_job, import_300vw_job
from app.playback import FrameController
from app.state import LabelSession
from app.workers import Job, JobWorker, TaskWorker
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
    recent_changed = Signal()  # the recent-projects list changed
    busy = Signal(object)  # what is being prepared (the demo), or None when done

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
        #: builds the demo project in a given folder and returns its path (tests swap it)
        self.demo_factory: Callable[[Path], Path] = create_demo_project
        self.demo_folders: list[Path] = []  # temporary folders of demo projects, removed at exit
        self.demo_worker: TaskWorker | None = None
        self._closing = False

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
        if self.is_demo(path):
            return
        recent = [str(path)] + [p for p in self.recent_projects()
                                if p != str(path) and not _in_demo_folder(Path(p))]
        self.settings.setValue("projects/recent", recent[:MAX_RECENT])
        self.settings.setValue("projects/last", str(path))
        self._rebuild_recent_menu()

    def forget_missing(self) -> None:
        """Drop the recent projects whose file no longer exists."""
        self.settings.setValue("projects/recent",
                               [p for p in self.recent_projects() if Path(p).is_file()])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_changed.emit()
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        for path in self.recent_projects():
            action = menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
            if not Path(path).is_file():
                action.setText(f"{path} (not found)")
                action.setEnabled(False)
        menu.setEnabled(bool(self.recent_projects()))

    def start_folder(self) -> str:
        """Where file dialogs open: the open project's folder (a demo's temporary folder is
        skipped), else the folder of the most recent project that still exists, else home."""
        path = self.session.project_path
        candidates = ([path] if path is not None and not self.is_demo(path) else []) + [
            Path(p) for p in self.recent_projects()]
        for candidate in candidates:
            if candidate.parent.is_dir():
                return str(candidate.parent)
        return str(Path.home())

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
        path = self.session.project_path
        assert path is not None
        self._remember_project(path)
        self.message.emit("Opened the demo project: press P to propagate (it is removed when "
                          "FaceProp closes)" if self.is_demo(path) else f"Opened {path}")
        return True

    def new_project_dialog(self, videos: Sequence[Path] = ()) -> None:
        """Ask where to create a project, open it, then add ``videos`` (dropped files) to it."""
        if videos:
            title = f"New project for {len(videos)} dropped video(s)"
            start = Path(videos[0]).parent / f"{Path(videos[0]).stem}.faceprop.sqlite"
        else:
            title, start = "New project", Path(self.start_folder()) / "project.faceprop.sqlite"
        path, _ = QFileDialog.getSaveFileName(self._window, title, str(start), PROJECT_FILTER)
        if not path:
            return
        if not path.endswith(".faceprop.sqlite"):
            path += ".faceprop.sqlite"
        if self.open_project(path, create=True) and videos:
            self.add_videos(videos)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open project", self.start_folder(),
                                              PROJECT_FILTER)
        if path:
            self.open_project(path)

    # -- the demo -----------------------------------------------------------------------------
    def is_demo(self, path: Path) -> bool:
        return any(path.parent == folder for folder in self.demo_folders)

    def open_demo(self) -> None:
        """Build the demo project (a synthetic clip, off the GUI thread) and open it."""
        if self.demo_worker is not None:
            self.message.emit("The demo is still being prepared…")
            return
        if self._is_busy():
            self.message.emit("Stop the running propagation before switching projects.")
            return
        folder = new_demo_folder()
        self.demo_folders.append(folder)
        worker = TaskWorker(lambda: self.demo_factory(folder), self)
        worker.succeeded.connect(self._demo_ready)
        worker.failed.connect(lambda text: self.error.emit("Cannot build the demo", text))
        worker.finished.connect(self._demo_done)
        self.demo_worker = worker
        self.busy.emit("Preparing the demo (a synthetic 120-frame clip)…")
        self.message.emit("Preparing the demo…")
        worker.start()

    def _demo_ready(self, path: object) -> None:
        if not self._closing:
            self.open_project(Path(str(path)))

    def _demo_done(self) -> None:
        worker, self.demo_worker = self.demo_worker, None
        if worker is not None:
            worker.deleteLater()
        self.busy.emit(None)

    def remove_demo_folders(self) -> None:
        """Delete the demo projects' temporary folders (the window is closing; the project is
        closed and the demo builder has finished)."""
        for folder in self.demo_folders:
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed the demo project folder %s", folder)
        self.demo_folders.clear()

    # -- jobs ---------------------------------------------------------------------------------
    def add_videos_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Add videos", self.start_folder(),
                                                VIDEO_FILTER)
        if paths:
            self.add_videos(paths)

    def add_videos(self, paths: Sequence[str | Path]) -> None:
        self.run_job("Adding videos (decoding each once)…", add_videos_job(list(paths)))

    def add_dropped_videos(self, paths: Sequence[Path]) -> None:
        """Videos dropped on the window: add them, or offer to create a project first."""
        if self.session.project is not None:
            self.add_videos(paths)
            return
        self.message.emit("No project is open: choose where to create one for the dropped "
                          "videos.")
        # after the drop has returned: a modal dialog inside a drop would hold the drag source
        QTimer.singleShot(0, self, lambda: self.new_project_dialog(list(paths)))

    def import_300vw_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Import 300VW clip folder(s)",
                                                  self.start_folder())
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
        """Stop every job thread and wait for it (and for the demo builder)."""
        self._closing = True
        for worker in list(self.jobs):
            worker.request_stop()
            worker.wait()
        self.jobs.clear()
        if self.demo_worker is not None:
            self.demo_worker.wait()
            self._demo_done()


def _in_demo_folder(path: Path) -> bool:
    """A project inside a demo's temporary folder (left in the list by an older FaceProp)."""
    return path.parent.name.startswith(DEMO_PREFIX)
