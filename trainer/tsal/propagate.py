"""The TSAL propagation job: crops, training, prediction, confidence, fusion and smoothing.

``run(frame, n_frames, keyframes, cfg, options=...)`` tracks the keyframes with the classical flow
(φ, also the crops' alignment prior), trains the student and the asynchronous teacher on crops of
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
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import FacePropError, ValidationError
from core.framestats import face_sizes
from core.geometry import apply_affine, invert_affine
from core.landmarks import inter_ocular_distance
from core.progress import Progress, ShouldStop
from core.propagation import Propagation, check_keyframes, flow_track
from trainer.tsal import checkpoint, data, fusion
from trainer.tsal.config import TSALConfig
from trainer.tsal.distill import distill_units, self_distill
from trainer.tsal.loop import Trainer
from trainer.tsal.models import LandmarkNet, decode, mixed_precision
from trainer.tsal.progress import JobProgress

logger = logging.getLogger(__name__)

CACHE_SIZE = 4
PREDICT_BATCH = 64
#: How often (steps) training progress is reported.
REPORT_EVERY = 5
#: Smallest batch an out-of-memory retry may shrink to before giving up.
MIN_BATCH = 2



class RunCache:
    """Finished trainings by (frames, keyframes, config), so that several methods of one
    benchmark (student, teacher, final, ...) share one training instead of each training anew.
    Whoever wants sharing makes one and passes it in :class:`RunOptions`; a job that keeps
    checkpoints or resumes never uses it, and nothing is cached behind anyone's back."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, dict[str, Propagation]] = OrderedDict()

    def get(self, key: tuple) -> dict[str, Propagation] | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: tuple, result: dict[str, Propagation]) -> None:
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
    cache: RunCache | None = None  # share trainings between calls (the benchmark's methods)


def usable_cores() -> int:
    """The cores this process may run on (its affinity; all of them where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def select_device(requested: str = "auto") -> torch.device:
    """The torch device for a request; ValidationError when CUDA is asked for but absent."""
    name = (requested or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "with" if torch.backends.cuda.is_built() else "without"
            raise ValidationError(f"--device {requested}: CUDA was requested but torch "
                                  f"{torch.__version__} (built {build} CUDA) sees no CUDA "
                                  "device; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValidationError(f"--device {requested}: only {torch.cuda.device_count()} "
                                  "CUDA device(s) present")
        return device
    raise ValidationError(f"--device must be auto, cpu or cuda[:N], not {requested!r}")


def device_name(device: torch.device | None = None) -> str:
    """"cpu", or the CUDA device's name."""
    dev = device if device is not None else select_device()
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def _cache_key(frames: data.GrayFrames, keys: dict[int, np.ndarray], cfg: TSALConfig) -> tuple:
    digest = hashlib.sha1()
    first = next(iter(keys))
    digest.update(np.ascontiguousarray(frames.gray(first)[::4, ::4]).tobytes())
    return (frames.n, digest.hexdigest(), checkpoint.keyframes_digest(keys), cfg)


@torch.no_grad()
def predict(model: LandmarkNet, frames: data.GrayFrames, affines: np.ndarray, cfg: TSALConfig,
            device: torch.device, tick: Callable[[int], None] | None = None
            ) -> dict[str, np.ndarray]:
    """pM, pC (frame pixels, (T, 68, 2)) and heatmap peaks (T, 68) for every frame."""
    model.eval()
    back = invert_affine(affines)
    pm, pc, peak = [], [], []
    for start in range(0, frames.n, PREDICT_BATCH):
        idx = range(start, min(start + PREDICT_BATCH, frames.n))
        crops = torch.from_numpy(data.frame_crops(frames, affines, cfg.crop, idx)).to(device)
        with mixed_precision(device, cfg.bf16):
            d = decode(model(crops), cfg.crop)
        pm.append(apply_affine(back[idx.start:idx.stop], d.pm.float().cpu().numpy()))
        pc.append(apply_affine(back[idx.start:idx.stop], d.pc.float().cpu().numpy()))
        peak.append(d.peak.float().cpu().numpy())
        if tick is not None:
            tick(idx.stop)
    return {"pm": np.concatenate(pm), "pc": np.concatenate(pc), "peak": np.concatenate(peak)}


def _with_keys(points: np.ndarray, conf: np.ndarray, keys: dict[int, np.ndarray], name: str,
               **extra: Any) -> Propagation:
    points, conf = points.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)
    for k, pts in keys.items():
        points[k], conf[k] = pts, 1.0
    return Propagation(points, conf, name, **extra)


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


