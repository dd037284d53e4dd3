"""Plain dataclasses the store services return; callers never see ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

ANNOTATION_SOURCES = ("manual", "imported", "corrected", "detector", "accepted")
RUN_STATUSES = ("running", "done", "stopped", "failed", "cancelled")
#: Sources that mean "the annotator reviewed a machine label on this frame": a pseudo-label (or a
#: detector / imported label) they corrected, or a pseudo-label they accepted.
REVIEWED_SOURCES = ("corrected", "accepted")
#: Run statuses whose results can be used (``RunService.latest``).
USABLE_RUN_STATUSES = ("done", "stopped")


@dataclass(frozen=True)
class VideoRecord:
    id: int
    path: str
    name: str
    file_size: int
    content_hash: str
    frame_count: int
    container_frame_count: int
    fps: float
    width: int
    height: int
    index_verified: bool
    seek_exact: bool
    source_path: str | None
    added_at: datetime
    sample_hash: str | None = None


@dataclass(frozen=True)
class VideoSummary:
    """A video with its label and run counts: one row of ``VideoService.summaries``.

    ``run_id`` / ``run_status`` are the latest usable run's (done or stopped), None when there is
    none; ``pseudo_frames`` counts that run's pseudo-labelled frames. ``fully_reviewed`` counts
    the annotated frames whose every point is pinned (placed or accepted, ``core.review_states``),
    ``partly_reviewed`` those with some points pinned and some still predicted.
    """

    id: int
    name: str
    path: str
    frame_count: int
    keyframes: int  # annotated frames
    reviewed: int  # annotations whose source is in REVIEWED_SOURCES
    run_id: int | None
    run_status: str | None
    pseudo_frames: int
    fully_reviewed: int = 0  # annotations whose 68 points are all placed or accepted
    partly_reviewed: int = 0  # annotations with pinned and predicted points


@dataclass(frozen=True)
class Annotation:
    """A labelled frame: its points, their visibility and their review states
    (``core.review_states``: placed, accepted or predicted, one per point)."""

    video_id: int
    frame: int
    points: np.ndarray  # (68, 2) float32
    visible: np.ndarray  # (68,) bool
    source: str
    author: str = ""
    updated_at: datetime | None = None
    states: np.ndarray | None = None  # (68,) uint8; None: from the source (default_states)

    def __post_init__(self) -> None:
        if self.states is None:
            from core.review_states import default_states

            object.__setattr__(self, "states", default_states(self.source))

    @property
    def pinned(self) -> np.ndarray:
        """Which points a person vouches for (placed or accepted)."""
        return np.asarray(self.states) != 0

    @property
    def fully_reviewed(self) -> bool:
        """Every point pinned: the frame is a keyframe for training."""
        return bool(self.pinned.all())


@dataclass(frozen=True)
class RunRecord:
    id: int
    video_id: int
    method: str
    status: str
    config: dict[str, Any]
    device: str
    started_at: datetime
    finished_at: datetime | None
    timings: dict[str, Any]
    metrics: dict[str, Any]
    checkpoint_path: str | None
    parent_run_id: int | None
    keyframes: dict[str, Any]
    message: str
    pid: int | None
    host: str | None = None


@dataclass(frozen=True)
class PseudoLabels:
    """Every pseudo-labelled frame of one run, as arrays sorted by frame."""

    run_id: int
    video_id: int
    frames: np.ndarray  # (N,) int64
    points: np.ndarray  # (N, 68, 2) float32
    confidence: np.ndarray  # (N, 68) float32
    #: Which run produced each frame: ``run_id`` everywhere, except where a derived revision
    #: (a re-solve after an edit) replaced frames of the run it was derived from.
    run_ids: np.ndarray | None = None

    def run_of(self, frame: int) -> int:
        """The run that produced ``frame``'s pseudo-label (provenance for exports)."""
        if self.run_ids is None:
            return self.run_id
        i = int(np.searchsorted(self.frames, frame))
        return int(self.run_ids[i]) if i < len(self.frames) and self.frames[i] == frame \
            else self.run_id

    def for_frame(self, frame: int) -> tuple[np.ndarray, np.ndarray] | None:
        i = int(np.searchsorted(self.frames, frame))
        if i < len(self.frames) and self.frames[i] == frame:
            return self.points[i], self.confidence[i]
        return None


@dataclass(frozen=True)
class RunResults:
    """What a finished run stores: pseudo-labels for ``frames`` and their statistics."""

    frames: np.ndarray  # (N,) int
    points: np.ndarray  # (N, 68, 2)
    confidence: np.ndarray  # (N, 68)
    stats: dict[str, np.ndarray] = field(default_factory=dict)


STAT_FIELDS = ("jitter", "detection_tracking", "teacher_student", "forward_backward",
               "confidence", "suggestion_score", "face_lost")


@dataclass(frozen=True)
class FrameStats:
    """Per-frame statistics of one run, one array per field, aligned with ``frames``."""

    run_id: int
    frames: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]


@dataclass(frozen=True)
class EditRecord:
    id: int
    at: datetime
    author: str
    action: str
    video_id: int | None
    frame: int | None
    detail: dict[str, Any]
