"""Seed 001's shuffle pretext (DESIGN.md §4.2, issue 13 §3): an optional warm-up of the encoder.

Before the TSAL training of a cold start, the student's encoder (stem to the stride-8
bottleneck of :class:`~trainer.tsal.models.LandmarkNet`) learns to tell a clip of this video's
unlabelled aligned crops in temporal order from the same frames shuffled: each frame's deepest
features are averaged over space, the K vectors are concatenated in clip order (less their
clip mean, normalised) and a tiny MLP (:class:`ShuffleHead`) gives one logit, "in order"
against "shuffled" (BCE with logits, weighted by the paper's λC = 0.7). The network is
trained from scratch here (no pretrained weights can be downloaded), so features of how a face
moves, learnt from frames nobody labelled, may give the landmark training a better start.
``cfg.shuffle_warmup`` is its number of steps (0: off, the default).

Choices:

- The clips are :meth:`trainer.tsal.data.Sampler.clips` (a keyframe and later frames of its
  segment, one random geometry per clip); frame 0, which the sampler leaves unjittered, gets
  the photometric jitter too, or "is the clean frame first?" would give the order away.
- Each clip enters the batch twice, in order (label 1) and permuted (label 0), so that only
  the order can tell the two apart. The frames' features are computed once and permuted.
- A permutation is neither the identity nor the reversal: a face clip played backwards is as
  plausible as forwards (Misra et al.'s "Shuffle and Learn" counts both as in order), so it
  would be a label the encoder cannot learn. Clips need K ≥ 3 frames.
- Only the encoder and the head take gradient steps (the decoder and heads of the landmark
  network get none), with the trainer's own AdamW at ``cfg.lr``; the head is dropped after.
  The teacher is then set to the warmed student, as a cold start's teacher is a copy of it.
- λC scales the only loss of this stage; under Adam's normalised update that changes almost
  nothing, and it is kept for the record of the paper's weighting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CancelledError, ValidationError
from trainer.tsal.config import TSALConfig
from trainer.tsal.data import Sampler, photometric
from trainer.tsal.models import LandmarkNet, mixed_precision
from trainer.tsal.optim import AdamW
from trainer.tsal.progress import JobProgress

if TYPE_CHECKING:
    from trainer.tsal.loop import Trainer

#: The paper's weight of the shuffle loss (λC).
WEIGHT = 0.7
#: Hidden units of the head's MLP.
HIDDEN = 64
#: How often (steps) the stage reports progress (as the training does).
REPORT_EVERY = 5
#: ``tick(losses)`` once per warm-up step.
Tick = Callable[[Mapping[str, float] | None], None]


def encoder_modules(model: LandmarkNet) -> list[nn.Module]:
    """The landmark network's encoder, stem to the stride-8 bottleneck, in order."""
    return [model.stem, model.enc2, model.enc4, model.enc8]


def encode(model: LandmarkNet, images: torch.Tensor) -> torch.Tensor:
    """Each image's deepest encoder features averaged over space, (B, 4·width), float32:
    the encoder path of :meth:`LandmarkNet.forward` (input scaling, channels-last)."""
    x = (images * 2.0 - 1.0).contiguous(memory_format=torch.channels_last)
    for module in encoder_modules(model):
        x = module(x)
    return x.float().mean(dim=(2, 3))


def encode_width(cfg: TSALConfig) -> int:
    """Channels of the encoder's deepest features (LandmarkNet's enc8: 4 x width)."""
    return 4 * cfg.width


