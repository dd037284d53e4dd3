"""The window's actions, menus and toolbar, in one table: name, text, shortcut, slot, tip.

Help → Shortcuts is generated from these actions, so the list cannot drift from the keys; it
also edits them. Overrides live in QSettings under ``shortcuts/<name>`` and are applied here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

import resources
from app.icons import icon
from app.shortcuts import find_conflict, refresh_tooltip, settings_key
from core.methods import USER_METHODS

if TYPE_CHECKING:
    from app.main_window import MainWindow

logger = logging.getLogger(__name__)

K = QKeySequence


def _spec(w: MainWindow) -> list[tuple[str, str, str, list[QKeySequence], Callable[[], object],
                                       str]]:
    """(menu, name, text, shortcuts, slot, tip); menu "" = toolbar-only helpers."""
    f, e, s, p = w.frames, w.editor, w.session, w.projects
    return [
        ("File", "new_project", "&New project…", [K(K.StandardKey.New)], p.new_project_dialog,
         "Create a project file"),
        ("File", "open_project", "&Open project…", [K(K.StandardKey.Open)],
         p.open_project_dialog, "Open a project file"),
        ("File", "open_demo", "Open the &demo", [], p.open_demo,
         "A temporary project with a synthetic clip, removed when FaceProp closes"),
        ("File", "add_videos", "&Add video(s)…", [K("Ctrl+Shift+A")], p.add_videos_dialog,
         "Add videos (each is decoded once to index its frames)"),
        ("File", "import_300vw", "&Import 300VW folder…", [K("Ctrl+I")], p.import_300vw_dialog,
         "Import 300VW clip folders (vid.avi + annot/)"),
        ("File", "export_300vw", "&Export 300VW…", [K("Ctrl+E")], p.export_300vw_dialog,
         "Export every frame in 300VW format with a provenance sidecar"),
        ("File", "quit", "&Quit", [K(K.StandardKey.Quit)], w.close, "Quit FaceProp"),
        ("Edit", "undo", "&Undo", [K("Ctrl+Z")], w.undo_stack.undo, "Undo the last edit"),
        ("Edit", "redo", "&Redo", [K("Ctrl+Shift+Z"), K("Ctrl+Y")], w.undo_stack.redo,
         "Redo"),
        ("Edit", "place_template", "Place &template", [K("T")], e.place_template,
         "Fit the mean face to this frame (or to the previous keyframe's box)"),
        ("Edit", "draw_template", "Place template in a &box…", [K("B")],
         w.view.toggle_box_mode,
         "Box mode: drag a box around the face and the mean face is fitted to it (Esc or B "
         "leaves)"),
        ("Edit", "accept", "&Accept predicted points", [K("A")], e.accept_pseudo_label,
         "Accept this frame's predicted points as they are (only the selected ones when points "
         "are selected); moved points stay placed"),
        ("Edit", "copy_previous", "&Copy previous keyframe", [K("C")],
         e.copy_previous_keyframe, "Start this keyframe from the previous one"),
        ("Edit", "toggle_keyframe", "Mark / unmark &keyframe", [K("K")], e.toggle_keyframe,
         "Unmark a keyframe, or start one (accept, copy or template)"),
        ("Edit", "delete_keyframe", "&Delete keyframe", [K("Delete")], e.delete_keyframe,
         "Remove this frame's annotation"),
        ("Edit", "toggle_visibility", "Toggle &visibility (occluded)", [K("V")],
         e.toggle_visibility, "Mark the selected points occluded / visible"),
        ("Edit", "rotate_ccw", "Rotate selection ↺ 2°", [K("[")],
         lambda: e.rotate_selection(-1),
         "Rotate the selected points anticlockwise about their centre (click a group's line "
         "to select it)"),
        ("Edit", "rotate_cw", "Rotate selection ↻ 2°", [K("]")], lambda: e.rotate_selection(1),
         "Rotate the selected points clockwise about their centre"),
        ("Edit", "scale_down", "Shrink selection 2%", [K("-")], lambda: e.scale_selection(-1),
         "Shrink the selected points towards their centre"),
        ("Edit", "scale_up", "Grow selection 2%", [K("="), K("+")],
         lambda: e.scale_selection(1), "Spread the selected points away from their centre"),
        ("Edit", "shape_drag", "S&hape-aware drag", [], None,
         "Dragging one point moves the points that must move with it (Alt-drag moves one "
         "point alone)"),
        ("Edit", "detect", "&Detect face (dlib)", [K("D")], w.detector.detect,
         "Pre-label this frame with dlib's 68-point predictor, then correct it"),
        ("Edit", "predict_keyframe", "&Predict keyframe (project model)", [K("Shift+D")],
         w.model.predict, "Place this frame's points with the project model, in the face box "
         "of the nearest keyframe, then correct them (Run › Train project model first)"),
        ("Edit", "toggle_no_face", "Toggle &no face", [K("Shift+N")], w.absences.toggle,
         "Mark this frame 'no face' (the face left the shot), or clear that mark; propagation "
         "leaves such frames out"),
        ("Edit", "mark_no_face", "Mark frames as no &face…", [], w.absences.mark_range_dialog,
         "Mark a range of frames 'no face', or clear the mark there"),
        ("Edit", "toggle_cut", "Toggle &shot cut here", [K("Shift+C")], w.cuts.toggle,
         "Start a new shot at this frame (a cut the detection missed), or remove the cut here; "
         "nothing is propagated across a cut"),
        ("Navigate", "prev_frame", "Previous frame", [K(Qt.Key.Key_Left)], lambda: f.step(-1),
         "Step back one frame"),
        ("Navigate", "next_frame", "Next frame", [K(Qt.Key.Key_Right)], lambda: f.step(1),
         "Step forward one frame"),
        ("Navigate", "back10", "Back 10 frames", [K("Shift+Left")], lambda: f.step(-10), ""),
        ("Navigate", "forward10", "Forward 10 frames", [K("Shift+Right")], lambda: f.step(10),
         ""),
        ("Navigate", "prev_keyframe", "Previous keyframe", [K("Ctrl+Left"), K(",")],
         lambda: f.keyframe(-1), "Jump to the nearest keyframe before this frame"),
        ("Navigate", "next_keyframe", "Next keyframe", [K("Ctrl+Right"), K(".")],
         lambda: f.keyframe(1), "Jump to the nearest keyframe after this frame"),
        ("Navigate", "next_suggestion", "Next &suggestion", [K("N")], w.next_suggestion,
         "Jump to the next frame the review ranks as doubtful"),
        ("Navigate", "play", "&Play / pause", [K(Qt.Key.Key_Space)], f.toggle_play,
         "Play at the video's frame rate"),
        ("Navigate", "first_frame", "First frame", [K(Qt.Key.Key_Home)], lambda: s.seek(0), ""),
        ("Navigate", "last_frame", "Last frame", [K(Qt.Key.Key_End)],
         lambda: s.seek(s.frame_count - 1), ""),
        ("Run", "propagate", "&Propagate", [K("P")], w.propagation.propagate,
         "Propagate the keyframes to every frame of this video (runs the trainer)"),
        ("Run", "train_model", "Train project &model", [], w.model.train,
         "Train one network on the keyframes of every video: new videos start from it, and "
         "Predict keyframe uses it"),
        ("View", "overlay", "Show pseudo-labels", [K("O")], None,
         "Show the latest run's pseudo-labels (hollow) and compare them on keyframes"),
        ("View", "fit", "&Fit to window", [K("Ctrl+0")], w.view.fit,
         "Show the whole frame"),
        ("View", "zoom_face", "&Zoom to face", [K("F")],
         lambda: w.view.zoom_to_points(e.current_shape()), "Zoom in on this frame's landmarks"),
        ("Help", "shortcuts", "Keyboard &shortcuts", [K("F1")], w.show_shortcuts, ""),
        ("Help", "about", "&About FaceProp", [], w.show_about,
         "Version, the trainer's torch and device, licence"),
    ]


TOOLBAR = ("open_project", "add_videos", None, "prev_keyframe", "prev_frame", "play",
           "next_frame", "next_keyframe", None, "place_template", "accept", "detect",
           "toggle_keyframe", None, "propagate", "next_suggestion", None, "overlay", "zoom_face",
           "fit")
CHECKED_ICONS = {"play": "pause"}  # the icon a checkable action shows while it is on
TOOLBAR_ICON_SIZE = QSize(24, 24)  # the size the icons in resources/icons are drawn for


def _method_menu(w: MainWindow, menu: QMenu) -> None:
    """One checkable entry per method a person chooses between (dlib only where installed);
    the checked one is what Propagate runs."""
    group = QActionGroup(menu)
    group.setExclusive(True)
    for method, description in USER_METHODS.items():
        if method == "dlib" and not w.detector.available:
            continue
        action = QAction(method, menu)
        action.setCheckable(True)
        action.setChecked(method == w.propagation.method)
        action.setStatusTip(description)
        action.setToolTip(description)
        action.setData(method)
        action.triggered.connect(lambda _=False, m=method: w.propagation.set_method(m))
        group.addAction(action)
        menu.addAction(action)
    menu.setToolTipsVisible(True)


def build_actions(w: MainWindow) -> dict[str, QAction]:
    """Create the actions, menus and toolbar of ``w``; returns the actions by name."""
    actions: dict[str, QAction] = {}
    w.default_shortcuts = {}
    menus: dict[str, QMenu] = {}
    for menu_name in ("File", "Edit", "Navigate", "Run", "View", "Help"):
        menus[menu_name] = w.menuBar().addMenu(f"&{menu_name}")
    for menu_name, name, text, keys, slot, tip in _spec(w):
        action = QAction(text, w)
        if resources.has_icon(name):
            action.setIcon(icon(name, CHECKED_ICONS.get(name)))
        w.default_shortcuts[name] = keys
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
        if slot is not None:
            action.triggered.connect(lambda _=False, fn=slot: fn())
        menus[menu_name].addAction(action)
        w.addAction(action)
        actions[name] = action
        if name == "open_project":
            w.recent_menu = menus["File"].addMenu("Open &recent")
        if name == "propagate":
            _method_menu(w, menus["Run"].addMenu("Propagation &method"))
        if name in ("export_300vw", "redo", "play", "toggle_visibility", "scale_up",
                    "shape_drag", "predict_keyframe"):
            menus[menu_name].addSeparator()
    actions["detect"].setVisible(w.detector.available)
    _apply_overrides(w, actions)
    actions["play"].setCheckable(True)
    overlay = actions["overlay"]
    overlay.setCheckable(True)
    overlay.setChecked(True)
    overlay.toggled.connect(w.editor.set_show_pseudo)
    shape_drag = actions["shape_drag"]
    shape_drag.setCheckable(True)
    shape_drag.setChecked(w.editor.shape_drag.enabled)
    shape_drag.toggled.connect(w.editor.shape_drag.set_enabled)
    for dock in (w.videos_dock, w.suggestions_dock, w.history_dock):
        menus["View"].addAction(dock.toggleViewAction())
    toolbar = QToolBar("Main", w)
    toolbar.setObjectName("main_toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)  # the text is the tooltip
    toolbar.setIconSize(TOOLBAR_ICON_SIZE)
    toolbar.setMovable(False)
    for name in TOOLBAR:
        if name is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[name])
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    w.toolbar = toolbar
    return actions


def _apply_overrides(w: MainWindow, actions: dict[str, QAction]) -> None:
    """Apply the shortcuts stored in QSettings. One that clashes with another action's final
    key is dropped (and logged), so a stale setting can never make a key ambiguous."""
    overridden = []
    for name, action in actions.items():
        override = w.settings.value(settings_key(name))
        if override and not K(str(override)).isEmpty():
            action.setShortcuts([K(str(override))])
            overridden.append(name)
    for name in overridden:
        other = find_conflict(actions, name, actions[name].shortcuts())
        if other is not None:
            logger.warning("ignoring the stored shortcut of %s: it clashes with %s", name, other)
            actions[name].setShortcuts(w.default_shortcuts[name])
    for action in actions.values():
        refresh_tooltip(action)
