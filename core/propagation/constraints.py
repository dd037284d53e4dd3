"""Partly reviewed frames as constraints on a propagated track.

A frame whose points are all placed or accepted is a keyframe: propagators copy it exactly. A
frame where a person placed or accepted only some points is not a keyframe (the trainer never
learns from its predicted points), but its pinned points must hold: for every gap between
keyframes that holds such a frame, the track is re-solved by the temporal smoother with those
points pinned and every other point kept as a measurement weighted by its confidence, so a
corrected jaw point pulls its neighbours in time along with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.framestats import face_sizes
from core.landmarks import inter_ocular_distance
from core.propagation.common import CONF_FRACTION
from core.smoothing import smooth_track

#: Confidence given to a pinned point (a person vouches for it).
PINNED_CONFIDENCE = 1.0
#: Floor of a measurement's confidence when turned into an error (keeps sigma finite).
MIN_CONFIDENCE = 1e-3

PartialReview = tuple[np.ndarray, np.ndarray]  # (points (68, 2), pinned (68,) bool)


def sigma_from_confidence(confidence: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per-point error (pixels) implied by a confidence: the inverse of the trackers'
    ``confidence = exp(-error / (CONF_FRACTION · inter-ocular))``."""
    iod = np.array([max(inter_ocular_distance(p), 4.0) for p in points])[:, None]
    conf = np.clip(confidence, MIN_CONFIDENCE, 1.0)
    return np.maximum(-np.log(conf) * CONF_FRACTION * iod, 0.05)


def apply_partial_reviews(points: np.ndarray, confidence: np.ndarray,
                          keyframes: Mapping[int, np.ndarray],
                          partial: Mapping[int, PartialReview]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``points``/``confidence`` (T, 68[, 2]) with every gap that holds a partly reviewed frame
    re-solved around its pinned points; frames of other gaps are returned unchanged."""
    out_points = np.array(points, dtype=np.float32, copy=True)
    out_conf = np.array(confidence, dtype=np.float32, copy=True)
    if not partial:
        return out_points, out_conf
    n = len(out_points)
    keys = sorted(int(k) for k in keyframes)
    for lo, hi in _gaps_with(sorted(int(f) for f in partial), keys, n):
        z = out_points[lo:hi + 1].astype(np.float64)
        conf = out_conf[lo:hi + 1].astype(np.float64)
        pins = pin_partial(z, partial, lo, hi)
        ends = [i for i, f in ((0, lo), (hi - lo, hi)) if f in keyframes]
        sigma = sigma_from_confidence(conf, z)
        solved = smooth_track(z, sigma, face_sizes(z), pinned=ends, pinned_points=pins)
        out_points[lo:hi + 1] = solved.astype(np.float32)
        conf[pins] = PINNED_CONFIDENCE
        out_conf[lo:hi + 1] = conf.astype(np.float32)
    return out_points, out_conf


def pin_partial(z: np.ndarray, partial: Mapping[int, PartialReview], lo: int, hi: int
                ) -> np.ndarray:
    """Put the pinned points of the partly reviewed frames in ``lo..hi`` into the track ``z``
    (frames ``lo..hi``, changed in place) and return the (frames, points) mask of them."""
    pins = np.zeros(z.shape[:2], dtype=bool)
    for frame, (points, mask) in partial.items():
        if lo <= frame <= hi:
            mask = np.asarray(mask, dtype=bool)
            z[frame - lo, mask] = np.asarray(points, dtype=np.float64)[mask]
            pins[frame - lo] = mask
    return pins


def _gaps_with(frames: list[int], keys: list[int], n: int) -> list[tuple[int, int]]:
    """The (first, last) frames of each stretch between keyframes (keyframes included, or the
    video's ends) that contains one of ``frames``; each stretch once."""
    gaps = []
    for frame in frames:
        lo = max((k for k in keys if k <= frame), default=0)
        hi = min((k for k in keys if k >= frame), default=n - 1)
        if (lo, hi) not in gaps:
            gaps.append((lo, hi))
    return gaps
