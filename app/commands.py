"""Every label edit as a ``QUndoCommand`` whose redo/undo call the label service.

A command writes the database at once (there is no "save"); undo restores the annotation the
frame held before, points, visibility and per-point review states alike (or deletes the one the
command created). The stack's clean state therefore means nothing about saving.

Review states (``core.review_states``): a moved, rotated or scaled point becomes *placed* and the
others keep theirs; a template or a copied keyframe is all placed, a detection all predicted; an
accept turns the chosen predicted points *accepted*; a visibility toggle changes no state.

An edit the label service refuses with a ``ValidationError`` (a frame marked "no face" takes no
label) changes nothing: the command makes itself obsolete, so the stack drops it, keeps its
message in ``refused`` and the session announces it (``LabelSession.edit_refused``, shown in the
status bar) instead of a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from PySide6.QtGui import QUndoCommand

from app.state import LabelSession
from core.editing import (
    KEYFRAME_SOURCES,
    combine_amounts,
    move_points,
    toggle_visibility,
    transform_points,
)
from core.errors import ValidationError
from core.frame_numbers import frame_label, frame_number
from core.landmarks import N_POINTS, POINT_NAMES
from core.review_states import PLACED, PREDICTED, after_accept, after_move
from core.shape_model import PREDICTION_UNCERTAINTY
from core.store import Annotation

logger = logging.getLogger(__name__)

_MERGE_IDS = {"rotate": 1001, "scale": 1002}  # QUndoCommand.id() of mergeable transforms


class AnnotationCommand(QUndoCommand):
    """Set a frame's annotation to ``points`` with their review ``states`` (default: what
    ``source`` implies), or delete it when ``points`` is None."""

    def __init__(self, session: LabelSession, video_id: int, frame: int,
                 points: np.ndarray | None, visible: np.ndarray | None, source: str,
                 text: str, states: np.ndarray | None = None) -> None:
        super().__init__(text)
        self._session = session
        self.video_id = video_id
        self.frame = frame
        self._points = None if points is None else np.array(points, dtype=np.float32)
        self._visible = None if visible is None else np.array(visible, dtype=bool)
        self._states = None if states is None else np.array(states, dtype=np.uint8)
        self._source = source
        self._previous: Annotation | None = None
        self._done_once = False
        self.refused: str | None = None  # the store's message when it refused this edit

    @property
    def states(self) -> np.ndarray | None:
        """The review states this command writes (None: the source's default)."""
        return self._states

    def redo(self) -> None:
        self._session.focus(self.video_id, self.frame)
        try:
            self._write()
        except ValidationError as exc:
            self._refuse(exc)

    def _write(self) -> None:
        if self._points is None:
            previous = self._session.delete_annotation(self.video_id, self.frame)
        else:
            previous = self._session.write_annotation(self.video_id, self.frame, self._points,
                                                      self._visible, self._source,
                                                      self._states)
        if not self._done_once:
            self._previous, self._done_once = previous, True

    def undo(self) -> None:
        self._session.focus(self.video_id, self.frame)
        try:
            self._session.restore_annotation(self.video_id, self.frame, self._previous)
        except ValidationError as exc:
            self._refuse(exc)

    def _refuse(self, exc: ValidationError) -> None:
        refuse(self, self._session, exc, "edit")


def refuse(command: QUndoCommand, session: LabelSession, exc: ValidationError, what: str
           ) -> None:
    """The store refused ``command``'s change: nothing changed, so the stack drops the command
    (obsolete); its message is kept in ``command.refused`` and announced for the status bar."""
    logger.info("%s refused: %s", what, exc)
    command.refused = str(exc)
    command.setObsolete(True)
    session.edit_refused.emit(command.refused)


def _describe_points(indices: Sequence[int]) -> str:
    if len(indices) == 1:
        return POINT_NAMES[int(indices[0])]
    return f"{len(indices)} points"


class MovePointCommand(AnnotationCommand):
    """A drag of one or several points, pushed once on release. ``indices`` moved to
    ``positions``; of them, the ``dragged`` ones (default: all) become placed, and those that
    only followed a shape-aware drag keep their ``states``, like every other point."""

    def __init__(self, session: LabelSession, video_id: int, frame: int, base: np.ndarray,
                 visible: np.ndarray, indices: Sequence[int], positions: np.ndarray,
                 source: str, states: np.ndarray, dragged: Sequence[int] | None = None) -> None:
        points = move_points(base, indices, positions)
        self.dragged = tuple(int(i) for i in (indices if dragged is None else dragged))
        followers = len(set(int(i) for i in indices) - set(self.dragged))
        text = f"Move {_describe_points(self.dragged)}"
        if followers:
            text += f", {followers} point{'s' if followers != 1 else ''} following"
        super().__init__(session, video_id, frame, points, visible, source,
                         f"{text} ({frame_label(frame)})", after_move(states, list(self.dragged)))


class TransformPointsCommand(AnnotationCommand):
    """Rotate or scale some points about their centroid; one key press, or a quick run of them.

    Presses of the same kind on the same points of the same frame, each within
    ``MERGE_WINDOW_S`` of the previous, merge into one undo item (the gesture).
    """

    MERGE_WINDOW_S = 1.5

    def __init__(self, session: LabelSession, video_id: int, frame: int, base: np.ndarray,
                 visible: np.ndarray, indices: Sequence[int], kind: str, amount: float,
                 source: str, states: np.ndarray) -> None:
        self.indices = tuple(int(i) for i in indices)
        self.kind = kind
        self.amount = amount  # degrees (clockwise on screen) or a factor
        points = transform_points(base, self.indices, kind, amount)
        super().__init__(session, video_id, frame, points, visible, source, self._text(frame),
                         after_move(states, list(self.indices)))
        self._at = time.monotonic()

    def _text(self, frame: int | None = None) -> str:
        what = _describe_points(self.indices)
        where = f"({frame_label(self.frame if frame is None else frame)})"
        if self.kind == "rotate":
            return f"Rotate {what} by {self.amount:+.0f}° {where}"
        return f"Scale {what} by {(self.amount - 1) * 100:+.0f}% {where}"

    def id(self) -> int:
        return _MERGE_IDS[self.kind]

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, TransformPointsCommand) and other.refused is None
                and other.kind == self.kind
                and (other.video_id, other.frame, other.indices)
                == (self.video_id, self.frame, self.indices)
                and other._at - self._at <= self.MERGE_WINDOW_S):
            return False
        self._points, self._visible, self._source = other._points, other._visible, other._source
        self._states = other._states
        self.amount = combine_amounts(self.kind, self.amount, other.amount)
        self._at = other._at
        self.setText(self._text())
        return True


