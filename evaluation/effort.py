"""Bookkeeping of a simulated person's effort: the target, the person's hands, the running
totals of working and waiting seconds, and one measured point of an effort curve.

Working seconds are what the person spends (review, drags, accept: ``evaluation.person``);
waiting seconds are the wall time of the machine's work they wait for (each propagation and
each re-solve after an edit). Both are cumulative from the first keyframe of a workflow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from core import metrics
from core.landmarks import N_POINTS, bounding_box
from core.shape_model import PREDICTION_UNCERTAINTY, TEMPLATE_UNCERTAINTY, ShapeModel
from evaluation.person import FrameCorrection, PersonParams, correct_frame, template_for


@dataclass(frozen=True)
class Target:
    """An accuracy target over a whole clip: mean NME and the worst frame's NME (%)."""

    mean_percent: float
    worst_percent: float

    @property
    def label(self) -> str:
        return f"mean ≤ {self.mean_percent:g} %, worst ≤ {self.worst_percent:g} %"

    def met(self, nme_percent: float, worst_nme_percent: float) -> bool:
        return nme_percent <= self.mean_percent and worst_nme_percent <= self.worst_percent


#: The headline's target (issue 11 §5) and looser ones reported beside it.
HEADLINE = Target(1.0, 4.0)
TARGETS = (HEADLINE, Target(1.5, 4.0), Target(2.0, 8.0))


@dataclass(frozen=True)
class EffortPoint:
    """One point of a workflow's effort curve, cumulative from its start.

    ``reviewed``: frames the person looked at (new keyframes included); ``labelled``: frames
    that hold the person's labels; NME (%) and FR@0.08 over every frame of the clip.
    """

    clip: str
    workflow: str
    round: int
    reviewed: int
    labelled: int
    drags: int
    working_s: float
    waiting_s: float
    nme_percent: float
    worst_nme_percent: float
    failure_rate: float
    note: str = ""

    @property
    def meets_target(self) -> bool:
        """Whether the clip meets the headline's target here."""
        return HEADLINE.met(self.nme_percent, self.worst_nme_percent)


def measure(points: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """(mean NME %, worst frame's NME %, FR@0.08) of ``points`` against ``gt`` ``(T, 68, 2)``."""
    per_frame = np.asarray(metrics.nme(points, gt))
    return (float(per_frame.mean() * 100), float(per_frame.max() * 100),
            metrics.failure_rate(per_frame))


@dataclass
class Tally:
    """Running totals of one workflow on one clip."""

    clip: str
    workflow: str
    reviewed: int = 0
    drags: int = 0
    working_s: float = 0.0
    waiting_s: float = 0.0
    points: list[EffortPoint] = field(default_factory=list)
    reached: set[Target] = field(default_factory=set)

    def add(self, correction: FrameCorrection) -> None:
        """One frame reviewed, dragged and accepted."""
        self.reviewed += 1
        self.drags += correction.drags
        self.working_s += correction.seconds

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the wall time of the block as waiting."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.waiting_s += time.perf_counter() - started

    def record(self, round_: int, points: np.ndarray, gt: np.ndarray, labelled: int,
               note: str = "") -> EffortPoint:
        """Measure ``points`` against ``gt`` and append the curve's next point."""
        nme, worst, fr = measure(points, gt)
        point = EffortPoint(self.clip, self.workflow, round_, self.reviewed, labelled,
                            self.drags, round(self.working_s, 2), round(self.waiting_s, 2),
                            nme, worst, fr, note)
        self.points.append(point)
        self.reached |= {t for t in TARGETS if t.met(nme, worst)}
        return point

    def newly_met(self, nme_percent: float, worst_nme_percent: float) -> bool:
        """Whether a measurement meets a target no recorded point has met yet."""
        return any(t.met(nme_percent, worst_nme_percent) for t in TARGETS
                   if t not in self.reached)


@dataclass(frozen=True)
class Hands:
    """The person of one workflow: their costs and limits, shape-aware drags or single-point
    ones, and the seed of their hands' noise (frame ``t`` always draws from ``(seed, t)``, so
    workflows that present the same frame see the same hand)."""

    params: PersonParams = field(default_factory=PersonParams)
    shape_aware: bool = True
    seed: int = 0

    def model(self, shapes: np.ndarray | list[np.ndarray]) -> ShapeModel | None:
        """The shape model the GUI would drag with, fit on a video's reviewed ``shapes``."""
        return ShapeModel.fit(np.asarray(shapes, np.float64).reshape(-1, N_POINTS, 2)) \
            if self.shape_aware else None

    def correct(self, start: np.ndarray, truth: np.ndarray, frame: int, *,
                model: ShapeModel | None = None,
                uncertainty: float = PREDICTION_UNCERTAINTY) -> FrameCorrection:
        """Review ``start`` on ``frame``, drag and accept (``model`` None: single points)."""
        rng = np.random.default_rng([self.seed, int(frame)])
        return correct_frame(start, truth, rng, model=model if self.shape_aware else None,
                             params=self.params, uncertainty=uncertainty)


class KeyframeStart(NamedTuple):
    """Where a keyframe from nothing starts: its points, how far they may be off (the shape
    model's ``uncertainty``) and whether they are the template (every point then counts as
    placed; a detection's undragged points are accepted)."""

    points: np.ndarray
    uncertainty: float
    template: bool


def new_keyframe_start(truth: np.ndarray, detection: np.ndarray | None = None,
                       detection_uncertainty: float = PREDICTION_UNCERTAINTY) -> KeyframeStart:
    """The detector's shape where it found this face (its box overlaps the truth's), with
    ``detection_uncertainty`` (dlib's: a pseudo-label's; the project model's prediction in a
    box: :data:`~core.shape_model.BOX_PREDICTION_UNCERTAINTY`), otherwise the template in the
    face's box."""
    if detection is not None and np.isfinite(detection).all():
        box, found = bounding_box(truth), bounding_box(detection)
        overlap_w = min(box.x + box.width, found.x + found.width) - max(box.x, found.x)
        overlap_h = min(box.y + box.height, found.y + found.height) - max(box.y, found.y)
        if overlap_w > 0 and overlap_h > 0:
            return KeyframeStart(np.asarray(detection, np.float32), detection_uncertainty, False)
    return KeyframeStart(template_for(truth), TEMPLATE_UNCERTAINTY, True)


@dataclass
class ClipResult:
    """A clip's effort curves (every workflow; CVAT's strategies apart by their note) and what
    else the report needs about it."""

    clip: str
    frames: int
    fps: float
    points: list[EffortPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def minutes(self) -> float:
        return self.frames / (self.fps or 30.0) / 60.0
