"""An error no handler caught is a message box with one line, never a console traceback."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QMessageBox, QWidget

from app import error_hook
from core.errors import StoreError


def test_uncaught_errors_become_one_line_messages(qtbot, monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: shown.append(text))
    monkeypatch.setattr(error_hook, "LOG_FILE", tmp_path / "errors.log")
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    window = QWidget()
    qtbot.addWidget(window)
    error_hook.install_error_hook(window, lambda: "p.faceprop.sqlite")
    for exc in (StoreError("p.faceprop.sqlite: no such project file"),
                OSError(28, "No space left on device", "/data/out"),
                KeyError("boom")):
        try:
            raise exc
        except BaseException as caught:
            sys.excepthook(type(caught), caught, caught.__traceback__)
    assert shown[0] == "p.faceprop.sqlite: no such project file"
    assert shown[1] == "/data/out: No space left on device"
    assert "unexpected KeyError" in shown[2] and str(tmp_path / "errors.log") in shown[2]
    assert "Traceback" in (tmp_path / "errors.log").read_text()
    assert all("\n" not in text for text in shown)
