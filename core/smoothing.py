"""Confidence-weighted temporal smoothing of landmark tracks (a fixed-interval smoother).

Each landmark coordinate is the solution of a penalised least-squares problem over the whole
track:

    min_x  Σ_t (x_t − z_t)² / σ_t²  +  Σ_t (x_{t−1} − 2x_t + x_{t+1})² / q_t²

where ``z`` is the measured position, ``σ_t`` its estimated error (pixels; tiny on keyframes, so
labels stay put) and ``q_t = accel·face_size_t`` the expected frame-to-frame change of velocity.
This is the maximum a-posteriori track under a constant-velocity motion model with random
acceleration (what a Rauch–Tung–Striebel smoother computes), written as one symmetric
pentadiagonal system per landmark and solved in O(T), all landmarks in one banded solve.
Because ``q`` is a fraction of the face size, the same setting suits any resolution; because
``σ`` comes from each point's confidence, confident measurements are followed closely and
doubtful ones are bridged by the motion model. A few iteratively reweighted passes (Huber
weights) keep isolated gross errors from bending the track.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import numpy as np
from scipy.linalg import solveh_banded

from core.errors import ValidationError

#: Default expected change of velocity between frames, as a fraction of the face size. The
#: ground truth of natural head motion has a second difference of about 0.2–0.3 % of the face
#: size per frame (Tai et al.'s σ1 on real video); 0.4 % leaves room for fast motion.
DEFAULT_ACCEL = 0.004
#: Frame rate the settings refer to: at ``fps`` a setting is multiplied by (30 / fps)², so it
#: describes the same motion per second.
REFERENCE_FPS = 30.0
#: Error (pixels) given to keyframe labels: effectively pins them.
PINNED_SIGMA = 1e-3
#: Huber threshold, in units of a point's own σ.
HUBER_K = 2.5


def accel_at(accel: float, fps: float | None) -> float:
    """A setting given at :data:`REFERENCE_FPS` for a video of ``fps`` (unknown: as given)."""
    return accel * (REFERENCE_FPS / fps) ** 2 if fps and fps > 0 else accel


def _penalty_bands(q: np.ndarray) -> np.ndarray:
    """Upper banded form (3, T) of D2ᵀ·diag(1/q²)·D2, D2 the second-difference operator."""
    t = len(q)
    bands = np.zeros((3, t))
    if t < 3:
        return bands
    w = 1.0 / np.square(q[1:-1])  # one weight per interior frame
    diag = bands[2]
    diag[:-2] += w
    diag[1:-1] += 4.0 * w
    diag[2:] += w
    # first super-diagonal: (t−1, t) and (t, t+1) both get −2w; row index i holds A[i−1, i]
    bands[1, 1:-1] += -2.0 * w
    bands[1, 2:] += -2.0 * w
    # second super-diagonal: A[t−1, t+1] = w, stored at column t+1
    bands[0, 2:] += w
    return bands


def _smooth_pieces(z: np.ndarray, sigma: np.ndarray, face_size: np.ndarray | float,
                   bounds: list[int], *, pinned: Iterable[int], accel: float,
                   robust_passes: int, pinned_points: np.ndarray | None) -> np.ndarray:
    """:func:`smooth_track` of each piece ``bounds[i]:bounds[i + 1]`` on its own."""
    n_frames, n_points = z.shape[:2]
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n_frames, n_points))
    size = np.broadcast_to(np.asarray(face_size, dtype=np.float64), (n_frames,))
    pins = [int(i) for i in pinned]
    out = np.empty_like(z)
    for lo, hi in pairwise(bounds):
        out[lo:hi] = smooth_track(
            z[lo:hi], sig[lo:hi], size[lo:hi], pinned=[p - lo for p in pins if lo <= p < hi],
            accel=accel, robust_passes=robust_passes,
            pinned_points=None if pinned_points is None else
            np.asarray(pinned_points, dtype=bool).reshape(n_frames, n_points)[lo:hi])
    return out


def smooth_track(points: np.ndarray, sigma: np.ndarray, face_size: np.ndarray | float, *,
                 pinned: Iterable[int] = (), accel: float = DEFAULT_ACCEL,
                 robust_passes: int = 2, pinned_points: np.ndarray | None = None,
                 breaks: Iterable[int] = ()) -> np.ndarray:
    """The smoothed track (T, N, 2) of measurements ``points`` (T, N, 2) with per-point errors
    ``sigma`` (T, N) in pixels; ``pinned`` frames (keyframes) are kept as they are, and so are
    the points marked in ``pinned_points`` (T, N) (placed or accepted points of partly reviewed
    frames). Each frame of ``breaks`` starts a new shot (a change found while tracking): the
    track is smoothed on either side of it, never across."""
    z = np.asarray(points, dtype=np.float64)
    if z.ndim != 3 or z.shape[2] != 2:
        raise ValidationError(f"points: expected shape (frames, points, 2), got {z.shape}")
    n_frames, n_points = z.shape[:2]
    starts = sorted({int(b) for b in breaks if 0 < int(b) < n_frames})
    if starts:
        return _smooth_pieces(z, sigma, face_size, [0, *starts, n_frames], pinned=pinned,
                              accel=accel, robust_passes=robust_passes,
                              pinned_points=pinned_points)
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n_frames, n_points)).copy()
    if not np.isfinite(z).all() or not np.isfinite(sig).all() or (sig <= 0).any():
        raise ValidationError("points and sigma must be finite and sigma positive")
    if accel <= 0:
        raise ValidationError(f"accel must be positive, got {accel}")
    pins = [int(i) for i in pinned]
    pin_mask = np.zeros((n_frames, n_points), dtype=bool)
    pin_mask[pins] = True
    if pinned_points is not None:
        pin_mask |= np.asarray(pinned_points, dtype=bool).reshape(n_frames, n_points)
    sig[pin_mask] = PINNED_SIGMA
    if n_frames < 3:
        return z.copy()
    size = np.broadcast_to(np.asarray(face_size, dtype=np.float64), (n_frames,))
    penalty = _penalty_bands(np.maximum(accel * size, 1e-6))
    # every landmark's track is an independent system; laid end to end (landmark-major) they
    # form one banded system whose bands do not cross from one track into the next, so one
    # solve per pass serves all landmarks
    bands_all = np.tile(penalty, (1, n_points))
    z_all = z.transpose(1, 0, 2).reshape(n_points * n_frames, 2)
    sig_all = sig.T.reshape(-1)
    pins_all = pin_mask.T.reshape(-1)
    weight = 1.0 / np.square(sig_all)
    for attempt in range(robust_passes + 1):
        bands = bands_all.copy()
        bands[2] += weight
        solved = solveh_banded(bands, weight[:, None] * z_all, check_finite=False)
        if attempt == robust_passes:
            break
        residual = np.linalg.norm(solved - z_all, axis=1) / sig_all
        huber = np.minimum(1.0, HUBER_K / np.maximum(residual, 1e-12))
        huber[pins_all] = 1.0
        weight = huber / np.square(sig_all)
    out = solved.reshape(n_points, n_frames, 2).transpose(1, 0, 2).copy()
    out[pin_mask] = z[pin_mask]
    return out
