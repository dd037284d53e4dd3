"""The Qt side of ``resources``: QIcons from the shipped SVGs, and the look (style sheet, window
icon) applied to the application.

Icons are drawn in one ink (``INK``) plus a few fixed accents that match the timeline's colours
(keyframe orange, pseudo-label blue, suggestion red, accepted green, shot-cut magenta). On a
dark palette the ink is replaced by the palette's button text colour so the line work stays
readable; the accents stay.
"""

from __future__ import annotations

import logging
from functools import cache

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

import resources

logger = logging.getLogger(__name__)

INK = "#37474f"
APP_ICON = "faceprop"
SIZES = (16, 20, 24, 32, 48, 64)  # rendered once each; 48 and 64 serve high-DPI screens


def ink() -> str:
    """The colour the line work is drawn in under the current palette."""
    palette = QGuiApplication.palette()
    if palette.color(QPalette.ColorRole.Window).lightness() < 128:
        return palette.color(QPalette.ColorRole.ButtonText).name()
    return INK


def icon(name: str, checked: str | None = None) -> QIcon:
    """The shipped icon ``name``; with ``checked``, the icon shown while a checkable action is
    on (play shows pause). Raises FileNotFoundError for an icon that is not shipped."""
    return _build(name, checked, ink())


@cache
def _build(name: str, checked: str | None, colour: str) -> QIcon:
    result = QIcon()
    for state, svg_name in ((QIcon.State.Off, name), (QIcon.State.On, checked)):
        if svg_name is None:
            continue
        svg = resources.data(f"{resources.ICON_DIR}/{svg_name}.svg")
        renderer = QSvgRenderer(QByteArray(svg.replace(INK.encode(), colour.encode())))
        if not renderer.isValid():
            raise ValueError(f"the icon {svg_name!r} is not a valid SVG")
        for size in SIZES:
            result.addPixmap(_render(renderer, size), QIcon.Mode.Normal, state)
    return result


def _render(renderer: QSvgRenderer, size: int) -> QPixmap:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return QPixmap.fromImage(image)


def apply_look(app: QApplication) -> None:
    """Give ``app`` the shipped style sheet and the FaceProp window icon."""
    app.setStyleSheet(resources.style_sheet())
    app.setWindowIcon(icon(APP_ICON))