class ShuffleHead(nn.Module):
    """(N, K, F) per-frame features in a clip's order -> (N,) logits of "in temporal order"."""

    def __init__(self, features: int, clip_len: int, hidden: int = HIDDEN):
        super().__init__()
        self.clip_len = int(clip_len)
        self.mlp = nn.Sequential(nn.Linear(features * self.clip_len, hidden), nn.ReLU(True),
                                 nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # what the frames share (the face, the light) says nothing about their order: take
        # each clip's mean away and normalise what varies, so that small changes count; both
        # are the same for a clip in order and shuffled, so neither gives the label away
        varying = (features - features.mean(dim=1, keepdim=True)).reshape(features.shape[0], -1)
        return self.mlp(F.layer_norm(varying, varying.shape[1:]))[:, 0]


def shuffle_loss(logits: torch.Tensor, ordered: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits of "in order" (``ordered``: 1 in order, 0 shuffled)."""
    return F.binary_cross_entropy_with_logits(logits, ordered.to(logits.dtype))


def permutations(clip_len: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random orders of ``clip_len`` frames (count, K), each neither the identity
    nor the reversal (see the module docstring)."""
    if clip_len < 3:
        raise ValidationError(f"the shuffle pretext needs clips of 3 frames or more, "
                              f"not {clip_len}")
    identity, reverse = np.arange(clip_len), np.arange(clip_len)[::-1]
    out = np.zeros((count, clip_len), np.int64)
    for i in range(count):
        perm = identity
        while np.array_equal(perm, identity) or np.array_equal(perm, reverse):
            perm = rng.permutation(clip_len)
        out[i] = perm
    return out


def clip_batch(sampler: Sampler, count: int) -> np.ndarray:
    """``count`` unlabelled clips (count, K, 1, S, S) of the sampler's video, every frame
    photometrically jittered (the sampler leaves each clip's first frame clean)."""
    images = sampler.clips(count)[0]
    for c in range(count):
        images[c, 0, 0] = photometric(sampler.rng, images[c, 0, 0], sampler.cfg)
    return images


def order_logits(model: LandmarkNet, head: ShuffleHead, clips: torch.Tensor,
                 perms: torch.Tensor, bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2C,) and labels (2C,) of C clips (C, K, 1, S, S) in order (label 1) and permuted
    by ``perms`` (C, K) (label 0): the frames are encoded once."""
    c, k = clips.shape[:2]
    with mixed_precision(clips.device, bf16):
        feats = encode(model, clips.reshape(c * k, *clips.shape[2:]))
    feats = feats.float().reshape(c, k, -1)
    shuffled = torch.gather(feats, 1, perms[:, :, None].expand(-1, -1, feats.shape[-1]))
    logits = head(torch.cat([feats, shuffled], 0))
    labels = torch.cat([torch.ones(c), torch.zeros(c)]).to(logits.device)
    return logits, labels


def clips_per_step(cfg: TSALConfig) -> int:
    """Clips per warm-up step: half the labelled batch (8 clips, 32 frames in the fast
    preset), at least 2; each is seen in order and shuffled."""
    return max(2, cfg.batch_labelled // 2)


def warm_up(trainer: Trainer, sampler: Sampler, cfg: TSALConfig, steps: int,
            tick: Tick | None = None, should_stop: Callable[[], bool] | None = None) -> int:
    """Train the student's encoder on the shuffle pretext for ``steps`` steps, then give the
    teacher the student's weights; returns the steps done (fewer after a stop request, 0 when
    the video has no unlabelled frames to make clips of). ``tick`` is called once per step."""
    if steps <= 0 or not sampler.segments:
        return 0
    model, device = trainer.student, trainer.device
    head = ShuffleHead(encode_width(cfg), cfg.clip_len).to(device)
    params = [p for module in encoder_modules(model) for p in module.parameters()]
    opt = AdamW([*params, *head.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
    count = clips_per_step(cfg)
    model.train()
    done = 0
    while done < steps:
        if should_stop is not None and should_stop():
            break
        clips = torch.from_numpy(clip_batch(sampler, count)).to(device)
        perms = torch.from_numpy(permutations(cfg.clip_len, count, sampler.rng)).to(device)
        logits, labels = order_logits(model, head, clips, perms, cfg.bf16)
        loss = shuffle_loss(logits, labels)
        opt.zero_grad(set_to_none=True)
        (WEIGHT * loss).backward()
        torch.nn.utils.clip_grad_norm_([*params, *head.parameters()], 5.0)
        opt.step()
        done += 1
        if tick is not None:
            accuracy = ((logits.detach() > 0).float() == labels).float().mean()
            tick({"shuffle_loss": float(loss.detach()), "shuffle_acc": float(accuracy)})
    model.zero_grad(set_to_none=True)
    trainer.teacher.load_state_dict(model.state_dict())
    return done


def phase(cfg: TSALConfig, start: str) -> dict[str, int]:
    """The job plan's pretext phase, ``{"pretext": steps}`` for a cold start with
    ``cfg.shuffle_warmup`` on, else nothing: a warm start, a resume or a project-model start
    begins from trained networks. Checks the clip length before the job begins."""
    if start != "cold" or cfg.shuffle_warmup <= 0:
        return {}
    permutations(cfg.clip_len, 0, np.random.default_rng(0))  # ValidationError below 3 frames
    return {"pretext": cfg.shuffle_warmup}


def stage(trainer: Trainer, sampler: Sampler, cfg: TSALConfig, start: str,
          bar: JobProgress) -> None:
    """The job's warm-up stage (nothing unless :func:`phase` plans one), reported as the
    "pretext" phase. A stop request during it ends the job as a stop before training does
    (CancelledError: nothing is trained yet, the next run starts cold again); a video with
    nothing unlabelled to make clips of drops the phase from the plan."""
    steps = phase(cfg, start).get("pretext", 0)
    if not steps:
        return
    ticks = [0]

    def tick(losses: Mapping[str, float] | None) -> None:
        ticks[0] += 1
        if ticks[0] % REPORT_EVERY == 0 or ticks[0] == steps:
            bar("pretext", ticks[0], losses)

    done = warm_up(trainer, sampler, cfg, steps, tick, bar.stop_requested)
    if done < steps and sampler.segments:  # warm_up stops short only when asked to
        raise CancelledError("stopped during the shuffle pretext warm-up, before training "
                             "began: nothing to keep")
    if done < steps:
        bar.replan(pretext=done)
