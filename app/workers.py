"""Background threads: the frame loader (latest request wins) and a generic service-job worker.

Both run Qt-free core code off the GUI thread. A job worker opens its own ``Project`` because a
project (its engine and sessions) belongs to one thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from core.errors import CancelledError, FacePropError
from core.progress import Progress, ShouldStop
from core.store import Project

logger = logging.getLogger(__name__)

Job = Callable[[Project, Progress, ShouldStop], Any]


def bgr_to_qimage(bgr: np.ndarray) -> QImage:
    """A QImage that owns a copy of a BGR uint8 frame (safe to hand between threads)."""
    frame = np.ascontiguousarray(bgr)
    height, width = frame.shape[:2]
    if frame.ndim == 2:
        return QImage(frame.data, width, height, frame.strides[0],
                      QImage.Format.Format_Grayscale8).copy()
    return QImage(frame.data, width, height, frame.strides[0],
                  QImage.Format.Format_BGR888).copy()


class FrameLoaderWorker(QThread):
    """Decodes the most recently requested frame, then asks the reader to prefetch around it.

    Requests that were overtaken before decoding started are dropped; the receiver also drops
    results whose token is not the latest it asked for.
    """

    frame_loaded = Signal(int, int, QImage)  # token, frame, image
    failed = Signal(int, str)  # token, message

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._request: tuple[int, int] | None = None
        self._reader: Any = None
        self._reader_lock = threading.Lock()
        self._stopping = False

    def set_reader(self, reader: Any) -> Any:
        """Swap the reader (None to detach); returns the old one once no decode uses it."""
        with self._reader_lock:
            old, self._reader = self._reader, reader
        with self._cond:
            self._request = None
        return old

    def request(self, token: int, frame: int) -> None:
        with self._cond:
            self._request = (token, frame)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.wait()

    def run(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                token, frame = self._request
                self._request = None
            with self._reader_lock:
                reader = self._reader
                if reader is None:
                    continue
                try:
                    image = bgr_to_qimage(reader.frame(frame))
                except FacePropError as exc:
                    self.failed.emit(token, str(exc))
                    continue
                self.frame_loaded.emit(token, frame, image)
                reader.prefetch(frame, before=8, after=24)


def forget_dummy_thread() -> None:
    """Drop the record ``threading`` keeps of this QThread, if it made one.

    Python code on a thread it did not start (a QThread) that asks for the current thread (a
    thread pool, logging) gets a ``threading._DummyThread`` entry that CPython 3.11 never
    removes: one more per job, for the whole session. Called as the job's thread ends, after
    its last Python work."""
    active = getattr(threading, "_active", None)
    if isinstance(active, dict):
        record = active.get(threading.get_ident())
        if isinstance(record, threading._DummyThread):
            active.pop(threading.get_ident(), None)


class JobWorker(QThread):
    """Runs ``job(project, progress, should_stop)`` on its own ``Project`` in this thread.

    Emits ``progressed(step, total)``, then ``succeeded(result)`` or ``failed(message)``
    (``cancelled`` is True in the latter when the user stopped it).
    """

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str, bool)

    def __init__(self, project_path: str | Path, job: Job, parent: Any = None) -> None:
        super().__init__(parent)
        self._project_path = str(project_path)
        self._job = job
        self._stop = threading.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def _report(self, step: int, total: int, phase: str | None = None,
                losses: Mapping[str, float] | None = None) -> None:
        self.progressed.emit(step, total)

    def run(self) -> None:
        try:
            with Project.open(self._project_path) as project:
                result = self._job(project, self._report, self._stop.is_set)
        except CancelledError as exc:
            self.failed.emit(f"cancelled: {exc}", True)
        except FacePropError as exc:
            self.failed.emit(str(exc), False)
        except Exception as exc:  # a bug: report it instead of losing it in the thread
            logger.exception("background job failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}", False)
        else:
            self.succeeded.emit(result)
        finally:
            forget_dummy_thread()


class TaskWorker(QThread):
    """Runs ``task()`` (no project of its own, e.g. building the demo project) in this thread;
    emits ``succeeded(result)`` or ``failed(message)``. ``result`` holds the result after
    ``wait()``, for a caller that is shutting down and no longer takes signals."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, task: Callable[[], Any], parent: Any = None) -> None:
        super().__init__(parent)
        self._task = task
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self._task()
        except Exception as exc:  # reported to the user, and logged with its traceback
            logger.exception("background task failed")
            self.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.succeeded.emit(self.result)
        finally:
            forget_dummy_thread()
