"""Icons and look in the GUI: every action has a shipped icon, the toolbar shows icons only with
the action's text and key as tooltip, play turns into pause, the style sheet and window icon are
applied without Qt complaints, and a dark palette re-inks the line work."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPalette
from PySide6.QtWidgets import QApplication

import resources
from app.actions import CHECKED_ICONS
from app.icons import APP_ICON, INK, apply_look, icon, ink
from app.shortcuts import NATIVE, action_label


def _visible_pixels(qicon: QIcon, state: QIcon.State = QIcon.State.Off) -> int:
    image = qicon.pixmap(24, 24, QIcon.Mode.Normal, state).toImage()
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return sum(image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24))


def test_every_action_has_its_shipped_icon(empty_window) -> None:
    actions = empty_window.actions_by_name
    assert set(actions) <= set(resources.icon_names())
    unused = set(resources.icon_names()) - set(actions) - set(CHECKED_ICONS.values())
    assert unused == {APP_ICON}  # every other shipped icon belongs to an action
    for name, action in actions.items():
        assert not action.icon().isNull(), name


def test_toolbar_shows_icons_with_text_and_key_as_tooltip(empty_window) -> None:
    toolbar = empty_window.toolbar
    assert toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
    buttons = [a for a in toolbar.actions() if not a.isSeparator()]
    assert len(buttons) >= 10
    for action in buttons:
        assert _visible_pixels(action.icon()) > 20, action.text()
        key = action.shortcuts()[0].toString(NATIVE)
        assert action.toolTip().startswith(f"{action_label(action)} ({key})"), action.toolTip()
    assert empty_window.actions_by_name["propagate"].toolTip().startswith("Propagate (P)")


def test_play_shows_pause_while_playing(empty_window) -> None:
    play = empty_window.actions_by_name["play"].icon()
    off = play.pixmap(24, 24, QIcon.Mode.Normal, QIcon.State.Off).toImage()
    on = play.pixmap(24, 24, QIcon.Mode.Normal, QIcon.State.On).toImage()
    assert _visible_pixels(play, QIcon.State.On) > 20 and off != on


def test_style_sheet_and_window_icon_are_applied(qapp, qtlog) -> None:
    assert isinstance(qapp, QApplication)
    before_sheet, before_icon = qapp.styleSheet(), qapp.windowIcon()
    try:
        apply_look(qapp)
        assert qapp.styleSheet() == resources.style_sheet()
        assert _visible_pixels(qapp.windowIcon()) > 100
        qapp.processEvents()
        assert not [r for r in qtlog.records if "style" in r.message.lower()]
    finally:
        qapp.setStyleSheet(before_sheet)
        qapp.setWindowIcon(before_icon)


def test_dark_palette_reinks_the_line_work(qapp) -> None:
    before = QGuiApplication.palette()
    try:
        assert ink() == INK
        light = icon("undo").pixmap(24, 24).toImage()
        dark = QPalette(QColor("#303030"))
        dark.setColor(QPalette.ColorRole.ButtonText, QColor("#e8e8e8"))
        QGuiApplication.setPalette(dark)
        assert ink() == "#e8e8e8"
        assert icon("undo").pixmap(24, 24).toImage() != light
    finally:
        QGuiApplication.setPalette(before)
