"""Edit controller: shows the current frame's shape (with its points' review states) in the view
and turns gestures and actions into undo commands (drag, rotate/scale, visibility, template,
accept, copy, delete, mark keyframe).

Each edit starts from the frame's annotation, or from the latest run's pseudo-label (every point
predicted) on a frame that has none; see ``app.commands`` for what each does to the states. A
lone dragged point takes its followers with it (``app.shape_drag``); the drag, followers
included, is one command. While a point is held the shown frame is not redrawn (a re-solve or a
run that ends then is shown on release).

A frame marked "no face" shows no predicted points, only the caption ``NO_FACE_CAPTION``; an edit
there is refused by the store, with its message in the status bar (``app.commands``)."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QUndoStack

from app.commands import (
    AcceptPointsCommand,
    CopyKeyframeCommand,
    DeleteKeyframeCommand,
    MovePointCommand,
    PlaceTemplateCommand,
    ToggleVisibilityCommand,
    TransformPointsCommand,
)
from app.frame_view import FrameView
from app.shape_drag import ShapeDragController
from app.state import LabelSession
from core.editing import KEYFRAME_SOURCES, edited_source
from core.landmarks import Box, bounding_box, fit_mean_shape_to_box
from core.review_states import PREDICTED

logger = logging.getLogger(__name__)

ROTATE_STEP_DEG = 2.0  # one press of [ or ]
SCALE_STEP = 1.02  # one press of = (and 1 / SCALE_STEP for -)
REDRAW_AFTER_DRAG_MS = 50  # how often a redraw held back by a drag tries again
NO_FACE_CAPTION = "No face (marked)"  # over a frame marked "no face"


class EditController(QObject):
    """Keeps the view's landmark layer in step with the session and pushes edit commands."""

    message = Signal(str)

    def __init__(self, session: LabelSession, view: FrameView, undo_stack: QUndoStack,
                 settings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = view
        self.undo_stack = undo_stack
        self.show_pseudo = True
        self.shape_drag = ShapeDragController(session, view, undo_stack, settings, self)
        self._shown: tuple[int, int] | None = None  # (video id, frame) the view's shape is of
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_AFTER_DRAG_MS)
        self._redraw.timeout.connect(self.refresh)
        view.points_dragged.connect(self._points_dragged)
        view.box_drawn.connect(self.place_template)
        session.frame_changed.connect(self.refresh)
        session.run_changed.connect(self.refresh)
        session.annotation_changed.connect(self._annotation_changed)
        session.absences_changed.connect(self.refresh)
        session.edit_refused.connect(self.refresh)  # a refused drag puts its points back

    # -- display ------------------------------------------------------------------------------
    def refresh(self, *_args: object) -> None:
        """Show the current frame's annotation (each point styled by its review state, the
        predicted ones coloured by the run's confidence) or pseudo-label (hollow). Held back
        while a point of the same frame is being dragged."""
        video = self.session.video
        where = None if video is None else (video.id, self.session.frame)
        if self.view.dragging and where == self._shown:
            self._redraw.start()
            return
        self._shown = where
        absent = video is not None and self.session.is_absent()
        self.view.set_caption(NO_FACE_CAPTION if absent else "")
        annotation = self.session.annotation()
        pseudo = None if absent else self.session.pseudo_label()
        if annotation is not None:
            self.view.show_shape(annotation.points, annotation.visible, "manual",
                                 None if pseudo is None else pseudo[1], annotation.states)
            self.view.show_comparison(pseudo[0] if pseudo is not None and self.show_pseudo
                                      else None)
        elif pseudo is not None and self.show_pseudo:
            self.view.show_shape(pseudo[0], None, "pseudo", pseudo[1])
            self.view.show_comparison(None)
        else:
            self.view.show_shape(None)
            self.view.show_comparison(None)

    def _annotation_changed(self, video_id: int, frame: int) -> None:
        video = self.session.video
        if video is not None and video.id == video_id and frame == self.session.frame:
            self.refresh()

    def set_show_pseudo(self, shown: bool) -> None:
        self.show_pseudo = shown
        self.refresh()

    def current_shape(self) -> np.ndarray | None:
        annotation = self.session.annotation()
        if annotation is not None:
            return annotation.points
        pseudo = self.session.pseudo_label()
        return None if pseudo is None else pseudo[0]

    # -- helpers ------------------------------------------------------------------------------
    def _where(self) -> tuple[int, int] | None:
        if self.session.video is None:
            self.message.emit("Open a project and select a video first.")
            return None
        return self.session.video.id, self.session.frame

    def _base(self) -> tuple[np.ndarray, np.ndarray, str, np.ndarray] | None:
        """What an edit starts from: (points, visible, source after the edit, review states) of
        the annotation, else of the pseudo-label (every point predicted; becomes corrected)."""
        annotation = self.session.annotation()
        if annotation is not None:
            return (annotation.points, annotation.visible, edited_source(annotation.source),
                    np.asarray(annotation.states))
        pseudo = self.session.pseudo_label()
        if pseudo is not None:
            n = len(pseudo[0])
            return (pseudo[0], np.ones(n, dtype=bool), edited_source(None),
                    np.full(n, PREDICTED, dtype=np.uint8))
        return None

    # -- edits --------------------------------------------------------------------------------
    def _points_dragged(self, indices: np.ndarray, positions: np.ndarray,
                        dragged: list[int]) -> None:
        """One drag, followers included, as one command: ``dragged`` become placed."""
        where, base = self._where(), self._base()
        if where is None or base is None:
            self.refresh()
            return
        points, visible, source, states = base
        self.undo_stack.push(MovePointCommand(self.session, *where, points, visible,
                                              [int(i) for i in indices], positions, source,
                                              states, [int(i) for i in dragged]))

    def toggle_visibility(self) -> None:
        where, base = self._where(), self._base()
        indices = self.view.layer.selected_indices()
        if where is None or base is None or not indices:
            self.message.emit("Select points first (click, Ctrl+click or drag a box).")
            return
        points, visible, source, states = base
        self.undo_stack.push(ToggleVisibilityCommand(self.session, *where, points, visible,
                                                     indices, source, states))

    def transform_selection(self, kind: str, amount: float) -> None:
        """Rotate (``amount`` degrees, clockwise) or scale (factor) the selected points about
        their centroid; quick repeated presses merge into one undo item."""
        where, base = self._where(), self._base()
        indices = self.view.layer.selected_indices()
        if where is None or base is None or len(indices) < 2:
            self.message.emit("Select two or more points first (drag a box, Ctrl+click, or "
                              "click a group's line).")
            return
        points, visible, source, states = base
        self.undo_stack.push(TransformPointsCommand(self.session, *where, points, visible,
                                                    indices, kind, amount, source, states))

    def rotate_selection(self, direction: int) -> None:
        self.transform_selection("rotate", direction * ROTATE_STEP_DEG)

    def scale_selection(self, direction: int) -> None:
        self.transform_selection("scale", SCALE_STEP if direction > 0 else 1.0 / SCALE_STEP)

    def default_box(self) -> Box:
        """Where "Place template" puts the face: the shown shape, a neighbouring keyframe's
        box, or the middle of the visible part of the frame."""
        for frames in ((self.session.frame,), self._neighbour_frames()):
            for frame in frames:
                annotation = self.session.annotation(frame)
                if annotation is not None:
                    return bounding_box(annotation.points)
        pseudo = self.session.pseudo_label()
        if pseudo is not None:
            return bounding_box(pseudo[0])
        rect = self.view.visible_scene_rect()
        side = 0.5 * min(rect.width(), rect.height())
        return Box(rect.center().x() - 0.4 * side, rect.center().y() - 0.5 * side,
                   0.8 * side, side)

    def _neighbour_frames(self) -> list[int]:
        frames = [self.session.neighbour_keyframe(self.session.frame, -1),
                  self.session.neighbour_keyframe(self.session.frame, +1)]
        return [f for f in frames if f is not None]

    def place_template(self, box: Box | None = None) -> None:
        where = self._where()
        if where is None:
            return
        points = fit_mean_shape_to_box(box if box is not None else self.default_box())
        self.undo_stack.push(PlaceTemplateCommand(self.session, *where, points))

    def accept_pseudo_label(self) -> bool:
        """A: accept the selected points of this frame as they are, or with nothing selected
        every point still predicted (placed points stay placed). A selection without a
        predicted point (the points just dragged: a drag selects them) does not limit it, so
        "fix a few points, press A" accepts the rest. A frame that only has a pseudo-label
        becomes an annotation of it."""
        selected = self.view.layer.selected_indices()
        states = self.session.frame_states()
        if states is None or not (states[selected] == PREDICTED).any():
            selected = []
        return self.accept(selected or None)

    def accept(self, which: list[int] | None = None) -> bool:
        """Accept the predicted points among ``which`` (None: all) as one undo command."""
        where = self._where()
        if where is None:
            return False
        annotation = self.session.annotation()
        if annotation is not None:
            points, visible = annotation.points, annotation.visible
            states = np.asarray(annotation.states)
            # a detector label accepted is an accepted label; any other keeps its source
            source = (KEYFRAME_SOURCES["accept"] if annotation.source == "detector"
                      else annotation.source)
        else:
            pseudo = self.session.pseudo_label()
            if pseudo is None:
                self.message.emit("No pseudo-label on this frame: propagate first.")
                return False
            points, visible, source = pseudo[0], None, KEYFRAME_SOURCES["accept"]
            states = np.full(len(points), PREDICTED, dtype=np.uint8)
        chosen = states if which is None else states[which]
        if not (chosen == PREDICTED).any():
            self.message.emit("Nothing to accept: those points are already placed or accepted."
                              if which is not None else
                              "Nothing to accept: every point is already placed or accepted.")
            return False
        command = AcceptPointsCommand(self.session, *where, points, visible, states, source,
                                      which)
        self.undo_stack.push(command)
        left = int((command.states == PREDICTED).sum())
        if left and command.refused is None:
            self.message.emit(f"Accepted {int((chosen == PREDICTED).sum())} points; {left} "
                              "still predicted (A with nothing selected accepts them all).")
        return command.refused is None

    def copy_previous_keyframe(self) -> bool:
        where = self._where()
        if where is None:
            return False
        previous = self.session.neighbour_keyframe(self.session.frame, -1)
        if previous is None:
            self.message.emit("No earlier keyframe to copy.")
            return False
        annotation = self.session.annotation(previous)
        assert annotation is not None
        self.undo_stack.push(CopyKeyframeCommand(self.session, *where, annotation))
        return True

    def delete_keyframe(self) -> None:
        where = self._where()
        if where is None:
            return
        if self.session.annotation() is None:
            self.message.emit("This frame is not a keyframe.")
            return
        self.undo_stack.push(DeleteKeyframeCommand(self.session, *where))

    def toggle_keyframe(self) -> None:
        """K: unmark a keyframe; else start one from the pseudo-label, the previous keyframe
        or the template, in that order."""
        if self._where() is None:
            return
        if self.session.annotation() is not None:
            self.delete_keyframe()
        elif self.session.pseudo_label() is not None:
            self.accept()
        elif self.session.neighbour_keyframe(self.session.frame, -1) is not None:
            self.copy_previous_keyframe()
        else:
            self.place_template()
