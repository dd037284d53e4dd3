"""The status bar's view of the current frame: its number (and keyframe kind) and how many of its
points are placed, accepted and predicted (``core.review_states``); the counts' tooltip is the
legend of the point styles. A frame marked "no face" says so and counts no points; a frame
that starts a new shot (a shot cut) says so."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.landmark_items import POINT_LEGEND
from app.state import LabelSession
from app.status_bar import ElidedLabel
from core.frame_numbers import frame_label
from core.review_states import state_counts
from core.suggest import doubtful_points

STATE_ORDER = ("placed", "accepted", "predicted")


def states_text(counts: dict[str, int], doubtful: int = 0) -> str:
    """The counts as "12 placed · 3 accepted · 53 predicted (4 doubtful)"."""
    text = " · ".join(f"{counts[name]} {name}" for name in STATE_ORDER)
    return text + (f" ({doubtful} doubtful)" if doubtful else "")


class FrameStatus(QObject):
    """Keeps the frame label and the review-states label in step with the session."""

    def __init__(self, session: LabelSession, frame: ElidedLabel, states: ElidedLabel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.frame_label = frame
        self.states_label = states
        states.tip = POINT_LEGEND
        states.setText("")
        session.video_changed.connect(self.refresh)
        session.frame_changed.connect(self.refresh)
        session.run_changed.connect(self.refresh)
        session.annotation_changed.connect(self._annotation_changed)
        session.absences_changed.connect(self.refresh)
        session.cuts_changed.connect(self.refresh)

    def refresh(self, *_args: object) -> None:
        s = self.session
        if s.video is None:
            self.frame_label.setText("no video")
            self.states_label.setText("")
            return
        kind = s.keyframes.get(s.frame)
        absent = s.is_absent()
        self.frame_label.setText(f"{frame_label(s.frame)} / {s.frame_count}"
                                 + (f"  · {kind} keyframe" if kind else "")
                                 + ("  · no face" if absent else "")
                                 + ("  · new shot" if s.is_cut() else ""))
        states = None if absent else s.frame_states()
        if states is None:
            self.states_label.setText("")
            return
        pseudo = s.pseudo_label()
        doubtful = doubtful_points(None if pseudo is None else pseudo[1], states)
        self.states_label.setText(states_text(state_counts(states), len(doubtful)))

    def _annotation_changed(self, video_id: int, frame: int) -> None:
        video = self.session.video
        if video is not None and video.id == video_id and frame == self.session.frame:
            self.refresh()
