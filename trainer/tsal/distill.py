"""Iterative self-distillation with the ELT and SCT losses (DESIGN.md §4.3).

Iteration i trains a copy of the previous model to reproduce that model's outputs on this
video's frames under random affine transforms T: f(T⊗I) ≈ T⊗f_prev(I) (the equivariant landmark
transformation loss, ELT), plus the scale-compensation term |σ(f(T⊗I)) − σ(T⊗f_prev(I))| with
σ(l) = Σ_i ‖l_i − mean(l)‖₁ (SCT), both weighted i + 1, while the keyframes' own labels stay
supervised. Jitter comes from small input changes; a model trained to be equivariant to them
jitters less.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from core.geometry import apply_affine
from trainer.tsal import data, losses
from trainer.tsal.config import TSALConfig
from trainer.tsal.models import LandmarkNet, decode, infer, mixed_precision
from trainer.tsal.optim import AdamW

#: Frames per batch when the previous model labels every frame for the next iteration.
TARGET_BATCH = 64
#: ``tick(losses)`` once per unit of work: a gradient step (with its losses) or a batch of
#: target frames (None).
Tick = Callable[[Mapping[str, float] | None], None]


def iteration_steps(cfg: TSALConfig) -> int:
    """Gradient steps of one self-distillation iteration."""
    return max(1, round(cfg.steps * cfg.sd_fraction))


def distill_units(cfg: TSALConfig, n_frames: int) -> int:
    """How many times :func:`self_distill` ticks on a video of ``n_frames`` frames: per
    iteration, one batch of targets per TARGET_BATCH frames and one gradient step per step."""
    per_iteration = math.ceil(n_frames / TARGET_BATCH) + iteration_steps(cfg)
    return cfg.self_distill * per_iteration if cfg.self_distill > 0 else 0


def elt_transform(rng: np.random.Generator, cfg: TSALConfig) -> np.ndarray:
    """A random crop -> crop affine of the ELT loss: rotation, scale and shift about the centre."""
    c = (cfg.crop - 1) / 2
    angle = np.deg2rad(rng.uniform(-cfg.elt_rotate_deg, cfg.elt_rotate_deg))
    scale = rng.uniform(*cfg.elt_scale)
    shift = rng.uniform(-cfg.elt_shift, cfg.elt_shift, size=2) * cfg.crop
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([rot, (np.array([c, c]) + shift - rot @ np.array([c, c]))[:, None]])


def spread(points: torch.Tensor) -> torch.Tensor:
    """σ(l) = Σ_i ‖l_i − mean(l)‖₁ for points (B, N, 2)."""
    return (points - points.mean(dim=1, keepdim=True)).abs().sum(dim=(1, 2))


def crop_points(model: LandmarkNet, frames: data.CropStore, cfg: TSALConfig,
                device: torch.device, batch: int = TARGET_BATCH, tick: Tick | None = None
                ) -> np.ndarray:
    """The model's points p = γ·pM + (1−γ)·pC in crop pixels for every frame's aligned crop."""
    out = []
    for start in range(0, frames.n, batch):
        idx = range(start, min(start + batch, frames.n))
        pm, pc, _ = infer(model, data.frame_crops(frames, idx), cfg.crop, device, cfg.bf16)
        out.append(cfg.gamma * pm + (1 - cfg.gamma) * pc)
        if tick is not None:
            tick(None)
    return np.concatenate(out)


def self_distill(model: LandmarkNet, sampler: data.Sampler, cfg: TSALConfig,
                 device: torch.device, tick: Tick | None = None) -> LandmarkNet:
    """``cfg.self_distill`` iterations of self-distillation starting from ``model``;
    ``tick`` is called :func:`distill_units` times."""
    frames, rng = sampler.frames, sampler.rng
    steps = iteration_steps(cfg)
    batch = cfg.batch_labelled
    previous = model
    for iteration in range(1, cfg.self_distill + 1):
        targets_all = crop_points(previous, frames, cfg, device, tick=tick)
        student = copy.deepcopy(previous).to(device)
        opt = AdamW(student.parameters(), lr=cfg.lr * 0.3, weight_decay=cfg.weight_decay)
        weight = float(iteration + 1)
        for _ in range(steps):
            picks = rng.integers(0, frames.n, size=batch)
            images = np.zeros((batch, 1, cfg.crop, cfg.crop), np.float32)
            targets = np.zeros((batch, 68, 2), np.float32)
            for j, t in enumerate(picks):
                transform = elt_transform(rng, cfg)
                images[j, 0] = frames.warp(int(t), transform)
                targets[j] = apply_affine(transform, targets_all[t])
            lab_images, lab_targets = sampler.labelled(batch)
            x = torch.from_numpy(np.concatenate([lab_images, images])).to(device)
            student.train()
            with mixed_precision(device, cfg.bf16):
                d = decode(student(x), cfg.crop)
            lab_t = torch.from_numpy(lab_targets).to(device)
            dis_t = torch.from_numpy(targets).to(device)
            sup = losses.heatmap_loss(d.heat[:batch], d.pm[:batch], lab_t, cfg.crop,
                                      cfg.heat_sigma, cfg.w_coord)
            sup = sup + losses.centre_loss(d.rows(slice(0, batch)), lab_t, cfg.crop)
            pred = cfg.gamma * d.pm[batch:] + (1 - cfg.gamma) * d.pc[batch:]
            elt = losses.heatmap_loss(d.heat[batch:], d.pm[batch:], dis_t, cfg.crop,
                                      cfg.heat_sigma, cfg.w_coord)
            elt = elt + (pred - dis_t).abs().sum(-1).mean() * (100.0 / cfg.crop)
            sct = (spread(pred) - spread(dis_t)).abs().mean() * (100.0 / cfg.crop) / 68.0
            loss = sup + weight * (elt + sct)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 5.0)
            opt.step()
            if tick is not None:
                tick({"sd_loss": float(loss.detach()), "elt": float(elt.detach()),
                      "sct": float(sct.detach()), "iteration": float(iteration)})
        previous = student
    return previous

