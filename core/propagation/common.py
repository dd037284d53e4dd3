"""What every propagator shares: the :class:`Propagation` result, keyframe checks, progress
ticking and linear interpolation (what CVAT does), the simplest propagator and the guide of others.

A propagator returns points ``(T, 68, 2)`` float32 in 0-based full-frame pixels with the keyframes
copied exactly, a per-point confidence ``(T, 68)`` in [0, 1] that is 1 at keyframes, and the
method's name (a key of ``core.propagation.METHODS``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import CancelledError, ValidationError
from core.landmarks import N_POINTS, inter_ocular_distance
from core.progress import Progress, ShouldStop

FrameSource = Callable[[int], np.ndarray]  # frame(i) -> BGR uint8 (H, W, 3)

#: Interpolation confidence halves every this many frames away from the nearest keyframe.
INTERP_HALF_LIFE = 10.0
#: Tracking confidence is exp(-error / (this x inter-ocular)): 0.37 at the bench's failure level.
CONF_FRACTION = 0.08



@dataclass(frozen=True)
class Propagation:
    """Points for every frame of a video, their per-point confidence and the method's name."""

    points: np.ndarray  # (T, 68, 2) float32, 0-based full-frame pixels
    confidence: np.ndarray  # (T, 68) float32 in [0, 1]; 1 at keyframes
    method: str
    #: Extra per-frame statistics for the run (``detection_tracking``, ``teacher_student``,
    #: ``forward_backward``: disagreements in % of the face size), when the method has them.
    stats: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: What the job should record: ``device``, ``stopped`` (ended early by a stop request, the
    #: result is usable), ``checkpoint``, ``warm_start``, ``timings``, ...
    info: Mapping[str, Any] = field(default_factory=dict)


class Ticker:
    """Counts work units, reports progress and raises CancelledError when asked to stop; safe
    to call from several threads (the reports stay in order)."""

    def __init__(self, total: int, progress: Progress | None, should_stop: ShouldStop | None):
        self.total, self.done = max(int(total), 1), 0
        self._progress, self._should_stop = progress, should_stop
        self._lock = threading.Lock()

    def __call__(self, units: int = 1) -> None:
        if self._should_stop is not None and self._should_stop():
            raise CancelledError("propagation cancelled")
        with self._lock:
            self.done += units
            if self._progress is not None:
                self._progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        """Report ``total/total`` unless the last report already did."""
        if self.done < self.total:
            self.done = self.total
            if self._progress is not None:
                self._progress(self.total, self.total)


def check_keyframes(n_frames: int, keyframes: Mapping[int, np.ndarray] | None
                     ) -> dict[int, np.ndarray]:
    """Keyframes as a sorted {frame: float32 (68, 2)} dict; ValidationError names the bad frame."""
    if int(n_frames) < 1:
        raise ValidationError(f"n_frames must be at least 1, got {n_frames}")
    if not keyframes:
        raise ValidationError("no keyframes: label at least one frame before propagating")
    checked: dict[int, np.ndarray] = {}
    for key, value in keyframes.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise ValidationError(f"keyframe index {key!r} is not an integer frame number")
        k = int(key)
        if not 0 <= k < n_frames:
            raise ValidationError(f"keyframe at frame {k} is outside 0..{n_frames - 1} "
                                  f"(the video has {n_frames} frames)")
        try:
            pts = np.array(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValidationError(f"keyframe at frame {k}: points are not numbers") from None
        if pts.shape != (N_POINTS, 2):
            raise ValidationError(f"keyframe at frame {k}: expected points of shape "
                                  f"({N_POINTS}, 2), got {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValidationError(f"keyframe at frame {k}: points contain NaN or infinity")
        checked[k] = pts
    return dict(sorted(checked.items()))


def face_scale(*shapes: np.ndarray) -> float:
    """Mean inter-ocular distance of the shapes, at least 4 px (guards degenerate labels)."""
    return max(float(np.mean([inter_ocular_distance(s) for s in shapes])), 4.0)


def interpolate(n_frames: int, keyframes: Mapping[int, np.ndarray],
                progress: Progress | None = None, should_stop: ShouldStop | None = None
                ) -> Propagation:
    """Linear interpolation between the surrounding keyframes; the nearest one is held outside.

    Confidence is ``0.5 ** (d / INTERP_HALF_LIFE)`` with ``d`` the distance in frames to the
    nearest keyframe: 1 at keyframes, 0.5 ten frames away, the same for every point.
    """
    keys = check_keyframes(n_frames, keyframes)
    ticker = Ticker(1, progress, should_stop)
    idx = np.array(list(keys), dtype=np.int64)
    shapes = np.stack(list(keys.values())).astype(np.float64)
    t = np.arange(int(n_frames))
    lo = np.clip(np.searchsorted(idx, t, side="right") - 1, 0, len(idx) - 1)
    hi = np.clip(np.searchsorted(idx, t, side="left"), 0, len(idx) - 1)
    span = idx[hi] - idx[lo]
    alpha = np.where(span > 0, (t - idx[lo]) / np.maximum(span, 1), 0.0)[:, None, None]
    points = ((1.0 - alpha) * shapes[lo] + alpha * shapes[hi]).astype(np.float32)
    distance = np.minimum(np.abs(t - idx[lo]), np.abs(idx[hi] - t)).astype(np.float64)
    confidence = np.repeat((0.5 ** (distance / INTERP_HALF_LIFE))[:, None], N_POINTS, axis=1)
    for k, pts in keys.items():
        points[k] = pts
    ticker()
    return Propagation(points, confidence.astype(np.float32), "interpolation")
