"""Accuracy and stability metrics for 68-point landmark tracks (pure numpy).

Used by the benchmark (``main.py bench``), the trainer's validation and the GUI's review panels.
Shapes follow :mod:`core.landmarks`: one frame is ``(68, 2)`` 0-based pixels, a track is
``(T, 68, 2)``. Accuracy: NME with four normalisations, the cumulative error distribution, AUC
and failure rate at a threshold. Stability: σ1 of Tai et al. (AAAI 2019), a one-sided σ2, error
jitter, and the bias / std / NRMSE decomposition of Nagae & Takeuchi. Bad input raises
:class:`core.errors.ValidationError` naming the argument and, where it applies, the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import ValidationError
from core.landmarks import LEFT_EYE_OUTER, N_POINTS, POINTS_49, RIGHT_EYE_OUTER

logger = logging.getLogger(__name__)

#: Accepted values of the ``normalisation`` argument.
NORMALISATIONS = ("inter-ocular", "inter-pupil", "box", "diagonal")
#: Default threshold of AUC and failure rate (300-W / 300VW convention).
DEFAULT_THRESHOLD = 0.08
#: Nagae & Takeuchi exclude displacements larger than this (in inter-ocular units).
DEFAULT_OUTLIER_THRESHOLD = 0.05

Subset = str | Sequence[int] | np.ndarray

_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)


# ----------------------------------------------------------------------------- validation


def _as_track(points: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """``points`` as float64 ``(T, 68, 2)``, and whether the caller gave a single frame."""
    arr = np.asarray(points, dtype=np.float64)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (N_POINTS, 2):
        raise ValidationError(
            f"{name}: expected shape (68, 2) or (T, 68, 2), got {np.shape(points)}")
    if arr.shape[0] == 0:
        raise ValidationError(f"{name}: the track has no frames")
    bad = ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        frame = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"{name}: non-finite coordinates in frame {frame}")
    return arr, single


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    p, single_p = _as_track(pred, "pred")
    g, single_g = _as_track(gt, "gt")
    if p.shape != g.shape:
        raise ValidationError(
            f"pred and gt differ in shape: {np.shape(pred)} vs {np.shape(gt)}")
    return p, g, single_p and single_g


def _subset_indices(subset: Subset) -> np.ndarray:
    if isinstance(subset, str):
        if subset in ("all", "68"):
            return np.arange(N_POINTS)
        if subset == "49":
            return POINTS_49.copy()
        raise ValidationError(f"subset: expected 'all', '68', '49' or indices, got {subset!r}")
    idx = np.asarray(subset)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValidationError("subset: expected a non-empty 1-D sequence of point indices")
    if idx.min() < 0 or idx.max() >= N_POINTS:
        raise ValidationError(f"subset: indices must lie in 0..{N_POINTS - 1}")
    return idx.astype(np.int64)


def _visibility(visible: np.ndarray | None, n_frames: int) -> np.ndarray:
    """Visibility as bool ``(T, 68)`` (all True when ``visible`` is None)."""
    if visible is None:
        return np.ones((n_frames, N_POINTS), dtype=bool)
    vis = np.asarray(visible)
    if vis.shape == (N_POINTS,):
        vis = np.broadcast_to(vis, (n_frames, N_POINTS))
    if vis.shape != (n_frames, N_POINTS):
        raise ValidationError(
            f"visible: expected shape (68,) or ({n_frames}, 68), got {np.shape(visible)}")
    return vis.astype(bool)


def _frame_mask(mask: np.ndarray | None, n_frames: int, name: str) -> np.ndarray:
    if mask is None:
        return np.ones(n_frames, dtype=bool)
    arr = np.asarray(mask)
    if arr.shape != (n_frames,):
        raise ValidationError(f"{name}: expected shape ({n_frames},), got {np.shape(mask)}")
    return arr.astype(bool)


def _as_errors(errors: np.ndarray | Sequence[float] | float) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(errors, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValidationError(f"errors: expected a non-empty 1-D array, got {np.shape(errors)}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        frame = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"errors: frame {frame} has an invalid error {arr[frame]!r}")
    return arr


def _check_threshold(threshold: float) -> float:
    thr = float(threshold)
    if not np.isfinite(thr) or thr <= 0:
        raise ValidationError(f"threshold: must be a positive number, got {threshold!r}")
    return thr


# ----------------------------------------------------------------------------- normalisers


def normalisation_distance(gt: np.ndarray, normalisation: str = "inter-ocular") -> np.ndarray:
    """Per-frame normalisation distance ``(T,)`` of a ground-truth track (or ``(1,)``).

    ``inter-ocular``: outer eye corners 36-45. ``inter-pupil``: centroids of 36-41 and 42-47.
    ``box``: sqrt(w·h) of the tight box of all 68 GT points. ``diagonal``: sqrt(w² + h²) of it.
    Raises ValidationError naming the first frame whose distance is zero.
    """
    g, _ = _as_track(gt, "gt")
    if normalisation == "inter-ocular":
        dist = np.linalg.norm(g[:, RIGHT_EYE_OUTER] - g[:, LEFT_EYE_OUTER], axis=-1)
    elif normalisation == "inter-pupil":
        dist = np.linalg.norm(
            g[:, _RIGHT_EYE].mean(axis=1) - g[:, _LEFT_EYE].mean(axis=1), axis=-1)
    elif normalisation in ("box", "diagonal"):
        size = g.max(axis=1) - g.min(axis=1)
        w, h = size[:, 0], size[:, 1]
        dist = np.sqrt(w * h) if normalisation == "box" else np.hypot(w, h)
    else:
        raise ValidationError(
            f"normalisation: expected one of {', '.join(NORMALISATIONS)}, got {normalisation!r}")
    zero = ~(dist > 1e-9)
    if zero.any():
        frame = int(np.flatnonzero(zero)[0])
        raise ValidationError(f"gt: {normalisation} distance is zero in frame {frame}")
    return dist


def face_size(gt: np.ndarray) -> np.ndarray:
    """Per-frame face size ``(T,)``: the larger side of the tight box of all 68 points."""
    g, _ = _as_track(gt, "gt")
    size = (g.max(axis=1) - g.min(axis=1)).max(axis=1)
    zero = ~(size > 1e-9)
    if zero.any():
        frame = int(np.flatnonzero(zero)[0])
        raise ValidationError(f"gt: face size is zero in frame {frame}")
    return size


# ----------------------------------------------------------------------------- accuracy


def nme(pred: np.ndarray, gt: np.ndarray, *, normalisation: str = "inter-ocular",
        subset: Subset = "all", visible: np.ndarray | None = None) -> np.ndarray | float:
    """Normalised mean error per frame.

    ``NME_t = mean_{i in subset, visible[t, i]} ||pred[t, i] - gt[t, i]|| / d_t`` with ``d_t``
    from :func:`normalisation_distance` (always computed from all GT points, visible or not).
    ``subset``: ``"all"``/``"68"``, ``"49"`` (:data:`core.landmarks.POINTS_49`) or indices.
    ``visible``: bool ``(68,)`` or ``(T, 68)``; points not visible in the GT are left out of the
    mean. A frame with no visible point in the subset gets NaN. Returns ``(T,)``, or a float
    when both inputs are one ``(68, 2)`` frame.
    """
    p, g, single = _pair(pred, gt)
    idx = _subset_indices(subset)
    vis = _visibility(visible, len(g))[:, idx]
    dist = normalisation_distance(g, normalisation)
    err = np.linalg.norm(p[:, idx] - g[:, idx], axis=-1)
    counts = vis.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_frame = np.where(vis, err, 0.0).sum(axis=1) / counts / dist
    if (counts == 0).any():
        logger.debug("nme: %d frame(s) without visible points", int((counts == 0).sum()))
    return float(per_frame[0]) if single else per_frame


def cumulative_error_distribution(
    errors: np.ndarray | Sequence[float], thresholds: np.ndarray | Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The CED: fraction of frames whose error is <= each threshold.

    With ``thresholds=None`` the curve is returned exactly, at its breakpoints: the sorted
    distinct errors and the fraction of frames at or below each (draw it as a ``post`` step).
    Returns ``(thresholds, fractions)``.
    """
    err = np.sort(_as_errors(errors))
    xs = np.unique(err) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return xs, np.searchsorted(err, xs, side="right") / err.size


