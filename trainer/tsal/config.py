"""TSAL configuration: frozen dataclasses that only describe a training run, and the presets.

``fast`` is the 2-core-CPU preset (64x64 grey crops, a 16-channel encoder-decoder, heatmaps at
1/4 resolution, steps that follow the work and stop on a held-out check); ``full`` trains the
same network for all its steps; ``quality`` is larger and meant for a GPU. λ (the teacher's
filter) defaults to 0.99 rather than the paper's 0.999: a fast run has only a few hundred steps,
and with λ = 0.999 the teacher would move only ~1 − 0.999^400 ≈ 33 % of the way towards the
student's queue mean over the whole run, so the filter would barely act.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TSALConfig:
    """Every knob of one TSAL run (see DESIGN.md §4.1 for the symbols)."""

    crop: int = 64  # crop side in pixels (grey)
    width: int = 16  # channels of the first encoder stage
    heat_stride: int = 4  # heatmaps at crop / heat_stride
    margin: float = 1.45  # crop side / face box side
    steps: int = 360  # gradient steps per model at most (see step_budget)
    batch_labelled: int = 16  # augmented keyframe crops per step
    clips_per_step: int = 4  # unlabelled clips per step
    clip_len: int = 4  # K: frames per clip, the first one a keyframe
    lr: float = 3e-3
    weight_decay: float = 1e-4
    lam: float = 0.99  # λ: teacher filter Θ_R ← λΘ_R + (1−λ)·mean(queue)
    queue: int = 4  # v: length of the student-parameter queue
    mu: float = 0.6  # μ: student's fused target μ·φ + (1−μ)·pC
    gamma: float = 0.8  # γ: prediction p = γ·pM + (1−γ)·pC
    omega_max: float = 1.0  # ω(t) plateau
    ramp_up: float = 0.3  # fraction of the steps spent climbing
    ramp_down: float = 0.15  # fraction of the steps spent decaying at the end
    omega_end: float = 0.5  # ω at the very end, as a fraction of omega_max
    w_sic: float = 1.0
    w_mfds: float = 1.0
    w_coord: float = 1.0  # soft-argmax coordinate term added to the heatmap loss
    heat_sigma: float = 1.0  # Gaussian σ of target heatmaps, in heatmap pixels
    aug_rotate_deg: float = 12.0
    aug_scale: float = 0.08
    aug_shift: float = 0.05  # fraction of the crop
    aug_flip: float = 0.5
    aug_photometric: float = 0.8  # probability of colour / blur / noise jitter
    aug_occlude: float = 0.3
    use_semi: bool = True  # False: keyframes only ("supervised")
    use_sic: bool = True
    use_mfds: bool = True
    use_dsc: bool = False  # disturbed-sequence consistency (trainer.tsal.consistency)
    w_dsc: float = 0.6  # the seed's λD
    shuffle_warmup: int = 0  # steps of the shuffle pretext warm-up (trainer.tsal.pretext); 0 = off
    async_teacher: bool = True  # False: the teacher is not filtered towards the student
    flow: str = "lk"  # tracker used as φ: "lk", "dis" or "mfe" (learned, trainer.tsal.mfe)
    mfe_steps: int = 100  # with flow "mfe": the motion field's training steps
    mfe_deviation: float = 1.0  # with flow "mfe": weight of its deviation term (0 = ℓE only)
    warm_fraction: float = 0.15  # a warm start trains this fraction of ``steps``
    warm_lr: float = 0.5  # and at this fraction of ``lr``
    # held-out keyframe check (trainer.tsal.validation): stop when it stops improving, and
    # weigh the network in the fusion by what it showed there; never before min_steps
    stop_early: bool = True
    min_steps: int = 40
    scale_steps: bool = True  # steps follow the frames to label (step_budget); False: steps
    smooth_accel: float = 0.002  # smoother: velocity change, face size per frame² at 30 fps
    # "held-out": each face segment's setting chosen by leave-one-keyframe-out from a grid
    # (core.propagation.holdout), smooth_accel where too few keyframes; "fixed": smooth_accel
    smooth_choice: str = "held-out"
    # the fused points made consistent with the video's shape model before smoothing
    # (fusion.shape_complete); False: the bench's "final-noshape"
    shape_complete: bool = True
    self_distill: int = 0  # iterations of self-distillation (§4.3) after training; 0 = none
    sd_fraction: float = 0.25  # steps of each distillation iteration, as a fraction of ``steps``
    elt_shift: float = 8.0 / 256.0  # ELT: translation ±, as a fraction of the crop
    elt_scale: tuple[float, float] = (0.8, 1.0)
    elt_rotate_deg: float = 30.0
    threads: int = 2
    bf16: bool = False  # bf16 autocast on CUDA (ignored on the CPU)
    seed: int = 0


PRESETS: dict[str, TSALConfig] = {
    "fast": TSALConfig(),
    # the fast network trained for all its steps, as before the held-out check (issue 13 §1):
    # 5x slower, better on some hand-held motion (docs/MEASUREMENTS.md)
    "full": TSALConfig(stop_early=False, scale_steps=False),
    "quality": TSALConfig(crop=96, width=32, heat_stride=2, steps=1500, batch_labelled=32,
                          clips_per_step=8, lam=0.995, queue=8, bf16=True, scale_steps=False),
}


#: Training steps per unlabelled frame, and the fewest a cold start trains (see step_budget).
STEPS_PER_FRAME = 0.5
MIN_BUDGET = 20


def step_budget(cfg: TSALConfig, n_frames: int, n_keyframes: int) -> int:
    """The most steps a cold start of this video trains: with ``cfg.scale_steps`` the
    pseudo-labelling work (one step per 1 / STEPS_PER_FRAME unlabelled frames), at least
    MIN_BUDGET and at most ``cfg.steps`` (without: ``cfg.steps``);
    the held-out check usually stops it sooner (trainer.tsal.validation). A 30-frame clip
    trains 20 steps, a 300-frame one at most 135."""
    if not cfg.scale_steps:
        return cfg.steps
    work = round(STEPS_PER_FRAME * max(n_frames - n_keyframes, 0))
    return max(min(work, cfg.steps), min(MIN_BUDGET, cfg.steps))


#: The learned motion field's training steps per frame, and the fewest it trains (mfe_budget).
MFE_STEPS_PER_FRAME = 1 / 3
MIN_MFE_STEPS = 20


def mfe_budget(cfg: TSALConfig, n_frames: int) -> int:
    """The learned motion field's training steps for a video (``flow="mfe"``): one per three
    frames, at least MIN_MFE_STEPS and at most ``cfg.mfe_steps``. A 300-frame clip trains 100,
    a 30-frame one 20 (it has few frame pairs to learn from, and should answer in seconds)."""
    work = round(MFE_STEPS_PER_FRAME * n_frames)
    return max(min(work, cfg.mfe_steps), min(MIN_MFE_STEPS, cfg.mfe_steps))