class ToggleVisibilityCommand(AnnotationCommand):
    """Mark points occluded / visible; their review states stay as they were."""

    def __init__(self, session: LabelSession, video_id: int, frame: int, points: np.ndarray,
                 visible: np.ndarray, indices: Sequence[int], source: str,
                 states: np.ndarray) -> None:
        super().__init__(session, video_id, frame, points, toggle_visibility(visible, indices),
                         source, f"Toggle visibility of {_describe_points(indices)} "
                         f"({frame_label(frame)})", states)


def _all(state: int) -> np.ndarray:
    return np.full(N_POINTS, state, dtype=np.uint8)


class PlaceTemplateCommand(AnnotationCommand):
    """The mean face fitted to a box: every point placed."""

    def __init__(self, session: LabelSession, video_id: int, frame: int,
                 points: np.ndarray) -> None:
        super().__init__(session, video_id, frame, points, None,
                         KEYFRAME_SOURCES["template"], f"Place template ({frame_label(frame)})",
                         _all(PLACED))


class AcceptPointsCommand(AnnotationCommand):
    """Accept predicted points as they are: all of them (``which`` None) or those in
    ``which``; placed points stay placed. ``states`` are the frame's before the accept (all
    predicted on a frame that only had a pseudo-label)."""

    def __init__(self, session: LabelSession, video_id: int, frame: int, points: np.ndarray,
                 visible: np.ndarray | None, states: np.ndarray, source: str,
                 which: Sequence[int] | None = None) -> None:
        what = "pseudo-label" if which is None else _describe_points(which)
        super().__init__(session, video_id, frame, points, visible, source,
                         f"Accept {what} ({frame_label(frame)})",
                         after_accept(states, None if which is None else list(which)))


class CopyKeyframeCommand(AnnotationCommand):
    """Another keyframe's points and visibility, every point placed."""

    def __init__(self, session: LabelSession, video_id: int, frame: int,
                 source_annotation: Annotation) -> None:
        super().__init__(session, video_id, frame, source_annotation.points,
                         source_annotation.visible, KEYFRAME_SOURCES["copy"],
                         f"Copy keyframe {frame_number(source_annotation.frame)} to "
                         f"{frame_label(frame)}", _all(PLACED))


class DetectCommand(AnnotationCommand):
    """A frame pre-labelled by dlib's 68-point predictor (or the project model: ``what``), for
    the annotator to correct: every point predicted. ``uncertainty`` (inter-ocular units) is
    how far its points may be off, for the shape-aware drags that correct it."""

    def __init__(self, session: LabelSession, video_id: int, frame: int,
                 points: np.ndarray, what: str = "Detect face",
                 uncertainty: float = PREDICTION_UNCERTAINTY) -> None:
        super().__init__(session, video_id, frame, points, None,
                         KEYFRAME_SOURCES["detect"], f"{what} ({frame_label(frame)})",
                         _all(PREDICTED))
        self.uncertainty = uncertainty


class DeleteKeyframeCommand(AnnotationCommand):
    def __init__(self, session: LabelSession, video_id: int, frame: int) -> None:
        super().__init__(session, video_id, frame, None, None, "manual",
                         f"Delete keyframe ({frame_label(frame)})")


class VideoMarksCommand(QUndoCommand):
    """A change to one of a video's lists of marks (no-face ranges, shot cuts) that undo and
    redo restore exactly. The first redo asks the store for the change (``apply``, which
    returns the marks before); from then on undo and redo put back the marks before and after
    (``restore``). A change the store refuses makes the command obsolete and its message goes
    to the status bar (``edit_refused``); one that changes nothing is dropped as well. Both show
    ``frame`` of the video first."""

    what = "marks"  # for the log

    def __init__(self, text: str, session: LabelSession, video_id: int, frame: int) -> None:
        super().__init__(text)
        self._session = session
        self.video_id, self.frame = video_id, frame
        self.before: list | None = None
        self.after: list | None = None
        self.refused: str | None = None  # the store's message when it refused the change

    def apply(self) -> list:
        """Make the change in the store; return the marks before it."""
        raise NotImplementedError

    def current(self) -> list:
        """The video's marks as stored now."""
        raise NotImplementedError

    def restore(self, marks: list) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        self._session.focus(self.video_id, self.frame)
        if self.after is not None:
            self.restore(self.after)
            return
        try:
            before = self.apply()
        except ValidationError as exc:
            refuse(self, self._session, exc, f"{self.what} change")
            return
        after = self.current()
        if after == before:  # nothing changed: nothing to undo
            self.setObsolete(True)
        self.before, self.after = before, after

    def undo(self) -> None:
        self._session.focus(self.video_id, self.frame)
        if self.before is not None:
            self.restore(self.before)