def auc(errors: np.ndarray | Sequence[float], threshold: float = DEFAULT_THRESHOLD) -> float:
    """Area under the CED from 0 to ``threshold``, divided by ``threshold`` (in [0, 1]).

    Exact for the step-function CED ``F(e) = #{e_k <= e} / n``: each frame contributes its
    indicator on ``[e_k, thr]``, so ``∫_0^thr F(e) de = mean_k max(0, thr - e_k)`` and
    ``AUC = mean_k clip(1 - e_k / thr, 0, 1)``. No sampling of the curve is involved.
    """
    err = _as_errors(errors)
    thr = _check_threshold(threshold)
    return float(np.clip(1.0 - err / thr, 0.0, 1.0).mean())


def failure_rate(errors: np.ndarray | Sequence[float],
                 threshold: float = DEFAULT_THRESHOLD) -> float:
    """Fraction of frames whose error is strictly greater than ``threshold``."""
    err = _as_errors(errors)
    thr = _check_threshold(threshold)
    return float((err > thr).mean())


# ----------------------------------------------------------------------------- stability


def _normalised_rms(residual: np.ndarray, scale: np.ndarray, keep: np.ndarray,
                    name: str) -> float:
    """sqrt(mean over kept frames and all points of ||residual||²) / (scale / 100)."""
    if not keep.any():
        raise ValidationError(f"{name}: no frame left to average the residual over")
    per_point = (residual ** 2).sum(axis=-1) / (scale[:, None] / 100.0) ** 2
    return float(np.sqrt(per_point[keep].mean()))


