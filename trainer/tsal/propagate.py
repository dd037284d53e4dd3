"""The TSAL propagation job: crops, training, prediction, confidence, fusion and smoothing.

``run(frame, n_frames, keyframes, cfg, options=...)`` tracks the keyframes with the flow φ
(Lucas-Kanade, DIS or the learned field where it proves better: :mod:`trainer.tsal.phi`; also
the crops' alignment prior), trains the student and the asynchronous teacher on crops of
this video (warm-starting from the video's last checkpoint when there is one), predicts every
frame with both and returns every source as a :class:`Propagation`: "flow" (the prior),
"student", "teacher" (p = γ·pM + (1−γ)·pC), "teacher+sd" (after self-distillation, when
configured) and "final" (the best network fused with the flow track by estimated error, then
smoothed in time with keyframes pinned). A stop request ends training at a clean point, saves a
resumable checkpoint and still returns results (``info["stopped"]``). Progress goes against a
total planned before training and ends at total/total (:mod:`trainer.tsal.progress`). Results
are cached per (video, keyframes, config) so the benchmark's several methods share one training
run.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import CancelledError, ValidationError
from core.geometry import apply_affine, invert_affine
from core.progress import Progress, ShouldStop
from core.propagation import Propagation, check_keyframes, holdout
from trainer.tsal import checkpoint, data, loop, outputs, phi, pretext, project_model, validation
from trainer.tsal.config import TSALConfig, step_budget
from trainer.tsal.devices import device_name, select_device
from trainer.tsal.distill import distill_units, self_distill
from trainer.tsal.loop import Trainer, train
from trainer.tsal.models import LandmarkNet, infer
from trainer.tsal.progress import JobProgress
from trainer.tsal.sharing import CoreShare

logger = logging.getLogger(__name__)

CACHE_SIZE = 4
PREDICT_BATCH = 64
REPORT_EVERY = loop.REPORT_EVERY
#: How the final smoother's setting is chosen (TSALConfig.smooth_choice).
SMOOTH_CHOICES = ("held-out", "fixed")



class RunCache:
    """Finished trainings by (frames, keyframes, training config), so that several methods of one
    benchmark (student, teacher, final, ...) share one training instead of each training anew.
    Whoever wants sharing makes one and passes it in :class:`RunOptions`; a job that keeps
    checkpoints or resumes never uses it, and nothing is cached behind anyone's back."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: tuple, result: Any) -> None:
        self._items[key] = result
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class RunOptions:
    """How to run a TSAL job, as opposed to what to train (:class:`TSALConfig`)."""

    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    checkpoint_dir: Path | None = None  # the video's checkpoint folder; None: no checkpoints
    resume: bool = False  # continue the stopped job saved in checkpoint_dir
    warm_start: bool = True  # start from checkpoint_dir's last finished training
    fps: float | None = None  # the video's frame rate (scales the smoother)
    crop_memory: int = data.CROP_MEMORY  # bytes of context crops held in memory; then a file
    project_model: Path | None = None  # a video without a checkpoint starts from this model
    cache: RunCache | None = None  # share trainings between calls (the benchmark's methods)


def _cache_key(frames: data.FrameReader, keys: dict[int, np.ndarray], cfg: TSALConfig) -> tuple:
    digest = hashlib.sha1()
    first = next(iter(keys))
    digest.update(np.ascontiguousarray(frames.gray(first)[::4, ::4]).tobytes())
    return (frames.n, digest.hexdigest(), checkpoint.keyframes_digest(keys), cfg)


def predict(model: LandmarkNet, frames: data.CropStore, affines: np.ndarray, cfg: TSALConfig,
            device: torch.device, tick: Callable[[int], None] | None = None
            ) -> dict[str, np.ndarray]:
    """pM, pC (frame pixels, (T, 68, 2)) and heatmap peaks (T, 68) for every frame."""
    back = invert_affine(affines)
    pm, pc, peak = [], [], []
    for start in range(0, frames.n, PREDICT_BATCH):
        idx = range(start, min(start + PREDICT_BATCH, frames.n))
        batch_pm, batch_pc, batch_peak = infer(model, data.frame_crops(frames, idx), cfg.crop,
                                               device, cfg.bf16)
        pm.append(apply_affine(back[idx.start:idx.stop], batch_pm))
        pc.append(apply_affine(back[idx.start:idx.stop], batch_pc))
        peak.append(batch_peak)
        if tick is not None:
            tick(idx.stop)
    return {"pm": np.concatenate(pm), "pc": np.concatenate(pc), "peak": np.concatenate(peak)}


