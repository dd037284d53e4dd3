"""FaceProp's own loop with the simulated person, written into a project the way the GUI does.

New keyframes start from the template (or the detector) and are dragged into place; every later
round presents the frames a strategy (``core.suggest.pick_frames``) picks on the latest run,
each as the project holds it (the run's pseudo-label, re-solved after earlier edits). The person
drags what they see off (shape-aware drags move the other points by the video's shape model, fit
on its reviewed frames) and accepts the frame: the dragged points are placed, the rest accepted,
so the frame is a keyframe. After each frame the project re-solves around it
(``resolve_edit``), after each round it propagates again (``propagate_video``); both are
counted as waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import ValidationError
from core.landmarks import N_POINTS
from core.progress import ShouldStop
from core.propagation.edits import load_constraints, resolve_edit
from core.review_states import ACCEPTED, PLACED
from core.shape_model import PREDICTION_UNCERTAINTY
from core.store import Project, RunRecord
from core.suggest import pick_frames
from evaluation.effort import Hands, Tally, new_keyframe_start
from trainer.jobs import propagate_video

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

#: The author of the simulated person's labels.
AUTHOR = "simulated person"


@dataclass(frozen=True)
class LoopSettings:
    """One FaceProp workflow: the strategy, its rounds and frames per round, the propagation
    method, and whether to stop at the first round that meets the target."""

    strategy: str = "score"
    rounds: int = 8
    per_round: int = 5
    method: str = "final"
    stop_at_target: bool = True


def current_points(project: Project, video_id: int, run_id: int) -> np.ndarray:
    """What the project holds for every frame: the person's labels over the run's
    pseudo-labels (``(T, 68, 2)``)."""
    points = project.runs.pseudo_labels(run_id).points.copy()
    frames, manual, _visible, _sources = project.labels.arrays(video_id)
    points[frames] = manual
    return points


def _states(dragged: Sequence[int], rest: int) -> np.ndarray:
    states = np.full(N_POINTS, rest, dtype=np.uint8)
    states[list(dragged)] = PLACED
    return states


def label_keyframes(project: Project, video_id: int, frames: Sequence[int], gt: np.ndarray,
                    hands: Hands, tally: Tally, detections: np.ndarray | None = None,
                    detection_uncertainty: float = PREDICTION_UNCERTAINTY) -> None:
    """Label ``frames`` from nothing, in order: template (all points placed) or detection
    (accepted where not dragged; dragged with ``detection_uncertainty``), then the drag loop
    with the model of the frames so far."""
    for frame in frames:
        keyframes, _partial = load_constraints(project, video_id)
        model = hands.model(list(keyframes.values()))
        detection = detections[frame] if detections is not None else None
        start = new_keyframe_start(gt[frame], detection, detection_uncertainty)
        correction = hands.correct(start.points, gt[frame], frame, model=model,
                                   uncertainty=start.uncertainty)
        tally.add(correction)
        project.labels.set(video_id, frame, correction.points, source="manual", author=AUTHOR,
                           states=_states(correction.dragged,
                                          PLACED if start.template else ACCEPTED))


def correct_presented(project: Project, video_id: int, frame: int, gt: np.ndarray,
                      hands: Hands, tally: Tally, reader=None) -> None:  # core.video reader
    """Review, drag and accept one presented frame as the project shows it, then re-solve."""
    latest = project.runs.latest(video_id)
    if latest is None:
        raise ValidationError("a frame can be presented only after a propagation")
    start = project.runs.pseudo_labels(latest.id).points[frame]
    keyframes, _partial = load_constraints(project, video_id)
    model = hands.model(list(keyframes.values()))
    correction = hands.correct(start, gt[frame], frame, model=model,
                               uncertainty=PREDICTION_UNCERTAINTY)
    tally.add(correction)
    project.labels.set(video_id, frame, correction.points,
                       source="corrected" if correction.drags else "accepted", author=AUTHOR,
                       states=_states(correction.dragged, ACCEPTED))
    with tally.waiting():
        resolve_edit(project, video_id, [frame], reader=reader)


def propagate(project: Project, video_id: int, method: str, tally: Tally,
              should_stop: ShouldStop | None = None) -> RunRecord:
    """Propagate (counted as waiting); a run that did not finish is an error."""
    with tally.waiting():
        run = propagate_video(project, video_id, method, should_stop=should_stop)
    if run.status != "done":
        raise ValidationError(f"{tally.clip} {tally.workflow}: propagation ended {run.status}: "
                              f"{run.message}")
    return run


def start_loop(project: Project, video_id: int, keyframes: Sequence[int], gt: np.ndarray,
               hands: Hands, tally: Tally, method: str, *, detections: np.ndarray | None = None,
               detection_uncertainty: float = PREDICTION_UNCERTAINTY,
               should_stop: ShouldStop | None = None) -> RunRecord:
    """Round 0: the first keyframes from nothing (see :func:`label_keyframes`) and the first
    propagation, measured."""
    label_keyframes(project, video_id, keyframes, gt, hands, tally, detections,
                    detection_uncertainty)
    run = propagate(project, video_id, method, tally, should_stop)
    tally.record(0, current_points(project, video_id, run.id), gt,
                 len(project.labels.frames(video_id)), f"{len(keyframes)} keyframes")
    return run


def run_rounds(project: Project, video_id: int, gt: np.ndarray, hands: Hands, tally: Tally,
               settings: LoopSettings, *, seed: int = 0, log: Log = logger.info,
               should_stop: ShouldStop | None = None) -> None:
    """Rounds 1..``settings.rounds`` after ``start_loop`` (until the target is met when
    ``settings.stop_at_target``): pick, correct each frame and re-solve, propagate, measure."""
    rng = np.random.default_rng(seed)
    if settings.stop_at_target and tally.points and tally.points[-1].meets_target:
        return
    with project.videos.open_reader(video_id) as reader:
        for r in range(1, settings.rounds + 1):
            run = project.runs.latest(video_id)
            picks = pick_frames(settings.strategy, len(gt), project.labels.frames(video_id),
                                settings.per_round, stats=project.runs.frame_stats(run.id),
                                seed=int(rng.integers(1 << 31)))
            if not picks:
                break
            for frame in picks:
                correct_presented(project, video_id, frame, gt, hands, tally, reader)
            run = propagate(project, video_id, settings.method, tally, should_stop)
            point = tally.record(r, current_points(project, video_id, run.id), gt,
                                 len(project.labels.frames(video_id)),
                                 f"frames {', '.join(str(f + 1) for f in picks)}")
            log(f"{tally.clip} {tally.workflow}: round {r}: {point.reviewed} reviewed, "
                f"{point.drags} drags, {point.working_s:.0f}s working, {point.waiting_s:.0f}s "
                f"waiting: NME {point.nme_percent:.2f}% worst {point.worst_nme_percent:.1f}%")
            if settings.stop_at_target and point.meets_target:
                break
