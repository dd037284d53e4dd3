"""From the network's and the tracker's points to the final pseudo-label and its confidence.

``fuse`` combines the teacher with bidirectional flow tracking point by point, by their
estimated errors (inverse-variance weights); ``final_track`` then runs the confidence-weighted
temporal smoother of :mod:`core.smoothing` over the fused track, keyframes pinned. Every source
stays available to the benchmark, so each stage is justified by numbers (docs/MEASUREMENTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.framestats import face_sizes
from core.propagation import CONF_FRACTION, Propagation
from core.smoothing import accel_at, smooth_track

#: Floor of both error estimates in the fusion, x inter-ocular (keeps weights finite).
FUSION_FLOOR = 0.01
#: Flow points this confident calibrate the network's typical error (see fuse).
FLOW_TRUSTED = 0.7


def confidence(error: np.ndarray, iod: np.ndarray) -> np.ndarray:
    """Per-point confidence (T, 68) in [0, 1] from an error estimate in pixels."""
    return np.exp(-error / (CONF_FRACTION * iod[:, None])).astype(np.float32)


def flow_error(flow: Propagation, iod: np.ndarray) -> np.ndarray:
    """The tracker's error estimate in pixels (its confidence inverted)."""
    return -np.log(np.clip(flow.confidence, 1e-6, 1.0)) * CONF_FRACTION * iod[:, None]


def fuse(model_pts: np.ndarray, model_err: np.ndarray, flow: Propagation, iod: np.ndarray,
         keyframes: Mapping[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-point inverse-variance fusion of the network and the flow track; returns the points
    and their estimated error (pixels).

    The flow's error estimate inverts its confidence. The network's adds, in quadrature, its
    typical error per landmark, measured without ground truth as the median distance to the
    flow track on the frames where the flow is confident (> FLOW_TRUSTED). The fused error is
    ``w_m e_m + w_f e_f + 2 w_m w_f |model − flow|`` (the detection-tracking disagreement
    term, as in the flow's own bidirectional blend).
    """
    floor = FUSION_FLOOR * iod[:, None]
    f_err = flow_error(flow, iod)
    disagreement = np.linalg.norm(model_pts - flow.points, axis=-1)
    trusted = flow.confidence > FLOW_TRUSTED
    if keyframes:
        trusted[list(keyframes)] = False
    rel = disagreement / iod[:, None]
    typical = np.full(rel.shape[1], np.median(rel[trusted]) if trusted.any() else 0.05)
    enough = trusted.sum(axis=0) >= 5
    if enough.any():
        typical[enough] = [np.median(rel[trusted[:, i], i]) for i in np.flatnonzero(enough)]
    m_err = np.sqrt(model_err ** 2 + (typical[None, :] * iod[:, None]) ** 2)
    inv_m = 1.0 / (m_err ** 2 + floor ** 2)
    inv_f = 1.0 / (f_err ** 2 + floor ** 2)
    wm = inv_m / (inv_m + inv_f)
    wf = 1.0 - wm
    points = wm[..., None] * model_pts + wf[..., None] * flow.points
    error = wm * m_err + wf * f_err + 2.0 * wm * wf * disagreement
    return points, error


def final_track(points: np.ndarray, error: np.ndarray, iod: np.ndarray,
                keyframes: Mapping[int, np.ndarray], accel: float, fps: float | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed track and its error estimate: the fused error combined with how far the
    smoother had to move each point (a point the motion model disagrees with is doubtful)."""
    sigma = error + FUSION_FLOOR * iod[:, None]
    smoothed = smooth_track(points, sigma, face_sizes(points), pinned=list(keyframes),
                            accel=accel_at(accel, fps))
    moved = np.linalg.norm(smoothed - points, axis=-1)
    return smoothed, np.sqrt(error ** 2 + moved ** 2)