def _stability_inputs(track: np.ndarray, gt: np.ndarray | None, name: str, min_frames: int,
                      centres: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, _ = _as_track(track, name)
    if gt is None:
        size = face_size(p)
    else:
        g, _ = _as_track(gt, "gt")
        if g.shape != p.shape:
            raise ValidationError(
                f"{name} and gt differ in shape: {np.shape(track)} vs {np.shape(gt)}")
        size = face_size(g)
    if len(p) < min_frames:
        raise ValidationError(f"{name}: needs at least {min_frames} frames, got {len(p)}")
    return p, size, _frame_mask(centres, len(p), "centres")


def stability_sigma1(track: np.ndarray, gt: np.ndarray | None = None, *,
                     centres: np.ndarray | None = None, subset: Subset = "all") -> float:
    """Stability σ1 of Tai et al. (AAAI 2019): the RMS second-order jitter over face size / 100.

    For every frame t = 1..T-2 and point i, ``r_t,i = P_t,i - (P_t-1,i + P_t+1,i) / 2`` (a 2-D
    vector, pixels). With ``s_t`` the larger side of the tight box of the GT at frame t (of
    ``track`` itself when ``gt`` is None)::

        σ1 = sqrt( mean over t in C, i in subset of ||r_t,i||² / (s_t / 100)² )

    where C holds the centres t in 1..T-2 with ``centres[t]`` True (all by default). The
    neighbours t±1 are always used, whether or not they are in C. A constant-velocity track has
    σ1 = 0; ``P_t = G + a·(-1)^t`` gives ``σ1 = 2|a| / (s / 100)``. Needs T >= 3.
    """
    p, size, keep = _stability_inputs(track, gt, "track", 3, centres)
    idx = _subset_indices(subset)
    residual = p[1:-1, idx] - 0.5 * (p[:-2, idx] + p[2:, idx])
    return _normalised_rms(residual, size[1:-1], keep[1:-1], "centres")


def stability_sigma2(track: np.ndarray, gt: np.ndarray | None = None, *,
                     centres: np.ndarray | None = None, subset: Subset = "all") -> float:
    """A one-sided (causal) stability: the constant-velocity prediction residual.

    For t = 2..T-1, ``q_t,i = P_t,i - (2 P_t-1,i - P_t-2,i)``: the error of predicting frame t
    from the two frames before it at constant velocity, i.e. the acceleration. A track that lags
    its target at constant velocity is not penalised. Normalised as σ1 with the face size of
    frame t and averaged over the t in 2..T-1 with ``centres[t]`` True::

        σ2 = sqrt( mean over t, i of ||q_t,i||² / (s_t / 100)² )

    Note ``q_t = -2 r_t-1`` (σ1's residual at t-1), so with a constant face size and all centres
    kept, σ2 = 2·σ1 exactly; it differs from σ1 only in which frames ``centres`` and the face
    size refer to (the predicted frame rather than the middle one). Needs T >= 3.
    """
    p, size, keep = _stability_inputs(track, gt, "track", 3, centres)
    idx = _subset_indices(subset)
    residual = p[2:, idx] - (2.0 * p[1:-1, idx] - p[:-2, idx])
    return _normalised_rms(residual, size[2:], keep[2:], "centres")


def error_jitter(pred: np.ndarray, gt: np.ndarray, *, centres: np.ndarray | None = None,
                 subset: Subset = "all") -> float:
    """σ1's formula applied to the error track ``E = pred - gt`` (normalised by GT face size).

    Zero for any constant offset from the GT, however much the GT itself moves or jitters.
    """
    p, g, _ = _pair(pred, gt)
    return stability_sigma1(p - g, g, centres=centres, subset=subset)


# ----------------------------------------------------------------------------- bias / std


@dataclass(frozen=True)
class DisplacementStats:
    """Bias / std / NRMSE of normalised displacements (Nagae & Takeuchi); bias²+std² = nrmse²."""

    bias: float
    std: float
    nrmse: float
    n_included: int
    n_excluded: int


def bias_std_nrmse(pred: np.ndarray, gt: np.ndarray, *,
                   outlier_threshold: float = DEFAULT_OUTLIER_THRESHOLD,
                   normalisation: str = "inter-ocular", subset: Subset = "all",
                   visible: np.ndarray | None = None) -> DisplacementStats:
    """Decompose the normalised displacement ``d_t,i = (P_t,i - G_t,i) / d_t`` into bias and std.

    Displacements with ``||d|| > outlier_threshold`` (and points not visible) are excluded.
    For each landmark i with ``n_i`` included frames: mean ``m_i``, variance ``v_i = mean
    ||d - m_i||²`` (trace of the population covariance). Aggregated over landmarks with weights
    ``n_i / N`` (N = Σ n_i; equal weights when nothing is excluded)::

        bias = sqrt(Σ n_i ||m_i||² / N),  std = sqrt(Σ n_i v_i / N),  nrmse = sqrt(Σ ||d||² / N)

    so ``bias² + std² = nrmse²`` holds exactly. All three are NaN when nothing is included.
    """
    p, g, _ = _pair(pred, gt)
    idx = _subset_indices(subset)
    if not (np.isfinite(outlier_threshold) and outlier_threshold > 0):
        raise ValidationError(f"outlier_threshold: must be positive, got {outlier_threshold!r}")
    dist = normalisation_distance(g, normalisation)
    d = (p[:, idx] - g[:, idx]) / dist[:, None, None]
    sq = (d ** 2).sum(axis=-1)
    vis = _visibility(visible, len(g))[:, idx]
    keep = vis & (np.sqrt(sq) <= outlier_threshold)
    n_i = keep.sum(axis=0)
    total = int(n_i.sum())
    excluded = int(vis.sum()) - total
    if total == 0:
        nan = float("nan")
        return DisplacementStats(nan, nan, nan, 0, excluded)
    w = keep[..., None].astype(np.float64)
    has = n_i > 0
    mean = (d * w).sum(axis=0)[has] / n_i[has, None]
    centred_sq = (((d[:, has] - mean) ** 2).sum(axis=-1) * keep[:, has]).sum(axis=0)
    bias_sq = float((n_i[has] * (mean ** 2).sum(axis=-1)).sum() / total)
    var_sq = float(centred_sq.sum() / total)
    mse = float(sq[keep].sum() / total)
    return DisplacementStats(float(np.sqrt(bias_sq)), float(np.sqrt(var_sq)),
                             float(np.sqrt(mse)), total, excluded)


# ----------------------------------------------------------------------------- summary


def summarise(pred: np.ndarray, gt: np.ndarray, keyframe_mask: np.ndarray | None = None,
              threshold: float = DEFAULT_THRESHOLD, *, normalisation: str = "inter-ocular",
              subset: Subset = "all", visible: np.ndarray | None = None) -> dict[str, float]:
    """The benchmark's numbers for one track, over non-keyframes when a mask is given.

    Keys: ``nme_percent`` (mean NME × 100), ``auc`` and ``failure_rate`` at ``threshold``,
    ``sigma1_pred``, ``sigma1_gt``, ``error_jitter`` (σ1 needs neighbours, so it runs over the
    whole track but only averages residuals centred on non-keyframes; NaN when the track is
    shorter than 3 frames or has no such centre), ``n_frames`` (frames in the accuracy numbers)
    and ``threshold``. Frames with no visible point are left out of the accuracy numbers.
    """
    p, g, _ = _pair(pred, gt)
    n = len(p)
    keyframes = (np.zeros(n, dtype=bool) if keyframe_mask is None
                 else _frame_mask(keyframe_mask, n, "keyframe_mask"))
    evaluated = ~keyframes
    if not evaluated.any():
        raise ValidationError("keyframe_mask: every frame is a keyframe; nothing to evaluate")
    per_frame = np.asarray(nme(p, g, normalisation=normalisation, subset=subset,
                               visible=visible))
    errors = per_frame[evaluated & np.isfinite(per_frame)]
    if errors.size == 0:
        raise ValidationError("visible: no evaluated frame has a visible point")
    thr = _check_threshold(threshold)
    out = {
        "nme_percent": float(errors.mean() * 100.0),
        "auc": auc(errors, thr),
        "failure_rate": failure_rate(errors, thr),
        "threshold": thr,
        "n_frames": float(errors.size),
    }
    has_centre = n >= 3 and evaluated[1:-1].any()
    nan = float("nan")
    out["sigma1_pred"] = (stability_sigma1(p, g, centres=evaluated, subset=subset)
                          if has_centre else nan)
    out["sigma1_gt"] = (stability_sigma1(g, g, centres=evaluated, subset=subset)
                        if has_centre else nan)
    out["error_jitter"] = (error_jitter(p, g, centres=evaluated, subset=subset)
                           if has_centre else nan)
    return out
