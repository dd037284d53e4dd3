"""The GUI's last line of defence: an error no handler caught becomes a short message box and a
traceback in a log file, never a traceback on the console or a silently dead action."""

from __future__ import annotations

import logging
import sys
import tempfile
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

from core.error_messages import describe_unexpected
from core.errors import FacePropError

logger = logging.getLogger(__name__)

LOG_FILE = Path(tempfile.gettempdir()) / "faceprop-errors.log"


def install_error_hook(window: QWidget, project_of=lambda: None) -> None:
    """Route uncaught exceptions (Qt slots included) to a message box over ``window``;
    ``project_of()`` names the open project for messages about its database."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            window.close()
            return
        if isinstance(exc, FacePropError):
            text = str(exc)
        else:
            try:
                with LOG_FILE.open("a", encoding="utf-8") as log:
                    log.write("".join(traceback.format_exception(kind, exc, tb)) + "\n")
            except OSError:
                pass
            text = describe_unexpected(exc, project_of(),
                                       details=f"the details are in {LOG_FILE}")
        logger.error("%s", text)
        QMessageBox.warning(window, "FaceProp", text)

    sys.excepthook = hook
