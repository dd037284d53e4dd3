"""The project model: one network that learns from the keyframes of every video (issue 13 §2).

DeepLabCut and SLEAP keep one model per project, so that each labelled video makes the next one
cheaper. Ours is the TSAL network of a preset trained with supervision on the keyframes (every
point placed or accepted) of all the project's videos. It serves twice:

- a video's first propagation starts from it instead of from random weights (start
  "project" in the run's metrics), so its held-out check has a network worth keeping sooner;
- "Predict keyframe" (:func:`predict`): given a box around the face (by default the nearest
  keyframe's), it places the 68 points for the person to correct — a detector without dlib
  that improves as the project grows.

The crops are aligned as propagation aligns them (the labels' similarity to the template),
with stronger geometric augmentation than a propagation's (:data:`BOX_AUGMENTATION`) so the
network also copes with the rougher alignment a box gives. A prediction aligns the template's
box on the given box, predicts, re-aligns the crop on the predicted shape (rotation included)
and predicts again (:data:`REFINE_PASSES`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from core.errors import ValidationError
from core.geometry import apply_affine, invert_affine, similarity_matrix
from core.progress import Progress, ShouldStop
from trainer.tsal import checkpoint, data
from trainer.tsal.config import TSALConfig
from trainer.tsal.loop import Trainer, train
from trainer.tsal.models import LandmarkNet, infer
from trainer.tsal.progress import JobProgress

logger = logging.getLogger(__name__)

#: Geometric augmentation of the project model's crops (a box's alignment is rougher).
BOX_AUGMENTATION = {"aug_rotate_deg": 20.0, "aug_scale": 0.15, "aug_shift": 0.08}
#: Training steps: this many per keyframe, within [MIN_STEPS, MAX_STEPS].
STEPS_PER_KEYFRAME = 10
MIN_STEPS, MAX_STEPS = 100, 600
#: Alignments of a prediction: on the box, then on the shape predicted so far.
REFINE_PASSES = 2


def model_config(cfg: TSALConfig, n_keyframes: int) -> TSALConfig:
    """``cfg`` as the project model trains it: supervised only, box augmentation, steps by
    the number of keyframes, no held-out check (every keyframe teaches)."""
    steps = int(np.clip(STEPS_PER_KEYFRAME * n_keyframes, MIN_STEPS, MAX_STEPS))
    return replace(cfg, use_semi=False, steps=steps, scale_steps=False, stop_early=False,
                   ramp_up=0.0, **BOX_AUGMENTATION)


def train_model(frame_of: Callable[[int], np.ndarray], labels: np.ndarray, cfg: TSALConfig,
                progress: Progress | None = None, should_stop: ShouldStop | None = None,
                device: torch.device | str = "cpu") -> Trainer | None:
    """Train on ``labels`` (N, 68, 2), keyframe i on image ``frame_of(i)`` (BGR); None when
    stopped (nothing is kept: a half-trained project model would mislead)."""
    labels = np.asarray(labels, np.float64)
    if len(labels) == 0:
        raise ValidationError("the project has no keyframe to learn from: label (or accept) "
                              "every point of at least one frame first")
    model_cfg = model_config(cfg, len(labels))
    n = len(labels)
    bar = JobProgress({"crops": n, "train": model_cfg.steps}, progress, should_stop)
    affines = data.align_affines(labels, model_cfg.crop, model_cfg.margin)
    crops = data.CropStore(n, model_cfg.crop)
    try:
        if not crops.fill(data.FrameReader(frame_of, n), affines, lambda i: bar("crops", i),
                          should_stop):
            return None
        sampler = data.Sampler(crops, dict(enumerate(labels)), labels, affines, model_cfg,
                               np.random.default_rng(model_cfg.seed))
        trainer = Trainer(model_cfg, device)
        if train(trainer, sampler, model_cfg, bar):
            return None
    finally:
        crops.close()
    trainer.teacher.load_state_dict(trainer.student.state_dict())  # warm starts load both
    bar.finish()
    return trainer


def save(path: Path, trainer: Trainer, seen: Sequence[tuple[int, int]]) -> Path:
    """Write the project model with the (video, frame) keyframes it learnt from."""
    return checkpoint.save(path, trainer.state(), trainer.cfg,
                           seen=[[int(v), int(f)] for v, f in seen])


def load(path: Path, cfg: TSALConfig | None = None) -> dict | None:
    """The project model at ``path`` when there is one (that fits ``cfg``'s network, when
    given: a warm start needs the same shape; a prediction uses the model's own)."""
    payload = checkpoint.load_or_set_aside(path)
    if payload is None:
        return None
    if cfg is not None and not checkpoint.fits(payload, cfg):
        logger.info("the project model has another network shape; not used")
        return None
    return payload


def box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    """The tight box (x0, y0, x1, y1) of a shape: what a person draws around the face."""
    pts = np.asarray(points, np.float64)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def check_box(box: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """``box`` checked against an image of ``size`` (w, h), or ValidationError saying why."""
    if len(box) != 4 or not np.isfinite(np.asarray(box, np.float64)).all():
        raise ValidationError(f"--box: give x0 y0 x1 y1 in pixels, not {list(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValidationError(f"--box {x0:g} {y0:g} {x1:g} {y1:g}: a face box must be at least "
                              "8 pixels wide and high, with x0 < x1 and y0 < y1")
    w, h = size
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise ValidationError(f"--box {x0:g} {y0:g} {x1:g} {y1:g} lies outside the {w}x{h} "
                              "frame")
    return x0, y0, x1, y1


def box_affine(box: Sequence[float], crop: int, margin: float) -> np.ndarray:
    """Frame -> crop similarity putting the template's box on ``box`` (no rotation)."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    t_x0, t_y0, t_x1, t_y1 = box_of(data.template(crop, margin))
    target = np.array([[t_x0, t_y0], [t_x1, t_y0], [t_x1, t_y1], [t_x0, t_y1]], np.float64)
    return similarity_matrix(corners, target)


def predict(payload: dict, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The 68 points (frame pixels, float32) the project model places on ``image`` (BGR or
    grey) in the face ``box`` (x0, y0, x1, y1)."""
    cfg = checkpoint.config_of(payload)
    model = LandmarkNet(cfg.width, cfg.heat_stride)
    model.load_state_dict(payload["student"])
    gray = data.FrameReader(lambda _i: image, 1).gray(0) if np.ndim(image) == 3 else image
    affine = box_affine(box, cfg.crop, cfg.margin)
    points = np.zeros((68, 2))
    for _ in range(REFINE_PASSES):
        pm, pc, _ = infer(model, data.warp(gray, affine, cfg.crop)[None, None], cfg.crop)
        points = apply_affine(invert_affine(affine), cfg.gamma * pm[0] + (1 - cfg.gamma) * pc[0])
        affine = data.align_affines(points[None], cfg.crop, cfg.margin)[0]
    return points.astype(np.float32)
