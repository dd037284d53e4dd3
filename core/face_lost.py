"""Frames where tracking has probably lost the face (issue 12 §1): "face lost?" for review.

A propagation gives every frame of a face segment 68 points, even where the face has left the
image or the tracker has drifted off it. Such a frame is flagged when most of its points lie
outside the image, or when its mean confidence has collapsed (the run's confidence is
exp(−error / (0.08 × IOD)) per point: a mean of 0.2 means errors around 13 % of the
inter-ocular distance, far beyond a usable label). A flagged frame keeps its points for the
person to correct, but its confidence is capped so nothing downstream takes it as confident,
and the review queue names it "face lost?".
"""

from __future__ import annotations

import numpy as np

#: A frame is lost when more than this fraction of its points lie outside the image.
OUTSIDE_FRACTION = 0.5
#: ... or when its mean point confidence is below this.
CONFIDENCE_FLOOR = 0.2
#: The confidence every point of a lost frame is capped at.
LOST_CONFIDENCE = 0.05


def face_lost(points: np.ndarray, confidence: np.ndarray, size: tuple[int, int] | None
              ) -> np.ndarray:
    """Bool ``(T,)`` for ``points`` ``(T, 68, 2)`` and ``confidence`` ``(T, 68)`` in an image of
    ``size`` (width, height; None: the outside test is skipped)."""
    points = np.asarray(points, dtype=np.float64)
    lost = np.asarray(confidence, dtype=np.float64).mean(axis=1) < CONFIDENCE_FLOOR
    if size is not None:
        width, height = size
        x, y = points[..., 0], points[..., 1]
        outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1) | ~np.isfinite(x)
        lost |= outside.mean(axis=1) > OUTSIDE_FRACTION
    return lost


def cap_lost(confidence: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """``confidence`` with every point of a lost frame capped at ``LOST_CONFIDENCE``."""
    out = np.array(confidence, dtype=np.float32, copy=True)
    out[lost] = np.minimum(out[lost], LOST_CONFIDENCE)
    return out
