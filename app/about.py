"""Help → About: FaceProp's version, the trainer's torch and device, and the licence.

The GUI never imports torch (the trainer runs in its own process): torch's version is read from
the installed package's metadata, and the device is the one the open project's latest run
recorded, else how the trainer will choose it.
"""

from __future__ import annotations

import html
from importlib.metadata import PackageNotFoundError, version

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from core.store import Project

LICENCE = "MIT"
DEVICE_UNKNOWN = "decided by the trainer when it runs (CUDA if present, else CPU)"


def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def recorded_device(project: Project | None) -> tuple[str, int] | None:
    """(device, run id) of the open project's newest run that recorded a device, or None."""
    if project is None:
        return None
    for run in reversed(project.runs.all()):
        if run.device:
            return run.device, run.id
    return None


def about_lines(project: Project | None) -> list[tuple[str, str]]:
    """The About box's rows as (label, value)."""
    torch = package_version("torch")
    device = recorded_device(project)
    return [
        ("Version", package_version("faceprop") or "unknown (not installed as a package)"),
        ("torch", torch or "not installed (Propagate needs it: make run)"),
        ("Device", f"{device[0]} (recorded by run {device[1]} of this project)" if device
         else DEVICE_UNKNOWN),
        ("Licence", LICENCE),
    ]


def about_html(project: Project | None) -> str:
    rows = "".join(f"<tr><td><b>{html.escape(label)}</b>&nbsp;&nbsp;</td>"
                   f"<td>{html.escape(value)}</td></tr>" for label, value in about_lines(project))
    return ("<h3>FaceProp</h3><p>Label 68-point facial landmarks in video from a few keyframes."
            f"</p><table>{rows}</table>")


def show_about(parent: QWidget, project: Project | None) -> QMessageBox:
    """Open the About box without blocking the event loop (window-modal); returns it."""
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About FaceProp", about_html(project),
                      QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
