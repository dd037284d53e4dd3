"""One TSAL training step for the student and the asynchronous teacher (Algorithm 1).

Each step both models take a gradient step on their own loss
``L = ℓM + ℓC + ω(t)·(LI + LD + L_d)`` (``L_d``: the pseudo-heatmap loss on the clips' unlabelled
frames — tracking only for the teacher, ``μ·φ + (1−μ)·pC_S`` for the student), then the student's
parameters enter the queue and the teacher is filtered towards its mean. With ``use_semi`` off
only the student trains, on keyframes (the "supervised" baseline). :func:`train` runs the
steps until the step budget, the held-out check's verdict (:mod:`trainer.tsal.validation`) or
a stop request.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import torch

from core.errors import FacePropError
from trainer.tsal import consistency, losses, validation
from trainer.tsal.config import TSALConfig
from trainer.tsal.data import Batch, Sampler
from trainer.tsal.models import Decoded, LandmarkNet, decode, mixed_precision
from trainer.tsal.optim import AdamW
from trainer.tsal.progress import JobProgress
from trainer.tsal.ramps import omega
from trainer.tsal.sharing import CoreShare
from trainer.tsal.teacher import QueueTeacher

logger = logging.getLogger(__name__)

#: How often (steps) training progress is reported.
REPORT_EVERY = 5
#: Smallest batch an out-of-memory retry may shrink to before giving up.
MIN_BATCH = 2


class Trainer:
    """Holds the student, the teacher, their optimisers and the teacher's queue."""

    def __init__(self, cfg: TSALConfig, device: torch.device | str = "cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        torch.manual_seed(cfg.seed)
        self.student = LandmarkNet(cfg.width, cfg.heat_stride).to(
            self.device, memory_format=torch.channels_last)
        self.teacher = copy.deepcopy(self.student)
        self.opt_s = self._optimiser(self.student)
        self.opt_t = self._optimiser(self.teacher)
        self.queue = QueueTeacher(self.teacher, cfg.queue, cfg.lam)
        self.step_count = 0

    def networks(self) -> dict[str, LandmarkNet]:
        """The networks this training trains, by name ("student", and "teacher" with
        ``use_semi``)."""
        nets = {"student": self.student}
        if self.cfg.use_semi:
            nets["teacher"] = self.teacher
        return nets

    def state(self) -> dict[str, object]:
        """Everything needed to continue this training exactly (for a checkpoint)."""
        return {"student": self.student.state_dict(), "teacher": self.teacher.state_dict(),
                "opt_s": self.opt_s.state_dict(), "opt_t": self.opt_t.state_dict(),
                "queue": self.queue.snapshots(), "step": self.step_count,
                "torch_rng": torch.get_rng_state()}

    def load_state(self, state: dict[str, object], *, weights_only: bool = False) -> None:
        """Restore :meth:`state`; ``weights_only`` keeps just the two networks (a warm start:
        fresh optimisers, queue and step count)."""
        self.student.load_state_dict(state["student"])
        self.teacher.load_state_dict(state["teacher"])
        if weights_only:
            return
        self.opt_s.load_state_dict(state["opt_s"])
        self.opt_t.load_state_dict(state["opt_t"])
        self.queue.restore(state["queue"])
        self.step_count = int(state["step"])
        torch.set_rng_state(state["torch_rng"])

    def _optimiser(self, model: torch.nn.Module) -> AdamW:
        return AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def _lr(self) -> float:
        """Linear warm-up over 5 % of the run, cosine decay to 5 % of the base rate."""
        total, t = max(self.cfg.steps, 1), self.step_count
        warm = max(1, int(0.05 * total))
        if t < warm:
            return self.cfg.lr * (t + 1) / warm
        s = min((t - warm) / max(total - warm, 1), 1.0)
        return float(self.cfg.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * s))))

    def _tensors(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(np.ascontiguousarray(getattr(batch, name))).to(self.device)
                for name in ("images", "targets", "clip_images", "clip_phi", "clip_to_frame",
                             "clip_delta", "clip_scale")}

    def _run(self, model: LandmarkNet, b: dict[str, torch.Tensor]) -> tuple[Decoded, int, int]:
        n_lab = b["images"].shape[0]
        c, k = b["clip_images"].shape[:2]
        images = b["images"]
        if c:
            images = torch.cat([images, b["clip_images"].reshape(c * k, *images.shape[1:])], 0)
        return decode(model(images), self.cfg.crop), n_lab, c

    def model_loss(self, model: LandmarkNet, b: dict[str, torch.Tensor], *, is_teacher: bool,
                   w: float) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one model on a batch and its parts (floats, for logging)."""
        cfg = self.cfg
        d, n_lab, c = self._run(model, b)
        k = cfg.clip_len
        sl = slice(0, n_lab)
        sup = losses.heatmap_loss(d.heat[sl], d.pm[sl], b["targets"], cfg.crop, cfg.heat_sigma,
                                  cfg.w_coord)
        cen = losses.centre_loss(d.rows(sl), b["targets"], cfg.crop)
        parts = {"lm": float(sup.detach()), "centre": float(cen.detach())}
        total = sup + cen
        if c:
            cl = slice(n_lab, n_lab + c * k)
            pm = d.pm[cl].reshape(c, k, 68, 2)
            pc = d.pc[cl].reshape(c, k, 68, 2)
            phi = b["clip_phi"]
            # the clip's first frame is a keyframe: its labels are supervised targets too
            first = losses.heatmap_loss(d.heat[cl].reshape(c, k, 68, *d.heat.shape[-2:])[:, 0],
                                        pm[:, 0], phi[:, 0], cfg.crop, cfg.heat_sigma,
                                        cfg.w_coord)
            heat_u = d.heat[cl].reshape(c, k, 68, *d.heat.shape[-2:])[:, 1:]
            heat_u = heat_u.reshape(c * (k - 1), 68, *heat_u.shape[-2:])
            target = phi[:, 1:]
            if not is_teacher:
                target = cfg.mu * target + (1.0 - cfg.mu) * pc[:, 1:].detach()
            pseudo = losses.heatmap_loss(heat_u, pm[:, 1:].reshape(-1, 68, 2),
                                         target.reshape(-1, 68, 2), cfg.crop, cfg.heat_sigma,
                                         cfg.w_coord)
            total = total + first + w * pseudo
            parts.update(first=float(first.detach()), pseudo=float(pseudo.detach()))
            if cfg.use_sic:
                box_w = phi[..., 0].amax(-1) - phi[..., 0].amin(-1)
                sic = losses.sic_loss(d.offsets[cl].reshape(c, k, 68, 2), box_w)
                total = total + w * cfg.w_sic * sic
                parts["sic"] = float(sic.detach())
            if cfg.use_mfds:
                mfds = losses.mfds_loss(pm, b["clip_to_frame"], b["clip_delta"],
                                        b["clip_scale"])
                total = total + w * cfg.w_mfds * mfds
                parts["mfds"] = float(mfds.detach())
            if cfg.use_dsc:
                clean = b["clip_images"].reshape(c * k, *b["clip_images"].shape[2:])
                disturbed, forward = consistency.disturb(clean, c)
                moved = decode(model(disturbed), cfg.crop)
                dsc = consistency.dsc_loss(moved.pm, d.pm[cl], forward, cfg.crop)
                total = total + w * cfg.w_dsc * dsc
                parts["dsc"] = float(dsc.detach())
        return total, parts

    def step(self, batch: Batch) -> dict[str, float]:
        """One step of both models (or the student alone without ``use_semi``); their losses."""
        cfg = self.cfg
        lr = self._lr()
        w = omega(self.step_count, cfg.steps, peak=cfg.omega_max, up=cfg.ramp_up,
                  down=cfg.ramp_down, end=cfg.omega_end)
        b = self._tensors(batch)
        out: dict[str, float] = {"omega": w, "lr": lr}
        models = []
        if not cfg.use_semi or cfg.async_teacher:  # without the filter the student is unused
            models.append(("s", self.student, self.opt_s, False))
        if cfg.use_semi:
            models.append(("t", self.teacher, self.opt_t, True))
        for tag, model, opt, is_teacher in models:
            for group in opt.param_groups:
                group["lr"] = lr
            model.train()
            with mixed_precision(self.device, cfg.bf16):
                loss, parts = self.model_loss(model, b, is_teacher=is_teacher, w=w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            out[f"{tag}_loss"] = float(loss.detach())
            out.update({f"{tag}_{name}": value for name, value in parts.items()})
        if cfg.use_semi and cfg.async_teacher:
            self.queue.update(self.student)
        self.step_count += 1
        return out


def train(trainer: Trainer, sampler: Sampler, cfg: TSALConfig, bar: JobProgress,
           share: CoreShare | None = None, early: validation.EarlyStop | None = None) -> bool:
    """Train until ``cfg.steps``, the held-out check stops improving (``early`` decides) or a
    stop request (returns True only for the request), reporting the steps done in this run
    and resizing the thread pool to the CPU share as it changes. A CUDA out-of-memory halves
    the batch and retries (the same step), down to MIN_BATCH."""
    first = trainer.step_count  # after a resume, the steps done before the stop
    while trainer.step_count < cfg.steps:
        if bar.stop_requested():
            return True
        try:
            losses = trainer.step(sampler.batch())
        except torch.cuda.OutOfMemoryError as exc:
            smaller = replace(sampler.cfg, batch_labelled=sampler.cfg.batch_labelled // 2,
                              clips_per_step=sampler.cfg.clips_per_step // 2)
            if smaller.batch_labelled < MIN_BATCH:
                raise FacePropError(f"out of GPU memory even with a batch of "
                                    f"{sampler.cfg.batch_labelled}: use --device cpu or the "
                                    "fast preset") from exc
            logger.warning("out of GPU memory; retrying with a batch of %d",
                           smaller.batch_labelled)
            torch.cuda.empty_cache()
            sampler.cfg = smaller
            continue
        step = trainer.step_count
        if step % REPORT_EVERY == 0 or step == cfg.steps:
            bar("train", step - first, losses)
            if share is not None:
                share.apply()
        if early is not None and early.after_step(step, cfg.steps, trainer.networks()):
            break
    return False
