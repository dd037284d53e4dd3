"""From the network's and the tracker's points to the final pseudo-label and its confidence.

``fuse`` combines the teacher with bidirectional flow tracking point by point, by their
estimated errors (inverse-variance weights); ``shape_complete`` makes each fused frame
consistent with the video's shape model (a badly measured point goes where the well-measured
ones and the keyframes' shapes put it); ``final_track`` then runs the confidence-weighted
temporal smoother of :mod:`core.smoothing` over the fused track, keyframes pinned. Every source
stays available to the benchmark, so each stage is justified by numbers (docs/MEASUREMENTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.framestats import face_sizes
from core.propagation import CONF_FRACTION, Propagation
from core.shape_model import ShapeModel, complete_track
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


def teacher_student_gap(points: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per point, the distance between the teacher's and the student's points (pixels); zero
    without a teacher."""
    if "teacher" not in points:
        return np.zeros(points["student"].shape[:-1])
    return np.linalg.norm(points["teacher"] - points["student"], axis=-1)


def network_estimates(preds: Mapping[str, Mapping[str, np.ndarray]], gamma: float
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """Each network's points p = γ·pM + (1−γ)·pC, its error estimate in pixels (the
    teacher-student gap plus its own LHR/CLOR disagreement) and the name of the best network
    (the distilled teacher, else the teacher, else the student)."""
    points = {name: gamma * p["pm"] + (1 - gamma) * p["pc"] for name, p in preds.items()}
    own = {name: 0.5 * np.linalg.norm(p["pm"] - p["pc"], axis=-1) for name, p in preds.items()}
    gap = teacher_student_gap(points)
    best = next(name for name in ("teacher+sd", "teacher", "student") if name in points)
    return points, {name: gap + own[name] for name in points}, best


def typical_error(model_pts: np.ndarray, flow_pts: np.ndarray, trusted: np.ndarray,
                  iod: np.ndarray) -> np.ndarray:
    """The network's typical error per landmark (68,), x inter-ocular, measured without ground
    truth: the median distance to the flow track where the flow is ``trusted`` (T, 68)."""
    rel = np.linalg.norm(model_pts - flow_pts, axis=-1) / iod[:, None]
    typical = np.full(rel.shape[1], np.median(rel[trusted]) if trusted.any() else 0.05)
    enough = trusted.sum(axis=0) >= 5
    if enough.any():
        typical[enough] = [np.median(rel[trusted[:, i], i]) for i in np.flatnonzero(enough)]
    return typical


def combine(model_pts: np.ndarray, m_err: np.ndarray, flow_pts: np.ndarray, f_err: np.ndarray,
            iod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance blend of two estimates with errors in pixels; the points and the
    blend's error ``w_m e_m + w_f e_f + 2 w_m w_f |model − flow|`` (the disagreement term, as
    in the flow's own bidirectional blend)."""
    floor = FUSION_FLOOR * iod[:, None]
    inv_m = 1.0 / (m_err ** 2 + floor ** 2)
    inv_f = 1.0 / (f_err ** 2 + floor ** 2)
    wm = inv_m / (inv_m + inv_f)
    wf = 1.0 - wm
    points = wm[..., None] * model_pts + wf[..., None] * flow_pts
    disagreement = np.linalg.norm(model_pts - flow_pts, axis=-1)
    return points, wm * m_err + wf * f_err + 2.0 * wm * wf * disagreement


def model_error(model_err: np.ndarray, typical: np.ndarray, iod: np.ndarray,
                trust: float = 1.0) -> np.ndarray:
    """The network's error as the fusion weighs it (pixels): its own estimate and its typical
    error in quadrature, times ``trust`` (> 1 trusts it less; chosen on held-out keyframes,
    :mod:`trainer.tsal.validation`)."""
    return trust * np.sqrt(model_err ** 2 + (typical[None, :] * iod[:, None]) ** 2)


def fuse(model_pts: np.ndarray, model_err: np.ndarray, flow: Propagation, iod: np.ndarray,
         keyframes: Mapping[int, np.ndarray] | None = None, trust: float = 1.0
         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-point inverse-variance fusion of the network and the flow track; returns the points
    and their estimated error (pixels).

    The flow's error estimate inverts its confidence. The network's adds, in quadrature, its
    :func:`typical_error` on the frames where the flow is confident (> FLOW_TRUSTED), and is
    scaled by ``trust``.
    """
    trusted = flow.confidence > FLOW_TRUSTED
    if keyframes:
        trusted[list(keyframes)] = False
    typical = typical_error(model_pts, flow.points, trusted, iod)
    return combine(model_pts, model_error(model_err, typical, iod, trust), flow.points,
                   flow_error(flow, iod), iod)


def shape_complete(points: np.ndarray, error: np.ndarray,
                   keyframes: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every non-keyframe's fused points replaced by their posterior under the shape model of
    the keyframes (:func:`core.shape_model.complete_track`, each point observed with its error
    plus the fusion's floor), and the error by the smaller of the two estimates."""
    model = ShapeModel.fit(np.stack([np.asarray(keyframes[k], np.float64)
                                     for k in sorted(keyframes)]))
    return complete_track(model, points, error, skip=keyframes, floor=FUSION_FLOOR)


def final_track(points: np.ndarray, error: np.ndarray, iod: np.ndarray,
                keyframes: Mapping[int, np.ndarray], accel: float, fps: float | None,
                breaks: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed track and its error estimate: the fused error combined with how far the
    smoother had to move each point (a point the motion model disagrees with is doubtful).
    ``breaks``: shot changes found while tracking, never smoothed across."""
    sigma = error + FUSION_FLOOR * iod[:, None]
    smoothed = smooth_track(points, sigma, face_sizes(points), pinned=list(keyframes),
                            accel=accel_at(accel, fps), breaks=breaks)
    moved = np.linalg.norm(smoothed - points, axis=-1)
    return smoothed, np.sqrt(error ** 2 + moved ** 2)
