"""The workflows a person follows without FaceProp, with the same simulated person: CVAT's
(keyframes with linear interpolation between) and correcting a detector frame by frame.

CVAT has no shape model, so every drag moves one point, and nothing is waited for (interpolation
is instant). Two honest CVAT strategies, both stopped the moment the whole clip meets the
target (an oracle stop, as for FaceProp's loop):

- ``cvat_review``: label every ``k``-th frame from the template, then play the clip and review
  every other frame in order, correcting those with a point over τ (a corrected frame becomes a
  keyframe and the interpolation after it changes);
- ``cvat_halving``: label the first and last frames from the template, then halve the spacing:
  open the middle frame of every interval (it shows the interpolation), correct it, and so on.

Pure numpy: no project, no video.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from core.propagation import interpolate
from evaluation.effort import (
    HEADLINE,
    EffortPoint,
    Hands,
    Tally,
    Target,
    measure,
    new_keyframe_start,
)

#: A curve point is recorded every this many frames reviewed (and where the target is met).
RECORD_EVERY = 10


def _keyframe(gt: np.ndarray, frame: int, hands: Hands, tally: Tally,
              detection: np.ndarray | None = None) -> np.ndarray:
    """A keyframe labelled from nothing (template, or the detector): its points."""
    start = new_keyframe_start(gt[frame], detection).points
    correction = hands.correct(start, gt[frame], frame)
    tally.add(correction)
    assert correction.points is not None
    return correction.points


def _at(detections: np.ndarray | None, frame: int) -> np.ndarray | None:
    return None if detections is None else detections[frame]


def _check(tally: Tally, step: int, points: np.ndarray, gt: np.ndarray, labelled: int,
           note: str) -> bool:
    """Record a point every RECORD_EVERY steps and where a target is first met; True when the
    headline's target is met."""
    nme, worst, _fr = measure(points, gt)
    if step % RECORD_EVERY == 0 or tally.newly_met(nme, worst):
        tally.record(step, points, gt, labelled, note)
    return HEADLINE.met(nme, worst)


def _review(t: int, step: int, labels: dict[int, np.ndarray], points: np.ndarray,
            gt: np.ndarray, hands: Hands, tally: Tally, note: str, keep: bool = False
            ) -> tuple[np.ndarray, bool]:
    """The person reviews frame ``t`` of the interpolated ``points``; a corrected frame (or,
    with ``keep``, any reviewed frame) becomes a keyframe and the interpolation is redone.
    Returns the points and whether the headline's target is met."""
    correction = hands.correct(points[t], gt[t], t)
    tally.add(correction)
    if correction.drags or keep:
        assert correction.points is not None
        labels[t] = correction.points
        points = interpolate(len(gt), labels).points
    return points, _check(tally, step, points, gt, len(labels), note)


def cvat_review(clip: str, gt: np.ndarray, k: int, hands: Hands, *,
                stop_at_target: bool = True, detections: np.ndarray | None = None) -> Tally:
    """Keyframes every ``k``-th frame (and the last), then a review of every other frame in
    order, correcting those the person sees off; returns the tally with its curve."""
    n = len(gt)
    tally = Tally(clip, "cvat")
    keys = sorted({*range(0, n, k), n - 1})
    labels = {f: _keyframe(gt, f, hands, tally, _at(detections, f)) for f in keys}
    points = interpolate(n, labels).points
    note = f"review, k={k}"
    if _check(tally, 0, points, gt, len(labels), note) and stop_at_target:
        return tally
    step = 0
    for t in range(n):
        if t in labels:
            continue
        step += 1
        points, met = _review(t, step, labels, points, gt, hands, tally, note)
        if met and stop_at_target:
            return tally
    if tally.points[-1].reviewed != tally.reviewed:
        tally.record(step, points, gt, len(labels), note)
    return tally


def cvat_halving(clip: str, gt: np.ndarray, hands: Hands, *, stop_at_target: bool = True,
                 detections: np.ndarray | None = None) -> Tally:
    """The first and last frames from the template, then the middle of every interval, level
    after level (each middle frame starts from the interpolation); returns the tally."""
    n = len(gt)
    tally = Tally(clip, "cvat")
    labels = {f: _keyframe(gt, f, hands, tally, _at(detections, f)) for f in sorted({0, n - 1})}
    points = interpolate(n, labels).points
    note = "halving"
    if _check(tally, 0, points, gt, len(labels), note) and stop_at_target:
        return tally
    step = 0
    while True:
        middles = [(a + b) // 2 for a, b in pairwise(sorted(labels)) if b - a > 1]
        if not middles:
            break
        for t in middles:
            step += 1
            # a middle frame becomes a keyframe even without a drag: it lies on the line
            points, met = _review(t, step, labels, points, gt, hands, tally, note, keep=True)
            if met and stop_at_target:
                return tally
    if tally.points[-1].reviewed != tally.reviewed:
        tally.record(step, points, gt, len(labels), note)
    return tally


def detector_by_frame(clip: str, gt: np.ndarray, detections: np.ndarray, hands: Hands, *,
                      stop_at_target: bool = True) -> Tally:
    """Correct a detector's output frame by frame, in order (frames where it found no face
    start from the template); frames not yet reviewed count with the detector's shape."""
    n = len(gt)
    tally = Tally(clip, "dlib")
    points = np.stack([new_keyframe_start(gt[t], detections[t]).points for t in range(n)])
    if _check(tally, 0, points, gt, 0, "detector") and stop_at_target:
        return tally
    for t in range(n):
        correction = hands.correct(points[t], gt[t], t)
        tally.add(correction)
        assert correction.points is not None
        points[t] = correction.points
        if _check(tally, t + 1, points, gt, t + 1, "detector") and stop_at_target:
            return tally
    if tally.points[-1].reviewed != tally.reviewed:
        tally.record(n, points, gt, n, "detector")
    return tally


def seconds_to_target(points: list[EffortPoint], target: Target = HEADLINE) -> float | None:
    """Working seconds at the first point of a curve that meets ``target`` (None: never)."""
    return next((p.working_s for p in points if target.met(p.nme_percent, p.worst_nme_percent)),
                None)


def cvat_strategies(clip: str, gt: np.ndarray, hands: Hands, strides: tuple[int, ...], *,
                    stop_at_target: bool = True, detections: np.ndarray | None = None
                    ) -> list[Tally]:
    """Every CVAT strategy: a review after keyframes every ``k`` for each stride, and halving
    (their notes tell them apart). ``detections``: where a detector is installed, keyframes
    start from it, as FaceProp's do."""
    tallies = [cvat_review(clip, gt, k, hands, stop_at_target=stop_at_target,
                           detections=detections) for k in strides]
    tallies.append(cvat_halving(clip, gt, hands, stop_at_target=stop_at_target,
                                detections=detections))
    return tallies