class _Checkpoints:
    """The video's checkpoint folder (or none)."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def path(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / name

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.path(name)
        return checkpoint.load_or_set_aside(path) if path is not None else None

    def write(self, name: str, trainer: Trainer, cfg: TSALConfig, **meta: Any) -> str | None:
        path = self.path(name)
        if path is None:
            return None
        return str(checkpoint.save(path, trainer.state(), cfg, **meta))

    def remove(self, name: str) -> None:
        path = self.path(name)
        if path is not None:
            path.unlink(missing_ok=True)


def _training_plan(cfg: TSALConfig, options: RunOptions, store: _Checkpoints, digest: str,
                   budget: int) -> tuple[TSALConfig, dict[str, Any] | None, str]:
    """The config to train with, the state to start from and how ("cold", "warm", "resume",
    "project": from the project model when the video has no checkpoint of its own); a cold or
    project start trains ``budget`` steps at most and a warm start its ``warm_fraction``.

    A job stopped part-way is continued even without ``resume`` when the keyframes have not
    changed since (so the GUI's Stop then Propagate loses nothing); with changed keyframes its
    networks warm-start the new job.
    """
    stopped = store.read(checkpoint.RESUME)
    if options.resume and stopped is None:
        raise ValidationError("--resume: no stopped propagation to resume for this video "
                              f"(no {store.path(checkpoint.RESUME) or 'checkpoint folder'})")
    if stopped is not None and (options.resume or (options.warm_start
                                                   and stopped.get("keyframes") == digest)):
        return checkpoint.config_of(stopped), stopped, "resume"
    if options.warm_start:
        payload = stopped if stopped is not None else store.read(checkpoint.LATEST)
        if payload is not None and checkpoint.fits(payload, cfg):
            warm = replace(cfg, steps=max(1, math.ceil(budget * cfg.warm_fraction)),
                           lr=cfg.lr * cfg.warm_lr, ramp_up=0.0)
            return warm, payload, "warm"
        if payload is not None:
            logger.info("last checkpoint has another network shape; training from scratch")
        known = (project_model.load(options.project_model, cfg)
                 if payload is None and options.project_model is not None else None)
        if known is not None:  # a network that knows the project's faces, not this video
            return replace(cfg, steps=budget, lr=cfg.lr * cfg.warm_lr), known, "project"
    return replace(cfg, steps=budget), None, "cold"


@dataclass(frozen=True)
class _Trained:
    """What a training produced before its outputs are fused and smoothed: every network's
    predictions, the flow prior, the held-out keyframes' tracks and the run's info."""

    preds: dict[str, dict[str, np.ndarray]]
    prior: Propagation
    held_out: list[holdout.HeldOutTrack]
    info: dict[str, Any]


def estimate_gain(info: Mapping[str, Any], cfg: TSALConfig) -> float:
    """The networks' gain that scales this output's estimate: measured on completed points
    for an output completed with the shape model (``cfg.shape_complete``), on raw ones
    otherwise; one cached training holds both (its cache key ignores ``shape_complete``)."""
    return float(info.get("network_gain_completed" if cfg.shape_complete
                          else "network_gain", 1.0))


def _training_fields(cfg: TSALConfig) -> TSALConfig:
    """``cfg`` without the settings that act after training: a cached training serves any."""
    return replace(cfg, smooth_accel=0.0, smooth_choice="", shape_complete=True)


def run(frame: Callable[[int], np.ndarray], n_frames: int, keyframes: Mapping[int, np.ndarray],
        cfg: TSALConfig, progress: Progress | None = None, should_stop: ShouldStop | None = None,
        options: RunOptions | None = None) -> dict[str, Propagation]:
    """Train on this video and return every source: "flow", "student", "teacher",
    "teacher+sd" (with ``cfg.self_distill``) and "final" (without ``use_semi`` the student
    stands in for the teacher). The final smoother's setting is chosen per call from the
    held-out keyframes (``cfg.smooth_choice``); ``info`` reports it and the held-out errors."""
    options = options or RunOptions()
    if cfg.smooth_choice not in SMOOTH_CHOICES:
        raise ValidationError(f"smooth_choice must be one of {SMOOTH_CHOICES}, "
                              f"not {cfg.smooth_choice!r}")
    phi.check_flow(cfg.flow)
    keys = check_keyframes(n_frames, keyframes)
    frames = data.FrameReader(frame, int(n_frames))
    cache = options.cache if not options.resume and options.checkpoint_dir is None else None
    cache_key = _cache_key(frames, keys, _training_fields(cfg)) if cache is not None else ()
    trained = cache.get(cache_key) if cache is not None else None
    if trained is not None:
        bar = JobProgress({"cached": 1}, progress)
    else:
        trained, bar = _train_and_predict(frames, keys, cfg, options, progress, should_stop)
        if cache is not None and not trained.info["stopped"]:
            cache.put(cache_key, trained)
    choice = outputs.smoother_choice(trained.held_out, cfg, options.fps, trained.prior,
                                     keys)
    result = outputs.sources(trained.preds, trained.prior, keys,
                             replace(cfg, smooth_accel=choice.accel), options.fps,
                             trained.info["trust"])
    gain = estimate_gain(trained.info, cfg)
    info = {**{k: v for k, v in trained.info.items() if k != "network_gain_completed"},
            "smooth_accel": [choice.accel], "smooth_choice": choice.source,
            "trust": [trained.info["trust"]],  # a list: one entry per face segment
            "phi": [trained.info["phi"]],  # the tracker the segment used
            # the estimate describes tracking; the networks' measured share scales it
            "network_gain": [gain],
            "held_out_errors": [] if choice.estimate is None
            else [round(e * gain, 6) for e in choice.estimate.errors.values()]}
    bar.finish()
    return {name: replace(p, info=info) for name, p in result.items()}


@dataclass(frozen=True)
class _Plan:
    """How this job trains: the config, where it starts, and what prediction will cost."""

    cfg: TSALConfig  # as asked
    train_cfg: TSALConfig  # as trained (a warm start trains fewer steps)
    start: str  # "cold", "warm", "resume" or "project"
    start_state: dict[str, Any] | None
    done_before: int  # steps a resumed job had trained
    digest: str  # the keyframes'
    device: torch.device
    batches: int  # prediction batches per network
    n_models: int


def _train_and_predict(frames: data.FrameReader, keys: dict[int, np.ndarray], cfg: TSALConfig,
                       options: RunOptions, progress: Progress | None,
                       should_stop: ShouldStop | None) -> tuple[_Trained, JobProgress]:
    """Flow prior, held-out tracks, crops, training (cold, warm or resumed) and every network's
    predictions, reported against one plan; the progress bar is returned unfinished. On the
    CPU the job takes its share of the cores (:mod:`trainer.tsal.sharing`)."""
    device = select_device(options.device)
    if device.type != "cpu":
        return _job(frames, keys, cfg, options, progress, should_stop, device, None)
    with CoreShare(cfg.threads) as share:
        return _job(frames, keys, cfg, options, progress, should_stop, device, share)


def _job(frames: data.FrameReader, keys: dict[int, np.ndarray], cfg: TSALConfig,
         options: RunOptions, progress: Progress | None, should_stop: ShouldStop | None,
         device: torch.device, share: CoreShare | None) -> tuple[_Trained, JobProgress]:
    """:func:`_train_and_predict` on a chosen device, with this job's share of the cores."""
    n = frames.n
    store = _Checkpoints(options.checkpoint_dir)
    digest = checkpoint.keyframes_digest(keys)
    train_cfg, start_state, start = _training_plan(cfg, options, store, digest,
                                                   step_budget(cfg, n, len(keys)))
    plan = _Plan(cfg, train_cfg, start, start_state,
                 int(start_state["step"]) if start == "resume" else 0, digest, device,
                 math.ceil(n / PREDICT_BATCH),
                 1 + int(train_cfg.use_semi) + int(cfg.self_distill > 0))
    triples = holdout.chosen_triples(list(keys), [(0, n - 1)])
    bar = JobProgress({"flow": n, **phi.phase(cfg, n, triples, len(keys)),
                       "held-out": holdout.tracked_frames(triples), "crops": n,
                       **pretext.phase(train_cfg, start),
                       "train": train_cfg.steps - plan.done_before,
                       "distill": distill_units(cfg, n), "predict": plan.n_models * plan.batches},
                      progress, should_stop)
    logger.info("TSAL on %s: %d frames, %d keyframes, %d steps (%s start)",
                device_name(device), n, len(keys), train_cfg.steps, start)
    t0 = time.perf_counter()
    with phi.one_thread(cfg):  # φ: LK, DIS or the learned field (whose network is tiny)
        prior, tracker, tracker_name = phi.prior(frames, keys, cfg, triples, bar, should_stop)
        held_out = holdout.track_held_out(frames.gray, keys, triples, flow=tracker,
                                          progress=lambda s, t: bar("held-out", s),
                                          should_stop=should_stop)
    t_crops = time.perf_counter()
    affines = data.align_affines(prior.points, cfg.crop, cfg.margin)
    crops = data.CropStore(n, cfg.crop, options.crop_memory,
                           str(options.checkpoint_dir) if options.checkpoint_dir else None)
    try:
        if not crops.fill(frames, affines, lambda i: bar("crops", i), should_stop):
            raise CancelledError("stopped before training began: nothing to keep")
        t1 = time.perf_counter()
        held = validation.validation_set(held_out, len(keys), cfg)
        check = (validation.Check(held, frames, crops, prior, affines, keys, train_cfg, device)
                 if held else None)
        held_frames = {t.keyframe for t in held}
        train_keys = {k: v for k, v in keys.items() if k not in held_frames}
        preds, info = _learn(crops, train_keys, validation.training_prior(prior.points, held),
                             affines, plan, store, bar, share, check)
    finally:
        crops.close()
    info["phi"] = tracker_name
    info["transitions"] = list(prior.info.get("transitions", []))  # shot changes inside gaps
    info["timings"] = {"flow_s": round(t_crops - t0, 2), "crops_s": round(t1 - t_crops, 2),
                       **info["timings"]}
    logger.info("TSAL %s: %s", "stopped" if info["stopped"] else "done", info["timings"])
    return _Trained(preds, prior, held_out, info), bar


def _learn(crops: data.CropStore, keys: dict[int, np.ndarray], prior: np.ndarray,
           affines: np.ndarray, plan: _Plan, store: _Checkpoints, bar: JobProgress,
           share: CoreShare | None, check: validation.Check | None
           ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Train (until done, the held-out ``check`` stops improving, or stopped), checkpoint,
    distil and predict every frame. ``keys`` and ``prior`` are what the networks train on
    (without the check's keyframes)."""
    cfg, train_cfg, device, batches = plan.cfg, plan.train_cfg, plan.device, plan.batches
    t1 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    sampler = data.Sampler(crops, keys, prior.astype(np.float64), affines, train_cfg, rng)
    trainer = Trainer(train_cfg, device)
    if plan.start_state is not None:
        trainer.load_state(plan.start_state, weights_only=plan.start != "resume")
        if plan.start == "resume" and "numpy_rng" in plan.start_state:
            rng.bit_generator.state = plan.start_state["numpy_rng"]
    pretext.stage(trainer, sampler, train_cfg, plan.start, bar)  # a cold start's warm-up, if on
    early = (validation.EarlyStop(check, min(train_cfg.min_steps, train_cfg.steps))
             if check is not None else None)
    stopped = train(trainer, sampler, train_cfg, bar, share, early)
    if not stopped and early is not None and trainer.step_count < train_cfg.steps:
        bar.replan(train=trainer.step_count - plan.done_before)
    if stopped:  # what is left: predicting with the networks as they are
        bar.replan(train=trainer.step_count - plan.done_before, distill=0,
                   predict=(plan.n_models - int(cfg.self_distill > 0)) * batches)
        saved = store.write(checkpoint.RESUME, trainer, train_cfg, keyframes=plan.digest,
                            numpy_rng=rng.bit_generator.state)
    else:
        saved = store.write(checkpoint.LATEST, trainer, cfg, keyframes=plan.digest,
                            start=plan.start)
        store.remove(checkpoint.RESUME)
    t2 = time.perf_counter()
    models: dict[str, LandmarkNet] = trainer.networks()
    if cfg.self_distill and not stopped:
        base = models.get("teacher", trainer.student)
        models["teacher+sd"] = self_distill(base, sampler, cfg, device,
                                            tick=_counter(bar, "distill"))
    preds = {name: predict(model, crops, affines, cfg, device,
                           tick=lambda i, k=k: bar("predict",
                                                   k * batches + math.ceil(i / PREDICT_BATCH)))
             for k, (name, model) in enumerate(models.items())}
    info = {"device": device_name(device), "stopped": stopped, "start": plan.start,
            "checkpoint": saved, "steps": trainer.step_count,
            "trust": early.last.trust if early is not None and early.last else 1.0,
            "network_gain": check.gain(early.last) if check is not None and early else 1.0,
            "network_gain_completed": check.gain(early.last, completed=True)
            if check is not None and early else 1.0,
            "checks": [] if check is None else [
                (r.step, round(r.network_nme, 5), round(r.fused_nme, 5), r.trust,
                 round(r.fused_nme if r.trusted_nme is None else r.trusted_nme, 5))
                for r in check.results],
            "timings": {"train_s": round(t2 - t1, 2),
                        "predict_s": round(time.perf_counter() - t2, 2)}}
    return preds, info


def _counter(bar: JobProgress, phase: str) -> Callable[[Mapping[str, float] | None], None]:
    """A per-unit ``tick(losses)`` reporting every REPORT_EVERY units and the phase's last one
    with the latest losses."""
    state: dict[str, Any] = {"done": 0, "losses": None}
    planned = bar.plan[phase]

    def tick(losses: Mapping[str, float] | None) -> None:
        state["done"] += 1
        state["losses"] = losses or state["losses"]
        if state["done"] % REPORT_EVERY == 0 or state["done"] == planned:
            bar(phase, state["done"], state["losses"])

    return tick
