"""Shape-aware drag: while one point is dragged, the points that must move with it follow.

A per-video ``ShapeModel`` (``core.shape_model``) is fitted from the video's fully reviewed
frames (every point placed or accepted; at most ``MAX_FIT_SHAPES`` of them, evenly spread) and
refitted, lazily at the next drag, when they change; with few or none the generic prior carries
it. On each mouse move of a lone drag (throttled to one solve per ``MIN_INTERVAL_S``) the model
solves the frame's shape with the dragged point under the mouse, the frame's placed and accepted
points fixed and the others following (strongly in the dragged point's face part, weakly
elsewhere; contour points slide along their curve), and the view shows it at once. On release
the same solve gives the final shape and the editor pushes one undo command: the dragged point
placed, the followers keeping their states (a predicted point stays predicted: nobody vouched
for it). A solve takes about a millisecond on one core; OpenBLAS runs on one thread for the GUI
thread (``core.blas``) so that a busy machine cannot stretch it.

A frame that holds a fresh template (placed from the template, with only drags since) is the
exception to "placed points never move": the template placed them, not a person, so they
follow, with the template's larger uncertainty, except the points dragged since. A fresh
detection's points follow with the uncertainty its command carries: dlib's that of a
pseudo-label, the project model's ("Predict keyframe") the template's
(``BOX_PREDICTION_UNCERTAINTY``: on a face it has not seen it is no closer than the template).

Alt-drag moves one point alone; the Edit → Shape-aware drag toggle (QSettings
``edit/shape_aware_drag``, default on) switches following off. Group drags stay rigid.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QUndoStack

from app.commands import (
    AnnotationCommand,
    DetectCommand,
    MovePointCommand,
    PlaceTemplateCommand,
    ToggleVisibilityCommand,
    TransformPointsCommand,
)
from app.frame_view import FrameView
from app.state import LabelSession
from core.blas import one_blas_thread_here
from core.errors import FacePropError
from core.landmarks import N_POINTS
from core.review_states import pinned
from core.shape_model import PREDICTION_UNCERTAINTY, TEMPLATE_UNCERTAINTY, ShapeModel

logger = logging.getLogger(__name__)

SETTING = "edit/shape_aware_drag"
MIN_INTERVAL_S = 0.015  # at most one solve per this while the mouse moves (about 60 a second)
MAX_FIT_SHAPES = 80  # more reviewed frames add little to a video's modes and cost fit time


@dataclass(frozen=True)
class DragContext:
    """What one drag solves with: the model, the points that never move, the uncertainty of
    the others (inter-ocular units)."""

    model: ShapeModel
    fixed: np.ndarray
    uncertainty: float


def _since_placement(stack: QUndoStack, video_id: int, frame: int
                     ) -> tuple[AnnotationCommand, set[int]] | None:
    """The command that last placed a whole shape on ``frame`` (a template or a detection) and
    the points dragged since, or None when anything else touched the frame since: walking the
    undo stack back from its current index, the frame's commands since the placement are all
    drags, transforms or visibility toggles. A transform of every point (the whole shape turned
    or scaled) keeps it fresh."""
    moved: set[int] = set()
    for i in range(stack.index() - 1, -1, -1):
        command = stack.command(i)
        if not isinstance(command, AnnotationCommand) or (
                command.video_id, command.frame) != (video_id, frame):
            continue
        if isinstance(command, PlaceTemplateCommand | DetectCommand):
            return command, moved
        if isinstance(command, MovePointCommand):
            moved |= set(command.dragged)
        elif isinstance(command, TransformPointsCommand):
            if len(command.indices) < N_POINTS:
                moved |= set(command.indices)
        elif not isinstance(command, ToggleVisibilityCommand):
            return None
    return None


def fresh_template_drags(stack: QUndoStack, video_id: int, frame: int) -> set[int] | None:
    """The points dragged since a template was placed on ``frame``, or None when the frame does
    not hold a fresh template (see :func:`_since_placement`)."""
    found = _since_placement(stack, video_id, frame)
    return found[1] if found is not None and isinstance(found[0], PlaceTemplateCommand) else None


def fresh_detection_uncertainty(stack: QUndoStack, video_id: int, frame: int) -> float | None:
    """How far the points of a fresh detection on ``frame`` may be off (the
    :class:`DetectCommand`'s ``uncertainty``), or None when the frame holds none."""
    found = _since_placement(stack, video_id, frame)
    return found[0].uncertainty if found is not None and isinstance(found[0], DetectCommand) \
        else None


class ShapeDragController(QObject):
    """Moves the followers of a lone dragged point in the view, live and on release."""

    enabled_changed = Signal(bool)

    def __init__(self, session: LabelSession, view: FrameView, undo_stack: QUndoStack,
                 settings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = view
        self.undo_stack = undo_stack
        self._settings = settings
        self.enabled = bool(settings.value(SETTING, True, type=bool)) if settings else True
        self._model: ShapeModel | None = None
        self._fitted: set[int] = set()  # the frames the model was fitted from
        self._context: DragContext | None = None
        self._pending: tuple[int, bool] | None = None
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        #: milliseconds of the latest follows (solve and redraw of the points), for measurements
        self.follow_ms: deque[float] = deque(maxlen=1000)
        view.point_drag_moved.connect(self._moved)
        one_blas_thread_here()  # the solves run on this (the GUI) thread: keep them quick
        session.annotation_changed.connect(self._annotation_changed)
        session.video_changed.connect(self.forget_model)

    def set_enabled(self, enabled: bool) -> None:
        """Switch following on or off (remembered in QSettings)."""
        self.enabled = bool(enabled)
        if self._settings is not None:
            self._settings.setValue(SETTING, self.enabled)
        self.enabled_changed.emit(self.enabled)

    # -- the model ----------------------------------------------------------------------------
    def model(self) -> ShapeModel:
        """The current video's shape model, fitted now if its reviewed frames changed."""
        if self._model is None:
            frames = self._reviewed_frames()
            shapes = (np.stack([self.session.keyframe_points[f] for f in frames]) if frames
                      else np.zeros((0, N_POINTS, 2)))
            started = time.perf_counter()
            self._model = ShapeModel.fit(shapes)
            self._fitted = set(frames)
            logger.debug("shape model of %d frames fitted in %.1f ms", len(frames),
                         (time.perf_counter() - started) * 1000)
        return self._model

    def _reviewed_frames(self) -> list[int]:
        s = self.session
        frames = sorted(f for f, states in s.keyframe_states.items()
                        if f in s.keyframe_points and pinned(states).all())
        if len(frames) > MAX_FIT_SHAPES:
            keep = np.unique(np.linspace(0, len(frames) - 1, MAX_FIT_SHAPES).round().astype(int))
            frames = [frames[i] for i in keep]
        return frames

    def forget_model(self) -> None:
        self._model, self._fitted, self._context = None, set(), None

    def _annotation_changed(self, video_id: int, frame: int) -> None:
        s = self.session
        if s.video is None or s.video.id != video_id:
            return
        states = s.keyframe_states.get(frame)
        if frame in self._fitted or (states is not None and pinned(states).all()):
            self._model = None  # refitted at the next drag

    # -- the drag -----------------------------------------------------------------------------
    def _drag_context(self) -> DragContext:
        s, layer = self.session, self.view.layer
        found = None if s.video is None else _since_placement(self.undo_stack, s.video.id,
                                                               s.frame)
        if found is not None and isinstance(found[0], PlaceTemplateCommand):
            fixed = np.zeros(N_POINTS, dtype=bool)
            fixed[sorted(found[1])] = True
            return DragContext(self.model(), fixed, TEMPLATE_UNCERTAINTY)
        detected = found is not None and isinstance(found[0], DetectCommand)
        return DragContext(self.model(), pinned(layer.states),
                           found[0].uncertainty if detected else PREDICTION_UNCERTAINTY)

    def _moved(self, index: int, alt: bool, final: bool) -> None:
        if final:
            self._timer.stop()
            self._pending = None
            self._follow(index, alt)
            self._context = None
            return
        wait = self._last + MIN_INTERVAL_S - time.monotonic()
        if wait > 0:
            self._pending = (index, alt)
            if not self._timer.isActive():
                self._timer.start(max(1, round(wait * 1000)))
            return
        self._follow(index, alt)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and self.view.dragging:
            self._follow(*pending)

    def _follow(self, index: int, alt: bool) -> None:
        """Put the followers where the model says, given the dragged point where it is now
        (back home when following is off, Alt is held or the point is back where it was)."""
        started = time.perf_counter()
        layer = self.view.layer
        target = layer.positions()[index]
        if not self.enabled or alt or np.abs(target - layer.base[index]).max() <= 1e-3:
            layer.restore(keep=index)
            return
        try:
            if self._context is None:
                self._context = self._drag_context()
            context = self._context
            shape = context.model.solve(layer.base, {index: target}, fixed=context.fixed,
                                        uncertainty=context.uncertainty)
        except FacePropError as exc:  # e.g. a shape with non-finite points: move it alone
            logger.warning("shape-aware drag fell back to one point: %s", exc)
            layer.restore(keep=index)
            return
        layer.set_positions(shape, keep=index)
        self._last = time.monotonic()
        self.follow_ms.append((time.perf_counter() - started) * 1000)
