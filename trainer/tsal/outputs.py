"""A TSAL run's outputs from its networks' predictions (``trainer.tsal.propagate``).

Each network's points are p = γ·pM + (1−γ)·pC with an error from the teacher-student gap and
its own LHR/CLOR disagreement; "final" is the best network fused with the flow prior by
estimated error (``fusion.fuse``) and smoothed in time with keyframes pinned
(``fusion.final_track``), with the smoother's setting chosen for this face segment from its
held-out keyframes (``core.propagation.holdout.choose_accel``) unless the config fixes it.
Every output carries per-point confidence and the per-frame statistics the review queue uses.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from core.framestats import face_sizes
from core.landmarks import inter_ocular_distance
from core.propagation import Propagation, holdout
from core.smoothing import accel_at
from trainer.tsal import fusion
from trainer.tsal.config import TSALConfig


def _with_keys(points: np.ndarray, conf: np.ndarray, keys: dict[int, np.ndarray], name: str,
               **extra: Any) -> Propagation:
    points, conf = points.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)
    for k, pts in keys.items():
        points[k], conf[k] = pts, 1.0
    return Propagation(points, conf, name, **extra)


def smoother_choice(tracks: list[holdout.HeldOutTrack], cfg: TSALConfig, fps: float | None,
                    prior: Propagation, keys: dict[int, np.ndarray]) -> holdout.SmootherChoice:
    """The final smoother's setting for this segment (see the module docstring), with the
    run's estimate scaled to its real gaps by the flow prior's own error
    (:func:`holdout.tracker_scale`). With ``cfg.shape_complete`` the estimate comes from the
    held-out tracks made consistent with the shape model of the other keyframes, as the
    fused track is (the setting is still chosen on the tracks as tracking left them: chosen
    on the completed ones it was worse on two hand-held clips of twelve and better on none)."""
    scale = holdout.tracker_scale(tracks, prior.points, prior.confidence,
                                  holdout.gap_frames(keys, [(0, len(prior.points) - 1)]))
    if cfg.smooth_choice == "held-out":
        choice = holdout.choose_accel(tracks, cfg.smooth_accel, accel_at(1.0, fps), scale=scale)
    else:
        choice = holdout.SmootherChoice(
            cfg.smooth_accel, "fixed",
            holdout.estimate(tracks, accel_at(cfg.smooth_accel, fps), scale), {})
    if not cfg.shape_complete or not tracks:
        return choice
    shaped = holdout.completed(tracks, keys, fusion.FUSION_FLOOR)
    return replace(choice, estimate=holdout.estimate(shaped, accel_at(choice.accel, fps), scale))


def sources(preds: dict[str, dict[str, np.ndarray]], prior: Propagation,
            keys: dict[int, np.ndarray], cfg: TSALConfig, fps: float | None,
            trust: float = 1.0) -> dict[str, Propagation]:
    """Every output of the run, with per-point confidence and per-frame statistics; ``trust``
    scales the network's error in the fusion (:func:`fusion.model_error`)."""
    iod = np.maximum(np.asarray(inter_ocular_distance(prior.points), np.float64), 4.0)
    points, errors, best = fusion.network_estimates(preds, cfg.gamma)
    gap = fusion.teacher_student_gap(points)
    fused, fused_err = fusion.fuse(points[best], errors[best], prior, iod, keys, trust)
    if cfg.shape_complete and keys:
        fused, fused_err = fusion.shape_complete(fused, fused_err, keys)
    # a shot change the prior's tracking found is never smoothed across
    smoothed, final_err = fusion.final_track(fused, fused_err, iod, keys, cfg.smooth_accel,
                                             fps, prior.info.get("transitions", ()))
    size = face_sizes(prior.points)[:, None] / 100.0
    stats = {
        "teacher_student": (gap / size).mean(axis=1),
        "detection_tracking": (np.linalg.norm(points[best] - prior.points, axis=-1)
                               / size).mean(axis=1),
        "forward_backward": (fusion.flow_error(prior, iod) / size).mean(axis=1),
    }
    for frame in keys:
        for values in stats.values():
            values[frame] = 0.0
    result = {"flow": prior}
    for name in points:
        result[name] = _with_keys(points[name], fusion.confidence(errors[name], iod), keys, name,
                                  stats=stats)
    result["final"] = _with_keys(smoothed, fusion.confidence(final_err, iod), keys, "final",
                                 stats=stats)
    return result
