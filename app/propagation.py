"""Runs ``python -m trainer`` for one video (or another trainer command of ``main.py``, such as
``train-model``) in a QProcess and reads its events (``core.protocol``).

Stop sends SIGTERM (a TSAL trainer checkpoints and keeps its results so far; a baseline is
cancelled); Cancel kills it and marks its run, announced by id when it was created, cancelled.
Nothing waits on the GUI thread: results are announced by ``run_finished``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from core.protocol import (
    DEFAULT_METHOD,
    EXIT_CANCELLED,
    EXIT_OK,
    Done,
    ErrorEvent,
    ProgressEvent,
    RunCreated,
    RunFinished,
    decode,
)
from core.store import Project

logger = logging.getLogger(__name__)

#: The folder that holds the ``trainer`` package, where the process starts.
CODE_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["DEFAULT_METHOD", "PropagationRunner"]


class PropagationRunner(QObject):
    """One trainer process at a time; emits parsed progress and a final outcome."""

    started = Signal()
    progressed = Signal(str, int, int, object)  # phase, step, total, eta seconds | None
    losses_reported = Signal(object)  # {name: value} of the latest training step
    run_created = Signal(int)  # the trainer created this run (before any work)
    run_finished = Signal(str, str)  # outcome "done" / "stopped" / "cancelled" / "failed", message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = b""
        self._error_message = ""
        self._stderr_tail = b""
        self._user_action = ""
        self._project_path = ""
        self.run_id: int | None = None
        self._what = "propagation"
        self.result: object = None  # the command's result (its "done" event)

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, project_path: str | Path, video_id: int, method: str = DEFAULT_METHOD,
              python: str | None = None) -> None:
        args = ["-m", "trainer", "--project", str(project_path), "--video", str(video_id),
                "--method", method]
        self._launch(project_path, args, "propagation", python)

    def start_command(self, project_path: str | Path, command: list[str], what: str,
                      python: str | None = None) -> None:
        """Run ``main.py --json COMMAND...`` (e.g. train-model) the same way; its result is
        ``self.result`` when it is done, and messages call it ``what``."""
        self._launch(project_path, [str(CODE_ROOT / "main.py"), "--json", *command], what,
                     python)

    def _launch(self, project_path: str | Path, args: list[str], what: str,
                python: str | None) -> None:
        if self._process is not None:
            raise RuntimeError(f"a {self._what} is already running")
        self._buffer, self._error_message, self._stderr_tail = b"", "", b""
        self._user_action, self._what, self.result = "", what, None
        self._project_path = str(project_path)
        self.run_id = None
        process = QProcess(self)
        process.setWorkingDirectory(str(CODE_ROOT))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self._process = process
        logger.info("starting trainer: %s %s", python or sys.executable, " ".join(args))
        process.start(python or sys.executable, args)
        self.started.emit()

    def stop(self) -> None:
        """Graceful: SIGTERM; the trainer stops at a clean point and keeps earlier runs."""
        if self._process is not None:
            self._user_action = "stopped"
            self._process.terminate()

    def cancel(self) -> None:
        """Immediate: kill the process; its run (known by id) is then marked cancelled."""
        if self._process is not None:
            self._user_action = "cancelled"
            self._process.kill()

    # -- process output -----------------------------------------------------------------------
    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._handle_line(line)

    def _read_stderr(self) -> None:
        if self._process is not None:
            data = bytes(self._process.readAllStandardError().data())
            self._stderr_tail = (self._stderr_tail + data)[-4000:]

    def _handle_line(self, line: bytes) -> None:
        text = line.strip()
        if not text:
            return
        event = decode(text)
        if event is None:
            logger.debug("trainer said: %s", text[:200])
        elif isinstance(event, ProgressEvent):
            self.progressed.emit(event.phase, int(event.step), int(event.total), event.eta_s)
            if isinstance(event.losses, dict):
                self.losses_reported.emit(dict(event.losses))
        elif isinstance(event, RunCreated):
            self.run_id = int(event.run_id)
            self.run_created.emit(self.run_id)
        elif isinstance(event, RunFinished):
            self.run_id = int(event.run_id)
        elif isinstance(event, Done):
            self.result = event.result
            result = event.result or {}
            if isinstance(result, dict) and result.get("run_id") is not None:
                self.run_id = int(result["run_id"])
        elif isinstance(event, ErrorEvent):
            self._error_message = str(event.message or "the trainer failed")

    def _end_killed_run(self) -> None:
        """A killed trainer cannot finish its run: end it here, by the id it announced."""
        if self.run_id is None or not self._project_path:
            return
        try:
            with Project.open(self._project_path) as project:
                project.runs.end_if_running(self.run_id, "cancelled", "cancelled by the user")
        except Exception:  # the project is still readable at the next reload, which does it
            logger.exception("could not mark run %s cancelled", self.run_id)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._error_message = f"the trainer could not start ({self._process.errorString()})"
            self._finish("failed", self._error_message)

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._buffer:
            self._handle_line(self._buffer)
            self._buffer = b""
        self._read_stderr()
        if exit_status == QProcess.ExitStatus.NormalExit and exit_code == EXIT_OK:
            if self._user_action == "stopped":  # a TSAL trainer stops with usable results
                self._finish("stopped", "results so far kept; propagate again to continue")
            else:
                self._finish("done", "")
        elif self._user_action:
            if self._user_action == "cancelled":
                self._end_killed_run()
            self._finish(self._user_action, f"{self._what} {self._user_action}")
        elif exit_code == EXIT_CANCELLED:
            self._finish("stopped", self._error_message or f"{self._what} stopped")
        else:
            message = self._error_message or self._stderr_tail.decode(errors="replace").strip()
            self._finish("failed", message or f"the trainer exited with code {exit_code}")

    def _finish(self, outcome: str, message: str) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        self.run_finished.emit(outcome, message)

    def shutdown(self) -> None:
        """Kill a running trainer and wait for it (used when the window closes)."""
        process, self._process = self._process, None
        if process is not None:
            process.finished.disconnect(self._finished)
            process.kill()
            process.waitForFinished(3000)
            process.deleteLater()
