"""Instant local re-solve: after an edit, recompute the frames around it without training.

An edit on frame f (a point moved, a frame accepted, placed or deleted) changes the constraints
there. Only the frames between the constrained frames before and after f can change, so only
they are recomputed, in three cheap steps:

1. tracking: bidirectional optical flow (``flow_track``) across the gap, anchored at its two
   constrained ends (their stored points: every point of a keyframe, the current points of a
   partly reviewed frame);
2. fusion with the last run's result for those frames (its network predictions already fused
   with tracking), both weighted by the error their confidence implies;
3. each frame made consistent with the segment's shape model (``core.shape_model``, fit on its
   keyframes), every point observed with its fused error and the pinned points held, as the
   TSAL run's final output is: a point tracking lost goes where the others put it, and the
   unreviewed points of a partly reviewed frame follow the ones the person placed;
4. the temporal smoother with the constraints: whole keyframes pinned, the placed/accepted points
   of partly reviewed frames pinned, every other point a measurement.

Where the tracking finds a shot change in the gap (``core.propagation.transitions``), the fresh
track alone is kept (the last run may have put the change a frame elsewhere, and the mean of two
faces is neither), the smoother never crosses the change, and nothing is completed (the
segment's shape model holds the keyframes of both shots until the cut is recorded).

Propagate (with training) stays the way to relearn; this is what keeps the screen honest
between two propagations. The job side (``resolve_edit``) stores the result as a derived
revision of the latest run (method ``resolve``) so export knows what produced each frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from core.framestats import face_sizes
from core.landmarks import inter_ocular_distance
from core.propagation.common import CONF_FRACTION, FrameSource
from core.propagation.constraints import PartialReview, pin_partial, sigma_from_confidence
from core.propagation.flow import flow_track
from core.shape_model import ShapeModel, complete_track
from core.smoothing import DEFAULT_ACCEL, accel_at, smooth_track

#: The method name of a derived run made by a re-solve.
RESOLVE_METHOD = "resolve"
#: Added to every observed error in the shape completion, × inter-ocular distance (the TSAL
#: fusion's floor: it keeps the weights finite).
COMPLETION_FLOOR = 0.01
#: The error a pinned point is observed with in the completion (pixels): it holds.
PINNED_SIGMA = 0.05


@dataclass(frozen=True)
class ResolvedGap:
    """Frames ``lo..hi`` (inclusive) recomputed: their points and confidence."""

    lo: int
    hi: int
    points: np.ndarray  # (hi - lo + 1, 68, 2) float32
    confidence: np.ndarray  # (hi - lo + 1, 68) float32

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.lo, self.hi + 1)


def affected_gaps(edited: Iterable[int], constrained: Iterable[int], n_frames: int
                  ) -> list[tuple[int, int]]:
    """The stretches an edit on each of ``edited`` can change: from the constrained frame
    before it to the one after it (the video's ends where there is none), merged."""
    marks = sorted(set(int(c) for c in constrained))
    spans = []
    for frame in sorted(set(int(e) for e in edited)):
        before = [c for c in marks if c < frame]
        after = [c for c in marks if c > frame]
        spans.append((before[-1] if before else 0, after[0] if after else n_frames - 1))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def run_accel(metrics: Mapping[str, object] | None, fps: float | None) -> float:
    """The smoother setting a re-solve of a run uses, at the video's frame rate: the median of
    the settings the run chose for its face segments (``metrics["smooth_accel"]``), or the
    default for a run that chose none (a tracking baseline)."""
    chosen = (metrics or {}).get("smooth_accel")
    values = [float(v) for v in chosen] if isinstance(chosen, list) and chosen else []
    return accel_at(float(np.median(values)) if values else DEFAULT_ACCEL, fps)


def _track_window(prior: np.ndarray, anchors: Iterable[np.ndarray]
                  ) -> tuple[int, int, int, int]:
    """The part of the frame worth tracking in: every point of the gap's prior and anchors,
    with a margin of a quarter of the face (and 24 px) for motion the prior missed. Tracking in
    it rather than the whole frame is what makes a re-solve fast; the window may extend past the
    image, where slicing clips it."""
    points = np.concatenate([prior.reshape(-1, 2), *(np.asarray(a).reshape(-1, 2)
                                                     for a in anchors)])
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = 0.25 * float((hi - lo).max()) + 24.0
    x0, y0 = (max(int(v), 0) for v in np.floor(lo - margin))
    x1, y1 = (int(v) for v in np.ceil(hi + margin))
    return x0, y0, x1, y1


def resolve_gap(frame: FrameSource, lo: int, hi: int, keyframes: Mapping[int, np.ndarray],
                partial: Mapping[int, PartialReview], prior_points: np.ndarray,
                prior_confidence: np.ndarray, accel: float = DEFAULT_ACCEL,
                shape: ShapeModel | None = None) -> ResolvedGap:
    """Recompute frames ``lo..hi`` from the constraints and the last run's result for them
    (``prior_*`` are that run's arrays for the same frames), completing each frame with
    ``shape`` (the segment's model; None: not completed) and smoothing with ``accel`` (at the
    video's frame rate: the setting the run chose, see :func:`run_accel`)."""
    n = hi - lo + 1
    prior_points = np.asarray(prior_points, dtype=np.float64)
    prior_conf = np.asarray(prior_confidence, dtype=np.float64)
    anchors = {f - lo: np.asarray(points, dtype=np.float32) for f, points in
               [*((f, keyframes[f]) for f in (lo, hi) if f in keyframes),
                *((f, partial[f][0]) for f in (lo, hi) if f in partial and f not in keyframes)]}
    breaks: list[int] = []  # shot changes the tracking finds in the gap
    if anchors and n > 2:
        x0, y0, x1, y1 = _track_window(prior_points, anchors.values())
        crop = np.array([x0, y0], dtype=np.float32)
        tracked = flow_track(lambda i: np.ascontiguousarray(frame(lo + i)[y0:y1, x0:x1]), n,
                             {i: p - crop for i, p in anchors.items()})
        track_points = tracked.points.astype(np.float64) + crop
        sigma_track = sigma_from_confidence(tracked.confidence, track_points)
        sigma_prior = sigma_from_confidence(prior_conf, prior_points)
        breaks = tracked.info.get("transitions", [])
        if breaks:
            # a shot change: the run may have put it a frame elsewhere, and the mean of two
            # faces is neither; the fresh track from each side decides
            sigma_prior = np.full_like(sigma_prior, 1e6)
        w_track, w_prior = 1.0 / sigma_track ** 2, 1.0 / sigma_prior ** 2
        z = ((w_track[..., None] * track_points + w_prior[..., None] * prior_points)
             / (w_track + w_prior)[..., None])
        sigma = 1.0 / np.sqrt(w_track + w_prior)
    else:
        z, sigma = prior_points.copy(), sigma_from_confidence(prior_conf, prior_points)
    pins = pin_partial(z, partial, lo, hi)
    whole = [f - lo for f in keyframes if lo <= f <= hi]
    for i in whole:
        z[i] = keyframes[i + lo]
    if shape is not None and not breaks:  # across a shot change the model mixes two faces
        # the floor only on what was measured: a pinned point must hold
        iod = np.maximum(np.asarray(inter_ocular_distance(z), np.float64), 4.0)[:, None]
        observed = np.where(pins, PINNED_SIGMA, sigma + COMPLETION_FLOOR * iod)
        z, completed = complete_track(shape, z, observed, skip=whole)
        sigma = np.where(pins, sigma, np.minimum(sigma, completed))
        pin_partial(z, partial, lo, hi)  # exactly where the person put them
    smoothed = smooth_track(z, sigma, face_sizes(z), pinned=whole, pinned_points=pins,
                            accel=accel, breaks=breaks)
    moved = np.linalg.norm(smoothed - z, axis=-1)
    error = np.sqrt(sigma ** 2 + moved ** 2)
    iod = np.array([max(inter_ocular_distance(p), 4.0) for p in smoothed])[:, None]
    confidence = np.exp(-error / (CONF_FRACTION * iod))
    confidence[pins] = 1.0
    confidence[whole] = 1.0
    return ResolvedGap(lo, hi, smoothed.astype(np.float32), confidence.astype(np.float32))
