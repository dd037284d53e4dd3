"""The simulated person of issue 11 §5: how many drags and seconds does correcting a frame take?

For a frame to correct, the person reviews it (``review_s``), then drags, one at a time, the
point whose error is largest while any point is off by more than ``threshold`` × inter-ocular
distance (a person does not fix what they cannot see). A drag costs ``drag_s`` and lands at the
ground truth plus Gaussian noise of ``drag_noise`` × inter-ocular distance per coordinate; the
person counts a point they have dragged as done (they put it where they saw it), so it is not
dragged again. Then they accept the frame (``accept_s``). With a shape model each drag moves the
other points as the GUI does (``ShapeModel.solve`` with the frame's earlier drags and placed
points fixed); without one a drag moves one point. A new keyframe starts from the template: the
mean shape fitted to the ground truth's face box, as the GUI's "Place template in a box".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import ValidationError
from core.landmarks import N_POINTS, bounding_box, fit_mean_shape_to_box, inter_ocular_distance
from core.shape_model import PREDICTION_UNCERTAINTY, ShapeModel, follow_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonParams:
    """The person's costs (seconds) and limits (inter-ocular units)."""

    review_s: float = 2.0
    drag_s: float = 1.5
    accept_s: float = 0.5
    threshold: float = 0.02
    drag_noise: float = 0.01
    max_drags: int = 2 * N_POINTS


@dataclass(frozen=True)
class FrameCorrection:
    """One corrected frame: drags, seconds, the accepted shape's errors (NME and the worst
    point, inter-ocular units), the accepted shape itself and the dragged points' indices."""

    drags: int
    seconds: float
    error: float
    worst: float
    points: np.ndarray | None = field(default=None, compare=False, repr=False)
    dragged: tuple[int, ...] = field(default=(), repr=False)


def template_for(truth: np.ndarray) -> np.ndarray:
    """The GUI's template for a frame: the mean shape fitted to the face box of ``truth``."""
    return fit_mean_shape_to_box(bounding_box(truth))


def point_errors(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each point's distance to the truth over the truth's inter-ocular distance ``(68,)``."""
    iod = float(inter_ocular_distance(truth))
    return np.linalg.norm(np.asarray(points, np.float64) - truth, axis=-1) / iod


def correct_frame(start: np.ndarray, truth: np.ndarray, rng: np.random.Generator, *,
                  model: ShapeModel | None = None, params: PersonParams | None = None,
                  fixed: np.ndarray | None = None,
                  uncertainty: float | np.ndarray = PREDICTION_UNCERTAINTY,
                  follow: tuple[float, float] | None = None, slide: bool = True
                  ) -> FrameCorrection:
    """Review, drag and accept one frame that shows ``start`` (``(68, 2)`` pixels).

    ``model`` None: single-point drags. ``fixed``: points already placed (they never move by
    the model, but the person may drag them). ``uncertainty``, ``follow`` (strong, weak) and
    ``slide`` are handed to ``ShapeModel.solve``.
    """
    p = params or PersonParams()
    gt = np.asarray(truth, dtype=np.float64)
    points = np.asarray(start, dtype=np.float32).copy()
    if points.shape != (N_POINTS, 2) or gt.shape != (N_POINTS, 2):
        raise ValidationError(f"start and truth must be (68, 2), got {points.shape}, "
                              f"{gt.shape}")
    iod = float(inter_ocular_distance(gt))
    placed = np.zeros(N_POINTS, bool) if fixed is None else np.asarray(fixed, bool).copy()
    done = np.zeros(N_POINTS, dtype=bool)
    drags = 0
    while drags < p.max_drags:
        error = point_errors(points, gt)
        error[done] = -1.0
        index = int(np.argmax(error))
        if error[index] <= p.threshold:
            break
        target = gt[index] + rng.normal(0.0, p.drag_noise * iod, 2)
        if model is None:
            points[index] = target
        else:
            weights = follow_weights([index], *follow) if follow else None
            points = model.solve(points, {index: target}, fixed=placed | done, follow=weights,
                                 uncertainty=uncertainty, slide=slide)
        done[index] = True
        drags += 1
    final = point_errors(points, gt)
    seconds = p.review_s + drags * p.drag_s + p.accept_s
    return FrameCorrection(drags, seconds, float(final.mean()), float(final.max()), points,
                           tuple(int(i) for i in np.flatnonzero(done)))


def correct_frames(starts: Sequence[np.ndarray] | np.ndarray,
                   truths: Sequence[np.ndarray] | np.ndarray, *, seed: int = 0,
                   model: ShapeModel | None = None, params: PersonParams | None = None,
                   uncertainty: float | np.ndarray = PREDICTION_UNCERTAINTY,
                   follow: tuple[float, float] | None = None, slide: bool = True
                   ) -> list[FrameCorrection]:
    """``correct_frame`` for each (start, truth); frame ``k`` draws its noise from
    ``seed + k``, so runs with and without a model see the same hands."""
    if len(starts) != len(truths):
        raise ValidationError(f"{len(starts)} start shapes but {len(truths)} truths")
    unc = np.asarray(uncertainty, dtype=np.float64)
    return [correct_frame(s, t, np.random.default_rng(seed + k), model=model, params=params,
                          uncertainty=unc[k] if unc.ndim == 2 else unc, follow=follow,
                          slide=slide)
            for k, (s, t) in enumerate(zip(starts, truths))]


def summarise(results: Sequence[FrameCorrection]) -> dict[str, float]:
    """Frames, frames that needed a drag, drags per corrected frame, seconds per frame (all
    frames reviewed), mean final NME (%) and worst final point error (%)."""
    corrected = [r for r in results if r.drags > 0]
    n = max(len(results), 1)
    return {
        "frames": len(results),
        "corrected": len(corrected),
        "drags_per_corrected": (sum(r.drags for r in corrected) / len(corrected)
                                if corrected else 0.0),
        "seconds_per_frame": sum(r.seconds for r in results) / n,
        "seconds_per_corrected": (sum(r.seconds for r in corrected) / len(corrected)
                                  if corrected else 0.0),
        "nme_percent": 100 * sum(r.error for r in results) / n,
        "worst_percent": 100 * max((r.worst for r in results), default=0.0),
    }