def _training_plan(cfg: TSALConfig, options: RunOptions, store: _Checkpoints, digest: str
                   ) -> tuple[TSALConfig, dict[str, Any] | None, str]:
    """The config to train with, the state to start from and how ("cold", "warm", "resume").

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
            warm = replace(cfg, steps=max(1, math.ceil(cfg.steps * cfg.warm_fraction)),
                           lr=cfg.lr * cfg.warm_lr, ramp_up=0.0)
            return warm, payload, "warm"
        if payload is not None:
            logger.info("last checkpoint has another network shape; training from scratch")
    return cfg, None, "cold"


def _train(trainer: Trainer, sampler: data.Sampler, cfg: TSALConfig, bar: JobProgress
           ) -> bool:
    """Train until ``cfg.steps`` or a stop request (returns True when stopped), reporting the
    steps done in this run. A CUDA out-of-memory halves the batch and retries (the same step),
    down to MIN_BATCH."""
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
    return False


def run(frame: Callable[[int], np.ndarray], n_frames: int, keyframes: Mapping[int, np.ndarray],
        cfg: TSALConfig, progress: Progress | None = None, should_stop: ShouldStop | None = None,
        options: RunOptions | None = None) -> dict[str, Propagation]:
    """Train on this video and return every source: "flow", "student", "teacher",
    "teacher+sd" (with ``cfg.self_distill``) and "final" (without ``use_semi`` the student
    stands in for the teacher)."""
    options = options or RunOptions()
    keys = check_keyframes(n_frames, keyframes)
    n = int(n_frames)
    frames = data.GrayFrames(frame, n)
    store = _Checkpoints(options.checkpoint_dir)
    cache = options.cache if not options.resume and options.checkpoint_dir is None else None
    cache_key = _cache_key(frames, keys, cfg) if cache is not None else ()
    cached = cache.get(cache_key) if cache is not None else None
    if cached is not None:
        JobProgress({"cached": 1}, progress).finish()
        return cached
    device = select_device(options.device)
    if device.type == "cpu":  # never more threads than the cores this process may use
        torch.set_num_threads(max(1, min(cfg.threads, usable_cores())))
    digest = checkpoint.keyframes_digest(keys)
    train_cfg, start_state, start = _training_plan(cfg, options, store, digest)
    done_before = int(start_state["step"]) if start == "resume" else 0
    batches = math.ceil(n / PREDICT_BATCH)
    n_models = 1 + int(train_cfg.use_semi) + int(cfg.self_distill > 0)
    bar = JobProgress({"flow": n, "train": train_cfg.steps - done_before,
                       "distill": distill_units(cfg, n), "predict": n_models * batches},
                      progress, should_stop)
    logger.info("TSAL on %s: %d frames, %d keyframes, %d steps (%s start)",
                device_name(device), n, len(keys), train_cfg.steps, start)
    t0 = time.perf_counter()
    prior = flow_track(frames.bgr, n, keys, method=cfg.flow,
                       progress=lambda s, t: bar("flow", n * s // max(t, 1)),
                       should_stop=should_stop)
    affines = data.align_affines(prior.points, cfg.crop, cfg.margin)
    t1 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    sampler = data.Sampler(frames, keys, prior.points.astype(np.float64), affines, train_cfg, rng)
    trainer = Trainer(train_cfg, device)
    if start_state is not None:
        trainer.load_state(start_state, weights_only=start != "resume")
        if start == "resume" and "numpy_rng" in start_state:
            rng.bit_generator.state = start_state["numpy_rng"]
    stopped = _train(trainer, sampler, train_cfg, bar)
    if stopped:  # what is left: predicting with the networks as they are
        bar.replan(train=trainer.step_count - done_before, distill=0,
                   predict=(n_models - int(cfg.self_distill > 0)) * batches)
        saved = store.write(checkpoint.RESUME, trainer, train_cfg, keyframes=digest,
                            numpy_rng=rng.bit_generator.state)
    else:
        saved = store.write(checkpoint.LATEST, trainer, cfg, keyframes=digest, start=start)
        store.remove(checkpoint.RESUME)
    t2 = time.perf_counter()
    models: dict[str, LandmarkNet] = {"student": trainer.student}
    if train_cfg.use_semi:
        models["teacher"] = trainer.teacher
    if cfg.self_distill and not stopped:
        base = models.get("teacher", trainer.student)
        models["teacher+sd"] = self_distill(
            base, sampler, affines, cfg, device,
            tick=_counter(bar, "distill"))
    preds = {name: predict(model, frames, affines, cfg, device,
                           tick=lambda i, k=k: bar("predict",
                                                   k * batches + math.ceil(i / PREDICT_BATCH)))
             for k, (name, model) in enumerate(models.items())}
    result = _sources(preds, prior, keys, cfg, options)
    info = {"device": device_name(device), "stopped": stopped, "start": start,
            "checkpoint": saved, "steps": trainer.step_count,
            "timings": {"flow_s": round(t1 - t0, 2), "train_s": round(t2 - t1, 2),
                        "predict_s": round(time.perf_counter() - t2, 2)}}
    result = {name: replace(p, info=info) for name, p in result.items()}
    bar.finish()
    logger.info("TSAL %s: %s", "stopped" if stopped else "done", info["timings"])
    if cache is not None and not stopped:
        cache.put(cache_key, result)
    return result


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


def _sources(preds: dict[str, dict[str, np.ndarray]], prior: Propagation,
             keys: dict[int, np.ndarray], cfg: TSALConfig, options: RunOptions
             ) -> dict[str, Propagation]:
    """Every output of the run, with per-point confidence and per-frame statistics."""
    iod = np.maximum(np.asarray(inter_ocular_distance(prior.points), np.float64), 4.0)
    points = {name: cfg.gamma * p["pm"] + (1 - cfg.gamma) * p["pc"] for name, p in preds.items()}
    own = {name: 0.5 * np.linalg.norm(p["pm"] - p["pc"], axis=-1) for name, p in preds.items()}
    gap = (np.linalg.norm(points["teacher"] - points["student"], axis=-1)
           if "teacher" in points else np.zeros_like(own["student"]))
    errors = {name: gap + own[name] for name in points}
    best = next(name for name in ("teacher+sd", "teacher", "student") if name in points)
    fused, fused_err = fusion.fuse(points[best], errors[best], prior, iod, keys)
    smoothed, final_err = fusion.final_track(fused, fused_err, iod, keys, cfg.smooth_accel,
                                             options.fps)
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
